//! The change feed: every key write the management API makes, kept by the management log for
//! [`WINDOW_SECS`] (longer than KV can stay stale), and each isolate's view of it
//! ([`ChangeView`]), which is what lets a revocation hold everywhere in seconds.
//!
//! - The management API appends a [`Change`] (the key's hash and its new record, or a tombstone)
//!   with the write's audit entry, in one call to the log ([`crate::management_log`]).
//! - An isolate trusts its key cache, and its KV reads, only while its last sync with the log is
//!   younger than `REVOCATION_SYNC_SECS` ([`SyncPolicy::trust_ms`]). The request that finds the
//!   view older syncs it ([`ChangeView::refresh`]); concurrent requests of the isolate share that
//!   one sync. A busy isolate syncs ahead instead: a request that finds the view past half its
//!   period has the edge sync it after the answer ([`ChangeView::sync_ahead`]), so no request
//!   waits. A sync reads the window's first page through a [`ChangeFeed`] (the edge's shares
//!   one read per location through the Cache API), then pages on from the log itself.
//! - A synced entry overrides what KV returns for its key until the entry leaves the window, so a
//!   stale KV read cannot bring back a revoked key, and evicts the key's cache entry. An isolate
//!   that missed entries which have left the window (it was idle) clears its whole cache.
//! - When the log cannot be reached, [`OnLogFault`] decides: fail closed (503), or carry on with
//!   the cache and KV (the KV bound) and log the fault.

use crate::cache::{CacheOutcome, Cached, KeyCache, KeyLookup, Lookup};
use crate::coalesce::{Flight, Lead, Pause, Waited};
pub use crate::config::{OnLogFault, SyncPolicy};
use crate::record::{InvalidKey, KeyRecord};
use crate::secret::KeyHash;
use crate::store::{KeyStore, LogError, StoreError};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// How long the log keeps an entry, and how long a synced entry overrides KV: longer than KV's
/// worst case (a 30 s `cacheTtl` on top of 60 s or more of propagation), with room to spare.
pub const WINDOW_SECS: u64 = 300;
/// The most entries one page of the feed holds.
pub const MAX_PAGE: usize = 500;
/// After a failed sync, an isolate waits this long before it tries the log again (requests in
/// between fail closed at once, or go on the KV bound, as [`OnLogFault`] says).
pub const RETRY_AFTER_FAULT_MS: u64 = 1_000;

/// One key write, as the management API appends it: the key's hash (the KV name) and its record
/// as stored, or `None` for a key that was deleted (revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub hash: String,
    pub record: Option<String>,
}

impl Change {
    /// A key stored (created, updated, rotated) with `record`.
    pub fn stored(hash: &KeyHash, record: &KeyRecord) -> Self {
        Self {
            hash: hash.as_kv_key().to_owned(),
            record: Some(record.to_json()),
        }
    }

    /// A key deleted: the tombstone.
    pub fn deleted(hash: &KeyHash) -> Self {
        Self {
            hash: hash.as_kv_key().to_owned(),
            record: None,
        }
    }
}

/// One entry of the log's change table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEntry {
    pub seq: u64,
    /// When it was appended, Unix seconds.
    pub at: u64,
    pub hash: String,
    pub record: Option<String>,
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePage {
    /// The clock of the isolate that asked the log for this page (Unix ms), taken before it
    /// asked: the page holds every entry appended before then.
    pub as_of_ms: u64,
    /// The highest sequence number the log has given out (0 before the first).
    pub head: u64,
    /// The lowest sequence number still in the window (`head + 1` when the window is empty). A
    /// reader whose last seen number is below `first - 1` missed entries that left the window.
    pub first: u64,
    /// Entries after the asked-for number (or the whole window), oldest first.
    pub entries: Vec<ChangeEntry>,
    /// More entries follow the last one here: ask again after it.
    pub more: bool,
}

