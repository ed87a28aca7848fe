//! The whole decision pipeline against in-memory key stores, including a failing one:
//! parse → path → hash → lookup → decide → upstream request → problem answer.

mod common;

use common::{config, scoped, try_config, FakeStore, SECRET};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use keygate_core::forward::ClientContext;
use keygate_core::record::CorruptRecord;
use keygate_core::{
    authorize, ApiKey, Config, ConfigError, Denial, Fault, InvalidKey, KeyRecord, Refusal,
    RequestHead, StoreError, Verdict,
};

const NOW: u64 = 1_800_000_000;
const KEY: &str = "ab_validkey";

/// An active record for `key`, owned by Acme, created before [`NOW`].
fn record(key: &str) -> KeyRecord {
    KeyRecord {
        consumer_name: Some("Acme".into()),
        created_at: NOW - 100,
        ..common::record(key, "acme")
    }
}

fn headers(auth: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for a in auth {
        h.append(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(a).unwrap(),
        );
    }
    h.insert(
        HeaderName::from_static("x-consumer-id"),
        HeaderValue::from_static("forged"),
    );
    h
}

fn decide(store: &FakeStore, h: &HeaderMap, path: &str) -> Result<Verdict, Fault> {
    decide_with(&config(&[]), store, "GET", h, path, Some("q=1"))
}

fn decide_with(
    cfg: &Config,
    store: &FakeStore,
    method: &str,
    h: &HeaderMap,
    path: &str,
    query: Option<&str>,
) -> Result<Verdict, Fault> {
    let head = RequestHead {
        method,
        path,
        query,
        headers: h,
        client: ClientContext {
            client_ip: Some("198.51.100.7"),
            proto: "https",
            request_id: "rid",
        },
    };
    pollster::block_on(authorize(cfg, &head, store, NOW))
}

