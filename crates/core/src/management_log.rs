//! The wire protocol between the worker and the `ManagementLog` Durable Object (binding
//! `MANAGEMENT_LOG`, one instance named `v1`), which keeps the audit trail, the idempotency
//! claims and the change feed ([`crate::changes`]) in SQLite. Core owns every rule of it; the
//! object only runs SQL.
//!
//! - The worker sends a [`LogCall`] as a JSON POST body; [`LogClient`] does it over any
//!   [`LogTransport`] (the edge's: a fetch to the object's stub) and implements
//!   [`AuditLog`] and [`IdempotencyStore`].
//! - The object implements [`LogTables`] (plain reads and writes of its two tables) and answers
//!   each call with [`serve`]: 200 with its JSON answer, or 500 with the [`LogError`]'s text.
//! - [`MemoryLog`] is both in memory, for tests: the same [`serve`], behind failures on request.

pub use crate::audit::Appended;
use crate::audit::{AuditEntry, AuditLog, LogError};
use crate::cache::KeyCache;
use crate::changes::ChangeView;
use crate::changes::{self, Change, ChangeEntry, ChangePage, ChangeTables};
use crate::idempotency::{self, Claim, Claimed, IdempotencyStore, StoredClaim, Write};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The most audit entries one list call returns.
pub const MAX_LIST: usize = 1000;

/// One call to the log, POSTed as JSON, externally tagged (`{"append":{"entry":…}}`: an
/// internally tagged enum costs serde's buffering deserializer in the wasm).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogCall {
    /// Append an audit entry (its `seq` ignored) and, in the same transaction, the key writes
    /// it records to the change feed (at the entry's `at`). Answer: [`Appended`].
    Append {
        entry: AuditEntry,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<Change>,
    },
    /// The change feed after `after` (`None`: the whole window) as of `now_ms`. Answer:
    /// [`ChangePage`].
    Changes { after: Option<u64>, now_ms: u64 },
    /// Audit entries after `after`, oldest first. Answer: [`Entries`].
    List {
        after: u64,
        limit: usize,
        consumer_prefix: Option<String>,
    },
    /// Claim an idempotency key. Answer: [`Claimed`].
    Claim { claim: Claim },
    /// Record the answer of a claim. Answer: [`Ack`].
    Complete {
        scope: String,
        key: String,
        salt: String,
        status: u16,
        body: String,
    },
    /// Give a claim up. Answer: [`Ack`].
    Release {
        scope: String,
        key: String,
        salt: String,
    },
}

impl LogCall {
    /// The call's kind, for logs and for failures planned in tests.
    pub fn kind(&self) -> CallKind {
        match self {
            LogCall::Append { .. } => CallKind::Append,
            LogCall::List { .. } => CallKind::List,
            LogCall::Changes { .. } => CallKind::Changes,
            LogCall::Claim { .. } => CallKind::Claim,
            LogCall::Complete { .. } => CallKind::Complete,
            LogCall::Release { .. } => CallKind::Release,
        }
    }
}

/// The kinds of [`LogCall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Append,
    List,
    Changes,
    Claim,
    Complete,
    Release,
}

/// The answer to [`LogCall::List`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entries {
    pub entries: Vec<AuditEntry>,
}

/// The answer to [`LogCall::Complete`] and [`LogCall::Release`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub ok: bool,
}

