//! The response contract: a missing or malformed credential (401 and 400 with their
//! challenges), invalid keys that all look alike, corrupt records, configuration errors (500), a
//! failing key store (503), an unreachable or slow origin (502, 504), and the origin's own
//! answers passed back unchanged.

use super::{assert_invalid_request, fixture_key, raw_get, Ctx};
use keygate_e2e::*;
use std::time::Duration;

pub fn no_authorization_header_gets_401_with_a_bare_bearer_challenge(c: &Ctx) {
    let m = marker("noauth");
    let r = get(&c.main.url(&format!("/{m}")), None);
    r.problem(401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"keygate\"")
    );
    assert!(c.origin.received_with(&m).is_empty());
}

/// Sends each set of raw header lines and expects 400 `invalid_request` with nothing forwarded.
fn refused_as_invalid_request(c: &Ctx, tag: &str, header_lines: &[String]) {
    let m = marker(tag);
    for lines in header_lines {
        let r = raw_get(&c.main, &format!("/{m}"), lines);
        assert_invalid_request(&r);
    }
    assert!(c.origin.received_with(&m).is_empty());
}

fn auth_lines(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .map(|v| format!("Authorization: {v}\r\n"))
        .collect()
}

pub fn wrong_scheme_gets_400_invalid_request(c: &Ctx) {
    refused_as_invalid_request(
        c,
        "scheme",
        &auth_lines(&["Basic dXNlcjpwYXNz", "Token abc", "Bearerabc"]),
    );
}

pub fn empty_token_gets_400_invalid_request(c: &Ctx) {
    refused_as_invalid_request(
        c,
        "empty",
        &auth_lines(&["Bearer", "Bearer ", "bearer    "]),
    );
}

pub fn token_with_bad_characters_gets_400_invalid_request(c: &Ctx) {
    let values = [
        "Bearer a b",
        "Bearer \"abc\"",
        "Bearer ab=c",
        "Bearer a;b",
        "Bearer\tabc",
        "Bearer caf\u{e9}",
    ];
    refused_as_invalid_request(c, "badchars", &auth_lines(&values));
}

pub fn two_authorization_headers_get_400_invalid_request(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let pairs = [(key.as_str(), key.as_str()), (key.as_str(), "kg_other")];
    let lines: Vec<String> = pairs
        .iter()
        .map(|(a, b)| format!("Authorization: Bearer {a}\r\nAuthorization: Bearer {b}\r\n"))
        .collect();
    refused_as_invalid_request(c, "twoauth", &lines);
}

pub fn token_over_4_kib_gets_400_invalid_request(c: &Ctx) {
    let m = marker("long");
    let r = get(&c.main.url(&format!("/{m}")), Some(&"a".repeat(4097)));
    assert_invalid_request(&r);
    assert!(c.origin.received_with(&m).is_empty());
}

pub fn unknown_disabled_and_expired_keys_are_indistinguishable(c: &Ctx) {
    let m = marker("invalid");
    let url = c.main.url(&format!("/{m}"));
    // Unknown: a well-formed key that was never stored.
    let unknown = get(&url, Some(&fixture_key("neverissued")));
    // Disabled: a stored record with the disabled flag (the CLI's `disable` comes later).
    let disabled_key = &fixture_key("disabled");
    remember_key(disabled_key);
    let h = keygate_core::ApiKey::new(disabled_key).hash();
    let rec = serde_json::json!({"v":1,"id":h.id(),"name":"off","consumer_id":"c","created_at":1,"disabled":true});
    c.main.kv_put_raw(h.as_kv_key(), &rec.to_string());
    let disabled = get(&url, Some(disabled_key));
    // Expired: a record whose expiry passed.
    let expired_key = &fixture_key("expired");
    remember_key(expired_key);
    let h = keygate_core::ApiKey::new(expired_key).hash();
    let rec = serde_json::json!({"v":1,"id":h.id(),"name":"old","consumer_id":"c","created_at":1,"expires_at":2});
    c.main.kv_put_raw(h.as_kv_key(), &rec.to_string());
    let expired = get(&url, Some(expired_key));

    let first = without_request_id(unknown.problem(401));
    for r in [&disabled, &expired] {
        assert_eq!(without_request_id(r.problem(401)), first);
        assert_eq!(
            r.header("www-authenticate"),
            unknown.header("www-authenticate")
        );
    }
    let challenge = unknown.header("www-authenticate").expect("challenge");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(c.origin.received_with(&m).is_empty());
}

