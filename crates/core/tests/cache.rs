//! The per-isolate key cache against a store fake that counts reads, yields like a network call,
//! and can be told to fail: TTLs, bounds, coalescing, and failing closed on refresh.

mod common;

use common::{bearer, config, get, record, FakeStore, Yield};
use futures::executor::block_on;
use futures::future::join_all;
use keygate_core::cache::{KeyCache, Lookup, Pause, COALESCE_MAX_POLLS};
use keygate_core::config::CachePolicy;
use keygate_core::{authorize, ApiKey, Cached, Denial, Fault, InvalidKey, Verdict};
use std::cell::Cell;
use std::future::Future;
use std::task::Context;

const T0: u64 = 1_800_000_000_000;

/// How a waiting request pauses natively: one yield to the executor.
struct YieldPause;

impl Pause for YieldPause {
    async fn pause(&self) {
        Yield(1).await;
    }
}

/// An empty cache, and a slow store holding an active record for `key`.
fn holding(key: &str) -> (KeyCache, FakeStore) {
    let store = FakeStore::slow();
    store.put(key, &record(key, "acme"));
    (KeyCache::new(), store)
}

fn policy() -> CachePolicy {
    CachePolicy {
        ttl_ms: 30_000,
        negative_ttl_ms: 5_000,
        ..CachePolicy::default()
    }
}

fn look(cache: &KeyCache, p: &CachePolicy, store: &FakeStore, key: &str, now: u64) -> Lookup {
    block_on(cache.lookup(p, store, &YieldPause, &ApiKey::new(key).hash(), now)).expect("lookup")
}

fn found(l: &Lookup) -> bool {
    matches!(l, Lookup::Found(_))
}

#[test]
fn a_hit_within_the_ttl_makes_no_second_read_and_expiry_is_exact() {
    let (cache, store) = holding("k1");
    assert!(found(&look(&cache, &policy(), &store, "k1", T0)));
    assert!(found(&look(&cache, &policy(), &store, "k1", T0 + 29_999)));
    assert_eq!(store.reads.get(), 1);
    assert!(found(&look(&cache, &policy(), &store, "k1", T0 + 30_000)));
    assert_eq!(store.reads.get(), 2, "at the TTL the entry is read again");
}

#[test]
fn unknown_keys_are_cached_for_the_shorter_negative_ttl() {
    let (cache, store) = (KeyCache::new(), FakeStore::slow());
    let miss = |now| look(&cache, &policy(), &store, "nope", now);
    assert!(matches!(miss(T0), Lookup::Refused(InvalidKey::Unknown)));
    miss(T0 + 4_999);
    assert_eq!(store.reads.get(), 1);
    miss(T0 + 5_000);
    assert_eq!(store.reads.get(), 2);
}

#[test]
fn concurrent_lookups_of_one_key_share_one_store_read() {
    let (cache, store) = holding("hot");
    let p = policy();
    let h = ApiKey::new("hot").hash();
    let results = block_on(join_all(
        (0..50).map(|_| cache.lookup(&p, &store, &YieldPause, &h, T0)),
    ));
    assert!(results.iter().all(|r| matches!(r, Ok(Lookup::Found(_)))));
    assert_eq!(store.reads.get(), 1, "50 concurrent requests, one KV read");
}

#[test]
fn concurrent_lookups_share_a_fault_and_the_fault_is_not_cached() {
    let (cache, store) = holding("k");
    store.fail.set(true);
    let p = policy();
    let h = ApiKey::new("k").hash();
    let results = block_on(join_all(
        (0..10).map(|_| cache.lookup(&p, &store, &YieldPause, &h, T0)),
    ));
    assert!(results.iter().all(Result::is_err));
    assert_eq!(store.reads.get(), 1);
    store.fail.set(false);
    assert!(found(&look(&cache, &p, &store, "k", T0 + 1)));
    assert_eq!(store.reads.get(), 2, "the fault was not remembered");
}

#[test]
fn a_store_fault_on_refresh_fails_closed_instead_of_serving_the_stale_record() {
    let (cache, store) = holding("revoked");
    assert!(found(&look(&cache, &policy(), &store, "revoked", T0)));
    store.delete("revoked");
    store.fail.set(true);
    let r = block_on(cache.lookup(
        &policy(),
        &store,
        &YieldPause,
        &ApiKey::new("revoked").hash(),
        T0 + 30_000,
    ));
    assert!(
        r.is_err(),
        "expired entry must not be served when the store fails"
    );
    store.fail.set(false);
    assert!(matches!(
        look(&cache, &policy(), &store, "revoked", T0 + 30_001),
        Lookup::Refused(InvalidKey::Unknown)
    ));
}

