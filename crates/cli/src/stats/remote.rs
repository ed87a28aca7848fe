//! The remote source of `keygate stats`: the Workers Analytics Engine SQL API. Which dataset
//! (`--dataset`, else the `ANALYTICS` binding in the wrangler config), the credentials (the
//! variables wrangler uses), the SQL (built from `keygate_core::telemetry::columns`), and the
//! answer's parsing are plain functions; [`fetch`] makes the calls.
//!
//! The API token is sent only in the `Authorization` header. It is kept in a [`Token`], whose
//! `Debug` does not show it, and is scrubbed from every error before it is returned.

use super::{is_traffic, DecisionCount, Latency, Query, Stats};
use crate::http::{check_base_url, Client, Request, SendError};
use crate::redact::clean;
use keygate_core::telemetry::{columns, DecisionKind, DECISIONS};
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

/// The API's base URL, as wrangler reads it.
pub const API_BASE_ENV: &str = "CLOUDFLARE_API_BASE_URL";
/// The base URL when [`API_BASE_ENV`] is not set.
pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";
pub const ACCOUNT_ENV: &str = "CLOUDFLARE_ACCOUNT_ID";
pub const TOKEN_ENV: &str = "CLOUDFLARE_API_TOKEN";
/// The Analytics Engine binding the gateway writes to (src/lib.rs).
pub const BINDING: &str = "ANALYTICS";
/// The wrangler configuration read when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "wrangler.toml";
/// Largest answer read, in bytes.
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// An API token. `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Where and as whom to query.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    /// The API base URL, without a trailing slash.
    pub base: String,
    pub account_id: String,
    pub token: Token,
}

impl Credentials {
    /// `{base}/accounts/{account_id}/analytics_engine/sql`.
    pub fn sql_url(&self) -> String {
        format!(
            "{}/accounts/{}/analytics_engine/sql",
            self.base, self.account_id
        )
    }
}

/// Reads the credentials through `var` (the environment, in the real command). Missing
/// variables are all named at once; the token is never echoed.
pub fn credentials(var: impl Fn(&str) -> Option<String>) -> Result<Credentials, String> {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let (account_id, token) = match (get(ACCOUNT_ENV), get(TOKEN_ENV)) {
        (Some(a), Some(t)) => (a, t),
        (account, _) => {
            let missing = match account {
                None if get(TOKEN_ENV).is_none() => format!("{ACCOUNT_ENV} and {TOKEN_ENV}"),
                None => ACCOUNT_ENV.to_owned(),
                Some(_) => TOKEN_ENV.to_owned(),
            };
            return Err(format!(
                "--remote reads Analytics Engine through the Cloudflare API: set {missing} (an \
                 API token with the Account Analytics Read permission, and the account's id, as \
                 for wrangler)"
            ));
        }
    };
    let account_id = account_id.trim().to_owned();
    if account_id.len() > 64 || !account_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "{ACCOUNT_ENV} must be the account's id (32 hex characters), not '{}'",
            account_id
                .chars()
                .filter(|c| !c.is_control())
                .take(80)
                .collect::<String>()
        ));
    }
    let token = token.trim().to_owned();
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{TOKEN_ENV} holds characters other than visible ASCII"
        ));
    }
    let base = get(API_BASE_ENV).unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
    let base = check_base_url(&base, "the Cloudflare API URL", "API token")
        .map_err(|e| format!("{API_BASE_ENV}: {e}"))?;
    Ok(Credentials {
        base,
        account_id,
        token: Token(token),
    })
}

/// Checks a dataset name before it goes into SQL: 1 to 128 of `A-Z a-z 0-9 _`, as an unquoted
/// table name needs.
pub fn check_dataset(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 128
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!(
            "the dataset name '{}' must be 1 to 128 characters from A-Z a-z 0-9 _",
            name.chars()
                .filter(|c| !c.is_control())
                .take(130)
                .collect::<String>()
        ));
    }
    Ok(())
}

