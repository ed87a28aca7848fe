//! The tenant guard: a root key confined to `acme-` cannot read, change, rotate, revoke, list,
//! verify or audit a `globex` key, and gets no hint that it exists: the same 404 as for an id
//! that was never issued, header for header and byte for byte apart from the request id.

use crate::*;
use keygate_core::management_api::Answer;
use serde_json::json;

/// An answer with its request id blanked out, to compare two answers.
fn comparable(a: &Answer) -> (u16, Vec<(String, String)>, Value) {
    let mut body = json(a);
    body["request_id"] = Value::Null;
    let mut headers: Vec<(String, String)> = a
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (a.status, headers, body)
}

#[test]
fn a_key_outside_the_prefix_is_answered_exactly_as_an_unknown_id() {
    let w = World::default();
    let (_, globex) = w.key("globex", json!({"quota":{"limit":5,"period":"day"}}));
    let (_, acme) = w.key("acme-eu", json!({}));
    let (root, _) = w.root(
        &["keys:read", "keys:write", "keys:revoke", "usage:read"],
        Some("acme-"),
    );
    let unknown = "0123456789ab";
    for (method, suffix, body) in [
        ("GET", "", None),
        ("PATCH", "", Some(json!({"name":"mine now"}))),
        ("POST", "/rotate", None),
        ("GET", "/usage", None),
        ("DELETE", "", None),
    ] {
        let outside = w.as_(
            &root,
            method,
            &format!("/keys/{globex}{suffix}"),
            body.clone(),
        );
        let never = w.as_(&root, method, &format!("/keys/{unknown}{suffix}"), body);
        assert_eq!(outside.status, 404, "{method} {suffix}");
        assert_eq!(
            comparable(&outside),
            comparable(&never),
            "{method} {suffix}"
        );
        assert_eq!(outside.log.decision, never.log.decision);
    }
    // Untouched.
    let a = w.admin("GET", &format!("/keys/{globex}"), None);
    assert_eq!(json(&a)["name"], "web");
    assert_eq!(json(&a)["state"], "active");
    // Its own consumers' keys it reaches.
    assert_eq!(
        w.as_(&root, "GET", &format!("/keys/{acme}"), None).status,
        200
    );
    assert_eq!(
        w.log.tables.audit().len(),
        2,
        "only the two creates: nothing else was done"
    );
}

#[test]
fn a_confined_list_shows_only_its_consumers_and_an_outside_filter_is_empty() {
    let w = World::default();
    for c in ["acme-eu", "acme-us", "globex", "acmex"] {
        w.key(c, json!({}));
    }
    let (root, _) = w.root(&["keys:read"], Some("acme-"));
    let a = w.as_(&root, "GET", "/keys", None);
    let mut consumers: Vec<String> = json(&a)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["consumer_id"].as_str().unwrap().to_owned())
        .collect();
    consumers.sort();
    assert_eq!(consumers, ["acme-eu", "acme-us"]);
    for q in ["/keys?consumer=globex", "/keys?consumer=acmex"] {
        let a = w.as_(&root, "GET", q, None);
        assert_eq!(json(&a), json!({"keys": [], "cursor": null}), "{q}");
    }
}

#[test]
fn a_confined_key_creates_and_imports_only_inside_its_prefix() {
    let w = World::default();
    let (root, _) = w.root(&["keys:write"], Some("acme-"));
    let a = w.as_(
        &root,
        "POST",
        "/keys",
        Some(json!({"name":"x","consumer_id":"globex"})),
    );
    assert_eq!(a.status, 403);
    assert_eq!(
        json(&a)["detail"],
        "consumer_id is outside this root key's consumer prefix"
    );
    let fresh = keygate_core::lifecycle::generate_key().unwrap();
    let a = w.as_(
        &root,
        "POST",
        "/keys/import",
        Some(json!({"keys":[fresh.expose()],"name":"x","consumer_id":"globex"})),
    );
    assert_eq!(a.status, 403);
    assert_eq!(w.key_records(), 0);
    let a = w.as_(
        &root,
        "POST",
        "/keys",
        Some(json!({"name":"x","consumer_id":"acme-eu"})),
    );
    assert_eq!(a.status, 201);
}

#[test]
fn verify_of_a_key_outside_the_prefix_is_the_answer_for_an_unknown_key() {
    let w = World::default();
    let (globex_key, _) = w.key("globex", json!({}));
    let (root, _) = w.root(&["keys:verify"], Some("acme-"));
    let never = keygate_core::lifecycle::generate_key().unwrap();
    let ask = |k: &str| {
        let a = w.as_(
            &root,
            "POST",
            "/keys/verify",
            Some(json!({"key":k,"method":"GET","path":"/v1"})),
        );
        assert_eq!(a.status, 200);
        let mut v = json(&a);
        // The key id is the presented key's own hash prefix, which its holder knows anyway.
        v["key_id"] = Value::Null;
        v
    };
    assert_eq!(ask(&globex_key), ask(never.expose()));
    assert_eq!(ask(&globex_key)["code"], "unknown_key");
    // Even a disabled one.
    let (k2, id2) = w.key("globex", json!({}));
    w.admin(
        "PATCH",
        &format!("/keys/{id2}"),
        Some(json!({"enabled": false})),
    );
    assert_eq!(ask(&k2)["code"], "unknown_key");
}

#[test]
fn a_confined_audit_reader_sees_its_consumers_entries_only() {
    let w = World::default();
    w.key("acme-eu", json!({}));
    w.key("globex", json!({}));
    w.admin(
        "POST",
        "/roots",
        Some(json!({"name":"a","permissions":["keys:read"],"consumer_prefix":"acme-eu"})),
    );
    w.admin(
        "POST",
        "/roots",
        Some(json!({"name":"g","permissions":["keys:read"],"consumer_prefix":"globex"})),
    );
    w.admin(
        "POST",
        "/roots",
        Some(json!({"name":"all","permissions":["keys:read"]})),
    );
    let (root, _) = w.root(&["audit:read"], Some("acme-"));
    let a = w.as_(&root, "GET", "/audit", None);
    let entries = json(&a)["entries"].as_array().unwrap().clone();
    let seen: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["consumer_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("key.create".to_owned(), "acme-eu".to_owned()),
            ("root.create".to_owned(), "acme-eu".to_owned())
        ]
    );
    assert_eq!(
        json(&w.admin("GET", "/audit", None))["entries"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}
