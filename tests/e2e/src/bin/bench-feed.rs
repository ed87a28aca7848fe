//! `make bench`: what the change feed costs a busy isolate, against real `wrangler dev`
//! instances. Three instances of the same build in front of one origin, each with one hot key:
//! the feed off (`REVOCATION_SYNC_SECS=0`, the baseline), at its default period (4 s), and at
//! 1 s (four times the syncs). Sequential requests, alternating A B C so that machine noise hits
//! each alike, for `BENCH_FEED_SECS` (default 30). A busy isolate syncs ahead, after an answer,
//! every half period (so 30 syncs a minute at 4 s, 120 at 1 s); what they cost shows as the
//! latency against the baseline in the same run. A benchmark, never a test: it asserts nothing
//! about time.

use keygate_e2e::{timed_get, Dev, Setup, TestOrigin, SECRET};
use std::time::{Duration, Instant};

const WARMUP: usize = 50;

fn main() {
    let secs: u64 = std::env::var("BENCH_FEED_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let o = format!("http://{}", origin.addr());
    let periods = [("feed off", "0"), ("feed, 4 s", "4"), ("feed, 1 s", "1")];
    let devs: Vec<(&str, Dev)> = std::thread::scope(|s| {
        let handles: Vec<_> = periods
            .iter()
            .map(|(name, period)| {
                let o = &o;
                s.spawn(move || {
                    let dev = Dev::start_setup(
                        &format!("bench-feed-{period}"),
                        &[
                            ("ORIGIN_URL", o),
                            ("SHARED_SECRET", SECRET),
                            ("REVOCATION_SYNC_SECS", period),
                        ],
                        Setup::default(),
                    );
                    (*name, dev)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("start"))
            .collect()
    });
    let targets: Vec<(&str, String, String)> = devs
        .iter()
        .map(|(name, dev)| {
            (
                *name,
                dev.url("/bench"),
                dev.create_key(&["--name", "bench-feed"]),
            )
        })
        .collect();
    let send = timed_get;
    for _ in 0..WARMUP {
        for (_, url, key) in &targets {
            send(url, key);
        }
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        for (i, (_, url, key)) in targets.iter().enumerate() {
            samples[i].push(send(url, key).as_secs_f64() * 1e3);
        }
    }
    println!(
        "\nbench: the change feed through wrangler dev (local), one hot key per instance, \
         sequential, interleaved A B C for {secs} s after {WARMUP} warm-up rounds"
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>9} {:>14}",
        "instance", "requests", "p50 ms", "p90 ms", "mean ms", "extra mean ms"
    );
    let pct = |s: &[f64], p: f64| s[((s.len() as f64 - 1.0) * p).round() as usize];
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let base = mean(&samples[0]);
    for (i, (name, _, _)) in targets.iter().enumerate() {
        let s = &mut samples[i];
        s.sort_by(f64::total_cmp);
        let m = mean(s);
        println!(
            "{name:<12} {:>9} {:>9.3} {:>9.3} {m:>9.3} {:>+14.3}",
            s.len(),
            pct(s, 0.5),
            pct(s, 0.9),
            m - base
        );
    }
}
