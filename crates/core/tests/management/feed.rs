//! The change feed end to end in memory: writes through the management API append to the log's
//! change table, and a gateway isolate (`Synced` over `Cached` over a key store that stays
//! stale, as KV at another location does) refuses a revoked, disabled or rescoped key at its
//! next sync, whatever its cache or its store still say. Also the log down, under each
//! `REVOCATION_LOG_FAULT`, shared syncs, paging, the window, and an isolate that missed entries.

use super::common::{bearer, config, get, FakeStore, Yield};
use super::{json, World, NOW};
use keygate_core::cache::{KeyCache, Lookup, Pause};
use keygate_core::changes::{
    ChangeFeed, ChangePage, ChangeView, OnLogFault, SyncOutcome, SyncPolicy, Synced, MAX_PAGE,
    WINDOW_SECS,
};
use keygate_core::config::CachePolicy;
use keygate_core::management_log::{CallKind, LogClient, MemoryLog};
use keygate_core::pipeline::Verdict;
use keygate_core::store::LogError;
use keygate_core::{authorize, ApiKey, Cached, Denial, InvalidKey, KeyLookup};
use pollster::block_on;
use serde_json::json;
use std::cell::{Cell, RefCell};

const TRUST_MS: u64 = 4_000;

/// A pause that only yields.
struct YieldPause;

impl Pause for YieldPause {
    async fn pause(&self) {
        Yield(1).await;
    }
}

/// The edge's feed, in memory: the window's first page shared by a location (reused while it is
/// young enough), later pages from the log. Counts what reaches the log.
struct Feed<'a> {
    log: &'a MemoryLog,
    now_ms: Cell<u64>,
    shared: RefCell<Option<ChangePage>>,
    log_reads: Cell<u32>,
    /// Each log call yields this often first, so concurrent lookups overlap a sync.
    yields: u32,
}

impl<'a> Feed<'a> {
    fn new(log: &'a MemoryLog) -> Self {
        Self {
            log,
            now_ms: Cell::new(NOW * 1000),
            shared: RefCell::new(None),
            log_reads: Cell::new(0),
            yields: 0,
        }
    }

    async fn read(&self, after: Option<u64>) -> Result<ChangePage, LogError> {
        self.log_reads.set(self.log_reads.get() + 1);
        Yield(self.yields).await;
        LogClient(self.log).changes(after, self.now_ms.get()).await
    }
}

impl ChangeFeed for &Feed<'_> {
    async fn window(&self, max_age_ms: u64) -> Result<ChangePage, LogError> {
        let young = |p: &ChangePage| self.now_ms.get() < p.as_of_ms + max_age_ms;
        if let Some(p) = self.shared.borrow().clone().filter(young) {
            return Ok(p);
        }
        let page = self.read(None).await?;
        *self.shared.borrow_mut() = Some(page.clone());
        Ok(page)
    }

    async fn after(&self, seq: u64) -> Result<ChangePage, LogError> {
        self.read(Some(seq)).await
    }
}

/// One gateway isolate at another location: its cache, its view, a store that keeps whatever
/// it was given (stale unless told otherwise) and the feed.
struct Isolate<'a> {
    cache: KeyCache,
    view: ChangeView,
    store: FakeStore,
    feed: Feed<'a>,
    policy: SyncPolicy,
}

impl<'a> Isolate<'a> {
    fn new(log: &'a MemoryLog, on_fault: OnLogFault) -> Self {
        Self {
            cache: KeyCache::new(),
            view: ChangeView::new(),
            store: FakeStore::default(),
            feed: Feed::new(log),
            policy: SyncPolicy {
                trust_ms: TRUST_MS,
                on_fault,
            },
        }
    }

    /// Five minutes of isolate cache, as `KEY_CACHE_TTL_SECS=300`.
    fn keys(&self) -> Synced<'_, FakeStore, YieldPause, &Feed<'a>> {
        let policy = CachePolicy {
            ttl_ms: 300_000,
            negative_ttl_ms: 300_000,
            ..CachePolicy::default()
        };
        let cached = Cached::new(
            &self.cache,
            policy,
            &self.store,
            YieldPause,
            self.feed.now_ms.get(),
        );
        Synced::new(cached, &self.view, &self.feed, self.policy)
    }