/// The dataset of the [`BINDING`] binding in a wrangler.toml (`text`, read from `path`): in
/// `[env.NAME]` with an environment, else at the top level. Like wrangler, it does not inherit
/// the top level's bindings into an environment, and a binding without `dataset` writes to a
/// dataset named after the binding.
pub fn dataset_from_config(text: &str, env: Option<&str>, path: &Path) -> Result<String, String> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let (scope, place) = match env {
        Some(name) => (
            doc.get("env").and_then(|e| e.get(name)),
            format!("[env.{name}] of {}", path.display()),
        ),
        None => (
            Some(&toml::Value::Table(doc.clone())),
            path.display().to_string(),
        ),
    };
    let Some(scope) = scope else {
        return Err(format!(
            "{} has no [env.{}]; check --env, or pass --dataset NAME",
            path.display(),
            env.unwrap_or_default()
        ));
    };
    let entries = scope
        .get("analytics_engine_datasets")
        .and_then(|v| v.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let found = entries
        .iter()
        .find(|e| e.get("binding").and_then(|b| b.as_str()) == Some(BINDING));
    let Some(entry) = found else {
        let inherit = if env.is_some() {
            " (wrangler does not inherit bindings from the top level)"
        } else {
            ""
        };
        return Err(format!(
            "{place} has no analytics_engine_datasets entry with binding = \"{BINDING}\"{inherit}; \
             add one, or pass --dataset NAME"
        ));
    };
    let dataset = match entry.get("dataset") {
        None => BINDING.to_owned(),
        Some(v) => v
            .as_str()
            .ok_or_else(|| format!("the {BINDING} dataset in {place} is not a string"))?
            .to_owned(),
    };
    check_dataset(&dataset)?;
    Ok(dataset)
}

/// A string literal: single quotes doubled (standard SQL, which ClickHouse reads too) and
/// backslashes doubled (ClickHouse, behind Analytics Engine, reads a backslash as an escape).
/// Consumer ids are checked before they get here and hold neither; this is the second fence.
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// The `WHERE` clause both queries share: the window, API traffic only (no operator decisions),
/// and the consumer when one is asked for.
fn where_clause(q: &Query) -> String {
    let operator: Vec<String> = DECISIONS
        .iter()
        .filter(|(_, kind, _)| *kind == DecisionKind::Operator)
        .map(|(code, _, _)| sql_string(code))
        .collect();
    let mut w = format!(
        "WHERE timestamp > NOW() - INTERVAL '{}' SECOND",
        q.since_secs
    );
    if !operator.is_empty() {
        w.push_str(&format!(
            " AND {} NOT IN ({})",
            columns::DECISION,
            operator.join(", ")
        ));
    }
    if let Some(c) = &q.consumer {
        w.push_str(&format!(
            " AND {} = {}",
            columns::CONSUMER_ID,
            sql_string(c)
        ));
    }
    w
}

/// Requests per key, consumer and decision, weighted by `_sample_interval` (each stored row
/// stands for that many requests).
pub fn counts_sql(dataset: &str, q: &Query) -> String {
    format!(
        "SELECT {index} AS key_id, {consumer} AS consumer_id, {decision} AS decision, \
         SUM(_sample_interval) AS requests FROM {dataset} {w} \
         GROUP BY {index}, {consumer}, {decision} FORMAT JSON",
        index = columns::INDEX,
        consumer = columns::CONSUMER_ID,
        decision = columns::DECISION,
        w = where_clause(q),
    )
}

/// Latency quantiles (`quantileExactWeighted` with `_sample_interval` as the weight): per key
/// with `per_key`, else over all requests.
pub fn latency_sql(dataset: &str, q: &Query, per_key: bool) -> String {
    let quantile = |level: &str, column: &str| {
        format!("quantileExactWeighted({level})({column}, _sample_interval)")
    };
    let (key, group) = if per_key {
        (
            format!("{} AS key_id, ", columns::INDEX),
            format!(" GROUP BY {}", columns::INDEX),
        )
    } else {
        (String::new(), String::new())
    };
    format!(
        "SELECT {key}{} AS p50_ms, {} AS p99_ms, {} AS gateway_p50_ms FROM {dataset} {}{group} \
         FORMAT JSON",
        quantile("0.5", columns::TOTAL_MS),
        quantile("0.99", columns::TOTAL_MS),
        quantile("0.5", columns::GATEWAY_MS),
        where_clause(q),
    )
}

