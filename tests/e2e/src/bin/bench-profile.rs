//! `make profile` (and part 6 of `make bench`): where keygate's CPU goes under load. A V8 CPU
//! profile of one `wrangler dev` instance, taken through its inspector by `scripts/profile.mjs`
//! while `oha` drives the hot-key case of `bench-gateway` ("keygate, valid key") against the
//! release demo origin.
//!
//! The instance runs `src/entry-profile.js`: the release build with its wasm function names kept
//! (`make worker-profile`), so Rust frames are named. It has the e2e harness's bindings (KV, the
//! Durable Objects; no rate-limit tier, as in `bench-gateway`) and, as `wrangler.toml` has, an
//! Analytics Engine dataset. It profiles keygate with its defaults, then
//! (unless `PROFILE_QUIET=0`) a second instance with `REQUEST_LOG=refusals` (no log line for an
//! accepted request). The raw profiles go to `target/cpuprofile/` (they open in Chrome DevTools).
//!
//! Knobs: `PROFILE_REQUESTS` (4000), `PROFILE_CONCURRENCY` (32), `PROFILE_INTERVAL_US` (100),
//! `PROFILE_TOP` (20), `PROFILE_QUIET` (1), and `PROFILE_ENTRY` (another checkout's
//! `src/entry-profile.js`, built there with `make worker-profile`, to profile instead). A
//! benchmark, never a test: the profiler itself slows the isolate (sampling every 100 µs), so
//! read the shares, not the request rate.

use keygate_e2e::{env_or, repo_root, Dev, ReleaseOrigin, Setup, SECRET};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// One `oha` run of `n` GETs with `auth`, all of which must be answered 200; returns req/s.
fn oha(url: &str, auth: &str, n: usize, c: usize) -> f64 {
    let out = Command::new("oha")
        .args(["--no-tui", "--output-format", "json"])
        .args(["-n", &n.to_string(), "-c", &c.to_string()])
        .args(["-H", &format!("authorization: {auth}")])
        .arg(url)
        .stderr(Stdio::inherit())
        .output()
        .expect("run oha (make profile installs it)");
    assert!(out.status.success(), "oha failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("oha JSON output");
    let codes = &v["statusCodeDistribution"];
    assert_eq!(
        codes["200"].as_u64().unwrap_or(0),
        n as u64,
        "expected {n} answers with 200, got {codes} (errors: {})",
        v["errorDistribution"]
    );
    v["summary"]["requestsPerSec"].as_f64().unwrap_or(f64::NAN)
}

/// Profiles `dev` while oha sends `n` requests with `key`; prints the profiler's report.
fn profile(root: &Path, label: &str, dev: &Dev, key: &str, n: usize, c: usize) {
    let auth = format!("Bearer {key}");
    let url = dev.url("/bench");
    eprintln!("profile [{label}]: warming up");
    oha(&url, &auth, 500, c);

    let dir = root.join("target/cpuprofile");
    std::fs::create_dir_all(&dir).expect("target/cpuprofile");
    let out = dir.join(format!("keygate-{label}.cpuprofile"));
    let mut profiler = Command::new(root.join("node_modules/.bin/node"))
        .arg(root.join("scripts/profile.mjs"))
        .arg(dev.inspector_port().to_string())
        .arg(&out)
        .args([
            "--interval-us",
            &env_or("PROFILE_INTERVAL_US", 100).to_string(),
        ])
        .args(["--top", &env_or("PROFILE_TOP", 20).to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node scripts/profile.mjs");
    let mut stdout = BufReader::new(profiler.stdout.take().expect("profiler stdout"));
    // Load only once the profiler runs: it says so in one line.
    let mut line = String::new();
    loop {
        line.clear();
        let read = stdout.read_line(&mut line).expect("read the profiler");
        assert!(
            read > 0,
            "scripts/profile.mjs ended before recording ({})",
            profiler.wait().expect("profiler status")
        );
        if line.starts_with("profile: recording") {
            break;
        }
    }
    eprintln!("profile [{label}]: {n} requests, concurrency {c}, under the profiler");
    let start = Instant::now();
    let rps = oha(&url, &auth, n, c);
    let took = start.elapsed();
    // Closing its stdin stops the profiler; it writes the profile and prints the report.
    drop(profiler.stdin.take());
    let mut report = String::new();
    stdout
        .read_to_string(&mut report)
        .expect("read the profiler's report");
    let status = profiler.wait().expect("profiler status");
    assert!(status.success(), "scripts/profile.mjs failed ({status})");
    println!(
        "\n--- keygate, valid key, {label}: {n} requests, concurrency {c}, {:.1} s, {rps:.0} req/s \
         under the profiler ---",
        took.as_secs_f64()
    );
    print!("{report}");
    println!("(open {} in Chrome DevTools)", out.display());
}

fn main() {
    let n = env_or("PROFILE_REQUESTS", 4_000);
    let c = env_or("PROFILE_CONCURRENCY", 32);
    let quiet = env_or("PROFILE_QUIET", 1) != 0;
    let root = repo_root();
    // Another checkout's build (its src/entry-profile.js, built there with `make worker-profile`)
    // to profile instead, e.g. the parent of a change.
    let entry = std::env::var_os("PROFILE_ENTRY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("src/entry-profile.js"));
    let built = entry
        .parent()
        .and_then(Path::parent)
        .expect("the entry lives in <checkout>/src/")
        .join("build-profile/index.js");
    assert!(
        built.is_file(),
        "{} is missing: run `make profile`, which builds it (make worker-profile)",
        built.display()
    );

    let origin = ReleaseOrigin::start();
    let origin_url = origin.url.clone();
    // As wrangler.toml binds it: one Analytics Engine data point per request (a local stand-in).
    let analytics = "[[analytics_engine_datasets]]\nbinding = \"ANALYTICS\"\n\
                     dataset = \"keygate_profile\"\n";
    let setup = Setup {
        main: Some(&entry),
        extra_toml: analytics,
        ..Setup::default()
    };
    let vars = [
        ("ORIGIN_URL", origin_url.as_str()),
        ("SHARED_SECRET", SECRET),
    ];

    let dev = Dev::start_setup("bench-profile", &vars, setup);
    let key = dev.create_key(&["--name", "bench"]);
    profile(&root, "default", &dev, &key, n, c);
    drop(dev);

    if quiet {
        let mut quiet_vars = vars.to_vec();
        quiet_vars.push(("REQUEST_LOG", "refusals"));
        let dev = Dev::start_setup("bench-profile-quiet", &quiet_vars, setup);
        let key = dev.create_key(&["--name", "bench"]);
        profile(&root, "no-log", &dev, &key, n, c);
    }
    drop(origin);
}
