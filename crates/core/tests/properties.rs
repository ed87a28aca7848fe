//! Property tests of the core's input handling: the credential parser, the origin URL join, the
//! upstream header filter, the key-record decoder, scope matching, the key format, and request
//! integrity (the method the origin runs, override and identity names, keys in the query).
//!
//! Every property runs `PROPTEST_CASES` cases (default [`DEFAULT_CASES`], a few seconds for the
//! whole file under `cargo test`); `make fuzz` runs the same properties with many more. Each one
//! prints the cases it ran. A failure is saved in `crates/core/proptest-regressions/` and replayed
//! first on every later run; a bug it finds also gets a named unit test beside the code it fixes.

use http::{HeaderMap, HeaderName, HeaderValue};
use keygate_core::config::Origin;
use keygate_core::credential::{
    parse_api_key_header, parse_authorization, parse_bearer, query_carries_key, Malformed,
    MAX_TOKEN_LEN,
};
use keygate_core::forward::{upstream_headers, Caller, ClientContext};
use keygate_core::integrity::{
    Honoured, FORWARDED_METHODS, IDENTITY_HEADERS, METHOD_OVERRIDE_HEADERS, METHOD_OVERRIDE_PARAMS,
    REWRITE_HEADERS,
};
use keygate_core::keyformat::{self, KeyShape, BASE62, KEY_LEN, PREFIX, RANDOM_LEN};
use keygate_core::path::{join, split_request_url, UpstreamTarget};
use keygate_core::pipeline::Denial;
use keygate_core::record::{KeyRecord, MAX_RECORD_LEN};
use keygate_core::scope::Scope;
use keygate_core::{
    authorize, ApiKey, Config, KeyHash, KeyStore, RequestHead, StoreError, Verdict,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{
    Config as RunnerConfig, FileFailurePersistence, TestCaseError, TestRunner,
};
use serde_json::{json, Map, Value};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::rc::Rc;
use std::time::Instant;

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 512;

/// Runs `test` on values of `strategy`, prints how many cases passed and returns that number.
/// The case count comes from `PROPTEST_CASES` (as proptest's own default config does), else
/// [`DEFAULT_CASES`]; cases replayed from the regressions file come on top.
fn check<S>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) -> u64
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = RunnerConfig {
        cases,
        // The runner's working directory is crates/core: failures persist in a committed file.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        source_file: Some(file!()),
        ..RunnerConfig::default()
    };
    // libtest names each test's thread after the test.
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("property");
    let ran = Cell::new(0u64);
    let start = Instant::now();
    let result = TestRunner::new(config).run(&strategy, |value| {
        ran.set(ran.get() + 1);
        test(value)
    });
    match result {
        Ok(()) => println!(
            "property {name}: {} cases passed in {:.2?}",
            ran.get(),
            start.elapsed()
        ),
        Err(e) => panic!("property {name} failed after {} runs: {e}", ran.get()),
    }
    ran.get()
}

/// Counts the cases that got past a property's precondition (a token accepted, a path joined),
/// so that a generator drifting away from the interesting inputs fails instead of passing vacuously.
struct Reached {
    what: &'static str,
    min_percent: u64,
    hits: Cell<u64>,
}

impl Reached {
    fn new(what: &'static str, min_percent: u64) -> Self {
        Self {
            what,
            min_percent,
            hits: Cell::new(0),
        }
    }

    fn hit(&self) {
        self.hits.set(self.hits.get() + 1);
    }

    /// Checks the share after `ran` cases; below 200 cases it is too noisy to judge.
    fn at_least(&self, ran: u64) {
        let hits = self.hits.get();
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("property");
        println!("property {name}: {hits} of {ran} cases {}", self.what);
        assert!(
            ran < 200 || hits * 100 >= ran * self.min_percent,
            "{name}: only {hits} of {ran} cases {} (want {}%): the generator needs fixing",
            self.what,
            self.min_percent
        );
    }
}