/// The log's change table, as plain reads and writes (SQL at the edge):
/// ```sql
/// CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT,
///   at INTEGER NOT NULL, hash TEXT NOT NULL, record TEXT /* NULL: deleted */);
/// ```
pub trait ChangeTables {
    /// `INSERT INTO changes (at, hash, record)`; the row's new `seq`.
    fn insert_change(&self, at: u64, change: &Change) -> Result<u64, LogError>;
    /// `DELETE FROM changes WHERE at < ?before AND seq < (SELECT MAX(seq) FROM changes)`: old
    /// entries go, the newest stays (it carries the head).
    fn delete_changes_before(&self, before: u64) -> Result<(), LogError>;
    /// `SELECT … WHERE seq > ?after AND at >= ?since ORDER BY seq LIMIT ?limit`.
    fn select_changes(
        &self,
        after: u64,
        since: u64,
        limit: usize,
    ) -> Result<Vec<ChangeEntry>, LogError>;
    /// `SELECT MAX(seq), MIN(seq) FILTER (WHERE at >= ?since)`: the head (0 for none) and the
    /// first number in the window, if any.
    fn change_bounds(&self, since: u64) -> Result<(u64, Option<u64>), LogError>;
}

/// Appends `changes` made at `at` (Unix seconds) and drops entries that left the window; the
/// first change's sequence number (the others follow it one by one).
pub fn append(
    tables: &impl ChangeTables,
    at: u64,
    changes: &[Change],
) -> Result<Option<u64>, LogError> {
    let mut first = None;
    for c in changes {
        let seq = tables.insert_change(at, c)?;
        first.get_or_insert(seq);
    }
    if !changes.is_empty() {
        tables.delete_changes_before(at.saturating_sub(WINDOW_SECS))?;
    }
    Ok(first)
}

/// The page after `after` (`None`: the whole window) as of `now_ms`.
pub fn page(
    tables: &impl ChangeTables,
    after: Option<u64>,
    now_ms: u64,
) -> Result<ChangePage, LogError> {
    let since = (now_ms / 1000).saturating_sub(WINDOW_SECS);
    let (head, first) = tables.change_bounds(since)?;
    let first = first.unwrap_or(head + 1);
    let mut entries = tables.select_changes(after.unwrap_or(0), since, MAX_PAGE + 1)?;
    let more = entries.len() > MAX_PAGE;
    entries.truncate(MAX_PAGE);
    Ok(ChangePage {
        as_of_ms: now_ms,
        head,
        first,
        entries,
        more,
    })
}

/// Where an isolate reads the feed.
#[allow(async_fn_in_trait)] // Workers futures are single-threaded; no Send bound is wanted.
pub trait ChangeFeed {
    /// The window's first page, as of no longer than `max_age_ms` ago (the edge may answer from
    /// a page another isolate of its location read).
    async fn window(&self, max_age_ms: u64) -> Result<ChangePage, LogError>;
    /// The entries after `seq`, from the log itself.
    async fn after(&self, seq: u64) -> Result<ChangePage, LogError>;
}

/// How the view stood for one lookup, for the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The view was fresh: no sync.
    Fresh,
    /// This request synced the view.
    Synced,
    /// Another request's sync, in flight, was waited for.
    Shared,
    /// The log could not be reached and the policy is [`OnLogFault::KvBound`]: the lookup goes
    /// on with the cache and KV. `Some(detail)` for the request whose sync failed (it logs the
    /// fault), `None` for requests while the isolate waits to try again.
    Stale(Option<String>),
}

impl SyncOutcome {
    /// The request log's `sync` field: `None` for a fresh view (most requests).
    pub fn log_name(&self) -> Option<&'static str> {
        match self {
            SyncOutcome::Fresh => None,
            SyncOutcome::Synced => Some("synced"),
            SyncOutcome::Shared => Some("shared"),
            SyncOutcome::Stale(_) => Some("stale"),
        }
    }
}

/// A synced entry: what a lookup of its key answers until `until` (Unix seconds).
struct Override {
    /// The entry's sequence number: an older entry never replaces a newer one.
    seq: u64,
    until: u64,
    lookup: Lookup,
}

