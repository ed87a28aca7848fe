//! Who may call the management API: a root key or ADMIN_TOKEN, nothing else; the two rate
//! limits around authentication; routing answers and the public OpenAPI document.

use crate::*;
use keygate_core::management::OPENAPI_JSON;
use keygate_core::management_api::{IP_LIMIT_BINDING, KEY_LIMIT_BINDING};
use keygate_core::telemetry::Decision;

#[test]
fn no_credential_is_a_401_without_an_error_code() {
    let w = World::default();
    let a = w.call(Req::new("GET", "/keys"));
    assert_eq!(a.status, 401);
    assert_own_headers(&a);
    assert_eq!(
        header(&a, "www-authenticate"),
        Some(r#"Bearer realm="keygate-management""#)
    );
    assert_eq!(a.log.decision, Decision::ManagementUnauthenticated);
    assert_eq!(a.log.actor, None);
}

#[test]
fn anything_but_a_root_key_or_admin_token_is_an_invalid_token() {
    let w = World::default();
    let (api_key, _) = w.key("acme-eu", serde_json::json!({}));
    let unknown_root = keygate_core::root::RootKey::generate().unwrap();
    for credential in [
        api_key.as_str(),
        unknown_root.expose(),
        "admin-token-0123456789abcdeX",
        "kgr_not_a_root_key",
        "something-else",
    ] {
        let a = w.as_(credential, "GET", "/keys", None);
        assert_eq!(a.status, 401, "{credential}");
        assert_eq!(
            header(&a, "www-authenticate"),
            Some(r#"Bearer realm="keygate-management", error="invalid_token""#)
        );
        assert_eq!(code(&a), "invalid_token");
    }
    let a = w.call(Req::new("GET", "/keys").header("authorization", "Basic abc"));
    assert_eq!(a.status, 401);
    assert_eq!(code(&a), "invalid_token");
}

#[test]
fn admin_token_is_the_bootstrap_principal_and_a_root_key_is_itself() {
    let w = World::default();
    let a = w.admin("GET", "/keys", None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.log.actor.as_deref(), Some("bootstrap"));
    assert_eq!(a.log.decision, Decision::ManagementOk);
    let (root, id) = w.root(&["keys:read"], None);
    let a = w.as_(&root, "GET", "/keys", None);
    assert_eq!(a.status, 200);
    assert_eq!(a.log.actor.as_deref(), Some(id.as_str()));
}

#[test]
fn without_admin_token_only_root_keys_open_the_api() {
    let w = World::with(&[]);
    assert_eq!(w.admin("GET", "/keys", None).status, 401);
    let (root, _) = w.root(&["keys:read"], None);
    assert_eq!(w.as_(&root, "GET", "/keys", None).status, 200);
}

#[test]
fn a_revoked_root_key_no_longer_opens_the_api() {
    let w = World::default();
    let (root, id) = w.root(&["keys:read", "roots:manage"], None);
    // A root key may revoke itself.
    assert_eq!(
        w.as_(&root, "DELETE", &format!("/roots/{id}"), None).status,
        204
    );
    assert_eq!(w.as_(&root, "GET", "/keys", None).status, 401);
}

#[test]
fn the_address_limit_comes_before_authentication_and_the_principal_limit_after() {
    let w = World::default();
    w.limiter.set(IP_LIMIT_BINDING, 2);
    for _ in 0..2 {
        assert_eq!(w.call(Req::new("GET", "/keys").bearer("guess")).status, 401);
    }
    let gets_before = w.kv.inner.calls().len();
    let a = w.call(Req::new("GET", "/keys").bearer(ADMIN));
    assert_eq!(a.status, 429);
    assert_own_headers(&a);
    assert_eq!(header(&a, "retry-after"), Some("60"));
    assert_eq!(a.log.decision, Decision::ManagementRateLimited);
    assert_eq!(w.kv.inner.calls().len(), gets_before, "no store read");
    // Another address is not held back.
    assert_eq!(
        w.call(Req::new("GET", "/keys").bearer(ADMIN).from("203.0.113.9"))
            .status,
        200
    );

    let w = World::default();
    w.limiter.set(KEY_LIMIT_BINDING, 1);
    assert_eq!(w.admin("GET", "/keys", None).status, 200);
    let a = w.call(Req::new("GET", "/keys").bearer(ADMIN).from("203.0.113.9"));
    assert_eq!(
        a.status, 429,
        "the principal's limit follows it to any address"
    );
    assert_eq!(w.limiter.count(KEY_LIMIT_BINDING, "bootstrap"), 2);
    // A failed authentication does not count against anyone's principal limit.
    w.call(Req::new("GET", "/keys").bearer("guess"));
    assert_eq!(w.limiter.count(KEY_LIMIT_BINDING, "bootstrap"), 2);
    let (root, id) = w.root(&["keys:read"], None);
    assert_eq!(w.as_(&root, "GET", "/keys", None).status, 200);
    assert_eq!(w.limiter.count(KEY_LIMIT_BINDING, &id), 1);
}

#[test]
fn a_missing_limit_binding_is_a_configuration_fault_and_a_failing_one_a_503() {
    for binding in [IP_LIMIT_BINDING, KEY_LIMIT_BINDING] {
        let w = World::default();
        w.limiter.missing.borrow_mut().push(binding.into());
        let a = w.admin("GET", "/keys", None);
        assert_eq!(a.status, 500, "{binding}");
        assert_own_headers(&a);
        assert_eq!(a.log.decision, Decision::ConfigError);
        assert!(a.log.detail.as_deref().unwrap().contains(binding));
        assert!(a.is_fault());
    }
    let w = World::default();
    w.limiter.failing.set(true);
    let a = w.admin("GET", "/keys", None);
    assert_eq!(a.status, 503);
    assert_eq!(header(&a, "retry-after"), Some("5"));
    assert_eq!(a.log.decision, Decision::RateLimiterUnavailable);
}

#[test]
fn the_openapi_document_is_public_and_spends_nothing() {
    let w = World::default();
    let a = w.call(Req::new("GET", "/openapi.json"));
    assert_eq!(a.status, 200);
    assert_eq!(a.body, OPENAPI_JSON);
    assert_eq!(header(&a, "content-type"), Some("application/json"));
    assert_own_headers(&a);
    assert_eq!(w.limiter.total(), 0);
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let w = World::default();
    let a = w.admin("GET", "/nope", None);
    assert_eq!(a.status, 404);
    assert_own_headers(&a);
    assert_eq!(a.log.decision, Decision::ManagementNotFound);
    let a = w.admin("PUT", "/keys", None);
    assert_eq!(a.status, 405);
    assert_eq!(header(&a, "allow"), Some("GET, POST"));
    assert_eq!(a.log.decision, Decision::ManagementInvalid);
}