    fn lookup(&self, key: &str) -> (Result<Lookup, String>, Option<SyncOutcome>) {
        let keys = self.keys();
        let l = block_on(keys.lookup(&ApiKey::new(key).hash())).map_err(|e| e.0);
        let sync = keys.sync.borrow().clone();
        (l, sync)
    }

    fn state(&self, key: &str) -> &'static str {
        match self.lookup(key).0 {
            Ok(Lookup::Found(r)) if r.disabled => "disabled",
            Ok(Lookup::Found(_)) => "active",
            Ok(Lookup::Refused(InvalidKey::Unknown)) => "unknown",
            Ok(Lookup::Refused(_)) => "refused",
            Err(_) => "fault",
        }
    }

    fn advance_ms(&self, ms: u64) {
        self.feed.now_ms.set(self.feed.now_ms.get() + ms);
    }
}

/// A key that has been around (stored without the API, so it has no feed entry), and an isolate
/// whose store holds its record (and keeps holding it, stale, unless told otherwise) and which has
/// looked it up once, so its 300 s cache holds it too.
fn created<'a>(w: &'a World, on_fault: OnLogFault) -> (String, Isolate<'a>) {
    let new = keygate_core::lifecycle::NewKey::new("web", "acme");
    let (key, record) = block_on(keygate_core::lifecycle::create(&w.kv.inner, &new, NOW)).unwrap();
    let key = key.expose().to_owned();
    let iso = Isolate::new(&w.log, on_fault);
    iso.store.put(&key, &record);
    assert_eq!(iso.state(&key), "active");
    assert_eq!(iso.cache.stats().entries, 1);
    (key, iso)
}

/// Disables `key` through the management API.
fn disable(w: &World, key: &str) {
    let id = ApiKey::new(key).hash().id().to_owned();
    let a = w.admin(
        "PATCH",
        &format!("/keys/{id}"),
        Some(json!({"enabled": false})),
    );
    assert_eq!(a.status, 200, "{}", a.body);
}

/// The record stored for `key` now.
fn stored(w: &World, key: &str) -> keygate_core::KeyRecord {
    block_on(keygate_core::lifecycle::show(
        &w.kv.inner,
        &keygate_core::lifecycle::KeyRef::Key(ApiKey::new(key)),
    ))
    .unwrap()
}

#[test]
fn a_revocation_is_refused_at_the_next_sync_though_the_store_still_returns_the_record() {
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::KvBound);
    let id = ApiKey::new(&key).hash().id().to_owned();
    assert_eq!(w.admin("DELETE", &format!("/keys/{id}"), None).status, 204);
    assert_eq!(iso.store.records.borrow().len(), 1, "the store is stale");
    // Within the trust period the isolate has not synced: its cache still answers.
    iso.advance_ms(TRUST_MS - 1);
    assert_eq!(iso.state(&key), "active");
    // At the period's end it syncs, and the log's tombstone wins over cache and store.
    iso.advance_ms(1);
    let (lookup, sync) = iso.lookup(&key);
    assert!(matches!(lookup, Ok(Lookup::Refused(InvalidKey::Unknown))));
    assert_eq!(sync, Some(SyncOutcome::Synced));
    let reads = iso.store.reads.get();
    // For the rest of the window, the store keeps answering the old record; the tombstone wins.
    for _ in 0..10 {
        iso.advance_ms(20_000);
        assert_eq!(iso.state(&key), "unknown");
    }
    assert_eq!(
        iso.store.reads.get(),
        reads,
        "the feed answers, not the store"
    );
}

#[test]
fn a_disable_and_a_scope_change_hold_at_the_next_sync() {
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::KvBound);
    let id = ApiKey::new(&key).hash().id().to_owned();
    let path = format!("/keys/{id}");
    let a = w.admin("PATCH", &path, Some(json!({"scopes": ["GET /public/*"]})));
    assert_eq!(a.status, 200, "{}", a.body);
    iso.advance_ms(TRUST_MS);
    let cfg = config(&[]);
    let headers = bearer(&key);
    let decide = |path: &str| {
        let keys = iso.keys();
        block_on(authorize(&cfg, &get(path, &headers), &keys, NOW + 5))
    };
    assert!(matches!(
        decide("/private/x"),
        Ok(Verdict::Deny(Denial::OutOfScope { .. }))
    ));
    assert!(matches!(decide("/public/x"), Ok(Verdict::Accept(_))));
    let a = w.admin("PATCH", &path, Some(json!({"enabled": false})));
    assert_eq!(a.status, 200, "{}", a.body);
    iso.advance_ms(TRUST_MS);
    assert_eq!(iso.state(&key), "disabled");
    assert_eq!(json(&w.admin("GET", &path, None))["state"], "disabled");
}

