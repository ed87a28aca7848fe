//! The local source of `keygate stats`: the structured request lines in the log that `make dev`
//! appends `wrangler dev`'s output to. Wrangler prefixes and colours lines and prints much else;
//! a line counts only if, from its first `{`, it holds a JSON object whose `event` is
//! `keygate_core::telemetry::LOG_EVENT`. Everything else is skipped.

use super::{Query, Request, Stats};
use keygate_core::telemetry::LOG_EVENT;
use serde::Deserialize;
use std::io::{BufRead, BufReader};
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Where `make dev` (scripts/dev.sh) appends the gateway's output, relative to the repository.
pub const DEFAULT_LOG_FILE: &str = "target/dev/gateway.log";

/// The fields of a request line that the summary needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Unix time in nanoseconds.
    pub ts_nanos: i128,
    pub request: Request,
}

/// What one line of the log is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A request line.
    Request(LogRecord),
    /// A request line (its `event` says so) that lacks a field or has one of the wrong type.
    Malformed,
    /// Anything else: wrangler's own output, the origin's, other JSON.
    Other,
}

#[derive(Deserialize)]
struct Raw {
    ts: String,
    decision: String,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    consumer_id: Option<String>,
    total_ms: f64,
    gateway_ms: f64,
}

/// Reads one line of the log.
pub fn parse_line(line: &str) -> Line {
    let clean = crate::ansi::strip(line);
    let Some(start) = clean.find('{') else {
        return Line::Other;
    };
    // The first JSON value from the brace on; whatever follows it (a colour reset) is ignored.
    let mut values =
        serde_json::Deserializer::from_str(&clean[start..]).into_iter::<serde_json::Value>();
    let Some(Ok(value)) = values.next() else {
        return Line::Other;
    };
    if value.get("event").and_then(|e| e.as_str()) != Some(LOG_EVENT) {
        return Line::Other;
    }
    let Ok(raw) = serde_json::from_value::<Raw>(value) else {
        return Line::Malformed;
    };
    let Ok(ts) = OffsetDateTime::parse(&raw.ts, &Rfc3339) else {
        return Line::Malformed;
    };
    Line::Request(LogRecord {
        ts_nanos: ts.unix_timestamp_nanos(),
        request: Request {
            key_id: raw.key_id,
            consumer_id: raw.consumer_id,
            decision: raw.decision,
            total_ms: raw.total_ms,
            gateway_ms: raw.gateway_ms,
        },
    })
}

/// The request lines of a log that fall in the query's window (newer than `now - since`) and,
/// with `--consumer`, belong to that consumer; plus how many request lines were malformed.
pub fn select(
    log: impl BufRead,
    query: &Query,
    now_nanos: i128,
) -> Result<(Vec<Request>, u64), String> {
    let cutoff = now_nanos - i128::from(query.since_secs) * 1_000_000_000;
    let mut picked = Vec::new();
    let mut malformed = 0;
    for line in log.split(b'\n') {
        let line = line.map_err(|e| format!("could not read the log: {e}"))?;
        match parse_line(&String::from_utf8_lossy(&line)) {
            Line::Request(r) => {
                let consumer_ok = query
                    .consumer
                    .as_ref()
                    .is_none_or(|c| r.request.consumer_id.as_ref() == Some(c));
                if r.ts_nanos > cutoff && consumer_ok {
                    picked.push(r.request);
                }
            }
            Line::Malformed => malformed += 1,
            Line::Other => {}
        }
    }
    Ok((picked, malformed))
}

