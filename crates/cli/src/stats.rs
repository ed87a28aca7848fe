//! `keygate stats`: the per-key summary of requests, decisions and latency. Both sources, the
//! local log ([`local`]) and Analytics Engine ([`remote`]), feed one [`Stats`]; the aggregation,
//! the quantiles, the order of rows and the rendering (table and JSON) live here once, so local
//! and remote print the same thing.

pub mod local;
pub mod remote;

use keygate_core::telemetry::{decision_kind, DecisionKind, NO_KEY_INDEX};
use serde::Serialize;
use std::collections::BTreeMap;

/// The window `--since` takes when not given.
pub const DEFAULT_SINCE: &str = "24h";
/// The longest window `--since` accepts: ten years, far beyond any retention, and small enough
/// that `now - since` never underflows.
pub const MAX_SINCE_SECS: u64 = 10 * 366 * 24 * 3600;

/// What to summarise: the window and an optional consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The window's length in seconds: requests newer than `now - since_secs` count.
    pub since_secs: u64,
    /// `--since` as the user wrote it, for messages (`24h`, `7d`).
    pub since_label: String,
    /// Only requests of this consumer (already checked by `check_consumer_id`).
    pub consumer: Option<String>,
}

/// Parses `--since`: a duration such as `15m`, `24h` or `7d` (humantime), whole seconds, at least
/// one second and at most [`MAX_SINCE_SECS`].
pub fn parse_since(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let d = humantime::parse_duration(s)
        .map_err(|_| format!("--since '{s}' is not a duration (15m, 24h, 7d)"))?;
    let secs = d.as_secs();
    if secs == 0 {
        return Err(format!("--since '{s}' is shorter than a second"));
    }
    if secs > MAX_SINCE_SECS {
        return Err(format!("--since '{s}' is longer than ten years"));
    }
    Ok(secs)
}

/// A quantile level in thousandths, so that ranks are computed in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantile(pub u32);

impl Quantile {
    pub const P50: Quantile = Quantile(500);
    pub const P99: Quantile = Quantile(990);
}

/// The nearest-rank quantile of `values` (sorted here): the ⌈q·n⌉-th smallest value, at least
/// the first. It never interpolates, so the answer is always a latency that was observed: the p50
/// of 1, 2, 3, 4 is 2 (rank ⌈0.5·4⌉ = 2) and the p99 of any 100 values or fewer is the largest.
/// `None` without values. (Analytics Engine's `quantileExactWeighted` picks by the same rule,
/// with each row counted `_sample_interval` times.)
pub fn nearest_rank(values: &mut [f64], q: Quantile) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len() as u128;
    let rank = (u128::from(q.0) * n).div_ceil(1000).clamp(1, n);
    usize::try_from(rank - 1).ok().map(|i| values[i])
}

/// Latency of a row's requests in milliseconds, measured at the edge; `None` without requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median of `total_ms`: arrival to the answer's headers.
    pub p50: Option<f64>,
    /// 99th percentile of `total_ms`.
    pub p99: Option<f64>,
    /// Median of `gateway_ms`: what the gateway added beyond the origin's share.
    pub gateway_p50: Option<f64>,
}

impl Latency {
    /// The quantiles of raw samples: `(total_ms, gateway_ms)` per request.
    pub fn of(samples: &[(f64, f64)]) -> Self {
        let mut total: Vec<f64> = samples.iter().map(|s| s.0).collect();
        let mut gateway: Vec<f64> = samples.iter().map(|s| s.1).collect();
        Latency {
            p50: nearest_rank(&mut total, Quantile::P50),
            p99: nearest_rank(&mut total, Quantile::P99),
            gateway_p50: nearest_rank(&mut gateway, Quantile::P50),
        }
    }
}

/// One row of the summary: a key (or no key), or the total.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    /// The key id; `None` for requests without a key (anonymous, preflight, or refused before a
    /// key was read), which share one row.
    pub key_id: Option<String>,
    /// The key's consumer, when any of its requests carried one.
    pub consumer_id: Option<String>,
    pub requests: u64,
    /// Decisions of kind [`DecisionKind::Accepted`]: forwarded to the origin.
    pub accepted: u64,
    /// Decisions of kind [`DecisionKind::Refused`]: the client's doing (4xx).
    pub refused: u64,
    /// Decisions of kind [`DecisionKind::Fault`]: configuration or infrastructure (5xx).
    pub faults: u64,
    /// Decisions outside `keygate_core::telemetry::DECISIONS` (a newer gateway's codes): counted
    /// in `requests` and listed by name, but in none of the three columns above.
    pub other: u64,
    /// Every decision code of the row and its count.
    pub decisions: BTreeMap<String, u64>,
    pub latency_ms: Latency,
}