/// The Durable Object's tables, as plain reads and writes (the change table's are
/// [`ChangeTables`]) (SQL at the edge, each call
/// synchronous, so one [`serve`] runs without interleaving):
/// ```sql
/// CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
///   actor TEXT NOT NULL, action TEXT NOT NULL, key_ids TEXT NOT NULL /* JSON array */,
///   consumer_id TEXT, fields TEXT NOT NULL /* JSON array */, request_id TEXT NOT NULL);
/// CREATE TABLE IF NOT EXISTS idempotency (scope TEXT NOT NULL, key TEXT NOT NULL,
///   fingerprint TEXT NOT NULL, salt TEXT NOT NULL, state TEXT NOT NULL, status INTEGER,
///   body TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (scope, key));
/// ```
pub trait LogTables: ChangeTables {
    /// `INSERT INTO audit (…)` without `seq`; the row's new `seq`.
    fn insert_audit(&self, entry: &AuditEntry) -> Result<u64, LogError>;
    /// `SELECT … FROM audit WHERE seq > ?after AND (?prefix IS NULL OR
    /// substr(consumer_id, 1, length(?prefix)) = ?prefix) ORDER BY seq LIMIT ?limit`
    /// (the rule of [`crate::audit::visible_to`]).
    fn select_audit(
        &self,
        after: u64,
        limit: usize,
        consumer_prefix: Option<&str>,
    ) -> Result<Vec<AuditEntry>, LogError>;
    /// The row of (scope, key), if any.
    fn select_claim(&self, scope: &str, key: &str) -> Result<Option<StoredClaim>, LogError>;
    /// `INSERT OR REPLACE` the row of (scope, key).
    fn upsert_claim(&self, scope: &str, key: &str, row: &StoredClaim) -> Result<(), LogError>;
    fn delete_claim(&self, scope: &str, key: &str) -> Result<(), LogError>;
    /// `DELETE FROM idempotency WHERE created_at < ?`.
    fn delete_claims_before(&self, created_at: u64) -> Result<(), LogError>;
}

/// The Durable Object's handling of one call (the POST body): its JSON answer.
pub fn serve(tables: &impl LogTables, body: &str) -> Result<String, LogError> {
    let call: LogCall = serde_json::from_str(body)
        .map_err(|e| LogError::new(format!("not a management log call: {e}")))?;
    let answer = match call {
        LogCall::Append { entry, changes } => {
            let seq = tables.insert_audit(&entry)?;
            let first_change = changes::append(tables, entry.at, &changes)?;
            to_json(&Appended { seq, first_change })
        }
        LogCall::Changes { after, now_ms } => to_json(&changes::page(tables, after, now_ms)?),
        LogCall::List {
            after,
            limit,
            consumer_prefix,
        } => to_json(&Entries {
            entries: tables.select_audit(after, limit.min(MAX_LIST), consumer_prefix.as_deref())?,
        }),
        LogCall::Claim { claim } => {
            tables.delete_claims_before(idempotency::expired_before(claim.now))?;
            let stored = tables.select_claim(&claim.scope, &claim.key)?;
            let (answer, write) = idempotency::decide(stored.as_ref(), &claim);
            apply(tables, &claim.scope, &claim.key, write)?;
            to_json(&answer)
        }
        LogCall::Complete {
            scope,
            key,
            salt,
            status,
            body,
        } => {
            let stored = tables.select_claim(&scope, &key)?;
            apply(
                tables,
                &scope,
                &key,
                idempotency::complete(stored.as_ref(), &salt, status, &body),
            )?;
            to_json(&Ack { ok: true })
        }
        LogCall::Release { scope, key, salt } => {
            let stored = tables.select_claim(&scope, &key)?;
            apply(
                tables,
                &scope,
                &key,
                idempotency::release(stored.as_ref(), &salt),
            )?;
            to_json(&Ack { ok: true })
        }
    };
    Ok(answer)
}

fn apply(tables: &impl LogTables, scope: &str, key: &str, write: Write) -> Result<(), LogError> {
    match write {
        Write::Keep => Ok(()),
        Write::Put(row) => tables.upsert_claim(scope, key, &row),
        Write::Delete => tables.delete_claim(scope, key),
    }
}

fn to_json(v: &impl Serialize) -> String {
    serde_json::to_string(v).expect("log answers serialise")
}

/// How a call reaches the log: the edge POSTs the body to the Durable Object and returns the
/// text of a 200 answer (anything else, or no answer, is a [`LogError`]).
#[allow(async_fn_in_trait)] // Workers futures are single-threaded; no Send bound is wanted.
pub trait LogTransport {
    async fn send(&self, call: &LogCall, body: String) -> Result<String, LogError>;
}

/// The audit trail and the idempotency store over a [`LogTransport`].
pub struct LogClient<T>(pub T);