#[derive(Default)]
struct ViewState {
    /// The last sequence number applied.
    seq: Option<u64>,
    /// The `as_of_ms` of the last complete sync.
    as_of_ms: Option<u64>,
    overrides: HashMap<String, Override>,
    /// When the last sync failed, if it has not succeeded since.
    failed_at_ms: Option<u64>,
}

/// A sync in flight, shared by the requests that need it meanwhile (they wait on it as the key
/// cache's waiters do: see [`crate::coalesce`]).
type PendingSync = Flight<Result<(), LogError>>;

/// One isolate's view of the feed: its overrides and how fresh they are. One per isolate at the
/// edge (beside the key cache), one per test natively.
#[derive(Default)]
pub struct ChangeView {
    state: RefCell<ViewState>,
    pending: RefCell<Option<Rc<PendingSync>>>,
}

impl ChangeView {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys the view overrides now.
    pub fn overrides(&self) -> usize {
        self.state.borrow().overrides.len()
    }

    /// The last sequence number applied.
    pub fn seq(&self) -> Option<u64> {
        self.state.borrow().seq
    }

    /// What a lookup of `hash` answers from the feed, if a synced entry covers it at `now`
    /// (Unix seconds). An entry that left the window is dropped here, with the cache entry that
    /// a KV read made while it was in force (KV has caught up by then).
    pub fn overridden(&self, cache: &KeyCache, hash: &KeyHash, now: u64) -> Option<Lookup> {
        let mut state = self.state.borrow_mut();
        if state.overrides.is_empty() {
            return None;
        }
        let o = state.overrides.get(hash.as_kv_key())?;
        if now < o.until {
            return Some(o.lookup.clone());
        }
        state.overrides.remove(hash.as_kv_key());
        cache.evict(hash);
        None
    }

    /// Applies changes this isolate has just appended (numbered from `first`, at `at`), before
    /// any sync brings them: the management API's writes hold at once where they were made.
    pub fn apply_local(&self, changes: &[Change], first: u64, at: u64, cache: &KeyCache) {
        let mut state = self.state.borrow_mut();
        for (seq, c) in (first..).zip(changes) {
            if let Some(hash) = KeyHash::parse(&c.hash) {
                put(&mut state, &hash, seq, at, c.record.as_deref(), cache);
            }
        }
    }

    /// Makes the view fresh enough for a lookup at `now_ms`: nothing when its last sync is
    /// younger than `policy.trust_ms`, else a sync (shared with concurrent requests). A failed
    /// sync is an error under [`OnLogFault::FailClosed`] and [`SyncOutcome::Stale`] otherwise.
    pub async fn refresh<F: ChangeFeed, P: Pause>(
        &self,
        policy: &SyncPolicy,
        feed: &F,
        cache: &KeyCache,
        pause: &P,
        now_ms: u64,
    ) -> Result<SyncOutcome, StoreError> {
        if policy.trust_ms == 0 || self.is_fresh(policy, now_ms) {
            return Ok(SyncOutcome::Fresh);
        }
        let recently_failed = self
            .state
            .borrow()
            .failed_at_ms
            .is_some_and(|t| now_ms < t.saturating_add(RETRY_AFTER_FAULT_MS));
        if recently_failed {
            return fault(policy, None);
        }
        let in_flight = self.pending.borrow().clone();
        let shared = match in_flight {
            Some(flight) => match flight.wait(pause).await {
                Waited::Done(r) => Some(r),
                // The leader went away, or is taking too long: sync here.
                Waited::Abandoned | Waited::TimedOut => None,
            },
            None => None,
        };
        let (result, outcome) = match shared {
            Some(r) => (r, SyncOutcome::Shared),
            None => (
                self.lead(policy, feed, cache, now_ms, true).await,
                SyncOutcome::Synced,
            ),
        };
        match result {
            Ok(()) => Ok(outcome),
            Err(e) if outcome == SyncOutcome::Synced => fault(policy, Some(e.0)),
            Err(_) => fault(policy, None),
        }
    }

    fn is_fresh(&self, policy: &SyncPolicy, now_ms: u64) -> bool {
        self.state
            .borrow()
            .as_of_ms
            .is_some_and(|t| now_ms < t.saturating_add(policy.trust_ms))
    }

