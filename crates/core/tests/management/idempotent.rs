//! Idempotent create: one key however many retries, the first answer replayed, a different
//! body refused, a retry that waits for the first, a failed first that frees the key for a retry.

use crate::*;
use futures::future::join_all;
use keygate_core::audit::AuditAction;
use keygate_core::idempotency::{self, ClaimState, StoredClaim};
use keygate_core::kv::memory::Op;
use keygate_core::management_log::CallKind;
use keygate_core::telemetry::Decision;
use serde_json::json;

fn create(key: &str, body: &Value) -> Req<'static> {
    Req::new("POST", "/keys")
        .bearer(ADMIN)
        .header("idempotency-key", key)
        .json(body)
}

fn body() -> Value {
    json!({"name":"signup","consumer_id":"acme-eu","scopes":["GET /v1/*"]})
}

#[test]
fn twenty_concurrent_retries_make_exactly_one_key() {
    let mut w = World::default();
    w.kv.yields = 3;
    let answers = pollster::block_on(join_all(
        (0..20).map(|_| w.send(create("signup-42", &body()))),
    ));
    assert_eq!(w.key_records(), 1, "exactly one key stored");
    let first = &answers[0];
    assert_eq!(first.status, 201, "{}", first.body);
    for a in &answers {
        assert_eq!(a.status, 201, "{}", a.body);
        assert_eq!(a.body, first.body, "every retry gets the first answer");
        assert_eq!(header(a, "location"), header(first, "location"));
    }
    let replayed = answers
        .iter()
        .filter(|a| header(a, "idempotent-replayed") == Some("true"))
        .count();
    assert_eq!(replayed, 19);
    assert!(w.sleep.slept_ms.get() > 0, "retries waited for the first");
    let creates: Vec<_> = w
        .log
        .tables
        .audit()
        .into_iter()
        .filter(|e| e.action == AuditAction::KeyCreate)
        .collect();
    assert_eq!(creates.len(), 1, "one audit entry");
    // The stored answer holds no key.
    let key = json(first)["key"].as_str().unwrap().to_owned();
    for row in w.log.tables.claims().values() {
        assert!(!row.body.as_deref().unwrap_or("").contains(&key));
        assert_eq!(row.state, ClaimState::Done);
    }
}