impl<T: LogTransport> LogClient<T> {
    async fn call<A: DeserializeOwned>(&self, call: LogCall) -> Result<A, LogError> {
        let body = to_json(&call);
        let answer = self.0.send(&call, body).await?;
        serde_json::from_str(&answer).map_err(|e| {
            LogError::new(format!(
                "management log: unreadable answer to {:?}: {e}",
                call.kind()
            ))
        })
    }
}

impl<T: LogTransport> LogClient<T> {
    /// The change feed after `after` (`None`: the whole window), as of `now_ms`.
    pub async fn changes(&self, after: Option<u64>, now_ms: u64) -> Result<ChangePage, LogError> {
        self.call(LogCall::Changes { after, now_ms }).await
    }
}

impl<T: LogTransport> AuditLog for LogClient<T> {
    async fn append(&self, entry: &AuditEntry, changes: &[Change]) -> Result<Appended, LogError> {
        self.call(LogCall::Append {
            entry: entry.clone(),
            changes: changes.to_vec(),
        })
        .await
    }

    async fn list(
        &self,
        after: u64,
        limit: usize,
        consumer_prefix: Option<&str>,
    ) -> Result<Vec<AuditEntry>, LogError> {
        let e: Entries = self
            .call(LogCall::List {
                after,
                limit,
                consumer_prefix: consumer_prefix.map(str::to_owned),
            })
            .await?;
        Ok(e.entries)
    }
}

impl<T: LogTransport> IdempotencyStore for LogClient<T> {
    async fn claim(&self, claim: &Claim) -> Result<Claimed, LogError> {
        self.call(LogCall::Claim {
            claim: claim.clone(),
        })
        .await
    }

    async fn complete(
        &self,
        scope: &str,
        key: &str,
        salt: &str,
        status: u16,
        body: &str,
    ) -> Result<(), LogError> {
        let _: Ack = self
            .call(LogCall::Complete {
                scope: scope.into(),
                key: key.into(),
                salt: salt.into(),
                status,
                body: body.into(),
            })
            .await?;
        Ok(())
    }

    async fn release(&self, scope: &str, key: &str, salt: &str) -> Result<(), LogError> {
        let _: Ack = self
            .call(LogCall::Release {
                scope: scope.into(),
                key: key.into(),
                salt: salt.into(),
            })
            .await?;
        Ok(())
    }
}

/// An audit log that also applies each appended change to this isolate's view of the feed at
/// once ([`ChangeView::apply_local`]): the isolate that made a write never answers from an older
/// entry, or its cache, until its next sync. Other isolates see it at their next sync.
pub struct Applied<'a, A> {
    pub log: &'a A,
    pub view: &'a ChangeView,
    pub cache: &'a KeyCache,
}

impl<A: AuditLog> AuditLog for Applied<'_, A> {
    async fn append(&self, entry: &AuditEntry, changes: &[Change]) -> Result<Appended, LogError> {
        let appended = self.log.append(entry, changes).await?;
        if let Some(first) = appended.first_change {
            self.view.apply_local(changes, first, entry.at, self.cache);
        }
        Ok(appended)
    }

    async fn list(
        &self,
        after: u64,
        limit: usize,
        consumer_prefix: Option<&str>,
    ) -> Result<Vec<AuditEntry>, LogError> {
        self.log.list(after, limit, consumer_prefix).await
    }
}

/// The log's tables in memory: what the Durable Object's SQLite holds.
#[derive(Debug, Default)]
pub struct MemoryTables {
    audit: RefCell<Vec<AuditEntry>>,
    changes: RefCell<Vec<ChangeEntry>>,
    change_seq: std::cell::Cell<u64>,
    claims: RefCell<BTreeMap<(String, String), StoredClaim>>,
}

impl MemoryTables {
    /// Every change-feed entry still kept, oldest first.
    pub fn changes(&self) -> Vec<ChangeEntry> {
        self.changes.borrow().clone()
    }

    /// Every audit entry, oldest first.
    pub fn audit(&self) -> Vec<AuditEntry> {
        self.audit.borrow().clone()
    }

