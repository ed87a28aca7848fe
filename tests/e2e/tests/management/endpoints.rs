//! Every management endpoint's happy path, checking what was stored: through the API itself, on
//! the data plane (a key made through the API reaches the real origin), and in the local store.

use super::*;
use keygate_core::keyformat::{classify, KeyShape};

/// The fields a key view may carry: never the key, never its hash.
const VIEW_FIELDS: &[&str] = &[
    "id",
    "name",
    "consumer_id",
    "consumer_name",
    "description",
    "created_at",
    "expires_at",
    "state",
    "enabled",
    "scopes",
    "meta",
    "tier",
    "quota",
];

fn assert_view_fields(rec: &Value) {
    for field in rec.as_object().expect("a key view is an object").keys() {
        assert!(
            VIEW_FIELDS.contains(&field.as_str()),
            "unexpected field {field} in {rec}"
        );
    }
}

fn assert_quota(got: &Value, limit: u64, period: &str) {
    assert_eq!(got["limit"], limit, "{got}");
    assert_eq!(got["period"], period, "{got}");
    assert!(
        got.get("per").is_none_or(|p| p == "key"),
        "a per-key quota: {got}"
    );
}

pub fn create_answers_201_with_the_key_once_its_record_and_location_and_the_key_passes(c: &Ctx) {
    let dev = &c.main;
    let m = marker("api-create");
    let consumer = format!("shop-{m}");
    let expires = unix_now() + 30 * 86_400;
    let body = json!({
        "name": "web",
        "consumer_id": consumer,
        "consumer_name": "Shop Inc",
        "description": "the web shop",
        "expires_at": expires,
        "scopes": [format!("GET /{m}/**")],
        "meta": {"plan": "pro"},
        "tier": "big",
        "quota": {"limit": 1000, "period": "day", "per": "key"},
    });
    let t0 = unix_now();
    let r = call(dev, Some(BOOT), "POST", "/keys", Some(&body));
    let v = answer(&r, 201);
    let key = v["key"].as_str().expect("key").to_owned();
    remember_key(&key);
    assert_eq!(
        classify(&key),
        KeyShape::Valid,
        "a kg_ key with its checksum"
    );
    let rec = &v["record"];
    let id = key_id(&key);
    assert_eq!(rec["id"], id.as_str());
    assert_eq!(
        r.header("location"),
        Some(format!("{V1}/keys/{id}").as_str())
    );
    for f in [
        "name",
        "consumer_id",
        "consumer_name",
        "description",
        "expires_at",
        "scopes",
        "meta",
        "tier",
    ] {
        assert_eq!(rec[f], body[f], "{f} as sent: {rec}");
    }
    assert_quota(&rec["quota"], 1000, "day");
    assert_eq!(rec["state"], "active");
    assert_eq!(rec["enabled"], true);
    let created = rec["created_at"]
        .as_u64()
        .expect("created_at in Unix seconds");
    assert!((t0..=unix_now()).contains(&created), "{created}");
    assert_view_fields(rec);
    assert_eq!(
        v.as_object().expect("object").len(),
        2,
        "key and record only: {v}"
    );

    // Stored as answered.
    let got = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{id}"), None),
        200,
    );
    assert_eq!(&got, rec);

    // The key works on the data plane, within its scopes, as its consumer.
    assert_eq!(get(&dev.url(&format!("/{m}/a")), Some(&key)).status, 200);
    let seen = c.origin.received_with(&m);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].one("x-consumer-id"), Some(consumer.as_str()));
    assert_eq!(seen[0].one("x-key-id"), Some(id.as_str()));
    let post = send(
        client()
            .post(dev.url(&format!("/{m}/b")))
            .header("authorization", bearer(&key)),
    );
    post.problem(403);
    assert_eq!(c.origin.received_with(&m).len(), 1);
}

pub fn create_with_only_the_required_fields_leaves_the_optional_ones_unset(c: &Ctx) {
    let consumer = marker("minimal");
    let (key, rec) = new_key(
        &c.main,
        BOOT,
        json!({"name": "min", "consumer_id": consumer}),
    );
    for f in [
        "consumer_name",
        "description",
        "expires_at",
        "tier",
        "quota",
    ] {
        assert!(rec.get(f).is_none_or(Value::is_null), "{f} set: {rec}");
    }
    assert_eq!(rec["state"], "active");
    assert_view_fields(&rec);
    let m = marker("minimal-path");
    assert_eq!(get(&c.main.url(&format!("/{m}")), Some(&key)).status, 200);
}