#[test]
fn a_retry_gets_the_first_answer_and_another_body_a_conflict() {
    let w = World::default();
    let first = w.call(create("k1", &body()));
    assert_eq!(first.status, 201);
    assert_eq!(header(&first, "idempotent-replayed"), None);
    // The same body written differently is the same request.
    let same = w.call(
        Req::new("POST", "/keys")
            .bearer(ADMIN)
            .header("idempotency-key", "k1")
            .raw_json(r#"{ "scopes" : ["GET /v1/*"], "consumer_id":"acme-eu", "name":"signup" }"#),
    );
    assert_eq!(same.status, 201);
    assert_eq!(same.body, first.body);
    assert_eq!(header(&same, "idempotent-replayed"), Some("true"));
    let other = w.call(create(
        "k1",
        &json!({"name":"other","consumer_id":"acme-eu"}),
    ));
    assert_eq!(other.status, 409);
    assert_eq!(other.log.decision, Decision::ManagementConflict);
    assert_eq!(header(&other, "retry-after"), None);
    // Another idempotency key, or no key at all, is another key.
    assert_ne!(w.call(create("k2", &body())).body, first.body);
    assert_eq!(w.admin("POST", "/keys", Some(body())).status, 201);
    assert_eq!(w.key_records(), 3);
}

#[test]
fn idempotency_keys_are_scoped_per_principal() {
    let w = World::default();
    let (root, _) = w.root(&["keys:write"], None);
    let a = w.call(create("same", &body()));
    let mut r = create("same", &body());
    r.headers[0].1 = format!("Bearer {root}");
    let b = w.call(r);
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(json(&a)["key"], json(&b)["key"]);
    assert_eq!(header(&b, "idempotent-replayed"), None);
}

#[test]
fn after_24_hours_the_same_idempotency_key_makes_a_new_key() {
    let w = World::default();
    let first = w.call(create("k", &body()));
    w.now.set(NOW + idempotency::TTL_SECS - 1);
    assert_eq!(w.call(create("k", &body())).body, first.body);
    w.now.set(NOW + idempotency::TTL_SECS);
    let later = w.call(create("k", &body()));
    assert_eq!(later.status, 201);
    assert_ne!(json(&later)["key"], json(&first)["key"]);
    assert_eq!(w.key_records(), 2);
}

#[test]
fn a_retry_waits_about_ten_seconds_for_the_first_then_gets_409() {
    let w = World::default();
    // A first request that claimed the key and is still running.
    let fp = idempotency::fingerprint(&body());
    let row = StoredClaim {
        fingerprint: fp,
        salt: "s".into(),
        state: ClaimState::Pending,
        status: None,
        body: None,
        created_at: NOW,
    };
    use keygate_core::management_log::LogTables;
    w.log
        .tables
        .upsert_claim("bootstrap", "busy", &row)
        .unwrap();
    let a = w.call(create("busy", &body()));
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(header(&a, "retry-after"), Some("1"));
    assert_eq!(w.sleep.slept_ms.get(), 10_000);
    assert_eq!(w.key_records(), 0);
    let claims = w
        .log
        .calls()
        .iter()
        .filter(|c| **c == CallKind::Claim)
        .count();
    assert!((5..=20).contains(&claims), "{claims} polls");
}

#[test]
fn a_failed_create_frees_the_idempotency_key_for_a_retry() {
    let w = World::default();
    w.kv.inner.fail(Some(Op::Put), "KV PUT failed: 500");
    let a = w.call(create("k", &body()));
    assert_eq!(a.status, 503);
    assert_eq!(a.log.decision, Decision::StoreUnavailable);
    assert_eq!(w.key_records(), 0);
    assert!(w.log.tables.claims().is_empty(), "the claim was released");
    assert!(w.log.tables.audit().is_empty());
    w.kv.inner.heal();
    let b = w.call(create("k", &body()));
    assert_eq!(b.status, 201);
    assert_eq!(header(&b, "idempotent-replayed"), None);
    assert_eq!(w.key_records(), 1);
}

#[test]
fn an_unreachable_log_makes_no_key() {
    let w = World::default();
    w.log.fail(CallKind::Claim);
    let a = w.call(create("k", &body()));
    assert_eq!(a.status, 503);
    assert_eq!(header(&a, "retry-after"), Some("5"));
    assert!(a.log.detail.as_deref().unwrap().contains("management log"));
    assert_eq!(w.key_records(), 0);
}

#[test]
fn a_replay_with_another_credential_of_the_same_principal_is_a_conflict() {
    let mut w = World::default();
    assert_eq!(w.call(create("k", &body())).status, 201);
    // ADMIN_TOKEN changed: still `bootstrap`, but the first key cannot be derived again.
    w.cfg = common::config(&[("ADMIN_TOKEN", "another-admin-token-0123456789")]);
    let mut r = create("k", &body());
    r.headers[0].1 = "Bearer another-admin-token-0123456789".into();
    let a = w.call(r);
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(w.key_records(), 1);
}

#[test]
fn a_bad_idempotency_key_is_422_with_the_body_checked_too() {
    let w = World::default();
    let long = "x".repeat(256);
    for k in ["", long.as_str(), "tab\there"] {
        let a = w.call(
            Req::new("POST", "/keys")
                .bearer(ADMIN)
                .header("idempotency-key", k)
                .json(&json!({"name":"web"})),
        );
        assert_eq!(fields(&a), ["consumer_id", "Idempotency-Key"], "{k:?}");
    }
    assert_eq!(w.key_records(), 0);
}
