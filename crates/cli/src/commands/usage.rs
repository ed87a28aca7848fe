//! `keygate usage`: a key's tier and, with a quota, the count of the current window. On the
//! wrangler path the count comes from the gateway's admin endpoint ([`crate::admin::AdminApi`];
//! a key without a quota needs no call, so neither URL nor token); in API mode from
//! `GET /keys/{id}/usage`.

use super::{block_on, print_json, rfc3339, tier_text, Ctx};
use crate::admin::AdminApi;
use crate::backend::Backend;
use crate::error::CliError;
use keygate_core::kv::KvStore;
use keygate_core::lifecycle::{self, rules::quota_text, state_name, KeyRef};
use keygate_core::limits::{Quota, Window};
use serde::Serialize;

/// The gateway's URL is the global `--url` (default: $KEYGATE_URL, else http://127.0.0.1:8787
/// when local; required with --remote); without a root key it names the admin endpoint.
#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "ID|KEY|-")]
    pub key: String,
    /// Print JSON: the key's tier and quota, and the window's count (null without a quota).
    #[arg(long)]
    pub json: bool,
}

/// Where `usage` reads a quota counter: the gateway's admin endpoint, or a fake in tests.
pub trait UsageSource {
    /// Requests counted by `counter` in the window that starts at `window_start` (Unix seconds).
    /// The error is a message for people, without the token.
    fn used(&self, counter: &str, window_start: u64) -> Result<u64, String>;
}

/// What `usage` reports of a key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub id: String,
    /// The key's name, consumer, state and tier; `None` in API mode for a root key without
    /// `keys:read` (the fields are then absent from the JSON).
    #[serde(flatten)]
    pub key: Option<KeyInfo>,
    pub quota: Option<Quota>,
    /// The current window's count; `None` for a key without a quota.
    pub usage: Option<QuotaUsage>,
}

/// What `usage` shows of the key's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyInfo {
    pub name: String,
    pub consumer_id: String,
    pub state: &'static str,
    /// `None`: the gateway's `DEFAULT_TIER`.
    pub tier: Option<String>,
}

/// A quota's count in the window holding "now".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaUsage {
    /// The counter's name: `key:<id>` or `consumer:<consumer id>`.
    pub counter: String,
    pub used: u64,
    pub limit: u64,
    /// `limit - used`, and 0 (not negative) when a lowered limit is below the count.
    pub remaining: u64,
    pub window_start: u64,
    /// When the count starts again from zero (Unix seconds).
    pub window_end: u64,
    /// `window_end` as RFC 3339 UTC.
    pub resets_at: String,
    /// Whole seconds until the reset; at least 1.
    pub reset_in_secs: u64,
}

impl QuotaUsage {
    pub fn new(quota: &Quota, counter: String, window: Window, used: u64, now: u64) -> Self {
        Self {
            counter,
            used,
            limit: quota.limit,
            remaining: quota.limit.saturating_sub(used),
            window_start: window.start,
            window_end: window.end,
            resets_at: rfc3339(window.end),
            reset_in_secs: window.seconds_left(now),
        }
    }
}

/// A key's tier and, when it has a quota, the count in the current window from `source`.
pub fn usage(
    kv: &impl KvStore,
    r: &KeyRef,
    source: &dyn UsageSource,
    now: u64,
) -> Result<Usage, CliError> {
    let rec = block_on(lifecycle::show(kv, r))?;
    let usage = match &rec.quota {
        None => None,
        Some(q) => {
            let window = q.period.window(now);
            let counter = q.counter(&rec.id, &rec.consumer_id);
            let used = source
                .used(&counter, window.start)
                .map_err(CliError::Failed)?;
            Some(QuotaUsage::new(q, counter, window, used, now))
        }
    };
    let state = state_name(rec.state(now));
    Ok(Usage {
        id: rec.id,
        key: Some(KeyInfo {
            state,
            name: rec.name,
            consumer_id: rec.consumer_id,
            tier: rec.tier,
        }),
        quota: rec.quota,
        usage,
    })
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let source = AdminApi {
        url: ctx.url.map(str::to_owned),
        remote: ctx.target.remote,
    };
    let r = ctx.io.key_ref(&args.key)?;
    let u = b.usage(&r, &source, ctx.now)?;
    if args.json {
        return print_json(&mut ctx.io, &u);
    }
    ctx.io.print(&text(&u))
}

