//! `make bench` (and `scripts/mgmt-latency.sh`): how long create, disable and list take through
//! each way of managing keys, measured in the same run against the same `wrangler dev`:
//! - **API (HTTP)**: one request to the management API (`/__keygate/v1`) with a root key;
//! - **CLI, API mode**: `keygate create|disable|list` with `KEYGATE_URL` and `KEYGATE_ROOT_KEY`
//!   (a process start and the same request);
//! - **CLI, wrangler**: `keygate --local …`, which spawns `wrangler kv` against the instance's
//!   local KV (the path issue 15 measured at 5.7 s for create and 10 s for disable).
//!
//! Each round runs the nine cases in turn (so machine noise hits each alike); it prints the
//! median and p90 per case over `BENCH_MGMT_RUNS` rounds (default 10), after one warm-up round.
//! Every list returns one page: the store holds fewer than 50 keys throughout. A benchmark,
//! never a test: it asserts only that each call succeeded.

use keygate_e2e::{client, keygate_bin, repo_root, Dev, Setup, ADMIN_TOKEN};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const V1: &str = "/__keygate/v1";

/// The three ways of managing keys, in the order each round runs them.
#[derive(Clone, Copy)]
enum Path {
    Http,
    CliApi,
    CliWrangler,
}

const PATHS: [(Path, &str); 3] = [
    (Path::Http, "API (HTTP)"),
    (Path::CliApi, "CLI, API mode"),
    (Path::CliWrangler, "CLI, wrangler (--local)"),
];
const OPS: [&str; 3] = ["create", "disable", "list"];

struct Bench {
    dev: Dev,
    root: String,
}

impl Bench {
    fn http(&self, method: &str, path: &str, body: Option<String>) -> (u16, String) {
        let mut req = client()
            .request(
                method.parse().expect("method"),
                self.dev.url(&format!("{V1}{path}")),
            )
            .header("authorization", format!("Bearer {}", self.root));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().expect("management request");
        let status = r.status().as_u16();
        (status, r.text().expect("body"))
    }

    fn cli(&self, path: Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(keygate_bin());
        cmd.args(args)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .env_remove("KEYGATE_URL")
            .env_remove("KEYGATE_ROOT_KEY");
        match path {
            Path::CliApi => {
                cmd.env("KEYGATE_URL", &self.dev.base)
                    .env("KEYGATE_ROOT_KEY", &self.root);
            }
            _ => {
                cmd.arg("--local")
                    .arg("--config")
                    .arg(self.dev.config())
                    .arg("--persist-to")
                    .arg(self.dev.state());
            }
        }
        let out = cmd.output().expect("run keygate");
        assert!(
            out.status.success(),
            "keygate {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Creates a key by `path`; returns its id and the time taken.
    fn create(&self, path: Path, n: usize) -> (String, Duration) {
        let name = format!("bench-{n}");
        let start = Instant::now();
        let key = match path {
            Path::Http => {
                let body = format!(r#"{{"name":"{name}","consumer_id":"bench"}}"#);
                let (status, text) = self.http("POST", "/keys", Some(body));
                assert_eq!(status, 201, "{text}");
                let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                v["key"].as_str().expect("key").to_owned()
            }
            _ => {
                let out = self.cli(path, &["create", "--name", &name, "--consumer", "bench"]);
                String::from_utf8(out.stdout)
                    .expect("utf-8")
                    .trim()
                    .to_owned()
            }
        };
        let took = start.elapsed();
        (keygate_core::ApiKey::new(key).hash().id().to_owned(), took)
    }

    fn disable(&self, path: Path, id: &str) -> Duration {
        let start = Instant::now();
        match path {
            Path::Http => {
                let (status, text) = self.http(
                    "PATCH",
                    &format!("/keys/{id}"),
                    Some(r#"{"enabled":false}"#.into()),
                );
                assert_eq!(status, 200, "{text}");
            }
            _ => {
                self.cli(path, &["disable", id]);
            }
        }
        start.elapsed()
    }

    fn list(&self, path: Path) -> Duration {
        let start = Instant::now();
        match path {
            Path::Http => {
                let (status, text) = self.http("GET", "/keys", None);
                assert_eq!(status, 200, "{text}");
                let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                assert!(v["cursor"].is_null(), "one page");
            }
            _ => {
                self.cli(path, &["list", "--json"]);
            }
        }
        start.elapsed()
    }

    /// One round: create, disable and list by each path; the times in `PATHS` × `OPS` order.
    fn round(&self, n: usize) -> Vec<Duration> {
        let mut out = Vec::with_capacity(9);
        for (path, _) in PATHS {
            let (id, create) = self.create(path, n);
            let disable = self.disable(path, &id);
            let list = self.list(path);
            out.extend([create, disable, list]);
        }
        out
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The nearest-rank percentile `p` of `s`, in milliseconds.
fn pct(s: &mut [Duration], p: f64) -> f64 {
    s.sort_unstable();
    let rank = ((s.len() as f64) * p).ceil().max(1.0) as usize;
    ms(s[rank - 1])
}

fn main() {
    let runs: usize = std::env::var("BENCH_MGMT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    assert!(
        (1..=15).contains(&runs),
        "BENCH_MGMT_RUNS: 1 to 15 (each round adds 3 keys; a list must stay one page)"
    );
    let (_origin, dev) = Dev::start_with_origin(
        "bench-mgmt",
        &[("ADMIN_TOKEN", ADMIN_TOKEN)],
        Setup::default(),
    );
    // A root key with what the three operations need, made through the API.
    let resp = client()
        .post(dev.url(&format!("{V1}/roots")))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(r#"{"name":"bench","permissions":["keys:read","keys:write"]}"#)
        .send()
        .expect("create root key");
    assert_eq!(resp.status().as_u16(), 201, "root key");
    let v: serde_json::Value = serde_json::from_str(&resp.text().expect("body")).expect("json");
    let bench = Bench {
        root: v["key"].as_str().expect("root key").to_owned(),
        dev,
    };
    // The CLI is built before the clock starts.
    let _ = keygate_bin();

    bench.round(0);
    let mut samples: Vec<Vec<Duration>> = (0..9).map(|_| Vec::with_capacity(runs)).collect();
    for n in 1..=runs {
        for (i, d) in bench.round(n).into_iter().enumerate() {
            samples[i].push(d);
        }
    }

    println!(
        "\nbench: management latency through one wrangler dev (local), {runs} rounds after 1 \
         warm-up, each round every case in turn"
    );
    println!(
        "{:<26} {:<8} {:>10} {:>10} {:>12}",
        "path", "op", "median ms", "p90 ms", "vs API p50"
    );
    let mut http_p50 = [0.0; 3];
    for (pi, (_, path_name)) in PATHS.iter().enumerate() {
        for (oi, op) in OPS.iter().enumerate() {
            let s = &mut samples[pi * 3 + oi];
            let (p50, p90) = (pct(s, 0.5), pct(s, 0.9));
            if pi == 0 {
                http_p50[oi] = p50;
            }
            println!(
                "{path_name:<26} {op:<8} {p50:>10.1} {p90:>10.1} {:>11.1}x",
                p50 / http_p50[oi]
            );
        }
    }
}
