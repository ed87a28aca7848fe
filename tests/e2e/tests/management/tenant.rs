//! The tenant guard: a root key confined to the consumer prefix `acme-` cannot read, change,
//! rotate, revoke, see the usage of, list, verify or audit a `globex` key, and every answer about
//! one is the answer for an id that does not exist, so it learns nothing. It cannot create or
//! import outside its prefix, nor make a root key that sees more or may do more than itself.

use super::*;

/// Every consumer of these tests starts `acme-` or `globex`; no other test uses either.
const PREFIX: &str = "acme-";

/// A root key with every permission, confined to `acme-`.
fn acme_root(dev: &Dev, name: &str) -> (String, Value) {
    new_root(dev, BOOT, name, &all_permissions(), Some(PREFIX))
}

pub fn prefixed_root_key_gets_the_unknown_id_answer_for_a_key_outside_its_prefix(c: &Ctx) {
    let dev = &c.main;
    let m = marker("tenant");
    let (acme, _) = acme_root(dev, "acme support");
    let (globex_key, globex) = new_key(
        dev,
        BOOT,
        json!({"name": "globex web", "consumer_id": format!("globex-{m}"),
               "quota": {"limit": 10, "period": "day", "per": "key"}}),
    );
    let g = globex["id"].as_str().expect("id").to_owned();
    let u = unknown_id(&m);
    // Its own consumers it manages.
    let (_, mine) = new_key(
        dev,
        &acme,
        json!({"name": "acme web", "consumer_id": format!("acme-{m}")}),
    );
    let mine = mine["id"].as_str().expect("id").to_owned();
    answer(
        &call(dev, Some(&acme), "GET", &format!("/keys/{mine}"), None),
        200,
    );

    let patch = json!({"name": "taken over", "enabled": false});
    let rotate = json!({"overlap": 0});
    // Bodies that are wrong too: whichever the server checks first, the answers must agree.
    let bad_patch = json!({"name": "", "colour": "red"});
    let bad_rotate = json!({"overlap": -5});
    let cases: Vec<(&str, String, Option<&Value>)> = vec![
        ("GET", "/keys/{id}".into(), None),
        ("PATCH", "/keys/{id}".into(), Some(&patch)),
        ("POST", "/keys/{id}/rotate".into(), Some(&rotate)),
        ("POST", "/keys/{id}/rotate".into(), None),
        ("PATCH", "/keys/{id}".into(), Some(&bad_patch)),
        ("POST", "/keys/{id}/rotate".into(), Some(&bad_rotate)),
        ("GET", "/keys/{id}/usage".into(), None),
        ("DELETE", "/keys/{id}".into(), None),
    ];
    for (method, path, body) in &cases {
        let outside = call(dev, Some(&acme), method, &path.replace("{id}", &g), *body);
        let unknown = call(dev, Some(&acme), method, &path.replace("{id}", &u), *body);
        outside.problem(outside.status);
        assert!(
            matches!(outside.status, 404 | 422),
            "{method} {path}: {}",
            outside.status
        );
        assert_same_answer(&outside, &g, &unknown, &u, &format!("{method} {path}"));
    }
    // The globex key is untouched and still works.
    let after = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{g}"), None),
        200,
    );
    assert_eq!(after, globex, "nothing about the globex key changed");
    avoid_window_edge(86_400, 30);
    assert_eq!(
        get(&dev.url(&format!("/{m}/globex")), Some(&globex_key)).status,
        200
    );
    let usage = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{g}/usage"), None),
        200,
    );
    assert_eq!(
        usage["used"], 1,
        "only the data plane request counted: {usage}"
    );
}

