//! Paths (path.rs): joining `ORIGIN_URL` and the request path never changes the scheme, host or
//! port, never leaves the base path, normalises, and refuses what origins read differently.

use crate::strategies::{any_text, hostile_text, pieces};
use crate::{check_reaching, Reached};
use keygate_core::config::Origin;
use keygate_core::path::{join, split_request_url, UpstreamTarget};
use keygate_core::scope::Scope;
use proptest::prelude::*;
use proptest::sample::select;

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

/// A request target: mostly `/`-rooted hostile fragments, sometimes any string at all.
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
    check_reaching(
        "were joined",
        20,
        strategy,
        |((origin, prefix, base), path, query), reached| {
            if let Ok(t) = join(&origin, &path, query.as_deref()) {
                reached.hit();
                assert_on_origin(&t, &origin, prefix, base, query.as_deref())?;
            }
            Ok(())
        },
    );
}

/// [`check_reaching`] on an origin of [`ORIGINS`] and a [`request_path`].
fn check_origin_and_path(
    what: &'static str,
    min_percent: u64,
    test: impl Fn(&Origin, &str, &Reached) -> Result<(), TestCaseError>,
) {
    let strategy = (origin_case(), request_path());
    check_reaching(
        what,
        min_percent,
        strategy,
        |((origin, ..), path), reached| test(&origin, &path, reached),
    );
}

#[test]
fn joined_path_is_normalised_and_joining_it_again_changes_nothing() {
    check_origin_and_path("were joined", 20, |origin, path, reached| {
        let Ok(t) = join(origin, path, None) else {
            return Ok(());
        };
        reached.hit();
        prop_assert!(t.path.starts_with('/'));
        let inner = t.path.strip_suffix('/').unwrap_or(&t.path);
        for seg in inner.split('/').skip(1) {
            prop_assert!(!seg.is_empty(), "empty segment in {:?}", t.path);
            prop_assert!(!is_single_dot(seg) && !is_double_dot(seg), "{:?}", t.path);
        }
        let again = join(origin, &t.path, None).map(|u| u.path);
        prop_assert_eq!(again, Ok(t.path.clone()));
        Ok(())
    });
}

#[test]
fn join_refuses_encoded_separators_backslashes_query_delimiters_and_raw_bytes() {
    check_origin_and_path("were hostile", 20, |origin, path, reached| {
        let lower = path.to_ascii_lowercase();
        let hostile = ["%2f", "%5c", "%00"].iter().any(|e| lower.contains(e))
            || path
                .bytes()
                .any(|b| !b.is_ascii_graphic() || matches!(b, b'\\' | b'?' | b'#'));
        if hostile {
            reached.hit();
            prop_assert!(join(origin, path, None).is_err(), "{:?}", path);
        }
        Ok(())
    });
}

#[test]
fn split_request_url_then_join_stays_on_origin() {
    let raw = prop_oneof![
        3 => hostile_text(PATH_PIECES, 14).prop_map(|s| format!("https://gw.example{s}")),
        1 => any_text(24),
    ];
    check_reaching(
        "were split and joined",
        20,
        (origin_case(), raw),
        |((origin, prefix, base), raw), reached| {
            let Some(u) = split_request_url(&raw) else {
                return Ok(());
            };
            prop_assert!(!u.path.contains(['?', '#']), "{:?}", u);
            if let Ok(t) = join(&origin, u.path, u.query) {
                reached.hit();
                assert_on_origin(&t, &origin, prefix, base, u.query)?;
            }
            Ok(())
        },
    );
}

#[test]
fn a_scope_that_admits_the_joined_path_confines_the_url_the_origin_receives() {
    let scopes = select(&["* /public/**", "GET /public/*", "GET /v1/a/**"]);
    let path = prop_oneof![
        3 => pieces(PATH_ACCEPTED_PIECES, 10),
        1 => hostile_text(PATH_PIECES, 10),
    ]
    .prop_map(|p| format!("/public/{p}"));
    check_reaching(
        "were joined and admitted",
        10,
        (origin_case(), scopes, path),
        |((origin, prefix, base), scope, path), reached| {
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
}
