//! `make bench`: the latency that rate limits and quotas add, measured against a real
//! `wrangler dev` and a loopback origin. Three keys on one instance, alternating request by
//! request (A B C A B C …) so machine noise hits each alike:
//! - **plain**: no tier, no quota (the baseline);
//! - **rate limit**: a tier backed by a Workers Rate Limiting binding (limit never reached);
//! - **quota**: an exact quota counted by the `QuotaCounter` Durable Object (never used up).
//!
//! It prints p50/p90/p99 per key and the extra latency of each against the baseline measured
//! in the same run. A benchmark, never a test: it asserts nothing about time.

use keygate_e2e::{timed_get, Dev, Setup};
use std::time::Duration;

const WARMUP: usize = 100;

fn main() {
    let per_key: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500);
    let (origin, dev) = Dev::start_with_origin(
        "bench-limits",
        &[("RATE_LIMIT_TIERS", "bench=RL_BENCH:1000000/60")],
        Setup {
            extra_toml: "[[ratelimits]]\nname = \"RL_BENCH\"\nnamespace_id = \"9001\"\n\
                         simple = { limit = 1000000, period = 60 }\n",
            ..Setup::default()
        },
    );
    let keys = [
        ("plain", dev.create_key(&["--name", "bench-plain"])),
        (
            "rate limit",
            dev.create_key(&["--name", "bench-tier", "--tier", "bench"]),
        ),
        (
            "quota",
            dev.create_key(&["--name", "bench-quota", "--quota", "1000000000/month"]),
        ),
    ];
    let url = dev.url("/bench");
    let send = |key: &str| timed_get(&url, key);
    for _ in 0..WARMUP {
        for (_, k) in &keys {
            send(k);
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(per_key); keys.len()];
    for _ in 0..per_key {
        for (i, (_, k)) in keys.iter().enumerate() {
            samples[i].push(send(k));
        }
    }
    println!(
        "\nbench: limits overhead through wrangler dev (local), {per_key} requests per key, \
         sequential, interleaved A B C, after {WARMUP} warm-up rounds"
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>16} {:>10}",
        "key", "p50 ms", "p90 ms", "p99 ms", "extra p50 ms", "p50 ratio"
    );
    let pct = |s: &mut Vec<Duration>, p: f64| -> f64 {
        s.sort_unstable();
        let i = ((s.len() as f64 - 1.0) * p).round() as usize;
        s[i].as_secs_f64() * 1e3
    };
    let base_p50 = pct(&mut samples[0], 0.5);
    for (i, (name, _)) in keys.iter().enumerate() {
        let s = &mut samples[i];
        let (p50, p90, p99) = (pct(s, 0.5), pct(s, 0.9), pct(s, 0.99));
        println!(
            "{name:<12} {p50:>9.3} {p90:>9.3} {p99:>9.3} {:>+16.3} {:>9.2}x",
            p50 - base_p50,
            p50 / base_p50
        );
    }
    println!("origin received {} requests", origin.received().len());
}
