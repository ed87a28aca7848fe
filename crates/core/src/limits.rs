//! Rate limits and quotas: tier configuration, quota windows (UTC calendar arithmetic), the
//! exact quota counter's state machine, and the IETF `RateLimit-Policy` / `RateLimit` fields.
//!
//! Two mechanisms, with different guarantees:
//! - a **tier** is a short-window rate limit enforced by a Workers Rate Limiting binding:
//!   approximate and counted per Cloudflare location;
//! - a **quota** is an exact count over a UTC day, month or fixed interval, kept by one Durable
//!   Object per counter (key or consumer).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Periods the Workers Rate Limiting binding supports, in seconds.
pub const RATE_LIMIT_PERIODS: [u32; 2] = [10, 60];
/// Longest tier or binding name accepted.
const MAX_NAME_LEN: usize = 32;

/// One tier from `RATE_LIMIT_TIERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub name: String,
    /// `None`: the tier is explicitly unlimited (`name=none`).
    pub limit: Option<TierLimit>,
}

/// A tier's rate limit: the binding that enforces it, and the `limit`/`period` it is declared
/// with in `wrangler.toml`, repeated here because a binding cannot be asked for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierLimit {
    pub binding: String,
    pub limit: u32,
    pub period: u32,
}

/// The rate-limit configuration: `RATE_LIMIT_TIERS` and `DEFAULT_TIER`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tiers {
    pub tiers: Vec<Tier>,
    /// The tier of a key whose record names none. `None`: such keys have no rate limit.
    pub default_tier: Option<String>,
}

/// Why `RATE_LIMIT_TIERS` or `DEFAULT_TIER` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierConfigError {
    Syntax,
    BadName,
    BadBinding,
    BadLimit,
    BadPeriod,
    Duplicate,
    UnknownDefault,
}

impl fmt::Display for TierConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TierConfigError::Syntax => {
                "RATE_LIMIT_TIERS must be a comma list of 'tier=BINDING:limit/period' or 'tier=none'"
            }
            TierConfigError::BadName => "a tier name must be 1-32 characters from a-z 0-9 _ -",
            TierConfigError::BadBinding => {
                "a rate-limit binding name must be 1-32 characters from A-Z 0-9 _, not starting with a digit"
            }
            TierConfigError::BadLimit => "a tier limit must be a whole number from 1 to 1000000",
            TierConfigError::BadPeriod => "a tier period must be 10 or 60 (seconds)",
            TierConfigError::Duplicate => "a tier is defined twice in RATE_LIMIT_TIERS",
            TierConfigError::UnknownDefault => "DEFAULT_TIER names a tier not in RATE_LIMIT_TIERS",
        })
    }
}

/// True for a tier name: 1–32 characters from `a-z 0-9 _ -`.
pub fn is_tier_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_binding_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

impl Tiers {
    /// Parses `RATE_LIMIT_TIERS` (`free=RL_FREE:100/60, pro=RL_PRO:1000/60, internal=none`) and
    /// `DEFAULT_TIER`. Both absent: no rate limits.
    pub fn parse(tiers: Option<&str>, default_tier: Option<&str>) -> Result<Self, TierConfigError> {
        let mut out = Vec::new();
        for item in tiers
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (name, spec) = item.split_once('=').ok_or(TierConfigError::Syntax)?;
            let name = name.trim();
            if !is_tier_name(name) {
                return Err(TierConfigError::BadName);
            }
            if out.iter().any(|t: &Tier| t.name == name) {
                return Err(TierConfigError::Duplicate);
            }
            let spec = spec.trim();
            let limit = if spec == "none" {
                None
            } else {
                let (binding, rate) = spec.split_once(':').ok_or(TierConfigError::Syntax)?;
                let (limit, period) = rate.split_once('/').ok_or(TierConfigError::Syntax)?;
                if !is_binding_name(binding) {
                    return Err(TierConfigError::BadBinding);
                }
                let limit = match limit.parse::<u32>() {
                    Ok(n @ 1..=1_000_000) => n,
                    _ => return Err(TierConfigError::BadLimit),
                };
                let period = match period.parse::<u32>() {
                    Ok(p) if RATE_LIMIT_PERIODS.contains(&p) => p,
                    _ => return Err(TierConfigError::BadPeriod),
                };
                Some(TierLimit {
                    binding: binding.to_owned(),
                    limit,
                    period,
                })
            };
            out.push(Tier {
                name: name.to_owned(),
                limit,
            });
        }
        let default_tier = match default_tier.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(d) if out.iter().any(|t| t.name == d) => Some(d.to_owned()),
            Some(_) => return Err(TierConfigError::UnknownDefault),
        };
        Ok(Self {
            tiers: out,
            default_tier,
        })
    }

    /// The tier that applies to a key whose record names `tier`: `Ok(None)` when neither the
    /// record nor `DEFAULT_TIER` names one; `Err(())` when the named tier is not configured.
    #[allow(clippy::result_unit_err)]
    pub fn resolve(&self, tier: Option<&str>) -> Result<Option<&Tier>, ()> {
        match tier.or(self.default_tier.as_deref()) {
            None => Ok(None),
            Some(name) => self
                .tiers
                .iter()
                .find(|t| t.name == name)
                .map(Some)
                .ok_or(()),
        }
    }

    /// Every binding a tier names, for a start-up check that each one exists.
    pub fn bindings(&self) -> impl Iterator<Item = &str> {
        self.tiers
            .iter()
            .filter_map(|t| t.limit.as_ref().map(|l| l.binding.as_str()))
    }
}

