//! The key lifecycle: create, import, rotate, update, disable and enable, list, show and revoke
//! keys, over any [`KvStore`]. The CLI runs it through wrangler; the worker's management API
//! runs it over its KV binding. Every rule is checked before the first write, and an operation
//! that writes twice undoes its first write when the second fails.
//!
//! Records live under `hex(sha256(key))`, with a [`Summary`] as KV list metadata (so `list`
//! reads no values) and, for an expiring key, a KV expiration [`EXPIRED_RETENTION_SECS`] after
//! the key's expiry (so `list` still shows it as expired for a while).

mod error;
mod generate;
pub mod rules;
#[cfg(test)]
mod tests;

pub use error::{AskedBy, Conflict, Field, Invalid, LifecycleError, NotFound, Problem, Rollback};
pub use generate::{generate_key, generate_with_prefix, key_from_bytes};

use crate::kv::{list_all as list_names, KvStore, Listed, PutOptions};
use crate::limits::Quota;
use crate::record::{CorruptRecord, KeyRecord, KeyState, RECORD_VERSION};
use crate::secret::{ApiKey, KeyHash, KEY_ID_LEN};
use rules::{check_import_key, check_new_key};
use serde::{Deserialize, Serialize};

/// How long KV keeps a record after its expiry, so `list` can still show it as expired.
pub const EXPIRED_RETENTION_SECS: u64 = 7 * 24 * 3600;
/// Default overlap of `rotate`: the old key keeps working this long.
pub const DEFAULT_OVERLAP_SECS: u64 = 24 * 3600;
/// KV wants an expiration at least 60 s ahead; the worker enforces the exact instant itself.
const MIN_EXPIRATION_AHEAD_SECS: u64 = 120;
/// The latest KV expiration written: 2038-01-19, the end of the 32-bit seconds that workerd's KV
/// accepts (a later one fails the write). A key that expires later is stored without a KV
/// expiration; the gateway still refuses it at its exact expiry, and `list` shows it as expired.
pub const MAX_KV_EXPIRATION: u64 = i32::MAX as u64;

/// What an operation is given to find a key: its public id, or the key itself.
#[derive(Debug, Clone)]
pub enum KeyRef {
    Id(String),
    Key(ApiKey),
}

impl KeyRef {
    /// 12 lowercase hex characters are an id; anything else must be a well-formed key.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.len() == KEY_ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Ok(KeyRef::Id(s.to_owned()));
        }
        if s.is_empty()
            || s.len() > crate::credential::MAX_TOKEN_LEN
            || !crate::credential::is_b64token(s.as_bytes())
        {
            return Err(Invalid::new(Field::Key, Problem::NotKeyOrId));
        }
        Ok(KeyRef::Key(ApiKey::new(s)))
    }
}

/// The fields of a key to create or import.
#[derive(Debug, Clone, PartialEq)]
pub struct NewKey {
    pub name: String,
    pub consumer_id: String,
    pub consumer_name: Option<String>,
    pub expires_at: Option<u64>,
    /// `METHOD /pattern` rules; empty means everything.
    pub scopes: Vec<String>,
    pub meta: serde_json::Map<String, serde_json::Value>,
    pub description: Option<String>,
    /// Rate-limit tier; `None` uses the gateway's `DEFAULT_TIER`.
    pub tier: Option<String>,
    pub quota: Option<Quota>,
}

impl NewKey {
    /// A key with only a name and consumer set.
    pub fn new(name: &str, consumer_id: &str) -> Self {
        Self {
            name: name.to_owned(),
            consumer_id: consumer_id.to_owned(),
            consumer_name: None,
            expires_at: None,
            scopes: Vec::new(),
            meta: Default::default(),
            description: None,
            tier: None,
            quota: None,
        }
    }
}

/// What `list` shows of a key, kept as its KV list metadata: never the key, never the hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub consumer_id: String,
    pub created_at: u64,
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub disabled: bool,
    /// The record's tier; `None` uses the gateway's `DEFAULT_TIER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

impl Summary {
    pub fn of(r: &KeyRecord) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            consumer_id: r.consumer_id.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            disabled: r.disabled,
            tier: r.tier.clone(),
        }
    }

    pub fn state(&self, now: u64) -> KeyState {
        KeyState::of(self.disabled, self.expires_at, now)
    }
}

/// A state as the CLI and the API spell it: `active`, `disabled`, `expired`.
pub fn state_name(s: KeyState) -> &'static str {
    match s {
        KeyState::Active => "active",
        KeyState::Disabled => "disabled",
        KeyState::Expired => "expired",
    }
}

