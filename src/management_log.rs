//! The management log Durable Object (`ManagementLog`, one instance named `v1`): the management
//! API's audit trail, idempotency claims and change feed in SQLite. It answers the calls of
//! `keygate_core::management_log::LogCall` with core's `serve`, which holds every rule; this file
//! only runs the SQL of core's `LogTables` and `ChangeTables`.

use keygate_core::audit::{AuditAction, AuditEntry, LogError};
use keygate_core::changes::{Change, ChangeEntry, ChangeTables};
use keygate_core::idempotency::{ClaimState, StoredClaim};
use keygate_core::management_log::{serve, LogTables};
use serde::Deserialize;
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, SqlStorage, SqlStorageValue,
    State,
};

/// The tables, as `keygate_core::management_log::LogTables` describes them. `seq` is
/// AUTOINCREMENT, so a number is never given out twice, even after the last entry is gone.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
     at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, key_ids TEXT NOT NULL, \
     consumer_id TEXT, fields TEXT NOT NULL, request_id TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS idempotency (scope TEXT NOT NULL, key TEXT NOT NULL, \
     fingerprint TEXT NOT NULL, salt TEXT NOT NULL, state TEXT NOT NULL, status INTEGER, \
     body TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (scope, key))",
    // Expired claims are deleted by age on every claim.
    "CREATE INDEX IF NOT EXISTS idempotency_created_at ON idempotency (created_at)",
    // The change feed (`keygate_core::changes`): a NULL record is a deleted key.
    "CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
     at INTEGER NOT NULL, hash TEXT NOT NULL, record TEXT)",
    "CREATE INDEX IF NOT EXISTS changes_at ON changes (at)",
];

/// The management log: a SQLite-backed Durable Object. Each call runs its SQL synchronously,
/// with no await between reading a row and writing it, so calls never interleave: concurrent
/// claims of one idempotency key are decided one after the other, and appends are numbered in
/// the order they arrive.
#[durable_object(fetch)]
pub struct ManagementLog {
    tables: SqlTables,
}

impl DurableObject for ManagementLog {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        for statement in SCHEMA {
            // A failure here shows again, as an error answer, in the first call that needs the table.
            if let Err(e) = sql.exec(statement, None) {
                worker::console_error!("management log: schema: {e}");
            }
        }
        Self {
            tables: SqlTables(sql),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if req.method() != Method::Post {
            return Response::error("a management log call is a POST", 405);
        }
        let body = req.text().await?;
        match serve(&self.tables, &body) {
            Ok(answer) => Response::ok(answer),
            Err(LogError(message)) => Response::error(message, 500),
        }
    }
}

/// The object's SQLite database as core's `LogTables`.
struct SqlTables(SqlStorage);

/// A row of `audit` as SQLite gives it.
#[derive(Deserialize)]
struct AuditRow {
    seq: u64,
    at: u64,
    actor: String,
    action: String,
    key_ids: String,
    consumer_id: Option<String>,
    fields: String,
    request_id: String,
}

impl AuditRow {
    fn entry(self) -> Result<AuditEntry, LogError> {
        let corrupt = |what: &str| LogError::new(format!("audit entry {}: bad {what}", self.seq));
        let list = |text: &str, what: &str| {
            serde_json::from_str::<Vec<String>>(text).map_err(|_| corrupt(what))
        };
        Ok(AuditEntry {
            seq: self.seq,
            at: self.at,
            action: AuditAction::parse(&self.action).ok_or_else(|| corrupt("action"))?,
            key_ids: list(&self.key_ids, "key_ids")?,
            fields: list(&self.fields, "fields")?,
            actor: self.actor,
            consumer_id: self.consumer_id,
            request_id: self.request_id,
        })
    }
}

/// A row of `idempotency` as SQLite gives it.
#[derive(Deserialize)]
struct ClaimRow {
    fingerprint: String,
    salt: String,
    state: String,
    status: Option<u16>,
    body: Option<String>,
    created_at: u64,
}

#[derive(Deserialize)]
struct Seq {
    seq: u64,
}

/// The change table's bounds as SQLite gives them.
#[derive(Deserialize)]
struct Bounds {
    head: u64,
    first: Option<u64>,
}

fn sql_error(e: worker::Error) -> LogError {
    LogError::new(format!("management log: {e}"))
}

