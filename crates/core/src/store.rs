//! The stores the pipeline reads and spends: key records, rate-limit bindings and quota counters
//! (and reads without spending, [`QuotaReader`]),
//! as small async traits the edge implements over Workers bindings and tests implement in memory.
//! Their errors are infrastructure faults, never denials.

use crate::limits::{QuotaCount, Window};
use crate::secret::KeyHash;

/// A store of key records, addressed by key hash. The edge implements it over Workers KV;
/// tests implement it in memory.
#[allow(async_fn_in_trait)] // Workers futures are single-threaded; no Send bound is wanted.
pub trait KeyStore {
    /// The raw stored record for `hash`, `Ok(None)` when there is none.
    async fn get(&self, hash: &KeyHash) -> Result<Option<String>, StoreError>;
}

/// The key store could not answer. Its text must never contain a key or a full hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

/// The Workers Rate Limiting bindings, addressed by binding name.
#[allow(async_fn_in_trait)]
pub trait RateLimiter {
    /// Counts one request for `key` against `binding`: `Ok(true)` when it is within the limit.
    async fn limit(&self, binding: &str, key: &str) -> Result<bool, LimitError>;
}

/// The exact quota counters (one Durable Object each at the edge).
#[allow(async_fn_in_trait)]
pub trait QuotaStore {
    /// Spends one request of `counter`'s quota in `window`, atomically (see
    /// [`crate::limits::consume`]).
    async fn consume(
        &self,
        counter: &str,
        window: Window,
        limit: u64,
    ) -> Result<QuotaCount, LimitError>;
}

/// Reads a quota counter without spending from it: what the management API's usage and verify
/// endpoints report. At the edge, the same counters as [`QuotaStore`].
#[allow(async_fn_in_trait)]
pub trait QuotaReader {
    /// Requests counted by `counter` in the window starting at `window_start` (0 for a counter
    /// that has never counted, or counts another window).
    async fn used(&self, counter: &str, window_start: u64) -> Result<u64, LimitError>;
}

/// A limiter or quota store that could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// The binding is not configured: a configuration error, never a free pass.
    MissingBinding,
    /// The call failed. The text is for the operator's log; it never holds a key.
    Unavailable(String),
}

/// The management log (audit trail, idempotency claims, change feed) could not answer. The text
/// is for the operator's log; it never holds a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError(pub String);

impl LogError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LogError {}
