//! The management API's audit trail: one entry per management write (who, what, which key, the
//! names of the fields that changed, when, the request id; never a key or a value), the
//! [`AuditLog`] trait, implemented over the `ManagementLog` Durable Object (and in memory for
//! tests) by [`crate::management_log`].

use serde::{Deserialize, Serialize};

/// What a management write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    #[serde(rename = "key.create")]
    KeyCreate,
    #[serde(rename = "key.update")]
    KeyUpdate,
    #[serde(rename = "key.rotate")]
    KeyRotate,
    #[serde(rename = "key.revoke")]
    KeyRevoke,
    #[serde(rename = "key.import")]
    KeyImport,
    #[serde(rename = "root.create")]
    RootCreate,
    #[serde(rename = "root.revoke")]
    RootRevoke,
}

impl AuditAction {
    pub const ALL: [AuditAction; 7] = [
        AuditAction::KeyCreate,
        AuditAction::KeyUpdate,
        AuditAction::KeyRotate,
        AuditAction::KeyRevoke,
        AuditAction::KeyImport,
        AuditAction::RootCreate,
        AuditAction::RootRevoke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::KeyCreate => "key.create",
            AuditAction::KeyUpdate => "key.update",
            AuditAction::KeyRotate => "key.rotate",
            AuditAction::KeyRevoke => "key.revoke",
            AuditAction::KeyImport => "key.import",
            AuditAction::RootCreate => "root.create",
            AuditAction::RootRevoke => "root.revoke",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One audit entry. `seq` is assigned by the log when the entry is appended (the value an
/// appender passes is ignored); entries list in `seq` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// Unix seconds.
    pub at: u64,
    /// `bootstrap`, or the id of the root key that made the request.
    pub actor: String,
    pub action: AuditAction,
    /// The ids of the keys (for `key.*`) or root keys (for `root.*`) the write touched.
    pub key_ids: Vec<String>,
    /// The consumer of the keys; for `root.*` entries the root key's consumer prefix. The tenant
    /// guard filters the trail on it (see [`visible_to`]).
    pub consumer_id: Option<String>,
    /// The names of the fields that changed (never their values).
    pub fields: Vec<String>,
    pub request_id: String,
}

/// Whether a reader confined to `consumer_prefix` sees `entry`: with no prefix, every entry;
/// with one, the entries whose `consumer_id` starts with it (an entry without a consumer id is
/// seen only without a prefix). The Durable Object applies the same rule in SQL:
/// `?prefix IS NULL OR substr(consumer_id, 1, length(?prefix)) = ?prefix`.
pub fn visible_to(entry: &AuditEntry, consumer_prefix: Option<&str>) -> bool {
    match consumer_prefix {
        None => true,
        Some(p) => entry
            .consumer_id
            .as_deref()
            .is_some_and(|c| c.starts_with(p)),
    }
}

/// The log could not answer (defined with the other store errors).
pub use crate::store::LogError;

/// What an append was given: the entry's sequence number and the first of its changes' (they are
/// numbered one after the other), `None` when it had none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_change: Option<u64>,
}

/// The audit trail: durable and ordered.
#[allow(async_fn_in_trait)] // Workers futures are single-threaded; no Send bound is wanted.
pub trait AuditLog {
    /// Appends `entry` (its `seq` ignored), with the key writes it records for the change feed
    /// ([`crate::changes`]), in one transaction.
    async fn append(
        &self,
        entry: &AuditEntry,
        changes: &[crate::changes::Change],
    ) -> Result<Appended, LogError>;
    /// At most `limit` entries with `seq > after`, oldest first, only those [`visible_to`]
    /// `consumer_prefix`.
    async fn list(
        &self,
        after: u64,
        limit: usize,
        consumer_prefix: Option<&str>,
    ) -> Result<Vec<AuditEntry>, LogError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: AuditAction, consumer: Option<&str>) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at: 1_764_547_200,
            actor: "bootstrap".into(),
            action,
            key_ids: vec!["0123456789ab".into()],
            consumer_id: consumer.map(str::to_owned),
            fields: vec!["name".into()],
            request_id: "req-1".into(),
        }
    }

    #[test]
    fn actions_are_written_resource_dot_verb_and_read_back() {
        for a in AuditAction::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).unwrap(), a);
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert!(serde_json::from_str::<AuditAction>("\"key.delete\"").is_err());
    }

    #[test]
    fn an_entry_has_the_contract_shape() {
        let v = serde_json::to_value(entry(AuditAction::KeyUpdate, Some("acme-eu"))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"seq":0,"at":1_764_547_200u64,"actor":"bootstrap",
                "action":"key.update","key_ids":["0123456789ab"],"consumer_id":"acme-eu",
                "fields":["name"],"request_id":"req-1"})
        );
    }

    #[test]
    fn the_tenant_guard_sees_entries_of_its_prefix_only() {
        assert!(visible_to(
            &entry(AuditAction::KeyCreate, Some("acme-eu")),
            Some("acme-")
        ));
        assert!(!visible_to(
            &entry(AuditAction::KeyCreate, Some("globex")),
            Some("acme-")
        ));
        assert!(!visible_to(
            &entry(AuditAction::RootCreate, None),
            Some("acme-")
        ));
        assert!(visible_to(&entry(AuditAction::RootCreate, None), None));
    }
}
