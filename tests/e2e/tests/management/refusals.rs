//! Every refusal of the contract's answer table that one instance can show: 401, 403, 404, 405,
//! 409, 413, 415 and 422, each a problem+json with the headers every answer carries, and none
//! changing anything.

use super::*;

pub fn missing_unknown_malformed_and_api_key_credentials_get_401(c: &Ctx) {
    let dev = &c.main;
    let (api_key, _) = plain_key(dev, &marker("api-key-401"));
    let unknown = unknown_root_key("401");
    let create = json!({"name": "x", "consumer_id": "nobody-401"});
    for (method, path, body) in [
        ("GET", "/keys", None),
        ("POST", "/keys", Some(&create)),
        ("GET", "/audit", None),
        ("GET", "/roots", None),
    ] {
        let none = call(dev, None, method, path, body);
        assert_unauthenticated(&none, false);
        let mut bodies = Vec::new();
        for token in [
            unknown.as_str(),
            api_key.as_str(),
            "not-a-root-key",
            "kgr_short",
            "e2e-admin-token-5b1e07c9d2a4f86", // ADMIN_TOKEN less its last character
        ] {
            let r = call(dev, Some(token), method, path, body);
            bodies.push(without_request_id(assert_unauthenticated(&r, true)));
        }
        // A root key that does not exist and an API key learn the same.
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "{method} {path}: 401 answers differ: {bodies:?}"
        );
        // Another scheme is no credential of this API.
        let basic = call_raw(
            dev,
            None,
            method,
            path,
            &[("authorization", "Basic dXNlcjpwYXNz")],
            None,
        );
        assert_eq!(basic.status, 401, "{}", basic.text());
    }
    assert!(
        ids_of_consumer(dev, BOOT, "nobody-401").is_empty(),
        "no refused create wrote a key"
    );
}

pub fn missing_permission_gets_403_insufficient_scope_naming_it(c: &Ctx) {
    let dev = &c.main;
    let (reader, _) = new_root(dev, BOOT, "reader-403", &["keys:read"], None);
    let consumer = marker("forbidden");
    let r = call(
        dev,
        Some(&reader),
        "POST",
        "/keys",
        Some(&json!({"name": "x", "consumer_id": consumer})),
    );
    let p = assert_forbidden(&r, "keys:write");
    assert!(
        p["type"]
            .as_str()
            .is_some_and(|t| t.contains("insufficient_scope"))
            || p["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{p}"
    );
    assert_forbidden(
        &call(dev, Some(&reader), "GET", "/audit", None),
        "audit:read",
    );
    assert!(ids_of_consumer(dev, BOOT, &consumer).is_empty());
}

pub fn unknown_ids_routes_and_paths_under_keygate_get_404(c: &Ctx) {
    let dev = &c.main;
    let id = unknown_id("404");
    let patch = json!({"name": "x"});
    for (method, path, body) in [
        ("GET", format!("/keys/{id}"), None),
        ("PATCH", format!("/keys/{id}"), Some(&patch)),
        ("DELETE", format!("/keys/{id}"), None),
        ("POST", format!("/keys/{id}/rotate"), None),
        ("GET", format!("/keys/{id}/usage"), None),
        ("DELETE", format!("/roots/{id}"), None),
    ] {
        let r = call(dev, Some(BOOT), method, &path, body);
        r.problem(404);
    }
    // Not routes: an id that is not 12 lower-case hex, unknown paths, another version.
    for path in [
        format!("{V1}/keys/{}", id.to_uppercase()),
        format!("{V1}/keys/{id}/delete"),
        format!("{V1}/nothing"),
        format!("{V1}/"),
        "/__keygate/v2/keys".to_owned(),
        "/__keygate/anything".to_owned(),
    ] {
        let r = get_with(&dev.url(&path), Some(BOOT), &[]);
        r.problem(404);
        let r = get_with(&dev.url(&path), None, &[]);
        assert!(
            matches!(r.status, 401 | 404),
            "{path} without a credential: {}",
            r.status
        );
        r.problem(r.status);
    }
    assert!(
        c.origin
            .received()
            .iter()
            .all(|r| !r.target.to_ascii_lowercase().contains("keygate")),
        "a management path reached the origin"
    );
}

pub fn known_path_with_another_method_gets_405_with_allow(c: &Ctx) {
    let dev = &c.main;
    let id = unknown_id("405");
    for (method, path, allow) in [
        ("PUT", "/keys".to_owned(), "GET, POST"),
        ("DELETE", "/keys".to_owned(), "GET, POST"),
        ("POST", format!("/keys/{id}"), "GET, PATCH, DELETE"),
        ("GET", format!("/keys/{id}/rotate"), "POST"),
        ("POST", format!("/keys/{id}/usage"), "GET"),
        ("GET", "/keys/import".to_owned(), "POST"),
        ("GET", "/keys/verify".to_owned(), "POST"),
        ("POST", "/audit".to_owned(), "GET"),
        ("PUT", "/roots".to_owned(), "GET, POST"),
        ("GET", format!("/roots/{id}"), "DELETE"),
        ("POST", "/openapi.json".to_owned(), "GET"),
    ] {
        let r = call(dev, Some(BOOT), method, &path, None);
        r.problem(405);
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
}

pub fn conflicts_get_409_and_write_nothing(c: &Ctx) {
    let dev = &c.main;
    let m = marker("conflict");
    let consumer = format!("conf-{m}");
    let (stored, stored_id) = plain_key(dev, &consumer);

    // Import: a key already stored, or one key twice; nothing of the batch is written.
    let fresh = crafted_key(&format!("conflict-fresh-{m}"));
    for keys in [json!([fresh, stored]), json!([fresh, fresh])] {
        let body = json!({"keys": keys, "name": "dup", "consumer_id": consumer});
        let r = call(dev, Some(BOOT), "POST", "/keys/import", Some(&body));
        r.problem(409);
        call(
            dev,
            Some(BOOT),
            "GET",
            &format!("/keys/{}", key_id(&fresh)),
            None,
        )
        .problem(404);
    }
    let kept = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{stored_id}"), None),
        200,
    );
    assert_eq!(kept["name"], "k", "the stored key is untouched");
    assert_eq!(
        get(&dev.url(&format!("/{m}/stored")), Some(&stored)).status,
        200
    );

    // Rotate a disabled key, then an expired one: 409, and no new key appears.
    let (_, disabled) = plain_key(dev, &consumer);
    answer(
        &call(
            dev,
            Some(BOOT),
            "PATCH",
            &format!("/keys/{disabled}"),
            Some(&json!({"enabled": false})),
        ),
        200,
    );
    call(
        dev,
        Some(BOOT),
        "POST",
        &format!("/keys/{disabled}/rotate"),
        None,
    )
    .problem(409);
    let expires = unix_now() + 2;
    let (_, expiring) = new_key(
        dev,
        BOOT,
        json!({"name": "brief", "consumer_id": consumer, "expires_at": expires}),
    );
    let expiring = expiring["id"].as_str().expect("id").to_owned();
    sleep_past(expires);
    let got = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{expiring}"), None),
        200,
    );
    assert_eq!(got["state"], "expired");
    call(
        dev,
        Some(BOOT),
        "POST",
        &format!("/keys/{expiring}/rotate"),
        Some(&json!({"overlap": 0})),
    )
    .problem(409);
    assert_eq!(
        ids_of_consumer(dev, BOOT, &consumer).len(),
        3,
        "no key was added by a refused import or rotate"
    );
}

