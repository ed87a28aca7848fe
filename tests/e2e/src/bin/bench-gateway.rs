//! `make bench`, part 1: keygate against JavaScript floors, all under identical `wrangler dev`
//! set-ups in front of the same release-built loopback origin, driven by `oha`.
//!
//! Targets, run in interleaved rounds (A B C … A B C …) so machine noise hits each alike:
//! - **JS passthrough** (`bench/js/passthrough.js`): forwards with the shared secret and checks
//!   nothing; the floor every ratio is taken against;
//! - **JS passthrough + log** (`bench/js/passthrough-log.js`): the same plus one request log line
//!   shaped like keygate's, written under `waitUntil`; the floor for keygate's defaults;
//! - **JS gateway** (`bench/js/gateway.js`): an idiomatic hand-written API-key gateway (bearer
//!   key, SHA-256, a KV read with `cacheTtl: 30`, disabled/expiry check, forward). Its own KV
//!   holds the record of the key keygate was given. Under `wrangler dev`, `cacheTtl` has no
//!   effect: each read goes to the local KV simulator, in the same `workerd`;
//! - **Rust passthrough** (`bench/passthrough`, workers-rs): the JS passthrough's job through the
//!   wasm boundary, which shows what workers-rs itself costs;
//! - **keygate, valid key**: defaults, a hot key (the isolate cache holds it after warm-up);
//! - **keygate, invalid key**: a well-formed unknown key (the rejection path);
//! - **keygate, valid, no log**: the same with `REQUEST_LOG=refusals`, no line for an accepted
//!   request (under `wrangler dev`, every `console.log` is shipped to the wrangler process);
//! - **baseline build, valid** (only with `BENCH_BASELINE_ENTRY=<path to another checkout's
//!   src/entry.js>`, built there with `make worker`): the same hot-key case on another
//!   build, so that a change's cost is read against its parent in the same rounds;
//! - **baseline build, no log** (with the same variable): that build under
//!   `REQUEST_LOG=refusals`.
//!
//! Per target it prints the medians over the rounds of req/s, p50, p99 and the `workerd` CPU time
//! (user + system) per request (read from `/proc` before and after each run, summed over the
//! instance's `workerd` processes: wrangler's proxy and the worker's runtime; the wrangler node
//! process, which receives the log lines, is not counted), the ratios against the JS
//! passthrough from the same run, and then the performance goals with the measured values and
//! whether each is met. Each goal's figure is also taken within each round (the two targets ran
//! one shortly after the other there), and its range over the rounds and the number of rounds at
//! the goal are shown: on a small machine the rounds spread wider than the goals' margins. A
//! sign test over the rounds then says whether the run decides the goal at all (`sign_test`). A
//! benchmark, never a test: nothing here asserts anything about time.

use keygate_core::record::{KeyRecord, RECORD_VERSION};
use keygate_core::ApiKey;
use keygate_e2e::{env_or, median, repo_root, unix_now, Dev, ReleaseOrigin, Setup, SECRET};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The instance's `workerd` CPU time during the run, per request.
    cpu_ms: f64,
}

