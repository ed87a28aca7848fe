//! Forwarding rules: what the origin receives (the secret and the identity and forwarding
//! headers, once each), client copies replaced and hop-by-hop headers dropped, request ids,
//! targets that cannot leave the origin or its base path, methods, queries and 5 MB bodies both
//! ways, redirects not followed, and secrets echoed by the origin kept from the client.

use super::{raw_get, Ctx, BASE};
use keygate_e2e::*;
use sha2::{Digest, Sha256};

pub fn origin_receives_secret_identity_and_forwarding_headers_once(c: &Ctx) {
    let key = c.main.create_key(&[
        "--name",
        "fwd",
        "--consumer",
        "acme-42",
        "--consumer-name",
        "Acme Corp",
    ]);
    let m = marker("hdrs");
    let r = get(&c.main.url(&format!("/{m}")), Some(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c.origin.received_with(&m);
    assert_eq!(got.len(), 1);
    let g = &got[0];
    let id = keygate_core::ApiKey::new(key.as_str())
        .hash()
        .id()
        .to_owned();
    assert_eq!(g.all("x-shared-secret"), vec![SECRET]);
    assert_eq!(g.all("x-consumer-id"), vec!["acme-42"]);
    assert_eq!(g.all("x-consumer-name"), vec!["Acme Corp"]);
    assert_eq!(g.all("x-key-id"), vec![id.as_str()]);
    assert_eq!(g.all("x-forwarded-proto"), vec!["http"]);
    assert_eq!(g.all("x-forwarded-for").len(), 1);
    assert_eq!(g.all("x-request-id").len(), 1);
    assert!(g.all("authorization").is_empty());
    assert_eq!(g.one("host"), Some(c.origin.addr().to_string().as_str()));
    assert_eq!(r.header("x-request-id"), g.one("x-request-id"));
}

pub fn client_copies_of_secret_and_identity_headers_are_replaced(c: &Ctx) {
    let key = c.main.create_key(&["--consumer", "real-consumer"]);
    let m = marker("copies");
    let r = get_with(
        &c.main.url(&format!("/{m}")),
        Some(&key),
        &[
            ("x-shared-secret", "forged-secret"),
            ("x-consumer-id", "admin"),
            ("x-consumer-name", "Admin"),
            ("x-key-id", "000000000000"),
            ("x-forwarded-for", "10.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-api-key", "kept-because-not-ours"),
        ],
    );
    assert_eq!(r.status, 200);
    let g = &c.origin.received_with(&m)[0];
    assert_eq!(g.all("x-shared-secret"), vec![SECRET]);
    assert_eq!(g.all("x-consumer-id"), vec!["real-consumer"]);
    assert!(
        g.all("x-consumer-name").is_empty(),
        "no consumer name on this key, and the client's is gone"
    );
    assert_ne!(g.one("x-key-id"), Some("000000000000"));
    assert!(!g.all("x-forwarded-for").contains(&"10.6.6.6"));
    assert_eq!(g.all("x-forwarded-proto"), vec!["http"]);
}

pub fn hop_by_hop_and_connection_listed_headers_are_dropped(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("hop");
    let r = raw_get(
        &c.main,
        &format!("/{m}"),
        &format!(
            "Authorization: Bearer {key}\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Drop-Me: 1\r\n\
             X-Keep-Me: 2\r\nProxy-Authorization: Basic eDp5\r\nConnection: X-Drop-Me, X-Shared-Secret\r\n"
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.origin.received_with(&m)[0];
    // The runtime consumes the client's `Connection` header before the worker runs, so headers
    // it lists (X-Drop-Me here) cannot be identified; the fixed hop-by-hop set is still dropped.
    for gone in ["keep-alive", "te", "proxy-authorization", "connection"] {
        assert!(g.all(gone).is_empty(), "{gone} was forwarded");
    }
    assert_eq!(g.all("x-keep-me"), vec!["2"]);
    assert_eq!(
        g.all("x-shared-secret"),
        vec![SECRET],
        "Connection cannot remove our secret header"
    );
}

pub fn sane_request_id_passes_and_others_are_replaced(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("rid");
    for (path, id) in [("a", "trace-abc.123"), ("b", "bad id with spaces")] {
        let url = c.main.url(&format!("/{m}/{path}"));
        assert_eq!(
            get_with(&url, Some(&key), &[("x-request-id", id)]).status,
            200
        );
    }
    let got = c.origin.received_with(&m);
    let a = got.iter().find(|g| g.target.ends_with("/a")).expect("a");
    let b = got.iter().find(|g| g.target.ends_with("/b")).expect("b");
    assert_eq!(a.all("x-request-id"), vec!["trace-abc.123"]);
    let generated = b.one("x-request-id").expect("generated id");
    assert_ne!(generated, "bad id with spaces");
    assert!(generated.len() >= 16);
    // Errors carry the request id too.
    let e = get_with(&c.main.url("/x"), None, &[("x-request-id", "err-trace-1")]);
    assert_eq!(e.problem(401)["request_id"], "err-trace-1");
}

pub fn no_path_form_changes_the_origin_host_or_leaves_the_base_path(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let auth = format!("Authorization: Bearer {key}\r\n");
    let m = marker("path");
    // (request target, what the origin must receive, or None when the gateway refuses with 400)
    let cases: Vec<(String, Option<String>)> = vec![
        (
            format!("//evil.example/{m}/1"),
            Some(format!("{BASE}/evil.example/{m}/1")),
        ),
        (
            format!("/@evil.example/{m}/2"),
            Some(format!("{BASE}/@evil.example/{m}/2")),
        ),
        (
            format!("/{m}/3/../../../../etc"),
            Some(format!("{BASE}/etc")),
        ),
        (format!("/{m}/4/%2e%2e/%2E%2E/x"), Some(format!("{BASE}/x"))),
        (format!("/{m}/5/..%2f..%2fadmin"), None),
        (format!("/%2F%2Fevil.example/{m}/6"), None),
        (format!("/{m}/7/a%5cb"), None),
        (
            format!("/{m}/8?q=%2F%2Fevil&next=//evil.example"),
            Some(format!("{BASE}/{m}/8?q=%2F%2Fevil&next=//evil.example")),
        ),
        (
            format!("/{m}/9/caf%C3%A9"),
            Some(format!("{BASE}/{m}/9/caf%C3%A9")),
        ),
    ];
    for (target, want) in &cases {
        let r = raw_get(&c.main, target, &auth);
        match want {
            Some(_) => assert_eq!(r.status, 200, "{target}: {}", r.text()),
            None => {
                assert_eq!(r.status, 400, "{target}: {}", r.text());
                assert_eq!(
                    r.problem(400)["type"],
                    "urn:keygate:problem:invalid_request"
                );
            }
        }
    }
    // The runtime resolves some forms itself (`/\` becomes `//`); whatever arrives must be on
    // the origin, under the base path, and match the expected target exactly.
    let received = c.origin.received();
    let expected: Vec<&String> = cases.iter().filter_map(|(_, w)| w.as_ref()).collect();
    for want in &expected {
        assert!(
            received.iter().any(|g| &&g.target == want),
            "origin never got {want}"
        );
    }
    let r = raw_get(&c.main, &format!("/\\evil.example/{m}/10"), &auth);
    assert!(
        r.status == 200 || r.status == 400,
        "backslash: {}",
        r.status
    );
    for g in c.origin.received_with(&m) {
        assert!(
            g.target.starts_with(&format!("{BASE}/")),
            "left the base path: {}",
            g.target
        );
        assert_eq!(g.one("host"), Some(c.origin.addr().to_string().as_str()));
    }
}

pub fn absolute_form_target_goes_to_the_origin_only(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("absform");
    let r = raw_get(
        &c.main,
        &format!("http://evil.example/{m}"),
        &format!("Authorization: Bearer {key}\r\n"),
    );
    assert!(r.status == 200 || r.status == 400, "{}", r.status);
    for g in c.origin.received_with(&m) {
        assert_eq!(g.target, format!("{BASE}/{m}"));
        assert_eq!(g.one("host"), Some(c.origin.addr().to_string().as_str()));
    }
}

pub fn method_query_and_body_pass_unchanged(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("methods");
    for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let body = format!("{{\"method\":\"{method}\"}}");
        let url = c
            .main
            .url(&format!("/{m}/{method}?a=1&b=two%20words&c=%E2%9C%93"));
        let r = send(
            client()
                .request(method.parse().expect("method"), url)
                .header("authorization", bearer(&key))
                .header("content-type", "application/json")
                .body(body.clone()),
        );
        assert_eq!(r.status, 200, "{method}");
        let g = c
            .origin
            .received_with(&format!("{m}/{method}?"))
            .pop()
            .expect("received");
        assert_eq!(g.method, method);
        assert_eq!(
            g.target,
            format!("{BASE}/{m}/{method}?a=1&b=two%20words&c=%E2%9C%93")
        );
        assert_eq!(
            g.body_sha256,
            hex::encode(Sha256::digest(body.as_bytes())),
            "{method} body"
        );
        assert_eq!(g.one("content-type"), Some("application/json"));
    }
    let r = send(
        client()
            .head(c.main.url(&format!("/{m}/HEAD")))
            .header("authorization", bearer(&key)),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

pub fn five_mb_upload_arrives_byte_identical(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("upload");
    let body: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let r = send(
        client()
            .post(c.main.url(&format!("/{m}")))
            .header("authorization", bearer(&key))
            .header("content-type", "application/octet-stream")
            .body(body.clone()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.origin.received_with(&m)[0];
    assert_eq!(g.body_len, body.len() as u64);
    assert_eq!(g.body_sha256, hex::encode(Sha256::digest(&body)));
    assert!(g.body_complete);
}

pub fn five_mb_download_streams_back_byte_identical(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let n = 5 * 1024 * 1024;
    let r = get(
        &c.main
            .url(&format!("/{}/__test/bytes?n={n}", marker("download"))),
        Some(&key),
    );
    assert_eq!(r.status, 200);
    let want: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    assert_eq!(r.body.len(), n);
    assert!(r.body == want, "downloaded bytes differ");
}

pub fn redirects_are_returned_to_the_client_not_followed(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("redirect");
    let r = get(&c.main.url(&format!("/{m}/__test/redirect")), Some(&key));
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("http://elsewhere.invalid/landing")
    );
    assert_eq!(r.header("x-origin"), Some("redirected"));
    assert_eq!(
        c.origin.received_with(&m).len(),
        1,
        "the gateway must not follow the redirect"
    );
}

pub fn response_headers_echoing_the_secret_never_reach_the_client(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let r = get(
        &c.main
            .url(&format!("/{}/__test/echo-secret", marker("echo"))),
        Some(&key),
    );
    assert_eq!(r.status, 200);
    assert!(r.header("x-shared-secret").is_none());
    assert!(r.header("x-debug-auth").is_none());
    assert!(
        r.header("x-hop").is_none(),
        "headers named in the origin's Connection are hop-by-hop"
    );
    assert_eq!(r.header("x-harmless"), Some("kept"));
}

pub fn custom_secret_header_name_is_used_and_default_one_not_sent(c: &Ctx) {
    let key = c.custom_header.create_key(&[]);
    let m = marker("custom");
    let r = get_with(
        &c.custom_header.url(&format!("/{m}")),
        Some(&key),
        &[("x-origin-auth", "forged")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.custom_origin.received_with(&m)[0];
    assert_eq!(g.all("x-origin-auth"), vec![SECRET]);
    assert!(g.all("x-shared-secret").is_empty());
}