/// A JSON create body padded with spaces to exactly `len` bytes.
fn padded_create(consumer: &str, len: usize) -> Vec<u8> {
    let mut body = json!({"name": "big", "consumer_id": consumer})
        .to_string()
        .into_bytes();
    assert!(body.len() < len);
    body.resize(len, b' ');
    body
}

pub fn body_over_64_kib_gets_413_and_one_of_64_kib_passes(c: &Ctx) {
    let dev = &c.main;
    let consumer = marker("big-body");
    let json_ct = [("content-type", "application/json")];
    let r = call_raw(
        dev,
        Some(BOOT),
        "POST",
        "/keys",
        &json_ct,
        Some(padded_create(&consumer, 64 * 1024 + 1)),
    );
    r.problem(413);
    // The same over a chunked body, which declares no length.
    let body = padded_create(&consumer, 70_000);
    let mut req = format!(
        "POST {V1}/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {BOOT}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(8192) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    raw(&dev.base, &req).problem(413);
    // Patch and import bodies are bounded alike.
    let (_, id) = plain_key(dev, &format!("{consumer}-p"));
    call_raw(
        dev,
        Some(BOOT),
        "PATCH",
        &format!("/keys/{id}"),
        &json_ct,
        Some(padded_create(&consumer, 100_000)),
    )
    .problem(413);
    assert!(ids_of_consumer(dev, BOOT, &consumer).is_empty());

    // Exactly 64 KiB is allowed.
    let r = call_raw(
        dev,
        Some(BOOT),
        "POST",
        "/keys",
        &json_ct,
        Some(padded_create(&consumer, 64 * 1024)),
    );
    let v = answer(&r, 201);
    remember_key(v["key"].as_str().expect("key"));
    assert_eq!(ids_of_consumer(dev, BOOT, &consumer).len(), 1);
}

pub fn body_that_is_not_json_content_gets_415(c: &Ctx) {
    let dev = &c.main;
    let consumer = marker("media");
    let body = json!({"name": "x", "consumer_id": consumer}).to_string();
    let (_, id) = plain_key(dev, &format!("{consumer}-p"));
    let patch = json!({"name": "renamed"}).to_string();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        Some("application/merge-patch+json"), // only PATCH takes it
        None,
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|v| ("content-type", v)).into_iter().collect();
        let r = call_raw(
            dev,
            Some(BOOT),
            "POST",
            "/keys",
            &headers,
            Some(body.clone().into_bytes()),
        );
        r.problem(415);
        if ct != Some("application/merge-patch+json") {
            call_raw(
                dev,
                Some(BOOT),
                "PATCH",
                &format!("/keys/{id}"),
                &headers,
                Some(patch.clone().into_bytes()),
            )
            .problem(415);
        }
        for path in ["/keys/verify", "/keys/import", "/roots"] {
            call_raw(
                dev,
                Some(BOOT),
                "POST",
                path,
                &headers,
                Some(b"{}".to_vec()),
            )
            .problem(415);
        }
        call_raw(
            dev,
            Some(BOOT),
            "POST",
            &format!("/keys/{id}/rotate"),
            &headers,
            Some(b"{\"overlap\":0}".to_vec()),
        )
        .problem(415);
    }
    assert!(ids_of_consumer(dev, BOOT, &consumer).is_empty());
    let got = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{id}"), None),
        200,
    );
    assert_eq!(
        got["name"], "k",
        "no refused patch or rotate changed the key"
    );
    // With parameters it is still JSON.
    let r = call_raw(
        dev,
        Some(BOOT),
        "POST",
        "/keys",
        &[("content-type", "application/json; charset=utf-8")],
        Some(body.into_bytes()),
    );
    remember_key(answer(&r, 201)["key"].as_str().expect("key"));
}