/// Concatenates 0..`max` pieces, each a listed fragment or (less often) 1-3 arbitrary bytes.
fn hostile_bytes(pieces: &'static [&'static str], max: usize) -> BoxedStrategy<Vec<u8>> {
    let piece = prop_oneof![
        4 => select(pieces).prop_map(|p| p.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(piece, 0..max)
        .prop_map(|ps| ps.concat())
        .boxed()
}

/// Like [`hostile_bytes`], as text: arbitrary characters instead of arbitrary bytes.
fn hostile_text(pieces: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
    let piece = prop_oneof![
        4 => select(pieces).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..max)
        .prop_map(|ps| ps.concat())
        .boxed()
}

/// Concatenates 0..`max` listed fragments.
fn pieces(list: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(select(list), 0..max)
        .prop_map(|ps| ps.concat())
        .boxed()
}

/// Any text up to `max` characters, control characters and astral planes included (cheaper to
/// generate than `any::<String>()`).
fn any_text(max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(any::<char>(), 0..max)
        .prop_map(String::from_iter)
        .boxed()
}

/// The bytes with surrounding spaces and tabs (RFC 9110 OWS) removed.
fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

// ---------------------------------------------------------------------------------------------
// 1. Credentials (credential.rs)
// ---------------------------------------------------------------------------------------------

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
    let reached = Reached::new("had a token accepted", 5);
    let ran = check(authorization_value(), |value| {
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
    });
    reached.at_least(ran);
}

#[test]
fn accepted_x_api_key_is_the_trimmed_value_and_a_b64token() {
    let reached = Reached::new("had a key accepted", 2);
    let ran = check(authorization_value(), |value| {
        if let Ok(Some(key)) = parse_api_key_header([value.as_slice()]) {
            reached.hit();
            prop_assert!(is_rfc6750_b64token(key.expose().as_bytes()));
            prop_assert!(key.expose().len() <= MAX_TOKEN_LEN);
            prop_assert_eq!(trim_ows(&value), key.expose().as_bytes());
        }
        Ok(())
    });
    reached.at_least(ran);
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

// ---------------------------------------------------------------------------------------------
// 2. Joining ORIGIN_URL and the request path (path.rs)
// ---------------------------------------------------------------------------------------------

/// An `ORIGIN_URL`, the `scheme://host[:port]` every joined URL must start with, and its base path.
const ORIGINS: &[(&str, &str, &str)] = &[
    ("http://o", "http://o", ""),
    ("https://api.example/base", "https://api.example", "/base"),
    ("https://api.example/base/", "https://api.example", "/base"),
    (
        "http://127.0.0.1:8080/api/v1/",
        "http://127.0.0.1:8080",
        "/api/v1",
    ),
    ("HTTPS://API.Example:443/V1/", "https://api.example", "/V1"),
    ("http://[::1]:8787/x", "http://[::1]:8787", "/x"),
    ("https://api.example:8443", "https://api.example:8443", ""),
];

const PATH_PIECES: &[&str] = &[
    "/",
    "/",
    "/",
    "//",
    "\\",
    "@",
    "..",
    "..",
    ".",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2E.",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%40",
    "%00",
    "%25",
    "%",
    "%g0",
    "%2",
    ":",
    "?",
    "#",
    ";",
    "a",
    "b",
    "admin",
    "public",
    "v1",
    "evil.example",
    "http:",
    "https:",
    "//evil.example",
    "[::1]",
    ":8080",
    "é",
    "\u{ff0f}",
    "\u{2024}",
    "\0",
    "\t",
    "\r\n",
    " ",
    "\u{7f}",
    "~",
    "*",
    "%7B",
    "{",
    "\"",
    "<",
    ">",
    "`",
];

/// A request target: mostly `/`-rooted hostile fragments, sometimes any string at all.
/// Fragments a joined path may keep: dot segments, empty segments and URL syntax that is only
/// data inside a path.
const PATH_ACCEPTED_PIECES: &[&str] = &[
    "/",
    "/",
    "//",
    "..",
    ".",
    "%2e",
    "%2E.",
    ".%2E",
    "a",
    "admin",
    "public",
    "@",
    ":",
    ";",
    "%40",
    "%7B",
    "~",
    "*",
    "evil.example",
    "%252e",
    "%C3%A9",
    "%2e%2e",
    "http:",
];

fn request_path() -> BoxedStrategy<String> {
    prop_oneof![
        4 => pieces(PATH_ACCEPTED_PIECES, 12).prop_map(|p| format!("/{p}")),
        4 => hostile_text(PATH_PIECES, 14).prop_map(|p| format!("/{p}")),
        1 => hostile_text(PATH_PIECES, 14),
        1 => any_text(24),
    ]
    .boxed()
}

fn request_query() -> BoxedStrategy<Option<String>> {
    prop::option::of(hostile_text(PATH_PIECES, 6)).boxed()
}

fn origin_case() -> impl Strategy<Value = (Origin, &'static str, &'static str)> {
    select(ORIGINS).prop_map(|(raw, prefix, base)| {
        (
            Origin::parse(raw).expect("listed origins parse"),
            prefix,
            base,
        )
    })
}

fn is_single_dot(seg: &str) -> bool {
    seg == "." || seg.eq_ignore_ascii_case("%2e")
}

fn is_double_dot(seg: &str) -> bool {
    let l = seg.to_ascii_lowercase();
    matches!(l.as_str(), ".." | ".%2e" | "%2e." | "%2e%2e")
}

/// The path a WHATWG URL parser (what `fetch` uses) requests for `url`, when `url` is `prefix`
/// followed by a path-absolute URL; `None` when anything else follows `prefix` (the authority
/// would not end there). Written from the URL standard's path state for special schemes: tabs and
/// newlines are removed, `\` separates like `/`, the path ends at `?` or `#`, and `.`, `..` and
/// their `%2e` spellings are resolved.
fn whatwg_path(url: &str, prefix: &str) -> Option<String> {
    let rest: String = url
        .strip_prefix(prefix)?
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    if !rest.starts_with(['/', '\\']) {
        return None;
    }
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let segments: Vec<&str> = rest[1..end].split(['/', '\\']).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if is_double_dot(seg) {
            out.pop();
            if last {
                out.push("");
            }
        } else if is_single_dot(seg) {
            if last {
                out.push("");
            }
        } else {
            out.push(seg);
        }
    }
    Some(format!("/{}", out.join("/")))
}

/// Checks a successful join against the origin, independently of `join`'s own verification.
fn assert_on_origin(
    t: &UpstreamTarget,
    origin: &Origin,
    prefix: &str,
    base: &str,
    query: Option<&str>,
) -> Result<(), TestCaseError> {
    prop_assert!(
        t.url.bytes().all(|b| b.is_ascii_graphic()),
        "only visible ASCII may reach the fetch: {:?}",
        t.url
    );
    let uri: http::Uri = t
        .url
        .parse()
        .map_err(|e| TestCaseError::fail(format!("joined URL {:?} does not parse: {e}", t.url)))?;
    prop_assert_eq!(uri.scheme_str(), Some(&prefix[..prefix.find(':').unwrap()]));
    let authority = uri.authority().map(|a| a.as_str().to_owned());
    prop_assert_eq!(
        authority.as_deref(),
        Some(&prefix[prefix.find("//").unwrap() + 2..])
    );
    prop_assert!(origin.is_same_origin(&uri));
    // What fetch will request: exactly the base path plus the normalised path scopes matched.
    let resolved = whatwg_path(&t.url, prefix);
    let want = format!("{base}{}", t.path);
    prop_assert_eq!(resolved.as_deref(), Some(want.as_str()), "url {:?}", t.url);
    let want_url = match query {
        Some(q) => format!("{prefix}{base}{}?{q}", t.path),
        None => format!("{prefix}{base}{}", t.path),
    };
    prop_assert_eq!(&t.url, &want_url);
    Ok(())
}

#[test]
fn join_never_changes_scheme_host_or_port_nor_leaves_the_base_path() {
    let strategy = (origin_case(), request_path(), request_query());
    let reached = Reached::new("were joined", 20);
    let ran = check(strategy, |((origin, prefix, base), path, query)| {
        if let Ok(t) = join(&origin, &path, query.as_deref()) {
            reached.hit();
            assert_on_origin(&t, &origin, prefix, base, query.as_deref())?;
        }
        Ok(())
    });
    reached.at_least(ran);
}

#[test]
fn joined_path_is_normalised_and_joining_it_again_changes_nothing() {
    let strategy = (origin_case(), request_path());
    let reached = Reached::new("were joined", 20);
    let ran = check(strategy, |((origin, ..), path)| {
        let Ok(t) = join(&origin, &path, None) else {
            return Ok(());
        };
        reached.hit();
        prop_assert!(t.path.starts_with('/'));
        let inner = t.path.strip_suffix('/').unwrap_or(&t.path);
        for seg in inner.split('/').skip(1) {
            prop_assert!(!seg.is_empty(), "empty segment in {:?}", t.path);
            prop_assert!(!is_single_dot(seg) && !is_double_dot(seg), "{:?}", t.path);
        }
        let again = join(&origin, &t.path, None).map(|u| u.path);
        prop_assert_eq!(again, Ok(t.path.clone()));
        Ok(())
    });
    reached.at_least(ran);
}

#[test]
fn join_refuses_encoded_separators_backslashes_query_delimiters_and_raw_bytes() {
    let strategy = (origin_case(), request_path());
    let reached = Reached::new("were hostile", 20);
    let ran = check(strategy, |((origin, ..), path)| {
        let lower = path.to_ascii_lowercase();
        let hostile = ["%2f", "%5c", "%00"].iter().any(|e| lower.contains(e))
            || path
                .bytes()
                .any(|b| !b.is_ascii_graphic() || matches!(b, b'\\' | b'?' | b'#'));
        if hostile {
            reached.hit();
            prop_assert!(join(&origin, &path, None).is_err(), "{:?}", path);
        }
        Ok(())
    });
    reached.at_least(ran);
}

#[test]
fn split_request_url_then_join_stays_on_origin() {
    let raw = prop_oneof![
        3 => hostile_text(PATH_PIECES, 14).prop_map(|s| format!("https://gw.example{s}")),
        1 => any_text(24),
    ];
    let reached = Reached::new("were split and joined", 20);
    let ran = check((origin_case(), raw), |((origin, prefix, base), raw)| {
        let Some(u) = split_request_url(&raw) else {
            return Ok(());
        };
        prop_assert!(!u.path.contains(['?', '#']), "{:?}", u);
        if let Ok(t) = join(&origin, u.path, u.query) {
            reached.hit();
            assert_on_origin(&t, &origin, prefix, base, u.query)?;
        }
        Ok(())
    });
    reached.at_least(ran);
}

#[test]
fn a_scope_that_admits_the_joined_path_confines_the_url_the_origin_receives() {
    let scopes = select(&["* /public/**", "GET /public/*", "GET /v1/a/**"]);
    let path = prop_oneof![
        3 => pieces(PATH_ACCEPTED_PIECES, 10),
        1 => hostile_text(PATH_PIECES, 10),
    ]
    .prop_map(|p| format!("/public/{p}"));
    let reached = Reached::new("were joined and admitted", 10);
    let ran = check(
        (origin_case(), scopes, path),
        |((origin, prefix, base), scope, path)| {
            let scope = Scope::parse(scope).expect("listed scopes parse");
            let Ok(t) = join(&origin, &path, None) else {
                return Ok(());
            };
            if !scope.allows("GET", &t.path) {
                return Ok(());
            }
            reached.hit();
            let resolved = whatwg_path(&t.url, prefix).unwrap_or_default();
            let literal = scope
                .canonical()
                .split_once(' ')
                .map(|(_, p)| p.split("/*").next().unwrap_or("").to_owned())
                .unwrap_or_default();
            let root = format!("{base}{literal}");
            prop_assert!(
                resolved == root || resolved.starts_with(&format!("{root}/")),
                "{} admitted {:?}, which reaches {:?}",
                scope.canonical(),
                path,
                resolved
            );
            Ok(())
        },
    );
    reached.at_least(ran);
}

// ---------------------------------------------------------------------------------------------
// 3. Upstream request headers (forward.rs)
// ---------------------------------------------------------------------------------------------

/// Client header names: everything the gateway owns or strips, plus ordinary ones.
const HEADER_NAMES: &[&str] = &[
    "authorization",
    "x-shared-secret",
    "x-origin-auth",
    "x-upstream-token",
    "x-api-key",
    "x-consumer-id",
    "x-consumer-name",
    "x-consumer-anonymous",
    "x-consumer-plan",
    "x-consumer-role",
    "x-keygate-debug",
    "x-key-id",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "forwarded",
    "x-real-ip",
    "cf-connecting-ip",
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-status",
    "accept",
    "content-type",
    "cookie",
    "user-agent",
    "x-custom",
    "x-other",
];

/// Hop-by-hop fields as the README lists them (RFC 9110 §7.6.1, the legacy `Keep-Alive`, and
/// every `Proxy-*`): never forwarded.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || name.starts_with("proxy-")
}