pub fn corrupt_record_is_an_invalid_token_not_a_500(c: &Ctx) {
    let m = marker("corrupt");
    let key = &fixture_key("corrupt");
    remember_key(key);
    let h = keygate_core::ApiKey::new(key).hash();
    c.main.kv_put_raw(h.as_kv_key(), "{not json");
    let r = get(&c.main.url(&format!("/{m}")), Some(key));
    let p = r.problem(401);
    assert_eq!(p["type"], "urn:keygate:problem:invalid_token");
    // A record stored under another key's hash is refused too.
    let other = &fixture_key("wronghash");
    remember_key(other);
    let oh = keygate_core::ApiKey::new(other).hash();
    let rec = serde_json::json!({"v":1,"id":h.id(),"name":"x","consumer_id":"c","created_at":1});
    c.main.kv_put_raw(oh.as_kv_key(), &rec.to_string());
    get(&c.main.url(&format!("/{m}")), Some(other)).problem(401);
    assert!(c.origin.received_with(&m).is_empty());
    assert!(
        c.main.log_contains("corrupt_record"),
        "corrupt records are logged as such"
    );
}

pub fn missing_shared_secret_is_a_500_and_origin_is_never_contacted(c: &Ctx) {
    let m = marker("nosecret");
    for key in [None, Some("kg_anything")] {
        let r = get(&c.no_secret.url(&format!("/{m}")), key);
        let p = r.problem(500);
        assert_eq!(p["title"], "Server configuration error");
    }
    assert!(c.origin.received_with(&m).is_empty());
    assert!(c.no_secret.log_contains("SHARED_SECRET is not set"));
}

pub fn invalid_origin_url_is_a_500(c: &Ctx) {
    let r = get(&c.bad_origin.url("/x"), Some("kg_anything"));
    assert_eq!(r.problem(500)["title"], "Server configuration error");
    assert!(c.bad_origin.log_contains("ORIGIN_URL is invalid"));
}

pub fn kv_read_failure_fails_closed_with_503_and_retry_after(c: &Ctx) {
    // API_KEYS is bound to a worker whose reads throw: a KV outage, as the gateway sees one.
    let m = marker("kvfault");
    let r = get(
        &c.kv_fault.url(&format!("/{m}")),
        Some(&fixture_key("outage")),
    );
    let p = r.problem(503);
    assert_eq!(p["type"], "urn:keygate:problem:key_store_unavailable");
    assert!(r
        .header("retry-after")
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|s| s > 0));
    assert!(
        c.origin.received_with(&m).is_empty(),
        "fail closed: nothing reaches the origin"
    );
    assert!(c.kv_fault.log_contains("store_unavailable"));
}

pub fn unreachable_origin_gets_502(c: &Ctx) {
    let key = c.dead_origin.create_key(&[]);
    let r = get(&c.dead_origin.url("/x"), Some(&key));
    assert_eq!(r.problem(502)["title"], "Origin unreachable");
}

pub fn slow_origin_gets_504_after_the_configured_timeout(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("slow");
    let started = std::time::Instant::now();
    let r = get(
        &c.main.url(&format!("/{m}/__test/slow?ms=6000")),
        Some(&key),
    );
    r.problem(504);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "504 came after {:?}",
        started.elapsed()
    );
    // Just under the timeout is still answered.
    let ok = get(&c.main.url(&format!("/{m}/__test/slow?ms=200")), Some(&key));
    assert_eq!(ok.status, 200);
}

/// `ORIGIN_TIMEOUT_MS` bounds the wait for the origin's answer head (README, "Responses"), not
/// the body: an answer that has begun arrives whole, however long its body takes.
pub fn a_body_that_streams_past_the_origin_timeout_arrives_whole(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("drip");
    let started = std::time::Instant::now();
    // Six chunks over 3 s, twice the instance's 1500 ms timeout.
    let r = get(
        &c.main.url(&format!("/{m}/__test/drip?ms=3000&n=6")),
        Some(&key),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "drip\n".repeat(6), "the body was cut short");
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "the body did not take longer than the timeout: {:?}",
        started.elapsed()
    );
}

pub fn origin_status_headers_and_body_come_back_unchanged(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("status");
    for code in [201u16, 404, 418, 500, 503] {
        let r = get(
            &c.main.url(&format!("/{m}/__test/status?code={code}")),
            Some(&key),
        );
        assert_eq!(r.status, code);
        assert_eq!(r.header("x-origin-status"), Some(code.to_string().as_str()));
        assert_eq!(r.text(), "status");
        assert!(r.header("x-request-id").is_some());
    }
}
