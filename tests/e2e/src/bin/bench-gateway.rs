//! `make bench`: keygate against a passthrough baseline, both under identical `wrangler dev`
//! set-ups in front of the same release-built loopback origin, driven by `oha`.
//!
//! Targets, run in interleaved rounds (A B C A B C …) so machine noise hits each alike:
//! - **passthrough**: `bench/passthrough`, which forwards with the secret and checks nothing;
//! - **keygate, valid key**: a hot key (the isolate cache holds it after warm-up);
//! - **keygate, invalid key**: a well-formed unknown key (the rejection path);
//! - **keygate, valid, no log**: the same with `REQUEST_LOG=refusals`, which shows what the
//!   per-request log line costs (under `wrangler dev`, every `console.log` is shipped to the
//!   wrangler process).
//!
//! - **baseline build, valid key** (only with `BENCH_BASELINE_ENTRY=<path to another checkout's
//!   src/entry.js>`, built there with `make worker`): the same hot-key case on another
//!   build, so that a change's cost is read against its parent in the same rounds.
//!
//! It prints medians over the rounds and the ratios against the passthrough from the same run.
//! A benchmark, never a test: nothing here asserts anything about time.

use keygate_e2e::{free_port, repo_root, Dev, Setup, SECRET};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The demo origin, release build, on its own port; killed on drop.
struct Origin(Child);

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One `oha` run; checks every answer had the expected status.
fn oha(url: &str, auth: Option<&str>, n: usize, c: usize, want_status: u16) -> Run {
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
    let out = cmd
        .arg(url)
        .stderr(Stdio::inherit())
        .output()
        .expect("run oha (make bench installs it)");
    assert!(out.status.success(), "oha failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("oha JSON output");
    let codes = &v["statusCodeDistribution"];
    let got = codes[want_status.to_string()].as_u64().unwrap_or(0);
    assert_eq!(
        got, n as u64,
        "expected {n} answers with {want_status}, got {codes} (errors: {})",
        v["errorDistribution"]
    );
    let secs = |p: &str| v["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1e3;
    Run {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(f64::NAN),
        p50_ms: secs("p50"),
        p99_ms: secs("p99"),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
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

fn main() {
    let n = env_or("BENCH_REQUESTS", 4_000);
    let c = env_or("BENCH_CONCURRENCY", 32);
    let rounds = env_or("BENCH_ROUNDS", 3).max(3);
    let root = repo_root();

    let origin_port = free_port();
    let origin = Origin(
        Command::new(root.join("target/release/keygate-demo-origin"))
            .arg(format!("127.0.0.1:{origin_port}"))
            .env("SHARED_SECRET", SECRET)
            .stderr(Stdio::null())
            .spawn()
            .expect("start target/release/keygate-demo-origin (make bench builds it)"),
    );
    let origin_url = format!("http://127.0.0.1:{origin_port}");
    let passthrough_js = root.join("bench/passthrough/build/index.js");
    let baseline_entry = std::env::var_os("BENCH_BASELINE_ENTRY").map(std::path::PathBuf::from);
    let (keygate, quiet, passthrough, baseline) = std::thread::scope(|s| {
        let k = s.spawn(|| {
            Dev::start(
                "bench-keygate",
                &[("ORIGIN_URL", &origin_url), ("SHARED_SECRET", SECRET)],
            )
        });
        let q = s.spawn(|| {
            Dev::start(
                "bench-keygate-quiet",
                &[
                    ("ORIGIN_URL", &origin_url),
                    ("SHARED_SECRET", SECRET),
                    ("REQUEST_LOG", "refusals"),
                ],
            )
        });
        let p = s.spawn(|| {
            Dev::start_setup(
                "bench-passthrough",
                &[("ORIGIN_URL", &origin_url), ("SHARED_SECRET", SECRET)],
                Setup {
                    script: Some(&passthrough_js),
                    ..Setup::default()
                },
            )
        });
        let url = origin_url.as_str();
        let b = baseline_entry.as_deref().map(|entry| {
            s.spawn(move || {
                Dev::start_setup(
                    "bench-baseline",
                    &[("ORIGIN_URL", url), ("SHARED_SECRET", SECRET)],
                    Setup {
                        main: Some(entry),
                        ..Setup::default()
                    },
                )
            })
        });
        (
            k.join().expect("keygate"),
            q.join().expect("keygate quiet"),
            p.join().expect("passthrough"),
            b.map(|b| b.join().expect("baseline build")),
        )
    });
    let key = keygate.create_key(&["--name", "bench"]);
    let valid = format!("Bearer {key}");
    let quiet_key = quiet.create_key(&["--name", "bench"]);
    let quiet_valid = format!("Bearer {quiet_key}");
    // A well-formed key that is not in KV: refused from the negative cache after the first read.
    let invalid = "Bearer unknown-key-for-the-rejection-path-0123456789";

    let baseline_valid = baseline
        .as_ref()
        .map(|dev| format!("Bearer {}", dev.create_key(&["--name", "bench"])));

    type Target<'a> = (&'a str, String, Option<&'a str>, u16);
    let mut targets: Vec<Target> = vec![
        ("passthrough", passthrough.url("/bench"), None, 200),
        (
            "keygate, valid key",
            keygate.url("/bench"),
            Some(&valid),
            200,
        ),
        (
            "keygate, invalid key",
            keygate.url("/bench"),
            Some(invalid),
            401,
        ),
        (
            "keygate, valid, no log",
            quiet.url("/bench"),
            Some(&quiet_valid),
            200,
        ),
    ];
    if let (Some(dev), Some(auth)) = (&baseline, &baseline_valid) {
        targets.push(("baseline build, valid", dev.url("/bench"), Some(auth), 200));
    }
    eprintln!("bench: warming up");
    for (_, url, auth, status) in &targets {
        oha(url, auth.as_deref(), 500, c, *status);
    }
    let started = Instant::now();
    let mut results: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        eprintln!("bench: round {round}/{rounds}");
        for (i, (_, url, auth, status)) in targets.iter().enumerate() {
            results[i].push(oha(url, auth.as_deref(), n, c, *status));
        }
    }
    let took = started.elapsed();
    drop(origin);

    let med = |i: usize, f: fn(&Run) -> f64| median(results[i].iter().map(f).collect());
    let (base_rps, base_p50, base_p99) = (
        med(0, |r| r.rps),
        med(0, |r| r.p50_ms),
        med(0, |r| r.p99_ms),
    );
    println!(
        "\nbench: {n} requests x {rounds} rounds per target, concurrency {c}, keep-alive, \
         medians over rounds ({:.0} s); wrangler dev (local) on this machine",
        took.as_secs_f64()
    );
    println!(
        "{:<22} {:>9} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "target", "req/s", "p50 ms", "p99 ms", "req/s x", "p50 x", "p99 x"
    );
    for (i, (name, ..)) in targets.iter().enumerate() {
        let (rps, p50, p99) = (
            med(i, |r| r.rps),
            med(i, |r| r.p50_ms),
            med(i, |r| r.p99_ms),
        );
        println!(
            "{name:<22} {rps:>9.0} {p50:>8.2} {p99:>8.2} {:>10.2} {:>10.2} {:>10.2}",
            rps / base_rps,
            p50 / base_p50,
            p99 / base_p99
        );
    }
    println!("(x = ratio against the passthrough measured in the same run)");
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
    drop(keygate);
    drop(quiet);
    drop(passthrough);
    drop(baseline);
}