/// Every entry of the integrity tables, each with its table's class.
fn table_entries() -> Vec<(Honoured, &'static str)> {
    let tagged = |t: &'static [Honoured], class| t.iter().map(move |h| (*h, class));
    tagged(METHOD_OVERRIDE_HEADERS, "override")
        .chain(tagged(REWRITE_HEADERS, "rewrite"))
        .chain(tagged(IDENTITY_HEADERS, "identity"))
        .collect()
}

/// A name from the integrity tables as a client may spell it: a family gets a random member, and
/// each `-` becomes `-`, `_` or `.` at random (the letter case is randomised by [`header_name`]).
fn table_header_name() -> BoxedStrategy<String> {
    (select(table_entries()), "[a-z0-9-]{0,6}", any::<u32>())
        .prop_map(|((h, _), tail, seps)| {
            let name = if h.prefix {
                format!("{}{tail}", h.name)
            } else {
                h.name.to_owned()
            };
            name.chars()
                .enumerate()
                .map(|(i, c)| match (c, seps >> (i % 16 * 2) & 3) {
                    ('-', 1) => '_',
                    ('-', 2) => '.',
                    (c, _) => c,
                })
                .collect()
        })
        .boxed()
}

/// How an origin reads a header name, restated here: lower case, `_` and `.` as `-`.
fn origin_reading(name: &str) -> String {
    name.to_ascii_lowercase()
        .chars()
        .map(|c| if c == '_' || c == '.' { '-' } else { c })
        .collect()
}

/// The table class of a name as an origin reads it, if any.
fn table_class(name: &str) -> Option<&'static str> {
    let n = origin_reading(name);
    table_entries()
        .into_iter()
        .find(|(h, _)| {
            if h.prefix {
                n.starts_with(h.name)
            } else {
                n == h.name
            }
        })
        .map(|(_, class)| class)
}

/// A header name from the list, the integrity tables or a random token, in random letter case.
fn header_name() -> BoxedStrategy<String> {
    let name = prop_oneof![
        4 => select(HEADER_NAMES).prop_map(str::to_owned),
        2 => table_header_name(),
        1 => "[a-z0-9!#$%&'*+.^_`|~-]{1,12}",
    ];
    (name, any::<u32>())
        .prop_map(|(n, upper)| {
            n.chars()
                .enumerate()
                .map(|(i, c)| match upper >> (i % 32) & 1 {
                    1 => c.to_ascii_uppercase(),
                    _ => c,
                })
                .collect()
        })
        .boxed()
}

/// A value a client can send: visible ASCII, SP and HTAB, and obs-text bytes.
fn header_value() -> BoxedStrategy<Vec<u8>> {
    let byte = prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'\t'), 1 => 0x80u8..=0xff];
    prop_oneof![
        3 => "[ -~]{0,16}".prop_map(String::into_bytes),
        1 => prop::collection::vec(byte, 0..16),
    ]
    .boxed()
}

/// A `Connection` value: a comma list of header names with optional whitespace, sometimes with
/// an obs-text byte or a stray token in it.
fn connection_value() -> BoxedStrategy<Vec<u8>> {
    let item = (
        header_name(),
        select(&["", " ", "\t", " \t"]),
        select(&["", " ", "\t"]),
    )
        .prop_map(|(n, a, b)| format!("{a}{n}{b}").into_bytes());
    let item = prop_oneof![
        6 => item,
        1 => Just(b"\xe9t\xe9".to_vec()),
        1 => Just(Vec::new()),
    ];
    prop::collection::vec(item, 1..6)
        .prop_map(|items| items.join(&b","[..]))
        .boxed()
}

#[derive(Debug, Clone)]
struct HeaderCase {
    secret_header: Option<&'static str>,
    secret: String,
    api_key_source: bool,
    meta: bool,
    method_override: bool,
    caller: u8,
    consumer_name: Option<String>,
    client_ip: Option<&'static str>,
    proto: &'static str,
    request_id: String,
    headers: Vec<(String, Vec<u8>)>,
}

