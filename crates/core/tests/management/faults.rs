//! Faults fail closed: a store that cannot answer is a 503 (500 for configuration and corrupt
//! records), nothing is left half-done, and a write whose audit entry cannot be written says so.

use crate::*;
use keygate_core::kv::memory::{MemoryEntry, Op};
use keygate_core::management_log::CallKind;
use keygate_core::telemetry::Decision;
use serde_json::json;

#[test]
fn a_kv_fault_is_a_503_and_writes_nothing() {
    let w = World::default();
    let (_, id) = w.key("acme-eu", json!({}));
    w.kv.inner.fail(Some(Op::Put), "KV PUT failed: 500");
    for (method, path, body) in [
        (
            "POST",
            "/keys".to_owned(),
            Some(json!({"name":"web","consumer_id":"acme-eu"})),
        ),
        ("PATCH", format!("/keys/{id}"), Some(json!({"name":"x"}))),
        ("POST", format!("/keys/{id}/rotate"), None),
        (
            "POST",
            "/roots".into(),
            Some(json!({"name":"r","permissions":["keys:read"]})),
        ),
    ] {
        let a = w.admin(method, &path, body);
        assert_eq!(a.status, 503, "{method} {path}: {}", a.body);
        assert_own_headers(&a);
        assert_eq!(header(&a, "retry-after"), Some("5"));
        assert_eq!(a.log.decision, Decision::StoreUnavailable);
        assert!(a.log.detail.as_deref().unwrap().contains("KV PUT failed"));
        assert!(a.is_fault());
    }
    assert_eq!(w.key_records(), 1, "nothing more was written");
    assert_eq!(
        w.log.tables.audit().len(),
        1,
        "only the first create was audited"
    );
    w.kv.inner.heal();
    w.kv.inner.fail(None, "KV down");
    for path in ["/keys".to_owned(), format!("/keys/{id}"), "/roots".into()] {
        assert_eq!(w.admin("GET", &path, None).status, 503, "{path}");
    }
}

#[test]
fn a_root_key_that_cannot_be_looked_up_is_a_503_not_a_401() {
    let w = World::default();
    let (root, _) = w.root(&["keys:read"], None);
    w.kv.inner.fail(Some(Op::Get), "KV GET failed: 503");
    let a = w.as_(&root, "GET", "/keys", None);
    assert_eq!(a.status, 503);
}

#[test]
fn an_audit_append_that_fails_is_a_503_that_says_the_change_was_made() {
    let w = World::default();
    w.log.fail(CallKind::Append);
    let a = w.admin(
        "POST",
        "/keys",
        Some(json!({"name":"web","consumer_id":"acme-eu"})),
    );
    assert_eq!(a.status, 503);
    assert_eq!(
        json(&a)["detail"],
        "the change was made; its audit entry was not written"
    );
    assert!(!a.body.contains("kg_"), "the key is not shown in a failure");
    assert!(a.is_fault());
    assert!(a
        .log
        .detail
        .as_deref()
        .unwrap()
        .contains("audit entry was not written"));
    assert_eq!(w.key_records(), 1, "the change stands");
}

#[test]
fn a_quota_counter_fault_is_a_503_and_a_missing_one_a_500() {
    let w = World::default();
    let (_, id) = w.key("acme-eu", json!({"quota":{"limit":5,"period":"day"}}));
    w.quotas.failing.set(true);
    let a = w.admin("GET", &format!("/keys/{id}/usage"), None);
    assert_eq!(a.status, 503);
    assert_eq!(a.log.decision, Decision::QuotaStoreUnavailable);
    w.quotas.failing.set(false);
    w.quotas.missing.set(true);
    let a = w.admin("GET", &format!("/keys/{id}/usage"), None);
    assert_eq!(a.status, 500);
    assert_eq!(a.log.decision, Decision::ConfigError);
}

#[test]
fn a_corrupt_record_is_a_500_for_whoever_may_see_everything_and_a_404_for_a_confined_key() {
    let w = World::default();
    let (_, id) = w.key("acme-eu", json!({}));
    let name =
        w.kv.inner
            .entries()
            .into_keys()
            .find(|n| n.starts_with(&id))
            .unwrap();
    w.kv.inner
        .edit(&name, |e: &mut MemoryEntry| e.value = "{not json".into());
    let a = w.admin("GET", &format!("/keys/{id}"), None);
    assert_eq!(a.status, 500);
    assert_eq!(a.log.decision, Decision::CorruptRecord);
    assert!(!a.body.contains("not json"));
    let (acme, _) = w.root(&["keys:read"], Some("acme-"));
    let a = w.as_(&acme, "GET", &format!("/keys/{id}"), None);
    assert_eq!(a.status, 404);
}

#[test]
fn an_audit_trail_that_cannot_be_read_is_a_503() {
    let w = World::default();
    w.log.fail(CallKind::List);
    let a = w.admin("GET", "/audit", None);
    assert_eq!(a.status, 503);
    assert_eq!(a.log.decision, Decision::StoreUnavailable);
}
