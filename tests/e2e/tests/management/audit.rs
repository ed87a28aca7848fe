//! The audit trail: a create → patch → rotate → revoke sequence leaves four entries, in order,
//! naming the actor, the action, the key ids, the names (never the values) of the changed fields
//! and the request id of each call; and `GET /audit` pages oldest first with a cursor.

use super::*;

pub fn create_patch_rotate_revoke_leave_four_ordered_entries_without_secrets(c: &Ctx) {
    let dev = &c.main;
    let m = marker("audit");
    let consumer = format!("aud-{m}");
    let t0 = unix_now();
    let (root, root_rec) = new_root(
        dev,
        BOOT,
        "audited",
        &["keys:write", "keys:revoke", "audit:read"],
        None,
    );
    let actor = root_rec["id"].as_str().expect("id").to_owned();
    let rid = |r: &Resp| r.header("x-request-id").expect("request id").to_owned();

    let create = call(
        dev,
        Some(&root),
        "POST",
        "/keys",
        Some(
            &json!({"name": "audited", "consumer_id": consumer, "meta": {"secret-ish": "v4lue-0f-meta"}}),
        ),
    );
    let v = answer(&create, 201);
    let key = v["key"].as_str().expect("key").to_owned();
    remember_key(&key);
    let k1 = v["record"]["id"].as_str().expect("id").to_owned();

    let patch = call(
        dev,
        Some(&root),
        "PATCH",
        &format!("/keys/{k1}"),
        Some(&json!({"name": "renamed-s3cret-name", "scopes": ["GET /audited/**"]})),
    );
    answer(&patch, 200);

    let rotate = call(
        dev,
        Some(&root),
        "POST",
        &format!("/keys/{k1}/rotate"),
        Some(&json!({"overlap": 30})),
    );
    let v = answer(&rotate, 201);
    let new = v["key"].as_str().expect("key").to_owned();
    remember_key(&new);
    let k2 = v["record"]["id"].as_str().expect("id").to_owned();

    let revoke = call(dev, Some(&root), "DELETE", &format!("/keys/{k2}"), None);
    assert_eq!(revoke.status, 204, "{}", revoke.text());

    let entries = audit_all(dev, &root, 100);
    let mine: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            let ids = entry_ids(e);
            ids.contains(&k1.as_str()) || ids.contains(&k2.as_str())
        })
        .collect();
    assert_eq!(mine.len(), 4, "{mine:#?}");
    let want = [
        ("key.create", rid(&create), vec![k1.clone()]),
        ("key.update", rid(&patch), vec![k1.clone()]),
        ("key.rotate", rid(&rotate), vec![k1.clone(), k2.clone()]),
        ("key.revoke", rid(&revoke), vec![k2.clone()]),
    ];
    let mut last_seq = 0;
    for (e, (action, request_id, ids)) in mine.iter().zip(&want) {
        assert_eq!(e["action"], *action, "{e}");
        assert_eq!(e["actor"], actor.as_str(), "{e}");
        assert_eq!(e["request_id"], request_id.as_str(), "{e}");
        assert_eq!(e["consumer_id"], consumer.as_str(), "{e}");
        let mut got: Vec<&str> = entry_ids(e);
        got.sort_unstable();
        let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        assert_eq!(got, ids, "{e}");
        let seq = e["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "ordered by seq: {e}");
        last_seq = seq;
        let at = e["at"].as_u64().expect("at");
        assert!((t0..=unix_now()).contains(&at), "{e}");
        // Never a key, a hash or a value.
        let text = e.to_string();
        assert_no_secrets("an audit entry", &text);
        for value in ["renamed-s3cret-name", "v4lue-0f-meta", "GET /audited/**"] {
            assert!(!text.contains(value), "a field's value in {e}");
        }
    }
    let mut fields: Vec<&str> = mine[1]["fields"]
        .as_array()
        .expect("fields of the update")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["name", "scopes"], "{}", mine[1]);

    // The root key's creation is on the trail too, by the bootstrap principal.
    let made = entries
        .iter()
        .find(|e| e["action"] == "root.create" && entry_ids(e).contains(&actor.as_str()))
        .expect("root.create entry");
    assert_eq!(made["actor"], "bootstrap");
    // Reading the trail is not written to it.
    assert!(entries
        .iter()
        .all(|e| e["action"].as_str().is_some_and(|a| a.contains('.'))));
}

pub fn audit_pages_with_a_cursor_oldest_first(c: &Ctx) {
    let dev = &c.main;
    let consumer = marker("audit-pages");
    for _ in 0..3 {
        plain_key(dev, &consumer);
    }
    let whole = audit_all(dev, BOOT, 100);
    assert!(whole.len() >= 3);
    let seqs: Vec<u64> = whole
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {seqs:?}"
    );
    // Two at a time: the same entries, none twice, none missing (up to what was there when
    // the whole was read; other tests append meanwhile).
    let paged = audit_all(dev, BOOT, 2);
    let paged_seqs: Vec<u64> = paged
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(paged_seqs.windows(2).all(|w| w[0] < w[1]), "{paged_seqs:?}");
    assert_eq!(&paged[..whole.len()], &whole[..]);
    // Without a limit, a page is at most the largest limit.
    let v = answer(&call(dev, Some(BOOT), "GET", "/audit", None), 200);
    assert!(v["entries"].as_array().expect("entries").len() <= 100);
    assert_no_secrets("the audit trail", &Value::from(whole).to_string());
}
