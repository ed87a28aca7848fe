//! Where the key commands act: a [`Backend`] at the level of the key lifecycle (create, import,
//! list, show, update, rotate, revoke, usage, root keys, the audit trail). It is implemented once
//! over any [`KvStore`] (wrangler: core's `lifecycle` and `root` functions, the bootstrap and
//! offline path) and once over the management API ([`crate::api::ApiBackend`]). Commands print
//! the same text and JSON whichever backend answers.

use crate::commands::block_on;
use crate::commands::usage::{self, Usage, UsageSource};
use crate::error::{CliError, EXIT_NOT_FOUND};
use crate::redact::clean;
use keygate_core::kv::KvStore;
use keygate_core::lifecycle::{self, Changes, Filter, KeyRef, NewKey, Page, Rotation};
use keygate_core::root::{self, Permissions, RootKey, RootList, RootRecord};
use keygate_core::{ApiKey, KeyRecord};
use serde::{Deserialize, Serialize};

/// A key's record after `update`, and, when the backend had it at hand (always over KV; over
/// the API when the change touches the quota or the metadata), before.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    pub record: KeyRecord,
    pub before: Option<KeyRecord>,
}

/// A revoked root key: its id, and its name when the backend knows it (the API answers 204).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedRoot {
    pub id: String,
    pub name: Option<String>,
}

/// One entry of the management API's audit trail (`GET /audit`). Never a key, a hash or a
/// value: `fields` are names only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// Unix seconds.
    pub at: u64,
    /// `bootstrap`, or the root key's id.
    pub actor: String,
    /// `key.create`, `key.update`, `key.rotate`, `key.revoke`, `key.import`, `root.create`,
    /// `root.revoke`.
    pub action: String,
    #[serde(default)]
    pub key_ids: Vec<String>,
    #[serde(default)]
    pub consumer_id: Option<String>,
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// One page of the audit trail, oldest first; `cursor` is where the next page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub cursor: Option<String>,
}

/// The key lifecycle, wherever it runs. Every method checks its input by core's rules before
/// the first call, so a refusal is the same (and costs nothing) on either path.
pub trait Backend {
    /// Creates a key; returns it (to be shown once) and its record.
    fn create(&self, new: &NewKey, now: u64) -> Result<(ApiKey, KeyRecord), CliError>;
    /// Imports plaintext keys (one an item, blank ones skipped), all or nothing.
    fn import(&self, lines: &[&str], new: &NewKey, now: u64) -> Result<Vec<KeyRecord>, CliError>;
    /// Every key that passes `filter`, by creation time (then id).
    fn list(&self, filter: &Filter, now: u64) -> Result<Page, CliError>;
    fn show(&self, r: &KeyRef) -> Result<KeyRecord, CliError>;
    fn update(&self, r: &KeyRef, changes: &Changes, now: u64) -> Result<Changed, CliError>;
    fn rotate(&self, r: &KeyRef, overlap_secs: u64, now: u64) -> Result<Rotation, CliError>;
    /// Deletes a key; returns its id.
    fn revoke(&self, r: &KeyRef) -> Result<String, CliError>;
    /// A key's tier and quota usage. The wrangler path reads the count from the gateway's admin
    /// endpoint through `admin`; the API path asks the API and ignores it.
    fn usage(&self, r: &KeyRef, admin: &dyn UsageSource, now: u64) -> Result<Usage, CliError>;
    fn create_root(
        &self,
        name: &str,
        permissions: Permissions,
        consumer_prefix: Option<&str>,
        now: u64,
    ) -> Result<(RootKey, RootRecord), CliError>;
    fn list_roots(&self) -> Result<RootList, CliError>;
    fn revoke_root(&self, id: &str) -> Result<RevokedRoot, CliError>;
    /// One page of the audit trail, from `cursor`, at most `limit` entries.
    fn audit(&self, limit: u32, cursor: Option<&str>) -> Result<AuditPage, CliError>;
}

/// No root key has this id (or, through the API, none the root key may see).
pub fn root_not_found(id: &str) -> CliError {
    CliError::Coded {
        code: EXIT_NOT_FOUND,
        message: format!(
            "no root key with id {}: it was revoked, or never created here",
            clean(id)
        ),
    }
}

/// The message of `keygate audit` on the wrangler path.
pub const AUDIT_NEEDS_API: &str = "keygate audit needs the management API: the audit trail \
     lives in the gateway's ManagementLog Durable Object, not in KV. Set KEYGATE_URL and \
     KEYGATE_ROOT_KEY (a root key with audit:read), or pass --url";

/// The wrangler (or any KV) path: core's lifecycle and root functions, unchanged.
impl<K: KvStore> Backend for K {
    fn create(&self, new: &NewKey, now: u64) -> Result<(ApiKey, KeyRecord), CliError> {
        Ok(block_on(lifecycle::create(self, new, now))?)
    }

    fn import(&self, lines: &[&str], new: &NewKey, now: u64) -> Result<Vec<KeyRecord>, CliError> {
        Ok(block_on(lifecycle::import(self, lines, new, now))?)
    }

    fn list(&self, filter: &Filter, now: u64) -> Result<Page, CliError> {
        Ok(block_on(lifecycle::list_all(self, filter, now))?)
    }

    fn show(&self, r: &KeyRef) -> Result<KeyRecord, CliError> {
        Ok(block_on(lifecycle::show(self, r))?)
    }

    fn update(&self, r: &KeyRef, changes: &Changes, now: u64) -> Result<Changed, CliError> {
        let u = block_on(lifecycle::update(self, r, changes, now))?;
        Ok(Changed {
            record: u.record,
            before: Some(u.before),
        })
    }

    fn rotate(&self, r: &KeyRef, overlap_secs: u64, now: u64) -> Result<Rotation, CliError> {
        Ok(block_on(lifecycle::rotate(self, r, overlap_secs, now))?)
    }

    fn revoke(&self, r: &KeyRef) -> Result<String, CliError> {
        Ok(block_on(lifecycle::revoke(self, r))?)
    }

    fn usage(&self, r: &KeyRef, admin: &dyn UsageSource, now: u64) -> Result<Usage, CliError> {
        usage::usage(self, r, admin, now)
    }

    fn create_root(
        &self,
        name: &str,
        permissions: Permissions,
        consumer_prefix: Option<&str>,
        now: u64,
    ) -> Result<(RootKey, RootRecord), CliError> {
        Ok(block_on(root::create_root(
            self,
            name,
            permissions,
            consumer_prefix,
            now,
        ))?)
    }

    fn list_roots(&self) -> Result<RootList, CliError> {
        Ok(block_on(root::list_roots(self))?)
    }

    fn revoke_root(&self, id: &str) -> Result<RevokedRoot, CliError> {
        let r = block_on(root::revoke_root(self, id, |_| true)).map_err(|e| match e {
            lifecycle::LifecycleError::NotFound(_) => root_not_found(id),
            other => other.into(),
        })?;
        Ok(RevokedRoot {
            id: r.id,
            name: Some(r.name),
        })
    }

    fn audit(&self, _limit: u32, _cursor: Option<&str>) -> Result<AuditPage, CliError> {
        Err(CliError::usage("audit", AUDIT_NEEDS_API))
    }
}