fn header_case() -> impl Strategy<Value = HeaderCase> {
    let header = prop_oneof![
        4 => (header_name(), header_value()),
        1 => (
            select(&["connection", "Connection"]).prop_map(str::to_owned),
            connection_value()
        ),
    ];
    (
        (
            select(&[None, Some("X-Origin-Auth"), Some("x-upstream-token")]),
            "[!-~]{16,40}",
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0u8..3,
        ),
        (
            prop::option::of("[!-~]([ -~]{0,10}[!-~])?"),
            select(&[
                None,
                Some("203.0.113.9"),
                Some("2001:db8::1"),
                Some("bad\nip"),
            ]),
            select(&["http", "https"]),
            "[A-Za-z0-9._:+=/@-]{1,24}",
        ),
        prop::collection::vec(header, 0..14),
    )
        .prop_map(
            |(
                (secret_header, secret, api_key_source, meta, method_override, caller),
                (consumer_name, client_ip, proto, request_id),
                headers,
            )| HeaderCase {
                secret_header,
                secret,
                api_key_source,
                meta,
                method_override,
                caller,
                consumer_name,
                client_ip,
                proto,
                request_id,
                headers,
            },
        )
}

struct Built {
    cfg: Config,
    caller: Caller,
    incoming: HeaderMap,
    out: HeaderMap,
}

