//! The per-isolate key cache: hash → decoded record, or "no usable record", with a TTL, a bound on
//! entries and bytes, and request coalescing (concurrent lookups of one hash share one store read).
//!
//! Fail closed: an entry past its TTL is never served, and a store fault is never cached. A fault
//! while refreshing an entry therefore answers 503, never the stale record. Only hashes are kept,
//! never a plaintext key.

use crate::coalesce::{Flight, Lead, Waited};
use crate::config::CachePolicy;
use crate::record::{InvalidKey, KeyRecord};
use crate::secret::KeyHash;
use crate::store::{KeyStore, StoreError};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// Bytes counted per entry besides its record: key, bookkeeping, allocation slack.
const ENTRY_OVERHEAD: usize = 160;

/// The answer of one lookup: what the gateway needs to decide.
#[derive(Debug, Clone)]
pub enum Lookup {
    Found(Rc<KeyRecord>),
    /// No usable record: unknown, or stored but corrupt.
    Refused(InvalidKey),
}

/// Where a lookup's answer came from, for the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A fresh cache entry.
    Hit,
    /// Another request's read that was in flight (coalesced).
    Shared,
    /// This request read the store.
    Miss,
    /// The cache is off (`KEY_CACHE_TTL_SECS=0`).
    Off,
    /// A change-feed entry answered, before the cache and KV ([`crate::changes`]).
    Feed,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Shared => "shared",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Off => "off",
            CacheOutcome::Feed => "feed",
        }
    }
}

struct Entry {
    lookup: Lookup,
    expires_ms: u64,
    bytes: usize,
    /// Matches the `order` queue item that inserted it, so stale queue items are skipped.
    generation: u64,
}

pub use crate::coalesce::{Pause, COALESCE_MAX_POLLS, COALESCE_POLL_MS};

/// A key's store read in flight, shared by the requests that look the key up meanwhile.
type Pending = Flight<Result<Lookup, StoreError>>;

/// The cache. One per isolate at the edge (a thread-local), one per test natively.
#[derive(Default)]
pub struct KeyCache {
    entries: RefCell<HashMap<String, Entry>>,
    /// Insertion order, for eviction: oldest first.
    order: RefCell<VecDeque<(String, u64)>>,
    pending: RefCell<HashMap<String, Rc<Pending>>>,
    bytes: Cell<usize>,
    generation: Cell<u64>,
}

/// Counters for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
}

impl KeyCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.entries.borrow().len(),
            bytes: self.bytes.get(),
        }
    }

    /// Drops the entry for `hash`, if any: the change feed changed its record.
    pub fn evict(&self, hash: &KeyHash) {
        if let Some(e) = self.entries.borrow_mut().remove(hash.as_kv_key()) {
            self.bytes.set(self.bytes.get() - e.bytes);
        }
    }

    /// Drops every entry: the change feed cannot say which ones changed.
    pub fn clear(&self) {
        self.entries.borrow_mut().clear();
        self.order.borrow_mut().clear();
        self.bytes.set(0);
    }

    /// The lookup for `hash` at `now_ms`: from the cache while fresh, else from `store` (one read
    /// shared by every concurrent caller), decoded once and cached under `policy`.
    pub async fn lookup<S: KeyStore, P: Pause>(
        &self,
        policy: &CachePolicy,
        store: &S,
        pause: &P,
        hash: &KeyHash,
        now_ms: u64,
    ) -> Result<Lookup, StoreError> {
        self.lookup_traced(policy, store, pause, hash, now_ms)
            .await
            .map(|(lookup, _)| lookup)
    }

    /// [`KeyCache::lookup`], also saying where the answer came from.
    pub async fn lookup_traced<S: KeyStore, P: Pause>(
        &self,
        policy: &CachePolicy,
        store: &S,
        pause: &P,
        hash: &KeyHash,
        now_ms: u64,
    ) -> Result<(Lookup, CacheOutcome), StoreError> {
        if policy.ttl_ms == 0 {
            return Ok((load(store, hash).await?, CacheOutcome::Off));
        }
        let key = hash.as_kv_key();
        loop {
            if let Some(hit) = self.fresh(key, now_ms) {
                return Ok((hit, CacheOutcome::Hit));
            }
            let in_flight = self.pending.borrow().get(key).cloned();
            if let Some(flight) = in_flight {
                match flight.wait(pause).await {
                    Waited::Done(result) => return result.map(|l| (l, CacheOutcome::Shared)),
                    // The loader went away: look again, maybe as the loader.
                    Waited::Abandoned => continue,
                    // The loader is taking too long: read here, as the loader.
                    Waited::TimedOut => {}
                }
            }
            let lookup = self.load_as_leader(policy, store, hash, now_ms).await?;
            return Ok((lookup, CacheOutcome::Miss));
        }
    }

    async fn load_as_leader<S: KeyStore>(
        &self,
        policy: &CachePolicy,
        store: &S,
        hash: &KeyHash,
        now_ms: u64,
    ) -> Result<Lookup, StoreError> {
        let key = hash.as_kv_key();
        // Released when the load ends or is dropped, unless another load has the key by then.
        let lead = Lead::new(|flight: &Rc<Pending>| {
            let mut pending = self.pending.borrow_mut();
            if pending.get(key).is_some_and(|p| Rc::ptr_eq(p, flight)) {
                pending.remove(key);
            }
        });
        self.pending
            .borrow_mut()
            .insert(key.to_owned(), lead.flight());
        let result = load_sized(store, hash).await.map(|(lookup, raw_len)| {
            self.insert(policy, key, lookup.clone(), raw_len, now_ms);
            lookup
        });
        lead.land(result.clone());
        result
    }

    fn fresh(&self, key: &str, now_ms: u64) -> Option<Lookup> {
        let mut entries = self.entries.borrow_mut();
        match entries.get(key) {
            Some(e) if now_ms < e.expires_ms => Some(e.lookup.clone()),
            Some(_) => {
                // Expired: never served, dropped now so it costs no memory.
                if let Some(e) = entries.remove(key) {
                    self.bytes.set(self.bytes.get() - e.bytes);
                }
                None
            }
            None => None,
        }
    }

    /// Caches `lookup`; `raw_len` is the stored JSON's length, a fair stand-in for its size.
    fn insert(&self, policy: &CachePolicy, key: &str, lookup: Lookup, raw_len: usize, now_ms: u64) {
        let (ttl, record_bytes) = match &lookup {
            Lookup::Found(_) => (policy.ttl_ms, raw_len.saturating_mul(2)),
            Lookup::Refused(_) => (policy.negative_ttl_ms, 0),
        };
        if ttl == 0 {
            return;
        }
        let bytes = key.len() + record_bytes + ENTRY_OVERHEAD;
        if bytes > policy.max_bytes {
            return;
        }
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        let mut entries = self.entries.borrow_mut();
        let mut order = self.order.borrow_mut();
        if let Some(old) = entries.insert(
            key.to_owned(),
            Entry {
                lookup,
                expires_ms: now_ms.saturating_add(ttl),
                bytes,
                generation,
            },
        ) {
            self.bytes.set(self.bytes.get() - old.bytes);
        }
        self.bytes.set(self.bytes.get() + bytes);
        order.push_back((key.to_owned(), generation));
        // Evict oldest first until within both bounds. Queue items whose entry was replaced or
        // removed since are skipped.
        while entries.len() > policy.max_entries || self.bytes.get() > policy.max_bytes {
            let Some((k, g)) = order.pop_front() else {
                break;
            };
            if entries.get(&k).is_some_and(|e| e.generation == g) {
                if let Some(e) = entries.remove(&k) {
                    self.bytes.set(self.bytes.get() - e.bytes);
                }
            }
        }
        // Keep the queue from growing without bound under constant replacement.
        if order.len() > 2 * policy.max_entries.max(16) {
            order.retain(|(k, g)| entries.get(k).is_some_and(|e| e.generation == *g));
        }
    }
}