/// A quota period: a UTC calendar day or month, or a fixed interval aligned to the Unix epoch
/// (`hour`, or `<n>s`), after which the count starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    Month,
    Day,
    Hour,
    Seconds(u32),
}

/// Shortest and longest `<n>s` interval: one second to 366 days.
const MAX_INTERVAL_SECS: u32 = 366 * 86_400;

impl QuotaPeriod {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "month" => Some(Self::Month),
            "day" => Some(Self::Day),
            "hour" => Some(Self::Hour),
            _ => {
                let digits = s.strip_suffix('s')?;
                // Digits only: `parse` alone would also take a sign ("+5s").
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let n: u32 = digits.parse().ok()?;
                (s.as_bytes()[0] != b'0' && (1..=MAX_INTERVAL_SECS).contains(&n))
                    .then_some(Self::Seconds(n))
            }
        }
    }

    /// The window holding `now` (Unix seconds).
    pub fn window(self, now: u64) -> Window {
        let fixed = |len: u64| {
            let start = now - now % len;
            Window {
                start,
                end: start + len,
            }
        };
        match self {
            Self::Seconds(n) => fixed(u64::from(n)),
            Self::Hour => fixed(3_600),
            Self::Day => fixed(86_400),
            Self::Month => {
                let (y, m, _) = civil_from_days((now / 86_400) as i64);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Window {
                    start: days_from_civil(y, m, 1) as u64 * 86_400,
                    end: days_from_civil(ny, nm, 1) as u64 * 86_400,
                }
            }
        }
    }
}

impl fmt::Display for QuotaPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Month => f.write_str("month"),
            Self::Day => f.write_str("day"),
            Self::Hour => f.write_str("hour"),
            Self::Seconds(n) => write!(f, "{n}s"),
        }
    }
}

impl Serialize for QuotaPeriod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for QuotaPeriod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom("quota period must be month, day, hour or <seconds>s")
        })
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A call to one quota counter (a Durable Object at the edge), as the path and query of the
/// request the gateway sends it. The gateway writes it with [`CounterCall::path_and_query`], the
/// counter reads it with [`CounterCall::parse`]: one protocol, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterCall {
    /// Spend one request of `limit` in `window`; answered with a [`QuotaCount`].
    Consume { window: Window, limit: u64 },
    /// How much of the window starting at `window_start` is used; answered with [`CounterUsage`].
    Usage { window_start: u64 },
}

/// A counter's answer to [`CounterCall::Usage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterUsage {
    pub used: u64,
}

impl CounterCall {
    pub fn path_and_query(&self) -> String {
        match self {
            CounterCall::Consume { window, limit } => format!(
                "/consume?start={}&end={}&limit={limit}",
                window.start, window.end
            ),
            CounterCall::Usage { window_start } => format!("/usage?window_start={window_start}"),
        }
    }

