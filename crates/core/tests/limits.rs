//! The limits phase through `decide`, against an in-memory rate limiter and quota store (both
//! of which count calls and can be told to fail), with an injected clock.

mod common;

use common::{bearer, config, get, record, FakeStore};
use http::StatusCode;
use keygate_core::limits::{
    consume, days_from_civil, CounterState, Quota, QuotaCount, QuotaPeriod, QuotaScope, Window,
};
use keygate_core::{
    decide, Config, ConfigError, Denial, Fault, LimitError, QuotaStore, RateLimiter, Refusal,
    Verdict,
};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// 2026-11-29 12:00:00 UTC.
const NOW: u64 = 20_786 * 86_400 + 43_200;

/// A fixed-window limiter per (binding, key), like the local Workers emulation.
#[derive(Default)]
struct FakeLimiter {
    limits: HashMap<&'static str, u32>,
    counts: RefCell<HashMap<(String, String), u32>>,
    calls: Cell<u32>,
    fail: bool,
}

impl RateLimiter for FakeLimiter {
    async fn limit(&self, binding: &str, key: &str) -> Result<bool, LimitError> {
        self.calls.set(self.calls.get() + 1);
        if self.fail {
            return Err(LimitError::Unavailable("limiter threw".into()));
        }
        let limit = *self.limits.get(binding).ok_or(LimitError::MissingBinding)?;
        let mut counts = self.counts.borrow_mut();
        let n = counts.entry((binding.into(), key.into())).or_default();
        if *n >= limit {
            return Ok(false);
        }
        *n += 1;
        Ok(true)
    }
}

/// Counters in a map, with the same state machine the Durable Object runs.
#[derive(Default)]
struct FakeQuotas {
    counters: RefCell<HashMap<String, CounterState>>,
    calls: Cell<u32>,
    fail: bool,
}

impl QuotaStore for FakeQuotas {
    async fn consume(
        &self,
        counter: &str,
        window: Window,
        limit: u64,
    ) -> Result<QuotaCount, LimitError> {
        self.calls.set(self.calls.get() + 1);
        if self.fail {
            return Err(LimitError::Unavailable("durable object reset".into()));
        }
        let mut counters = self.counters.borrow_mut();
        let state = counters.entry(counter.to_owned()).or_default();
        let (next, count) = consume(*state, window, limit);
        *state = next;
        Ok(count)
    }
}

fn tiered() -> Config {
    config(&[(
        "RATE_LIMIT_TIERS",
        "tiny=RL_TINY:3/60,internal=none,ghost=RL_GHOST:5/10",
    )])
}

fn limiter() -> FakeLimiter {
    FakeLimiter {
        limits: HashMap::from([("RL_TINY", 3)]),
        ..Default::default()
    }
}

fn run(
    cfg: &Config,
    store: &FakeStore,
    limiter: &FakeLimiter,
    quotas: &FakeQuotas,
    key: &str,
    now: u64,
) -> Result<Verdict, Fault> {
    let h = bearer(key);
    pollster::block_on(decide(cfg, &get("/x", &h), store, limiter, quotas, now))
}

fn accepted(verdict: Result<Verdict, Fault>) -> bool {
    matches!(verdict, Ok(Verdict::Accept(_)))
}

fn quota(limit: u64, period: &str, per: QuotaScope) -> Option<Quota> {
    Some(Quota {
        limit,
        period: QuotaPeriod::parse(period).unwrap(),
        per,
    })
}

#[test]
fn key_without_tier_or_quota_makes_no_limiter_or_quota_call() {
    let s = FakeStore::with(&[("k_plain", record("k_plain", "acme"))]);
    let (l, q) = (limiter(), FakeQuotas::default());
    let Ok(Verdict::Accept(a)) = run(&tiered(), &s, &l, &q, "k_plain", NOW) else {
        panic!("not accepted")
    };
    assert!(a.rate_limit.is_empty());
    assert_eq!((l.calls.get(), q.calls.get()), (0, 0));
}