fn denial(v: Result<Verdict, Fault>) -> Denial {
    match v {
        Ok(Verdict::Deny(d)) => d,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn valid_key_is_forwarded_with_our_headers_to_the_joined_url() {
    let store = FakeStore::with(&[(KEY, record(KEY))]);
    let Ok(Verdict::Accept(a)) = decide(&store, &headers(&[&format!("Bearer {KEY}")]), "/v1/items")
    else {
        panic!("not accepted")
    };
    assert_eq!(a.target.url, "https://api.example/base/v1/items?q=1");
    assert_eq!(a.headers.get("x-shared-secret").unwrap(), SECRET);
    assert_eq!(
        a.headers
            .get_all("x-consumer-id")
            .iter()
            .collect::<Vec<_>>(),
        vec!["acme"]
    );
    assert!(a.headers.get("authorization").is_none());
    assert_eq!(store.reads.get(), 1);
}

#[test]
fn missing_credential_is_denied_without_a_store_read() {
    let store = FakeStore::with(&[]);
    assert_eq!(
        denial(decide(&store, &headers(&[]), "/")),
        Denial::MissingCredential
    );
    assert_eq!(store.reads.get(), 0);
}

#[test]
fn malformed_credentials_and_bad_paths_are_denied_without_a_store_read() {
    let store = FakeStore::with(&[(KEY, record(KEY))]);
    let auth = format!("Bearer {KEY}");
    for (h, path) in [
        (headers(&["Basic abc"]), "/"),
        (headers(&["Bearer a b"]), "/"),
        (headers(&[&auth, &auth]), "/"),
        (headers(&[&auth]), "/%2F%2Fevil"),
        (headers(&[&auth]), "http://evil/"),
    ] {
        assert!(matches!(
            denial(decide(&store, &h, path)),
            Denial::Malformed(_) | Denial::BadPath(_)
        ));
    }
    assert_eq!(store.reads.get(), 0);
}

#[test]
fn expired_key_is_indistinguishable_from_unknown() {
    let mut expired = record("ab_expired");
    expired.expires_at = Some(NOW);
    let mut disabled = record("ab_disabled");
    disabled.disabled = true;
    let store = FakeStore::with(&[("ab_expired", expired), ("ab_disabled", disabled)]);
    let answers: Vec<_> = ["ab_expired", "ab_disabled", "ab_unknown"]
        .iter()
        .map(|k| {
            let d = denial(decide(&store, &headers(&[&format!("Bearer {k}")]), "/"));
            Refusal::Denied(d).problem()
        })
        .collect();
    assert!(answers.iter().all(|p| p == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].status, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_log_reason_still_tells_expired_disabled_and_unknown_apart() {
    let mut expired = record("ab_expired");
    expired.expires_at = Some(NOW - 1);
    let store = FakeStore::with(&[("ab_expired", expired)]);
    let d = denial(decide(&store, &headers(&["Bearer ab_expired"]), "/"));
    assert!(matches!(
        d,
        Denial::InvalidKey {
            reason: InvalidKey::Expired,
            ..
        }
    ));
    assert_eq!(Refusal::Denied(d).reason_code().as_str(), "expired");
}

#[test]
fn corrupt_or_misplaced_record_is_an_invalid_key_not_a_fault() {
    let store = FakeStore::with(&[("ab_elsewhere", record("ab_other"))]);
    store.put_raw("ab_garbage", "{oops".into());
    let d = denial(decide(&store, &headers(&["Bearer ab_garbage"]), "/"));
    assert!(matches!(
        d,
        Denial::InvalidKey {
            reason: InvalidKey::Corrupt(CorruptRecord::NotJson),
            ..
        }
    ));
    let d = denial(decide(&store, &headers(&["Bearer ab_elsewhere"]), "/"));
    assert!(matches!(
        d,
        Denial::InvalidKey {
            reason: InvalidKey::Corrupt(CorruptRecord::IdMismatch),
            ..
        }
    ));
}

#[test]
fn store_failure_fails_closed_with_503_and_retry_after() {
    let store = FakeStore::with(&[(KEY, record(KEY))]);
    store.fail.set(true);
    let fault = decide(&store, &headers(&[&format!("Bearer {KEY}")]), "/").unwrap_err();
    assert!(matches!(fault, Fault::StoreUnavailable(_)));
    let p = Refusal::Fault(fault).problem();
    assert_eq!(p.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(p.retry_after.is_some_and(|s| s > 0));
}

#[test]
fn every_refusal_maps_to_the_contracted_status() {
    let key_id = keygate_core::pipeline::KeyIdBuf::from_hash(&ApiKey::new("k").hash());
    let cases = [
        (
            Refusal::Denied(Denial::OutOfScope {
                key_id,
                scopes: "GET:/a".into(),
            }),
            403,
        ),
        (Refusal::Denied(Denial::MissingCredential), 401),
        (
            Refusal::Denied(Denial::Malformed(
                keygate_core::credential::Malformed::TooLong,
            )),
            400,
        ),
        (
            Refusal::Denied(Denial::BadPath(
                keygate_core::path::PathError::EncodedSeparator,
            )),
            400,
        ),
        (
            Refusal::Denied(Denial::BadPath(keygate_core::path::PathError::TooLong)),
            414,
        ),
        (
            Refusal::Denied(Denial::InvalidKey {
                reason: InvalidKey::Unknown,
                key_id,
            }),
            401,
        ),
        (
            Refusal::Fault(Fault::Config(ConfigError::MissingSecret)),
            500,
        ),
        (
            Refusal::Fault(Fault::StoreUnavailable(StoreError("x".into()))),
            503,
        ),
        (Refusal::Fault(Fault::OriginUnreachable), 502),
        (Refusal::Fault(Fault::OriginTimeout), 504),
    ];
    for (refusal, status) in cases {
        let p = refusal.problem();
        assert_eq!(p.status.as_u16(), status, "{refusal:?}");
        let body: serde_json::Value = serde_json::from_str(&p.body("rid-9")).unwrap();
        assert_eq!(body["status"], status);
        assert_eq!(body["request_id"], "rid-9");
        assert!(body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:keygate:problem:"));
        let needs_challenge = status == 401
            || status == 403
            || (status == 400 && matches!(refusal, Refusal::Denied(Denial::Malformed(_))));
        assert_eq!(p.www_authenticate.is_some(), needs_challenge, "{refusal:?}");
    }
}

#[test]
fn problem_bodies_and_debug_output_never_contain_the_key_hash_or_secret() {
    let store = FakeStore::with(&[]);
    let key = "ab_secretkeymaterial";
    let v = decide(&store, &headers(&[&format!("Bearer {key}")]), "/");
    let debug = format!("{v:?}");
    let refusal = Refusal::Denied(denial(v));
    let text = format!("{debug} {refusal:?} {}", refusal.problem().body("rid"));
    let hash = ApiKey::new(key).hash();
    assert!(!text.contains(key));
    assert!(!text.contains(hash.as_kv_key()));
    assert!(!text.contains(SECRET));
    assert!(
        text.contains(hash.id()),
        "the short id is allowed, for logs"
    );
}

/// A key in our format with a valid checksum.
fn our_key(fill: char) -> String {
    keygate_core::keyformat::assemble(&fill.to_string().repeat(43))
}

#[test]
fn prefixed_key_with_a_bad_checksum_is_refused_without_a_store_read() {
    let good = our_key('a');
    let store = FakeStore::with(&[(good.as_str(), record(&good))]);
    let mut bad = good.clone();
    bad.replace_range(5..6, "b");
    let d = denial(decide(&store, &headers(&[&format!("Bearer {bad}")]), "/"));
    assert!(matches!(
        d,
        Denial::InvalidKey {
            reason: InvalidKey::BadChecksum,
            ..
        }
    ));
    assert_eq!(
        store.reads.get(),
        0,
        "no KV read for a key that fails its checksum"
    );
    assert!(matches!(
        decide(&store, &headers(&[&format!("Bearer {good}")]), "/"),
        Ok(Verdict::Accept(_))
    ));
    assert_eq!(store.reads.get(), 1);
    let unknown = denial(decide(&store, &headers(&["Bearer ab_unknown"]), "/"));
    assert_eq!(
        Refusal::Denied(d).problem(),
        Refusal::Denied(unknown).problem(),
        "looks like any unknown key"
    );
}

#[test]
fn imported_keys_without_our_prefix_are_looked_up() {
    let store = FakeStore::with(&[("legacy-key-123", record("legacy-key-123"))]);
    assert!(matches!(
        decide(&store, &headers(&["Bearer legacy-key-123"]), "/"),
        Ok(Verdict::Accept(_))
    ));
    assert_eq!(store.reads.get(), 1);
}

#[test]
fn request_outside_the_key_scopes_gets_403_with_the_scopes() {
    let store = FakeStore::with(&[(KEY, scoped(KEY, &["GET /v1/*", "* /reports/**"]))]);
    let h = headers(&[&format!("Bearer {KEY}")]);
    let ok = |m: &str, p: &str| {
        matches!(
            decide_with(&config(&[]), &store, m, &h, p, None),
            Ok(Verdict::Accept(_))
        )
    };
    assert!(ok("GET", "/v1/items"));
    assert!(ok("DELETE", "/reports/2026/q1"));
    assert!(!ok("POST", "/v1/items"));
    assert!(!ok("GET", "/v1/items/7"));
    let d = denial(decide_with(&config(&[]), &store, "GET", &h, "/admin", None));
    let p = Refusal::Denied(d).problem();
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let challenge = p.www_authenticate.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"GET:/v1/* *:/reports/**\""),
        "{challenge}"
    );
}

#[test]
fn traversal_cannot_slip_past_a_scope() {
    let store = FakeStore::with(&[(KEY, scoped(KEY, &["GET /v1/*"]))]);
    let h = headers(&[&format!("Bearer {KEY}")]);
    for p in ["/v1/../admin", "/v1/%2e%2e/admin", "/v1/./../admin"] {
        let d = denial(decide_with(&config(&[]), &store, "GET", &h, p, None));
        assert!(matches!(d, Denial::OutOfScope { .. }), "{p}: {d:?}");
    }
}

#[test]
fn anonymous_requests_pass_only_when_allowed_and_bad_credentials_never_do() {
    let store = FakeStore::with(&[]);
    let open = config(&[("ALLOW_ANONYMOUS", "true")]);
    let Ok(Verdict::Accept(a)) = decide_with(&open, &store, "GET", &headers(&[]), "/", None) else {
        panic!()
    };
    assert_eq!(a.caller, keygate_core::forward::Caller::Anonymous);
    assert_eq!(a.headers.get("x-consumer-anonymous").unwrap(), "true");
    assert!(a.headers.get("x-consumer-id").is_none());
    let deny = |cfg: &Config, auth: &[&str]| {
        denial(decide_with(cfg, &store, "GET", &headers(auth), "/", None))
    };
    assert_eq!(deny(&config(&[]), &[]), Denial::MissingCredential);
    assert!(matches!(
        deny(&open, &["Bearer ab_x"]),
        Denial::InvalidKey { .. }
    ));
    assert!(matches!(deny(&open, &["Basic x"]), Denial::Malformed(_)));
}

#[test]
fn cors_preflight_passes_without_a_key_only_when_enabled() {
    let store = FakeStore::with(&[]);
    let mut h = headers(&[]);
    h.insert(
        http::header::ACCESS_CONTROL_REQUEST_METHOD,
        HeaderValue::from_static("POST"),
    );
    let on = config(&[("CORS_PREFLIGHT", "true")]);
    let Ok(Verdict::Accept(a)) = decide_with(&on, &store, "OPTIONS", &h, "/v1", None) else {
        panic!()
    };
    assert_eq!(a.caller, keygate_core::forward::Caller::Preflight);
    assert_eq!(
        denial(decide_with(
            &config(&[]),
            &store,
            "OPTIONS",
            &h,
            "/v1",
            None
        )),
        Denial::MissingCredential
    );
    // A plain OPTIONS without the preflight header still needs a key.
    assert_eq!(
        denial(decide_with(
            &on,
            &store,
            "OPTIONS",
            &headers(&[]),
            "/v1",
            None
        )),
        Denial::MissingCredential
    );
    assert_eq!(store.reads.get(), 0);
}

#[test]
fn x_api_key_is_a_source_only_when_enabled_and_must_agree_with_bearer() {
    use keygate_core::credential::Malformed;
    let store = FakeStore::with(&[(KEY, record(KEY))]);
    let on = config(&[("KEY_SOURCES", "authorization,x-api-key")]);
    let mut h = HeaderMap::new();
    h.insert("x-api-key", HeaderValue::from_static(KEY));
    assert!(matches!(
        decide_with(&on, &store, "GET", &h, "/", None),
        Ok(Verdict::Accept(_))
    ));
    assert_eq!(
        denial(decide_with(&config(&[]), &store, "GET", &h, "/", None)),
        Denial::MissingCredential
    );
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Bearer ab_other"),
    );
    assert_eq!(
        denial(decide_with(&on, &store, "GET", &h, "/", None)),
        Denial::Malformed(Malformed::ConflictingSources)
    );
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {KEY}")).unwrap(),
    );
    assert!(matches!(
        decide_with(&on, &store, "GET", &h, "/", None),
        Ok(Verdict::Accept(_))
    ));
}

#[test]
fn key_in_the_query_string_gets_400_without_a_store_read() {
    use keygate_core::credential::Malformed;
    let store = FakeStore::with(&[(KEY, record(KEY))]);
    for q in ["access_token=abc", &format!("k={}", our_key('q'))] {
        let d = denial(decide_with(
            &config(&[]),
            &store,
            "GET",
            &headers(&[&format!("Bearer {KEY}")]),
            "/",
            Some(q),
        ));
        assert_eq!(d, Denial::Malformed(Malformed::KeyInQuery));
        assert_eq!(Refusal::Denied(d).problem().status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(store.reads.get(), 0);
}

/// The signature as an origin computes it, from the spec, with no keygate code.
fn expected_signature(t: u64, method: &str, target: &str, consumer: &str, key_id: &str) -> String {
    use hmac::Mac;
    let canonical = format!("keygate-v1\n{t}\n{method}\n{target}\n{consumer}\n{key_id}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(canonical.as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn accepted_with(signing: &str, method: &str, path: &str, query: Option<&str>) -> HeaderMap {
    let store = FakeStore::with(&[(KEY, record(KEY))]);
    let cfg = config(&[("SIGNING", signing), ("ALLOW_ANONYMOUS", "true")]);
    let h = headers(&[&format!("Bearer {KEY}")]);
    match decide_with(&cfg, &store, method, &h, path, query) {
        Ok(Verdict::Accept(a)) => a.headers,
        other => panic!("not accepted: {other:?}"),
    }
}

#[test]
fn hmac_signing_signs_the_forwarded_target_and_identity_beside_the_static_secret() {
    let h = accepted_with("hmac", "POST", "/v1/../v1/orders", Some("limit=10"));
    let id = ApiKey::new(KEY).hash().id().to_owned();
    assert_eq!(
        h.get("x-keygate-signature").unwrap(),
        &expected_signature(NOW, "POST", "/base/v1/orders?limit=10", "acme", &id)
    );
    assert_eq!(h.get("x-shared-secret").unwrap(), SECRET);
}

#[test]
fn hmac_only_signing_never_sends_the_static_secret() {
    let h = accepted_with("hmac-only", "GET", "/x", None);
    let id = ApiKey::new(KEY).hash().id().to_owned();
    assert_eq!(
        h.get("x-keygate-signature").unwrap(),
        &expected_signature(NOW, "GET", "/base/x", "acme", &id)
    );
    assert!(h.get("x-shared-secret").is_none());
    assert!(!h.iter().any(|(_, v)| v.as_bytes() == SECRET.as_bytes()));
}

#[test]
fn anonymous_request_is_signed_with_empty_identity_fields() {
    let store = FakeStore::with(&[]);
    let cfg = config(&[("SIGNING", "hmac-only"), ("ALLOW_ANONYMOUS", "true")]);
    let Ok(Verdict::Accept(a)) = decide_with(&cfg, &store, "GET", &HeaderMap::new(), "/p", None)
    else {
        panic!("not accepted")
    };
    assert_eq!(
        a.headers.get("x-keygate-signature").unwrap(),
        &expected_signature(NOW, "GET", "/base/p", "", "")
    );
}

#[test]
fn without_signing_no_signature_is_sent_and_a_client_copy_is_dropped() {
    let store = FakeStore::with(&[(KEY, record(KEY))]);
    let mut h = headers(&[&format!("Bearer {KEY}")]);
    h.insert(
        HeaderName::from_static("x-keygate-signature"),
        HeaderValue::from_static("t=1,v1=forged"),
    );
    let Ok(Verdict::Accept(a)) = decide(&store, &h, "/") else {
        panic!("not accepted")
    };
    assert!(a.headers.get("x-keygate-signature").is_none());
}

#[test]
fn unknown_signing_mode_is_a_configuration_error() {
    let e = try_config(&[("SIGNING", "hmac-sha1")]).err();
    assert_eq!(e, Some(ConfigError::InvalidSigning));
}