impl HeaderCase {
    fn build(&self) -> Built {
        let cfg = Config::from_lookup(|k| match k {
            "ORIGIN_URL" => Some("http://o".into()),
            "SHARED_SECRET" => Some(self.secret.clone()),
            "SHARED_SECRET_HEADER" => self.secret_header.map(str::to_owned),
            "KEY_SOURCES" => self
                .api_key_source
                .then(|| "authorization,x-api-key".to_owned()),
            "CONSUMER_META_HEADERS" => self.meta.then(|| "plan,region".to_owned()),
            "METHOD_OVERRIDE" => Some(self.method_override.to_string()),
            _ => None,
        })
        .expect("generated config is valid");
        let caller = match self.caller {
            0 => Caller::Key(Rc::new(KeyRecord {
                v: 1,
                id: "0123456789ab".into(),
                name: "n".into(),
                consumer_id: "acme".into(),
                consumer_name: self.consumer_name.clone(),
                created_at: 0,
                expires_at: None,
                disabled: false,
                meta: serde_json::from_str(r#"{"plan":"pro","region":"a\nb","seats":3}"#)
                    .expect("meta"),
                scopes: vec![],
                description: None,
                tier: None,
                quota: None,
            })),
            1 => Caller::Anonymous,
            _ => Caller::Preflight,
        };
        let mut incoming = HeaderMap::new();
        for (name, value) in &self.headers {
            incoming.append(
                HeaderName::from_bytes(name.as_bytes()).expect("generated names are tokens"),
                HeaderValue::from_bytes(value).expect("generated values are field values"),
            );
        }
        let ctx = ClientContext {
            client_ip: self.client_ip,
            proto: self.proto,
            request_id: &self.request_id,
        };
        let out = upstream_headers(&incoming, &cfg, &caller, ctx);
        Built {
            cfg,
            caller,
            incoming,
            out,
        }
    }

    /// The headers the gateway itself sets, each with its one value.
    fn ours(&self, b: &Built) -> BTreeMap<String, Vec<u8>> {
        let mut ours = BTreeMap::new();
        ours.insert(
            b.cfg.secret_header.as_str().to_owned(),
            self.secret.clone().into_bytes(),
        );
        match &b.caller {
            Caller::Key(r) => {
                ours.insert("x-key-id".into(), r.id.clone().into_bytes());
                ours.insert("x-consumer-id".into(), r.consumer_id.clone().into_bytes());
                if let Some(n) = &r.consumer_name {
                    ours.insert("x-consumer-name".into(), n.clone().into_bytes());
                }
                for (key, header) in &b.cfg.consumer_meta {
                    if let Some(v) = r.meta_header_value(key) {
                        ours.insert(header.as_str().to_owned(), v.into_bytes());
                    }
                }
            }
            Caller::Anonymous => {
                ours.insert("x-consumer-anonymous".into(), b"true".to_vec());
            }
            Caller::Preflight => {}
        }
        if let Some(ip) = self
            .client_ip
            .filter(|ip| HeaderValue::from_str(ip).is_ok())
        {
            ours.insert("x-forwarded-for".into(), ip.as_bytes().to_vec());
        }
        ours.insert("x-forwarded-proto".into(), self.proto.as_bytes().to_vec());
        ours.insert("x-request-id".into(), self.request_id.clone().into_bytes());
        ours
    }
}

/// Header names a client may not set: credentials, the default secret header, the identity,
/// forwarding and client-address headers (the gateway's to set or to leave out), URL rewrites,
/// and method overrides unless `METHOD_OVERRIDE` is on; in any spelling an origin reads alike.
fn is_identity_or_credential(name: &str, cfg: &Config) -> bool {
    match table_class(name) {
        Some("override") if cfg.method_override => {}
        Some(_) => return true,
        None => {}
    }
    let name = &*origin_reading(name);
    name == cfg.secret_header.as_str()
        || (cfg.api_key_header && name == "x-api-key")
        || matches!(
            name,
            "authorization"
                | "host"
                | "x-shared-secret"
                | "x-key-id"
                | "x-request-id"
                | "forwarded"
                | "x-real-ip"
                | "cf-connecting-ip"
        )
        || ["x-consumer-", "x-keygate-", "x-forwarded-"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// Lower-case names listed in the client's `Connection` fields (RFC 9110 §7.6.1: a comma list of
/// tokens with optional whitespace), read from the raw bytes.
fn connection_listed(incoming: &HeaderMap) -> Vec<String> {
    incoming
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|t| String::from_utf8_lossy(trim_ows(t)).to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn values(map: &HeaderMap, name: &str) -> Vec<Vec<u8>> {
    map.get_all(name)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect()
}

#[test]
fn upstream_headers_carry_exactly_one_secret_and_no_client_credential_or_identity() {
    check(header_case(), |case| {
        let b = case.build();
        let ours = case.ours(&b);
        let secret = b.cfg.secret_header.as_str();
        prop_assert_eq!(
            values(&b.out, secret),
            vec![case.secret.clone().into_bytes()]
        );
        for name in b.out.keys() {
            let n = name.as_str();
            if is_identity_or_credential(n, &b.cfg) {
                // Present only because we set it, and only with our value.
                let want = ours.get(n).cloned().map(|v| vec![v]);
                prop_assert_eq!(Some(values(&b.out, n)), want, "{}", n);
            }
        }
        prop_assert!(b.out.get("authorization").is_none());
        Ok(())
    });
}

#[test]
fn the_sanitiser_never_forwards_an_override_rewrite_or_foreign_identity_name() {
    let reached = Reached::new("sent a name from the integrity tables", 40);
    let ran = check(header_case(), |case| {
        let b = case.build();
        let ours = case.ours(&b);
        if case.headers.iter().any(|(n, _)| table_class(n).is_some()) {
            reached.hit();
        }
        for (name, value) in &b.out {
            let n = name.as_str();
            match table_class(n) {
                None => {}
                Some("override") if case.method_override => {}
                Some(class) => {
                    // Only a header keygate sets itself, with its value.
                    prop_assert_eq!(
                        ours.get(n).map(Vec::as_slice),
                        Some(value.as_bytes()),
                        "{} name {} forwarded",
                        class,
                        n
                    );
                }
            }
        }
        Ok(())
    });
    reached.at_least(ran);
}

#[test]
fn upstream_headers_drop_hop_by_hop_and_connection_listed_fields_but_keep_ours() {
    check(header_case(), |case| {
        let b = case.build();
        let ours = case.ours(&b);
        for name in b.out.keys() {
            prop_assert!(!is_hop_by_hop(name.as_str()), "{} forwarded", name);
        }
        for listed in connection_listed(&b.incoming) {
            match ours.get(&listed) {
                Some(v) => prop_assert_eq!(values(&b.out, &listed), vec![v.clone()]),
                None => prop_assert!(
                    b.out.get(listed.as_str()).is_none(),
                    "{:?} is listed in Connection but forwarded",
                    listed
                ),
            }
        }
        for (name, v) in &ours {
            prop_assert_eq!(values(&b.out, name), vec![v.clone()], "{}", name);
        }
        Ok(())
    });
}

#[test]
fn upstream_headers_pass_every_other_client_field_through_unchanged() {
    check(header_case(), |case| {
        let b = case.build();
        let ours = case.ours(&b);
        let listed = connection_listed(&b.incoming);
        let mut want: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for (name, value) in &b.incoming {
            let n = name.as_str();
            if !is_identity_or_credential(n, &b.cfg)
                && !is_hop_by_hop(n)
                // `Connection: x-a` also names `x_a`, as the origin reads them alike.
                && !listed.iter().any(|l| *l == n || *l == origin_reading(n))
                && !ours.contains_key(n)
            {
                want.entry(n.to_owned())
                    .or_default()
                    .push(value.as_bytes().to_vec());
            }
        }
        for (name, v) in ours {
            want.insert(name, vec![v]);
        }
        let got: BTreeMap<String, Vec<Vec<u8>>> = b
            .out
            .keys()
            .map(|k| (k.as_str().to_owned(), values(&b.out, k.as_str())))
            .collect();
        prop_assert_eq!(got, want);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// 4. Key records (record.rs)
// ---------------------------------------------------------------------------------------------

const TEXT_PIECES: &[&str] = &[
    "acme",
    "Acme Inc",
    " ",
    "a b",
    "\r\n",
    "\n",
    "\t",
    "\0",
    "\u{7f}",
    "é",
    "\u{2028}",
    "\"",
    "\\",
    "{",
    "}",
    ",",
    ":",
    "GET /v1/*",
    "* /**",
    "/",
    "pro",
    "X-Evil: 1",
    "\u{1F600}",
];

fn json_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => hostile_text(TEXT_PIECES, 5),
        1 => "[!-~]([ -~]{0,12}[!-~])?",
        1 => any_text(24),
    ]
    .boxed()
}

fn json_number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        select(&[0u64, 1, 2, 1 << 40, (1 << 40) + 1]).prop_map(Value::from),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        json_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(json_text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn record_hash() -> KeyHash {
    ApiKey::new("kg_property").hash()
}

/// A field value: usually a plausible one, sometimes any JSON value; `None`: the field is absent.
fn field(plausible: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        6 => plausible.prop_map(Some),
        1 => json_value().prop_map(Some),
        1 => Just(None),
    ]
    .boxed()
}

fn scope_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(&["GET /v1/*", "* /reports/**", "POST:/a/b", "GET /v1/*/", "DELETE /"])
            .prop_map(str::to_owned),
        1 => hostile_text(SCOPE_PIECES, 8),
    ]
    .boxed()
}

fn quota_value() -> BoxedStrategy<Value> {
    (
        json_number(),
        select(&[
            "month",
            "day",
            "hour",
            "60s",
            "0s",
            "+5s",
            "s",
            "31622401s",
            "Day",
        ]),
        prop::option::of(select(&["key", "consumer", "Key", "team"])),
    )
        .prop_map(|(limit, period, per)| {
            let mut q = json!({ "limit": limit, "period": period });
            if let Some(per) = per {
                q["per"] = json!(per);
            }
            q
        })
        .boxed()
}

/// A JSON object shaped like a key record, with any field absent, malformed or hostile.
fn record_json() -> BoxedStrategy<Value> {
    let id = record_hash().id().to_owned();
    let text = || json_text().prop_map(Value::String).boxed();
    (
        (
            field(select(&[1u32, 1, 1, 2, 0]).prop_map(Value::from).boxed()),
            field(prop_oneof![4 => Just(Value::from(id)), 1 => "[0-9a-f]{12}".prop_map(Value::from)].boxed()),
            field(text()),
            field(text()),
            field(prop::option::of(json_text()).prop_map(|o| o.map_or(Value::Null, Value::String)).boxed()),
            field(any::<u64>().prop_map(Value::from).boxed()),
            field(prop::option::of(any::<u64>()).prop_map(|o| o.map_or(Value::Null, Value::from)).boxed()),
        ),
        (
            field(any::<bool>().prop_map(Value::Bool).boxed()),
            field(prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect())).boxed()),
            field(prop::collection::vec(scope_text(), 0..4).prop_map(|v| json!(v)).boxed()),
            field(text()),
            field(prop_oneof![3 => "[a-z0-9_-]{1,32}".prop_map(Value::from), 1 => json_text().prop_map(Value::from)].boxed()),
            field(quota_value()),
            prop::option::of((json_text(), json_value())),
        ),
    )
        .prop_map(
            |(
                (v, id, name, consumer_id, consumer_name, created_at, expires_at),
                (disabled, meta, scopes, description, tier, quota, unknown),
            )| {
                let mut m = Map::new();
                for (k, val) in [
                    ("v", v),
                    ("id", id),
                    ("name", name),
                    ("consumer_id", consumer_id),
                    ("consumer_name", consumer_name),
                    ("created_at", created_at),
                    ("expires_at", expires_at),
                    ("disabled", disabled),
                    ("meta", meta),
                    ("scopes", scopes),
                    ("description", description),
                    ("tier", tier),
                    ("quota", quota),
                ] {
                    if let Some(val) = val {
                        m.insert(k.to_owned(), val);
                    }
                }
                if let Some((k, val)) = unknown {
                    m.insert(k, val);
                }
                Value::Object(m)
            },
        )
        .boxed()
}

const RECORD_FIELDS: &[&str] = &[
    "v",
    "id",
    "name",
    "consumer_id",
    "consumer_name",
    "created_at",
    "expires_at",
    "disabled",
    "meta",
    "scopes",
    "description",
    "tier",
    "quota",
    "future_field",
];

/// A record-shaped JSON object: a valid record with perhaps one field replaced by any JSON value
/// or removed, or an object whose every field may be wrong.
fn record_object() -> BoxedStrategy<Value> {
    let changed_valid = (
        valid_record(),
        prop::option::of((select(RECORD_FIELDS), field(json_value()))),
    )
        .prop_map(|(rec, change)| {
            let mut v = serde_json::to_value(&rec).expect("a record serialises");
            if let (Some((name, value)), Some(m)) = (change, v.as_object_mut()) {
                match value {
                    Some(value) => m.insert(name.to_owned(), value),
                    None => m.remove(name),
                };
            }
            v
        });
    prop_oneof![2 => changed_valid, 1 => record_json()].boxed()
}

/// A stored value: a record-shaped object as JSON, sometimes cut short or with a character
/// inserted, sometimes any text at all.
fn stored_value() -> BoxedStrategy<String> {
    prop_oneof![
        6 => record_object().prop_map(|v| v.to_string()),
        1 => (record_object(), any::<prop::sample::Index>())
            .prop_map(|(v, i)| {
                let s = v.to_string();
                let mut cut = i.index(s.len() + 1);
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s[..cut].to_owned()
            }),
        1 => (record_object(), any::<prop::sample::Index>(), any::<char>())
            .prop_map(|(v, i, c)| {
                let mut s = v.to_string();
                let mut at = i.index(s.len() + 1);
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                s.insert(at, c);
                s
            }),
        1 => any_text(24),
    ]
    .boxed()
}

#[test]
fn record_decoder_never_panics_and_what_it_accepts_reencodes_to_itself() {
    let hash = record_hash();
    let reached = Reached::new("decoded", 5);
    let ran = check(stored_value(), |raw| {
        let Ok(rec) = KeyRecord::decode(&raw, &hash) else {
            return Ok(());
        };
        reached.hit();
        let json = rec.to_json();
        let again = KeyRecord::decode(&json, &hash);
        prop_assert_eq!(again.as_ref(), Ok(&rec), "re-encoded as {}", json);
        Ok(())
    });
    reached.at_least(ran);
}

#[test]
fn decoded_record_fields_that_become_headers_are_header_values() {
    let hash = record_hash();
    let reached = Reached::new("decoded", 5);
    let ran = check(stored_value(), |raw| {
        let Ok(rec) = KeyRecord::decode(&raw, &hash) else {
            return Ok(());
        };
        reached.hit();
        prop_assert_eq!(rec.v, 1);
        prop_assert_eq!(rec.id.as_str(), hash.id());
        let mut forwarded = vec![&rec.id, &rec.consumer_id];
        forwarded.extend(rec.consumer_name.as_ref());
        for f in forwarded {
            prop_assert!(HeaderValue::from_str(f).is_ok(), "{:?}", f);
            prop_assert!(
                f.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
                "{:?}",
                f
            );
        }
        prop_assert_eq!(rec.parsed_scopes().len(), rec.scopes.len());
        for key in rec.meta.keys() {
            if let Some(v) = rec.meta_header_value(key) {
                prop_assert!(HeaderValue::from_str(&v).is_ok(), "meta {}: {:?}", key, v);
            }
        }
        Ok(())
    });
    reached.at_least(ran);
}

/// A record that satisfies every rule of [`KeyRecord::decode`] for [`record_hash`].
fn valid_record() -> impl Strategy<Value = KeyRecord> {
    let safe = "[!-~]([ -~]{0,20}[!-~])?";
    (
        (
            "[ -~]{0,20}",
            safe,
            prop::option::of(safe),
            any::<u64>(),
            prop::option::of(any::<u64>()),
            any::<bool>(),
        ),
        (
            prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..4),
            prop::collection::vec(
                select(&["GET /v1/*", "* /reports/**", "POST /a/b", "PUT /**/x"]),
                0..3,
            ),
            prop::option::of(json_text()),
            prop::option::of("[a-z0-9_-]{1,32}"),
            prop::option::of((
                0u64..=(1 << 40),
                select(&["month", "day", "hour", "60s", "31622400s"]),
                any::<bool>(),
            )),
        ),
    )
        .prop_map(
            |(
                (name, consumer_id, consumer_name, created_at, expires_at, disabled),
                (meta, scopes, description, tier, quota),
            )| {
                let quota = quota.map(|(limit, period, consumer)| {
                    serde_json::from_value(json!({
                        "limit": limit,
                        "period": period,
                        "per": if consumer { "consumer" } else { "key" },
                    }))
                    .expect("valid quota")
                });
                KeyRecord {
                    v: 1,
                    id: record_hash().id().to_owned(),
                    name,
                    consumer_id,
                    consumer_name,
                    created_at,
                    expires_at,
                    disabled,
                    meta: meta.into_iter().collect(),
                    scopes: scopes.into_iter().map(str::to_owned).collect(),
                    description,
                    tier,
                    quota,
                }
            },
        )
}