#[test]
fn refused_keys_never_reach_the_limiter_or_the_quota_store() {
    let mut r = record("k_off", "acme");
    r.disabled = true;
    r.tier = Some("tiny".into());
    r.quota = quota(5, "day", QuotaScope::Key);
    let s = FakeStore::with(&[("k_off", r)]);
    let (l, q) = (limiter(), FakeQuotas::default());
    for key in ["k_off", "k_unknown"] {
        assert!(matches!(
            run(&tiered(), &s, &l, &q, key, NOW),
            Ok(Verdict::Deny(Denial::InvalidKey { .. }))
        ));
    }
    assert_eq!((l.calls.get(), q.calls.get()), (0, 0));
}

#[test]
fn tier_admits_its_limit_then_429_with_retry_after_and_ratelimit_fields() {
    let mut r = record("k_tiny", "acme");
    r.tier = Some("tiny".into());
    let s = FakeStore::with(&[("k_tiny", r)]);
    let (l, q) = (limiter(), FakeQuotas::default());
    for _ in 0..3 {
        let Ok(Verdict::Accept(a)) = run(&tiered(), &s, &l, &q, "k_tiny", NOW) else {
            panic!("within the limit")
        };
        assert_eq!(a.rate_limit.policy, "\"tiny\";q=3;w=60");
        assert_eq!(
            a.rate_limit.state, "",
            "the binding does not say what remains"
        );
    }
    let Ok(Verdict::Deny(d)) = run(&tiered(), &s, &l, &q, "k_tiny", NOW) else {
        panic!("over the limit")
    };
    let p = Refusal::Denied(d).problem();
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(p.code, "rate_limited");
    assert_eq!(p.retry_after, Some(60));
    assert_eq!(p.rate_limit.policy, "\"tiny\";q=3;w=60");
    assert_eq!(p.rate_limit.state, "\"tiny\";r=0;t=60");
    assert!(p.body("rid").contains("\"policy\":\"tiny\""));
}

#[test]
fn default_tier_applies_to_keys_that_name_none() {
    let c = config(&[
        ("RATE_LIMIT_TIERS", "tiny=RL_TINY:3/60"),
        ("DEFAULT_TIER", "tiny"),
    ]);
    let s = FakeStore::with(&[("k_def", record("k_def", "acme"))]);
    let (l, q) = (limiter(), FakeQuotas::default());
    let verdicts: Vec<bool> = (0..4)
        .map(|_| accepted(run(&c, &s, &l, &q, "k_def", NOW)))
        .collect();
    assert_eq!(verdicts, [true, true, true, false]);
}

#[test]
fn explicitly_unlimited_tier_makes_no_limiter_call() {
    let mut r = record("k_int", "acme");
    r.tier = Some("internal".into());
    let s = FakeStore::with(&[("k_int", r)]);
    let (l, q) = (limiter(), FakeQuotas::default());
    for _ in 0..10 {
        assert!(accepted(run(&tiered(), &s, &l, &q, "k_int", NOW)));
    }
    assert_eq!(l.calls.get(), 0);
}