pub fn list_filters_by_consumer_and_state_and_pages_with_an_opaque_cursor(c: &Ctx) {
    let dev = &c.main;
    let consumer = marker("lister");
    let ids: Vec<String> = (0..3).map(|_| plain_key(dev, &consumer).1).collect();
    let r = call(
        dev,
        Some(BOOT),
        "PATCH",
        &format!("/keys/{}", ids[2]),
        Some(&json!({"enabled": false})),
    );
    answer(&r, 200);

    let listed = |query: &str| -> Vec<String> {
        let v = answer(
            &call(dev, Some(BOOT), "GET", &format!("/keys?{query}"), None),
            200,
        );
        assert!(v["cursor"].is_null(), "one page: {v}");
        let mut ids: Vec<String> = v["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| {
                for f in [
                    "id",
                    "name",
                    "consumer_id",
                    "created_at",
                    "state",
                    "enabled",
                ] {
                    assert!(!k[f].is_null(), "summary lacks {f}: {k}");
                }
                for f in ["expires_at", "tier"] {
                    assert!(k.get(f).is_some(), "summary lacks {f}: {k}");
                }
                assert!(k.get("key").is_none());
                k["id"].as_str().expect("id").to_owned()
            })
            .collect();
        ids.sort();
        ids
    };
    let mut all = ids.clone();
    all.sort();
    assert_eq!(listed(&format!("consumer={consumer}")), all);
    let mut active = ids[..2].to_vec();
    active.sort();
    assert_eq!(listed(&format!("consumer={consumer}&state=active")), active);
    assert_eq!(
        listed(&format!("consumer={consumer}&state=disabled")),
        vec![ids[2].clone()]
    );
    assert!(listed(&format!("consumer={consumer}&state=expired")).is_empty());
    assert!(listed("consumer=nobody-has-this-consumer").is_empty());

    // One key a page: three pages, each key once, then no cursor.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("/keys?consumer={consumer}&limit=1");
        if let Some(cur) = &cursor {
            q.push_str(&format!("&cursor={}", encode(cur)));
        }
        let v = answer(&call(dev, Some(BOOT), "GET", &q, None), 200);
        let page = v["keys"].as_array().expect("keys");
        assert!(page.len() <= 1, "limit=1 gave {}", page.len());
        paged.extend(
            page.iter()
                .map(|k| k["id"].as_str().expect("id").to_owned()),
        );
        match v["cursor"].as_str() {
            Some(cur) => {
                assert_opaque(cur);
                cursor = Some(cur.to_owned());
            }
            None => break,
        }
        assert!(paged.len() <= 3, "paging does not end: {paged:?}");
    }
    paged.sort();
    assert_eq!(paged, all);

    // Without a filter, the default page holds at most 50.
    let v = answer(&call(dev, Some(BOOT), "GET", "/keys", None), 200);
    assert!(v["keys"].as_array().expect("keys").len() <= 50);
}

