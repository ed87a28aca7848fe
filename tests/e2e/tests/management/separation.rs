//! The two planes stay apart: a root key never passes the data plane (refused before any store
//! read), an API key never opens the management API, nothing under `/__keygate/` reaches the
//! origin in any spelling, and the request log lines of management requests carry management
//! decision codes and never a credential.

use super::*;

pub fn root_key_is_refused_by_the_data_plane_and_the_origin_gets_nothing(c: &Ctx) {
    let m = marker("root-on-data");
    let (root, _) = new_root(&c.main, BOOT, "data plane probe", &all_permissions(), None);
    let unknown = unknown_root_key(&m);
    for (i, k) in [&root, &unknown].into_iter().enumerate() {
        let r = get(&c.main.url(&format!("/{m}/{i}")), Some(k));
        r.problem(401);
        let line = c
            .main
            .request_log(r.header("x-request-id").expect("request id"));
        assert_eq!(line["decision"], "root_key_refused", "{line}");
        assert_no_secrets("a request log line", &line.to_string());
    }
    // Refused without a store read: where every read fails, still a 401, not a 503.
    let r = get(&c.kv_fault.url(&format!("/{m}/fault")), Some(&root));
    r.problem(401);
    let line = c
        .kv_fault
        .request_log(r.header("x-request-id").expect("request id"));
    assert_eq!(line["decision"], "root_key_refused");
    // Nor does the bootstrap token pass as a key.
    get(&c.main.url(&format!("/{m}/admin")), Some(BOOT)).problem(401);
    assert!(
        c.origin.received_with(&m).is_empty(),
        "the origin got nothing"
    );
}

pub fn api_key_never_opens_the_management_api(c: &Ctx) {
    let dev = &c.main;
    let m = marker("key-on-mgmt");
    let (key, id) = plain_key(dev, &format!("sep-{m}"));
    assert_eq!(
        get(&dev.url(&format!("/{m}")), Some(&key)).status,
        200,
        "a working key"
    );
    let create = json!({"name": "x", "consumer_id": format!("sep-{m}")});
    let verify = json!({"key": key, "method": "GET", "path": "/x"});
    for (method, path, body) in [
        ("GET", "/keys".to_owned(), None),
        ("POST", "/keys".to_owned(), Some(&create)),
        ("GET", format!("/keys/{id}"), None),
        ("DELETE", format!("/keys/{id}"), None),
        ("POST", "/keys/verify".to_owned(), Some(&verify)),
        ("GET", "/audit".to_owned(), None),
        ("GET", "/roots".to_owned(), None),
    ] {
        let r = call(dev, Some(&key), method, &path, body);
        assert_unauthenticated(&r, true);
        let line = dev.request_log(r.header("x-request-id").expect("request id"));
        assert_eq!(
            line["decision"], "management_unauthenticated",
            "{method} {path}"
        );
    }
    // Through X-API-Key neither.
    let r = call_raw(
        dev,
        None,
        "GET",
        "/keys",
        &[("x-api-key", key.as_str())],
        None,
    );
    assert_unauthenticated(&r, false);
    assert_eq!(ids_of_consumer(dev, BOOT, &format!("sep-{m}")), vec![id]);
}

/// Every spelling of a management path the data plane could be tricked with.
const SPELLINGS: &[&str] = &[
    "/%5F_keygate/v1/keys",
    "/%5f%5fkeygate/v1/keys",
    "/__KEYGATE/v1/keys",
    "/__KeyGate/V1/Keys",
    "//__keygate/v1/keys",
    "/x/../__keygate/v1/keys",
    "/./__keygate/v1/keys",
    "/x/%2e%2e/__keygate/v1/keys",
    "/__keygate/v1/keys/",
    "/__keygate/",
];