#[test]
fn every_write_appends_its_changes_with_its_audit_entry() {
    let w = World::default();
    let (key, _) = w.key("acme", json!({}));
    let id = ApiKey::new(&key).hash().id().to_owned();
    let path = format!("/keys/{id}");
    w.admin("PATCH", &path, Some(json!({"name": "renamed"})));
    let rotated = json(&w.admin("POST", &format!("{path}/rotate"), None));
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    let imported = [
        "legacy-imported-key-0123456789abcdef",
        "legacy-imported-key-fedcba9876543210",
    ];
    let a = w.admin(
        "POST",
        "/keys/import",
        Some(json!({"keys": imported, "name": "i", "consumer_id": "acme"})),
    );
    let hash = |k: &str| ApiKey::new(k).hash().as_kv_key().to_owned();
    w.admin("DELETE", &path, None);
    let rows = w.log.tables.changes();
    let got: Vec<(String, bool)> = rows
        .iter()
        .map(|c| (c.hash.clone(), c.record.is_some()))
        .collect();
    let mut want = vec![
        (hash(&key), true),     // create
        (hash(&key), true),     // update
        (hash(&key), true),     // rotate: the old key, now expiring
        (hash(&new_key), true), // rotate: the new key
    ];
    assert_eq!(a.status, 201, "{}", a.body);
    want.extend(imported.iter().map(|k| (hash(k), true)));
    want.push((hash(&key), false)); // revoke: the tombstone
    assert_eq!(got, want);
    let seqs: Vec<u64> = rows.iter().map(|c| c.seq).collect();
    assert!(seqs.windows(2).all(|p| p[0] < p[1]));
    assert!(rows.iter().all(|c| c.at == NOW));
    // No plaintext key in the table.
    let table = format!("{rows:?}");
    assert!(!table.contains(&key) && !table.contains(&new_key));
    // The updated record is the one stored.
    let updated: serde_json::Value =
        serde_json::from_str(rows[1].record.as_ref().unwrap()).unwrap();
    assert_eq!(updated["name"], "renamed");
}

#[test]
fn a_failed_append_changes_nothing_in_the_feed_and_says_so() {
    let w = World::default();
    let (key, _) = w.key("acme", json!({}));
    let id = ApiKey::new(&key).hash().id().to_owned();
    w.log.fail(CallKind::Append);
    let a = w.admin("DELETE", &format!("/keys/{id}"), None);
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(w.log.tables.changes().len(), 1, "only the create");
}

#[test]
fn concurrent_lookups_share_one_sync_and_a_location_shares_one_log_read() {
    let w = World::default();
    let (key, _) = w.key("acme", json!({}));
    let mut iso = Isolate::new(&w.log, OnLogFault::KvBound);
    iso.feed.yields = 5;
    iso.store.put(&key, &stored(&w, &key));
    let hash = ApiKey::new(&key).hash();
    let keys: Vec<_> = (0..20).map(|_| iso.keys()).collect();
    let results = block_on(futures_join_all(
        keys.iter().map(|k| k.lookup(&hash)).collect(),
    ));
    assert!(results.iter().all(|r| matches!(r, Ok(Lookup::Found(_)))));
    let outcomes: Vec<_> = keys.iter().map(|k| k.sync.borrow().clone()).collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Some(SyncOutcome::Synced))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(iso.feed.log_reads.get(), 1);
    // A second isolate of the location, within half the trust period, reads no log at all.
    let other = Isolate {
        feed: Feed {
            shared: RefCell::new(iso.feed.shared.borrow().clone()),
            ..Feed::new(&w.log)
        },
        ..Isolate::new(&w.log, OnLogFault::KvBound)
    };
    other.advance_ms(TRUST_MS / 2 - 1);
    let _ = other.lookup(&key);
    assert_eq!(other.feed.log_reads.get(), 0);
    // And a fresh view asks nothing until the trust period is over.
    for _ in 0..100 {
        let _ = iso.lookup(&key);
    }
    assert_eq!(iso.feed.log_reads.get(), 1);
}

