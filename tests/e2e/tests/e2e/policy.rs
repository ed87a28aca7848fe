//! Per-key policy: scopes (traversal included), key checksums, keys in the query string,
//! anonymous access, CORS preflights, `X-API-Key` as a key source, and consumer metadata headers.

use super::{assert_invalid_request, fixture_key, raw_get, Ctx};
use keygate_e2e::*;

pub fn scoped_key_gets_403_outside_its_scopes_even_via_traversal(c: &Ctx) {
    let key = c.main.create_key(&[
        "--name",
        "scoped",
        "--scopes",
        "GET /v1/*",
        "--scopes",
        "* /reports/**",
    ]);
    let m = marker("scoped");
    let ok = get(&c.main.url(&format!("/v1/{m}")), Some(&key));
    assert_eq!(ok.status, 200);
    let deep = send(
        client()
            .delete(c.main.url(&format!("/reports/{m}/2026/q1")))
            .header("authorization", bearer(&key)),
    );
    assert_eq!(deep.status, 200);
    for (method, path) in [
        ("GET", format!("/admin/{m}")),
        ("POST", format!("/v1/{m}")),
        ("GET", format!("/v1/{m}/deeper")),
    ] {
        let r = send(
            client()
                .request(method.parse().expect("method"), c.main.url(&path))
                .header("authorization", bearer(&key)),
        );
        r.problem(403);
        let challenge = r.header("www-authenticate").expect("challenge");
        for part in [
            "error=\"insufficient_scope\"",
            "scope=\"GET:/v1/* *:/reports/**\"",
        ] {
            assert!(challenge.contains(part), "{challenge}");
        }
    }
    // Traversal is resolved before matching: /v1/../admin is /admin.
    let r = raw_get(
        &c.main,
        &format!("/v1/../admin/{m}"),
        &format!("Authorization: Bearer {key}\r\n"),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let got = c.origin.received_with(&m);
    assert_eq!(
        got.len(),
        2,
        "only the two in-scope requests reached the origin"
    );
    assert!(c.main.log_contains("out_of_scope"));
}

pub fn key_failing_its_checksum_is_refused_like_an_unknown_key(c: &Ctx) {
    let key = c.main.create_key(&["--name", "checksum"]);
    let mut bad = key.clone();
    let i = 10;
    let swap = if &bad[i..=i] == "Z" { "Y" } else { "Z" };
    bad.replace_range(i..=i, swap);
    remember_key(&bad);
    let m = marker("checksum");
    let unknown = get(
        &c.main.url(&format!("/{m}")),
        Some(&fixture_key("neverissuedeither")),
    );
    let r = get(&c.main.url(&format!("/{m}")), Some(&bad));
    assert_eq!(
        without_request_id(r.problem(401)),
        without_request_id(unknown.problem(401))
    );
    assert!(c.main.log_contains("bad_checksum"));
    assert!(c.origin.received_with(&m).is_empty());
}

pub fn key_in_the_query_string_gets_400(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("query");
    for q in [
        format!("api_key={key}"),
        format!("x={key}"),
        "access_token=abc".to_owned(),
    ] {
        let r = get(&c.main.url(&format!("/{m}?{q}")), Some(&key));
        let p = r.problem(400);
        assert!(
            p["detail"]
                .as_str()
                .expect("detail")
                .contains("query string"),
            "{p}"
        );
    }
    assert!(c.origin.received_with(&m).is_empty());
}

pub fn anonymous_requests_pass_only_when_enabled(c: &Ctx) {
    let m = marker("anon");
    let r = get_with(
        &c.open.url(&format!("/{m}/1")),
        None,
        &[("x-consumer-id", "forged")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.origin.received_with(&format!("{m}/1"))[0];
    assert_eq!(g.all("x-consumer-anonymous"), vec!["true"]);
    assert!(g.all("x-consumer-id").is_empty() && g.all("x-key-id").is_empty());
    assert_eq!(g.all("x-shared-secret"), vec![SECRET]);
    // A bad credential is still refused when anonymous access is on.
    get(
        &c.open.url(&format!("/{m}/2")),
        Some(&fixture_key("unknownonopen")),
    )
    .problem(401);
    assert_invalid_request(&get_with(
        &c.open.url(&format!("/{m}/3")),
        None,
        &[("authorization", "Basic eDp5")],
    ));
    // Off by default.
    get(&c.main.url(&format!("/{m}/4")), None).problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 1);
}

pub fn cors_preflight_passes_without_a_key_only_when_enabled(c: &Ctx) {
    let m = marker("preflight");
    let pre = |dev: &Dev, n: u8| {
        send(
            client()
                .request(reqwest::Method::OPTIONS, dev.url(&format!("/{m}/{n}")))
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST"),
        )
    };
    assert_eq!(pre(&c.open, 1).status, 200);
    let g = &c.origin.received_with(&format!("{m}/1"))[0];
    assert_eq!(g.method, "OPTIONS");
    assert!(g.all("x-consumer-id").is_empty() && g.all("x-consumer-anonymous").is_empty());
    pre(&c.main, 2).problem(401);
    // A plain OPTIONS (no preflight header) still needs a key.
    let plain = send(client().request(reqwest::Method::OPTIONS, c.main.url(&format!("/{m}/3"))));
    plain.problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 1);
}

pub fn x_api_key_is_a_source_only_when_enabled_and_must_agree(c: &Ctx) {
    let key = c.open.create_key(&["--name", "apikey-header"]);
    let m = marker("xapikey");
    let r = get_with(
        &c.open.url(&format!("/{m}/1")),
        None,
        &[("x-api-key", &key)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.origin.received_with(&format!("{m}/1"))[0];
    assert!(
        g.all("x-api-key").is_empty(),
        "a key source is never forwarded"
    );
    assert_eq!(g.one("x-key-id"), Some(key_id(&key).as_str()));
    let both = get_with(
        &c.open.url(&format!("/{m}/2")),
        None,
        &[("x-api-key", &key), ("authorization", &bearer(&key))],
    );
    assert_eq!(both.status, 200);
    let other = fixture_key("otherkey");
    let clash = get_with(
        &c.open.url(&format!("/{m}/3")),
        None,
        &[("x-api-key", &other), ("authorization", &bearer(&key))],
    );
    assert_invalid_request(&clash);
    // Where X-API-Key is not a source, it is not a credential (and not the gateway's to drop).
    let main_key = c.main.create_key(&[]);
    let r = get_with(
        &c.main.url(&format!("/{m}/4")),
        None,
        &[("x-api-key", &main_key)],
    );
    r.problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 2);
}

pub fn listed_metadata_reaches_the_origin_as_consumer_headers(c: &Ctx) {
    let key = c.open.create_key(&[
        "--name",
        "meta",
        "--meta",
        "plan=enterprise",
        "--meta",
        "internal=do-not-send",
    ]);
    let m = marker("meta");
    let r = get_with(
        &c.open.url(&format!("/{m}")),
        Some(&key),
        &[("x-consumer-plan", "free")],
    );
    assert_eq!(r.status, 200);
    let g = &c.origin.received_with(&m)[0];
    assert_eq!(g.all("x-consumer-plan"), vec!["enterprise"]);
    assert!(g.all("x-consumer-internal").is_empty());
}