pub fn patch_merges_fields_and_the_data_plane_follows_at_once(c: &Ctx) {
    let dev = &c.main;
    let m = marker("patch");
    let consumer = format!("patch-{m}");
    let (key, rec) = new_key(
        dev,
        BOOT,
        json!({
            "name": "before",
            "consumer_id": consumer,
            "description": "to be removed",
            "scopes": ["GET /**"],
            "meta": {"plan": "pro", "region": "eu"},
            "tier": "big",
        }),
    );
    let id = rec["id"].as_str().expect("id").to_owned();
    let path = format!("/keys/{id}");
    let expires = unix_now() + 7 * 86_400;
    let patch = json!({
        "name": "after",
        "description": null,
        "consumer_name": "Patch Co",
        "scopes": [format!("GET /{m}/ok/**")],
        "meta": {"region": null, "team": "x"},
        "tier": null,
        "quota": {"limit": 100, "period": "hour", "per": "key"},
        "expires_at": expires,
        "enabled": false,
    });
    let r = call_raw(
        dev,
        Some(BOOT),
        "PATCH",
        &path,
        &[("content-type", "application/merge-patch+json")],
        Some(patch.to_string().into_bytes()),
    );
    let v = answer(&r, 200);
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["name"], "after");
    assert!(v.get("description").is_none_or(Value::is_null), "{v}");
    assert_eq!(v["consumer_name"], "Patch Co");
    assert_eq!(
        v["consumer_id"],
        consumer.as_str(),
        "not patchable, unchanged"
    );
    assert_eq!(v["scopes"], json!([format!("GET /{m}/ok/**")]));
    assert_eq!(
        v["meta"],
        json!({"plan": "pro", "team": "x"}),
        "RFC 7396 merge"
    );
    assert!(v.get("tier").is_none_or(Value::is_null), "{v}");
    assert_quota(&v["quota"], 100, "hour");
    assert_eq!(v["expires_at"], expires);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["state"], "disabled");
    assert_eq!(v["created_at"], rec["created_at"]);
    assert_eq!(
        answer(&call(dev, Some(BOOT), "GET", &path, None), 200),
        v,
        "stored as answered"
    );

    // Disabled: refused on the data plane at once.
    get(&dev.url(&format!("/{m}/ok/1")), Some(&key)).problem(401);
    // Enabled again, with the new scopes; expiry back to never.
    let v = answer(
        &call(
            dev,
            Some(BOOT),
            "PATCH",
            &path,
            Some(&json!({"enabled": true, "expires_at": null, "quota": null})),
        ),
        200,
    );
    assert_eq!(v["state"], "active");
    assert!(v.get("expires_at").is_none_or(Value::is_null), "{v}");
    assert!(v.get("quota").is_none_or(Value::is_null), "{v}");
    assert_eq!(v["name"], "after", "untouched fields stay");
    assert_eq!(get(&dev.url(&format!("/{m}/ok/2")), Some(&key)).status, 200);
    get(&dev.url(&format!("/{m}/elsewhere")), Some(&key)).problem(403);
    assert_eq!(c.origin.targets_with(&m), vec![format!("/{m}/ok/2")]);
    // `application/json; charset=utf-8` is JSON too; an empty patch changes nothing.
    let r = call_raw(
        dev,
        Some(BOOT),
        "PATCH",
        &path,
        &[("content-type", "application/json; charset=utf-8")],
        Some(b"{}".to_vec()),
    );
    assert_eq!(answer(&r, 200), v);
}

pub fn rotate_issues_a_working_new_key_and_never_extends_the_expiry(c: &Ctx) {
    let dev = &c.main;
    let m = marker("rotate");
    let consumer = format!("rot-{m}");
    let expires = unix_now() + 3600;
    let (old, rec) = new_key(
        dev,
        BOOT,
        json!({
            "name": "rotating",
            "consumer_id": consumer,
            "expires_at": expires,
            "scopes": [format!("GET /{m}/**")],
            "meta": {"plan": "pro"},
        }),
    );
    let old_id = rec["id"].as_str().expect("id").to_owned();
    let t0 = unix_now();
    let r = call(
        dev,
        Some(BOOT),
        "POST",
        &format!("/keys/{old_id}/rotate"),
        Some(&json!({"overlap": 60})),
    );
    let v = answer(&r, 201);
    let new = v["key"].as_str().expect("new key").to_owned();
    remember_key(&new);
    assert_ne!(new, old);
    assert_eq!(classify(&new), KeyShape::Valid);
    let new_rec = &v["record"];
    assert_eq!(new_rec["id"], key_id(&new).as_str());
    for f in ["name", "consumer_id", "scopes", "meta"] {
        assert_eq!(new_rec[f], rec[f], "the new key keeps {f}");
    }
    assert_eq!(
        new_rec["expires_at"], expires,
        "the expiry is never extended"
    );
    assert_eq!(new_rec["state"], "active");
    let prev = &v["previous"];
    assert_eq!(prev["id"], old_id.as_str());
    let prev_end = prev["expires_at"]
        .as_u64()
        .expect("the old key now expires");
    assert!(
        (t0 + 60..=unix_now() + 60).contains(&prev_end),
        "old key ends after the overlap: {prev_end}"
    );
    // Both keys pass during the overlap.
    for (i, k) in [&old, &new].into_iter().enumerate() {
        assert_eq!(get(&dev.url(&format!("/{m}/{i}")), Some(k)).status, 200);
    }
    let got = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{old_id}"), None),
        200,
    );
    assert_eq!(got["expires_at"], prev_end);

    // A key expiring sooner than the default overlap (a day) keeps its own expiry; no body.
    let soon = unix_now() + 600;
    let (_, short) = new_key(
        dev,
        BOOT,
        json!({"name": "short", "consumer_id": consumer, "expires_at": soon}),
    );
    let short_id = short["id"].as_str().expect("id");
    let r = call(
        dev,
        Some(BOOT),
        "POST",
        &format!("/keys/{short_id}/rotate"),
        None,
    );
    let v = answer(&r, 201);
    remember_key(v["key"].as_str().expect("key"));
    assert_eq!(v["previous"]["expires_at"], soon);
    assert_eq!(v["record"]["expires_at"], soon);

    // Without an expiry, the default overlap is a day.
    let (_, open) = new_key(dev, BOOT, json!({"name": "open", "consumer_id": consumer}));
    let open_id = open["id"].as_str().expect("id");
    let t1 = unix_now();
    let r = call(
        dev,
        Some(BOOT),
        "POST",
        &format!("/keys/{open_id}/rotate"),
        None,
    );
    let v = answer(&r, 201);
    remember_key(v["key"].as_str().expect("key"));
    let end = v["previous"]["expires_at"].as_u64().expect("expires_at");
    assert!((t1 + 86_400..=unix_now() + 86_400).contains(&end), "{end}");
    assert!(v["record"].get("expires_at").is_none_or(Value::is_null));
}