    /// Every idempotency row, by (scope, key).
    pub fn claims(&self) -> BTreeMap<(String, String), StoredClaim> {
        self.claims.borrow().clone()
    }
}

impl ChangeTables for MemoryTables {
    fn insert_change(&self, at: u64, change: &Change) -> Result<u64, LogError> {
        let seq = self.change_seq.get() + 1;
        self.change_seq.set(seq);
        self.changes.borrow_mut().push(ChangeEntry {
            seq,
            at,
            hash: change.hash.clone(),
            record: change.record.clone(),
        });
        Ok(seq)
    }

    fn delete_changes_before(&self, before: u64) -> Result<(), LogError> {
        let mut rows = self.changes.borrow_mut();
        let newest = rows.last().map_or(0, |e| e.seq);
        rows.retain(|e| e.at >= before || e.seq == newest);
        Ok(())
    }

    fn select_changes(
        &self,
        after: u64,
        since: u64,
        limit: usize,
    ) -> Result<Vec<ChangeEntry>, LogError> {
        Ok(self
            .changes
            .borrow()
            .iter()
            .filter(|e| e.seq > after && e.at >= since)
            .take(limit)
            .cloned()
            .collect())
    }

    fn change_bounds(&self, since: u64) -> Result<(u64, Option<u64>), LogError> {
        let rows = self.changes.borrow();
        let head = rows.last().map_or(0, |e| e.seq);
        Ok((head, rows.iter().find(|e| e.at >= since).map(|e| e.seq)))
    }
}

impl LogTables for MemoryTables {
    fn insert_audit(&self, entry: &AuditEntry) -> Result<u64, LogError> {
        let mut audit = self.audit.borrow_mut();
        let seq = audit.last().map_or(0, |e| e.seq) + 1;
        audit.push(AuditEntry {
            seq,
            ..entry.clone()
        });
        Ok(seq)
    }

    fn select_audit(
        &self,
        after: u64,
        limit: usize,
        consumer_prefix: Option<&str>,
    ) -> Result<Vec<AuditEntry>, LogError> {
        Ok(self
            .audit
            .borrow()
            .iter()
            .filter(|e| e.seq > after && crate::audit::visible_to(e, consumer_prefix))
            .take(limit)
            .cloned()
            .collect())
    }

    fn select_claim(&self, scope: &str, key: &str) -> Result<Option<StoredClaim>, LogError> {
        Ok(self
            .claims
            .borrow()
            .get(&(scope.to_owned(), key.to_owned()))
            .cloned())
    }

    fn upsert_claim(&self, scope: &str, key: &str, row: &StoredClaim) -> Result<(), LogError> {
        self.claims
            .borrow_mut()
            .insert((scope.to_owned(), key.to_owned()), row.clone());
        Ok(())
    }

    fn delete_claim(&self, scope: &str, key: &str) -> Result<(), LogError> {
        self.claims
            .borrow_mut()
            .remove(&(scope.to_owned(), key.to_owned()));
        Ok(())
    }

    fn delete_claims_before(&self, created_at: u64) -> Result<(), LogError> {
        self.claims
            .borrow_mut()
            .retain(|_, row| row.created_at >= created_at);
        Ok(())
    }
}

/// The management log in memory, for tests: [`MemoryTables`] served by [`serve`] through the
/// JSON protocol, with calls that fail on request (as an unreachable Durable Object would).
/// Use it as `LogClient(MemoryLog::new())` or through [`MemoryLog::client`].
#[derive(Debug, Default)]
pub struct MemoryLog {
    pub tables: MemoryTables,
    failing: RefCell<Vec<CallKind>>,
    calls: RefCell<Vec<CallKind>>,
}

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls of `kind` fail from now on.
    pub fn fail(&self, kind: CallKind) {
        self.failing.borrow_mut().push(kind);
    }

    /// No call fails any more.
    pub fn heal(&self) {
        self.failing.borrow_mut().clear();
    }

    /// The kinds of every call made so far, failed ones included.
    pub fn calls(&self) -> Vec<CallKind> {
        self.calls.borrow().clone()
    }

    /// A client over this log.
    pub fn client(&self) -> LogClient<&Self> {
        LogClient(self)
    }
}