fn int(n: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn text(s: &str) -> SqlStorageValue {
    SqlStorageValue::String(s.to_owned())
}

fn opt_text(s: Option<&str>) -> SqlStorageValue {
    s.map_or(SqlStorageValue::Null, text)
}

fn json_list(items: &[String]) -> SqlStorageValue {
    SqlStorageValue::String(serde_json::to_string(items).expect("a list of strings serialises"))
}

impl SqlTables {
    fn run(&self, query: &str, bindings: Vec<SqlStorageValue>) -> Result<(), LogError> {
        self.0.exec(query, bindings).map(|_| ()).map_err(sql_error)
    }
}

impl LogTables for SqlTables {
    fn insert_audit(&self, entry: &AuditEntry) -> Result<u64, LogError> {
        let rows: Vec<Seq> = self
            .0
            .exec(
                "INSERT INTO audit (at, actor, action, key_ids, consumer_id, fields, request_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
                vec![
                    int(entry.at),
                    text(&entry.actor),
                    text(entry.action.as_str()),
                    json_list(&entry.key_ids),
                    opt_text(entry.consumer_id.as_deref()),
                    json_list(&entry.fields),
                    text(&entry.request_id),
                ],
            )
            .and_then(|c| c.to_array())
            .map_err(sql_error)?;
        rows.first()
            .map(|r| r.seq)
            .ok_or_else(|| LogError::new("management log: the insert returned no seq"))
    }

    fn select_audit(
        &self,
        after: u64,
        limit: usize,
        consumer_prefix: Option<&str>,
    ) -> Result<Vec<AuditEntry>, LogError> {
        let prefix = opt_text(consumer_prefix);
        let rows: Vec<AuditRow> = self
            .0
            .exec(
                "SELECT seq, at, actor, action, key_ids, consumer_id, fields, request_id \
                 FROM audit WHERE seq > ? \
                 AND (? IS NULL OR substr(consumer_id, 1, length(?)) = ?) \
                 ORDER BY seq LIMIT ?",
                vec![
                    int(after),
                    prefix.clone(),
                    prefix.clone(),
                    prefix,
                    int(limit as u64),
                ],
            )
            .and_then(|c| c.to_array())
            .map_err(sql_error)?;
        rows.into_iter().map(AuditRow::entry).collect()
    }

    fn select_claim(&self, scope: &str, key: &str) -> Result<Option<StoredClaim>, LogError> {
        let rows: Vec<ClaimRow> = self
            .0
            .exec(
                "SELECT fingerprint, salt, state, status, body, created_at FROM idempotency \
                 WHERE scope = ? AND key = ?",
                vec![text(scope), text(key)],
            )
            .and_then(|c| c.to_array())
            .map_err(sql_error)?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let state = ClaimState::parse(&row.state)
            .ok_or_else(|| LogError::new("management log: an idempotency row has a bad state"))?;
        Ok(Some(StoredClaim {
            fingerprint: row.fingerprint,
            salt: row.salt,
            state,
            status: row.status,
            body: row.body,
            created_at: row.created_at,
        }))
    }

    fn upsert_claim(&self, scope: &str, key: &str, row: &StoredClaim) -> Result<(), LogError> {
        self.run(
            "INSERT OR REPLACE INTO idempotency \
             (scope, key, fingerprint, salt, state, status, body, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                text(scope),
                text(key),
                text(&row.fingerprint),
                text(&row.salt),
                text(row.state.as_str()),
                row.status
                    .map_or(SqlStorageValue::Null, |s| int(u64::from(s))),
                opt_text(row.body.as_deref()),
                int(row.created_at),
            ],
        )
    }

    fn delete_claim(&self, scope: &str, key: &str) -> Result<(), LogError> {
        self.run(
            "DELETE FROM idempotency WHERE scope = ? AND key = ?",
            vec![text(scope), text(key)],
        )
    }

    fn delete_claims_before(&self, created_at: u64) -> Result<(), LogError> {
        self.run(
            "DELETE FROM idempotency WHERE created_at < ?",
            vec![int(created_at)],
        )
    }
}

impl ChangeTables for SqlTables {
    fn insert_change(&self, at: u64, change: &Change) -> Result<u64, LogError> {
        let rows: Vec<Seq> = self
            .0
            .exec(
                "INSERT INTO changes (at, hash, record) VALUES (?, ?, ?) RETURNING seq",
                vec![
                    int(at),
                    text(&change.hash),
                    opt_text(change.record.as_deref()),
                ],
            )
            .and_then(|c| c.to_array())
            .map_err(sql_error)?;
        rows.first()
            .map(|r| r.seq)
            .ok_or_else(|| LogError::new("management log: the insert returned no seq"))
    }

    fn delete_changes_before(&self, before: u64) -> Result<(), LogError> {
        self.run(
            "DELETE FROM changes WHERE at < ? AND seq < (SELECT MAX(seq) FROM changes)",
            vec![int(before)],
        )
    }

    fn select_changes(
        &self,
        after: u64,
        since: u64,
        limit: usize,
    ) -> Result<Vec<ChangeEntry>, LogError> {
        self.0
            .exec(
                "SELECT seq, at, hash, record FROM changes WHERE seq > ? AND at >= ? \
                 ORDER BY seq LIMIT ?",
                vec![int(after), int(since), int(limit as u64)],
            )
            .and_then(|c| c.to_array())
            .map_err(sql_error)
    }

    fn change_bounds(&self, since: u64) -> Result<(u64, Option<u64>), LogError> {
        let rows: Vec<Bounds> = self
            .0
            .exec(
                "SELECT COALESCE(MAX(seq), 0) AS head, \
                 (SELECT MIN(seq) FROM changes WHERE at >= ?) AS first FROM changes",
                vec![int(since)],
            )
            .and_then(|c| c.to_array())
            .map_err(sql_error)?;
        let b = rows
            .first()
            .ok_or_else(|| LogError::new("management log: no change bounds"))?;
        Ok((b.head, b.first))
    }
}
