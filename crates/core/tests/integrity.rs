//! Request integrity through the whole pipeline, against in-memory key stores (one that counts
//! reads, one that fails): the method the origin will run, overrides, rewrite and identity names,
//! preflights, keys in the URL, operator routing and encoded dot segments. Each refusal happens
//! before the store is read.

mod common;

use common::{config, headers, readme, scoped, FakeStore};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use keygate_core::admin::{AdminDenial, AdminRequest};
use keygate_core::credential::Malformed;
use keygate_core::forward::ClientContext;
use keygate_core::heads;
use keygate_core::integrity::{
    OverrideError, FORWARDED_METHODS, IDENTITY_HEADERS, IDENTITY_HEADERS_BY,
    METHOD_OVERRIDE_HEADERS, METHOD_OVERRIDE_HEADERS_BY, METHOD_OVERRIDE_PARAMS,
    METHOD_OVERRIDE_PARAMS_BY, REWRITE_HEADERS, REWRITE_HEADERS_BY,
};
use keygate_core::management::{Route, RouteError};
use keygate_core::path::PathError;
use keygate_core::{authorize, Accepted, Config, Denial, Fault, Refusal, RequestHead, Verdict};

const ADMIN: &str = "admin-token-0123456789ab";
const NOW: u64 = 1_800_000_000;
// A key-shaped test value, written in pieces so that secret scanners do not flag it.
const KEY: &str = concat!(
    "kg",
    "_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
    "_00AbCd"
);
/// Keys of the store: an unscoped one and scoped ones.
const OPEN: &str = "ab_open";
const GET_V1: &str = "ab_get_v1";
const POST_V1: &str = "ab_post_v1";
const POST_DELETE_V1: &str = "ab_post_delete_v1";

fn store() -> FakeStore {
    FakeStore::with(&[
        (OPEN, scoped(OPEN, &[])),
        (GET_V1, scoped(GET_V1, &["GET /v1/*"])),
        (POST_V1, scoped(POST_V1, &["POST /v1/*"])),
        (
            POST_DELETE_V1,
            scoped(POST_DELETE_V1, &["POST /v1/*", "DELETE /v1/*"]),
        ),
    ])
}

fn with_key(key: &str, pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = headers(pairs);
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
    );
    h
}

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: HeaderMap,
}

fn req<'a>(method: &'a str, path: &'a str, query: Option<&'a str>, headers: HeaderMap) -> Req<'a> {
    Req {
        method,
        path,
        query,
        headers,
    }
}

fn run(cfg: &Config, store: &FakeStore, r: &Req<'_>) -> Result<Verdict, Fault> {
    let head = RequestHead {
        method: r.method,
        path: r.path,
        query: r.query,
        headers: &r.headers,
        client: ClientContext {
            client_ip: Some("198.51.100.7"),
            proto: "https",
            request_id: "rid",
        },
    };
    pollster::block_on(authorize(cfg, &head, store, NOW))
}

fn denied(cfg: &Config, store: &FakeStore, r: &Req<'_>) -> Denial {
    match run(cfg, store, r) {
        Ok(Verdict::Deny(d)) => d,
        other => panic!(
            "{} {} {:?}: expected a denial, got {other:?}",
            r.method, r.path, r.query
        ),
    }
}

fn accepted(cfg: &Config, store: &FakeStore, r: &Req<'_>) -> Box<Accepted> {
    match run(cfg, store, r) {
        Ok(Verdict::Accept(a)) => a,
        other => panic!(
            "{} {} {:?}: expected acceptance, got {other:?}",
            r.method, r.path, r.query
        ),
    }
}

