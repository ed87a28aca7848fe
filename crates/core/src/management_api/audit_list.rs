//! `GET /audit`: the audit trail, oldest first, in pages; a confined root key sees only the
//! entries of its consumers (and of root keys confined within its prefix).

use super::answer::{ApiError, Reply};
use super::body::{self, Checker};
use super::keys::Ctx;
use super::Sleep;
use crate::audit::{AuditEntry, AuditLog};
use crate::idempotency::IdempotencyStore;
use crate::kv::KvStore;
use crate::store::{QuotaReader, RateLimiter};
use serde::Serialize;

impl<K, A, I, L, Q, S> Ctx<'_, '_, K, A, I, L, Q, S>
where
    K: KvStore,
    A: AuditLog,
    I: IdempotencyStore,
    L: RateLimiter,
    Q: QuotaReader,
    S: Sleep,
{
    pub async fn list_audit(&self, query: Option<&str>) -> Result<Reply, ApiError> {
        let mut c = Checker::default();
        let params = body::query(&mut c, query, &["limit", "cursor"]);
        let limit = body::page_limit(&mut c, &params);
        // The cursor is the last sequence number of the previous page.
        let after = match params.get("cursor") {
            None => 0,
            Some(cur) => cur
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0 && cur.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or_else(|| {
                    c.err("cursor", "cursor is not one this API gave out");
                    0
                }),
        };
        c.finish(Some(()))?;
        let entries = self
            .deps
            .audit
            .list(after, limit, self.who.prefix())
            .await
            .map_err(|e| ApiError::Log(e.0))?;
        #[derive(Serialize)]
        struct Page<'a> {
            entries: &'a [AuditEntry],
            cursor: Option<String>,
        }
        let cursor = (entries.len() >= limit)
            .then(|| entries.last().map(|e| e.seq.to_string()))
            .flatten();
        Ok(Reply::json(
            200,
            &Page {
                entries: &entries,
                cursor,
            },
        ))
    }
}