/// The rows of a `FORMAT JSON` answer (`{"meta": [...], "data": [...], "rows": N}`).
pub fn parse_answer(body: &str) -> Result<Vec<Map<String, Value>>, String> {
    let v: Value = serde_json::from_str(body).map_err(|_| {
        "the Analytics Engine answer is not JSON; is CLOUDFLARE_API_BASE_URL the Cloudflare API?"
            .to_owned()
    })?;
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| "the Analytics Engine answer has no \"data\" rows".to_owned())?;
    data.iter()
        .map(|row| {
            row.as_object()
                .cloned()
                .ok_or_else(|| "an Analytics Engine row is not an object".to_owned())
        })
        .collect()
}

/// A text cell; absent or null reads as empty.
fn text(row: &Map<String, Value>, name: &str) -> Result<String, String> {
    match row.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "the Analytics Engine column {name} is not text: {other}"
        )),
    }
}

/// A count: a JSON number, or a string holding one (ClickHouse quotes 64-bit integers).
fn count(row: &Map<String, Value>, name: &str) -> Result<u64, String> {
    // A float written for a whole count (`3.0`, `"3e2"`), within u64.
    let whole = |f: f64| (f.fract() == 0.0 && (0.0..1.8e19).contains(&f)).then_some(f as u64);
    let v = match row.get(name) {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().and_then(whole)),
        Some(Value::String(s)) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        _ => None,
    };
    v.ok_or_else(|| format!("the Analytics Engine column {name} is not a count"))
}

/// A latency: a number, a string holding one, or null / NaN (no value).
fn millis(row: &Map<String, Value>, name: &str) -> Result<Option<f64>, String> {
    let v = match row.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => match s.trim() {
            "nan" | "NaN" | "" => return Ok(None),
            t => t.parse::<f64>().ok(),
        },
        _ => None,
    };
    match v {
        Some(f) if f.is_finite() => Ok(Some(f)),
        Some(_) => Ok(None),
        None => Err(format!(
            "the Analytics Engine column {name} is not a number"
        )),
    }
}

/// The rows of [`counts_sql`]'s answer. Operator decisions are dropped here too.
pub fn parse_counts(rows: &[Map<String, Value>]) -> Result<Vec<DecisionCount>, String> {
    let mut out = Vec::new();
    for row in rows {
        let decision = text(row, "decision")?;
        if !is_traffic(&decision) {
            continue;
        }
        let key = text(row, "key_id")?;
        let consumer = text(row, "consumer_id")?;
        out.push(DecisionCount {
            key_id: Some(key).filter(|k| !k.is_empty()),
            consumer_id: Some(consumer).filter(|c| !c.is_empty()),
            decision,
            requests: count(row, "requests")?,
        });
    }
    Ok(out)
}

/// One row of [`latency_sql`]'s answer.
pub fn parse_latency(row: &Map<String, Value>) -> Result<Latency, String> {
    Ok(Latency {
        p50: millis(row, "p50_ms")?,
        p99: millis(row, "p99_ms")?,
        gateway_p50: millis(row, "gateway_p50_ms")?,
    })
}

/// The rows of the per-key [`latency_sql`] answer, by key id.
pub fn parse_key_latency(
    rows: &[Map<String, Value>],
) -> Result<Vec<(Option<String>, Latency)>, String> {
    rows.iter()
        .map(|row| Ok((Some(text(row, "key_id")?), parse_latency(row)?)))
        .collect()
}

