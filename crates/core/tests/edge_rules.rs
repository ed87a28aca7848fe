//! The rules that once lived only in the worker, now in core where native tests reach them: the
//! quota counter's call protocol, which faults carry operator detail, the headers of keygate's
//! own answers and of a forwarded answer, which decisions keep the query out of the log, and
//! which bindings a configuration needs.

use http::{HeaderMap, HeaderValue};
use keygate_core::forward::finish_response_headers;
use keygate_core::limits::{CounterCall, RateLimitFields, Window};
use keygate_core::pipeline::{Denial, KeyIdBuf};
use keygate_core::telemetry::{loggable_target, Decision};
use keygate_core::{ApiKey, ConfigError, Fault, Refusal, StoreError};

#[path = "common/mod.rs"]
mod common;

#[test]
fn a_missing_rate_limit_binding_or_management_log_is_a_configuration_error() {
    let tiered = || common::config(&[("RATE_LIMIT_TIERS", "pro=RL_PRO:100/60")]);
    let all = |_: &str| true;
    assert!(tiered().check_bindings(all, true).is_ok());
    assert_eq!(
        tiered()
            .check_bindings(|b| b != "RL_PRO", true)
            .unwrap_err(),
        ConfigError::MissingRateLimiter
    );
    // The change feed reads the management log on every isolate: without it, nothing is served.
    assert_eq!(
        tiered().check_bindings(all, false).unwrap_err(),
        ConfigError::MissingManagementLog
    );
    // With the feed off, the log is needed only by the management API (which answers 500 itself).
    let off = common::config(&[("REVOCATION_SYNC_SECS", "0")]);
    assert!(off.check_bindings(all, false).is_ok());
}

#[test]
fn a_counter_call_reads_back_as_the_call_that_was_sent() {
    let calls = [
        CounterCall::Consume {
            window: Window {
                start: 1_700_000_000,
                end: 1_700_086_400,
            },
            limit: 1000,
        },
        CounterCall::Usage {
            window_start: 1_700_000_000,
        },
    ];
    for call in calls {
        let sent = call.path_and_query();
        let (path, query) = sent.split_once('?').expect("a query");
        assert_eq!(CounterCall::parse(path, Some(query)), Some(call), "{sent}");
    }
}

#[test]
fn a_counter_refuses_calls_it_does_not_know_or_that_lack_a_number() {
    for (path, query) in [
        ("/consume", Some("start=1&end=2")),
        ("/consume", Some("start=1&end=2&limit=x")),
        ("/usage", None),
        ("/reset", Some("window_start=1")),
        ("/", None),
    ] {
        assert_eq!(CounterCall::parse(path, query), None, "{path}?{query:?}");
    }
}

#[test]
fn only_configuration_and_store_faults_carry_operator_detail() {
    let detailed = [
        (
            Refusal::Fault(Fault::Config(ConfigError::MissingOrigin)),
            ConfigError::MissingOrigin.to_string(),
        ),
        (
            Refusal::Fault(Fault::StoreUnavailable(StoreError("kv down".into()))),
            "kv down".to_owned(),
        ),
        (
            Refusal::Fault(Fault::RateLimiterUnavailable("rl down".into())),
            "rl down".to_owned(),
        ),
        (
            Refusal::Fault(Fault::QuotaStoreUnavailable("do down".into())),
            "do down".to_owned(),
        ),
    ];
    for (refusal, want) in detailed {
        assert_eq!(refusal.operator_detail(), Some(want));
    }
    let key_id = KeyIdBuf::from_hash(&ApiKey::new("k").hash());
    for refusal in [
        Refusal::Fault(Fault::OriginUnreachable),
        Refusal::Fault(Fault::OriginTimeout),
        Refusal::Denied(Denial::MissingCredential),
        Refusal::Denied(Denial::OutOfScope {
            key_id,
            scopes: "GET:/x".into(),
        }),
    ] {
        assert_eq!(refusal.operator_detail(), None, "{refusal:?}");
    }
}

#[test]
fn a_problem_answer_carries_its_type_no_store_the_request_id_and_its_own_fields() {
    let h = Refusal::Denied(Denial::MissingCredential)
        .problem()
        .headers("req-1");
    assert_eq!(h["content-type"], "application/problem+json");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-request-id"], "req-1");
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer realm="));
    assert!(h.get("retry-after").is_none());

    let h = Refusal::Denied(Denial::MethodNotAllowed)
        .problem()
        .headers("req-2");
    assert!(h.contains_key("allow"));
    let h = Refusal::Fault(Fault::StoreUnavailable(StoreError("x".into())))
        .problem()
        .headers("req-3");
    assert!(h.contains_key("retry-after"));
}

#[test]
fn a_forwarded_answer_keeps_the_origins_request_id_and_gets_the_gateways_rate_limit_fields_last() {
    let mut fields = RateLimitFields::default();
    fields.add_policy("free", 100, 60);

    let mut own_id = HeaderMap::new();
    own_id.insert("x-request-id", HeaderValue::from_static("origin-id"));
    own_id.insert(
        "ratelimit-policy",
        HeaderValue::from_static("\"origin\";q=5"),
    );
    finish_response_headers(&mut own_id, "gw-id", &fields);
    assert_eq!(own_id["x-request-id"], "origin-id");
    let policies: Vec<_> = own_id.get_all("ratelimit-policy").iter().collect();
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[0], "\"origin\";q=5");

    let mut none = HeaderMap::new();
    finish_response_headers(&mut none, "gw-id", &RateLimitFields::default());
    assert_eq!(none["x-request-id"], "gw-id");
    assert!(none.get("ratelimit-policy").is_none() && none.get("ratelimit").is_none());
}

#[test]
fn a_url_that_held_a_key_never_reaches_the_log() {
    let q = Some("api_key=secret");
    assert_eq!(loggable_target(Decision::KeyInQuery, "/p", q), ("/p", None));
    let (path, query) = loggable_target(Decision::KeyInPath, "/kg_x", q);
    assert_ne!(path, "/kg_x");
    assert_eq!(query, None);
    assert_eq!(loggable_target(Decision::UnknownKey, "/p", q), ("/p", q));
}

#[test]
fn every_decision_reads_back_from_its_code() {
    for d in Decision::ALL {
        assert_eq!(Decision::parse(d.as_str()), Some(*d));
    }
    assert_eq!(Decision::parse("teapot"), None);
}