pub fn prefixed_root_key_lists_verifies_and_audits_only_its_consumers(c: &Ctx) {
    let dev = &c.main;
    let m = marker("tenant-list");
    let (acme, acme_rec) = acme_root(dev, "acme lister");
    let globex_consumer = format!("globex-{m}");
    let (globex_key, g) = plain_key(dev, &globex_consumer);
    answer(
        &call(
            dev,
            Some(BOOT),
            "PATCH",
            &format!("/keys/{g}"),
            Some(&json!({"name": "globex renamed"})),
        ),
        200,
    );
    let acme_consumer = format!("acme-{m}");
    let (acme_key, a) = plain_key(dev, &acme_consumer);

    // Lists: only acme- keys, and a globex filter is an empty page.
    let listed = list_all(dev, &acme, "state=active");
    assert!(
        listed.iter().any(|k| k["id"] == a.as_str()),
        "its own key is listed"
    );
    for k in &listed {
        assert!(
            k["consumer_id"]
                .as_str()
                .is_some_and(|c| c.starts_with(PREFIX)),
            "listed outside the prefix: {k}"
        );
    }
    let v = answer(
        &call(
            dev,
            Some(&acme),
            "GET",
            &format!("/keys?consumer={globex_consumer}"),
            None,
        ),
        200,
    );
    assert_eq!(v, json!({"keys": [], "cursor": null}));
    let v = answer(
        &call(
            dev,
            Some(&acme),
            "GET",
            &format!("/keys?consumer={acme_consumer}"),
            None,
        ),
        200,
    );
    assert_eq!(v["keys"].as_array().expect("keys").len(), 1);

    // Verify: a globex key is answered as a key that does not exist.
    let verify = |key: &str| {
        call(
            dev,
            Some(&acme),
            "POST",
            "/keys/verify",
            Some(&json!({"key": key, "method": "GET", "path": "/x"})),
        )
    };
    let outside = verify(&globex_key);
    let unknown_key = crafted_key(&format!("tenant-unknown-{m}"));
    let unknown = verify(&unknown_key);
    // The key's id is the presented key's own (its hash), which the caller can compute.
    let v = answer(&outside, 200);
    assert_eq!(v["valid"], false);
    assert_eq!(v["code"], "unknown_key");
    for field in ["consumer_id", "scopes", "quota"] {
        assert!(v.get(field).is_none_or(Value::is_null), "{v}");
    }
    assert_same_answer(
        &outside,
        &key_id(&globex_key),
        &unknown,
        &key_id(&unknown_key),
        "verify",
    );
    assert_eq!(answer(&verify(&acme_key), 200)["valid"], true);

    // Audit: entries of acme- consumers only; nothing names the globex key.
    let entries = audit_all(dev, &acme, 100);
    let acme_id = acme_rec["id"].as_str().expect("id");
    assert!(
        entries.iter().any(|e| entry_ids(e).contains(&a.as_str())),
        "its own consumer's entries are there"
    );
    for e in &entries {
        assert!(
            !entry_ids(e).contains(&g.as_str()),
            "globex entry shown: {e}"
        );
        assert!(!e.to_string().contains(&globex_consumer), "{e}");
        let action = e["action"].as_str().expect("action");
        if action.starts_with("key.") {
            assert!(
                e["consumer_id"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(PREFIX)),
                "{e}"
            );
        }
    }
    // The bootstrap principal sees the globex entries, so the filter is the guard's doing.
    let all = audit_all(dev, BOOT, 100);
    assert!(all.iter().any(|e| entry_ids(e).contains(&g.as_str())));
    assert!(all.iter().any(|e| entry_ids(e).contains(&acme_id)));
}

