//! `make bench`: what the change feed costs a busy isolate, against a real `wrangler dev`. One hot
//! key, sequential requests for `BENCH_FEED_SECS` (default 30) on an instance that syncs every
//! `BENCH_FEED_SYNC_SECS` (default 1, a quarter of the default period, so that there are syncs to
//! measure). Each request's log line says whether it synced (`"sync":"synced"`); the bench
//! prints how many requests synced, the syncs a minute, and the client-side latency of the
//! requests that synced against those that did not, in the same run. A benchmark, never a test:
//! it asserts nothing about time.

use keygate_e2e::{client, Dev, Setup};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const WARMUP: usize = 50;

fn main() {
    let secs: u64 = std::env::var("BENCH_FEED_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let sync_secs: String =
        std::env::var("BENCH_FEED_SYNC_SECS").unwrap_or_else(|_| "1".to_owned());
    let (_origin, dev) = Dev::start_with_origin(
        "bench-feed",
        &[("REVOCATION_SYNC_SECS", &sync_secs)],
        Setup::default(),
    );
    let key = dev.create_key(&["--name", "bench-feed"]);
    let url = dev.url("/bench");
    let send = |n: usize| -> (String, Duration) {
        let id = format!("bench-feed-{n}");
        let start = Instant::now();
        let r = client()
            .get(&url)
            .header("authorization", format!("Bearer {key}"))
            .header("x-request-id", &id)
            .send()
            .expect("request");
        let status = r.status().as_u16();
        let _ = r.bytes();
        let took = start.elapsed();
        assert_eq!(status, 200, "bench request refused");
        (id, took)
    };
    for n in 0..WARMUP {
        send(n);
    }
    let started = Instant::now();
    let mut took: HashMap<String, Duration> = HashMap::new();
    let mut n = WARMUP;
    while started.elapsed() < Duration::from_secs(secs) {
        let (id, t) = send(n);
        took.insert(id, t);
        n += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The log lines are written after each answer; give the last ones a moment.
    std::thread::sleep(Duration::from_secs(2));
    let mut synced: Vec<f64> = Vec::new();
    let mut fresh: Vec<f64> = Vec::new();
    for line in dev.request_logs() {
        let Some(t) = line["request_id"].as_str().and_then(|id| took.get(id)) else {
            continue;
        };
        let ms = t.as_secs_f64() * 1e3;
        match line["sync"].as_str() {
            Some("synced") => synced.push(ms),
            Some(other) => panic!("a request's sync was {other}: {line}"),
            None => fresh.push(ms),
        }
    }
    let p50 = |v: &mut Vec<f64>| -> f64 {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (sync_p50, fresh_p50) = (p50(&mut synced), p50(&mut fresh));
    let (sync_mean, fresh_mean) = (mean(&synced), mean(&fresh));
    let per_min = synced.len() as f64 * 60.0 / elapsed;
    println!(
        "\nbench: the change feed through wrangler dev (local), REVOCATION_SYNC_SECS={sync_secs}, \
         one hot key, sequential for {elapsed:.0} s after {WARMUP} warm-up requests"
    );
    println!(
        "{} requests, {} synced ({per_min:.1} syncs a minute)",
        synced.len() + fresh.len(),
        synced.len()
    );
    println!(
        "latency, synced: p50 {sync_p50:.2} ms, mean {sync_mean:.2} ms; \
         not synced: p50 {fresh_p50:.2} ms, mean {fresh_mean:.2} ms"
    );
    let extra = sync_mean - fresh_mean;
    println!(
        "a sync adds {extra:.2} ms (mean); at the default 4 s period a busy isolate syncs 15 to 30 \
         times a minute: {:.0} to {:.0} ms a minute",
        extra * 15.0,
        extra * 30.0
    );
}
