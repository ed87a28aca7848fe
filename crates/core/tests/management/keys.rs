//! The key endpoints, each through the lifecycle: create, show, list with filters and cursors,
//! a merge patch, rotate, revoke, import and usage.

use crate::*;
use keygate_core::keyformat::{classify, KeyShape};
use keygate_core::limits::{Quota, QuotaPeriod, QuotaScope};
use keygate_core::ApiKey;
use serde_json::json;

#[test]
fn create_answers_the_key_once_with_its_view_and_stores_only_its_hash() {
    let w = World::default();
    let a = w.admin(
        "POST",
        "/keys",
        Some(
            json!({"name":"web","consumer_id":"acme-eu","consumer_name":"Acme EU",
            "scopes":["GET:/v1/*"],"meta":{"plan":"pro"},"quota":{"limit":1000,"period":"day"},
            "expires_at": NOW + 3600}),
        ),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    assert_own_headers(&a);
    let v = json(&a);
    let key = v["key"].as_str().unwrap();
    assert_eq!(classify(key), KeyShape::Valid);
    let id = ApiKey::new(key).hash().id().to_owned();
    assert_eq!(
        header(&a, "location"),
        Some(format!("{BASE}/keys/{id}").as_str())
    );
    assert_eq!(
        v["record"],
        json!({"id": id, "name":"web","consumer_id":"acme-eu","consumer_name":"Acme EU",
            "description": null, "created_at": NOW, "expires_at": NOW + 3600, "state":"active",
            "enabled": true, "scopes":["GET /v1/*"], "meta":{"plan":"pro"}, "tier": null,
            "quota":{"limit":1000,"period":"day","per":"key"}})
    );
    for (name, e) in w.kv.inner.entries() {
        assert!(!e.value.contains(key) && !name.contains(key));
    }
    assert_eq!(a.log.key_id.as_deref(), Some(id.as_str()));
    assert_eq!(a.log.consumer_id.as_deref(), Some("acme-eu"));
    // The record reads back.
    let got = w.admin("GET", &format!("/keys/{id}"), None);
    assert_eq!(got.status, 200);
    assert_eq!(json(&got), v["record"]);
}

#[test]
fn an_unknown_id_is_404() {
    let w = World::default();
    let a = w.admin("GET", "/keys/0123456789ab", None);
    assert_eq!(a.status, 404);
    assert_own_headers(&a);
    assert_eq!(code(&a), "not_found");
}

#[test]
fn list_pages_through_every_key_once_and_filters() {
    let w = World::default();
    let mut ids = Vec::new();
    for i in 0..7 {
        let consumer = if i % 2 == 0 { "acme-eu" } else { "globex" };
        ids.push(w.key(consumer, json!({})).1);
    }
    w.admin(
        "PATCH",
        &format!("/keys/{}", ids[0]),
        Some(json!({"enabled": false})),
    );
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let q = match &cursor {
            Some(c) => format!("/keys?limit=3&cursor={c}"),
            None => "/keys?limit=3".into(),
        };
        let a = w.admin("GET", &q, None);
        assert_eq!(a.status, 200, "{}", a.body);
        let v = json(&a);
        let page = v["keys"].as_array().unwrap();
        assert!(page.len() <= 3);
        for k in page {
            seen.push(k["id"].as_str().unwrap().to_owned());
            let members: Vec<&str> = k.as_object().unwrap().keys().map(|s| s.as_str()).collect();
            assert_eq!(members.len(), 8, "{k}");
        }
        cursor = v["cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want);

    let ids_of = |q: &str| -> Vec<String> {
        let a = w.admin("GET", q, None);
        assert_eq!(a.status, 200, "{q}: {}", a.body);
        json(&a)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids_of("/keys?consumer=globex").len(), 3);
    assert_eq!(ids_of("/keys?consumer=acme-eu&state=active").len(), 3);
    assert_eq!(ids_of("/keys?state=disabled"), vec![ids[0].clone()]);
    assert_eq!(ids_of("/keys?consumer=nobody").len(), 0);
}

#[test]
fn bad_list_parameters_are_422_each_named() {
    let w = World::default();
    let a = w.admin(
        "GET",
        "/keys?limit=abc&state=gone&cursor=zz&consumer=a%20b&extra=1",
        None,
    );
    let mut f = fields(&a);
    f.sort();
    assert_eq!(f, ["consumer", "cursor", "extra", "limit", "state"]);
    for q in ["limit=0", "limit=101", "limit=-1", "limit=1&limit=2"] {
        assert_eq!(
            fields(&w.admin("GET", &format!("/keys?{q}"), None)),
            ["limit"],
            "{q}"
        );
    }
    assert_eq!(w.admin("GET", "/keys?limit=100", None).status, 200);
}

#[test]
fn a_merge_patch_changes_only_what_it_names() {
    let w = World::default();
    let (_, id) = w.key(
        "acme-eu",
        json!({"meta":{"plan":"pro","region":"eu"},"tier":"pro","description":"d"}),
    );
    let path = format!("/keys/{id}");
    let mut r = Req::new("PATCH", &path).bearer(ADMIN).header(
        "content-type",
        "application/merge-patch+json; charset=utf-8",
    );
    r.body = Some(
        json!({"name":"web2","meta":{"region":null,"seats":5},"tier":null,
            "description":null,"expires_at": NOW + 60,"scopes":["GET /a"]})
        .to_string(),
    );
    let a = w.call(r);
    assert_eq!(a.status, 200, "{}", a.body);
    let v = json(&a);
    assert_eq!(v["name"], "web2");
    assert_eq!(v["meta"], json!({"plan":"pro","seats":5}));
    assert_eq!(v["tier"], Value::Null);
    assert_eq!(v["description"], Value::Null);
    assert_eq!(v["expires_at"], NOW + 60);
    assert_eq!(v["consumer_id"], "acme-eu");
    // Disable, then clear the expiry: the key never expires, and stays disabled.
    let a = w.admin(
        "PATCH",
        &path,
        Some(json!({"enabled": false, "expires_at": null})),
    );
    let v = json(&a);
    assert_eq!(
        (v["enabled"].clone(), v["state"].clone()),
        (json!(false), json!("disabled"))
    );
    assert_eq!(v["expires_at"], Value::Null);
    assert_eq!(json(&w.admin("GET", &path, None)), v, "stored");
}

#[test]
fn a_patch_refuses_what_it_may_not_change_all_at_once() {
    let w = World::default();
    let (_, id) = w.key("acme-eu", json!({}));
    let path = format!("/keys/{id}");
    let a = w.admin(
        "PATCH",
        &path,
        Some(
            json!({"name":null,"scopes":null,"consumer_id":"x","expires_at":NOW,"enabled":"no",
            "quota":{"limit":0,"period":"week"},"color":"red"}),
        ),
    );
    let mut f = fields(&a);
    f.sort();
    f.dedup();
    assert_eq!(
        f,
        [
            "color",
            "consumer_id",
            "enabled",
            "expires_at",
            "name",
            "quota",
            "scopes"
        ]
    );
    let a = w.admin(
        "PATCH",
        &path,
        Some(json!({"meta": {"big": "x".repeat(9000)}})),
    );
    assert_eq!(fields(&a), ["meta"]);
    assert_eq!(
        json(&w.admin("GET", &path, None))["name"],
        "web",
        "nothing changed"
    );
}

#[test]
fn rotate_issues_a_new_key_and_ends_the_old_one_after_the_overlap() {
    let w = World::default();
    let (old_key, id) = w.key("acme-eu", json!({"scopes":["GET /v1/*"]}));
    let a = w.admin("POST", &format!("/keys/{id}/rotate"), None);
    assert_eq!(a.status, 201, "{}", a.body);
    let v = json(&a);
    let new_key = v["key"].as_str().unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(v["previous"]["id"], id.as_str());
    assert_eq!(v["previous"]["expires_at"], NOW + 86_400);
    assert_eq!(v["record"]["scopes"], json!(["GET /v1/*"]));
    let new_id = v["record"]["id"].as_str().unwrap();
    assert_eq!(
        header(&a, "location"),
        Some(format!("{BASE}/keys/{new_id}").as_str())
    );
    // A given overlap, never extending an earlier expiry.
    let a = w.admin(
        "POST",
        &format!("/keys/{new_id}/rotate"),
        Some(json!({"overlap": 0})),
    );
    assert_eq!(json(&a)["previous"]["expires_at"], NOW);
    // Out of range or unknown members.
    let a = w.admin(
        "POST",
        &format!("/keys/{id}/rotate"),
        Some(json!({"overlap": 2_592_001, "x": 1})),
    );
    assert_eq!(fields(&a), ["overlap", "x"]);
}

#[test]
fn rotating_a_disabled_or_expired_key_is_a_conflict() {
    let w = World::default();
    let (_, id) = w.key("acme-eu", json!({}));
    w.admin(
        "PATCH",
        &format!("/keys/{id}"),
        Some(json!({"enabled": false})),
    );
    let a = w.admin("POST", &format!("/keys/{id}/rotate"), None);
    assert_eq!(a.status, 409);
    assert_eq!(code(&a), "conflict");
    let (_, id) = w.key("acme-eu", json!({"expires_at": NOW + 10}));
    w.now.set(NOW + 10);
    assert_eq!(
        w.admin("POST", &format!("/keys/{id}/rotate"), None).status,
        409
    );
}

#[test]
fn revoke_answers_204_and_the_key_is_gone() {
    let w = World::default();
    let (_, id) = w.key("acme-eu", json!({}));
    let a = w.admin("DELETE", &format!("/keys/{id}"), None);
    assert_eq!(a.status, 204);
    assert!(a.body.is_empty());
    assert_eq!(header(&a, "content-type"), None);
    assert_own_headers(&a);
    assert_eq!(w.admin("GET", &format!("/keys/{id}"), None).status, 404);
    assert_eq!(w.admin("DELETE", &format!("/keys/{id}"), None).status, 404);
}

#[test]
fn import_stores_all_or_nothing() {
    let w = World::default();
    let keys: Vec<String> = (0..3)
        .map(|_| {
            keygate_core::lifecycle::generate_key()
                .unwrap()
                .expose()
                .to_owned()
        })
        .collect();
    let a = w.admin(
        "POST",
        "/keys/import",
        Some(json!({"keys": keys, "name":"imported","consumer_id":"acme-eu"})),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let records = json(&a)["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 3);
    assert!(!a.body.contains(&keys[0]), "an import answer holds no key");
    assert_eq!(w.key_records(), 3);
    // One already stored, or one repeated: 409 and nothing written.
    let fresh = keygate_core::lifecycle::generate_key()
        .unwrap()
        .expose()
        .to_owned();
    for list in [
        vec![fresh.clone(), keys[1].clone()],
        vec![fresh.clone(), fresh.clone()],
    ] {
        let a = w.admin(
            "POST",
            "/keys/import",
            Some(json!({"keys": list, "name":"again","consumer_id":"acme-eu"})),
        );
        assert_eq!(a.status, 409, "{}", a.body);
        assert!(!a.body.contains(&fresh));
        assert_eq!(w.key_records(), 3);
    }
    // Invalid items are named, each.
    let mut bad = keys[0].clone().into_bytes();
    bad[10] = if bad[10] == b'a' { b'b' } else { b'a' };
    let a = w.admin(
        "POST",
        "/keys/import",
        Some(
            json!({"keys": [fresh, String::from_utf8(bad).unwrap(), "a b", 5],
            "name":"x","consumer_id":"acme-eu"}),
        ),
    );
    assert_eq!(fields(&a), ["keys[1]", "keys[2]", "keys[3]"]);
    for empty in [json!([]), json!("kg_x")] {
        let a = w.admin(
            "POST",
            "/keys/import",
            Some(json!({"keys": empty, "name":"x","consumer_id":"acme-eu"})),
        );
        assert_eq!(fields(&a), ["keys"]);
    }
}

#[test]
fn usage_reads_the_counter_without_spending() {
    let w = World::default();
    let (_, plain) = w.key("acme-eu", json!({}));
    let a = w.admin("GET", &format!("/keys/{plain}/usage"), None);
    assert_eq!(json(&a), json!({"id": plain, "quota": null}));
    let (_, id) = w.key(
        "acme-eu",
        json!({"quota":{"limit":10,"period":"hour","per":"consumer"}}),
    );
    let q = Quota {
        limit: 10,
        period: QuotaPeriod::Hour,
        per: QuotaScope::Consumer,
    };
    w.set_used(&q, &id, "acme-eu", 4);
    let a = w.admin("GET", &format!("/keys/{id}/usage"), None);
    assert_eq!(a.status, 200, "{}", a.body);
    let start = NOW - NOW % 3600;
    assert_eq!(
        json(&a),
        json!({"id": id, "quota":{"limit":10,"period":"hour","per":"consumer"},
            "counter":"consumer:hour:acme-eu","window_start": start,"resets_at": start + 3600,
            "used":4,"remaining":6})
    );
}