pub fn prefixed_root_key_cannot_create_outside_its_prefix_or_escalate_roots(c: &Ctx) {
    let dev = &c.main;
    let m = marker("tenant-create");
    let (acme, acme_rec) = acme_root(dev, "acme creator");
    let outside_detail = "consumer_id is outside this root key's consumer prefix";

    let globex_consumer = format!("globex-{m}");
    let r = call(
        dev,
        Some(&acme),
        "POST",
        "/keys",
        Some(&json!({"name": "x", "consumer_id": globex_consumer})),
    );
    let p = assert_forbidden(&r, "keys:write");
    assert_eq!(p["detail"], outside_detail);
    let import = crafted_key(&format!("tenant-import-{m}"));
    let r = call(
        dev,
        Some(&acme),
        "POST",
        "/keys/import",
        Some(&json!({"keys": [import], "name": "x", "consumer_id": globex_consumer})),
    );
    let p = assert_forbidden(&r, "keys:write");
    assert_eq!(p["detail"], outside_detail);
    // `acme` alone (no dash) is outside `acme-` too.
    let r = call(
        dev,
        Some(&acme),
        "POST",
        "/keys",
        Some(&json!({"name": "x", "consumer_id": "acme"})),
    );
    assert_forbidden(&r, "keys:write");
    assert!(ids_of_consumer(dev, BOOT, &globex_consumer).is_empty());
    call(
        dev,
        Some(BOOT),
        "GET",
        &format!("/keys/{}", key_id(&import)),
        None,
    )
    .problem(404);

    // Roots: no wider prefix, no prefix at all, no permission it lacks.
    let (narrow, _) = new_root(dev, &acme, "acme narrow", &["keys:read"], Some("acme-eu-"));
    for (body, what) in [
        (
            json!({"name": "r", "permissions": ["keys:read"], "consumer_prefix": "globex-"}),
            "another prefix",
        ),
        (
            json!({"name": "r", "permissions": ["keys:read"], "consumer_prefix": "acm"}),
            "a wider prefix",
        ),
        (
            json!({"name": "r", "permissions": ["keys:read"]}),
            "no prefix",
        ),
    ] {
        let r = call(dev, Some(&acme), "POST", "/roots", Some(&body));
        assert_eq!(r.status, 403, "{what}: {}", r.text());
        r.problem(403);
    }
    let r = call(
        dev,
        Some(&narrow),
        "POST",
        "/roots",
        Some(&json!({"name": "r", "permissions": ["keys:read"], "consumer_prefix": "acme-eu-"})),
    );
    assert_forbidden(&r, "roots:manage");
    let (limited, _) = new_root(dev, BOOT, "acme no roots", &["roots:manage"], Some(PREFIX));
    let r = call(
        dev,
        Some(&limited),
        "POST",
        "/roots",
        Some(
            &json!({"name": "r", "permissions": ["roots:manage", "keys:read"], "consumer_prefix": "acme-x-"}),
        ),
    );
    assert_eq!(r.status, 403, "a permission it lacks: {}", r.text());

    // GET /roots and DELETE /roots/{id}: only roots under its prefix.
    let (_, globex_rec) = new_root(dev, BOOT, "globex root", &["keys:read"], Some("globex-"));
    let (_, open_rec) = new_root(dev, BOOT, "unconfined", &["keys:read"], None);
    let listed = answer(&call(dev, Some(&acme), "GET", "/roots", None), 200);
    let ids: Vec<&str> = listed["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .map(|r| {
            assert!(
                r["consumer_prefix"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(PREFIX)),
                "{r}"
            );
            r["id"].as_str().expect("id")
        })
        .collect();
    assert!(ids.contains(&acme_rec["id"].as_str().expect("id")));
    for other in [&globex_rec, &open_rec] {
        let id = other["id"].as_str().expect("id");
        assert!(!ids.contains(&id));
        let u = unknown_id(&format!("{m}-{id}"));
        let outside = call(dev, Some(&acme), "DELETE", &format!("/roots/{id}"), None);
        let unknown = call(dev, Some(&acme), "DELETE", &format!("/roots/{u}"), None);
        outside.problem(404);
        assert_same_answer(&outside, id, &unknown, &u, "DELETE /roots/{id}");
    }
    let still = answer(&call(dev, Some(BOOT), "GET", "/roots", None), 200);
    for other in [&globex_rec, &open_rec] {
        assert!(still["roots"].as_array().expect("roots").contains(other));
    }
}