    /// Whether a request at `now_ms` should start a sync in the background: the view is past
    /// half its trust period but not yet past it, and no sync is running or has just failed. A
    /// busy isolate so keeps its view fresh without any request waiting for a sync.
    pub fn wants_sync_ahead(&self, policy: &SyncPolicy, now_ms: u64) -> bool {
        if policy.trust_ms == 0 || self.pending.borrow().is_some() {
            return false;
        }
        let state = self.state.borrow();
        let half = state
            .as_of_ms
            .is_some_and(|t| now_ms >= t.saturating_add(policy.trust_ms / 2));
        let recently_failed = state
            .failed_at_ms
            .is_some_and(|t| now_ms < t.saturating_add(RETRY_AFTER_FAULT_MS));
        half && !recently_failed && self.is_fresh(policy, now_ms)
    }

    /// A sync that no request waits for (the edge runs it after the answer, `wait_until`), when
    /// [`ChangeView::wants_sync_ahead`] still holds. Requests that need the view meanwhile share
    /// it. Its failure is not recorded: the first request that finds the view too old then tries
    /// itself, and reports the fault as the policy says.
    pub async fn sync_ahead<F: ChangeFeed>(
        &self,
        policy: &SyncPolicy,
        feed: &F,
        cache: &KeyCache,
        now_ms: u64,
    ) {
        if self.wants_sync_ahead(policy, now_ms) {
            let _ = self.lead(policy, feed, cache, now_ms, false).await;
        }
    }

    /// Runs a sync as the one every concurrent request shares; `record_failure`: a failure
    /// holds further attempts off for [`RETRY_AFTER_FAULT_MS`].
    async fn lead<F: ChangeFeed>(
        &self,
        policy: &SyncPolicy,
        feed: &F,
        cache: &KeyCache,
        now_ms: u64,
        record_failure: bool,
    ) -> Result<(), LogError> {
        // Released when the sync ends or is dropped, unless another sync has taken its place.
        let lead = Lead::new(|flight: &Rc<PendingSync>| {
            let mut pending = self.pending.borrow_mut();
            if pending.as_ref().is_some_and(|p| Rc::ptr_eq(p, flight)) {
                *pending = None;
            }
        });
        *self.pending.borrow_mut() = Some(lead.flight());
        let result = self.sync(policy, feed, cache, now_ms).await;
        if record_failure || result.is_ok() {
            let mut state = self.state.borrow_mut();
            state.failed_at_ms = result.is_err().then_some(now_ms);
        }
        lead.land(result.clone());
        result
    }

    /// Reads the window's first page (no older than half the trust period, so the view it gives
    /// stays fresh a while), then the log's pages after it, applying each.
    async fn sync<F: ChangeFeed>(
        &self,
        policy: &SyncPolicy,
        feed: &F,
        cache: &KeyCache,
        now_ms: u64,
    ) -> Result<(), LogError> {
        let mut page = feed.window(policy.trust_ms / 2).await?;
        let as_of_ms = page.as_of_ms;
        loop {
            let next = self.apply(&page, cache);
            match next {
                Some(after) => page = feed.after(after).await?,
                None => break,
            }
        }
        let now = now_ms / 1000;
        let mut state = self.state.borrow_mut();
        state.as_of_ms = Some(as_of_ms);
        state.overrides.retain(|_, o| now < o.until);
        Ok(())
    }

    /// Applies one page: overrides for its new entries (their cache entries evicted), the whole
    /// cache cleared when entries were missed. Returns where the next page starts, if one
    /// follows.
    fn apply(&self, page: &ChangePage, cache: &KeyCache) -> Option<u64> {
        let mut state = self.state.borrow_mut();
        let mut seen = state.seq.unwrap_or(0);
        if state.seq.is_some() && page.head < seen {
            // The log started again (`wrangler dev` without its state): nothing known holds.
            cache.clear();
            state.overrides.clear();
            seen = 0;
        } else if state.seq.is_some() && page.first > seen.saturating_add(1) {
            // Missed entries that left the window: which keys they changed is unknown, so
            // nothing cached is kept (KV has caught up with them).
            cache.clear();
        }
        for e in page.entries.iter().filter(|e| e.seq > seen) {
            if let Some(hash) = KeyHash::parse(&e.hash) {
                put(&mut state, &hash, e.seq, e.at, e.record.as_deref(), cache);
            }
        }
        match page.entries.last() {
            Some(last) if page.more => {
                let after = last.seq.max(seen);
                state.seq = Some(after);
                Some(after)
            }
            _ => {
                state.seq = Some(page.head);
                None
            }
        }
    }
}