pub fn no_spelling_of_a_keygate_path_reaches_the_origin(c: &Ctx) {
    let dev = &c.main;
    let m = marker("spelling");
    let (key, _) = plain_key(dev, &format!("spell-{m}"));
    let mut seen = Vec::new();
    for target in SPELLINGS {
        for auth in [Some(key.as_str()), Some(BOOT), None] {
            let header = auth.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
            let req = format!(
                "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}Connection: close\r\n\r\n"
            );
            let r = raw(&dev.base, req.as_bytes());
            assert!(
                matches!(r.status, 200 | 400 | 401 | 404),
                "{target}: {} {}",
                r.status,
                r.text()
            );
            assert!(
                r.header("x-request-id").is_some(),
                "{target}: keygate's own answer"
            );
            if r.status != 200 {
                r.problem(r.status);
            } else {
                assert_eq!(
                    auth,
                    Some(BOOT),
                    "{target}: only the bootstrap token lists keys"
                );
                assert!(r.json()["keys"].is_array(), "{target}: {}", r.text());
            }
            seen.push(format!("{target} {:?} → {}", auth.map(|_| "…"), r.status));
        }
    }
    let leaked: Vec<String> = c
        .origin
        .received()
        .into_iter()
        .map(|r| r.target)
        .filter(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("keygate") || t.contains("%5f")
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "reached the origin: {leaked:?}\n{seen:#?}"
    );
}

pub fn management_log_lines_carry_management_decisions_and_no_credential(c: &Ctx) {
    let dev = &c.main;
    let m = marker("mgmt-log");
    let (reader, reader_rec) = new_root(dev, BOOT, "log reader", &["keys:read"], None);
    let unknown = unknown_id(&m);
    let consumer = format!("log-{m}");
    let idem = [
        ("content-type", "application/json"),
        ("idempotency-key", m.as_str()),
    ];
    let first = call_raw(
        dev,
        Some(BOOT),
        "POST",
        "/keys",
        &idem,
        Some(
            json!({"name": "a", "consumer_id": consumer})
                .to_string()
                .into_bytes(),
        ),
    );
    remember_key(answer(&first, 201)["key"].as_str().expect("key"));
    let cases: Vec<(Resp, &str)> = vec![
        (
            call(dev, Some(&reader), "GET", "/keys", None),
            "management_ok",
        ),
        (
            call(
                dev,
                Some(&reader),
                "POST",
                "/keys",
                Some(&json!({"name": "x", "consumer_id": consumer})),
            ),
            "management_forbidden",
        ),
        (
            call(dev, None, "GET", "/keys", None),
            "management_unauthenticated",
        ),
        (
            call(dev, Some(&unknown_root_key(&m)), "GET", "/keys", None),
            "management_unauthenticated",
        ),
        (
            call(dev, Some(&reader), "GET", &format!("/keys/{unknown}"), None),
            "management_not_found",
        ),
        (
            call(dev, Some(&reader), "PUT", "/keys", None),
            "management_invalid",
        ),
        (
            call(dev, Some(BOOT), "POST", "/keys", Some(&json!({"name": ""}))),
            "management_invalid",
        ),
        (
            call_raw(
                dev,
                Some(BOOT),
                "POST",
                "/keys",
                &[("content-type", "text/plain")],
                Some(b"x".to_vec()),
            ),
            "management_invalid",
        ),
        (
            call_raw(
                dev,
                Some(BOOT),
                "POST",
                "/keys",
                &idem,
                Some(
                    json!({"name": "b", "consumer_id": consumer})
                        .to_string()
                        .into_bytes(),
                ),
            ),
            "management_conflict",
        ),
        (first, "management_ok"),
    ];
    for (r, want) in &cases {
        let id = r.header("x-request-id").expect("request id");
        let line = dev.request_log(id);
        assert_eq!(line["decision"], *want, "{line}");
        assert_eq!(line["status"], r.status, "{line}");
        assert!(
            keygate_core::telemetry::Decision::parse(want).is_some(),
            "{want} is one of telemetry's decision codes"
        );
        assert!(line
            .get("key_id")
            .is_none_or(|k| k.is_null() || k.as_str().is_some_and(|k| k.len() == 12)));
        assert_no_secrets("a management request log line", &line.to_string());
    }
    // Who: the root key's id, or `bootstrap`.
    let line = dev.request_log(cases[0].0.header("x-request-id").expect("request id"));
    assert_eq!(line["actor"], reader_rec["id"], "{line}");
    let line = dev.request_log(cases[9].0.header("x-request-id").expect("request id"));
    assert_eq!(line["actor"], "bootstrap", "{line}");
}
