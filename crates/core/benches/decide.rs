//! The native decision path in ns per request: parse → hash → lookup (the tests' in-memory
//! `FakeStore`, through the key cache or not) → decide → upstream request. Run by `make bench`
//! (`cargo bench -p keygate-core --bench decide`).

#[path = "../tests/common/mod.rs"]
mod common;

use common::FakeStore;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue};
use keygate_core::cache::{KeyCache, Pause};
use keygate_core::forward::ClientContext;
use keygate_core::{authorize, Cached, Config, KeyRecord, RequestHead, Verdict};
use std::hint::black_box;

/// Without our `kg_` prefix, so it skips the offline checksum and is looked up like any key.
const KEY: &str = "bench-key-0123456789abcdef0123456789abcdef";

/// Never called here: no lookup waits for another in a single-threaded loop.
struct NoPause;

impl Pause for NoPause {
    async fn pause(&self) {}
}

fn setup() -> (Config, FakeStore) {
    let rec = KeyRecord {
        consumer_name: Some("Acme".into()),
        ..common::record(KEY, "acme")
    };
    (common::config(&[]), FakeStore::with(&[(KEY, rec)]))
}

fn headers(token: &str) -> HeaderMap {
    let mut h = common::bearer(token);
    h.insert("accept", HeaderValue::from_static("application/json"));
    h.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    h
}

fn head<'a>(h: &'a HeaderMap) -> RequestHead<'a> {
    RequestHead {
        method: "GET",
        path: "/v1/items/42",
        query: Some("page=2"),
        headers: h,
        client: ClientContext {
            client_ip: Some("198.51.100.7"),
            proto: "https",
            request_id: "0f4c1d2e-3b5a-4c6d-8e9f-a0b1c2d3e4f5",
        },
    }
}

fn bench(c: &mut Criterion) {
    let (cfg, store) = setup();
    let valid = headers(KEY);
    let invalid = headers("bench-unknown-0123456789abcdef0123456789abcdef");
    let cache = KeyCache::new();
    let now_ms = 1_800_000_000_000;
    let mut g = c.benchmark_group("decide");
    g.bench_function("valid key, cache hit", |b| {
        b.iter(|| {
            let keys = Cached::new(&cache, cfg.cache, &store, NoPause, now_ms);
            let v = pollster::block_on(authorize(&cfg, &head(&valid), &keys, now_ms / 1000));
            assert!(matches!(v, Ok(Verdict::Accept(_))));
            black_box(v)
        })
    });
    g.bench_function("valid key, no cache (store read + decode)", |b| {
        b.iter(|| {
            let v = pollster::block_on(authorize(&cfg, &head(&valid), &store, now_ms / 1000));
            black_box(v)
        })
    });
    g.bench_function("invalid key, cache hit", |b| {
        b.iter(|| {
            let keys = Cached::new(&cache, cfg.cache, &store, NoPause, now_ms);
            black_box(pollster::block_on(authorize(
                &cfg,
                &head(&invalid),
                &keys,
                now_ms / 1000,
            )))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