/// Polls every future in turn until all are done (a tiny join_all, no extra crate).
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use std::pin::Pin;
    use std::task::Poll;
    let mut futs: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                if let Poll::Ready(v) = f.as_mut().poll(cx) {
                    *o = Some(v);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[test]
fn with_the_log_down_and_the_kv_setting_lookups_go_on_with_the_store_and_the_fault_is_told_once() {
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::KvBound);
    w.log.fail(CallKind::Changes);
    iso.advance_ms(TRUST_MS);
    let (lookup, sync) = iso.lookup(&key);
    assert!(matches!(lookup, Ok(Lookup::Found(_))));
    match sync {
        Some(SyncOutcome::Stale(Some(detail))) => {
            assert!(detail.contains("management log unavailable"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    // Until the retry pause is over, requests go on without asking the log again.
    let calls = w.log.calls().len();
    let (_, sync) = iso.lookup(&key);
    assert_eq!(sync, Some(SyncOutcome::Stale(None)));
    assert_eq!(w.log.calls().len(), calls);
    // A key revoked meanwhile is refused once the cache entry is over and the store has caught
    // up: the KV bound.
    let id = ApiKey::new(&key).hash().id().to_owned();
    assert_eq!(w.admin("DELETE", &format!("/keys/{id}"), None).status, 204);
    iso.store.delete(&key);
    iso.advance_ms(300_000);
    assert_eq!(iso.state(&key), "unknown");
    // The log back: the next sync after the pause succeeds.
    w.log.heal();
    iso.advance_ms(1_000);
    assert_eq!(iso.lookup(&key).1, Some(SyncOutcome::Synced));
}

#[test]
fn with_the_log_down_and_the_closed_setting_keyed_lookups_fail_closed_until_a_sync_succeeds() {
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::FailClosed);
    w.log.fail(CallKind::Changes);
    iso.advance_ms(TRUST_MS);
    let (lookup, _) = iso.lookup(&key);
    let err = lookup.unwrap_err();
    assert!(err.starts_with("revocation log unreachable"), "{err}");
    assert!(!err.contains(&key));
    // Within the retry pause: refused at once, the log not asked.
    let calls = w.log.calls().len();
    assert!(iso.lookup(&key).0.is_err());
    assert_eq!(w.log.calls().len(), calls);
    // The pipeline turns it into a fault (503), never an accept.
    let cfg = config(&[]);
    let headers = bearer(&key);
    let keys = iso.keys();
    assert!(matches!(
        block_on(authorize(&cfg, &get("/x", &headers), &keys, NOW)),
        Err(keygate_core::Fault::StoreUnavailable(_))
    ));
    w.log.heal();
    iso.advance_ms(1_000);
    assert_eq!(iso.state(&key), "active");
}

#[test]
fn an_entry_overrides_only_within_the_window_then_the_store_answers_again() {
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::KvBound);
    disable(&w, &key);
    iso.advance_ms(TRUST_MS);
    assert_eq!(iso.state(&key), "disabled");
    assert_eq!(iso.view.overrides(), 1);
    // KV catches up (here: with a later write made without the API, enabling the key again).
    let mut record = stored(&w, &key);
    record.disabled = false;
    iso.store.put(&key, &record);
    // The change is NOW; its entry overrides until NOW + WINDOW_SECS, then the store answers.
    let elapsed_ms = iso.feed.now_ms.get() - NOW * 1000;
    iso.advance_ms(WINDOW_SECS * 1000 - elapsed_ms - 1);
    assert_eq!(iso.state(&key), "disabled");
    iso.advance_ms(1);
    assert_eq!(iso.state(&key), "active");
    assert_eq!(iso.view.overrides(), 0);
}

#[test]
fn an_isolate_that_missed_entries_which_left_the_window_clears_its_cache() {
    // The rule alone, with the log's clock ahead of the isolate's: an isolate whose last seen
    // number is below the window's first has missed changes it can no longer read, so it drops
    // everything it cached. (With both clocks together, its 300 s entries would be over anyway.)
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::KvBound);
    let (other, _) = w.key("acme", json!({}));
    let other_id = ApiKey::new(&other).hash().id().to_owned();
    iso.advance_ms(TRUST_MS);
    assert_eq!(iso.state(&key), "active");
    let seen = iso.view.seq().unwrap();
    disable(&w, &key);
    // A write after the window: the log prunes the disable, which the isolate never read.
    w.now.set(NOW + WINDOW_SECS + 1);
    w.admin(
        "PATCH",
        &format!("/keys/{other_id}"),
        Some(json!({"name": "x"})),
    );
    assert!(w.log.tables.changes().iter().all(|c| c.seq > seen + 1));
    iso.store.put(&key, &stored(&w, &key));
    iso.advance_ms(TRUST_MS);
    assert_eq!(
        iso.state(&key),
        "disabled",
        "the cache was cleared; the store answers"
    );
}

#[test]
fn a_sync_pages_through_a_window_longer_than_one_page() {
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::KvBound);
    let bulk: Vec<String> = (0..MAX_PAGE + 20)
        .map(|i| format!("legacy-bulk-key-{i:08}-0123456789abcdef"))
        .collect();
    for chunk in bulk.chunks(100) {
        let a = w.admin(
            "POST",
            "/keys/import",
            Some(json!({"keys": chunk, "name": "bulk", "consumer_id": "acme"})),
        );
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let id = ApiKey::new(&key).hash().id().to_owned();
    assert_eq!(w.admin("DELETE", &format!("/keys/{id}"), None).status, 204);
    assert!(w.log.tables.changes().len() > MAX_PAGE);
    iso.advance_ms(TRUST_MS);
    assert_eq!(iso.state(&key), "unknown", "the tombstone is past page one");
    assert_eq!(iso.view.overrides(), MAX_PAGE + 20 + 1);
    assert!(iso.feed.log_reads.get() >= 2);
}

#[test]
fn a_log_that_started_again_clears_what_the_isolate_knew() {
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::KvBound);
    disable(&w, &key);
    iso.advance_ms(TRUST_MS);
    assert_eq!(iso.state(&key), "disabled");
    // A new, empty log (a `wrangler dev` restarted without its state): the overrides go.
    let fresh = MemoryLog::new();
    let before = iso.view.seq().unwrap();
    assert!(before >= 1);
    let restarted = Feed::new(&fresh);
    restarted.now_ms.set(iso.feed.now_ms.get() + TRUST_MS);
    let keys = Synced::new(
        Cached::new(
            &iso.cache,
            CachePolicy::default(),
            &iso.store,
            YieldPause,
            restarted.now_ms.get(),
        ),
        &iso.view,
        &restarted,
        iso.policy,
    );
    let l = block_on(keys.lookup(&ApiKey::new(&key).hash())).unwrap();
    assert!(
        matches!(l, Lookup::Found(r) if !r.disabled),
        "the store answers again"
    );
    assert_eq!(iso.view.overrides(), 0);
    assert_eq!(iso.view.seq(), Some(0));
}