/// One `oha` run against `dev`; checks every answer had the expected status, and reads the
/// `workerd` CPU time the run took.
fn oha(dev: &Dev, url: &str, auth: Option<&str>, n: usize, c: usize, want_status: u16) -> Run {
    let mut cmd = Command::new("oha");
    cmd.args(["--no-tui", "--output-format", "json"]).args([
        "-n",
        &n.to_string(),
        "-c",
        &c.to_string(),
    ]);
    if let Some(a) = auth {
        cmd.args(["-H", &format!("authorization: {a}")]);
    }
    let cpu_before = dev.workerd_cpu_secs();
    let out = cmd
        .arg(url)
        .stderr(Stdio::inherit())
        .output()
        .expect("run oha (make bench installs it)");
    // The log lines of a run are still on their way through wrangler when oha is done: their CPU
    // belongs to this run, and must not slow the next target's.
    let limit = Duration::from_secs(15);
    if dev.wait_until_quiet(Duration::from_millis(200), limit) >= limit {
        eprintln!("bench: {url}: still busy {limit:?} after the run; measuring anyway");
    }
    let cpu = dev.workerd_cpu_secs() - cpu_before;
    assert!(out.status.success(), "oha failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("oha JSON output");
    let codes = &v["statusCodeDistribution"];
    let got = codes[want_status.to_string()].as_u64().unwrap_or(0);
    assert_eq!(
        got, n as u64,
        "{url}: expected {n} answers with {want_status}, got {codes} (errors: {})",
        v["errorDistribution"]
    );
    let secs = |p: &str| v["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1e3;
    Run {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(f64::NAN),
        p50_ms: secs("p50"),
        p99_ms: secs("p99"),
        cpu_ms: cpu * 1e3 / n as f64,
    }
}

fn gzip_len(path: &Path) -> usize {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -9c '{}' | wc -c", path.display()))
        .output()
        .expect("gzip");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// A valid record for `key`, as keygate's CLI writes one (`keygate create --name bench`), to
/// store under the key's hash in the JS gateway's own KV.
fn record_for(key: &str) -> (String, String) {
    let hash = ApiKey::new(key).hash();
    let record = KeyRecord {
        v: RECORD_VERSION,
        id: hash.id().to_owned(),
        name: "bench".into(),
        consumer_id: "bench".into(),
        consumer_name: None,
        created_at: unix_now(),
        expires_at: None,
        disabled: false,
        meta: serde_json::Map::new(),
        scopes: Vec::new(),
        description: None,
        tier: None,
        quota: None,
    };
    let json = serde_json::to_string(&record).expect("record JSON");
    (hash.as_kv_key().to_owned(), json)
}

/// One measured case: an instance, a URL on it, the credential sent and the status expected.
struct Target<'a> {
    name: &'static str,
    dev: &'a Dev,
    url: String,
    auth: Option<&'a str>,
    status: u16,
}

impl<'a> Target<'a> {
    fn new(name: &'static str, dev: &'a Dev, auth: Option<&'a str>, status: u16) -> Self {
        Target {
            name,
            dev,
            url: dev.url("/bench"),
            auth,
            status,
        }
    }
}

// The targets' places in the table (the baseline build, when asked for, comes last).
const JS_PASS: usize = 0;
const JS_LOG: usize = 1;
const JS_GATEWAY: usize = 2;
const KEYGATE: usize = 4;
const KEYGATE_QUIET: usize = 6;

fn main() {
    let n = env_or("BENCH_REQUESTS", 4_000);
    let c = env_or("BENCH_CONCURRENCY", 32);
    let rounds = env_or("BENCH_ROUNDS", 3).max(3);
    let root = repo_root();

    let origin = ReleaseOrigin::start();
    let origin_url = origin.url.clone();
    let vars = [
        ("ORIGIN_URL", origin_url.as_str()),
        ("SHARED_SECRET", SECRET),
    ];
    let rust_passthrough = root.join("bench/passthrough/build/index.js");
    let js_passthrough = root.join("bench/js/passthrough.js");
    let js_log = root.join("bench/js/passthrough-log.js");
    let js_gateway = root.join("bench/js/gateway.js");
    let baseline_entry = std::env::var_os("BENCH_BASELINE_ENTRY").map(std::path::PathBuf::from);
    let script = |name: &str, path: &Path, extra_toml: &str| {
        Dev::start_setup(
            name,
            &vars,
            Setup {
                script: Some(path),
                extra_toml,
                ..Setup::default()
            },
        )
    };
    let (keygate, quiet, rust_pass, js_pass, js_logged, js_gw, baseline, baseline_quiet) =
        std::thread::scope(|s| {
            let k = s.spawn(|| Dev::start("bench-keygate", &vars));
            let q = s.spawn(|| {
                let mut quiet_vars = vars.to_vec();
                quiet_vars.push(("REQUEST_LOG", "refusals"));
                Dev::start("bench-keygate-quiet", &quiet_vars)
            });
            let r = s.spawn(|| script("bench-passthrough", &rust_passthrough, ""));
            let jp = s.spawn(|| script("bench-js-passthrough", &js_passthrough, ""));
            let jl = s.spawn(|| script("bench-js-passthrough-log", &js_log, ""));
            let jg = s.spawn(|| {
                script(
                    "bench-js-gateway",
                    &js_gateway,
                    "[[kv_namespaces]]\nbinding = \"API_KEYS\"\nid = \"e2e\"\n",
                )
            });
            let entry = baseline_entry.as_deref();
            let b =
                entry.map(|e| s.spawn(move || start_baseline("bench-baseline", &vars, e, false)));
            let bq = entry
                .map(|e| s.spawn(move || start_baseline("bench-baseline-quiet", &vars, e, true)));
            (
                k.join().expect("keygate"),
                q.join().expect("keygate quiet"),
                r.join().expect("Rust passthrough"),
                jp.join().expect("JS passthrough"),
                jl.join().expect("JS passthrough with log"),
                jg.join().expect("JS gateway"),
                b.map(|b| b.join().expect("baseline build")),
                bq.map(|b| b.join().expect("baseline build, no log")),
            )
        });
    let key = keygate.create_key(&["--name", "bench"]);
    let valid = format!("Bearer {key}");
    let quiet_key = quiet.create_key(&["--name", "bench"]);
    let quiet_valid = format!("Bearer {quiet_key}");
    // The JS gateway finds keygate's key in its own KV, under the same hash, with the same record.
    let (hash, record) = record_for(&key);
    js_gw.kv_put_raw(&hash, &record);
    // A well-formed key that is not in KV: refused from the negative cache after the first read.
    let invalid = "Bearer unknown-key-for-the-rejection-path-0123456789";

    let baseline_valid = baseline
        .as_ref()
        .map(|dev| format!("Bearer {}", dev.create_key(&["--name", "bench"])));
    let baseline_quiet_valid = baseline_quiet
        .as_ref()
        .map(|dev| format!("Bearer {}", dev.create_key(&["--name", "bench"])));

    let mut targets = vec![
        Target::new("JS passthrough", &js_pass, None, 200),
        Target::new("JS passthrough + log", &js_logged, None, 200),
        Target::new("JS gateway", &js_gw, Some(&valid), 200),
        Target::new("Rust passthrough", &rust_pass, None, 200),
        Target::new("keygate, valid key", &keygate, Some(&valid), 200),
        Target::new("keygate, invalid key", &keygate, Some(invalid), 401),
        Target::new("keygate, valid, no log", &quiet, Some(&quiet_valid), 200),
    ];
    if let (Some(dev), Some(auth)) = (&baseline, &baseline_valid) {
        targets.push(Target::new("baseline build, valid", dev, Some(auth), 200));
    }
    if let (Some(dev), Some(auth)) = (&baseline_quiet, &baseline_quiet_valid) {
        targets.push(Target::new("baseline, no log", dev, Some(auth), 200));
    }
    eprintln!("bench: warming up");
    for t in &targets {
        oha(t.dev, &t.url, t.auth, 500, c, t.status);
    }
    let started = Instant::now();
    let mut results: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        eprintln!("bench: round {round}/{rounds}");
        for (i, t) in targets.iter().enumerate() {
            results[i].push(oha(t.dev, &t.url, t.auth, n, c, t.status));
        }
    }
    let took = started.elapsed();
    drop(origin);

    let med = |i: usize, f: fn(&Run) -> f64| median(results[i].iter().map(f).collect());
    let rps = |i| med(i, |r| r.rps);
    let cpu = |i| med(i, |r| r.cpu_ms);
    let (base_rps, base_p50, base_p99, base_cpu) = (
        rps(JS_PASS),
        med(JS_PASS, |r| r.p50_ms),
        med(JS_PASS, |r| r.p99_ms),
        cpu(JS_PASS),
    );
    println!(
        "\nbench: {n} requests x {rounds} rounds per target, concurrency {c}, keep-alive, \
         medians over rounds ({:.0} s); wrangler dev (local) on this machine",
        took.as_secs_f64()
    );
    println!(
        "{:<24} {:>8} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7} {:>7}",
        "target", "req/s", "p50 ms", "p99 ms", "CPU ms", "req/s x", "p50 x", "p99 x", "CPU x"
    );
    for (i, t) in targets.iter().enumerate() {
        let (r, p50, p99, cpu) = (rps(i), med(i, |r| r.p50_ms), med(i, |r| r.p99_ms), cpu(i));
        println!(
            "{:<24} {r:>8.0} {p50:>7.2} {p99:>7.2} {cpu:>8.3} {:>8.2} {:>7.2} {:>7.2} {:>7.2}",
            t.name,
            r / base_rps,
            p50 / base_p50,
            p99 / base_p99,
            cpu / base_cpu
        );
    }
    println!(
        "(CPU ms: the instance's workerd CPU time, user + system, per request, from /proc in \
         {:.0} ms ticks; x: ratio against the JS passthrough measured in the same run)",
        tick_ms()
    );

    println!(
        "\ngoals (informational; under wrangler dev on this machine; \"rounds\": the same figure \
         taken within each round, where the two targets ran one shortly after the other)"
    );
    // The figure per round, paired: its range, and in how many rounds it met the goal.
    let rounds_of = |a: usize, b: usize, f: fn(&Run, &Run) -> f64, ok: &dyn Fn(f64) -> bool| {
        let each: Vec<f64> = results[a]
            .iter()
            .zip(&results[b])
            .map(|(x, y)| f(x, y))
            .collect();
        let lo = each.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = each.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let n_ok = each.iter().filter(|v| ok(**v)).count();
        (lo, hi, n_ok, each.len())
    };
    let ratio_goal = |what: &str, a: usize, b: usize, at_least: f64| {
        let x = rps(a) / rps(b);
        let (lo, hi, n_ok, n) = rounds_of(a, b, |x, y| x.rps / y.rps, &|v| v >= at_least);
        println!(
            "  {what}: req/s {:.0} / {:.0} = {x:.2}x (rounds {lo:.2}-{hi:.2}x, {n_ok} of {n} \
             at goal), goal >= {at_least:.2}x: {}; {}",
            rps(a),
            rps(b),
            met(x >= at_least),
            sign_test(n_ok, n)
        );
    };
    ratio_goal(
        "keygate defaults vs JS passthrough + log",
        KEYGATE,
        JS_LOG,
        0.95,
    );
    ratio_goal(
        "keygate log off vs JS passthrough",
        KEYGATE_QUIET,
        JS_PASS,
        0.95,
    );
    ratio_goal(
        "keygate log off vs JS gateway",
        KEYGATE_QUIET,
        JS_GATEWAY,
        1.25,
    );
    let cpu_goal = |what: &str, a: usize, b: usize, limit: Option<f64>| {
        let delta = cpu(a) - cpu(b);
        let within = |v: f64| limit.is_none_or(|limit| v <= limit);
        let (lo, hi, n_ok, n) = rounds_of(a, b, |x, y| x.cpu_ms - y.cpu_ms, &within);
        let verdict = match limit {
            Some(limit) => format!(
                " ({n_ok} of {n} rounds at goal), goal <= +{limit:.2} ms: {}; {}",
                met(delta <= limit),
                sign_test(n_ok, n)
            ),
            None => " (shown, no goal)".to_owned(),
        };
        println!(
            "  {what}: CPU/request {:.3} - {:.3} = {delta:+.3} ms (rounds {lo:+.3} to \
             {hi:+.3}){verdict}",
            cpu(a),
            cpu(b)
        );
    };
    cpu_goal(
        "keygate log off vs JS passthrough",
        KEYGATE_QUIET,
        JS_PASS,
        Some(0.3),
    );
    cpu_goal(
        "keygate defaults vs JS passthrough + log",
        KEYGATE,
        JS_LOG,
        None,
    );

    println!();
    for (name, wasm) in [
        ("keygate", root.join("build/index_bg.wasm")),
        (
            "passthrough",
            root.join("bench/passthrough/build/index_bg.wasm"),
        ),
    ] {
        let raw = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
        println!(
            "wasm {name:<12} {raw:>8} bytes raw {:>8} bytes gzip -9",
            gzip_len(&wasm)
        );
    }
    drop(targets);
    drop((
        keygate,
        quiet,
        rust_pass,
        js_pass,
        js_logged,
        js_gw,
        baseline,
        baseline_quiet,
    ));
}

/// The baseline build (`BENCH_BASELINE_ENTRY`), with its log off when `quiet`.
fn start_baseline(name: &str, vars: &[(&str, &str)], entry: &Path, quiet: bool) -> Dev {
    let mut vars = vars.to_vec();
    if quiet {
        vars.push(("REQUEST_LOG", "refusals"));
    }
    Dev::start_setup(
        name,
        &vars,
        Setup {
            main: Some(entry),
            ..Setup::default()
        },
    )
}

/// What the rounds say of a goal, by a one-sided sign test at 5%: the rounds as independent
/// coin flips that, were the build exactly at the goal, would land each side of it alike. So a
/// run decides a goal only when nearly all its rounds agree (5 of 5, 8 of 9, 9 of 11, 10 of 13).
fn sign_test(at_goal: usize, rounds: usize) -> String {
    // P(X >= k) for X ~ Binomial(n, 1/2).
    let tail = |k: usize| -> f64 {
        let mut c = 1.0_f64;
        let mut sum = 0.0;
        for i in 0..=rounds {
            if i >= k {
                sum += c;
            }
            c = c * (rounds - i) as f64 / (i + 1) as f64;
        }
        sum / 2f64.powi(rounds as i32)
    };
    let met = tail(at_goal);
    let missed = tail(rounds - at_goal);
    if met <= 0.05 {
        format!("the rounds say met (sign test p = {met:.3})")
    } else if missed <= 0.05 {
        format!("the rounds say missed (sign test p = {missed:.3})")
    } else {
        let need = (0..=rounds).find(|&k| tail(k) <= 0.05);
        match need {
            Some(k) => format!("the rounds do not decide (it takes {k} of {rounds} either way)"),
            None => format!("{rounds} rounds cannot decide it (a sign test needs 5 at least)"),
        }
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// A clock tick, the resolution of the CPU figures, in ms.
fn tick_ms() -> f64 {
    // SAFETY: sysconf reads a system constant; no memory is involved.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    1e3 / if ticks > 0 { ticks as f64 } else { 100.0 }
}