impl Row {
    /// Adds `n` requests with `decision`.
    fn count(&mut self, decision: &str, n: u64) {
        self.requests += n;
        match decision_kind(decision) {
            Some(DecisionKind::Accepted) => self.accepted += n,
            Some(DecisionKind::Refused) => self.refused += n,
            Some(DecisionKind::Fault) => self.faults += n,
            Some(DecisionKind::Operator) | None => self.other += n,
        }
        *self.decisions.entry(decision.to_owned()).or_default() += n;
    }

    /// The codes that did not let a request through (refusals, faults, unknown codes), most
    /// frequent first, then by name: `unknown_key 3, rate_limited 2`. Unknown codes are marked.
    pub fn reasons(&self) -> String {
        let mut not_accepted: Vec<(&str, u64)> = self
            .decisions
            .iter()
            .filter(|(code, _)| decision_kind(code) != Some(DecisionKind::Accepted))
            .map(|(code, n)| (code.as_str(), *n))
            .collect();
        not_accepted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        not_accepted
            .iter()
            .map(|(code, n)| match decision_kind(code) {
                Some(_) => format!("{code} {n}"),
                None => format!("{code} {n} (unknown code)"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// True for decisions that are API traffic; [`DecisionKind::Operator`] decisions (the admin
/// endpoint) are left out of the summary.
pub fn is_traffic(decision: &str) -> bool {
    decision_kind(decision) != Some(DecisionKind::Operator)
}

/// `None` for "no key": absent, empty, or the data point's [`NO_KEY_INDEX`].
fn key_of(key_id: Option<&str>) -> Option<String> {
    key_id
        .filter(|k| !k.is_empty() && *k != NO_KEY_INDEX)
        .map(str::to_owned)
}

/// One request read from the local log.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub key_id: Option<String>,
    pub consumer_id: Option<String>,
    pub decision: String,
    pub total_ms: f64,
    pub gateway_ms: f64,
}

/// Requests of one key and decision, as Analytics Engine counts them (weighted by
/// `_sample_interval`).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionCount {
    pub key_id: Option<String>,
    pub consumer_id: Option<String>,
    pub decision: String,
    pub requests: u64,
}

/// The summary: one row per key, busiest first, and the total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub rows: Vec<Row>,
    pub total: Row,
}

/// Rows by key id while they are being counted.
#[derive(Default)]
struct Tally {
    rows: BTreeMap<Option<String>, Row>,
    total: Row,
}

impl Tally {
    /// Counts `n` requests; returns false (and counts nothing) for operator decisions.
    fn count(
        &mut self,
        key_id: Option<&str>,
        consumer: Option<&str>,
        decision: &str,
        n: u64,
    ) -> bool {
        if !is_traffic(decision) {
            return false;
        }
        let key = key_of(key_id);
        let row = self.rows.entry(key.clone()).or_insert_with(|| Row {
            key_id: key,
            ..Row::default()
        });
        // A key's refusals before its record was read carry no consumer: keep the one that is
        // known. Should a key ever show two, the greater name is kept, as on both sources.
        if let Some(c) = consumer.filter(|c| !c.is_empty()) {
            if row.consumer_id.as_deref().is_none_or(|old| c > old) {
                row.consumer_id = Some(c.to_owned());
            }
        }
        row.count(decision, n);
        self.total.count(decision, n);
        true
    }

    /// Busiest key first, then by key id (no key, `-`, sorts before every id).
    fn finish(self) -> Stats {
        let mut rows: Vec<Row> = self.rows.into_values().collect();
        rows.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| a.key_id.cmp(&b.key_id))
        });
        Stats {
            rows,
            total: self.total,
        }
    }
}

