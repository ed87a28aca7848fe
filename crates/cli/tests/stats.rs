//! `keygate stats` as a user runs it: the real binary against a fixture log (`--local`, with
//! wrangler-style noise around the request lines) and against a stub of the Analytics Engine SQL
//! API on loopback (`--remote`, through CLOUDFLARE_API_BASE_URL), including the error cases and
//! the rule that the API token never appears in the output.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TOKEN: &str = "cf-test-token-5f1e9a77c3";
const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "keygate-stats-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `keygate` with a clean Cloudflare environment, run in `dir`.
fn keygate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keygate"));
    cmd.current_dir(dir).args(args);
    for var in [
        "CLOUDFLARE_API_BASE_URL",
        "CLOUDFLARE_ACCOUNT_ID",
        "CLOUDFLARE_API_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// --local

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A request line as the gateway logs it, `ago` seconds before now.
fn line(
    ago: u64,
    key: Option<&str>,
    consumer: Option<&str>,
    decision: &str,
    total: f64,
    gw: f64,
) -> String {
    let ts = keygate_cli::commands::rfc3339(now() - ago);
    let v = serde_json::json!({
        "event": "keygate.request", "ts": ts, "request_id": format!("req-{ago}"),
        "method": "GET", "path": "/v1/orders", "decision": decision, "key_id": key,
        "consumer_id": consumer, "status": 200, "origin_status": null, "gateway_ms": gw,
        "origin_ms": null, "total_ms": total, "colo": null, "cache": null,
    });
    v.to_string()
}

/// A log as `make dev` leaves it: wrangler's banner and access lines, colour codes, other JSON,
/// one malformed request line, and request lines from 5 minutes to 3 days old.
fn fixture_log() -> String {
    let acme = Some("4e93e9dbf651");
    let globex = Some("0a1b2c3d4e5f");
    [
        " ⛅️ wrangler 4.50.0".to_owned(),
        "───────────────────".to_owned(),
        line(3 * 86_400, acme, Some("acme"), "accepted", 99.0, 9.0),
        "\x1b[32m[wrangler:info]\x1b[39m Ready on http://127.0.0.1:8787".to_owned(),
        line(3 * 3600, globex, Some("globex"), "accepted", 30.0, 4.0),
        line(2 * 3600, acme, Some("acme"), "rate_limited", 1.0, 1.0),
        format!(
            "[wrangler:inf] {}",
            line(1800, acme, Some("acme"), "accepted", 40.0, 5.0)
        ),
        "[wrangler:info] GET /v1/orders 200 OK (41ms)".to_owned(),
        format!(
            "\x1b[2m{}\x1b[22m",
            line(1200, acme, Some("acme"), "accepted", 12.0, 2.0)
        ),
        r#"{"level":"info","msg":"demo origin: GET /v1/orders"}"#.to_owned(),
        line(600, acme, Some("acme"), "accepted", 15.0, 3.0),
        line(420, None, None, "admin_usage", 9.0, 9.0),
        line(360, None, None, "teapot", 0.4, 0.4),
        r#"{"event":"keygate.request","ts":"2026-11-29T08:00:00Z"}"#.to_owned(),
        line(300, None, None, "missing_credential", 0.2, 0.2),
        "✘ [ERROR] something unrelated {".to_owned(),
    ]
    .join("\n")
        + "\n"
}

const LOCAL_24H: &str = "\
KEY           CONSUMER  REQUESTS  ACCEPTED  REFUSED  FAULTS  P50 MS  P99 MS  GW P50 MS  REFUSALS AND FAULTS
4e93e9dbf651  acme             4         3        1       0    12.0    40.0        2.0  rate_limited 1
-             -                2         0        1       0     0.2     0.4        0.2  missing_credential 1, teapot 1 (unknown code)
0a1b2c3d4e5f  globex           1         1        0       0    30.0    30.0        4.0
TOTAL                          7         4        2       0    12.0    40.0        2.0  missing_credential 1, rate_limited 1, teapot 1 (unknown code)
";

#[test]
fn local_stats_read_the_log_file_skipping_noise_operator_lines_and_old_requests() {
    let dir = TempDir::new("local");
    let log = dir.write("logs/gateway.log", &fixture_log());
    let out = keygate(
        &dir.0,
        &["stats", "--local", "--log-file", log.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), LOCAL_24H);
    let err = stderr(&out);
    assert!(
        err.contains("skipped 1 keygate.request line(s)"),
        "the malformed line is reported: {err}"
    );
    assert!(
        err.contains("7 request(s) in the last 24h from the log"),
        "{err}"
    );
}

#[test]
fn local_stats_read_target_dev_gateway_log_by_default() {
    let dir = TempDir::new("default");
    dir.write("target/dev/gateway.log", &fixture_log());
    let out = keygate(&dir.0, &["stats"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), LOCAL_24H);
}

#[test]
fn local_since_drops_requests_older_than_the_window() {
    let dir = TempDir::new("since");
    let log = dir.write("gateway.log", &fixture_log());
    let out = keygate(
        &dir.0,
        &[
            "stats",
            "--since",
            "1h",
            "--log-file",
            log.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // acme: 15, 12, 40 (the 2 h old refusal is out); globex (3 h) is out.
    assert_eq!(
        stdout(&out),
        "\
KEY           CONSUMER  REQUESTS  ACCEPTED  REFUSED  FAULTS  P50 MS  P99 MS  GW P50 MS  REFUSALS AND FAULTS
4e93e9dbf651  acme             3         3        0       0    15.0    40.0        3.0
-             -                2         0        1       0     0.2     0.4        0.2  missing_credential 1, teapot 1 (unknown code)
TOTAL                          5         3        1       0    12.0    40.0        2.0  missing_credential 1, teapot 1 (unknown code)
"
    );
    let out = keygate(
        &dir.0,
        &[
            "stats",
            "--since",
            "7d",
            "--log-file",
            log.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        stdout(&out).contains("\nTOTAL                          8 "),
        "the 3-day-old request is in a 7-day window:\n{}",
        stdout(&out)
    );
}

#[test]
fn local_consumer_keeps_only_that_consumers_requests_as_json_too() {
    let dir = TempDir::new("consumer");
    let log = dir.write("gateway.log", &fixture_log());
    let path = log.to_str().unwrap();
    let out = keygate(
        &dir.0,
        &["stats", "--consumer", "acme", "--log-file", path],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "\
KEY           CONSUMER  REQUESTS  ACCEPTED  REFUSED  FAULTS  P50 MS  P99 MS  GW P50 MS  REFUSALS AND FAULTS
4e93e9dbf651  acme             4         3        1       0    12.0    40.0        2.0  rate_limited 1
TOTAL                          4         3        1       0    12.0    40.0        2.0  rate_limited 1
"
    );
    let out = keygate(
        &dir.0,
        &["stats", "--consumer", "acme", "--json", "--log-file", path],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["consumer"], "acme");
    assert_eq!(v["source"], "local");
    assert_eq!(v["log_file"], path);
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    assert_eq!(v["keys"][0]["key_id"], "4e93e9dbf651");
    assert_eq!(v["keys"][0]["decisions"]["accepted"], 3);
    assert_eq!(v["keys"][0]["latency_ms"]["p99"], 40.0);
    assert_eq!(v["total"]["requests"], 4);
}

#[test]
fn local_stats_without_a_log_say_to_run_make_dev() {
    let dir = TempDir::new("nolog");
    let out = keygate(&dir.0, &["stats"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("target/dev/gateway.log") && err.contains("make dev"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn bad_since_consumer_or_flag_mix_are_refused_before_reading_anything() {
    let dir = TempDir::new("bad");
    for (args, want) in [
        (&["stats", "--since", "soon"][..], "not a duration"),
        (&["stats", "--consumer", "a b"], "--consumer must be"),
        (&["stats", "--dataset", "ds"], "use it with --remote"),
        (
            &["stats", "--remote", "--log-file", "x.log"],
            "cannot be used with --remote",
        ),
    ] {
        let out = keygate(&dir.0, args, &[]);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
}

// ---------------------------------------------------------------------------------------------
// --remote

/// One request the stub received.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A stub HTTP server on loopback: answers each request with `answer(body)` and records it,
/// until [`Stub::finish`].
struct Stub {
    base: String,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Seen>>,
}

fn read_request(conn: &mut std::net::TcpStream) -> Seen {
    let mut r = BufReader::new(conn);
    let mut request_line = String::new();
    r.read_line(&mut request_line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = get("content-length") {
        body.resize(len.parse().unwrap(), 0);
        r.read_exact(&mut body).unwrap();
    } else if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Seen {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

impl Stub {
    fn start(answer: impl Fn(&str) -> (u16, String) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}/client/v4", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                let mut conn = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let req = read_request(&mut conn);
                let (status, body) = answer(&req.body);
                write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                seen.push(req);
            }
            seen
        });
        Stub { base, stop, thread }
    }

    fn finish(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// Analytics Engine answers for a few keys: counts come back as strings and as numbers.
fn analytics_engine(sql: &str) -> (u16, String) {
    let data = if sql.contains("SUM(_sample_interval)") {
        r#"[{"key_id":"4e93e9dbf651","consumer_id":"acme","decision":"accepted","requests":"1200"},
            {"key_id":"4e93e9dbf651","consumer_id":"acme","decision":"rate_limited","requests":"35"},
            {"key_id":"4e93e9dbf651","consumer_id":"","decision":"disabled","requests":2},
            {"key_id":"4e93e9dbf651","consumer_id":"acme","decision":"origin_timeout","requests":1},
            {"key_id":"9f8e7d6c5b4a","consumer_id":"acme","decision":"accepted","requests":80}]"#
    } else if sql.contains("GROUP BY index1") {
        r#"[{"key_id":"4e93e9dbf651","p50_ms":14.2,"p99_ms":"87.5","gateway_p50_ms":"2.1"},
            {"key_id":"9f8e7d6c5b4a","p50_ms":"11","p99_ms":20,"gateway_p50_ms":1.9}]"#
    } else {
        r#"[{"p50_ms":14,"p99_ms":"85.31","gateway_p50_ms":2}]"#
    };
    (
        200,
        format!(r#"{{"meta":[{{"name":"x","type":"String"}}],"data":{data},"rows":2}}"#),
    )
}

const WRANGLER_TOML: &str = r#"
name = "keygate"
main = "entry.js"

[[analytics_engine_datasets]]
binding = "ANALYTICS"
dataset = "keygate_requests"

[env.staging]
[[env.staging.analytics_engine_datasets]]
binding = "ANALYTICS"
dataset = "keygate_requests_staging"

[env.production]
name = "keygate-production"
"#;

fn cloudflare_env(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CLOUDFLARE_API_BASE_URL", base.to_owned()),
        ("CLOUDFLARE_ACCOUNT_ID", ACCOUNT.to_owned()),
        ("CLOUDFLARE_API_TOKEN", TOKEN.to_owned()),
    ]
}

fn run_remote(dir: &Path, args: &[&str], env: &[(&'static str, String)]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = keygate(dir, args, &env);
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
    out
}

const WHERE_7D_ACME: &str = "WHERE timestamp > NOW() - INTERVAL '604800' SECOND AND blob3 NOT IN ('admin_usage', 'management_ok', 'management_unauthenticated', 'management_forbidden', 'management_not_found', 'management_invalid', 'management_conflict', 'management_rate_limited') AND blob2 = 'acme'";

#[test]
fn remote_stats_post_the_sql_with_the_bearer_token_and_print_the_same_table() {
    let dir = TempDir::new("remote");
    dir.write("wrangler.toml", WRANGLER_TOML);
    let stub = Stub::start(analytics_engine);
    let out = run_remote(
        &dir.0,
        &[
            "stats",
            "--remote",
            "--env",
            "staging",
            "--since",
            "7d",
            "--consumer",
            "acme",
        ],
        &cloudflare_env(&stub.base),
    );
    let seen = stub.finish();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for s in &seen {
        assert_eq!(
            s.request_line,
            format!("POST /client/v4/accounts/{ACCOUNT}/analytics_engine/sql HTTP/1.1")
        );
        assert_eq!(
            s.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
    let bodies: Vec<&str> = seen.iter().map(|s| s.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            format!(
                "SELECT index1 AS key_id, blob2 AS consumer_id, blob3 AS decision, \
                 SUM(_sample_interval) AS requests FROM keygate_requests_staging {WHERE_7D_ACME} \
                 GROUP BY index1, blob2, blob3 FORMAT JSON"
            ),
            format!(
                "SELECT index1 AS key_id, quantileExactWeighted(0.5)(double3, _sample_interval) AS p50_ms, \
                 quantileExactWeighted(0.99)(double3, _sample_interval) AS p99_ms, \
                 quantileExactWeighted(0.5)(double4, _sample_interval) AS gateway_p50_ms \
                 FROM keygate_requests_staging {WHERE_7D_ACME} GROUP BY index1 FORMAT JSON"
            ),
            format!(
                "SELECT quantileExactWeighted(0.5)(double3, _sample_interval) AS p50_ms, \
                 quantileExactWeighted(0.99)(double3, _sample_interval) AS p99_ms, \
                 quantileExactWeighted(0.5)(double4, _sample_interval) AS gateway_p50_ms \
                 FROM keygate_requests_staging {WHERE_7D_ACME} FORMAT JSON"
            ),
        ]
    );
    assert_eq!(
        stdout(&out),
        "\
KEY           CONSUMER  REQUESTS  ACCEPTED  REFUSED  FAULTS  P50 MS  P99 MS  GW P50 MS  REFUSALS AND FAULTS
4e93e9dbf651  acme          1238      1200       37       1    14.2    87.5        2.1  rate_limited 35, disabled 2, origin_timeout 1
9f8e7d6c5b4a  acme            80        80        0       0    11.0    20.0        1.9
TOTAL                       1318      1280       37       1    14.0    85.3        2.0  rate_limited 35, disabled 2, origin_timeout 1
"
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "1318 request(s) of consumer acme in the last 7d from Analytics Engine dataset \
             keygate_requests_staging; counts and latencies weighted by each row's _sample_interval"
        ),
        "{err}"
    );
}

#[test]
fn remote_dataset_flag_overrides_the_config_and_json_carries_it() {
    let dir = TempDir::new("dataset");
    let stub = Stub::start(analytics_engine);
    let out = run_remote(
        &dir.0,
        &["stats", "--remote", "--dataset", "my_ds", "--json"],
        &cloudflare_env(&stub.base),
    );
    let seen = stub.finish();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        seen[0].body.contains(" FROM my_ds WHERE timestamp > NOW() - INTERVAL '86400' SECOND AND blob3 NOT IN ('admin_usage', 'management_ok', 'management_unauthenticated', 'management_forbidden', 'management_not_found', 'management_invalid', 'management_conflict', 'management_rate_limited') GROUP BY"),
        "{}",
        seen[0].body
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["source"], "remote");
    assert_eq!(v["dataset"], "my_ds");
    assert_eq!(v["since"], "24h");
    assert_eq!(v["keys"][0]["requests"], 1238);
    assert_eq!(v["keys"][0]["decisions"]["disabled"], 2);
    assert_eq!(v["keys"][0]["latency_ms"]["gateway_p50"], 2.1);
    assert_eq!(v["total"]["faults"], 1);
}

#[test]
fn remote_dataset_flag_that_is_not_a_plain_name_is_refused_before_any_query() {
    let dir = TempDir::new("baddataset");
    let stub = Stub::start(analytics_engine);
    let out = run_remote(
        &dir.0,
        &["stats", "--remote", "--dataset", "ds WHERE 1=1 --"],
        &cloudflare_env(&stub.base),
    );
    let seen = stub.finish();
    assert!(!out.status.success());
    assert!(seen.is_empty(), "a query was sent: {:?}", seen.len());
    let err = stderr(&out);
    assert!(
        err.contains("the dataset name 'ds WHERE 1=1 --' must be 1 to 128 characters"),
        "{err}"
    );
}

#[test]
fn remote_without_credentials_names_the_missing_variables() {
    let dir = TempDir::new("nocreds");
    dir.write("wrangler.toml", WRANGLER_TOML);
    let out = run_remote(&dir.0, &["stats", "--remote"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN"),
        "{err}"
    );
    let out = run_remote(
        &dir.0,
        &["stats", "--remote"],
        &[("CLOUDFLARE_API_TOKEN", TOKEN.to_owned())],
    );
    let err = stderr(&out);
    assert!(
        err.contains("set CLOUDFLARE_ACCOUNT_ID (") && !err.contains("and CLOUDFLARE_API_TOKEN"),
        "{err}"
    );
}

#[test]
fn remote_without_the_binding_in_the_config_says_to_add_it_or_pass_dataset() {
    let dir = TempDir::new("nobinding");
    dir.write("wrangler.toml", WRANGLER_TOML);
    let out = run_remote(
        &dir.0,
        &["stats", "--remote", "--env", "production"],
        &cloudflare_env("http://127.0.0.1:9/client/v4"),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "[env.production] of wrangler.toml has no analytics_engine_datasets entry with \
             binding = \"ANALYTICS\" (wrangler does not inherit bindings from the top level); \
             add one, or pass --dataset NAME"
        ),
        "{err}"
    );
}

#[test]
fn remote_403_shows_the_apis_message_and_a_permission_hint_but_never_the_token() {
    let dir = TempDir::new("forbidden");
    dir.write("wrangler.toml", WRANGLER_TOML);
    let stub = Stub::start(|_| {
        (
            403,
            format!(
                r#"{{"success":false,"errors":[{{"code":10000,"message":"Authentication error"}},{{"code":1,"message":"token {TOKEN} lacks a permission"}}]}}"#
            ),
        )
    });
    let out = run_remote(&dir.0, &["stats", "--remote"], &cloudflare_env(&stub.base));
    let seen = stub.finish();
    assert!(!out.status.success());
    assert_eq!(seen.len(), 1, "no further query after an error");
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains(
            "the Analytics Engine SQL API answered 403: Authentication error; token [API token] \
             lacks a permission - check CLOUDFLARE_API_TOKEN: it needs the Account Analytics Read \
             permission on account 0123456789abcdef0123456789abcdef"
        ),
        "{err}"
    );
}