#[test]
fn valid_records_decode_to_exactly_what_was_encoded() {
    let hash = record_hash();
    check(valid_record(), |rec| {
        let json = rec.to_json();
        prop_assert!(json.len() <= MAX_RECORD_LEN);
        prop_assert_eq!(KeyRecord::decode(&json, &hash), Ok(rec), "{}", json);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// 5. Scopes (scope.rs)
// ---------------------------------------------------------------------------------------------

const SCOPE_PIECES: &[&str] = &[
    "GET", "POST", "*", "**", "get", " ", ":", "/", "//", "a", "ab", "b", ".", "..", "%61", "?",
    "#", ",", "\"", "\\", "é", "\t", "x*",
];

/// The documented matching, by plain backtracking: `*` is one segment, `**` any number.
fn glob_reference(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|k| glob_reference(rest, &path[k..])),
        Some((&"*", rest)) => !path.is_empty() && glob_reference(rest, &path[1..]),
        Some((lit, rest)) => path.first() == Some(lit) && glob_reference(rest, &path[1..]),
    }
}

#[test]
fn scope_parser_and_matcher_never_panic_and_parsed_scopes_reparse_from_their_own_forms() {
    let shaped = (
        select(&["GET", "POST", "*", "DELETE", "get", "", " GET", "G*"]),
        select(&[" ", ":", "  ", " : ", " ", ":", "\t"]),
        prop::collection::vec(
            prop_oneof![
                4 => select(&["a", "ab", "*", "**", "%61", "a.b", ""]),
                1 => select(&[".", "..", "x*", "é", "?", ",", " "]),
            ],
            0..5,
        ),
        select(&["", "/", " "]),
    )
        .prop_map(|(m, sep, segs, end)| format!("{m}{sep}/{}{end}", segs.join("/")));
    let strategy = (
        prop_oneof![
            3 => shaped,
            2 => hostile_text(SCOPE_PIECES, 10),
            1 => any_text(24),
        ],
        hostile_text(SCOPE_PIECES, 8),
        select(&["GET", "POST", "get", ""]),
    );
    let reached = Reached::new("parsed", 5);
    let ran = check(strategy, |(text, path, method)| {
        let Ok(scope) = Scope::parse(&text) else {
            return Ok(());
        };
        reached.hit();
        // A trailing `/` on the path changes nothing ("/v1/items/" is "/v1/items").
        let slash = format!("{path}/");
        prop_assert_eq!(scope.allows(method, &path), scope.allows(method, &slash));
        prop_assert_eq!(Scope::parse(&scope.canonical()), Ok(scope.clone()));
        prop_assert_eq!(Scope::parse(&scope.token()), Ok(scope.clone()));
        Ok(())
    });
    reached.at_least(ran);
}

#[test]
fn scope_matches_exactly_the_documented_segment_glob() {
    let segment = || select(&["a", "ab", "b", "A", "%61", "*", "**"]);
    let strategy = (
        select(&["*", "GET", "POST"]),
        prop::collection::vec(segment(), 0..6),
        any::<bool>(),
        select(&["GET", "POST", "DELETE"]),
        prop::collection::vec(select(&["a", "ab", "b", "A", "%61", "*", ""]), 0..8),
        any::<bool>(),
    );
    check(
        strategy,
        |(scope_method, pattern, slash, method, path, trailing)| {
            let text = format!(
                "{scope_method} /{}{}",
                pattern.join("/"),
                if slash { "/" } else { "" }
            );
            let scope = Scope::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{text:?} refused: {e:?}")))?;
            let path_text = format!("/{}{}", path.join("/"), if trailing { "/" } else { "" });
            let segments: Vec<&str> = path.iter().copied().filter(|s| !s.is_empty()).collect();
            let want = (scope_method == "*" || scope_method == method)
                && glob_reference(&pattern, &segments);
            prop_assert_eq!(
                scope.allows(method, &path_text),
                want,
                "{} on {}",
                text,
                path_text
            );
            Ok(())
        },
    );
}

#[test]
fn literal_scope_never_matches_a_path_outside_its_prefix() {
    let segs = || prop::collection::vec(select(&["a", "ab", "b", "ba", "%61", "A"]), 1..4);
    check(
        (
            segs(),
            prop::collection::vec(select(&["a", "ab", "b", "ba", "%61", "A"]), 0..6),
        ),
        |(prefix, path)| {
            let exact = Scope::parse(&format!("GET /{}", prefix.join("/"))).expect("literal");
            let under = Scope::parse(&format!("GET /{}/**", prefix.join("/"))).expect("prefix");
            let path_text = format!("/{}", path.join("/"));
            prop_assert_eq!(exact.allows("GET", &path_text), path == prefix);
            prop_assert_eq!(under.allows("GET", &path_text), path.starts_with(&prefix));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Key format (keyformat.rs)
// ---------------------------------------------------------------------------------------------

fn random_part() -> impl Strategy<Value = String> {
    prop::collection::vec(select(&BASE62[..]), RANDOM_LEN)
        .prop_map(|v| String::from_utf8(v).expect("base62 is ASCII"))
}

/// The published shape, `kg_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}`, checked by hand.
fn has_published_shape(k: &str) -> bool {
    let b = k.as_bytes();
    b.len() == KEY_LEN
        && k.starts_with("kg_")
        && b[3..46].iter().all(u8::is_ascii_alphanumeric)
        && b[46] == b'_'
        && b[47..].iter().all(u8::is_ascii_alphanumeric)
}

#[test]
fn generated_keys_always_validate_and_are_accepted_bearer_tokens() {
    check(random_part(), |random| {
        let key = keyformat::assemble(&random);
        prop_assert!(has_published_shape(&key), "{}", key);
        prop_assert_eq!(keyformat::classify(&key), KeyShape::Valid);
        let bearer =
            parse_bearer(format!("Bearer {key}").as_bytes()).map(|k| k.expose().to_owned());
        prop_assert_eq!(bearer, Ok(key.clone()));
        let query = format!("q=1&k={key}");
        prop_assert!(query_carries_key(&query));
        Ok(())
    });
}

#[test]
fn a_changed_or_swapped_character_fails_the_key_checksum() {
    let strategy = (
        random_part(),
        PREFIX.len()..KEY_LEN - 1,
        select(&BASE62[..]),
        any::<bool>(),
    );
    check(strategy, |(random, at, replacement, swap)| {
        let key = keyformat::assemble(&random);
        let mut b = key.clone().into_bytes();
        if swap {
            b.swap(at, at + 1);
        } else {
            b[at] = replacement;
        }
        let changed = String::from_utf8(b).expect("ASCII");
        if changed != key {
            prop_assert_eq!(
                keyformat::classify(&changed),
                KeyShape::BadChecksum,
                "{}",
                changed
            );
        }
        Ok(())
    });
}

#[test]
fn key_classifier_never_panics_and_only_generated_keys_are_valid() {
    let key_like = prop_oneof![
        2 => hostile_text(&["kg_", "_", "a", "Z", "9", "é", "\u{1F600}", "-", " "], 60),
        2 => (random_part(), "[0-9A-Za-z_é-]{0,8}")
            .prop_map(|(r, tail)| format!("{PREFIX}{r}_{tail}")),
        1 => random_part().prop_map(|r| keyformat::assemble(&r)),
        1 => any_text(24),
    ];
    let reached = Reached::new("were valid keys", 5);
    let ran = check(key_like, |k| {
        let shape = keyformat::classify(&k);
        if !k.starts_with(PREFIX) {
            prop_assert_eq!(shape, KeyShape::Foreign);
        } else if shape == KeyShape::Valid {
            reached.hit();
            prop_assert!(has_published_shape(&k));
            prop_assert_eq!(keyformat::assemble(&k[3..46]), k);
        } else {
            prop_assert_eq!(shape, KeyShape::BadChecksum);
        }
        Ok(())
    });
    reached.at_least(ran);
}

// ---------------------------------------------------------------------------------------------
// 7. Request integrity (integrity.rs, through pipeline::authorize)
// ---------------------------------------------------------------------------------------------

/// Every record in it is the one for [`PROP_KEY`]; reads are counted.
struct OneKey {
    json: String,
    reads: Cell<u32>,
}

const PROP_KEY: &str = "ab_property_key";

impl KeyStore for OneKey {
    async fn get(&self, _: &KeyHash) -> Result<Option<String>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        Ok(Some(self.json.clone()))
    }
}

fn one_key(scopes: &[&str]) -> OneKey {
    let record = KeyRecord {
        v: 1,
        id: ApiKey::new(PROP_KEY).hash().id().to_owned(),
        name: "p".into(),
        consumer_id: "acme".into(),
        consumer_name: None,
        created_at: 0,
        expires_at: None,
        disabled: false,
        meta: Default::default(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        description: None,
        tier: None,
        quota: None,
    };
    OneKey {
        json: record.to_json(),
        reads: Cell::new(0),
    }
}

fn run_authorize(
    cfg: &Config,
    store: &OneKey,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Verdict {
    let head = RequestHead {
        method,
        path,
        query,
        headers,
        client: ClientContext {
            client_ip: None,
            proto: "https",
            request_id: "rid",
        },
    };
    futures::executor::block_on(authorize(cfg, &head, store, 1_800_000_000))
        .expect("the store never fails here")
}

/// Methods as a client may send them: real ones, extension ones, other letter cases, tokens.
fn any_method() -> BoxedStrategy<String> {
    const METHODS: &[&str] = &[
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
        "TRACE",
        "TRACK",
        "CONNECT",
        "PROPFIND",
        "PROPPATCH",
        "MKCOL",
        "COPY",
        "MOVE",
        "LOCK",
        "UNLOCK",
        "REPORT",
        "SEARCH",
        "PURGE",
        "QUERY",
        "DEBUG",
        "M-SEARCH",
    ];
    prop_oneof![
        5 => select(FORWARDED_METHODS).prop_map(str::to_owned),
        4 => select(METHODS).prop_map(str::to_owned),
        2 => (select(METHODS), any::<u32>()).prop_map(|(m, lower)| {
            m.chars()
                .enumerate()
                .map(|(i, c)| if lower >> (i % 32) & 1 == 1 { c.to_ascii_lowercase() } else { c })
                .collect()
        }),
        1 => "[A-Za-z-]{1,10}",
    ]
    .boxed()
}

#[derive(Debug, Clone)]
struct MethodCase {
    method: String,
    /// Override headers (name from the table, in some spelling) and `_method`-style parameters.
    override_headers: Vec<(String, String)>,
    override_params: Vec<(String, String)>,
    tunnelling: bool,
    scopes: Vec<&'static str>,
}

fn method_case() -> impl Strategy<Value = MethodCase> {
    let header = (
        select(METHOD_OVERRIDE_HEADERS),
        select(&["-", "_", "."]),
        any::<bool>(),
        any_method(),
    )
        .prop_map(|(h, sep, upper, value)| {
            let name = h.name.replace('-', sep);
            let name = if upper {
                name.to_ascii_uppercase()
            } else {
                name
            };
            (name, value)
        });
    let param = (
        select(METHOD_OVERRIDE_PARAMS),
        select(&["", "%5F", "."]),
        any::<bool>(),
        any_method(),
    )
        .prop_map(|(p, lead, upper, value)| {
            let name = match p.name.strip_prefix('_') {
                Some(rest) if !lead.is_empty() => format!("{lead}{rest}"),
                _ => p.name.to_owned(),
            };
            let name = if upper {
                name.to_ascii_uppercase()
            } else {
                name
            };
            (name, value)
        });
    let scopes = prop::collection::vec(
        select(&[
            "GET /v1/*",
            "POST /v1/*",
            "DELETE /v1/*",
            "PUT /**",
            "* /v1/items",
            "PATCH /v2/*",
            "* /**",
        ]),
        0..3,
    );
    // Most cases carry no override, so that enough of them are accepted to check.
    let headers = prop_oneof![
        3 => Just(Vec::new()),
        2 => prop::collection::vec(header, 1..3),
    ];
    let params = prop_oneof![
        3 => Just(Vec::new()),
        1 => prop::collection::vec(param, 1..2),
    ];
    (any_method(), headers, params, any::<bool>(), scopes).prop_map(
        |(method, override_headers, override_params, tunnelling, scopes)| MethodCase {
            method,
            override_headers,
            override_params,
            tunnelling,
            scopes,
        },
    )
}

/// The documented scope rule, restated: `METHOD /pattern` with `*` one segment, `**` any.
fn scope_admits(scopes: &[&str], method: &str, path: &str) -> bool {
    scopes.is_empty()
        || scopes.iter().any(|s| {
            let (m, pattern) = s.split_once(' ').expect("scope");
            let pat: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
            let segs: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            (m == "*" || m == method) && glob_reference(&pat, &segs)
        })
}

#[test]
fn the_forwarded_method_is_the_received_one_and_every_method_the_origin_may_run_is_in_scope() {
    let reached = Reached::new("were accepted", 10);
    let ran = check(method_case(), |case| {
        let cfg = Config::from_lookup(|k| match k {
            "ORIGIN_URL" => Some("https://api.example".into()),
            "SHARED_SECRET" => Some("origin-secret-0123456789".into()),
            "METHOD_OVERRIDE" => Some(case.tunnelling.to_string()),
            _ => None,
        })
        .expect("config");
        let store = one_key(&case.scopes);
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {PROP_KEY}")).expect("value"),
        );
        for (n, v) in &case.override_headers {
            headers.append(
                HeaderName::from_bytes(n.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        let query: String = case
            .override_params
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let query = (!query.is_empty()).then_some(query.as_str());
        let path = "/v1/items";
        let verdict = run_authorize(&cfg, &store, &case.method, path, query, &headers);
        // Every method the origin could be made to run: the sent one, and each override's
        // value as frameworks read it (trimmed, upper-cased).
        let tunnelled: Vec<String> = case
            .override_headers
            .iter()
            .chain(&case.override_params)
            .map(|(_, v)| v.trim().to_ascii_uppercase())
            .collect();
        if let Verdict::Accept(a) = &verdict {
            reached.hit();
            // keygate forwards `head.method` unchanged (the edge sends exactly it), so what
            // the origin receives is what was checked, and it is a forwarded method.
            prop_assert!(
                FORWARDED_METHODS.contains(&case.method.as_str()),
                "{} accepted",
                case.method
            );
            prop_assert!(
                scope_admits(&case.scopes, &case.method, path),
                "{} outside {:?}",
                case.method,
                case.scopes
            );
            if !tunnelled.is_empty() {
                prop_assert!(
                    case.tunnelling,
                    "an override was accepted with tunnelling off"
                );
                for m in &tunnelled {
                    prop_assert!(FORWARDED_METHODS.contains(&m.as_str()), "tunnelled {}", m);
                    prop_assert!(
                        scope_admits(&case.scopes, m, path),
                        "tunnelled {} outside {:?}",
                        m,
                        case.scopes
                    );
                }
            }
            for (name, _) in &case.override_headers {
                prop_assert_eq!(
                    a.headers.contains_key(name.to_ascii_lowercase().as_str()),
                    case.tunnelling,
                    "{}",
                    name
                );
            }
        } else if !FORWARDED_METHODS.contains(&case.method.as_str()) {
            prop_assert!(
                matches!(verdict, Verdict::Deny(Denial::MethodNotAllowed)),
                "{:?}",
                verdict
            );
            prop_assert_eq!(store.reads.get(), 0);
        }
        Ok(())
    });
    reached.at_least(ran);
}

/// A key hidden in a query: in a name or a value, after other text, with some of its characters
/// percent-encoded once, twice or three times, and its prefix in any letter case.
fn query_with_key() -> impl Strategy<Value = String> {
    (
        random_part(),
        any::<bool>(),
        any::<u64>(),
        0u8..4,
        select(&["", "a=1&", "x=1,", "q=prefix", "k="]),
        select(&["", "&b=2", ",tail", "=v"]),
        any::<bool>(),
    )
        .prop_map(
            |(random, checksum, encode_mask, rounds, before, after, upper)| {
                let key = keyformat::assemble(&random);
                let key = if checksum { key } else { key[..46].to_owned() };
                let key = if upper {
                    key.replacen("kg_", "KG_", 1)
                } else {
                    key
                };
                let mut encoded = String::new();
                for (i, c) in key.chars().enumerate() {
                    if encode_mask >> (i % 64) & 1 == 1 && rounds > 0 {
                        let mut piece = format!("%{:02X}", c as u32);
                        for _ in 1..rounds {
                            piece = piece.replace('%', "%25");
                        }
                        encoded.push_str(&piece);
                    } else {
                        encoded.push(c);
                    }
                }
                format!("{before}{encoded}{after}")
            },
        )
}

#[test]
fn no_query_holding_a_key_is_forwarded_and_the_store_is_never_read() {
    let cfg = Config::from_lookup(|k| match k {
        "ORIGIN_URL" => Some("https://api.example".into()),
        "SHARED_SECRET" => Some("origin-secret-0123456789".into()),
        "ALLOW_ANONYMOUS" => Some("true".into()),
        _ => None,
    })
    .expect("config");
    check(query_with_key(), |query| {
        let store = one_key(&[]);
        let verdict = run_authorize(&cfg, &store, "GET", "/v1", Some(&query), &HeaderMap::new());
        prop_assert!(
            matches!(
                verdict,
                Verdict::Deny(Denial::Malformed(Malformed::KeyInQuery))
            ),
            "{}: {:?}",
            query,
            verdict
        );
        prop_assert_eq!(store.reads.get(), 0);
        Ok(())
    });
}
