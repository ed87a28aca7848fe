//! No answer, header or log fact ever holds a key, a root key or ADMIN_TOKEN, apart from the
//! one-time answer that creates a key (its own key only).

use crate::*;
use keygate_core::management_api::Answer;
use serde_json::json;

#[test]
fn no_answer_or_log_fact_leaks_a_secret() {
    let w = World::default();
    let mut secrets: Vec<String> = vec![ADMIN.to_owned()];
    let mut answers: Vec<(Answer, Option<String>)> = Vec::new();
    let (root, _) = w.root(
        &[
            "keys:read",
            "keys:write",
            "keys:revoke",
            "keys:verify",
            "usage:read",
            "audit:read",
            "roots:manage",
        ],
        None,
    );
    secrets.push(root.clone());
    let created =
        |a: Answer, secrets: &mut Vec<String>, answers: &mut Vec<(Answer, Option<String>)>| {
            let key = json(&a)["key"].as_str().map(str::to_owned);
            if let Some(k) = &key {
                secrets.push(k.clone());
            }
            answers.push((a, key));
        };
    for credential in [ADMIN, root.as_str()] {
        let a = w.as_(
            credential,
            "POST",
            "/keys",
            Some(json!({"name":"web","consumer_id":"acme-eu","quota":{"limit":5,"period":"day"}})),
        );
        created(a, &mut secrets, &mut answers);
    }
    let a = w.call(
        Req::new("POST", "/keys")
            .bearer(&root)
            .header("idempotency-key", "i-1")
            .json(&json!({"name":"web","consumer_id":"acme-eu"})),
    );
    created(a, &mut secrets, &mut answers);
    let replay = w.call(
        Req::new("POST", "/keys")
            .bearer(&root)
            .header("idempotency-key", "i-1")
            .json(&json!({"name":"web","consumer_id":"acme-eu"})),
    );
    let replay_key = json(&replay)["key"].as_str().map(str::to_owned);
    answers.push((replay, replay_key));
    let a = w.as_(
        &root,
        "POST",
        "/roots",
        Some(json!({"name":"r","permissions":["keys:read"]})),
    );
    created(a, &mut secrets, &mut answers);
    let imported = keygate_core::lifecycle::generate_key()
        .unwrap()
        .expose()
        .to_owned();
    secrets.push(imported.clone());
    let some_key = secrets[2].clone();
    let id = keygate_core::ApiKey::new(&some_key).hash().id().to_owned();
    let requests: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/keys/import".into(),
            Some(json!({"keys":[imported, some_key],"name":"i","consumer_id":"acme-eu"})),
        ),
        (
            "POST",
            "/keys/import".into(),
            Some(json!({"keys":[imported],"name":"i","consumer_id":"acme-eu"})),
        ),
        (
            "POST",
            "/keys/verify".into(),
            Some(json!({"key": some_key, "method":"GET","path":"/v1"})),
        ),
        (
            "POST",
            "/keys/verify".into(),
            Some(json!({"key": root, "method":"GET","path":"/v1"})),
        ),
        (
            "POST",
            "/keys/verify".into(),
            Some(json!({"key": some_key, "method":"GET","path": format!("/{some_key}")})),
        ),
        (
            "PATCH",
            format!("/keys/{id}"),
            Some(
                json!({"tier": some_key, "scopes":[some_key], "quota":{"limit":1,"period": some_key}}),
            ),
        ),
        (
            "POST",
            "/keys".into(),
            Some(json!({"name": format!(" {some_key}"), "consumer_id": format!("{some_key}/")})),
        ),
        ("GET", format!("/keys/{id}"), None),
        ("GET", format!("/keys/{id}/usage"), None),
        ("GET", "/keys".into(), None),
        ("GET", "/audit".into(), None),
        ("GET", "/roots".into(), None),
        (
            "POST",
            "/roots".into(),
            Some(json!({"name":"x","permissions":[some_key]})),
        ),
    ];
    for (m, p, b) in requests {
        answers.push((w.as_(&root, m, &p, b), None));
    }
    for credential in [some_key.as_str(), "kgr_guess", ADMIN] {
        answers.push((w.as_(credential, "GET", "/keys", None), None));
    }
    let r = w.as_(&root, "POST", &format!("/keys/{id}/rotate"), None);
    created(r, &mut secrets, &mut answers);
    w.log.fail(keygate_core::management_log::CallKind::Append);
    answers.push((w.as_(&root, "DELETE", &format!("/keys/{id}"), None), None));

    for (a, own) in &answers {
        let headers = format!("{:?}", a.headers);
        let log = format!("{:?}", a.log);
        for s in &secrets {
            assert!(
                !headers.contains(s.as_str()),
                "headers of a {} hold a secret",
                a.status
            );
            assert!(
                !log.contains(s.as_str()),
                "log facts of a {} hold a secret: {log}",
                a.status
            );
            if own.as_deref() != Some(s.as_str()) {
                assert!(
                    !a.body.contains(s.as_str()),
                    "a {} answer holds a secret: {}",
                    a.status,
                    a.body
                );
            }
        }
    }
    assert!(answers.iter().any(|(a, _)| a.status == 422));
    assert!(answers.iter().any(|(a, _)| a.status == 409));
    assert!(answers.iter().any(|(a, _)| a.status == 401));
    assert!(answers.iter().any(|(a, _)| a.status == 503));
    // The audit trail never holds one either.
    let trail = format!("{:?}", w.log.tables.audit());
    for s in &secrets {
        assert!(!trail.contains(s.as_str()));
    }
}
