//! Credentials (credential.rs): the `Authorization` and `X-Api-Key` parsers never panic, accept
//! exactly RFC 6750's `Bearer 1*SP b64token` (4 KiB at most), and treat two fields as an error.

use crate::strategies::{hostile_bytes, trim_ows};
use crate::{check, check_reaching};
use keygate_core::credential::{
    parse_api_key_header, parse_authorization, parse_bearer, Malformed, MAX_TOKEN_LEN,
};
use proptest::prelude::*;
use proptest::sample::select;

/// RFC 6750 §2.1, written out independently of the parser:
/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_rfc6750_b64token(t: &[u8]) -> bool {
    let body = t.iter().take_while(|&&b| b != b'=').count();
    body > 0
        && t[..body]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
        && t[body..].iter().all(|&b| b == b'=')
}

const B64_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";

const AUTH_PIECES: &[&str] = &[
    "Bearer",
    "bearer",
    "BEARER",
    "bEaReR",
    "Basic",
    "Bearerx",
    " ",
    " ",
    "  ",
    "\t",
    ",",
    "=",
    "==",
    "a",
    "Z",
    "9",
    "-",
    ".",
    "_",
    "~",
    "+",
    "/",
    "kg_",
    "abc",
    "\"",
    "\0",
    "\r\n",
    "\u{7f}",
    "é",
    "\u{a0}",
    ";",
    ":",
    "Bearer a, Bearer b",
];

/// A header value built from credential-shaped fragments; half of them start with a scheme.
fn authorization_value() -> BoxedStrategy<Vec<u8>> {
    let scheme = select(&[
        "Bearer ", "bearer  ", "BEARER\t", " Bearer ", "Bearer", "Basic ", "",
    ]);
    let fragments = (scheme, hostile_bytes(AUTH_PIECES, 10))
        .prop_map(|(s, rest)| [s.as_bytes(), &rest].concat());
    // Close to a valid credential: a scheme, a separator, a token, perhaps one stray character.
    let near_valid = (
        select(&["Bearer", "bearer", "BEARER", "bEaReR", "Bearer\u{a0}"]),
        select(&[" ", "  ", "\t", " \t", ""]),
        b64token(40),
        select(&["", "", "", " ", "\t", ",", "=", "a", " a", "\"", "é", "\0"]),
    )
        .prop_map(|(s, sep, t, tail)| format!("{s}{sep}{t}{tail}").into_bytes());
    prop_oneof![2 => fragments, 1 => near_valid].boxed()
}

fn b64token(max_body: usize) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(select(B64_ALPHABET), 1..=max_body),
        0usize..4,
    )
        .prop_map(|(body, pad)| {
            let mut t = String::from_utf8(body).expect("ASCII");
            t.push_str(&"=".repeat(pad));
            t
        })
}

#[test]
fn credential_parsers_never_panic_and_two_fields_are_always_multiple_headers() {
    let values = prop::collection::vec(prop_oneof![authorization_value(), any::<Vec<u8>>()], 0..4);
    check(values, |values| {
        let all = parse_authorization(values.iter().map(Vec::as_slice));
        let api = parse_api_key_header(values.iter().map(Vec::as_slice));
        match values.as_slice() {
            [] => prop_assert!(matches!((all, api), (Ok(None), Ok(None)))),
            [one] => {
                let single = parse_bearer(one).map(|k| k.expose().to_owned());
                prop_assert_eq!(
                    all.map(|k| k.map(|k| k.expose().to_owned())),
                    single.map(Some)
                );
            }
            _ => {
                prop_assert_eq!(all.map(|_| ()), Err(Malformed::MultipleHeaders));
                prop_assert_eq!(api.map(|_| ()), Err(Malformed::MultipleHeaders));
            }
        }
        Ok(())
    });
}

#[test]
fn accepted_bearer_token_is_a_b64token_after_bearer_and_spaces() {
    check_reaching(
        "had a token accepted",
        5,
        authorization_value(),
        |value, reached| {
            let Ok(key) = parse_bearer(&value) else {
                return Ok(());
            };
            reached.hit();
            let token = key.expose().as_bytes();
            prop_assert!(is_rfc6750_b64token(token), "{:?}", key.expose());
            prop_assert!(token.len() <= MAX_TOKEN_LEN);
            // `Bearer` in any case, 1*SP (RFC 6750 §2.1), the token, nothing else but OWS around.
            let v = trim_ows(&value);
            prop_assert!(v.len() > 6 && v[..6].eq_ignore_ascii_case(b"bearer"));
            let after = &v[6..];
            let spaces = after.iter().take_while(|&&b| b == b' ').count();
            prop_assert!(spaces >= 1);
            prop_assert_eq!(&after[spaces..], token);
            Ok(())
        },
    );
}

#[test]
fn accepted_x_api_key_is_the_trimmed_value_and_a_b64token() {
    check_reaching(
        "had a key accepted",
        2,
        authorization_value(),
        |value, reached| {
            if let Ok(Some(key)) = parse_api_key_header([value.as_slice()]) {
                reached.hit();
                prop_assert!(is_rfc6750_b64token(key.expose().as_bytes()));
                prop_assert!(key.expose().len() <= MAX_TOKEN_LEN);
                prop_assert_eq!(trim_ows(&value), key.expose().as_bytes());
            }
            Ok(())
        },
    );
}

#[test]
fn bearer_with_any_b64token_yields_that_token_unless_over_4096_bytes() {
    let long_or_short = prop_oneof![3 => b64token(64), 1 => b64token(MAX_TOKEN_LEN + 2)];
    let strategy = (
        long_or_short,
        prop::collection::vec(any::<bool>(), 6),
        1usize..4,
        select(&["", " ", "\t", " \t "]),
        select(&["", " ", "\t", " \t "]),
    );
    check(strategy, |(token, upper, spaces, lead, trail)| {
        let scheme: String = "bearer"
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        let value = format!("{lead}{scheme}{}{token}{trail}", " ".repeat(spaces));
        let want = if token.len() > MAX_TOKEN_LEN {
            Err(Malformed::TooLong)
        } else {
            Ok(token.clone())
        };
        let got = parse_bearer(value.as_bytes()).map(|k| k.expose().to_owned());
        prop_assert_eq!(&got, &want);
        let api = format!("{lead}{token}{trail}");
        let got = parse_api_key_header([api.as_bytes()])
            .map(|k| k.map(|k| k.expose().to_owned()).unwrap_or_default());
        prop_assert_eq!(got, want);
        Ok(())
    });
}
