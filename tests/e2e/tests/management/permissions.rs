//! The permission matrix: root keys holding one permission each, against every endpoint. Each
//! opens exactly the endpoints that permission guards (as core's route table says); every other
//! endpoint is a 403 naming the permission it needs, and changes nothing.

use super::*;
use keygate_core::management::route;

/// One request of the matrix: what to send, and the status it gets when allowed.
struct Probe {
    method: &'static str,
    path: String,
    body: Option<Value>,
    ok: u16,
}

/// The fixtures one root key's row of the matrix acts on, made by the bootstrap principal.
struct Targets {
    key: String,
    key_id: String,
    victim_root: String,
    import: String,
}

fn probes(t: &Targets, permission: &str) -> Vec<Probe> {
    let p = |method, path: String, body: Option<Value>, ok| Probe {
        method,
        path,
        body,
        ok,
    };
    let id = &t.key_id;
    vec![
        p("GET", "/keys".into(), None, 200),
        p(
            "POST",
            "/keys".into(),
            Some(json!({"name": "matrix", "consumer_id": format!("matrix-new-{id}")})),
            201,
        ),
        p("GET", format!("/keys/{id}"), None, 200),
        p(
            "PATCH",
            format!("/keys/{id}"),
            Some(json!({"description": "patched"})),
            200,
        ),
        p("GET", format!("/keys/{id}/usage"), None, 200),
        p(
            "POST",
            "/keys/verify".into(),
            Some(json!({"key": t.key, "method": "GET", "path": "/x"})),
            200,
        ),
        p(
            "POST",
            "/keys/import".into(),
            Some(json!({"keys": [t.import], "name": "matrix", "consumer_id": "matrix-import"})),
            201,
        ),
        p("GET", "/audit".into(), None, 200),
        // Only a root key's own permissions can be given on (no escalation).
        p(
            "POST",
            "/roots".into(),
            Some(json!({"name": "matrix-sub", "permissions": [permission]})),
            201,
        ),
        p("GET", "/roots".into(), None, 200),
        p("DELETE", format!("/roots/{}", t.victim_root), None, 204),
        p("GET", "/openapi.json".into(), None, 200),
        // Last: they change the target key.
        p("POST", format!("/keys/{id}/rotate"), None, 201),
        p("DELETE", format!("/keys/{id}"), None, 204),
    ]
}

/// Runs one permission's row; returns what it allowed, as `METHOD path` with the target's ids
/// replaced by placeholders.
fn row(dev: &Dev, permission: &'static str) -> Vec<String> {
    let (root, _) = new_root(
        dev,
        BOOT,
        &format!("only {permission}"),
        &[permission],
        None,
    );
    let (key, target_id) = plain_key(dev, &format!("matrix-{}", permission.replace(':', "-")));
    let (_, victim) = new_root(dev, BOOT, "victim", &["keys:read"], None);
    let victim_root = victim["id"].as_str().expect("id").to_owned();
    let import = crafted_key(&format!("matrix-import-{permission}"));
    let t = Targets {
        key,
        key_id: target_id.clone(),
        victim_root: victim_root.clone(),
        import: import.clone(),
    };
    let mut allowed = Vec::new();
    for probe in probes(&t, permission) {
        let r = call(
            dev,
            Some(&root),
            probe.method,
            &probe.path,
            probe.body.as_ref(),
        );
        let full = format!("{V1}{}", probe.path);
        let needs = route(probe.method, &full)
            .unwrap_or_else(|e| panic!("{} {full} is no route: {e:?}", probe.method))
            .permission()
            .map(|p| p.as_str());
        let what = format!("{permission} → {} {}", probe.method, probe.path);
        match needs {
            Some(n) if n != permission => {
                assert_forbidden(&r, n);
            }
            _ => {
                assert_eq!(r.status, probe.ok, "{what}: {}", r.text());
                assert_common_headers(&r);
                if let Some(k) = r.status.eq(&201).then(|| r.json()["key"].clone()) {
                    if let Some(k) = k.as_str() {
                        remember_key(k);
                    }
                }
                allowed.push(
                    format!("{} {}", probe.method, probe.path)
                        .replace(&target_id, "{id}")
                        .replace(&victim_root, "{root}"),
                );
            }
        }
    }

    // What was refused changed nothing.
    let target = call(dev, Some(BOOT), "GET", &format!("/keys/{target_id}"), None);
    if permission == "keys:revoke" {
        target.problem(404);
    } else {
        let v = answer(&target, 200);
        let patched = v["description"] == "patched";
        assert_eq!(patched, permission == "keys:write", "{permission}: {v}");
        let rotated = v["expires_at"].is_number();
        assert_eq!(rotated, permission == "keys:write", "{permission}: {v}");
    }
    let imported = call(
        dev,
        Some(BOOT),
        "GET",
        &format!("/keys/{}", key_id(&import)),
        None,
    );
    assert_eq!(
        imported.status == 200,
        permission == "keys:write",
        "{permission}: import"
    );
    let roots = answer(&call(dev, Some(BOOT), "GET", "/roots", None), 200);
    let victim_left = roots["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .any(|r| r["id"] == victim_root.as_str());
    assert_eq!(
        victim_left,
        permission != "roots:manage",
        "{permission}: root revoke"
    );
    allowed
}

pub fn each_permission_opens_exactly_its_endpoints(c: &Ctx) {
    let dev = &c.main;
    let rows: Vec<(&str, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = all_permissions()
            .into_iter()
            .map(|p| (p, s.spawn(move || row(dev, p))))
            .collect();
        handles
            .into_iter()
            .map(|(p, h)| (p, h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))))
            .collect()
    });
    // The matrix as a table, for the eye, and checked against the contract's list.
    let want: &[(&str, &[&str])] = &[
        ("keys:read", &["GET /keys", "GET /keys/{id}"]),
        (
            "keys:write",
            &[
                "POST /keys",
                "PATCH /keys/{id}",
                "POST /keys/import",
                "POST /keys/{id}/rotate",
            ],
        ),
        ("keys:revoke", &["DELETE /keys/{id}"]),
        ("keys:verify", &["POST /keys/verify"]),
        ("usage:read", &["GET /keys/{id}/usage"]),
        ("audit:read", &["GET /audit"]),
        (
            "roots:manage",
            &["POST /roots", "GET /roots", "DELETE /roots/{root}"],
        ),
    ];
    for (p, allowed) in &rows {
        let mut got: Vec<&str> = allowed
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "GET /openapi.json")
            .collect();
        got.sort_unstable();
        let mut w = want
            .iter()
            .find(|(q, _)| q == p)
            .map(|(_, w)| w.to_vec())
            .expect("permission in the table");
        w.sort_unstable();
        assert_eq!(got, w, "{p}");
        assert!(allowed.iter().any(|a| a == "GET /openapi.json"), "{p}");
    }
}