    /// The call a counter received; `None` for anything else (answered 400 or 404).
    pub fn parse(path: &str, query: Option<&str>) -> Option<Self> {
        let arg = |name: &str| {
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        match path {
            "/consume" => Some(CounterCall::Consume {
                window: Window {
                    start: arg("start")?,
                    end: arg("end")?,
                },
                limit: arg("limit")?,
            }),
            "/usage" => Some(CounterCall::Usage {
                window_start: arg("window_start")?,
            }),
            _ => None,
        }
    }
}

/// One counting window, `[start, end)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: u64,
    pub end: u64,
}

impl Window {
    /// Whole seconds from `now` until the window ends; at least 1.
    pub fn seconds_left(&self, now: u64) -> u64 {
        self.end.saturating_sub(now).max(1)
    }

    pub fn secs(&self) -> u64 {
        self.end - self.start
    }
}

/// What a quota counts: each key alone, or all keys of a consumer together (so rotating a key
/// does not start its count again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaScope {
    #[default]
    Key,
    Consumer,
}

/// A key's quota, stored in its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Requests allowed per window.
    pub limit: u64,
    pub period: QuotaPeriod,
    #[serde(default, skip_serializing_if = "is_key_scope")]
    pub per: QuotaScope,
}

fn is_key_scope(s: &QuotaScope) -> bool {
    *s == QuotaScope::Key
}

/// Largest quota limit: fits a JavaScript safe integer with room to spare.
pub const MAX_QUOTA_LIMIT: u64 = 1 << 40;

impl Quota {
    /// The Durable Object name that counts this quota: `key:<period>:<id>` or
    /// `consumer:<period>:<consumer id>`. The period is part of the name, so quotas of different
    /// periods never share a count: two keys of one consumer with `3/hour` and `3/day` are
    /// counted apart (one window would otherwise reset the other), and a new period starts a new
    /// count. A new limit with the same period keeps the count.
    pub fn counter(&self, key_id: &str, consumer_id: &str) -> String {
        match self.per {
            QuotaScope::Key => format!("key:{}:{key_id}", self.period),
            QuotaScope::Consumer => format!("consumer:{}:{consumer_id}", self.period),
        }
    }
}

/// A quota counter's stored state: the window it counts and the requests admitted in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterState {
    pub window_start: u64,
    pub used: u64,
}

/// The answer to one attempt to spend a unit of quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaCount {
    pub allowed: bool,
    /// Requests admitted in the window, this one included when allowed.
    pub used: u64,
}

/// Spends one unit: a stored state from an older window counts as zero. A refused attempt does
/// not count. Returns the new state to store and the answer.
pub fn consume(stored: CounterState, window: Window, limit: u64) -> (CounterState, QuotaCount) {
    let used = used_in(stored, window);
    if used >= limit {
        let state = CounterState {
            window_start: window.start,
            used,
        };
        return (
            state,
            QuotaCount {
                allowed: false,
                used,
            },
        );
    }
    let used = used + 1;
    (
        CounterState {
            window_start: window.start,
            used,
        },
        QuotaCount {
            allowed: true,
            used,
        },
    )
}

/// Requests counted in `window`: zero when the stored state belongs to another window.
pub fn used_in(stored: CounterState, window: Window) -> u64 {
    if stored.window_start == window.start {
        stored.used
    } else {
        0
    }
}

/// The `RateLimit-Policy` and `RateLimit` field values (draft-ietf-httpapi-ratelimit-headers-10)
/// for one response. Empty strings mean "do not send".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitFields {
    pub policy: String,
    pub state: String,
}

impl RateLimitFields {
    /// Appends the two fields to `headers` (after any already there), leaving out empty ones.
    pub fn append_to(&self, headers: &mut http::HeaderMap) {
        for (name, value) in [
            ("ratelimit-policy", &self.policy),
            ("ratelimit", &self.state),
        ] {
            if let (false, Ok(v)) = (value.is_empty(), http::HeaderValue::from_str(value)) {
                headers.append(http::HeaderName::from_static(name), v);
            }
        }
    }

    /// Adds a policy item `"name";q=quota;w=window`.
    pub fn add_policy(&mut self, name: &str, quota: u64, window_secs: u64) {
        push_item(
            &mut self.policy,
            format_args!("\"{name}\";q={quota};w={window_secs}"),
        );
    }

