//! Request integrity (integrity.rs, through `authorize`): the origin runs only methods that are
//! forwarded and in scope, overrides included, and no query holding a key is forwarded.

use crate::common::{bearer, config, get, scoped, FakeStore};
use crate::strategies::{glob_reference, random_part};
use crate::{check, check_reaching};
use http::{HeaderMap, HeaderName, HeaderValue};
use keygate_core::credential::Malformed;
use keygate_core::integrity::{FORWARDED_METHODS, METHOD_OVERRIDE_HEADERS, METHOD_OVERRIDE_PARAMS};
use keygate_core::keyformat;
use keygate_core::{authorize, Config, Denial, RequestHead, Verdict};
use proptest::prelude::*;
use proptest::sample::select;

const PROP_KEY: &str = "ab_property_key";

/// A store holding [`PROP_KEY`], limited to `scopes`.
fn one_key(scopes: &[&str]) -> FakeStore {
    FakeStore::with(&[(PROP_KEY, scoped(PROP_KEY, scopes))])
}

fn run_authorize(
    cfg: &Config,
    store: &FakeStore,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Verdict {
    let head = RequestHead {
        method,
        query,
        ..get(path, headers)
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

/// An override: a name of `names`, upper-cased half of the time, with any method as its value.
fn override_pair(names: impl Strategy<Value = String>) -> impl Strategy<Value = (String, String)> {
    (names, any::<bool>(), any_method()).prop_map(|(name, upper, value)| {
        let name = if upper {
            name.to_ascii_uppercase()
        } else {
            name
        };
        (name, value)
    })
}

fn method_case() -> impl Strategy<Value = MethodCase> {
    let header = (select(METHOD_OVERRIDE_HEADERS), select(&["-", "_", "."]))
        .prop_map(|(h, sep)| h.name.replace('-', sep));
    let param =
        (select(METHOD_OVERRIDE_PARAMS), select(&["", "%5F", "."])).prop_map(|(p, lead)| {
            match p.name.strip_prefix('_') {
                Some(rest) if !lead.is_empty() => format!("{lead}{rest}"),
                _ => p.name.to_owned(),
            }
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
        2 => prop::collection::vec(override_pair(header), 1..3),
    ];
    let params = prop_oneof![
        3 => Just(Vec::new()),
        1 => prop::collection::vec(override_pair(param), 1..2),
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
    check_reaching("were accepted", 10, method_case(), |case, reached| {
        let cfg = config(&[("METHOD_OVERRIDE", &case.tunnelling.to_string())]);
        let store = one_key(&case.scopes);
        let mut headers = bearer(PROP_KEY);
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
    let cfg = config(&[("ALLOW_ANONYMOUS", "true")]);
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