/// Reads a state's name back.
pub fn parse_state(s: &str) -> Option<KeyState> {
    [KeyState::Active, KeyState::Disabled, KeyState::Expired]
        .into_iter()
        .find(|k| state_name(*k) == s)
}

/// Which keys `list` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub consumer_id: Option<String>,
    pub state: Option<KeyState>,
}

impl Filter {
    pub fn admits(&self, s: &Summary, now: u64) -> bool {
        self.consumer_id
            .as_ref()
            .is_none_or(|c| &s.consumer_id == c)
            && self.state.is_none_or(|st| s.state(now) == st)
    }
}

/// One page of `list`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub keys: Vec<Summary>,
    /// Where the next page starts; `None` after the last.
    pub cursor: Option<String>,
    /// Records on this page that could not be decoded (left out of `keys`), by id.
    pub corrupt: Vec<(String, CorruptRecord)>,
}

/// Changes `update` makes to a key: each `Some` field is set, each `None` left alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub name: Option<String>,
    pub consumer_name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub scopes: Option<Vec<String>>,
    pub meta: Option<serde_json::Map<String, serde_json::Value>>,
    /// `Some(None)` returns the key to the gateway's `DEFAULT_TIER`.
    pub tier: Option<Option<String>>,
    /// `Some(None)` removes the quota.
    pub quota: Option<Option<Quota>>,
    /// `Some(None)` removes the expiry; a new expiry must lie in the future.
    pub expires_at: Option<Option<u64>>,
    pub disabled: Option<bool>,
}

impl Changes {
    /// Checks every change against the rules, before anything is read.
    pub fn check(&self) -> Result<(), Invalid> {
        if let Some(n) = &self.name {
            rules::check_label(Field::Name, n)?;
        }
        if let Some(Some(n)) = &self.consumer_name {
            rules::check_label(Field::ConsumerName, n)?;
        }
        if let Some(Some(d)) = &self.description {
            rules::check_description(d)?;
        }
        if let Some(s) = &self.scopes {
            rules::canonical_scopes(s)?;
        }
        if let Some(m) = &self.meta {
            rules::check_meta(m)?;
        }
        if let Some(Some(t)) = &self.tier {
            rules::check_tier(t)?;
        }
        if let Some(Some(q)) = &self.quota {
            rules::check_quota(q)?;
        }
        Ok(())
    }

    /// Applies checked changes.
    fn apply(&self, rec: &mut KeyRecord) {
        if let Some(n) = &self.name {
            rec.name.clone_from(n);
        }
        if let Some(n) = &self.consumer_name {
            rec.consumer_name.clone_from(n);
        }
        if let Some(d) = &self.description {
            rec.description.clone_from(d);
        }
        if let Some(s) = &self.scopes {
            rec.scopes = rules::canonical_scopes(s).unwrap_or_default();
        }
        if let Some(m) = &self.meta {
            rec.meta.clone_from(m);
        }
        if let Some(t) = &self.tier {
            rec.tier.clone_from(t);
        }
        if let Some(q) = self.quota {
            rec.quota = q;
        }
        if let Some(e) = self.expires_at {
            rec.expires_at = e;
        }
        if let Some(d) = self.disabled {
            rec.disabled = d;
        }
    }
}

/// A key's record after `update`, and before.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    pub record: KeyRecord,
    pub before: KeyRecord,
}

/// What `rotate` produced: the new key and both records after the change.
#[derive(Debug)]
pub struct Rotation {
    pub key: ApiKey,
    pub new: KeyRecord,
    pub old: KeyRecord,
}

/// Creates a key: checks everything first, then performs exactly one write.
pub async fn create(
    kv: &impl KvStore,
    new: &NewKey,
    now: u64,
) -> Result<(ApiKey, KeyRecord), LifecycleError> {
    check_new_key(new, now)?;
    let key = generate_key()?;
    let record = store_new(kv, &key, new, now).await?;
    Ok((key, record))
}

/// Creates a key with a given plaintext (an idempotent create's derived key,
/// [`crate::idempotency::derive_key`]): the same checks and the one write of [`create`]; a key
/// already stored is a conflict.
pub async fn create_with(
    kv: &impl KvStore,
    key: &ApiKey,
    new: &NewKey,
    now: u64,
) -> Result<KeyRecord, LifecycleError> {
    check_new_key(new, now)?;
    store_new(kv, key, new, now).await
}