impl LogTransport for &MemoryLog {
    async fn send(&self, call: &LogCall, body: String) -> Result<String, LogError> {
        self.calls.borrow_mut().push(call.kind());
        if self.failing.borrow().contains(&call.kind()) {
            return Err(LogError::new(format!(
                "management log unavailable (test: {:?})",
                call.kind()
            )));
        }
        serve(&self.tables, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditAction;
    use pollster::block_on;

    fn entry(consumer: Option<&str>) -> AuditEntry {
        AuditEntry {
            seq: 99,
            at: 1_764_547_200,
            actor: "bootstrap".into(),
            action: AuditAction::KeyCreate,
            key_ids: vec!["0123456789ab".into()],
            consumer_id: consumer.map(str::to_owned),
            fields: vec![],
            request_id: "r".into(),
        }
    }

    fn claim(fp: &str, now: u64, salt: &str) -> Claim {
        Claim {
            scope: "bootstrap".into(),
            key: "k".into(),
            fingerprint: fp.into(),
            now,
            salt: salt.into(),
        }
    }

    #[test]
    fn calls_are_tagged_json() {
        let call = LogCall::Release {
            scope: "bootstrap".into(),
            key: "k".into(),
            salt: "s".into(),
        };
        let json = serde_json::to_string(&call).unwrap();
        assert_eq!(
            json,
            r#"{"release":{"scope":"bootstrap","key":"k","salt":"s"}}"#
        );
        assert_eq!(serde_json::from_str::<LogCall>(&json).unwrap(), call);
    }

    #[test]
    fn the_log_numbers_appends_itself_and_lists_by_prefix_in_pages() {
        let log = MemoryLog::new();
        let c = log.client();
        for consumer in [Some("acme-eu"), Some("globex"), None, Some("acme-us")] {
            block_on(c.append(&entry(consumer), &[])).unwrap();
        }
        let seqs = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(block_on(c.list(0, 10, None)).unwrap()), [1, 2, 3, 4]);
        assert_eq!(
            seqs(block_on(c.list(0, 10, Some("acme-"))).unwrap()),
            [1, 4]
        );
        assert_eq!(seqs(block_on(c.list(1, 1, Some("acme-"))).unwrap()), [4]);
        assert_eq!(seqs(block_on(c.list(2, 1, None)).unwrap()), [3]);
    }

    #[test]
    fn claims_go_through_the_rules_and_complete_once() {
        let log = MemoryLog::new();
        let c = log.client();
        assert_eq!(
            block_on(c.claim(&claim("f", 100, "s1"))).unwrap(),
            Claimed::New { salt: "s1".into() }
        );
        assert_eq!(
            block_on(c.claim(&claim("f", 101, "s2"))).unwrap(),
            Claimed::Pending
        );
        assert_eq!(
            block_on(c.claim(&claim("g", 101, "s2"))).unwrap(),
            Claimed::Mismatch
        );
        block_on(c.complete("bootstrap", "k", "s1", 201, r#"{"a":1}"#)).unwrap();
        assert_eq!(
            block_on(c.claim(&claim("f", 102, "s3"))).unwrap(),
            Claimed::Done {
                salt: "s1".into(),
                status: 201,
                body: r#"{"a":1}"#.into()
            }
        );
        // Another scope has keys of its own.
        let mut other = claim("g", 103, "s4");
        other.scope = "0123456789ab".into();
        assert!(matches!(
            block_on(c.claim(&other)).unwrap(),
            Claimed::New { .. }
        ));
    }

    #[test]
    fn a_released_claim_starts_afresh_and_expired_rows_are_swept() {
        let log = MemoryLog::new();
        let c = log.client();
        block_on(c.claim(&claim("f", 100, "s1"))).unwrap();
        block_on(c.release("bootstrap", "k", "s1")).unwrap();
        assert!(log.tables.claims().is_empty());
        block_on(c.claim(&claim("f", 100, "s2"))).unwrap();
        block_on(c.complete("bootstrap", "k", "s2", 201, "{}")).unwrap();
        let mut later = claim("x", 100 + idempotency::TTL_SECS, "s3");
        later.key = "other".into();
        block_on(c.claim(&later)).unwrap();
        let rows = log.tables.claims();
        assert_eq!(rows.len(), 1, "the expired row is gone: {rows:?}");
        assert!(rows.contains_key(&("bootstrap".into(), "other".into())));
    }

    #[test]
    fn a_failing_log_fails_only_its_kind_of_call() {
        let log = MemoryLog::new();
        log.fail(CallKind::Append);
        let c = log.client();
        assert!(block_on(c.append(&entry(None), &[])).is_err());
        assert!(log.tables.audit().is_empty());
        assert!(block_on(c.claim(&claim("f", 1, "s"))).is_ok());
        log.heal();
        assert!(block_on(c.append(&entry(None), &[])).is_ok());
        assert_eq!(
            log.calls(),
            [CallKind::Append, CallKind::Claim, CallKind::Append]
        );
    }

    fn change(n: u16, deleted: bool) -> Change {
        Change {
            hash: format!("{n:04x}").repeat(16),
            record: (!deleted).then(|| "{}".to_owned()),
        }
    }

    #[test]
    fn an_append_numbers_its_changes_with_the_entry_and_prunes_the_window_but_keeps_the_head() {
        let log = MemoryLog::new();
        let c = log.client();
        let mut e = entry(None);
        block_on(c.append(&e, &[change(1, false), change(2, true)])).unwrap();
        e.at += changes::WINDOW_SECS + 10;
        block_on(c.append(&e, &[])).unwrap();
        assert_eq!(
            log.tables.changes().len(),
            2,
            "an entry without changes prunes nothing"
        );
        block_on(c.append(&e, &[change(3, false)])).unwrap();
        let kept: Vec<u64> = log.tables.changes().iter().map(|c| c.seq).collect();
        assert_eq!(kept, [3]);
        // Everything old goes, even the last one, only when a newer one carries the head.
        e.at += changes::WINDOW_SECS + 10;
        block_on(c.append(&e, &[change(4, false)])).unwrap();
        let kept: Vec<u64> = log.tables.changes().iter().map(|c| c.seq).collect();
        assert_eq!(kept, [4]);
    }

    #[test]
    fn a_page_holds_the_window_after_the_asked_number_and_says_where_the_window_starts() {
        let log = MemoryLog::new();
        let c = log.client();
        let e = entry(None);
        let now_ms = (e.at + 10) * 1000;
        let empty = block_on(c.changes(None, now_ms)).unwrap();
        assert_eq!((empty.head, empty.first, empty.more), (0, 1, false));
        let batch: Vec<Change> = (0..=changes::MAX_PAGE as u16)
            .map(|n| change(n, false))
            .collect();
        block_on(c.append(&e, &batch)).unwrap();
        let p = block_on(c.changes(None, now_ms)).unwrap();
        let n = changes::MAX_PAGE as u64 + 1;
        assert_eq!((p.head, p.first, p.more, p.as_of_ms), (n, 1, true, now_ms));
        assert_eq!(p.entries.len(), changes::MAX_PAGE);
        let rest = block_on(c.changes(Some(changes::MAX_PAGE as u64), now_ms)).unwrap();
        assert_eq!(rest.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [n]);
        assert!(!rest.more);
        // Read after the window: nothing in it, and its start past the head.
        let later = (e.at + changes::WINDOW_SECS + 1) * 1000;
        let p = block_on(c.changes(Some(3), later)).unwrap();
        assert!(p.entries.is_empty());
        assert_eq!((p.head, p.first), (n, n + 1));
    }

    #[test]
    fn the_object_refuses_what_is_not_a_call() {
        let t = MemoryTables::default();
        assert!(serve(&t, "{\"drop_tables\":{}}").is_err());
        assert!(serve(&t, "not json").is_err());
    }
}