    /// Adds a state item `"name";r=remaining;t=seconds-to-reset`.
    pub fn add_state(&mut self, name: &str, remaining: u64, reset_secs: u64) {
        push_item(
            &mut self.state,
            format_args!("\"{name}\";r={remaining};t={reset_secs}"),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.policy.is_empty() && self.state.is_empty()
    }
}

fn push_item(list: &mut String, item: fmt::Arguments<'_>) {
    use fmt::Write;
    if !list.is_empty() {
        list.push_str(", ");
    }
    let _ = list.write_fmt(item);
}

/// The policy name of quota items in the `RateLimit` fields.
pub const QUOTA_POLICY: &str = "quota";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_bindings_limits_and_explicit_unlimited() {
        let t = Tiers::parse(
            Some(" free=RL_FREE:100/60, pro=RL_PRO:5000/10 ,internal=none"),
            Some("free"),
        )
        .unwrap();
        assert_eq!(t.tiers.len(), 3);
        assert_eq!(
            t.tiers[0].limit,
            Some(TierLimit {
                binding: "RL_FREE".into(),
                limit: 100,
                period: 60
            })
        );
        assert_eq!(t.tiers[2].limit, None);
        assert_eq!(t.default_tier.as_deref(), Some("free"));
        assert_eq!(t.bindings().collect::<Vec<_>>(), ["RL_FREE", "RL_PRO"]);
    }

    #[test]
    fn malformed_tier_config_is_refused_with_its_reason() {
        use TierConfigError::*;
        for (tiers, default, want) in [
            ("free", None, Syntax),
            ("free=RL_FREE", None, Syntax),
            ("free=RL_FREE:100", None, Syntax),
            ("Free=RL_FREE:100/60", None, BadName),
            ("free=rl_free:100/60", None, BadBinding),
            ("free=1RL:100/60", None, BadBinding),
            ("free=RL_FREE:0/60", None, BadLimit),
            ("free=RL_FREE:-1/60", None, BadLimit),
            ("free=RL_FREE:100/30", None, BadPeriod),
            ("free=none,free=none", None, Duplicate),
            ("free=none", Some("pro"), UnknownDefault),
        ] {
            assert_eq!(Tiers::parse(Some(tiers), default), Err(want), "{tiers}");
        }
    }

    #[test]
    fn no_tier_config_means_no_rate_limit_but_a_named_unknown_tier_is_an_error() {
        let t = Tiers::parse(None, None).unwrap();
        assert_eq!(t.resolve(None), Ok(None));
        assert_eq!(t.resolve(Some("gold")), Err(()));
        let t = Tiers::parse(Some("free=RL:1/10,pro=none"), Some("free")).unwrap();
        assert_eq!(t.resolve(None).unwrap().unwrap().name, "free");
        assert_eq!(t.resolve(Some("pro")).unwrap().unwrap().name, "pro");
        assert_eq!(t.resolve(Some("gold")), Err(()));
    }

