//! `POST /keys/verify`: the data plane's decision, by its own rules, without forwarding and
//! without spending rate limit or quota.

use crate::*;
use keygate_core::limits::{Quota, QuotaPeriod, QuotaScope};
use keygate_core::management_api::{IP_LIMIT_BINDING, KEY_LIMIT_BINDING};
use serde_json::json;

fn verify(w: &World, key: &str, method: &str, path: &str) -> Value {
    let a = w.admin(
        "POST",
        "/keys/verify",
        Some(json!({"key": key, "method": method, "path": path})),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    json(&a)
}

#[test]
fn a_valid_key_is_accepted_with_its_consumer_scopes_and_remaining_quota() {
    let w = World::default();
    let (key, id) = w.key(
        "acme-eu",
        json!({"scopes":["GET /v1/*"],"quota":{"limit":10,"period":"day"}}),
    );
    let q = Quota {
        limit: 10,
        period: QuotaPeriod::Day,
        per: QuotaScope::Key,
    };
    w.set_used(&q, &id, "acme-eu", 3);
    let v = verify(&w, &key, "GET", "/v1/orders");
    let day = NOW - NOW % 86_400;
    assert_eq!(
        v,
        json!({"valid":true,"code":"accepted","key_id":id,"consumer_id":"acme-eu",
            "scopes":["GET /v1/*"],"quota":{"limit":10,"remaining":7,"resets_at": day + 86_400}})
    );
    // Nothing was spent: asking again reads the same, and no tier limit was counted.
    assert_eq!(verify(&w, &key, "GET", "/v1/orders"), v);
    let counted: u32 = w
        .limiter
        .counts
        .borrow()
        .iter()
        .filter(|((b, _), _)| b != IP_LIMIT_BINDING && b != KEY_LIMIT_BINDING)
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(counted, 0);
    let (plain, _) = w.key("acme-eu", json!({}));
    assert_eq!(
        verify(&w, &plain, "DELETE", "/anything")["quota"],
        Value::Null
    );
}

#[test]
fn every_refusal_carries_the_data_planes_code() {
    let w = World::default();
    let (scoped, _) = w.key("acme-eu", json!({"scopes":["GET /v1/*"]}));
    let (disabled, did) = w.key("acme-eu", json!({}));
    w.admin(
        "PATCH",
        &format!("/keys/{did}"),
        Some(json!({"enabled": false})),
    );
    let (expiring, _) = w.key("acme-eu", json!({"expires_at": NOW + 5}));
    let (full, fid) = w.key("acme-eu", json!({"quota":{"limit":2,"period":"hour"}}));
    let q = Quota {
        limit: 2,
        period: QuotaPeriod::Hour,
        per: QuotaScope::Key,
    };
    w.set_used(&q, &fid, "acme-eu", 2);
    let root = keygate_core::root::RootKey::generate().unwrap();
    let unknown = keygate_core::lifecycle::generate_key().unwrap();
    let mut bad = unknown.expose().to_owned().into_bytes();
    bad[5] = if bad[5] == b'a' { b'b' } else { b'a' };
    let bad = String::from_utf8(bad).unwrap();
    w.now.set(NOW + 5);
    for (key, method, path, code) in [
        (scoped.as_str(), "POST", "/v1/orders", "out_of_scope"),
        (scoped.as_str(), "GET", "/v2/orders", "out_of_scope"),
        (disabled.as_str(), "GET", "/", "disabled"),
        (expiring.as_str(), "GET", "/", "expired"),
        (full.as_str(), "GET", "/", "quota_exhausted"),
        (root.expose(), "GET", "/", "root_key_refused"),
        (unknown.expose(), "GET", "/", "unknown_key"),
        (bad.as_str(), "GET", "/", "bad_checksum"),
        ("not a key", "GET", "/", "malformed_credential"),
        ("", "GET", "/", "malformed_credential"),
        (scoped.as_str(), "TRACE", "/v1/x", "method_not_allowed"),
        (scoped.as_str(), "GET", "/v1/a%2fb", "bad_path"),
        (scoped.as_str(), "GET", "/v1/a\\b", "bad_path"),
        (
            scoped.as_str(),
            "GET",
            &format!("/v1/{}", unknown.expose()),
            "key_in_path",
        ),
    ] {
        let v = verify(&w, key, method, path);
        assert_eq!(v["valid"], false, "{code}");
        assert_eq!(v["code"], code, "{key} {method} {path}");
        assert!(
            v.get("consumer_id").is_none() && v.get("scopes").is_none(),
            "{v}"
        );
    }
    assert_eq!(
        w.quotas.reads.get(),
        1,
        "only the accepted-so-far key's quota was read"
    );
}

#[test]
fn a_question_that_is_not_one_is_422() {
    let w = World::default();
    let a = w.admin(
        "POST",
        "/keys/verify",
        Some(json!({"key": 5, "method": "G T", "path": "v1", "x": 1})),
    );
    assert_eq!(fields(&a), ["key", "method", "path", "x"]);
    let a = w.admin("POST", "/keys/verify", Some(json!({})));
    assert_eq!(fields(&a), ["key", "method", "path"]);
}

#[test]
fn a_key_with_an_unknown_tier_is_a_configuration_fault_as_on_the_data_plane() {
    let w = World::default();
    let (key, _) = w.key("acme-eu", json!({"tier":"gold"}));
    let a = w.admin(
        "POST",
        "/keys/verify",
        Some(json!({"key": key, "method":"GET","path":"/"})),
    );
    assert_eq!(a.status, 500);
    assert!(!a.body.contains(&key));
}
