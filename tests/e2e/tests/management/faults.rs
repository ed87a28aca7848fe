//! Refusals that need an instance of their own: a failing key store (503, fail closed) and tiny
//! management rate limits (429, per client address before authentication, per root key after).

use super::*;

pub fn failing_key_store_fails_closed_with_503(c: &Ctx) {
    let dev = &c.kv_fault;
    let root = unknown_root_key("kv-fault");
    let id = unknown_id("kv-fault");
    let create = json!({"name": "x", "consumer_id": "kv-fault"});
    let verify = json!({"key": crafted_key("kv-fault-verify"), "method": "GET", "path": "/x"});
    // The bootstrap principal needs no store read to authenticate; every store call fails.
    for (method, path, body) in [
        ("GET", "/keys".to_owned(), None),
        ("POST", "/keys".to_owned(), Some(&create)),
        ("GET", format!("/keys/{id}"), None),
        ("DELETE", format!("/keys/{id}"), None),
        ("POST", "/keys/verify".to_owned(), Some(&verify)),
        ("GET", "/roots".to_owned(), None),
    ] {
        let r = call(dev, Some(BOOT), method, &path, body);
        r.problem(503);
        let logged = dev.request_log(r.header("x-request-id").expect("request id"));
        assert_eq!(logged["decision"], "store_unavailable", "{method} {path}");
    }
    // A root key cannot be looked up: 503, never a 401 that would call it unknown.
    let r = call(dev, Some(&root), "GET", "/keys", None);
    r.problem(503);
    // The public document needs no store.
    answer(&call(dev, None, "GET", "/openapi.json", None), 200);
}

fn assert_429(r: &Resp) {
    r.problem(429);
    assert_eq!(r.header("retry-after"), Some("60"), "the limit's period");
}

pub fn management_requests_over_the_ip_or_root_key_limit_get_429(c: &Ctx) {
    let dev = &c.limited;
    // The local limiter counts fixed 60 s windows on the wall clock: start well inside one.
    avoid_window_edge(60, 25);
    // Every request below comes from this client's address; it counts each one.
    let mut ip_used = 0;
    let (root, _) = new_root(dev, BOOT, "limited", &["keys:read"], None);
    ip_used += 1; // the bootstrap principal has used 1 of its own LIMITED_KEY

    // Per root key: LIMITED_KEY pass, the next is refused.
    for _ in 0..LIMITED_KEY {
        answer(&call(dev, Some(&root), "GET", "/keys", None), 200);
        ip_used += 1;
    }
    let r = call(dev, Some(&root), "GET", "/keys", None);
    ip_used += 1;
    assert_429(&r);
    let logged = dev.request_log(r.header("x-request-id").expect("request id"));
    assert_eq!(logged["decision"], "management_rate_limited");
    // Another principal has its own count.
    answer(&call(dev, Some(BOOT), "GET", "/keys", None), 200);
    ip_used += 1;

    // Per address, before authentication: requests without a credential count too.
    while ip_used < LIMITED_IP {
        assert_unauthenticated(&call(dev, None, "GET", "/keys", None), false);
        ip_used += 1;
    }
    assert_429(&call(dev, None, "GET", "/keys", None));
    // Now even the bootstrap principal, under its own limit, is refused from this address.
    assert_429(&call(dev, Some(BOOT), "GET", "/keys", None));
    // The data plane is not the management API's to limit.
    let r = get(&dev.url(&format!("/{}", marker("limited-data"))), None);
    assert_eq!(r.status, 401, "{}", r.text());
}

/// The log line of `r` names a fault (a 5xx decision code).
fn logged_as_fault(dev: &Dev, r: &Resp) {
    let line = dev.request_log(r.header("x-request-id").expect("request id"));
    let code = line["decision"].as_str().expect("decision");
    assert_eq!(
        keygate_core::telemetry::decision_kind(code),
        Some(keygate_core::telemetry::DecisionKind::Fault),
        "{line}"
    );
}

pub fn failing_management_log_fails_closed_with_503_and_says_what_was_done(c: &Ctx) {
    let dev = &c.log_fault;
    let consumer = marker("log-fault");
    // What needs no log still answers.
    answer(&call(dev, Some(BOOT), "GET", "/keys", None), 200);
    // The audit trail cannot be read.
    let r = call(dev, Some(BOOT), "GET", "/audit", None);
    r.problem(503);
    logged_as_fault(dev, &r);
    // An idempotent create cannot claim its idempotency key: nothing is written.
    let body = json!({"name": "x", "consumer_id": consumer});
    let r = call_raw(
        dev,
        Some(BOOT),
        "POST",
        "/keys",
        &[
            ("content-type", "application/json"),
            ("idempotency-key", consumer.as_str()),
        ],
        Some(body.to_string().into_bytes()),
    );
    r.problem(503);
    logged_as_fault(dev, &r);
    assert!(ids_of_consumer(dev, BOOT, &consumer).is_empty());
    // A plain create is made but cannot be audited: a 503 that says so, and no key in it.
    let r = call(dev, Some(BOOT), "POST", "/keys", Some(&body));
    let p = r.problem(503);
    assert_eq!(
        p["detail"], "the change was made; its audit entry was not written",
        "{p}"
    );
    logged_as_fault(dev, &r);
    assert_eq!(ids_of_consumer(dev, BOOT, &consumer).len(), 1);
}