    #[test]
    fn quota_periods_parse_strictly_and_round_trip() {
        for s in ["month", "day", "hour", "1s", "90s", "31622400s"] {
            assert_eq!(QuotaPeriod::parse(s).unwrap().to_string(), s);
        }
        for s in [
            "",
            "s",
            "0s",
            "07s",
            "-5s",
            "+5s",
            "31622401s",
            "Month",
            "1 s",
            "week",
        ] {
            assert_eq!(QuotaPeriod::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn civil_dates_round_trip_across_leap_years_and_centuries() {
        for (y, m, d, days) in [
            (1970, 1, 1, 0),
            (2000, 2, 29, 11_016),
            (2024, 2, 29, 19_782),
            (2026, 11, 29, 20_786),
            (2100, 3, 1, 47_541),
        ] {
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            assert_eq!(civil_from_days(days), (y, m, d));
        }
        for z in -1_000..200_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    fn ts(y: i64, m: u32, d: u32, secs: u64) -> u64 {
        days_from_civil(y, m, d) as u64 * 86_400 + secs
    }

    #[test]
    fn month_window_runs_from_the_first_to_the_first_in_utc() {
        let w = QuotaPeriod::Month.window(ts(2026, 11, 29, 3_600));
        assert_eq!(w.start, ts(2026, 11, 1, 0));
        assert_eq!(w.end, ts(2026, 12, 1, 0));
        // December rolls into January of the next year.
        let w = QuotaPeriod::Month.window(ts(2026, 12, 31, 86_399));
        assert_eq!((w.start, w.end), (ts(2026, 12, 1, 0), ts(2027, 1, 1, 0)));
        // The last second of a month and the first of the next are in different windows.
        let last = ts(2028, 3, 1, 0) - 1;
        assert_eq!(QuotaPeriod::Month.window(last).start, ts(2028, 2, 1, 0));
        assert_eq!(QuotaPeriod::Month.window(last + 1).start, ts(2028, 3, 1, 0));
        assert_eq!(QuotaPeriod::Month.window(last).secs(), 29 * 86_400);
    }

    #[test]
    fn day_hour_and_interval_windows_align_to_the_epoch() {
        let now = ts(2026, 11, 29, 45_296); // 12:34:56 UTC
        assert_eq!(
            QuotaPeriod::Day.window(now),
            Window {
                start: ts(2026, 11, 29, 0),
                end: ts(2026, 11, 30, 0)
            }
        );
        assert_eq!(
            QuotaPeriod::Hour.window(now).start,
            ts(2026, 11, 29, 43_200)
        );
        let w = QuotaPeriod::Seconds(30).window(95);
        assert_eq!((w.start, w.end), (90, 120));
        assert_eq!(w.seconds_left(95), 25);
        assert_eq!(w.seconds_left(120), 1);
        // Window edges: the end is exclusive.
        assert_eq!(QuotaPeriod::Seconds(30).window(119).start, 90);
        assert_eq!(QuotaPeriod::Seconds(30).window(120).start, 120);
    }

    #[test]
    fn consume_admits_exactly_limit_then_refuses_without_counting() {
        let w = Window {
            start: 60,
            end: 120,
        };
        let mut s = CounterState::default();
        let mut admitted = 0;
        for _ in 0..5 {
            let (next, c) = consume(s, w, 3);
            s = next;
            admitted += u64::from(c.allowed);
        }
        assert_eq!(admitted, 3);
        assert_eq!(s.used, 3);
        assert_eq!(
            consume(s, w, 3).1,
            QuotaCount {
                allowed: false,
                used: 3
            }
        );
    }

    #[test]
    fn a_new_window_starts_the_count_again() {
        let old = CounterState {
            window_start: 0,
            used: 3,
        };
        let w = Window {
            start: 60,
            end: 120,
        };
        assert_eq!(used_in(old, w), 0);
        let (s, c) = consume(old, w, 3);
        assert_eq!(
            c,
            QuotaCount {
                allowed: true,
                used: 1
            }
        );
        assert_eq!(s.window_start, 60);
    }

    #[test]
    fn a_lowered_limit_refuses_at_once_and_keeps_the_count() {
        let s = CounterState {
            window_start: 60,
            used: 8,
        };
        let (s2, c) = consume(
            s,
            Window {
                start: 60,
                end: 120,
            },
            5,
        );
        assert!(!c.allowed);
        assert_eq!(s2.used, 8);
    }

    #[test]
    fn quota_record_field_round_trips_and_defaults_to_per_key() {
        let q: Quota = serde_json::from_str(r#"{"limit":10000,"period":"month"}"#).unwrap();
        assert_eq!(q.per, QuotaScope::Key);
        assert_eq!(q.counter("abc", "acme"), "key:month:abc");
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"limit":10000,"period":"month"}"#
        );
        let q: Quota =
            serde_json::from_str(r#"{"limit":5,"period":"30s","per":"consumer"}"#).unwrap();
        assert_eq!(q.counter("abc", "acme"), "consumer:30s:acme");
        assert!(serde_json::from_str::<Quota>(r#"{"limit":5,"period":"week"}"#).is_err());
    }

    #[test]
    fn ratelimit_fields_follow_the_structured_field_list_syntax() {
        let mut f = RateLimitFields::default();
        assert!(f.is_empty());
        f.add_policy("free", 100, 60);
        f.add_policy(QUOTA_POLICY, 1000, 86_400);
        f.add_state(QUOTA_POLICY, 999, 3_600);
        assert_eq!(f.policy, r#""free";q=100;w=60, "quota";q=1000;w=86400"#);
        assert_eq!(f.state, r#""quota";r=999;t=3600"#);
    }
}