pub fn revoke_answers_204_and_the_key_is_gone_from_the_api_and_the_data_plane(c: &Ctx) {
    let dev = &c.main;
    let m = marker("revoke");
    let (key, id) = plain_key(dev, &format!("rev-{m}"));
    assert_eq!(get(&dev.url(&format!("/{m}/1")), Some(&key)).status, 200);
    let r = call(dev, Some(BOOT), "DELETE", &format!("/keys/{id}"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty(), "204 has no body");
    assert_common_headers(&r);
    call(dev, Some(BOOT), "GET", &format!("/keys/{id}"), None).problem(404);
    get(&dev.url(&format!("/{m}/2")), Some(&key)).problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 1);
    call(dev, Some(BOOT), "DELETE", &format!("/keys/{id}"), None).problem(404);
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub fn import_stores_only_hashes_all_or_nothing_and_the_keys_pass(c: &Ctx) {
    let dev = &c.main;
    let m = marker("import");
    let consumer = format!("imp-{m}");
    let ours = crafted_key(&format!("import-{m}"));
    let legacy = format!("legacy-{m}-0123456789abcdef");
    remember_key(&legacy);
    let body = json!({
        "keys": [ours, legacy],
        "name": "migrated",
        "consumer_id": consumer,
        "scopes": ["GET /**"],
    });
    let r = call(dev, Some(BOOT), "POST", "/keys/import", Some(&body));
    // The answer is scanned for both keys (remembered above): it must not echo them.
    let v = answer(&r, 201);
    let records = v["records"].as_array().expect("records");
    let mut got: Vec<&str> = records
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    got.sort_unstable();
    let mut want = vec![key_id(&ours), key_id(&legacy)];
    want.sort();
    assert_eq!(got, want);
    for rec in records {
        assert_eq!(rec["consumer_id"], consumer.as_str());
        assert_eq!(rec["name"], "migrated");
        assert_eq!(rec["state"], "active");
        assert_view_fields(rec);
    }
    for (i, k) in [&ours, &legacy].into_iter().enumerate() {
        let r = get(&dev.url(&format!("/{m}/{i}")), Some(k));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let seen = c.origin.received_with(&m);
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|s| s.one("x-consumer-id") == Some(&consumer)));
    // One audit entry names both.
    let entries: Vec<Value> = audit_all(dev, BOOT, 100)
        .into_iter()
        .filter(|e| e["consumer_id"] == consumer.as_str())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "key.import");
    assert_eq!(entries[0]["actor"], "bootstrap");
    assert_eq!(
        entries[0]["request_id"],
        r.header("x-request-id").expect("request id")
    );
    let mut ids = entry_ids(&entries[0]);
    ids.sort_unstable();
    assert_eq!(ids, want);

    // Only hashes are stored: no file of the local store holds either plaintext.
    for f in files_under(&dev.state()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for k in [&ours, &legacy] {
            assert!(
                !bytes.windows(k.len()).any(|w| w == k.as_bytes()),
                "{} holds an imported key in plaintext",
                f.display()
            );
        }
    }
}