impl Stats {
    /// The summary of individual requests (the local log). Operator decisions are left out.
    pub fn from_requests(requests: &[Request]) -> Self {
        let mut tally = Tally::default();
        let mut samples: BTreeMap<Option<String>, Vec<(f64, f64)>> = BTreeMap::new();
        let mut all = Vec::new();
        for r in requests {
            if tally.count(
                r.key_id.as_deref(),
                r.consumer_id.as_deref(),
                &r.decision,
                1,
            ) {
                let s = (r.total_ms, r.gateway_ms);
                samples
                    .entry(key_of(r.key_id.as_deref()))
                    .or_default()
                    .push(s);
                all.push(s);
            }
        }
        for (key, s) in &samples {
            if let Some(row) = tally.rows.get_mut(key) {
                row.latency_ms = Latency::of(s);
            }
        }
        tally.total.latency_ms = Latency::of(&all);
        tally.finish()
    }

    /// The summary of counts and quantiles computed elsewhere (Analytics Engine): `latency` per
    /// key id (`None` for no key) and `total_latency` over every row.
    pub fn from_aggregates(
        counts: &[DecisionCount],
        latency: &[(Option<String>, Latency)],
        total_latency: Latency,
    ) -> Self {
        let mut tally = Tally::default();
        for c in counts {
            tally.count(
                c.key_id.as_deref(),
                c.consumer_id.as_deref(),
                &c.decision,
                c.requests,
            );
        }
        for (key, l) in latency {
            if let Some(row) = tally.rows.get_mut(&key_of(key.as_deref())) {
                row.latency_ms = *l;
            }
        }
        if tally.total.requests > 0 {
            tally.total.latency_ms = total_latency;
        }
        tally.finish()
    }
}

/// Milliseconds with one decimal (the log's resolution), or `-` without a value.
fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

