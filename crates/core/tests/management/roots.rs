//! Root keys over the API: created once with their key, listed and revoked, with no escalation:
//! a root key grants only permissions it holds, only within its own consumer prefix, and sees
//! only the root keys confined within it.

use crate::*;
use keygate_core::keyformat::{classify_with, KeyShape, ROOT_PREFIX};
use serde_json::json;

#[test]
fn a_root_key_is_created_once_listed_and_revoked() {
    let w = World::default();
    let a = w.admin(
        "POST",
        "/roots",
        Some(json!({"name":"support","permissions":["keys:read","usage:read"],"consumer_prefix":"acme-"})),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    assert_own_headers(&a);
    let v = json(&a);
    let key = v["key"].as_str().unwrap().to_owned();
    assert_eq!(classify_with(ROOT_PREFIX, &key), KeyShape::Valid);
    let id = v["record"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        v["record"],
        json!({"id": id, "name":"support","permissions":["keys:read","usage:read"],
            "consumer_prefix":"acme-","created_at": NOW})
    );
    // It works, with what it was given.
    assert_eq!(w.as_(&key, "GET", "/keys", None).status, 200);
    assert_eq!(w.as_(&key, "GET", "/audit", None).status, 403);
    let a = w.admin("GET", "/roots", None);
    assert_eq!(json(&a)["roots"], json!([v["record"]]));
    let unconfined = w.admin(
        "POST",
        "/roots",
        Some(json!({"name":"all","permissions":["keys:read"]})),
    );
    assert_eq!(json(&unconfined)["record"]["consumer_prefix"], Value::Null);
    assert_eq!(w.admin("DELETE", &format!("/roots/{id}"), None).status, 204);
    assert_eq!(w.as_(&key, "GET", "/keys", None).status, 401);
    assert_eq!(w.admin("DELETE", &format!("/roots/{id}"), None).status, 404);
}

#[test]
fn a_root_key_grants_nothing_beyond_itself() {
    let w = World::default();
    let (root, _) = w.root(&["roots:manage", "keys:read"], Some("acme-"));
    for (body, ok) in [
        (
            json!({"name":"x","permissions":["keys:read"],"consumer_prefix":"acme-eu"}),
            true,
        ),
        (
            json!({"name":"x","permissions":["roots:manage"],"consumer_prefix":"acme-"}),
            true,
        ),
        (
            json!({"name":"x","permissions":["keys:write"],"consumer_prefix":"acme-"}),
            false,
        ),
        (
            json!({"name":"x","permissions":["keys:read"],"consumer_prefix":"acm"}),
            false,
        ),
        (
            json!({"name":"x","permissions":["keys:read"],"consumer_prefix":"globex"}),
            false,
        ),
        (json!({"name":"x","permissions":["keys:read"]}), false),
    ] {
        let a = w.as_(&root, "POST", "/roots", Some(body.clone()));
        assert_eq!(a.status, if ok { 201 } else { 403 }, "{body}: {}", a.body);
        if !ok {
            assert!(header(&a, "www-authenticate")
                .unwrap()
                .contains("roots:manage"));
        }
    }
}

#[test]
fn a_confined_root_key_sees_and_revokes_only_roots_within_its_prefix() {
    let w = World::default();
    let (_, inside) = w.root(&["keys:read"], Some("acme-eu"));
    let (_, outside) = w.root(&["keys:read"], Some("globex"));
    let (_, everywhere) = w.root(&["keys:read"], None);
    let (root, own) = w.root(&["roots:manage"], Some("acme-"));
    let a = w.as_(&root, "GET", "/roots", None);
    let mut ids: Vec<String> = json(&a)["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut want = vec![inside.clone(), own.clone()];
    want.sort();
    assert_eq!(ids, want);
    for id in [&outside, &everywhere] {
        let a = w.as_(&root, "DELETE", &format!("/roots/{id}"), None);
        let never = w.as_(&root, "DELETE", "/roots/0123456789ab", None);
        assert_eq!(a.status, 404);
        assert_eq!(a.body, never.body);
    }
    assert_eq!(
        w.as_(&root, "DELETE", &format!("/roots/{inside}"), None)
            .status,
        204
    );
    assert_eq!(
        json(&w.admin("GET", "/roots", None))["roots"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_new_root_key_is_checked_field_by_field() {
    let w = World::default();
    let a = w.admin(
        "POST",
        "/roots",
        Some(json!({"name":"","permissions":["keys:nuke"],"consumer_prefix":"a b","x":1})),
    );
    assert_eq!(fields(&a), ["consumer_prefix", "name", "permissions", "x"]);
    let a = w.admin("POST", "/roots", Some(json!({"permissions":[]})));
    assert_eq!(fields(&a), ["permissions", "name"]);
}
