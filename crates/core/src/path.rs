//! Joining `ORIGIN_URL` to a client's request path so that no path, whatever its form,
//! can change the scheme, host or port, or climb above the origin's base path.

use crate::config::Origin;
use crate::integrity::{decode_repeatedly, fold_lookalikes};

/// Longest request path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 8 * 1024;

/// Why a request path or query is refused before anything is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (for example an absolute-form target).
    NotOriginForm,
    /// Control characters, spaces, backslashes, `?` or `#` in the path, raw non-ASCII, or a broken
    /// `%` escape.
    InvalidCharacters,
    /// A percent-encoded `/`, `\` or NUL, which origins decode inconsistently.
    EncodedSeparator,
    /// A `.` or `..` segment with `;` parameters (`/..;/admin`): servers disagree on whether
    /// it is a dot segment (Tomcat and other Java servers treat it as one), so a scope checked
    /// here could be bypassed there.
    DotSegmentParameters,
    /// A segment that only decodes to `.` or `..` after more than one round of percent-decoding
    /// (`%252e%252e`) or through a lookalike (overlong UTF-8 `%c0%ae`, full-width `%EF%BC%8E`):
    /// keygate does not resolve it, and an origin that decodes it would.
    EncodedDotSegment,
    /// Longer than [`MAX_PATH_LEN`].
    TooLong,
    /// The joined URL would not stay on the origin (defence in depth; never expected).
    EscapesOrigin,
}

impl PathError {
    pub fn description(self) -> &'static str {
        match self {
            PathError::NotOriginForm => "the request target must be a path starting with '/'",
            PathError::InvalidCharacters => {
                "the request path or query contains characters that are not allowed"
            }
            PathError::EncodedSeparator => {
                "the request path contains an encoded '/', '\\' or NUL (%2F, %5C, %00)"
            }
            PathError::DotSegmentParameters => {
                "the request path has a '.' or '..' segment with ';' parameters"
            }
            PathError::EncodedDotSegment => {
                "the request path has a '.' or '..' segment in an encoding that origins read differently"
            }
            PathError::TooLong => "the request path is too long",
            PathError::EscapesOrigin => "the request path cannot be forwarded",
        }
    }
}

/// The upstream target: the full URL and the normalised path within the origin's base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTarget {
    pub url: String,
    /// The normalised request path (before the base path is prefixed); what scopes match against.
    pub path: String,
    /// Where the base path starts in `url`: the end of `scheme://host[:port]`.
    path_start: usize,
}

impl UpstreamTarget {
    /// The base path, path and query: the target of the upstream request line.
    pub fn path_and_query(&self) -> &str {
        &self.url[self.path_start..]
    }
}

/// Joins `origin` with a client's `path` and optional `query`.
///
/// The path is normalised: empty segments (`//`) merge, `.` and `..` (also as `%2e`) are resolved
/// and can never climb above the base path.
pub fn join(origin: &Origin, path: &str, query: Option<&str>) -> Result<UpstreamTarget, PathError> {
    if path.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if !path.starts_with('/') {
        return Err(PathError::NotOriginForm);
    }
    // `?` and `#` end a URL's path: after "/..", fetch would resolve the dots above the base path.
    check_escapes(path, |b| {
        b.is_ascii_graphic() && !matches!(b, b'\\' | b'?' | b'#')
    })?;
    for seg in path.split('/') {
        check_segment(seg)?;
    }
    // The query passes unchanged: encoded separators are ordinary data there.
    if query.is_some_and(|q| !q.bytes().all(|b| b.is_ascii_graphic() && b != b'#')) {
        return Err(PathError::InvalidCharacters);
    }

    let normalised = normalise(path);
    let mut url = String::with_capacity(64 + normalised.len() + query.map_or(0, |q| q.len() + 1));
    url.push_str(&origin.authority_prefix());
    let path_start = url.len();
    url.push_str(origin.base_path());
    url.push_str(&normalised);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    verify_stays_on_origin(origin, &url)?;
    Ok(UpstreamTarget {
        url,
        path: normalised,
        path_start,
    })
}