#[test]
fn with_the_feed_off_the_log_is_never_asked() {
    let w = World::default();
    let (key, mut iso) = created(&w, OnLogFault::FailClosed);
    iso.policy.trust_ms = 0;
    w.log.fail(CallKind::Changes);
    for _ in 0..5 {
        iso.advance_ms(10_000);
        assert_eq!(iso.state(&key), "active");
    }
    assert_eq!(
        iso.feed.log_reads.get(),
        1,
        "only the first lookup, with the feed on"
    );
}

#[test]
fn a_busy_isolate_syncs_ahead_after_half_the_period_so_no_request_waits() {
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::KvBound);
    let id = ApiKey::new(&key).hash().id().to_owned();
    assert_eq!(w.admin("DELETE", &format!("/keys/{id}"), None).status, 204);
    // Before half the period: nothing to do.
    iso.advance_ms(TRUST_MS / 2 - 1);
    let keys = iso.keys();
    block_on(keys.lookup(&ApiKey::new(&key).hash())).unwrap();
    assert!(!keys.sync_ahead.get());
    // Past it: the lookup answers from the view it has, without a sync, and asks for one ahead.
    iso.advance_ms(1);
    let reads = iso.feed.log_reads.get();
    let keys = iso.keys();
    let l = block_on(keys.lookup(&ApiKey::new(&key).hash())).unwrap();
    assert!(matches!(l, Lookup::Found(_)), "still within the period");
    assert_eq!(*keys.sync.borrow(), Some(SyncOutcome::Fresh));
    assert!(keys.sync_ahead.get());
    assert_eq!(iso.feed.log_reads.get(), reads);
    // The edge runs it after the answer; the next lookup needs no sync and sees the tombstone.
    block_on(
        iso.view
            .sync_ahead(&iso.policy, &&iso.feed, &iso.cache, iso.feed.now_ms.get()),
    );
    assert_eq!(iso.feed.log_reads.get(), reads + 1);
    let (l, sync) = iso.lookup(&key);
    assert!(matches!(l, Ok(Lookup::Refused(InvalidKey::Unknown))));
    assert_eq!(sync, Some(SyncOutcome::Fresh));
    // Once synced, the view wants no other sync ahead until half a period later.
    assert!(!iso
        .view
        .wants_sync_ahead(&iso.policy, iso.feed.now_ms.get()));
}