pub fn usage_reports_the_quota_window_and_what_the_data_plane_counted(c: &Ctx) {
    let dev = &c.main;
    let m = marker("usage");
    let (key, rec) = new_key(
        dev,
        BOOT,
        json!({"name": "metered", "consumer_id": format!("use-{m}"),
               "quota": {"limit": 5, "period": "day", "per": "key"}}),
    );
    let id = rec["id"].as_str().expect("id");
    // A day window: sent well inside one unless the run crosses midnight UTC.
    avoid_window_edge(86_400, 30);
    for i in 0..2 {
        assert_eq!(get(&dev.url(&format!("/{m}/{i}")), Some(&key)).status, 200);
    }
    let now = unix_now();
    let v = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{id}/usage"), None),
        200,
    );
    assert_eq!(v["id"], id);
    assert_quota(&v["quota"], 5, "day");
    assert!(
        v["counter"]
            .as_str()
            .is_some_and(|s| s.starts_with("key:day:")),
        "{v}"
    );
    assert_eq!(v["used"], 2, "{v}");
    assert_eq!(v["remaining"], 3, "{v}");
    let start = v["window_start"].as_u64().expect("window_start");
    let resets = v["resets_at"].as_u64().expect("resets_at");
    assert!(
        start <= now && now < resets && resets - start == 86_400,
        "{v}"
    );

    let (_, plain) = plain_key(dev, &format!("use-{m}"));
    let v = answer(
        &call(
            dev,
            Some(BOOT),
            "GET",
            &format!("/keys/{plain}/usage"),
            None,
        ),
        200,
    );
    assert_eq!(v["id"], plain.as_str());
    assert!(v["quota"].is_null(), "{v}");
}

pub fn verify_gives_the_data_plane_decision_and_consumes_no_quota(c: &Ctx) {
    let dev = &c.main;
    let m = marker("verify");
    let consumer = format!("ver-{m}");
    let (key, rec) = new_key(
        dev,
        BOOT,
        json!({"name": "checked", "consumer_id": consumer,
               "scopes": [format!("GET /{m}/**")],
               "quota": {"limit": 3, "period": "day", "per": "key"}}),
    );
    let id = rec["id"].as_str().expect("id").to_owned();
    let verify = |key: &str, method: &str, path: &str| -> Value {
        let body = json!({"key": key, "method": method, "path": path});
        answer(
            &call(dev, Some(BOOT), "POST", "/keys/verify", Some(&body)),
            200,
        )
    };
    avoid_window_edge(86_400, 30);
    for _ in 0..4 {
        let v = verify(&key, "GET", &format!("/{m}/x"));
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["code"], "accepted");
        assert_eq!(v["key_id"], id.as_str());
        assert_eq!(v["consumer_id"], consumer.as_str());
        assert_eq!(v["scopes"], json!([format!("GET /{m}/**")]));
        assert_eq!(v["quota"]["limit"], 3);
        assert_eq!(v["quota"]["remaining"], 3, "verify consumes no quota: {v}");
        assert!(v["quota"]["resets_at"].as_u64().is_some());
    }
    let usage = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{id}/usage"), None),
        200,
    );
    assert_eq!(usage["used"], 0, "{usage}");

    // Refusals: the same code the data plane logs for the same request.
    let (disabled, disabled_id) = plain_key(dev, &consumer);
    answer(
        &call(
            dev,
            Some(BOOT),
            "PATCH",
            &format!("/keys/{disabled_id}"),
            Some(&json!({"enabled": false})),
        ),
        200,
    );
    let unknown = crafted_key(&format!("verify-unknown-{m}"));
    let bad_checksum = {
        let mut k = crafted_key(&format!("verify-sum-{m}"));
        let last = k.pop().expect("char");
        k.push(if last == 'A' { 'B' } else { 'A' });
        remember_key(&k);
        k
    };
    let cases = [
        (&unknown, "GET", format!("/{m}/u"), "unknown_key"),
        (&disabled, "GET", format!("/{m}/d"), "disabled"),
        (&key, "POST", format!("/{m}/s"), "out_of_scope"),
        (&bad_checksum, "GET", format!("/{m}/c"), "bad_checksum"),
    ];
    for (k, method, path, want) in cases {
        let v = verify(k, method, &path);
        assert_eq!(v["valid"], false, "{v}");
        let r = send(
            client()
                .request(method.parse().expect("method"), dev.url(&path))
                .header("authorization", bearer(k)),
        );
        assert!(r.status >= 400, "{path}: {}", r.status);
        let logged = dev.request_log(r.header("x-request-id").expect("request id"));
        assert_eq!(
            v["code"], logged["decision"],
            "{path}: verify vs data plane"
        );
        assert_eq!(v["code"], want, "{v}");
        assert!(v.get("key").is_none());
    }
    // Nothing was forwarded for any verify.
    assert!(c.origin.received_with(&m).is_empty());
}