fn text(u: &Usage) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: &str| out.push_str(&format!("{label:<15}{value}\n"));
    line("id:", &u.id);
    match &u.key {
        Some(k) => {
            line("name:", &k.name);
            line("consumer:", &k.consumer_id);
            line("state:", k.state);
            line("tier:", &tier_text(k.tier.as_deref()));
        }
        None => line("key:", "(name, consumer, state and tier need keys:read)"),
    }
    match (&u.quota, &u.usage) {
        (Some(q), Some(w)) => {
            line("quota:", &quota_text(q));
            line("counter:", &w.counter);
            line("used:", &w.used.to_string());
            line("limit:", &w.limit.to_string());
            line("remaining:", &w.remaining.to_string());
            line(
                "resets:",
                &format!("{} (in {} s)", w.resets_at, w.reset_in_secs),
            );
        }
        _ => line("quota:", "none (the gateway counts nothing for this key)"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::NOW;
    use keygate_core::kv::memory::MemoryKv;
    use keygate_core::lifecycle::NewKey;
    use keygate_core::limits::{QuotaPeriod, QuotaScope};

    fn quota(limit: u64, period: &str) -> Quota {
        Quota {
            limit,
            period: QuotaPeriod::parse(period).unwrap(),
            per: QuotaScope::Key,
        }
    }

    /// A [`UsageSource`] that records its calls and answers a fixed count (or an error).
    struct FakeUsage {
        used: Result<u64, String>,
        calls: std::cell::RefCell<Vec<(String, u64)>>,
    }

    impl FakeUsage {
        fn answering(used: Result<u64, String>) -> Self {
            Self {
                used,
                calls: Default::default(),
            }
        }
    }

    impl UsageSource for FakeUsage {
        fn used(&self, counter: &str, window_start: u64) -> Result<u64, String> {
            self.calls
                .borrow_mut()
                .push((counter.to_owned(), window_start));
            self.used.clone()
        }
    }

    fn create(kv: &MemoryKv, new: NewKey) -> (keygate_core::ApiKey, keygate_core::KeyRecord) {
        block_on(lifecycle::create(kv, &new, NOW)).unwrap()
    }

    #[test]
    fn usage_for_a_key_without_quota_makes_no_call() {
        let kv = MemoryKv::new();
        let new = NewKey {
            tier: Some("free".into()),
            ..NewKey::new("a", "acme")
        };
        let (_, rec) = create(&kv, new);
        let fake = FakeUsage::answering(Err("must not be called".into()));
        let u = usage(&kv, &KeyRef::Id(rec.id.clone()), &fake, NOW).unwrap();
        assert!(fake.calls.borrow().is_empty());
        assert_eq!((u.quota, u.usage.clone()), (None, None));
        assert_eq!(u.key.as_ref().unwrap().tier.as_deref(), Some("free"));
        assert_eq!(u.id, rec.id);
        assert!(
            text(&u).ends_with("quota:         none (the gateway counts nothing for this key)\n")
        );
    }

    #[test]
    fn usage_reports_remaining_and_the_reset_at_the_end_of_the_window() {
        let kv = MemoryKv::new();
        let new = NewKey {
            quota: Some(quota(10_000, "month")),
            ..NewKey::new("a", "acme")
        };
        let (key, rec) = create(&kv, new);
        // NOW is 2027-01-15T08:00:00Z: the window is January 2027, UTC.
        assert_eq!(rfc3339(NOW), "2027-01-15T08:00:00Z");
        let fake = FakeUsage::answering(Ok(42));
        let u = usage(&kv, &KeyRef::Key(key), &fake, NOW).unwrap();
        let jan = 1_798_761_600; // 2027-01-01T00:00:00Z
        let feb = jan + 31 * 86_400;
        assert_eq!(
            *fake.calls.borrow(),
            vec![(format!("key:month:{}", rec.id), jan)],
            "the gateway is asked about this key's counter in this window"
        );
        assert_eq!(
            u.usage,
            Some(QuotaUsage {
                counter: format!("key:month:{}", rec.id),
                used: 42,
                limit: 10_000,
                remaining: 9_958,
                window_start: jan,
                window_end: feb,
                resets_at: "2027-02-01T00:00:00Z".into(),
                reset_in_secs: feb - NOW,
            })
        );
        assert_eq!(u.key.as_ref().unwrap().state, "active");
        assert!(text(&u).contains("remaining:     9958\n"));
    }

    #[test]
    fn usage_json_keeps_its_fields_in_order_and_drops_unknown_record_fields() {
        let kv = MemoryKv::new();
        let (_, rec) = create(&kv, NewKey::new("a", "acme"));
        let fake = FakeUsage::answering(Ok(0));
        let mut u = usage(&kv, &KeyRef::Id(rec.id.clone()), &fake, NOW).unwrap();
        let json = serde_json::to_string(&u).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"id":"{}","name":"a","consumer_id":"acme","state":"active","tier":null,"quota":null,"usage":null}}"#,
                rec.id
            )
        );
        // API mode with usage:read alone: no record fields at all.
        u.key = None;
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            format!(r#"{{"id":"{}","quota":null,"usage":null}}"#, rec.id)
        );
    }

    #[test]
    fn usage_remaining_never_goes_below_zero() {
        let q = quota(5, "30s");
        let w = q.period.window(95);
        let u = QuotaUsage::new(&q, "key:x".into(), w, 8, 95);
        assert_eq!((u.used, u.limit, u.remaining), (8, 5, 0));
        assert_eq!(
            (u.window_start, u.window_end, u.reset_in_secs),
            (90, 120, 25)
        );
        assert_eq!(QuotaUsage::new(&q, "key:x".into(), w, 5, 95).remaining, 0);
        assert_eq!(QuotaUsage::new(&q, "key:x".into(), w, 0, 95).remaining, 5);
    }

    #[test]
    fn usage_of_a_per_consumer_quota_reads_the_consumer_counter() {
        let kv = MemoryKv::new();
        let new = NewKey {
            quota: Some(Quota {
                per: QuotaScope::Consumer,
                ..quota(100, "hour")
            }),
            ..NewKey::new("a", "acme")
        };
        let (_, rec) = create(&kv, new);
        let fake = FakeUsage::answering(Ok(0));
        let u = usage(&kv, &KeyRef::Id(rec.id), &fake, NOW + 59).unwrap();
        assert_eq!(
            *fake.calls.borrow(),
            vec![("consumer:hour:acme".to_owned(), NOW)]
        );
        let w = u.usage.unwrap();
        assert_eq!((w.remaining, w.reset_in_secs), (100, 3_600 - 59));
    }

    #[test]
    fn usage_passes_on_a_gateway_error_and_refuses_unknown_keys() {
        let kv = MemoryKv::new();
        let new = NewKey {
            quota: Some(quota(1, "day")),
            ..NewKey::new("a", "acme")
        };
        let (_, rec) = create(&kv, new);
        let fake = FakeUsage::answering(Err(
            "the gateway answered 503 Quota store unavailable".into()
        ));
        let e = usage(&kv, &KeyRef::Id(rec.id.clone()), &fake, NOW).unwrap_err();
        assert!(
            matches!(&e, CliError::Failed(m) if m == "the gateway answered 503 Quota store unavailable")
        );
        assert_eq!(e.exit_code(), 1);
        let none = FakeUsage::answering(Ok(0));
        let e = usage(&kv, &KeyRef::parse("000000000000").unwrap(), &none, NOW).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(none.calls.borrow().is_empty());
    }
}