/// The table: aligned columns (text left, numbers right), one line per key, then the total.
/// Latencies are in milliseconds; the last column lists the refusals and faults by code.
pub fn render_table(stats: &Stats) -> String {
    const HEAD: [&str; 10] = [
        "KEY",
        "CONSUMER",
        "REQUESTS",
        "ACCEPTED",
        "REFUSED",
        "FAULTS",
        "P50 MS",
        "P99 MS",
        "GW P50 MS",
        "REFUSALS AND FAULTS",
    ];
    let line = |label: String, consumer: String, r: &Row| -> [String; 10] {
        [
            label,
            consumer,
            r.requests.to_string(),
            r.accepted.to_string(),
            r.refused.to_string(),
            r.faults.to_string(),
            ms(r.latency_ms.p50),
            ms(r.latency_ms.p99),
            ms(r.latency_ms.gateway_p50),
            r.reasons(),
        ]
    };
    let mut lines = vec![HEAD.map(str::to_owned)];
    for r in &stats.rows {
        lines.push(line(
            r.key_id.clone().unwrap_or_else(|| NO_KEY_INDEX.to_owned()),
            r.consumer_id.clone().unwrap_or_else(|| "-".to_owned()),
            r,
        ));
    }
    lines.push(line("TOTAL".to_owned(), String::new(), &stats.total));
    let mut widths = [0usize; 10];
    for l in &lines {
        for (w, cell) in widths.iter_mut().zip(l) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for l in &lines {
        let mut text = String::new();
        for (i, cell) in l.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = widths[i] - cell.chars().count();
            let left = i < 2 || i == 9;
            if !left {
                text.extend(std::iter::repeat_n(' ', pad));
            }
            text.push_str(cell);
            if left {
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// Where a summary came from, for the JSON output and the closing message.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The local structured log at this path.
    Local(String),
    /// This Analytics Engine dataset.
    Remote(String),
}

impl Source {
    /// `the log target/dev/gateway.log` or `Analytics Engine dataset keygate_requests`.
    pub fn describe(&self) -> String {
        match self {
            Source::Local(p) => format!("the log {p}"),
            Source::Remote(d) => format!("Analytics Engine dataset {d}"),
        }
    }
}

/// The same data as [`render_table`], as pretty JSON: the window, the filter, the source, one
/// object per key (`key_id` and `consumer_id` are `null` when absent), and the total.
pub fn render_json(stats: &Stats, query: &Query, source: &Source) -> String {
    /// Fields in reading order: the question, where the answer came from, the answer.
    #[derive(Serialize)]
    struct Doc<'a> {
        since: &'a str,
        since_secs: u64,
        consumer: Option<&'a str>,
        source: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        log_file: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        dataset: Option<&'a str>,
        keys: &'a [Row],
        total: Total<'a>,
    }
    /// A [`Row`] without the key and consumer.
    #[derive(Serialize)]
    struct Total<'a> {
        requests: u64,
        accepted: u64,
        refused: u64,
        faults: u64,
        other: u64,
        decisions: &'a BTreeMap<String, u64>,
        latency_ms: Latency,
    }
    let t = &stats.total;
    let (kind, log_file, dataset) = match source {
        Source::Local(path) => ("local", Some(path.as_str()), None),
        Source::Remote(name) => ("remote", None, Some(name.as_str())),
    };
    let doc = Doc {
        since: &query.since_label,
        since_secs: query.since_secs,
        consumer: query.consumer.as_deref(),
        source: kind,
        log_file,
        dataset,
        keys: &stats.rows,
        total: Total {
            requests: t.requests,
            accepted: t.accepted,
            refused: t.refused,
            faults: t.faults,
            other: t.other,
            decisions: &t.decisions,
            latency_ms: t.latency_ms,
        },
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        key: Option<&str>,
        consumer: Option<&str>,
        decision: &str,
        total: f64,
        gw: f64,
    ) -> Request {
        Request {
            key_id: key.map(str::to_owned),
            consumer_id: consumer.map(str::to_owned),
            decision: decision.to_owned(),
            total_ms: total,
            gateway_ms: gw,
        }
    }

    #[test]
    fn since_takes_humantime_durations_in_whole_seconds() {
        assert_eq!(parse_since("15m"), Ok(900));
        assert_eq!(parse_since("24h"), Ok(86_400));
        assert_eq!(parse_since(" 7d "), Ok(604_800));
        assert_eq!(parse_since("1h 30m"), Ok(5_400));
        assert_eq!(parse_since("90s"), Ok(90));
        assert_eq!(parse_since("1.5h"), Ok(5_400));
    }

    #[test]
    fn since_refuses_garbage_zero_and_absurd_windows() {
        for bad in ["", "24", "yesterday", "-1h"] {
            let e = parse_since(bad).unwrap_err();
            assert!(e.contains("not a duration"), "{bad}: {e}");
        }
        assert!(parse_since("0s")
            .unwrap_err()
            .contains("shorter than a second"));
        assert!(parse_since("500ms")
            .unwrap_err()
            .contains("shorter than a second"));
        assert!(parse_since("11years").unwrap_err().contains("ten years"));
    }

    #[test]
    fn nearest_rank_picks_the_ceil_q_n_th_smallest_value() {
        // p50 of 1..=4: rank ⌈0.5·4⌉ = 2 → 2; of 1..=5: rank ⌈2.5⌉ = 3 → 3.
        assert_eq!(
            nearest_rank(&mut [4.0, 1.0, 3.0, 2.0], Quantile::P50),
            Some(2.0)
        );
        assert_eq!(
            nearest_rank(&mut [5.0, 4.0, 3.0, 2.0, 1.0], Quantile::P50),
            Some(3.0)
        );
        // p99 of 1..=100: rank 99 → 99; of 1..=101: rank ⌈99.99⌉ = 100 → 100.
        let mut hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&mut hundred, Quantile::P99), Some(99.0));
        let mut hundred_one: Vec<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(nearest_rank(&mut hundred_one, Quantile::P99), Some(100.0));
        // Ten values or a hundred: p99 is the largest of up to 100 values.
        assert_eq!(nearest_rank(&mut [3.0, 9.5, 1.0], Quantile::P99), Some(9.5));
        assert_eq!(nearest_rank(&mut [7.0], Quantile::P50), Some(7.0));
        assert_eq!(nearest_rank(&mut [], Quantile::P50), None);
        // Level 0 still gives the smallest value, never an index before the first.
        assert_eq!(nearest_rank(&mut [2.0, 1.0], Quantile(0)), Some(1.0));
    }

    fn sample() -> Vec<Request> {
        vec![
            req(Some("4e93e9dbf651"), Some("acme"), "accepted", 15.0, 3.0),
            req(Some("4e93e9dbf651"), Some("acme"), "accepted", 12.0, 2.0),
            req(Some("4e93e9dbf651"), Some("acme"), "accepted", 40.0, 5.0),
            req(Some("4e93e9dbf651"), Some("acme"), "rate_limited", 1.0, 1.0),
            // Refused before the record was read: no consumer on the line.
            req(Some("4e93e9dbf651"), None, "disabled", 2.0, 2.0),
            req(Some("0a1b2c3d4e5f"), Some("globex"), "accepted", 30.0, 4.0),
            req(
                Some("0a1b2c3d4e5f"),
                Some("globex"),
                "origin_timeout",
                30000.0,
                1.0,
            ),
            req(None, None, "missing_credential", 0.2, 0.2),
            req(None, None, "missing_credential", 0.1, 0.1),
            req(Some(""), None, "bad_checksum", 0.3, 0.3),
            req(None, None, "teapot", 0.4, 0.4),
            // Operator traffic is not API traffic.
            req(None, None, "admin_usage", 9.0, 9.0),
        ]
    }

    #[test]
    fn requests_are_counted_per_key_by_decision_kind_without_operator_traffic() {
        let s = Stats::from_requests(&sample());
        let keys: Vec<_> = s.rows.iter().map(|r| r.key_id.as_deref()).collect();
        assert_eq!(keys, [Some("4e93e9dbf651"), None, Some("0a1b2c3d4e5f")]);
        let acme = &s.rows[0];
        assert_eq!(acme.consumer_id.as_deref(), Some("acme"));
        assert_eq!(
            (
                acme.requests,
                acme.accepted,
                acme.refused,
                acme.faults,
                acme.other
            ),
            (5, 3, 2, 0, 0)
        );
        assert_eq!(acme.reasons(), "disabled 1, rate_limited 1");
        let none = &s.rows[1];
        assert_eq!(none.consumer_id, None);
        assert_eq!(
            (
                none.requests,
                none.accepted,
                none.refused,
                none.faults,
                none.other
            ),
            (4, 0, 3, 0, 1)
        );
        assert_eq!(
            none.reasons(),
            "missing_credential 2, bad_checksum 1, teapot 1 (unknown code)"
        );
        let globex = &s.rows[2];
        assert_eq!((globex.requests, globex.accepted, globex.faults), (2, 1, 1));
        assert_eq!(globex.reasons(), "origin_timeout 1");
        let t = &s.total;
        assert_eq!(
            (t.requests, t.accepted, t.refused, t.faults, t.other),
            (11, 4, 5, 1, 1)
        );
        assert!(!t.decisions.contains_key("admin_usage"));
    }

    #[test]
    fn latency_quantiles_are_per_key_and_over_all_requests() {
        let s = Stats::from_requests(&sample());
        // acme total_ms 1, 2, 12, 15, 40: p50 rank 3 → 12, p99 rank 5 → 40;
        // gateway_ms 1, 2, 2, 3, 5: p50 → 2.
        assert_eq!(
            s.rows[0].latency_ms,
            Latency {
                p50: Some(12.0),
                p99: Some(40.0),
                gateway_p50: Some(2.0)
            }
        );
        // No key: 0.1, 0.2, 0.3, 0.4 → p50 rank 2 → 0.2, p99 → 0.4.
        assert_eq!(s.rows[1].latency_ms.p50, Some(0.2));
        assert_eq!(s.rows[1].latency_ms.p99, Some(0.4));
        // All eleven: 0.1 0.2 0.3 0.4 1 2 12 15 30 40 30000 → p50 rank 6 → 2, p99 rank 11.
        assert_eq!(s.total.latency_ms.p50, Some(2.0));
        assert_eq!(s.total.latency_ms.p99, Some(30000.0));
    }

    #[test]
    fn rows_with_equal_counts_sort_by_key_id_with_no_key_first() {
        let s = Stats::from_requests(&[
            req(Some("bbbbbbbbbbbb"), Some("b"), "accepted", 1.0, 1.0),
            req(Some("aaaaaaaaaaaa"), Some("a"), "accepted", 1.0, 1.0),
            req(None, None, "missing_credential", 1.0, 1.0),
        ]);
        let keys: Vec<_> = s.rows.iter().map(|r| r.key_id.as_deref()).collect();
        assert_eq!(keys, [None, Some("aaaaaaaaaaaa"), Some("bbbbbbbbbbbb")]);
    }

    #[test]
    fn aggregates_merge_a_keys_groups_and_keep_its_known_consumer() {
        let count = |key: &str, consumer: &str, decision: &str, n: u64| DecisionCount {
            key_id: Some(key.to_owned()),
            consumer_id: Some(consumer.to_owned()),
            decision: decision.to_owned(),
            requests: n,
        };
        let l = Latency {
            p50: Some(10.0),
            p99: Some(20.0),
            gateway_p50: Some(1.0),
        };
        let s = Stats::from_aggregates(
            &[
                count("4e93e9dbf651", "", "disabled", 2),
                count("4e93e9dbf651", "acme", "accepted", 40),
                count("-", "", "missing_credential", 7),
                count("-", "", "admin_usage", 3),
            ],
            &[(Some("4e93e9dbf651".into()), l), (Some("-".into()), l)],
            l,
        );
        assert_eq!(s.rows.len(), 2);
        assert_eq!(s.rows[0].key_id.as_deref(), Some("4e93e9dbf651"));
        assert_eq!(s.rows[0].consumer_id.as_deref(), Some("acme"));
        assert_eq!((s.rows[0].requests, s.rows[0].refused), (42, 2));
        assert_eq!(s.rows[0].latency_ms, l);
        assert_eq!(s.rows[1].key_id, None, "the '-' index is the no-key row");
        assert_eq!(s.rows[1].requests, 7);
        assert_eq!(s.rows[1].latency_ms, l);
        assert_eq!(s.total.requests, 49);
        assert_eq!(s.total.latency_ms, l);
    }

    #[test]
    fn an_empty_summary_has_no_latency() {
        let s = Stats::from_aggregates(&[], &[], Latency::default());
        assert_eq!(s.rows, []);
        assert_eq!(s.total, Row::default());
        assert_eq!(Stats::from_requests(&[]).total, Row::default());
    }

    #[test]
    fn table_aligns_text_left_numbers_right_and_ends_with_the_total() {
        let table = render_table(&Stats::from_requests(&sample()));
        let expected = "\
KEY           CONSUMER  REQUESTS  ACCEPTED  REFUSED  FAULTS  P50 MS   P99 MS  GW P50 MS  REFUSALS AND FAULTS
4e93e9dbf651  acme             5         3        2       0    12.0     40.0        2.0  disabled 1, rate_limited 1
-             -                4         0        3       0     0.2      0.4        0.2  missing_credential 2, bad_checksum 1, teapot 1 (unknown code)
0a1b2c3d4e5f  globex           2         1        0       1    30.0  30000.0        1.0  origin_timeout 1
TOTAL                         11         4        5       1     2.0  30000.0        1.0  missing_credential 2, bad_checksum 1, disabled 1, origin_timeout 1, rate_limited 1, teapot 1 (unknown code)
";
        assert_eq!(table, expected);
    }

    #[test]
    fn an_empty_table_still_has_its_header_and_a_zero_total() {
        assert_eq!(
            render_table(&Stats::default()),
            "\
KEY    CONSUMER  REQUESTS  ACCEPTED  REFUSED  FAULTS  P50 MS  P99 MS  GW P50 MS  REFUSALS AND FAULTS
TOTAL                   0         0        0       0       -       -          -
"
        );
    }

    #[test]
    fn json_holds_the_same_rows_with_nulls_for_absent_key_and_consumer() {
        let q = Query {
            since_secs: 86_400,
            since_label: "24h".into(),
            consumer: None,
        };
        let text = render_json(
            &Stats::from_requests(&sample()),
            &q,
            &Source::Local("target/dev/gateway.log".into()),
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["since"], "24h");
        assert_eq!(v["since_secs"], 86_400);
        assert!(v["consumer"].is_null());
        assert_eq!(v["source"], "local");
        assert_eq!(v["log_file"], "target/dev/gateway.log");
        assert!(v.get("dataset").is_none());
        assert_eq!(v["keys"][0]["key_id"], "4e93e9dbf651");
        assert_eq!(v["keys"][0]["consumer_id"], "acme");
        assert_eq!(v["keys"][0]["decisions"]["rate_limited"], 1);
        assert_eq!(v["keys"][0]["latency_ms"]["p50"], 12.0);
        assert!(v["keys"][1]["key_id"].is_null());
        assert!(v["keys"][1]["consumer_id"].is_null());
        assert_eq!(v["keys"][1]["other"], 1);
        assert_eq!(v["total"]["requests"], 11);
        assert_eq!(v["total"]["latency_ms"]["p99"], 30000.0);
        assert!(v["total"].get("key_id").is_none());
        let remote = render_json(&Stats::default(), &q, &Source::Remote("ds".into()));
        let v: serde_json::Value = serde_json::from_str(&remote).unwrap();
        assert_eq!(
            (v["source"].as_str(), v["dataset"].as_str()),
            (Some("remote"), Some("ds"))
        );
        assert!(v.get("log_file").is_none());
        assert!(v["total"]["latency_ms"]["p50"].is_null());
    }
}