/// The error for an answer other than 200: the status, the API's own messages (the v4 envelope's
/// `errors[].message`, else the body's text), and a hint. The token is scrubbed from it.
pub fn error_message(status: u16, body: &str, creds: &Credentials) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let msgs: Vec<String> = v
            .get("errors")?
            .as_array()?
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str).map(clean))
            .filter(|m| !m.is_empty())
            .collect();
        (!msgs.is_empty()).then(|| msgs.join("; "))
    });
    let detail = from_json.unwrap_or_else(|| clean(body.trim()));
    let mut msg = format!("the Analytics Engine SQL API answered {status}");
    if !detail.is_empty() {
        msg.push_str(": ");
        msg.push_str(&detail);
    }
    let hint = match status {
        401 | 403 => format!(
            "check {TOKEN_ENV}: it needs the Account Analytics Read permission on account {}",
            creds.account_id
        ),
        404 => format!("check {ACCOUNT_ENV} and {API_BASE_ENV}"),
        300..=399 => "redirects are not followed".to_owned(),
        _ => String::new(),
    };
    if !hint.is_empty() {
        msg.push_str(" - ");
        msg.push_str(&hint);
    }
    redact(&msg, &creds.token)
}

fn redact(msg: &str, token: &Token) -> String {
    crate::redact::redact(msg, &token.0, "API token")
}

/// POSTs one query with `client`; the answer's rows, or an error without the token.
pub fn run_sql(
    client: &Client,
    creds: &Credentials,
    sql: &str,
) -> Result<Vec<Map<String, Value>>, String> {
    let url = creds.sql_url();
    let req = Request {
        url: &url,
        token: &creds.token.0,
        token_label: "API token",
        accept: "application/json",
        body: Some(("text/plain; charset=utf-8", sql)),
        max_body: MAX_BODY,
    };
    let (status, body) = client.send(&req).map_err(|e| match e {
        SendError::Unreachable(e) => format!("could not reach {}: {e}", creds.base),
        SendError::Unreadable { status, error } => {
            format!("could not read the Analytics Engine answer ({status}): {error}")
        }
    })?;
    if status != 200 {
        return Err(error_message(status, &body, creds));
    }
    parse_answer(&body).map_err(|e| redact(&e, &creds.token))
}

