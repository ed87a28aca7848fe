//! The audit trail: one entry per write, naming who, what, which keys and which fields (never a
//! value), read back oldest first in pages.

use crate::*;
use serde_json::json;

#[test]
fn create_patch_rotate_revoke_leave_four_entries_in_order() {
    let w = World::default();
    let (root, root_id) = w.root(&["keys:write", "keys:revoke", "audit:read"], None);
    let a = w.as_(
        &root,
        "POST",
        "/keys",
        Some(json!({"name":"web","consumer_id":"acme-eu","tier":"pro"})),
    );
    let key = json(&a)["key"].as_str().unwrap().to_owned();
    let id = json(&a)["record"]["id"].as_str().unwrap().to_owned();
    w.now.set(NOW + 1);
    w.as_(
        &root,
        "PATCH",
        &format!("/keys/{id}"),
        Some(json!({"name":"web2","tier":"pro","meta":{"a":1}})),
    );
    w.now.set(NOW + 2);
    let r = w.as_(&root, "POST", &format!("/keys/{id}/rotate"), None);
    let new_id = json(&r)["record"]["id"].as_str().unwrap().to_owned();
    w.now.set(NOW + 3);
    assert_eq!(
        w.as_(&root, "DELETE", &format!("/keys/{new_id}"), None)
            .status,
        204
    );
    let a = w.as_(&root, "GET", "/audit", None);
    assert_eq!(a.status, 200);
    assert!(!a.body.contains(&key));
    let v = json(&a);
    assert_eq!(v["cursor"], Value::Null);
    let e = |seq: u64, at: u64, action: &str, ids: Value, fields: Value| {
        json!({"seq": seq, "at": at, "actor": root_id, "action": action, "key_ids": ids,
            "consumer_id": "acme-eu", "fields": fields, "request_id": "req-1"})
    };
    assert_eq!(
        v["entries"],
        json!([
            e(
                1,
                NOW,
                "key.create",
                json!([id]),
                json!(["consumer_id", "name", "tier"])
            ),
            e(
                2,
                NOW + 1,
                "key.update",
                json!([id]),
                json!(["name", "meta"])
            ),
            e(
                3,
                NOW + 2,
                "key.rotate",
                json!([id, new_id]),
                json!(["expires_at"])
            ),
            e(4, NOW + 3, "key.revoke", json!([new_id]), json!([])),
        ])
    );
}

#[test]
fn the_trail_pages_by_cursor() {
    let w = World::default();
    for i in 0..5 {
        w.key(&format!("c{i}"), json!({}));
    }
    let mut seqs = Vec::new();
    let mut path = "/audit?limit=2".to_owned();
    loop {
        let a = w.admin("GET", &path, None);
        assert_eq!(a.status, 200, "{}", a.body);
        let v = json(&a);
        seqs.extend(
            v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap()),
        );
        match v["cursor"].as_str() {
            Some(c) => path = format!("/audit?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    for q in ["cursor=x", "cursor=-1", "cursor=0", "limit=0"] {
        assert_eq!(
            w.admin("GET", &format!("/audit?{q}"), None).status,
            422,
            "{q}"
        );
    }
}