pub fn invalid_fields_get_422_with_one_entry_per_field(c: &Ctx) {
    let dev = &c.main;
    let consumer = marker("invalid");
    let (_, id) = plain_key(dev, &consumer);
    let post = |path: &str, body: Value| call(dev, Some(BOOT), "POST", path, Some(&body));

    // Three bad fields, three entries.
    let r = post(
        "/keys",
        json!({"name": "", "consumer_id": "bad consumer", "expires_at": 1}),
    );
    assert_invalid(&r, &["name", "consumer_id", "expires_at"]);
    let r = post(
        "/keys",
        json!({"name": "x", "consumer_id": consumer, "scopes": ["nonsense"],
               "tier": "Not A Tier", "quota": {"limit": 0, "period": "day"}, "colour": "blue"}),
    );
    assert_invalid(&r, &["scopes", "tier", "quota", "colour"]);
    assert_invalid(&post("/keys", json!({})), &["name", "consumer_id"]);
    assert_invalid(
        &post(
            "/keys",
            json!({"name": 5, "consumer_id": consumer, "meta": []}),
        ),
        &["name", "meta"],
    );
    for raw_body in ["not json", "[1,2]", "\"a string\"", "{\"name\":", ""] {
        let r = call_raw(
            dev,
            Some(BOOT),
            "POST",
            "/keys",
            &[("content-type", "application/json")],
            Some(raw_body.as_bytes().to_vec()),
        );
        assert_invalid(&r, &["body"]);
    }

    // Patch: null scopes, unknown and read-only fields, wrong types.
    let patch = |body: Value| {
        call(
            dev,
            Some(BOOT),
            "PATCH",
            &format!("/keys/{id}"),
            Some(&body),
        )
    };
    assert_invalid(&patch(json!({"scopes": null})), &["scopes"]);
    assert_invalid(
        &patch(json!({"enabled": "yes", "expires_at": 5, "id": "000000000000"})),
        &["enabled", "expires_at", "id"],
    );
    assert_invalid(
        &patch(json!({"consumer_id": "elsewhere", "name": ""})),
        &["consumer_id", "name"],
    );

    // Rotate, verify, import, roots.
    let rotate = format!("/keys/{id}/rotate");
    assert_invalid(&post(&rotate, json!({"overlap": 2_592_001})), &["overlap"]);
    assert_invalid(&post(&rotate, json!({"overlap": -1})), &["overlap"]);
    assert_invalid(
        &post(&rotate, json!({"overlap": 5, "later": true})),
        &["later"],
    );
    assert_invalid(
        &post("/keys/verify", json!({"key": "x"})),
        &["method", "path"],
    );
    assert_invalid(
        &post(
            "/keys/import",
            json!({"keys": [], "name": "x", "consumer_id": consumer}),
        ),
        &["keys"],
    );
    assert_invalid(
        &post(
            "/roots",
            json!({"name": "r", "permissions": ["keys:nuke"], "consumer_prefix": "a b"}),
        ),
        &["permissions", "consumer_prefix"],
    );

    // Query parameters.
    for (query, field) in [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("state=gone", "state"),
        ("cursor=%21%21not-a-cursor", "cursor"),
    ] {
        assert_invalid(
            &call(dev, Some(BOOT), "GET", &format!("/keys?{query}"), None),
            &[field],
        );
    }
    assert_invalid(
        &call(dev, Some(BOOT), "GET", "/audit?limit=0", None),
        &["limit"],
    );
    assert_invalid(
        &call(dev, Some(BOOT), "GET", "/audit?cursor=%21%21", None),
        &["cursor"],
    );

    // Nothing was created or changed.
    assert_eq!(ids_of_consumer(dev, BOOT, &consumer), vec![id.clone()]);
    let got = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{id}"), None),
        200,
    );
    assert_eq!(got["name"], "k");
    assert_eq!(got["state"], "active");
}