#[test]
fn a_dropped_loader_hands_over_to_a_waiting_request() {
    let (cache, store) = holding("k");
    let p = policy();
    let h = ApiKey::new("k").hash();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut leader = Box::pin(cache.lookup(&p, &store, &YieldPause, &h, T0));
    assert!(leader.as_mut().poll(&mut cx).is_pending());
    let mut waiter = Box::pin(cache.lookup(&p, &store, &YieldPause, &h, T0));
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    drop(leader); // the client went away mid-read
    assert!(matches!(block_on(waiter), Ok(Lookup::Found(_))));
    assert_eq!(store.reads.get(), 2);
}

#[test]
fn a_hung_loader_holds_its_waiters_only_for_a_bounded_number_of_pauses() {
    let (cache, store) = holding("k");
    store.hang_next.set(true);
    let p = policy();
    let h = ApiKey::new("k").hash();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut hung = Box::pin(cache.lookup(&p, &store, &YieldPause, &h, T0));
    assert!(hung.as_mut().poll(&mut cx).is_pending());
    let pauses = Cell::new(0u32);
    struct Counting<'a>(&'a Cell<u32>);
    impl Pause for Counting<'_> {
        async fn pause(&self) {
            self.0.set(self.0.get() + 1);
            Yield(1).await;
        }
    }
    let counting = Counting(&pauses);
    let waiter = cache.lookup(&p, &store, &counting, &h, T0);
    assert!(matches!(block_on(waiter), Ok(Lookup::Found(_))));
    assert_eq!(pauses.get(), COALESCE_MAX_POLLS);
    assert_eq!(store.reads.get(), 2, "the waiter read the store itself");
    drop(hung);
}

#[test]
fn the_cache_is_bounded_in_entries_and_bytes_evicting_the_oldest() {
    let (cache, store) = (KeyCache::new(), FakeStore::slow());
    let p = CachePolicy {
        max_entries: 3,
        ..policy()
    };
    for i in 0..5 {
        let key = format!("k{i}");
        store.put(&key, &record(&key, "acme"));
        look(&cache, &p, &store, &key, T0);
    }
    assert_eq!(cache.stats().entries, 3);
    let reads = store.reads.get();
    look(&cache, &p, &store, "k4", T0);
    assert_eq!(store.reads.get(), reads, "the newest is still cached");
    look(&cache, &p, &store, "k0", T0);
    assert_eq!(store.reads.get(), reads + 1, "the oldest was evicted");

    let small = CachePolicy {
        max_bytes: 1_500,
        ..policy()
    };
    let (cache, store) = (KeyCache::new(), FakeStore::slow());
    for i in 0..20 {
        let key = format!("b{i}");
        store.put(&key, &record(&key, "acme"));
        look(&cache, &small, &store, &key, T0);
        assert!(cache.stats().bytes <= 1_500);
    }
    assert!(cache.stats().entries < 20);
}

#[test]
fn ttl_zero_turns_caching_and_coalescing_off() {
    let (cache, store) = holding("k");
    let off = CachePolicy {
        ttl_ms: 0,
        negative_ttl_ms: 0,
        ..policy()
    };
    for _ in 0..3 {
        look(&cache, &off, &store, "k", T0);
    }
    assert_eq!(store.reads.get(), 3);
    assert_eq!(cache.stats().entries, 0);
}

fn decide_cached(cache: &KeyCache, store: &FakeStore, key: &str, now_ms: u64) -> Verdict {
    let cfg = config(&[("KEY_CACHE_TTL_SECS", "2")]);
    let h = bearer(key);
    let keys = Cached::new(cache, cfg.cache, store, YieldPause, now_ms);
    let r: Result<Verdict, Fault> = block_on(authorize(&cfg, &get("/", &h), &keys, now_ms / 1000));
    r.expect("no fault")
}

#[test]
fn a_revoked_key_is_refused_once_its_cache_entry_expires() {
    let (cache, store) = holding("rev");
    assert!(matches!(
        decide_cached(&cache, &store, "rev", T0),
        Verdict::Accept(_)
    ));
    store.delete("rev");
    assert!(
        matches!(
            decide_cached(&cache, &store, "rev", T0 + 1_999),
            Verdict::Accept(_)
        ),
        "within the TTL the cached record still answers"
    );
    assert!(matches!(
        decide_cached(&cache, &store, "rev", T0 + 2_000),
        Verdict::Deny(Denial::InvalidKey {
            reason: InvalidKey::Unknown,
            ..
        })
    ));
}