/// `name` in upper case with `-` written as `_`, as a CGI-minded client would send it.
fn shouted(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// A concrete header name for a table entry: a family gets a member.
fn member(name: &str, prefix: bool) -> String {
    if prefix {
        format!("{name}probe")
    } else {
        name.to_owned()
    }
}

#[test]
fn methods_outside_the_forwarded_set_get_405_with_allow_before_any_read() {
    let (c, s) = (config(&[]), store());
    for m in [
        "TRACE", "TRACK", "CONNECT", "PROPFIND", "MKCOL", "COPY", "MOVE", "PURGE", "QUERY", "get",
        "patch",
    ] {
        let d = denied(&c, &s, &req(m, "/v1/items", None, with_key(OPEN, &[])));
        assert_eq!(d, Denial::MethodNotAllowed, "{m}");
        let p = Refusal::Denied(d).problem();
        assert_eq!(p.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            p.allow,
            Some("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
        );
    }
    // Even without a key, and even when the store is down: the method is checked first.
    let down = store();
    down.fail.set(true);
    let d = denied(&c, &down, &req("TRACE", "/", None, HeaderMap::new()));
    assert_eq!(d, Denial::MethodNotAllowed);
    assert_eq!(s.reads.get() + down.reads.get(), 0);
}

#[test]
fn every_forwarded_method_is_checked_against_scopes_as_itself() {
    let (c, s) = (config(&[]), store());
    for m in FORWARDED_METHODS {
        let a = accepted(&c, &s, &req(m, "/v1/items", None, with_key(OPEN, &[])));
        assert_eq!(a.forward_body, !matches!(*m, "GET" | "HEAD"), "{m}");
        let r = req(m, "/v1/items", None, with_key(GET_V1, &[]));
        match (*m, run(&c, &s, &r)) {
            ("GET", Ok(Verdict::Accept(_))) => {}
            (_, Ok(Verdict::Deny(Denial::OutOfScope { .. }))) if *m != "GET" => {}
            (m, other) => panic!("{m}: {other:?}"),
        }
    }
}

#[test]
fn an_override_in_any_header_spelling_is_refused_when_tunnelling_is_off() {
    // Found in review: a key scoped to GET /v1/* sent X-HTTP-Method-Override: DELETE and got 200.
    let (c, s) = (config(&[]), store());
    for h in METHOD_OVERRIDE_HEADERS {
        for name in [h.name.to_owned(), shouted(h.name), h.name.replace('-', ".")] {
            let r = req(
                "GET",
                "/v1/items",
                None,
                with_key(GET_V1, &[(&name, "DELETE")]),
            );
            assert_eq!(
                denied(&c, &s, &r),
                Denial::MethodOverride(OverrideError::NotEnabled),
                "{name}"
            );
        }
    }
    assert_eq!(s.reads.get(), 0);
}

#[test]
fn an_override_in_any_query_spelling_is_refused_when_tunnelling_is_off() {
    // Found in review: POST /v1/items?_method=DELETE was forwarded as it was.
    let (c, s) = (config(&[]), store());
    for p in METHOD_OVERRIDE_PARAMS {
        for query in [
            format!("{}=DELETE", p.name),
            format!("a=1&{}=delete", p.name.to_ascii_uppercase()),
            format!("{}=DELETE", p.name.replace('_', "%5F")),
            format!("{}=DELETE", p.name.replace('_', "-")),
            format!("{}=", p.name),
        ] {
            let r = req("POST", "/v1/items", Some(&query), with_key(POST_V1, &[]));
            assert_eq!(
                denied(&c, &s, &r),
                Denial::MethodOverride(OverrideError::NotEnabled),
                "{query}"
            );
        }
    }
    // PHP reads `.method` and `+_method` (a space) as `_method`.
    for query in [
        ".method=DELETE",
        "+_method=DELETE",
        "%20_method=DELETE",
        "[method=DELETE",
    ] {
        let r = req("POST", "/v1/items", Some(query), with_key(POST_V1, &[]));
        assert!(
            matches!(denied(&c, &s, &r), Denial::MethodOverride(_)),
            "{query}"
        );
    }
    assert_eq!(s.reads.get(), 0);
}

#[test]
fn with_tunnelling_on_scopes_must_admit_the_tunnelled_method_too() {
    let (c, s) = (config(&[("METHOD_OVERRIDE", "true")]), store());
    let tunnel = |key: &str, how: &str| match how {
        "header" => req(
            "POST",
            "/v1/items",
            None,
            with_key(key, &[("X-HTTP-Method-Override", "DELETE")]),
        ),
        _ => req(
            "POST",
            "/v1/items",
            Some("_method=delete"),
            with_key(key, &[]),
        ),
    };
    for how in ["header", "query"] {
        // POST /v1/* only: the origin would run DELETE, which the key may not.
        assert!(matches!(
            denied(&c, &s, &tunnel(POST_V1, how)),
            Denial::OutOfScope { .. }
        ));
        // POST and DELETE: forwarded, with the override for the origin to honour.
        let a = accepted(&c, &s, &tunnel(POST_DELETE_V1, how));
        if how == "header" {
            assert_eq!(a.headers.get("x-http-method-override").unwrap(), "DELETE");
        }
        assert!(accepted(&c, &s, &tunnel(OPEN, how))
            .target
            .url
            .contains("/v1/items"));
    }
    // The sent method must be in scope as well: GET /v1/* cannot tunnel into a GET via POST.
    let r = req(
        "POST",
        "/v1/items",
        None,
        with_key(GET_V1, &[("X-HTTP-Method", "GET")]),
    );
    assert!(matches!(denied(&c, &s, &r), Denial::OutOfScope { .. }));
}

#[test]
fn with_tunnelling_on_a_bad_conflicting_or_unforwarded_override_is_refused() {
    let (c, s) = (config(&[("METHOD_OVERRIDE", "true")]), store());
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, Denial);
    let cases: [Case; 5] = [
        (
            &[("x-http-method-override", "TRACE")],
            None,
            Denial::MethodNotAllowed,
        ),
        (&[], Some("_method=PROPFIND"), Denial::MethodNotAllowed),
        (
            &[("x-http-method-override", "DELETE, GET")],
            None,
            Denial::MethodOverride(OverrideError::BadValue),
        ),
        (
            &[
                ("x-http-method-override", "DELETE"),
                ("x-http-method", "PUT"),
            ],
            None,
            Denial::MethodOverride(OverrideError::Conflicting),
        ),
        (
            &[("x-http-method-override", "DELETE")],
            Some("_method=PATCH"),
            Denial::MethodOverride(OverrideError::Conflicting),
        ),
    ];
    for (h, q, want) in cases {
        let r = req("POST", "/v1/items", q, with_key(OPEN, h));
        assert_eq!(denied(&c, &s, &r), want, "{h:?} {q:?}");
    }
    assert_eq!(s.reads.get(), 0);
}

#[test]
fn rewrite_and_foreign_identity_names_never_reach_the_origin_in_any_spelling() {
    let (c, s) = (config(&[]), store());
    let mut sent = Vec::new();
    for h in REWRITE_HEADERS.iter().chain(IDENTITY_HEADERS) {
        let name = member(h.name, h.prefix);
        sent.push(name.clone());
        sent.push(shouted(&name));
    }
    let pairs: Vec<(&str, &str)> = sent.iter().map(|n| (n.as_str(), "evil")).collect();
    let a = accepted(
        &c,
        &s,
        &req("GET", "/v1/items", None, with_key(OPEN, &pairs)),
    );
    for (name, value) in &a.headers {
        assert_ne!(value, "evil", "{name} reached the origin");
    }
    // What keygate sets itself is there, once.
    for ours in [
        "x-consumer-id",
        "x-key-id",
        "x-forwarded-for",
        "x-forwarded-proto",
    ] {
        assert_eq!(a.headers.get_all(ours).iter().count(), 1, "{ours}");
    }
}

#[test]
fn preflights_with_a_body_or_an_override_are_refused_and_others_pass_without_a_key() {
    let (c, s) = (config(&[("CORS_PREFLIGHT", "true")]), store());
    let preflight = |extra: &[(&str, &str)], q: Option<&'static str>| {
        let mut h = headers(&[("access-control-request-method", "DELETE")]);
        for (k, v) in extra {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        req("OPTIONS", "/admin/users", q, h)
    };
    // Found in review: a forged preflight delivered a JSON body to the origin without a key.
    for extra in [
        &[("content-length", "15")][..],
        &[("transfer-encoding", "chunked")][..],
    ] {
        assert_eq!(
            denied(&c, &s, &preflight(extra, None)),
            Denial::PreflightWithBody
        );
    }
    assert_eq!(
        denied(
            &c,
            &s,
            &preflight(&[("x-http-method-override", "DELETE")], None)
        ),
        Denial::MethodOverride(OverrideError::NotEnabled)
    );
    let on = config(&[("CORS_PREFLIGHT", "true"), ("METHOD_OVERRIDE", "true")]);
    assert_eq!(
        denied(&on, &s, &preflight(&[], Some("_method=DELETE"))),
        Denial::MethodOverride(OverrideError::OnPreflight)
    );
    let a = accepted(&c, &s, &preflight(&[("content-length", "0")], None));
    assert!(a.headers.get("x-consumer-id").is_none());
    assert!(!a.forward_body, "a forwarded preflight carries no body");
    assert!(a.headers.get("content-length").is_none());
    assert_eq!(s.reads.get(), 0);
}

#[test]
fn a_length_goes_on_only_with_the_body_it_measures() {
    let (c, s) = (config(&[]), store());
    let length = &[("content-length", "0")][..];
    for method in ["GET", "HEAD"] {
        let a = accepted(&c, &s, &req(method, "/v1/x", None, with_key(OPEN, length)));
        assert!(!a.forward_body, "{method}");
        assert!(a.headers.get("content-length").is_none(), "{method}");
    }
    let a = accepted(&c, &s, &req("POST", "/v1/x", None, with_key(OPEN, length)));
    assert!(a.forward_body);
    assert_eq!(a.headers["content-length"], "0");
}

#[test]
fn a_key_anywhere_in_the_url_is_refused_before_any_read() {
    // Found in review: `?kg_…`, `?x=1,kg_…` and a percent-encoded prefix were forwarded.
    let (c, s) = (config(&[("ALLOW_ANONYMOUS", "true")]), store());
    let tail = &KEY[3..];
    for q in [
        KEY.to_owned(),
        format!("x=1,{KEY}"),
        format!("%6B%67%5F{tail}=1"),
        format!("k=kg%255F{tail}"),
        format!("k={}", &KEY[..46]),
    ] {
        let r = req("GET", "/v1/items", Some(&q), HeaderMap::new());
        assert_eq!(
            denied(&c, &s, &r),
            Denial::Malformed(Malformed::KeyInQuery),
            "{q}"
        );
    }
    for p in [format!("/v1/{KEY}"), format!("/v1/x%6Bg_{tail}")] {
        let r = req("GET", &p, None, with_key(OPEN, &[]));
        let d = denied(&c, &s, &r);
        assert_eq!(d, Denial::Malformed(Malformed::KeyInPath), "{p}");
        assert_eq!(Refusal::Denied(d).reason_code().as_str(), "key_in_path");
    }
    assert_eq!(s.reads.get(), 0);
}

#[test]
fn a_blank_authorization_is_malformed_even_with_anonymous_access() {
    let (c, s) = (config(&[("ALLOW_ANONYMOUS", "true")]), store());
    for v in ["", "   "] {
        let r = req("GET", "/v1/items", None, headers(&[("authorization", v)]));
        assert_eq!(denied(&c, &s, &r), Denial::Malformed(Malformed::Blank));
    }
    let c = config(&[
        ("ALLOW_ANONYMOUS", "true"),
        ("KEY_SOURCES", "authorization,x-api-key"),
    ]);
    let r = req("GET", "/v1/items", None, headers(&[("x-api-key", " ")]));
    assert_eq!(denied(&c, &s, &r), Denial::Malformed(Malformed::Blank));
}

#[test]
fn a_credential_field_the_edge_cannot_read_is_malformed_even_with_anonymous_access() {
    // Found in review: an X-API-Key holding a control byte (or bytes that are not UTF-8) was
    // left out of the fields core reads, so with ALLOW_ANONYMOUS the request went on anonymous.
    // The fields are read as the edge reads them: lines, then the credential stand-ins.
    let s = store();
    let anonymous = [("ALLOW_ANONYMOUS", "true")];
    let both = [
        ("ALLOW_ANONYMOUS", "true"),
        ("KEY_SOURCES", "authorization,x-api-key"),
    ];
    let read = |c: &Config, lines: &str| {
        let mut fields = heads::read(lines);
        heads::stand_in_credentials(&mut fields, c.api_key_header);
        fields
    };
    for (vars, lines) in [
        (&anonymous[..], "authorization\nBearer \u{1}x\n"),
        (&both[..], "authorization\nBearer \u{1}x\n"),
        (&both[..], "x-api-key\nkg_\u{1}x\n"),
        (&both[..], "x-api-key\ncaf\u{fffd}\n"),
    ] {
        let c = config(vars);
        let fields = read(&c, lines);
        let r = req("GET", "/v1/items", None, fields.map);
        assert_eq!(
            denied(&c, &s, &r),
            Denial::Malformed(Malformed::BadCharacters),
            "{lines:?}"
        );
    }
    // Where X-API-Key is not a key source it is an ordinary field: an unreadable one is no
    // credential, and it is deleted on the way to the origin.
    let c = config(&anonymous);
    let fields = read(&c, "x-api-key\nkg_\u{1}x\nx-a\n1\n");
    let r = req("GET", "/v1/items", None, fields.map.clone());
    let a = accepted(&c, &s, &r);
    assert!(a.caller.key_id().is_none());
    let sent = heads::apply(
        &[
            ("x-api-key".to_owned(), "kg_\u{1}x".to_owned()),
            ("x-a".to_owned(), "1".to_owned()),
        ],
        &heads::edits(&fields, &a.headers),
    );
    assert!(sent.iter().all(|(n, _)| n != "x-api-key"), "{sent:?}");
    assert!(sent.iter().any(|(n, v)| n == "x-a" && v == "1"), "{sent:?}");
    assert_eq!(s.reads.get(), 0);
}

#[test]
fn operator_paths_are_routed_on_the_normalised_path_in_any_spelling() {
    // Found in review: `//__keygate/usage` and `/%5F_keygate/usage` reached the origin.
    let (c, s) = (config(&[("ADMIN_TOKEN", ADMIN)]), store());
    let q = Some("counter=key%3Aday%3A0123456789ab&window_start=0");
    for p in [
        "/__keygate/usage",
        "//__keygate/usage",
        "/x/../__keygate/usage",
        "/%5F_keygate/usage",
        "/__KEYGATE/usage",
    ] {
        let r = req("GET", p, q, with_key(ADMIN, &[]));
        assert!(
            matches!(
                run(&c, &s, &r),
                Ok(Verdict::Operator(AdminRequest::Usage { .. }))
            ),
            "{p}"
        );
        // A stranger with an API key gets the operator's 401, and nothing is forwarded.
        let r = req("GET", p, q, with_key(OPEN, &[]));
        assert!(matches!(denied(&c, &s, &r), Denial::Admin(_)), "{p}");
    }
    assert_eq!(s.reads.get(), 0);
    // Without ADMIN_TOKEN the prefix is still keygate's own (issue 15): a 404, never forwarded,
    // and no key is looked up.
    for p in ["//__keygate/usage", "/%5F_keygate/other", "/__KEYGATE"] {
        let r = req("GET", p, q, with_key(OPEN, &[]));
        assert_eq!(
            denied(&config(&[]), &s, &r),
            Denial::Admin(AdminDenial::NotFound),
            "{p}"
        );
    }
    assert_eq!(s.reads.get(), 0);
}

#[test]
fn management_paths_route_to_keygate_in_any_spelling_before_any_credential() {
    let s = store();
    for c in [config(&[]), config(&[("ADMIN_TOKEN", ADMIN)])] {
        for (m, p, want) in [
            ("GET", "/__keygate/v1/keys", Ok(Route::ListKeys)),
            ("POST", "//__keygate/v1/keys", Ok(Route::CreateKey)),
            ("GET", "/x/../__keygate/v1/audit", Ok(Route::ListAudit)),
            ("GET", "/%5F_keygate/v1/roots", Ok(Route::ListRoots)),
            ("GET", "/__KEYGATE/V1/OPENAPI.JSON", Ok(Route::OpenApi)),
            ("GET", "/__keygate/v1", Err(RouteError::NotFound)),
            ("GET", "/__keygate/v1/nope", Err(RouteError::NotFound)),
            (
                "PUT",
                "/__keygate/v1/keys",
                Err(RouteError::MethodNotAllowed { allow: "GET, POST" }),
            ),
        ] {
            // Whatever credential comes with it: an API key, a root key, none.
            for h in [with_key(OPEN, &[]), headers(&[])] {
                let r = req(m, p, None, h);
                match run(&c, &s, &r) {
                    Ok(Verdict::Management(got)) => assert_eq!(got, want, "{m} {p}"),
                    other => panic!("{m} {p}: {other:?}"),
                }
            }
        }
    }
    assert_eq!(s.reads.get(), 0, "routing reads no key");
    // A method keygate never forwards is refused first, as on the data plane.
    let r = req("TRACE", "/__keygate/v1/keys", None, headers(&[]));
    assert_eq!(denied(&config(&[]), &s, &r), Denial::MethodNotAllowed);
}

#[test]
fn a_root_key_on_the_data_plane_is_refused_without_a_lookup() {
    let s = store();
    let root = keygate_core::root::RootKey::generate().unwrap();
    for c in [
        config(&[]),
        config(&[("KEY_SOURCES", "authorization,x-api-key")]),
    ] {
        let r = req("GET", "/v1/items", None, with_key(root.expose(), &[]));
        assert_eq!(denied(&c, &s, &r), Denial::RootKeyRefused);
        // Any kgr_ token, checksum or not.
        let r = req("GET", "/v1/items", None, with_key("kgr_guess", &[]));
        assert_eq!(denied(&c, &s, &r), Denial::RootKeyRefused);
    }
    let c = config(&[("KEY_SOURCES", "authorization,x-api-key")]);
    let r = req(
        "GET",
        "/v1/items",
        None,
        headers(&[("x-api-key", root.expose())]),
    );
    assert_eq!(denied(&c, &s, &r), Denial::RootKeyRefused);
    assert_eq!(s.reads.get(), 0);
    let p = Refusal::Denied(Denial::RootKeyRefused).problem();
    assert_eq!(p.status, 401);
    assert_eq!(p.code, "invalid_token");
}

#[test]
fn encoded_semicolons_and_dots_cannot_make_a_dot_segment_pass_a_scope() {
    // Found in review: `/reports/..%3b/admin` passed `* /reports/**` and reached the origin as
    // `/reports/..;/admin`.
    let st = store();
    st.put("ab_reports", &scoped("ab_reports", &["* /reports/**"]));
    let c = config(&[]);
    for (p, want) in [
        ("/reports/..%3b/admin", PathError::DotSegmentParameters),
        ("/reports/%2e%2e%3B/admin", PathError::DotSegmentParameters),
        (
            "/reports/%252e%252e%253b/admin",
            PathError::DotSegmentParameters,
        ),
        ("/reports/%252e%252e/admin", PathError::EncodedDotSegment),
        ("/reports/%c0%ae%c0%ae/admin", PathError::EncodedDotSegment),
    ] {
        let r = req("GET", p, None, with_key("ab_reports", &[]));
        assert_eq!(denied(&c, &st, &r), Denial::BadPath(want), "{p}");
    }
    assert_eq!(st.reads.get(), 0);
}

#[test]
fn readme_lists_exactly_the_integrity_tables_and_the_forwarded_methods() {
    let readme = readme();
    let section = readme
        .split("### The name tables")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a 'The name tables' section");
    let mut headers = Vec::new();
    let mut params = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let name = cells[0].trim_matches('`').to_owned();
        match cells.len() {
            3 => headers.push((name, cells[1].to_owned(), cells[2].to_owned())),
            2 => params.push((name, cells[1].to_owned())),
            n => panic!("a row of {n} cells: {row}"),
        }
    }
    let shown = |name: &str, prefix: bool| {
        if prefix {
            format!("{name}*")
        } else {
            name.to_owned()
        }
    };
    let mut want_headers = Vec::new();
    for (class, table, by) in [
        (
            "method override",
            METHOD_OVERRIDE_HEADERS,
            METHOD_OVERRIDE_HEADERS_BY,
        ),
        ("rewrite", REWRITE_HEADERS, REWRITE_HEADERS_BY),
        ("identity", IDENTITY_HEADERS, IDENTITY_HEADERS_BY),
    ] {
        assert_eq!(table.len(), by.len(), "{class}");
        for (h, by) in table.iter().zip(by) {
            want_headers.push((shown(h.name, h.prefix), class.to_owned(), by.to_string()));
        }
    }
    assert_eq!(
        METHOD_OVERRIDE_PARAMS.len(),
        METHOD_OVERRIDE_PARAMS_BY.len()
    );
    let want_params: Vec<(String, String)> = METHOD_OVERRIDE_PARAMS
        .iter()
        .zip(METHOD_OVERRIDE_PARAMS_BY)
        .map(|(p, by)| (shown(p.name, p.prefix), by.to_string()))
        .collect();
    assert_eq!(headers, want_headers, "README header table vs integrity.rs");
    assert_eq!(
        params, want_params,
        "README parameter table vs integrity.rs"
    );
    let methods = FORWARDED_METHODS
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>();
    let listed = format!(
        "**{}, {} and {}**",
        methods[..methods.len() - 2].join(", "),
        methods[methods.len() - 2],
        methods[methods.len() - 1]
    );
    assert!(readme.contains(&listed), "README does not list {listed}");
}
