//! Bodies: 413 over 64 KiB, 415 for anything but JSON, 422 for a body that is not a JSON object,
//! and a 422 that names every invalid field, not only the first.

use crate::*;
use keygate_core::management_api::MAX_BODY;
use keygate_core::telemetry::Decision;
use serde_json::json;

#[test]
fn a_body_over_64_kib_is_413_by_its_length_or_as_read() {
    let w = World::default();
    let big = json!({"name":"web","consumer_id":"acme","description": "x".repeat(MAX_BODY)});
    let a = w.admin("POST", "/keys", Some(big));
    assert_eq!(a.status, 413);
    assert_own_headers(&a);
    assert_eq!(a.log.decision, Decision::ManagementInvalid);
    assert_eq!(w.key_records(), 0);
    // Just at the limit is read (and then judged on its fields).
    let pad = MAX_BODY - r#"{"name":"web","consumer_id":"acme","description":""}"#.len();
    let exact = json!({"name":"web","consumer_id":"acme","description": "x".repeat(pad)});
    assert_eq!(exact.to_string().len(), MAX_BODY);
    let a = w.admin("POST", "/keys", Some(exact));
    assert_eq!(fields(&a), ["description"]);
}

#[test]
fn only_json_is_accepted_and_merge_patch_only_for_patch() {
    let w = World::default();
    let body = json!({"name":"web","consumer_id":"acme"}).to_string();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/merge-patch+json",
        "application/jsonx",
    ] {
        let a = w.call(
            Req::new("POST", "/keys")
                .bearer(ADMIN)
                .header("content-type", ct)
                .header("x-body", "1"),
        );
        // No body at all is not JSON either.
        assert_eq!(a.status, 415, "{ct}");
        let mut r = Req::new("POST", "/keys")
            .bearer(ADMIN)
            .header("content-type", ct);
        r.body = Some(body.clone());
        let a = w.call(r);
        assert_eq!(a.status, 415, "{ct}");
        assert_eq!(code(&a), "unsupported_media_type");
        assert_own_headers(&a);
    }
    let mut r = Req::new("POST", "/keys").bearer(ADMIN);
    r.body = Some(body.clone());
    assert_eq!(w.call(r).status, 415, "no content type");
    for ct in ["application/json", "Application/JSON; charset=utf-8"] {
        let mut r = Req::new("POST", "/keys")
            .bearer(ADMIN)
            .header("content-type", ct);
        r.body = Some(body.clone());
        assert_eq!(w.call(r).status, 201, "{ct}");
    }
}

#[test]
fn a_body_that_is_not_a_json_object_is_one_422_for_body() {
    let w = World::default();
    for body in ["", "{", "[1,2]", "\"text\"", "null", "{\"a\":1}x"] {
        let a = w.call(Req::new("POST", "/keys").bearer(ADMIN).raw_json(body));
        assert_eq!(fields(&a), ["body"], "{body:?}");
        assert_own_headers(&a);
    }
    // Rotate alone may come without a body.
    let (_, id) = w.key("acme", json!({}));
    let a = w.call(Req::new("POST", &format!("/keys/{id}/rotate")).bearer(ADMIN));
    assert_eq!(a.status, 201);
}

#[test]
fn every_invalid_field_is_reported_at_once() {
    let w = World::default();
    let a = w.admin(
        "POST",
        "/keys",
        Some(json!({
            "name": " padded ",
            "consumer_id": "acme/eu",
            "consumer_name": 5,
            "description": "bell\u{7}",
            "expires_at": NOW - 1,
            "scopes": ["GET no-slash", "GET /ok"],
            "meta": [1],
            "tier": "Pro!",
            "quota": {"limit": 0, "period": "fortnight", "per": "team"},
            "color": "red",
        })),
    );
    assert_eq!(a.log.decision, Decision::ManagementInvalid);
    let mut f = fields(&a);
    f.dedup();
    assert_eq!(
        f,
        [
            "color",
            "consumer_id",
            "consumer_name",
            "description",
            "expires_at",
            "meta",
            "name",
            "quota",
            "scopes",
            "tier"
        ]
    );
    let v = json(&a);
    assert_eq!(v["status"], 422);
    assert!(v["detail"].as_str().unwrap().contains("invalid"));
    // Both required fields missing: both named.
    assert_eq!(
        fields(&w.admin("POST", "/keys", Some(json!({})))),
        ["name", "consumer_id"]
    );
    assert_eq!(w.key_records(), 0);
}

#[test]
fn a_member_name_that_is_no_plain_identifier_is_not_echoed() {
    let w = World::default();
    let secretish = "kg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_AAAAAA?";
    let a = w.admin(
        "POST",
        "/keys",
        Some(json!({"name":"web","consumer_id":"acme", secretish: 1})),
    );
    assert_eq!(fields(&a), ["body"]);
    assert!(!a.body.contains(secretish));
}
