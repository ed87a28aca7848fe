//! The permission matrix: a root key holding one permission, against every endpoint. It is
//! answered (with the endpoint's success) exactly where the route needs that permission, and
//! 403 `insufficient_scope`, naming the permission, everywhere else.

use crate::*;
use keygate_core::management::route;
use keygate_core::root::Permission;
use keygate_core::telemetry::Decision;
use serde_json::json;

/// Every endpoint that needs a permission, as a request that succeeds when permitted, with its
/// success status. `id` is an existing key's id, `root_id` another root key's.
fn endpoints(id: &str, root_id: &str) -> Vec<(&'static str, String, Option<Value>, u16)> {
    let new_key = json!({"name":"web","consumer_id":"acme-eu"});
    let fresh = keygate_core::lifecycle::generate_key().unwrap();
    vec![
        ("POST", "/keys".into(), Some(new_key.clone()), 201),
        ("GET", "/keys".into(), None, 200),
        ("GET", format!("/keys/{id}"), None, 200),
        (
            "PATCH",
            format!("/keys/{id}"),
            Some(json!({"name":"web2"})),
            200,
        ),
        (
            "POST",
            format!("/keys/{id}/rotate"),
            Some(json!({"overlap":60})),
            201,
        ),
        ("DELETE", format!("/keys/{id}"), None, 204),
        (
            "POST",
            "/keys/import".into(),
            Some(json!({"keys":[fresh.expose()],"name":"i","consumer_id":"acme-eu"})),
            201,
        ),
        ("GET", format!("/keys/{id}/usage"), None, 200),
        (
            "POST",
            "/keys/verify".into(),
            Some(json!({"key":"kg_x","method":"GET","path":"/v1/x"})),
            200,
        ),
        ("GET", "/audit".into(), None, 200),
        (
            "POST",
            "/roots".into(),
            Some(json!({"name":"r","permissions":["roots:manage"]})),
            201,
        ),
        ("GET", "/roots".into(), None, 200),
        ("DELETE", format!("/roots/{root_id}"), None, 204),
    ]
}

#[test]
fn each_permission_opens_exactly_its_endpoints() {
    let mut cells = 0;
    for p in Permission::ALL {
        let count = endpoints("0123456789ab", "0123456789ab").len();
        for i in 0..count {
            let w = World::default();
            let (_, id) = w.key("acme-eu", json!({}));
            let (_, other_root) = w.root(&["keys:read"], None);
            let (root, _) = w.root(&[p.as_str()], None);
            let (method, path, body, ok) = endpoints(&id, &other_root).remove(i);
            let needs = route(method, &format!("{BASE}{path}"))
                .unwrap()
                .permission();
            let a = w.as_(&root, method, &path, body);
            let label = format!("{} × {method} {path}", p.as_str());
            if needs == Some(p) {
                assert_eq!(a.status, ok, "{label}: {}", a.body);
                assert_eq!(a.log.decision, Decision::ManagementOk, "{label}");
            } else {
                assert_eq!(a.status, 403, "{label}: {}", a.body);
                assert_own_headers(&a);
                let needed = needs.unwrap().as_str();
                assert_eq!(
                    header(&a, "www-authenticate"),
                    Some(
                        format!(
                            r#"Bearer realm="keygate-management", error="insufficient_scope", scope="{needed}""#
                        )
                        .as_str()
                    ),
                    "{label}"
                );
                assert_eq!(code(&a), "insufficient_scope");
                assert_eq!(a.log.decision, Decision::ManagementForbidden);
                assert_eq!(w.key_records(), 1, "{label}: nothing written");
            }
            cells += 1;
        }
    }
    assert_eq!(cells, 7 * 13);
}

#[test]
fn the_bootstrap_principal_opens_every_endpoint() {
    for i in 0..13 {
        let w = World::default();
        let (_, id) = w.key("acme-eu", json!({}));
        let (_, other_root) = w.root(&["keys:read"], None);
        let (method, path, body, ok) = endpoints(&id, &other_root).remove(i);
        let a = w.admin(method, &path, body);
        assert_eq!(a.status, ok, "{method} {path}: {}", a.body);
    }
}

#[test]
fn the_permission_is_checked_before_the_body() {
    let w = World::default();
    let (root, _) = w.root(&["keys:read"], None);
    let a = w.call(Req::new("POST", "/keys").bearer(&root).raw_json("not json"));
    assert_eq!(a.status, 403);
}