/// Checks every byte with `allowed`, and that each `%` starts a valid escape that is not a separator.
fn check_escapes(s: &str, allowed: impl Fn(u8) -> bool) -> Result<(), PathError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !allowed(b) {
            return Err(PathError::InvalidCharacters);
        }
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or(PathError::InvalidCharacters)?;
            let value = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(PathError::InvalidCharacters)?;
            if matches!(value, b'/' | b'\\' | 0) {
                return Err(PathError::EncodedSeparator);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Refuses a segment that an origin could read as a dot segment, or as holding a separator,
/// where keygate does not: `..;x` with `;` in any encoding, and `.`/`..`, `/`, `\\` or NUL reached
/// only through repeated decoding or a lookalike.
fn check_segment(seg: &str) -> Result<(), PathError> {
    if !seg.contains(['%', ';']) {
        return Ok(());
    }
    let decoded = decode_repeatedly(seg.as_bytes());
    let folded = fold_lookalikes(&decoded);
    if folded.iter().any(|b| matches!(b, b'/' | b'\\' | 0)) {
        return Err(PathError::EncodedSeparator);
    }
    let (head, params) = match folded.iter().position(|&b| b == b';') {
        Some(i) => (&folded[..i], true),
        None => (&folded[..], false),
    };
    if head != b"." && head != b".." {
        return Ok(());
    }
    if params {
        Err(PathError::DotSegmentParameters)
    } else if dot_kind(seg).is_none() {
        Err(PathError::EncodedDotSegment)
    } else {
        Ok(())
    }
}

/// Resolves dot segments (RFC 3986 §5.2.4, with `%2e` counted as `.` as the URL standard does),
/// merges empty segments, and clamps `..` at the root.
fn normalise(path: &str) -> String {
    let mut out: Vec<&str> = Vec::with_capacity(path.len() / 4 + 1);
    let mut trailing_slash = path.ends_with('/');
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        match dot_kind(seg) {
            Some(Dots::One) => trailing_slash = true,
            Some(Dots::Two) => {
                out.pop();
                trailing_slash = true;
            }
            None => {
                out.push(seg);
                trailing_slash = false;
            }
        }
    }
    if path.ends_with('/') {
        trailing_slash = true;
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if trailing_slash || out.is_empty() {
        s.push('/');
    }
    s
}

enum Dots {
    One,
    Two,
}

fn dot_kind(seg: &str) -> Option<Dots> {
    let lower = seg.to_ascii_lowercase();
    match lower.as_str() {
        "." | "%2e" => Some(Dots::One),
        ".." | ".%2e" | "%2e." | "%2e%2e" => Some(Dots::Two),
        _ => None,
    }
}

/// Re-parses the joined URL and insists it is on the origin under its base path.
fn verify_stays_on_origin(origin: &Origin, joined: &str) -> Result<(), PathError> {
    let parsed: http::Uri = joined.parse().map_err(|_| PathError::EscapesOrigin)?;
    if !origin.is_same_origin(&parsed) || !parsed.path().starts_with(origin.base_path()) {
        return Err(PathError::EscapesOrigin);
    }
    Ok(())
}

/// The parts of an absolute request URL as the runtime serialises it (WHATWG: ASCII, already
/// percent-encoded, a path always present).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestUrl<'a> {
    pub scheme: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// Splits a serialised absolute URL into scheme, path and query; `None` when it is not one.
/// The path is checked by [`join`] afterwards, like any other.
pub fn split_request_url(raw: &str) -> Option<RequestUrl<'_>> {
    let (scheme, rest) = raw.split_once("://")?;
    let rest = rest.split('#').next().unwrap_or("");
    let after_authority = &rest[rest.find(['/', '?']).unwrap_or(rest.len())..];
    let (path, query) = match after_authority.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (after_authority, None),
    };
    Some(RequestUrl {
        scheme,
        path: if path.is_empty() { "/" } else { path },
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_urls_split_like_the_runtime_serialises_them() {
        let u = split_request_url("https://gw.example/v1/a%20b?x=1&y=%7C").unwrap();
        assert_eq!(
            (u.scheme, u.path, u.query),
            ("https", "/v1/a%20b", Some("x=1&y=%7C"))
        );
        let u = split_request_url("http://127.0.0.1:8787/").unwrap();
        assert_eq!((u.path, u.query), ("/", None));
        let u = split_request_url("http://h:1/p?").unwrap();
        assert_eq!((u.path, u.query), ("/p", Some("")));
        let u = split_request_url("http://h/p?q#frag").unwrap();
        assert_eq!((u.path, u.query), ("/p", Some("q")));
        let u = split_request_url("http://h?q=/x").unwrap();
        assert_eq!((u.path, u.query), ("/", Some("q=/x")));
        assert_eq!(split_request_url("/relative"), None);
    }

    #[test]
    fn same_origin_check_compares_scheme_host_and_port_and_refuses_credentials() {
        let o = origin("https://API.example:443/base");
        assert_eq!(o.authority_prefix(), "https://api.example");
        for ok in ["https://api.example/base/x", "HTTPS://api.EXAMPLE:443/base"] {
            assert!(o.is_same_origin(&ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "http://api.example/base",
            "https://api.example:8443/base",
            "https://evil.example/base",
            "https://api.example.evil/base",
            "https://user@api.example/base",
            "/base/x",
        ] {
            assert!(!o.is_same_origin(&bad.parse().unwrap()), "{bad}");
        }
    }

    fn origin(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    fn url(o: &str, p: &str) -> Result<String, PathError> {
        join(&origin(o), p, None).map(|t| t.url)
    }

    #[test]
    fn plain_path_and_query_are_appended_to_base_path() {
        let t = join(
            &origin("https://api.example/base/"),
            "/v1/items",
            Some("a=1&b=%20"),
        )
        .unwrap();
        assert_eq!(t.url, "https://api.example/base/v1/items?a=1&b=%20");
        assert_eq!(t.path, "/v1/items");
        assert_eq!(t.path_and_query(), "/base/v1/items?a=1&b=%20");
        let port = join(&origin("http://[::1]:8080"), "/x", None).unwrap();
        assert_eq!(port.path_and_query(), "/x");
    }

    #[test]
    fn root_path_maps_to_base_path_with_slash() {
        assert_eq!(url("http://o:8080", "/").unwrap(), "http://o:8080/");
        assert_eq!(url("http://o:8080/api", "/").unwrap(), "http://o:8080/api/");
    }

    #[test]
    fn protocol_relative_path_cannot_change_host() {
        assert_eq!(
            url("http://o", "//evil.example/x").unwrap(),
            "http://o/evil.example/x"
        );
    }

    #[test]
    fn at_sign_in_path_stays_in_path() {
        assert_eq!(
            url("http://o", "/@evil.example").unwrap(),
            "http://o/@evil.example"
        );
    }

    #[test]
    fn backslash_is_refused() {
        assert_eq!(
            url("http://o", "/\\evil.example"),
            Err(PathError::InvalidCharacters)
        );
    }

    #[test]
    fn dot_segments_cannot_climb_above_base_path() {
        assert_eq!(
            url("http://o/api", "/../../admin").unwrap(),
            "http://o/api/admin"
        );
        assert_eq!(
            url("http://o/api", "/v1/../admin").unwrap(),
            "http://o/api/admin"
        );
        assert_eq!(
            url("http://o/api", "/%2e%2e/%2E%2e/admin").unwrap(),
            "http://o/api/admin"
        );
        assert_eq!(url("http://o/api", "/.%2e/x/.").unwrap(), "http://o/api/x/");
    }

    #[test]
    fn query_or_fragment_delimiter_in_the_path_is_refused() {
        // Found by the property tests (tests/properties/): "/public/..?" became "http://o/api/public/..?", which
        // fetch resolves to "http://o/api/" (and "/..?" to "http://o/"), above the scoped path.
        for p in ["/public/..?", "/..?x=1", "/..#x", "/a?b", "/a#b"] {
            assert_eq!(
                url("http://o/api", p),
                Err(PathError::InvalidCharacters),
                "{p}"
            );
        }
    }

    #[test]
    fn dot_segment_with_parameters_is_refused_since_java_servers_resolve_it() {
        for p in [
            "/public/..;/admin",
            "/a/..;jsessionid=1/b",
            "/.;x/a",
            "/a/%2e%2E;/b",
        ] {
            assert_eq!(
                url("http://o", p),
                Err(PathError::DotSegmentParameters),
                "{p}"
            );
        }
        // A parameter on an ordinary segment, and dots inside a longer name, are paths.
        assert!(url("http://o", "/a;v=1/..b;x/c").is_ok());
    }

    #[test]
    fn dot_segment_parameters_are_refused_in_every_encoding_of_dot_and_semicolon() {
        // Found in review: `..%3b` and `%2e%2e%3B` passed, and reached the origin as `..;`.
        for p in [
            "/reports/..%3b/admin",
            "/reports/%2e%2e%3B/admin",
            "/reports/.%3bx/admin",
            "/reports/%2E%2e%253b/admin",
            "/reports/%252e%252e;/admin",
            "/reports/%c0%ae%c0%ae;/admin",
            "/reports/%EF%BC%8E%EF%BC%8E%EF%BC%9B/admin",
            "/reports/..%C0%BB/admin",
        ] {
            assert_eq!(
                url("http://o", p),
                Err(PathError::DotSegmentParameters),
                "{p}"
            );
        }
    }

    #[test]
    fn dot_segments_reached_only_by_repeated_decoding_or_lookalikes_are_refused() {
        for p in [
            "/reports/%252e%252e/admin",
            "/reports/%25252e/admin",
            "/reports/%c0%ae%c0%ae/admin",
            "/reports/%e0%80%ae%e0%80%ae/admin",
            "/reports/%EF%BC%8E%EF%BC%8E/admin",
        ] {
            assert_eq!(url("http://o", p), Err(PathError::EncodedDotSegment), "{p}");
        }
        // Separators reached the same ways are refused as separators.
        for p in [
            "/a/%252f/b",
            "/a/%c0%af/b",
            "/a/%EF%BC%8F/b",
            "/a/%255c/b",
            "/a/%2500/b",
        ] {
            assert_eq!(url("http://o", p), Err(PathError::EncodedSeparator), "{p}");
        }
        // What keygate resolves itself, and names that only contain dots, still pass.
        assert_eq!(
            url("http://o/api", "/x/%2e%2e/y").unwrap(),
            "http://o/api/y"
        );
        assert!(url("http://o", "/a/%2e%2e.txt/b;v=1/%25/c").is_ok());
    }

    #[test]
    fn encoded_slashes_and_backslashes_are_refused() {
        for p in ["/..%2f..", "/%2F%2Fevil", "/a%5cb", "/a%5Cb", "/a%00b"] {
            assert_eq!(url("http://o", p), Err(PathError::EncodedSeparator), "{p}");
        }
    }

    #[test]
    fn absolute_form_target_is_refused() {
        assert_eq!(
            url("http://o", "http://evil.example/x"),
            Err(PathError::NotOriginForm)
        );
        assert_eq!(
            url("http://o", "evil.example"),
            Err(PathError::NotOriginForm)
        );
    }

    #[test]
    fn control_characters_space_and_raw_unicode_are_refused() {
        for p in ["/a b", "/a\tb", "/a\r\nb", "/caf\u{e9}", "/%zz", "/%4"] {
            assert_eq!(
                url("http://o", p),
                Err(PathError::InvalidCharacters),
                "{p:?}"
            );
        }
        assert_eq!(
            join(&origin("http://o"), "/", Some("a=1\r\nX: y")).unwrap_err(),
            PathError::InvalidCharacters
        );
    }

    #[test]
    fn query_passes_unchanged_even_with_encoded_slashes_and_urls() {
        let t = join(
            &origin("http://o/api"),
            "/x",
            Some("next=//evil.example&p=%2F%2Fa%5C&e=%zz"),
        )
        .unwrap();
        assert_eq!(
            t.url,
            "http://o/api/x?next=//evil.example&p=%2F%2Fa%5C&e=%zz"
        );
    }

    #[test]
    fn percent_encoded_unicode_passes_unchanged() {
        assert_eq!(url("http://o", "/caf%C3%A9").unwrap(), "http://o/caf%C3%A9");
    }

    #[test]
    fn over_long_path_is_refused() {
        let p = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert_eq!(url("http://o", &p), Err(PathError::TooLong));
    }

    #[test]
    fn trailing_slash_is_preserved() {
        assert_eq!(url("http://o", "/a/b/").unwrap(), "http://o/a/b/");
        assert_eq!(url("http://o", "/a/b").unwrap(), "http://o/a/b");
    }
}