#[test]
fn tier_missing_from_config_or_binding_is_a_config_error_never_unlimited() {
    let mut gold = record("k_gold", "acme");
    gold.tier = Some("gold".into());
    let mut ghost = record("k_ghost", "acme");
    ghost.tier = Some("ghost".into());
    let s = FakeStore::with(&[("k_gold", gold), ("k_ghost", ghost)]);
    let (l, q) = (limiter(), FakeQuotas::default());
    for (key, want) in [
        ("k_gold", ConfigError::UnknownTier),
        ("k_ghost", ConfigError::MissingRateLimiter),
    ] {
        let f = run(&tiered(), &s, &l, &q, key, NOW).unwrap_err();
        assert_eq!(f, Fault::Config(want));
        assert_eq!(
            Refusal::Fault(f).problem().status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}

#[test]
fn quota_admits_exactly_its_limit_then_429_until_the_window_resets() {
    let mut r = record("k_q", "acme");
    r.quota = quota(3, "hour", QuotaScope::Key);
    let s = FakeStore::with(&[("k_q", r)]);
    let (l, q) = (limiter(), FakeQuotas::default());
    let now = NOW + 600; // 12:10 UTC: 50 minutes left in the hour.
    let remaining: Vec<String> = (0..3)
        .map(|_| match run(&tiered(), &s, &l, &q, "k_q", now) {
            Ok(Verdict::Accept(a)) => {
                assert_eq!(a.rate_limit.policy, "\"quota\";q=3;w=3600");
                a.rate_limit.state
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        remaining,
        [
            "\"quota\";r=2;t=3000",
            "\"quota\";r=1;t=3000",
            "\"quota\";r=0;t=3000"
        ]
    );
    let Ok(Verdict::Deny(d)) = run(&tiered(), &s, &l, &q, "k_q", now) else {
        panic!("quota used up")
    };
    let p = Refusal::Denied(d).problem();
    assert_eq!(
        (p.status, p.code),
        (StatusCode::TOO_MANY_REQUESTS, "quota_exhausted")
    );
    assert_eq!(p.retry_after, Some(3_000));
    assert_eq!(p.rate_limit.state, "\"quota\";r=0;t=3000");
    // The last second of the window is still refused; the first of the next is admitted.
    let next_hour = NOW + 3_600;
    assert!(matches!(
        run(&tiered(), &s, &l, &q, "k_q", next_hour - 1),
        Ok(Verdict::Deny(Denial::QuotaExhausted { reset_in: 1, .. }))
    ));
    assert!(accepted(run(&tiered(), &s, &l, &q, "k_q", next_hour)));
}

#[test]
fn monthly_quota_resets_on_the_first_of_the_month_utc() {
    let mut r = record("k_m", "acme");
    r.quota = quota(1, "month", QuotaScope::Key);
    let s = FakeStore::with(&[("k_m", r)]);
    let (l, q) = (limiter(), FakeQuotas::default());
    let dec1 = days_from_civil(2026, 12, 1) as u64 * 86_400;
    assert!(accepted(run(&tiered(), &s, &l, &q, "k_m", NOW)));
    let Ok(Verdict::Deny(Denial::QuotaExhausted {
        reset_in,
        window_secs,
        ..
    })) = run(&tiered(), &s, &l, &q, "k_m", dec1 - 1)
    else {
        panic!("still November")
    };
    assert_eq!((reset_in, window_secs), (1, 30 * 86_400));
    assert!(accepted(run(&tiered(), &s, &l, &q, "k_m", dec1)));
}

#[test]
fn per_consumer_quota_is_shared_by_the_consumers_keys() {
    let mut a = record("k_a", "shared-co");
    a.quota = quota(2, "day", QuotaScope::Consumer);
    let mut b = record("k_b", "shared-co");
    b.quota = quota(2, "day", QuotaScope::Consumer);
    let s = FakeStore::with(&[("k_a", a), ("k_b", b)]);
    let (l, q) = (limiter(), FakeQuotas::default());
    let admitted: Vec<bool> = ["k_a", "k_b", "k_a"]
        .iter()
        .map(|k| accepted(run(&tiered(), &s, &l, &q, k, NOW)))
        .collect();
    assert_eq!(admitted, [true, true, false]);
    assert!(q.counters.borrow().contains_key("consumer:day:shared-co"));
}

#[test]
fn per_consumer_quotas_of_different_periods_count_apart_and_stay_exact() {
    // Found in review: `3/hour` and `3/day` on two keys of one consumer shared one counter, each
    // reset the other's window, and 20 alternating requests were all accepted.
    let mut hourly = record("k_hour", "mixed-co");
    hourly.quota = quota(3, "hour", QuotaScope::Consumer);
    let mut daily = record("k_day", "mixed-co");
    daily.quota = quota(3, "day", QuotaScope::Consumer);
    let s = FakeStore::with(&[("k_hour", hourly), ("k_day", daily)]);
    let (l, q) = (limiter(), FakeQuotas::default());
    let mut admitted = HashMap::<&str, u32>::new();
    for i in 0..20 {
        let k = if i % 2 == 0 { "k_hour" } else { "k_day" };
        if accepted(run(&tiered(), &s, &l, &q, k, NOW + i)) {
            *admitted.entry(k).or_default() += 1;
        }
    }
    assert_eq!(admitted, HashMap::from([("k_hour", 3), ("k_day", 3)]));
    let mut names: Vec<String> = q.counters.borrow().keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["consumer:day:mixed-co", "consumer:hour:mixed-co"]);
}

#[test]
fn a_new_limit_keeps_the_count_and_a_new_period_starts_a_count_of_its_own() {
    // What `keygate set-quota` does to the count: the record's quota changes, the counter
    // follows the period.
    let (l, q) = (limiter(), FakeQuotas::default());
    let with = |limit: u64, period: &str| {
        let mut r = record("k_sq", "acme");
        r.quota = quota(limit, period, QuotaScope::Key);
        FakeStore::with(&[("k_sq", r)])
    };
    let used = |s: &FakeStore, n: u64| -> u64 {
        (0..n)
            .filter(|i| accepted(run(&tiered(), s, &l, &q, "k_sq", NOW + i)))
            .count() as u64
    };
    // 5/day: 4 of 4 admitted.
    assert_eq!(used(&with(5, "day"), 4), 4);
    // 6/day keeps the 4 already counted today: 2 more.
    assert_eq!(used(&with(6, "day"), 5), 2);
    // 3/day, lower than what is spent: refused at once, and the count is kept.
    assert_eq!(used(&with(3, "day"), 2), 0);
    // 3/hour is a new period: a count of its own, from zero.
    assert_eq!(used(&with(3, "hour"), 5), 3);
    // Back to 7/day in the same day: the day's count of 6 is still there: 1 more.
    assert_eq!(used(&with(7, "day"), 3), 1);
}

#[test]
fn rate_limited_request_spends_no_quota() {
    let mut r = record("k_both", "acme");
    r.tier = Some("tiny".into());
    r.quota = quota(100, "day", QuotaScope::Key);
    let s = FakeStore::with(&[("k_both", r)]);
    let (l, q) = (limiter(), FakeQuotas::default());
    for _ in 0..5 {
        let _ = run(&tiered(), &s, &l, &q, "k_both", NOW);
    }
    assert_eq!(
        q.calls.get(),
        3,
        "only the 3 requests within the rate limit reach the quota"
    );
}

#[test]
fn limiter_or_quota_store_fault_fails_closed_with_503_and_retry_after() {
    let mut r = record("k_f", "acme");
    r.tier = Some("tiny".into());
    r.quota = quota(100, "day", QuotaScope::Key);
    let s = FakeStore::with(&[("k_f", r)]);
    let broken_limiter = FakeLimiter {
        fail: true,
        ..limiter()
    };
    let broken_quotas = FakeQuotas {
        fail: true,
        ..Default::default()
    };
    for (l, q, code) in [
        (
            &broken_limiter,
            &FakeQuotas::default(),
            "rate_limiter_unavailable",
        ),
        (&limiter(), &broken_quotas, "quota_store_unavailable"),
    ] {
        let f = run(&tiered(), &s, l, q, "k_f", NOW).unwrap_err();
        let p = Refusal::Fault(f).problem();
        assert_eq!(p.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(p.code, code);
        assert!(p.retry_after.is_some());
        assert!(!p.body("rid").contains("threw") && !p.body("rid").contains("reset"));
    }
}

#[test]
fn missing_quota_binding_is_a_config_error() {
    struct NoQuotas;
    impl QuotaStore for NoQuotas {
        async fn consume(&self, _: &str, _: Window, _: u64) -> Result<QuotaCount, LimitError> {
            Err(LimitError::MissingBinding)
        }
    }
    let mut r = record("k_nq", "acme");
    r.quota = quota(1, "day", QuotaScope::Key);
    let s = FakeStore::with(&[("k_nq", r)]);
    let h = bearer("k_nq");
    let f = pollster::block_on(decide(
        &tiered(),
        &get("/", &h),
        &s,
        &limiter(),
        &NoQuotas,
        NOW,
    ));
    assert_eq!(
        f.unwrap_err(),
        Fault::Config(ConfigError::MissingQuotaStore)
    );
}
