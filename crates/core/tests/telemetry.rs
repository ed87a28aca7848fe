//! The decision codes: every refusal the gateway can produce logs a code from the fixed,
//! documented set, with the matching kind, and the README documents exactly that set.

mod common;

use common::readme;
use keygate_core::admin::AdminDenial;
use keygate_core::credential::Malformed;
use keygate_core::integrity::OverrideError;
use keygate_core::path::PathError;
use keygate_core::pipeline::KeyIdBuf;
use keygate_core::record::CorruptRecord;
use keygate_core::telemetry::{decision_kind, DecisionKind, DECISIONS};
use keygate_core::{ConfigError, Denial, Fault, InvalidKey, Refusal, StoreError};

/// One refusal of every variant (and of every variant of the enums they hold that changes the
/// code).
fn every_refusal() -> Vec<Refusal> {
    let key_id = KeyIdBuf::from_id("0123456789ab");
    let mut all = vec![
        Refusal::Denied(Denial::MethodNotAllowed),
        Refusal::Denied(Denial::PreflightWithBody),
        Refusal::Denied(Denial::MissingCredential),
        Refusal::Denied(Denial::RootKeyRefused),
        Refusal::Denied(Denial::BadPath(PathError::EscapesOrigin)),
        Refusal::Denied(Denial::BadPath(PathError::TooLong)),
        Refusal::Denied(Denial::BadPath(PathError::EncodedDotSegment)),
        Refusal::Denied(Denial::OutOfScope {
            key_id,
            scopes: "GET:/a".into(),
        }),
        Refusal::Denied(Denial::RateLimited {
            key_id,
            tier: "free".into(),
            limit: 1,
            period: 60,
        }),
        Refusal::Denied(Denial::QuotaExhausted {
            key_id,
            limit: 1,
            window_secs: 60,
            reset_in: 5,
        }),
        Refusal::Fault(Fault::Config(ConfigError::MissingSecret)),
        Refusal::Fault(Fault::StoreUnavailable(StoreError("down".into()))),
        Refusal::Fault(Fault::RateLimiterUnavailable("down".into())),
        Refusal::Fault(Fault::QuotaStoreUnavailable("down".into())),
        Refusal::Fault(Fault::OriginUnreachable),
        Refusal::Fault(Fault::OriginTimeout),
    ];
    for m in [
        Malformed::MultipleHeaders,
        Malformed::WrongScheme,
        Malformed::EmptyToken,
        Malformed::Blank,
        Malformed::BadCharacters,
        Malformed::TooLong,
        Malformed::ConflictingSources,
        Malformed::KeyInQuery,
        Malformed::KeyInPath,
    ] {
        all.push(Refusal::Denied(Denial::Malformed(m)));
    }
    for e in [
        OverrideError::NotEnabled,
        OverrideError::BadValue,
        OverrideError::Conflicting,
        OverrideError::OnPreflight,
    ] {
        all.push(Refusal::Denied(Denial::MethodOverride(e)));
    }
    for reason in [
        InvalidKey::BadChecksum,
        InvalidKey::Unknown,
        InvalidKey::Disabled,
        InvalidKey::Expired,
        InvalidKey::Corrupt(CorruptRecord::NotJson),
    ] {
        all.push(Refusal::Denied(Denial::InvalidKey { reason, key_id }));
    }
    for d in [
        AdminDenial::Unauthorized,
        AdminDenial::NotFound,
        AdminDenial::MethodNotAllowed,
        AdminDenial::BadQuery,
    ] {
        all.push(Refusal::Denied(Denial::Admin(d)));
    }
    all
}

#[test]
fn every_refusal_logs_a_documented_code_of_the_right_kind() {
    for r in every_refusal() {
        let decision = r.reason_code();
        let code = decision.as_str();
        let kind = decision_kind(code).unwrap_or_else(|| panic!("{code} is not in DECISIONS"));
        let want = match r {
            Refusal::Denied(_) => DecisionKind::Refused,
            Refusal::Fault(_) => DecisionKind::Fault,
        };
        assert_eq!(kind, want, "{code}");
        // Client errors are 4xx and faults 5xx, as the kinds promise.
        let status = r.problem().status.as_u16();
        match kind {
            DecisionKind::Refused => assert!((400..500).contains(&status), "{code}: {status}"),
            _ => assert!((500..600).contains(&status), "{code}: {status}"),
        }
    }
}

#[test]
fn every_refusal_code_in_the_set_is_reachable() {
    let produced: std::collections::HashSet<&str> = every_refusal()
        .iter()
        .map(|r| r.reason_code().as_str())
        .collect();
    for (code, kind, _) in DECISIONS {
        // Accepted codes come from `Caller::decision`, `admin_usage` from the operator endpoint
        // and `internal_error` from the JS panic guard; every other code is a refusal's.
        if matches!(kind, DecisionKind::Accepted | DecisionKind::Operator)
            || *code == "internal_error"
        {
            continue;
        }
        assert!(produced.contains(code), "no refusal produces {code}");
    }
}

#[test]
fn readme_documents_exactly_the_decision_codes() {
    let readme = readme();
    let table = readme
        .split("\n### ")
        .find(|s| s.starts_with("Decision codes"))
        .expect("README has a 'Decision codes' section");
    // The table rows: | `code` | kind | meaning |
    let documented: Vec<(&str, &str)> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let (code, rest) = l.split_once('`')?;
            Some((code, rest.trim_start_matches(" | ").split(' ').next()?))
        })
        .collect();
    for (code, kind) in &documented {
        let want = match decision_kind(code) {
            Some(DecisionKind::Accepted) => "accepted",
            Some(DecisionKind::Refused) => "refused",
            Some(DecisionKind::Fault) => "fault",
            Some(DecisionKind::Operator) => "operator",
            None => panic!("README documents {code}, which the gateway never writes"),
        };
        assert_eq!(*kind, want, "README kind of {code}");
    }
    let mut want: Vec<&str> = DECISIONS.iter().map(|(c, _, _)| *c).collect();
    let mut got: Vec<&str> = documented.iter().map(|(c, _)| *c).collect();
    want.sort_unstable();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got, want, "README decision table vs telemetry::DECISIONS");
}

#[test]
fn panic_guard_writes_the_same_fields_as_the_rust_log_line() {
    let js = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../src/panic-guard.js"
    ))
    .expect("panic-guard.js");
    let event = keygate_core::telemetry::RequestEvent::default();
    let line: serde_json::Value = serde_json::from_str(&event.log_line("t")).expect("json");
    for field in line.as_object().expect("object").keys() {
        assert!(
            js.contains(&format!("\n      {field}")),
            "panic-guard.js does not write {field}"
        );
    }
    assert!(js.contains("decision: \"internal_error\""));
}