/// Imports plaintext keys, one an item (blank items skipped; errors name the item's 1-based
/// line). All or nothing: every key is checked, against the rules and the store, before the
/// first write, and a store failure midway removes what was written. Only hashes are stored.
pub async fn import(
    kv: &impl KvStore,
    lines: &[&str],
    new: &NewKey,
    now: u64,
) -> Result<Vec<KeyRecord>, LifecycleError> {
    check_new_key(new, now)?;
    let mut keys: Vec<ApiKey> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let k = line.trim();
        if k.is_empty() {
            continue;
        }
        let key = check_import_key(i + 1, k)?;
        if keys.iter().any(|seen| seen == &key) {
            return Err(Conflict::Repeated { line: i + 1 }.into());
        }
        if kv.get(key.hash().as_kv_key()).await?.is_some() {
            return Err(Conflict::AlreadyStored {
                id: key.hash().id().to_owned(),
                line: Some(i + 1),
            }
            .into());
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(Invalid::new(Field::Keys, Problem::NoKeys).into());
    }
    let mut done = Vec::new();
    for key in &keys {
        match store_new(kv, key, new, now).await {
            Ok(r) => done.push(r),
            Err(LifecycleError::Store { error, .. }) => {
                let rollback = remove_again(kv, &keys[..done.len()]).await;
                return Err(LifecycleError::Store { error, rollback });
            }
            Err(e) => {
                let _ = remove_again(kv, &keys[..done.len()]).await;
                return Err(e);
            }
        }
    }
    Ok(done)
}

/// Deletes keys written by an operation that then failed.
async fn remove_again(kv: &impl KvStore, keys: &[ApiKey]) -> Rollback {
    if keys.is_empty() {
        return Rollback::NotNeeded;
    }
    let mut left = Vec::new();
    let mut last_error = None;
    for k in keys {
        if let Err(e) = kv.delete(k.hash().as_kv_key()).await {
            left.push(k.hash().id().to_owned());
            last_error = Some(e);
        }
    }
    match last_error {
        None => Rollback::Done {
            ids: keys.iter().map(|k| k.hash().id().to_owned()).collect(),
        },
        Some(error) => Rollback::Failed { ids: left, error },
    }
}

/// Writes the record of a new key (checked fields); refuses a key that is already stored.
async fn store_new(
    kv: &impl KvStore,
    key: &ApiKey,
    new: &NewKey,
    now: u64,
) -> Result<KeyRecord, LifecycleError> {
    let hash = key.hash();
    if kv.get(hash.as_kv_key()).await?.is_some() {
        return Err(Conflict::AlreadyStored {
            id: hash.id().to_owned(),
            line: None,
        }
        .into());
    }
    let record = KeyRecord {
        v: RECORD_VERSION,
        id: hash.id().to_owned(),
        name: new.name.clone(),
        consumer_id: new.consumer_id.clone(),
        consumer_name: new.consumer_name.clone(),
        created_at: now,
        expires_at: new.expires_at,
        disabled: false,
        meta: new.meta.clone(),
        scopes: rules::canonical_scopes(&new.scopes)?,
        description: new.description.clone(),
        tier: new.tier.clone(),
        quota: new.quota,
    };
    write(kv, &hash, &record, now).await?;
    Ok(record)
}

/// Changes a key's fields. Every change is checked before the record is read; the record is
/// written back with fresh list metadata and KV expiration.
pub async fn update(
    kv: &impl KvStore,
    r: &KeyRef,
    changes: &Changes,
    now: u64,
) -> Result<Updated, LifecycleError> {
    changes.check()?;
    if let Some(Some(e)) = changes.expires_at {
        rules::check_expiry(e, now)?;
    }
    let hash = resolve(kv, r).await?;
    let before = read(kv, &hash).await?;
    let mut record = before.clone();
    changes.apply(&mut record);
    write(kv, &hash, &record, now).await?;
    Ok(Updated { record, before })
}

/// Disables or enables a key. Nothing is deleted; the worker refuses a disabled key.
pub async fn set_disabled(
    kv: &impl KvStore,
    r: &KeyRef,
    disabled: bool,
    now: u64,
) -> Result<KeyRecord, LifecycleError> {
    let changes = Changes {
        disabled: Some(disabled),
        ..Changes::default()
    };
    Ok(update(kv, r, &changes, now).await?.record)
}