/// One uncached lookup: a store read and one decode.
pub async fn load<S: KeyStore>(store: &S, hash: &KeyHash) -> Result<Lookup, StoreError> {
    load_sized(store, hash).await.map(|(lookup, _)| lookup)
}

/// [`load`], plus the stored value's length.
async fn load_sized<S: KeyStore>(store: &S, hash: &KeyHash) -> Result<(Lookup, usize), StoreError> {
    Ok(match store.get(hash).await? {
        None => (Lookup::Refused(InvalidKey::Unknown), 0),
        Some(raw) => {
            let lookup = match KeyRecord::decode(&raw, hash) {
                Ok(r) => Lookup::Found(Rc::new(r)),
                Err(c) => Lookup::Refused(InvalidKey::Corrupt(c)),
            };
            (lookup, raw.len())
        }
    })
}

/// Where `authorize` gets a key's decoded record: a [`KeyStore`] read directly, or through the
/// per-isolate cache ([`Cached`]).
#[allow(async_fn_in_trait)]
pub trait KeyLookup {
    async fn lookup(&self, hash: &KeyHash) -> Result<Lookup, StoreError>;
}

impl<S: KeyStore> KeyLookup for S {
    async fn lookup(&self, hash: &KeyHash) -> Result<Lookup, StoreError> {
        load(self, hash).await
    }
}

/// A key store read through a [`KeyCache`] at `now_ms` (Unix milliseconds); `pause` is how a
/// request waits for another's read of the same key. `outcome` records where the answer came
/// from and `found` the record it found (also for a key then refused as disabled, expired, out
/// of scope or over a limit), for the request log.
pub struct Cached<'a, S, P> {
    pub cache: &'a KeyCache,
    pub policy: CachePolicy,
    pub store: &'a S,
    pub pause: P,
    pub now_ms: u64,
    pub outcome: Cell<Option<CacheOutcome>>,
    pub found: RefCell<Option<Rc<KeyRecord>>>,
}

impl<'a, S, P> Cached<'a, S, P> {
    pub fn new(
        cache: &'a KeyCache,
        policy: CachePolicy,
        store: &'a S,
        pause: P,
        now_ms: u64,
    ) -> Self {
        Self {
            cache,
            policy,
            store,
            pause,
            now_ms,
            outcome: Cell::new(None),
            found: RefCell::new(None),
        }
    }
}

impl<S: KeyStore, P: Pause> KeyLookup for Cached<'_, S, P> {
    async fn lookup(&self, hash: &KeyHash) -> Result<Lookup, StoreError> {
        let (lookup, outcome) = self
            .cache
            .lookup_traced(&self.policy, self.store, &self.pause, hash, self.now_ms)
            .await?;
        self.outcome.set(Some(outcome));
        if let Lookup::Found(record) = &lookup {
            *self.found.borrow_mut() = Some(record.clone());
        }
        Ok(lookup)
    }
}
