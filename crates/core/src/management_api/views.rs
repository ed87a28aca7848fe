//! The JSON shapes of the management API's answers: a key's view (never the key, never its
//! hash), a key's summary in a list, a root key's record (never the key), and a quota. Unset
//! optional members are written as null.

use crate::lifecycle::{state_name, Summary};
use crate::limits::{Quota, QuotaScope};
use crate::record::KeyRecord;
use crate::root::{Permissions, RootRecord};
use serde::Serialize;

/// A quota as the API shows it: `per` always written.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QuotaView {
    pub limit: u64,
    pub period: String,
    pub per: &'static str,
}

impl QuotaView {
    pub fn of(q: &Quota) -> Self {
        Self {
            limit: q.limit,
            period: q.period.to_string(),
            per: match q.per {
                QuotaScope::Key => "key",
                QuotaScope::Consumer => "consumer",
            },
        }
    }
}

/// A key's record as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeyView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub consumer_id: &'a str,
    pub consumer_name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub state: &'static str,
    pub enabled: bool,
    pub scopes: &'a [String],
    pub meta: &'a serde_json::Map<String, serde_json::Value>,
    pub tier: Option<&'a str>,
    pub quota: Option<QuotaView>,
}

impl<'a> KeyView<'a> {
    pub fn of(r: &'a KeyRecord, now: u64) -> Self {
        Self {
            id: &r.id,
            name: &r.name,
            consumer_id: &r.consumer_id,
            consumer_name: r.consumer_name.as_deref(),
            description: r.description.as_deref(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            state: state_name(r.state(now)),
            enabled: !r.disabled,
            scopes: &r.scopes,
            meta: &r.meta,
            tier: r.tier.as_deref(),
            quota: r.quota.as_ref().map(QuotaView::of),
        }
    }
}

/// A key in a list.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SummaryView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub consumer_id: &'a str,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub state: &'static str,
    pub enabled: bool,
    pub tier: Option<&'a str>,
}

impl<'a> SummaryView<'a> {
    pub fn of(s: &'a Summary, now: u64) -> Self {
        Self {
            id: &s.id,
            name: &s.name,
            consumer_id: &s.consumer_id,
            created_at: s.created_at,
            expires_at: s.expires_at,
            state: state_name(s.state(now)),
            enabled: !s.disabled,
            tier: s.tier.as_deref(),
        }
    }
}

/// A root key's record as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RootView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub permissions: Permissions,
    pub consumer_prefix: Option<&'a str>,
    pub created_at: u64,
}

impl<'a> RootView<'a> {
    pub fn of(r: &'a RootRecord) -> Self {
        Self {
            id: &r.id,
            name: &r.name,
            permissions: r.permissions,
            consumer_prefix: r.consumer_prefix.as_deref(),
            created_at: r.created_at,
        }
    }
}

/// The `Location` of a key.
pub(crate) fn key_location(id: &str) -> String {
    format!("{}/keys/{id}", crate::management::BASE)
}