pub fn roots_are_created_listed_and_revoked_and_a_revoked_root_key_is_refused(c: &Ctx) {
    let dev = &c.main;
    let t0 = unix_now();
    let (root, rec) = new_root(
        dev,
        BOOT,
        "support tool",
        &["keys:read", "keys:write"],
        Some("sup-"),
    );
    assert_eq!(
        keygate_core::keyformat::classify_with(keygate_core::keyformat::ROOT_PREFIX, &root),
        KeyShape::Valid,
        "a kgr_ key with its checksum"
    );
    let id = rec["id"].as_str().expect("id").to_owned();
    assert_eq!(id, key_id(&root), "the root id is its hash's first 12 hex");
    assert_eq!(rec["name"], "support tool");
    assert_eq!(rec["permissions"], json!(["keys:read", "keys:write"]));
    assert_eq!(rec["consumer_prefix"], "sup-");
    assert!((t0..=unix_now()).contains(&rec["created_at"].as_u64().expect("created_at")));

    let listed = answer(&call(dev, Some(BOOT), "GET", "/roots", None), 200);
    let row = listed["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .find(|r| r["id"] == id.as_str())
        .expect("the new root is listed")
        .clone();
    assert_eq!(row, rec);

    // The new root key opens what its permissions allow, within its prefix.
    let (_, k) = new_key(
        dev,
        &root,
        json!({"name": "by-root", "consumer_id": "sup-one"}),
    );
    assert_eq!(k["consumer_id"], "sup-one");
    answer(&call(dev, Some(&root), "GET", "/keys", None), 200);

    let r = call(dev, Some(BOOT), "DELETE", &format!("/roots/{id}"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    assert_unauthenticated(&call(dev, Some(&root), "GET", "/keys", None), true);
    let listed = answer(&call(dev, Some(BOOT), "GET", "/roots", None), 200);
    assert!(listed["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .all(|r| r["id"] != id.as_str()));
    call(dev, Some(BOOT), "DELETE", &format!("/roots/{id}"), None).problem(404);
}

pub fn openapi_document_is_served_without_a_credential_as_committed(c: &Ctx) {
    let r = call(&c.main, None, "GET", "/openapi.json", None);
    let served = answer(&r, 200);
    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "an OpenAPI 3.1 document"
    );
    let committed = std::fs::read_to_string(repo_root().join("openapi/keygate-management.json"))
        .expect("openapi/keygate-management.json is committed");
    let committed: Value = serde_json::from_str(&committed).expect("committed document is JSON");
    assert_eq!(
        served, committed,
        "the gateway serves the committed document"
    );
}

pub fn expiry_after_2038_is_accepted_and_a_far_one_is_never_a_store_fault(c: &Ctx) {
    let dev = &c.main;
    let consumer = marker("far-expiry");
    // 2040-01-01T00:00:00Z: past the 32-bit seconds counter of 2038, and a plain date to give.
    let far: u64 = 2_208_988_800;
    let r = call(
        dev,
        Some(BOOT),
        "POST",
        "/keys",
        Some(&json!({"name": "far", "consumer_id": consumer, "expires_at": far})),
    );
    let v = answer(&r, 201);
    let key = v["key"].as_str().expect("key").to_owned();
    remember_key(&key);
    assert_eq!(v["record"]["expires_at"], far);
    assert_eq!(
        get(&dev.url(&format!("/{consumer}")), Some(&key)).status,
        200
    );
    let (_, id) = plain_key(dev, &consumer);
    let r = call(
        dev,
        Some(BOOT),
        "PATCH",
        &format!("/keys/{id}"),
        Some(&json!({"expires_at": far})),
    );
    assert_eq!(answer(&r, 200)["expires_at"], far);
    // Absurdly far (past JavaScript's 2^53 too): stored, or refused as a bad field; never a 5xx.
    for far in [
        5_316_249_995_158_695_u64,
        9_999_999_999_999_999_999,
        u64::MAX,
    ] {
        for (method, path) in [
            ("PATCH", format!("/keys/{id}")),
            ("POST", "/keys".to_owned()),
        ] {
            let mut body = json!({"expires_at": far});
            if method == "POST" {
                body["name"] = json!("absurd");
                body["consumer_id"] = json!(consumer);
            }
            let r = call(dev, Some(BOOT), method, &path, Some(&body));
            match r.status {
                200 | 201 => {
                    let v = r.json();
                    if let Some(k) = v["key"].as_str() {
                        remember_key(k);
                    }
                }
                422 => {
                    assert_invalid(&r, &["expires_at"]);
                }
                s => panic!("{method} expires_at {far}: {s} {}", r.text()),
            }
        }
    }
}