#[test]
fn a_failed_sync_ahead_leaves_the_fault_to_the_first_request_that_must_sync() {
    let w = World::default();
    let (key, iso) = created(&w, OnLogFault::KvBound);
    w.log.fail(CallKind::Changes);
    iso.advance_ms(TRUST_MS / 2);
    let now = iso.feed.now_ms.get();
    assert!(iso.view.wants_sync_ahead(&iso.policy, now));
    block_on(
        iso.view
            .sync_ahead(&iso.policy, &&iso.feed, &iso.cache, now),
    );
    // Not recorded as a failure: still wanted, and the request past the period tries and reports.
    assert!(iso.view.wants_sync_ahead(&iso.policy, now));
    iso.advance_ms(TRUST_MS / 2);
    let (l, sync) = iso.lookup(&key);
    assert!(matches!(l, Ok(Lookup::Found(_))));
    assert!(
        matches!(sync, Some(SyncOutcome::Stale(Some(_)))),
        "{sync:?}"
    );
}

#[test]
fn the_isolate_that_made_a_write_holds_it_at_once_without_waiting_for_a_sync() {
    // The isolate serving the management API is `w.view` and `w.cache` (as at the edge, where
    // the write and the data plane share the isolate). Its store stays stale.
    let w = World::default();
    let (key, _) = w.key("acme", json!({}));
    let store = FakeStore::default();
    store.put(&key, &stored(&w, &key));
    let feed = Feed::new(&w.log);
    let policy = SyncPolicy {
        trust_ms: TRUST_MS,
        on_fault: OnLogFault::KvBound,
    };
    let lookup = |now_ms: u64| {
        let cached = Cached::new(&w.cache, CachePolicy::default(), &store, YieldPause, now_ms);
        let keys = Synced::new(cached, &w.view, &feed, policy);
        block_on(keys.lookup(&ApiKey::new(&key).hash())).unwrap()
    };
    assert!(matches!(lookup(NOW * 1000), Lookup::Found(r) if !r.disabled));
    assert_eq!(feed.log_reads.get(), 1);
    disable(&w, &key);
    // Within the trust period, with no sync: the write's own entry answers.
    assert!(matches!(lookup(NOW * 1000 + 1), Lookup::Found(r) if r.disabled));
    let id = ApiKey::new(&key).hash().id().to_owned();
    assert_eq!(w.admin("DELETE", &format!("/keys/{id}"), None).status, 204);
    assert!(matches!(
        lookup(NOW * 1000 + 2),
        Lookup::Refused(InvalidKey::Unknown)
    ));
    assert_eq!(feed.log_reads.get(), 1, "no sync was needed");
    // The sync that brings the same entries later changes nothing.
    feed.now_ms.set(NOW * 1000 + TRUST_MS);
    assert!(matches!(
        lookup(NOW * 1000 + TRUST_MS),
        Lookup::Refused(InvalidKey::Unknown)
    ));
    assert_eq!(feed.log_reads.get(), 2);
}