/// The summary from Analytics Engine: three queries (counts per key and decision, latency per
/// key, latency over all), sent through one client so that they can share a connection.
pub fn fetch(creds: &Credentials, dataset: &str, q: &Query) -> Result<Stats, String> {
    check_dataset(dataset)?;
    let client = Client::new(&creds.base, Duration::from_secs(60));
    let counts = parse_counts(&run_sql(&client, creds, &counts_sql(dataset, q))?)?;
    let per_key = parse_key_latency(&run_sql(&client, creds, &latency_sql(dataset, q, true))?)?;
    let total = match run_sql(&client, creds, &latency_sql(dataset, q, false))?.first() {
        Some(row) => parse_latency(row)?,
        None => Latency::default(),
    };
    Ok(Stats::from_aggregates(&counts, &per_key, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn q(since: u64, consumer: Option<&str>) -> Query {
        Query {
            since_secs: since,
            since_label: String::new(),
            consumer: consumer.map(str::to_owned),
        }
    }

    #[test]
    fn credentials_come_from_wranglers_variables() {
        let c = credentials(env(&[(ACCOUNT_ENV, "0123abcd"), (TOKEN_ENV, "tok-1")])).unwrap();
        assert_eq!(
            c.sql_url(),
            "https://api.cloudflare.com/client/v4/accounts/0123abcd/analytics_engine/sql"
        );
        assert_eq!(c.token, Token("tok-1".into()));
        let c = credentials(env(&[
            (ACCOUNT_ENV, "acc"),
            (TOKEN_ENV, "t"),
            (API_BASE_ENV, "http://127.0.0.1:9999/client/v4/"),
        ]))
        .unwrap();
        assert_eq!(
            c.sql_url(),
            "http://127.0.0.1:9999/client/v4/accounts/acc/analytics_engine/sql"
        );
    }

    #[test]
    fn missing_credentials_are_named_together() {
        let e = credentials(env(&[])).unwrap_err();
        assert!(e.contains(&format!("{ACCOUNT_ENV} and {TOKEN_ENV}")), "{e}");
        assert!(e.contains("Account Analytics Read"), "{e}");
        let e = credentials(env(&[(ACCOUNT_ENV, "a"), (TOKEN_ENV, " ")])).unwrap_err();
        assert!(
            e.contains(TOKEN_ENV) && !e.contains(&format!("{ACCOUNT_ENV} and")),
            "{e}"
        );
    }

    #[test]
    fn the_token_is_never_in_debug_output_or_credential_errors() {
        let c = credentials(env(&[(ACCOUNT_ENV, "a"), (TOKEN_ENV, "sekrit-123")])).unwrap();
        assert!(!format!("{c:?}").contains("sekrit-123"));
        let e = credentials(env(&[(ACCOUNT_ENV, "a"), (TOKEN_ENV, "sek rit\n")])).unwrap_err();
        assert!(!e.contains("sek rit"), "{e}");
        let e =
            credentials(env(&[(ACCOUNT_ENV, "a/../b"), (TOKEN_ENV, "sekrit-123")])).unwrap_err();
        assert!(e.contains(ACCOUNT_ENV) && !e.contains("sekrit"), "{e}");
    }

    #[test]
    fn the_base_url_must_be_https_except_on_loopback() {
        for bad in [
            "http://api.example.com/client/v4",
            "ftp://x",
            "not a url",
            "https://user:pw@api.example.com",
            "https://api.example.com/?q=1",
        ] {
            let r = credentials(env(&[
                (ACCOUNT_ENV, "a"),
                (TOKEN_ENV, "t"),
                (API_BASE_ENV, bad),
            ]));
            let e = r.unwrap_err();
            assert!(e.contains(API_BASE_ENV) && !e.contains("pw"), "{bad}: {e}");
        }
    }

    const CONFIG: &str = r#"
name = "keygate"
[[analytics_engine_datasets]]
binding = "ANALYTICS"
dataset = "keygate_requests"

[env.staging]
name = "keygate-staging"
[[env.staging.analytics_engine_datasets]]
binding = "OTHER"
dataset = "other"
[[env.staging.analytics_engine_datasets]]
binding = "ANALYTICS"
dataset = "keygate_requests_staging"

[env.production]
[[env.production.analytics_engine_datasets]]
binding = "ANALYTICS"

[env.bare]
name = "keygate-bare"
"#;

    #[test]
    fn the_dataset_is_the_analytics_binding_of_the_chosen_environment() {
        let p = Path::new("wrangler.toml");
        assert_eq!(
            dataset_from_config(CONFIG, None, p),
            Ok("keygate_requests".into())
        );
        assert_eq!(
            dataset_from_config(CONFIG, Some("staging"), p),
            Ok("keygate_requests_staging".into())
        );
        // Like wrangler: a binding without `dataset` writes to one named after the binding.
        assert_eq!(
            dataset_from_config(CONFIG, Some("production"), p),
            Ok("ANALYTICS".into())
        );
    }

    #[test]
    fn a_config_without_the_binding_or_environment_says_what_is_missing() {
        let p = Path::new("conf/wrangler.toml");
        let e = dataset_from_config(CONFIG, Some("bare"), p).unwrap_err();
        assert!(
            e.contains("[env.bare] of conf/wrangler.toml")
                && e.contains("binding = \"ANALYTICS\"")
                && e.contains("does not inherit")
                && e.contains("--dataset"),
            "{e}"
        );
        let e = dataset_from_config(CONFIG, Some("nope"), p).unwrap_err();
        assert!(e.contains("no [env.nope]") && e.contains("--env"), "{e}");
        let e = dataset_from_config("name = \"x\"\n", None, p).unwrap_err();
        assert!(
            e.starts_with("conf/wrangler.toml has no analytics_engine_datasets"),
            "{e}"
        );
        assert!(dataset_from_config("[[", None, p)
            .unwrap_err()
            .starts_with("could not read conf/wrangler.toml"));
        let e = dataset_from_config(
            "[[analytics_engine_datasets]]\nbinding = \"ANALYTICS\"\ndataset = \"a-b; DROP\"\n",
            None,
            p,
        )
        .unwrap_err();
        assert!(e.contains("A-Z a-z 0-9 _"), "{e}");
    }

    #[test]
    fn string_literals_escape_quotes_and_backslashes() {
        assert_eq!(sql_string("acme"), "'acme'");
        assert_eq!(sql_string("o'brien"), "'o''brien'");
        assert_eq!(sql_string(r"a\'b"), r"'a\\''b'");
        assert_eq!(sql_string("' OR 1=1 --"), "''' OR 1=1 --'");
    }

    #[test]
    fn counts_sql_is_built_from_the_column_layout() {
        assert_eq!(
            counts_sql("keygate_requests", &q(86_400, None)),
            "SELECT index1 AS key_id, blob2 AS consumer_id, blob3 AS decision, \
             SUM(_sample_interval) AS requests FROM keygate_requests \
             WHERE timestamp > NOW() - INTERVAL '86400' SECOND AND blob3 NOT IN ('admin_usage', 'management_ok', 'management_unauthenticated', 'management_forbidden', 'management_not_found', 'management_invalid', 'management_conflict', 'management_rate_limited') \
             GROUP BY index1, blob2, blob3 FORMAT JSON"
        );
    }

    #[test]
    fn latency_sql_weights_quantiles_by_the_sample_interval() {
        assert_eq!(
            latency_sql("ds", &q(900, Some("acme@x.io")), true),
            "SELECT index1 AS key_id, quantileExactWeighted(0.5)(double3, _sample_interval) AS p50_ms, \
             quantileExactWeighted(0.99)(double3, _sample_interval) AS p99_ms, \
             quantileExactWeighted(0.5)(double4, _sample_interval) AS gateway_p50_ms FROM ds \
             WHERE timestamp > NOW() - INTERVAL '900' SECOND AND blob3 NOT IN ('admin_usage', 'management_ok', 'management_unauthenticated', 'management_forbidden', 'management_not_found', 'management_invalid', 'management_conflict', 'management_rate_limited') \
             AND blob2 = 'acme@x.io' GROUP BY index1 FORMAT JSON"
        );
        assert_eq!(
            latency_sql("ds", &q(60, None), false),
            "SELECT quantileExactWeighted(0.5)(double3, _sample_interval) AS p50_ms, \
             quantileExactWeighted(0.99)(double3, _sample_interval) AS p99_ms, \
             quantileExactWeighted(0.5)(double4, _sample_interval) AS gateway_p50_ms FROM ds \
             WHERE timestamp > NOW() - INTERVAL '60' SECOND AND blob3 NOT IN ('admin_usage', 'management_ok', 'management_unauthenticated', 'management_forbidden', 'management_not_found', 'management_invalid', 'management_conflict', 'management_rate_limited') \
             FORMAT JSON"
        );
    }

    #[test]
    fn the_consumer_filter_is_an_escaped_literal() {
        let sql = counts_sql("ds", &q(60, Some("x' OR '1'='1")));
        assert!(
            sql.contains("AND blob2 = 'x'' OR ''1''=''1' GROUP BY"),
            "{sql}"
        );
    }

    #[test]
    fn answers_are_read_with_string_or_number_cells() {
        let body = r#"{"meta":[{"name":"key_id","type":"String"},{"name":"consumer_id","type":"String"},{"name":"decision","type":"String"},{"name":"requests","type":"UInt64"}],
            "data":[{"key_id":"4e93e9dbf651","consumer_id":"acme","decision":"accepted","requests":"120"},
                    {"key_id":"-","consumer_id":"","decision":"missing_credential","requests":7},
                    {"key_id":"4e93e9dbf651","consumer_id":"acme","decision":"rate_limited","requests":3.0},
                    {"key_id":"-","consumer_id":"","decision":"admin_usage","requests":"2"}],
            "rows":4}"#;
        let counts = parse_counts(&parse_answer(body).unwrap()).unwrap();
        assert_eq!(
            counts,
            [
                DecisionCount {
                    key_id: Some("4e93e9dbf651".into()),
                    consumer_id: Some("acme".into()),
                    decision: "accepted".into(),
                    requests: 120
                },
                DecisionCount {
                    key_id: Some("-".into()),
                    consumer_id: None,
                    decision: "missing_credential".into(),
                    requests: 7
                },
                DecisionCount {
                    key_id: Some("4e93e9dbf651".into()),
                    consumer_id: Some("acme".into()),
                    decision: "rate_limited".into(),
                    requests: 3
                },
            ]
        );
        let body = r#"{"meta":[],"data":[{"key_id":"-","p50_ms":"0.2","p99_ms":1.5,"gateway_p50_ms":"nan"},{"key_id":"k","p50_ms":null,"p99_ms":"7","gateway_p50_ms":2}],"rows":2}"#;
        let l = parse_key_latency(&parse_answer(body).unwrap()).unwrap();
        assert_eq!(
            l,
            [
                (
                    Some("-".into()),
                    Latency {
                        p50: Some(0.2),
                        p99: Some(1.5),
                        gateway_p50: None
                    }
                ),
                (
                    Some("k".into()),
                    Latency {
                        p50: None,
                        p99: Some(7.0),
                        gateway_p50: Some(2.0)
                    }
                ),
            ]
        );
    }

    #[test]
    fn malformed_answers_are_clear_errors() {
        assert!(parse_answer("<html>").unwrap_err().contains("not JSON"));
        assert!(parse_answer(r#"{"meta":[]}"#)
            .unwrap_err()
            .contains("\"data\""));
        assert!(parse_answer(r#"{"data":[1]}"#)
            .unwrap_err()
            .contains("not an object"));
        let rows =
            parse_answer(r#"{"data":[{"key_id":"k","decision":"accepted","requests":"many"}]}"#)
                .unwrap();
        assert!(parse_counts(&rows)
            .unwrap_err()
            .contains("requests is not a count"));
        let rows = parse_answer(r#"{"data":[{"key_id":"k","decision":"accepted","requests":-1}]}"#)
            .unwrap();
        assert!(parse_counts(&rows).is_err());
        let rows =
            parse_answer(r#"{"data":[{"key_id":1,"decision":"accepted","requests":1}]}"#).unwrap();
        assert!(parse_counts(&rows)
            .unwrap_err()
            .contains("key_id is not text"));
        let rows = parse_answer(r#"{"data":[{"p50_ms":"slow"}]}"#).unwrap();
        assert!(parse_latency(&rows[0])
            .unwrap_err()
            .contains("p50_ms is not a number"));
    }

    #[test]
    fn api_errors_show_the_apis_messages_and_a_hint_without_the_token() {
        let c = credentials(env(&[(ACCOUNT_ENV, "acc1"), (TOKEN_ENV, "sekrit-9")])).unwrap();
        let e = error_message(
            403,
            r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#,
            &c,
        );
        assert_eq!(
            e,
            "the Analytics Engine SQL API answered 403: Authentication error - check \
             CLOUDFLARE_API_TOKEN: it needs the Account Analytics Read permission on account acc1"
        );
        let e = error_message(422, "unknown table ds\x1b[31m", &c);
        assert_eq!(
            e,
            "the Analytics Engine SQL API answered 422: unknown table ds[31m"
        );
        let e = error_message(400, "token sekrit-9 rejected", &c);
        assert!(!e.contains("sekrit-9") && e.contains("[API token]"), "{e}");
        let e = error_message(500, "", &c);
        assert_eq!(e, "the Analytics Engine SQL API answered 500");
    }
}