/// Makes the entry `seq` (appended at `at`, `record` or a tombstone) answer for `hash`, unless a
/// newer entry already does, and drops the key's cache entry.
fn put(
    state: &mut ViewState,
    hash: &KeyHash,
    seq: u64,
    at: u64,
    record: Option<&str>,
    cache: &KeyCache,
) {
    if state
        .overrides
        .get(hash.as_kv_key())
        .is_some_and(|o| o.seq >= seq)
    {
        return;
    }
    let lookup = match record {
        None => Lookup::Refused(InvalidKey::Unknown),
        Some(raw) => match KeyRecord::decode(raw, hash) {
            Ok(r) => Lookup::Found(Rc::new(r)),
            Err(c) => Lookup::Refused(InvalidKey::Corrupt(c)),
        },
    };
    cache.evict(hash);
    state.overrides.insert(
        hash.as_kv_key().to_owned(),
        Override {
            seq,
            until: at.saturating_add(WINDOW_SECS),
            lookup,
        },
    );
}

fn fault(policy: &SyncPolicy, detail: Option<String>) -> Result<SyncOutcome, StoreError> {
    match policy.on_fault {
        OnLogFault::KvBound => Ok(SyncOutcome::Stale(detail)),
        OnLogFault::FailClosed => Err(StoreError(format!(
            "revocation log unreachable{}",
            detail.map(|d| format!(": {d}")).unwrap_or_default()
        ))),
    }
}

/// A key store read through the change feed, then the per-isolate cache: the view is synced when
/// it is older than the policy allows, a synced entry answers for its key, and every other key
/// goes to [`Cached`]. `sync` records how the view stood, for the request log.
pub struct Synced<'a, S, P, F> {
    pub cached: Cached<'a, S, P>,
    pub view: &'a ChangeView,
    pub feed: F,
    pub policy: SyncPolicy,
    pub sync: RefCell<Option<SyncOutcome>>,
    /// The lookup found the view past half its trust period: the edge should start
    /// [`ChangeView::sync_ahead`] after the answer.
    pub sync_ahead: Cell<bool>,
}

impl<'a, S, P, F> Synced<'a, S, P, F> {
    pub fn new(
        cached: Cached<'a, S, P>,
        view: &'a ChangeView,
        feed: F,
        policy: SyncPolicy,
    ) -> Self {
        Self {
            cached,
            view,
            feed,
            policy,
            sync: RefCell::new(None),
            sync_ahead: Cell::new(false),
        }
    }
}

impl<S: KeyStore, P: Pause, F: ChangeFeed> KeyLookup for Synced<'_, S, P, F> {
    async fn lookup(&self, hash: &KeyHash) -> Result<Lookup, StoreError> {
        let c = &self.cached;
        if self.policy.trust_ms > 0 {
            let outcome = self
                .view
                .refresh(&self.policy, &self.feed, c.cache, &c.pause, c.now_ms)
                .await?;
            if outcome == SyncOutcome::Fresh {
                self.sync_ahead
                    .set(self.view.wants_sync_ahead(&self.policy, c.now_ms));
            }
            *self.sync.borrow_mut() = Some(outcome);
            if let Some(lookup) = self.view.overridden(c.cache, hash, c.now_ms / 1000) {
                c.outcome.set(Some(CacheOutcome::Feed));
                if let Lookup::Found(record) = &lookup {
                    *c.found.borrow_mut() = Some(record.clone());
                }
                return Ok(lookup);
            }
        }
        c.lookup(hash).await
    }
}