/// Issues a new key with the old one's name, consumer, scopes, metadata, description, tier,
/// quota and expiry, and makes the old key expire after `overlap_secs`: never later than an
/// expiry it already had. Only an active key is rotated. Should the old key's write fail, the
/// new key is removed again.
pub async fn rotate(
    kv: &impl KvStore,
    r: &KeyRef,
    overlap_secs: u64,
    now: u64,
) -> Result<Rotation, LifecycleError> {
    let old_hash = resolve(kv, r).await?;
    let mut old = read(kv, &old_hash).await?;
    let id = old.id.clone();
    match old.state(now) {
        KeyState::Active => {}
        KeyState::Disabled => return Err(Conflict::Disabled { id }.into()),
        KeyState::Expired => return Err(Conflict::Expired { id }.into()),
    }
    let same = NewKey {
        name: old.name.clone(),
        consumer_id: old.consumer_id.clone(),
        consumer_name: old.consumer_name.clone(),
        expires_at: old.expires_at,
        scopes: old.scopes.clone(),
        meta: old.meta.clone(),
        description: old.description.clone(),
        tier: old.tier.clone(),
        quota: old.quota,
    };
    let key = generate_key()?;
    let new = store_new(kv, &key, &same, now).await?;
    let overlap_end = now.saturating_add(overlap_secs);
    old.expires_at = Some(old.expires_at.map_or(overlap_end, |e| e.min(overlap_end)));
    if let Err(error) = write(kv, &old_hash, &old, now).await {
        let rollback = remove_again(kv, std::slice::from_ref(&key)).await;
        return Err(LifecycleError::Store { error, rollback });
    }
    Ok(Rotation { key, new, old })
}

/// The record stored under `hash`.
async fn read(kv: &impl KvStore, hash: &KeyHash) -> Result<KeyRecord, LifecycleError> {
    let raw = kv.get(hash.as_kv_key()).await?.ok_or_else(|| {
        LifecycleError::NotFound(NotFound {
            id: hash.id().to_owned(),
            by: AskedBy::Vanished,
        })
    })?;
    KeyRecord::decode(&raw, hash).map_err(|reason| LifecycleError::Corrupt {
        id: hash.id().to_owned(),
        reason,
    })
}

/// Writes a record with its list metadata and, for an expiring key, a KV expiration.
async fn write(
    kv: &impl KvStore,
    hash: &KeyHash,
    record: &KeyRecord,
    now: u64,
) -> Result<(), crate::kv::KvError> {
    let metadata = serde_json::to_value(Summary::of(record)).ok();
    let expiration = record
        .expires_at
        .map(|e| {
            e.saturating_add(EXPIRED_RETENTION_SECS)
                .max(now + MIN_EXPIRATION_AHEAD_SECS)
        })
        .filter(|e| *e <= MAX_KV_EXPIRATION);
    let opts = PutOptions {
        metadata: metadata.as_ref(),
        expiration,
    };
    kv.put(hash.as_kv_key(), &record.to_json(), opts).await
}

/// One page of keys that pass `filter`, from list metadata (reading the record of an entry
/// without it), in KV's order; `cursor` is the previous page's.
pub async fn list(
    kv: &impl KvStore,
    filter: &Filter,
    cursor: Option<&str>,
    now: u64,
) -> Result<Page, LifecycleError> {
    let page = kv.list("", cursor).await?;
    let mut out = Page {
        cursor: page.cursor,
        ..Page::default()
    };
    for entry in page.keys {
        if let Some(summary) = summary_of(kv, entry, &mut out.corrupt).await? {
            if filter.admits(&summary, now) {
                out.keys.push(summary);
            }
        }
    }
    Ok(out)
}

/// The summary of a listed entry: from its metadata, else from its record. `None` for a name
/// that is not a key record's, or one gone meanwhile; a record that does not decode is added to
/// `corrupt` instead.
async fn summary_of(
    kv: &impl KvStore,
    entry: Listed,
    corrupt: &mut Vec<(String, CorruptRecord)>,
) -> Result<Option<Summary>, LifecycleError> {
    let Some(hash) = KeyHash::parse(&entry.name) else {
        return Ok(None);
    };
    let from_meta = entry
        .metadata
        .and_then(|m| serde_json::from_value::<Summary>(m).ok());
    Ok(match from_meta {
        Some(s) if s.id == hash.id() => Some(s),
        _ => match kv.get(hash.as_kv_key()).await? {
            None => None,
            Some(raw) => match KeyRecord::decode(&raw, &hash) {
                Ok(r) => Some(Summary::of(&r)),
                Err(e) => {
                    corrupt.push((hash.id().to_owned(), e));
                    None
                }
            },
        },
    })
}