/// The summary of the log at `path`, and the number of malformed request lines skipped.
/// A missing file is an error that says how to make one.
pub fn read(path: &Path, query: &Query, now_nanos: i128) -> Result<(Stats, u64), String> {
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "no gateway log at {}: run `make dev` (it appends the local gateway's output \
                 there), or pass --log-file PATH",
                path.display()
            )
        } else {
            format!("could not open the log {}: {e}", path.display())
        }
    })?;
    let (requests, malformed) = select(BufReader::new(file), query, now_nanos)?;
    Ok((Stats::from_requests(&requests), malformed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"event":"keygate.request","ts":"2026-11-29T08:00:00.000Z","request_id":"req-1","method":"GET","path":"/v1/orders","decision":"accepted","key_id":"4e93e9dbf651","consumer_id":"acme","status":200,"origin_status":200,"gateway_ms":3.0,"origin_ms":12.0,"total_ms":15.0,"colo":"AMS","cache":"hit"}"#;

    fn at(rfc: &str) -> i128 {
        OffsetDateTime::parse(rfc, &Rfc3339)
            .unwrap()
            .unix_timestamp_nanos()
    }

    fn request(line: &str) -> LogRecord {
        match parse_line(line) {
            Line::Request(r) => r,
            other => panic!("not a request line: {other:?}: {line}"),
        }
    }

    #[test]
    fn a_bare_request_line_is_read() {
        let r = request(GOOD);
        assert_eq!(r.ts_nanos, at("2026-11-29T08:00:00Z"));
        assert_eq!(
            r.request,
            Request {
                key_id: Some("4e93e9dbf651".into()),
                consumer_id: Some("acme".into()),
                decision: "accepted".into(),
                total_ms: 15.0,
                gateway_ms: 3.0,
            }
        );
    }

    #[test]
    fn a_prefixed_or_coloured_line_is_read() {
        let want = request(GOOD);
        for line in [
            format!("[wrangler:inf] {GOOD}"),
            format!("  {GOOD}   "),
            format!("\x1b[2m08:00:00\x1b[0m {GOOD}\x1b[39m"),
            format!("\x1b[36m{}\x1b[39m", GOOD.replace(",\"", ",\x1b[0m\"")),
            format!("{GOOD}\r"),
        ] {
            assert_eq!(request(&line), want, "{line:?}");
        }
    }

    #[test]
    fn absent_fields_are_null_and_extra_fields_are_ignored() {
        let line = r#"{"event":"keygate.request","ts":"2026-11-29T08:00:00.5+01:00","request_id":"r","method":"GET","path":"/","query":"a=1","decision":"missing_credential","key_id":null,"consumer_id":null,"status":401,"origin_status":null,"gateway_ms":0.1,"origin_ms":null,"total_ms":0.1,"colo":null,"cache":null,"detail":"x"}"#;
        let r = request(line);
        assert_eq!(r.ts_nanos, at("2026-11-29T07:00:00.5Z"));
        assert_eq!(r.request.key_id, None);
        assert_eq!(r.request.consumer_id, None);
        assert_eq!(r.request.decision, "missing_credential");
    }

    #[test]
    fn an_unknown_decision_code_is_kept_as_written() {
        let r = request(&GOOD.replace("\"accepted\"", "\"teapot\""));
        assert_eq!(r.request.decision, "teapot");
    }

    #[test]
    fn other_output_and_other_json_are_skipped() {
        for line in [
            "",
            "⎔ Starting local server...",
            "[wrangler:inf] Ready on http://127.0.0.1:8787",
            "[wrangler:inf] GET /hello 200 OK (12ms)",
            "{not json",
            "{\"event\":\"keygate.request\"",
            r#"{"event":"other","ts":"2026-11-29T08:00:00Z"}"#,
            r#"{"level":"info","msg":"origin listening"}"#,
            "[1, 2, 3]",
            r#"{"event":42}"#,
        ] {
            assert_eq!(parse_line(line), Line::Other, "{line:?}");
        }
    }

    #[test]
    fn a_request_line_without_its_fields_is_malformed() {
        for line in [
            r#"{"event":"keygate.request"}"#,
            &GOOD.replace("\"total_ms\":15.0", "\"total_ms\":\"fast\""),
            &GOOD.replace("2026-11-29T08:00:00.000Z", "yesterday"),
            &GOOD.replace("\"decision\":\"accepted\",", ""),
        ] {
            assert_eq!(parse_line(line), Line::Malformed, "{line}");
        }
    }

    fn line(ts: &str, consumer: &str, decision: &str) -> String {
        GOOD.replace("2026-11-29T08:00:00.000Z", ts)
            .replace("\"acme\"", &format!("\"{consumer}\""))
            .replace("\"accepted\"", &format!("\"{decision}\""))
    }

    #[test]
    fn select_keeps_the_window_and_the_consumer_and_counts_malformed_lines() {
        let log = [
            line("2026-11-29T07:59:00Z", "acme", "accepted"),
            "wrangler noise".to_owned(),
            line("2026-11-28T08:00:00Z", "acme", "accepted"), // exactly 24 h old: out
            line("2026-11-28T08:00:01Z", "acme", "rate_limited"),
            line("2026-11-29T07:00:00Z", "globex", "accepted"),
            r#"{"event":"keygate.request","ts":"bad"}"#.to_owned(),
        ]
        .join("\n");
        let now = at("2026-11-29T08:00:00Z");
        let mut q = Query {
            since_secs: 86_400,
            since_label: "24h".into(),
            consumer: None,
        };
        let (all, malformed) = select(log.as_bytes(), &q, now).unwrap();
        assert_eq!(malformed, 1);
        let decisions: Vec<_> = all.iter().map(|r| r.decision.as_str()).collect();
        assert_eq!(decisions, ["accepted", "rate_limited", "accepted"]);
        q.consumer = Some("acme".into());
        let (acme, _) = select(log.as_bytes(), &q, now).unwrap();
        assert_eq!(acme.len(), 2);
        assert!(acme
            .iter()
            .all(|r| r.consumer_id.as_deref() == Some("acme")));
        q.consumer = None;
        q.since_secs = 3600;
        let (hour, _) = select(log.as_bytes(), &q, now).unwrap();
        assert_eq!(hour.len(), 1, "07:00:00 is exactly an hour old: out");
    }

    #[test]
    fn invalid_utf8_in_a_line_does_not_stop_the_read() {
        let mut log = b"\xff\xfe garbage\n".to_vec();
        log.extend_from_slice(GOOD.as_bytes());
        let q = Query {
            since_secs: 3600,
            since_label: "1h".into(),
            consumer: None,
        };
        let (r, _) = select(&log[..], &q, at("2026-11-29T08:30:00Z")).unwrap();
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn a_missing_log_says_to_run_make_dev() {
        let q = Query {
            since_secs: 60,
            since_label: "1m".into(),
            consumer: None,
        };
        let e = read(Path::new("/nonexistent/keygate/gateway.log"), &q, 0).unwrap_err();
        assert!(
            e.contains("/nonexistent/keygate/gateway.log")
                && e.contains("make dev")
                && e.contains("--log-file"),
            "{e}"
        );
    }
}