/// Where a [`list_page`] starts: the KV list cursor of the KV page to read (`None`: the first),
/// and the last name of that page already returned (`None`: none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// What [`list_page`] found: at most `limit` keys, the corrupt records it passed, and where the
/// next page starts (`None` after the last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub keys: Vec<Summary>,
    pub corrupt: Vec<(String, CorruptRecord)>,
    pub next: Option<Position>,
}

/// At most `limit` keys that `admit` lets through, from `from` on, in KV's order, reading at
/// most `max_kv_pages` KV list pages (so a filter that matches little cannot make one request
/// walk the whole namespace: the listing may then hold fewer than `limit` keys, and `next` says
/// where to go on).
pub async fn list_page(
    kv: &impl KvStore,
    admit: impl Fn(&Summary) -> bool,
    from: &Position,
    limit: usize,
    max_kv_pages: usize,
) -> Result<Listing, LifecycleError> {
    let mut out = Listing::default();
    let mut pos = from.clone();
    for _ in 0..max_kv_pages.max(1) {
        let page = kv.list("", pos.kv_cursor.as_deref()).await?;
        let after = pos.after.clone();
        let mut entries = page
            .keys
            .into_iter()
            .filter(|e| after.as_deref().is_none_or(|a| e.name.as_str() > a))
            .peekable();
        while let Some(entry) = entries.next() {
            let name = entry.name.clone();
            if let Some(summary) = summary_of(kv, entry, &mut out.corrupt).await? {
                if admit(&summary) {
                    out.keys.push(summary);
                }
            }
            if out.keys.len() >= limit {
                let more = entries.peek().is_some() || page.cursor.is_some();
                out.next = more.then(|| Position {
                    kv_cursor: pos.kv_cursor.clone(),
                    after: Some(name),
                });
                return Ok(out);
            }
        }
        match page.cursor {
            Some(c) if pos.kv_cursor.as_deref() != Some(c.as_str()) => {
                pos = Position {
                    kv_cursor: Some(c),
                    after: None,
                }
            }
            _ => return Ok(out),
        }
    }
    out.next = Some(pos);
    Ok(out)
}

/// Every key that passes `filter`, all pages, by creation time (then id).
pub async fn list_all(
    kv: &impl KvStore,
    filter: &Filter,
    now: u64,
) -> Result<Page, LifecycleError> {
    let mut all = Page::default();
    let mut cursor: Option<String> = None;
    loop {
        let page = list(kv, filter, cursor.as_deref(), now).await?;
        all.keys.extend(page.keys);
        all.corrupt.extend(page.corrupt);
        match page.cursor {
            Some(c) if cursor.as_deref() != Some(c.as_str()) => cursor = Some(c),
            _ => break,
        }
    }
    all.keys
        .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(all)
}

/// The stored hash for an id or key. Fails when it is unknown, or when an id is ambiguous.
pub async fn resolve(kv: &impl KvStore, r: &KeyRef) -> Result<KeyHash, LifecycleError> {
    match r {
        KeyRef::Key(key) => {
            let hash = key.hash();
            match kv.get(hash.as_kv_key()).await? {
                Some(_) => Ok(hash),
                None => Err(LifecycleError::NotFound(NotFound {
                    id: hash.id().to_owned(),
                    by: AskedBy::Key,
                })),
            }
        }
        KeyRef::Id(id) => {
            let found: Vec<KeyHash> = list_names(kv, id, Some(2))
                .await?
                .iter()
                .filter_map(|l| KeyHash::parse(&l.name))
                .collect();
            match found.as_slice() {
                [h] => Ok(h.clone()),
                [] => Err(LifecycleError::NotFound(NotFound {
                    id: id.clone(),
                    by: AskedBy::Id,
                })),
                _ => Err(Conflict::AmbiguousId { id: id.clone() }.into()),
            }
        }
    }
}

/// The record of an id or key.
pub async fn show(kv: &impl KvStore, r: &KeyRef) -> Result<KeyRecord, LifecycleError> {
    Ok(show_hashed(kv, r).await?.1)
}

/// The hash and record of an id or key.
pub async fn show_hashed(
    kv: &impl KvStore,
    r: &KeyRef,
) -> Result<(KeyHash, KeyRecord), LifecycleError> {
    let hash = resolve(kv, r).await?;
    let record = read(kv, &hash).await?;
    Ok((hash, record))
}

/// Deletes a key's record; returns its id. Gateways refuse the key within the revocation bound
/// (README).
pub async fn revoke(kv: &impl KvStore, r: &KeyRef) -> Result<String, LifecycleError> {
    let hash = resolve(kv, r).await?;
    kv.delete(hash.as_kv_key()).await?;
    Ok(hash.id().to_owned())
}
