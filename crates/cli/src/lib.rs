//! The `keygate` CLI's commands as plain functions over a [`store::KvBackend`], so they are
//! tested against an in-memory namespace; `main.rs` only parses arguments and prints.

pub mod admin;
mod ansi;
pub mod stats;
pub mod store;

use keygate_core::credential::{is_b64token, MAX_TOKEN_LEN};
use keygate_core::keyformat::{self, KeyShape};
use keygate_core::limits::{is_tier_name, Quota, QuotaPeriod, QuotaScope, Window, MAX_QUOTA_LIMIT};
use keygate_core::record::{is_header_safe, KeyState, RECORD_VERSION};
use keygate_core::scope::Scope;
use keygate_core::{ApiKey, KeyHash, KeyRecord};
use serde::{Deserialize, Serialize};
use store::KvBackend;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How long KV keeps a record after its expiry, so `list` can still show it as expired.
pub const EXPIRED_RETENTION_SECS: u64 = 7 * 24 * 3600;
/// Default overlap of `rotate`: the old key keeps working this long.
pub const DEFAULT_OVERLAP_SECS: u64 = 24 * 3600;

/// A new key from the OS CSPRNG: `kg_` + 43 uniformly random base62 characters + `_` + checksum.
pub fn generate_key() -> Result<ApiKey, String> {
    let mut random = String::with_capacity(keyformat::RANDOM_LEN);
    let mut buf = [0u8; 64];
    while random.len() < keyformat::RANDOM_LEN {
        getrandom::fill(&mut buf).map_err(|e| format!("the OS random generator failed: {e}"))?;
        // 248 = 4 × 62: rejecting bytes at or above it keeps every character equally likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if random.len() == keyformat::RANDOM_LEN {
                break;
            }
            random.push(keyformat::BASE62[(b % 62) as usize] as char);
        }
    }
    Ok(ApiKey::new(keyformat::assemble(&random)))
}

/// Parses `--expires`: an RFC 3339 time, or a duration from now such as `30d` or `12h`.
/// The result must lie in the future.
pub fn parse_expiry(s: &str, now: u64) -> Result<u64, String> {
    let s = s.trim();
    let at = if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        u64::try_from(t.unix_timestamp()).map_err(|_| format!("--expires '{s}' is before 1970"))?
    } else if let Ok(d) = humantime::parse_duration(s) {
        now.checked_add(d.as_secs())
            .ok_or_else(|| format!("--expires '{s}' is too far away"))?
    } else {
        return Err(format!(
            "--expires '{s}' is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a duration (30d, 12h)"
        ));
    };
    if at <= now {
        return Err(format!("--expires '{s}' is not in the future"));
    }
    Ok(at)
}

/// Formats Unix seconds as RFC 3339 UTC.
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// What a command is given to find a key: its public id, or the key itself.
#[derive(Debug)]
pub enum KeyRef {
    Id(String),
    Key(ApiKey),
}

impl KeyRef {
    /// 12 lowercase hex characters are an id; anything else must be a well-formed key.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.len() == keygate_core::secret::KEY_ID_LEN
            && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Ok(KeyRef::Id(s.to_owned()));
        }
        if s.is_empty() || s.len() > MAX_TOKEN_LEN || !is_b64token(s.as_bytes()) {
            return Err("expected a key id (12 hex characters) or an API key".to_owned());
        }
        Ok(KeyRef::Key(ApiKey::new(s)))
    }
}

/// Options of `keygate create`.
#[derive(Debug, Clone)]
pub struct CreateOpts {
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

impl CreateOpts {
    /// Options with only a name and consumer set.
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

/// Parses `--scopes` values: each may hold several scopes separated by commas.
pub fn parse_scopes(values: &[String]) -> Result<Vec<String>, String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Scope::parse(s)
                .map(|s| s.canonical())
                .map_err(|e| format!("--scopes: {}", e.0))
        })
        .collect()
}

/// Builds metadata from `--meta k=v` pairs and an optional `--meta-json` object.
pub fn parse_meta(
    pairs: &[String],
    json: Option<&str>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut meta = match json {
        None => serde_json::Map::new(),
        Some(j) => match serde_json::from_str(j) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err("--meta-json must be a JSON object".to_owned()),
        },
    };
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("--meta '{pair}' must be key=value"))?;
        if k.is_empty() {
            return Err(format!("--meta '{pair}' has an empty key"));
        }
        meta.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
    }
    if serde_json::to_string(&meta).map_or(0, |s| s.len()) > 8 * 1024 {
        return Err("metadata is larger than 8 KiB".to_owned());
    }
    Ok(meta)
}

/// Parses a quota `LIMIT/PERIOD` such as `10000/month`, `500/day`, `100/hour` or `20/30s`.
/// The limit is a whole number from 1 to [`MAX_QUOTA_LIMIT`].
pub fn parse_quota(s: &str, per: QuotaScope) -> Result<Quota, String> {
    let s = s.trim();
    let (limit, period) = s.split_once('/').ok_or_else(|| {
        format!("quota '{s}' must be LIMIT/PERIOD, e.g. 10000/month, 500/day, 100/hour or 20/30s")
    })?;
    let limit = limit.trim();
    let limit = match limit.parse::<u64>() {
        Ok(n @ 1..=MAX_QUOTA_LIMIT) if limit.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            return Err(format!(
                "quota limit '{limit}' must be a whole number from 1 to {MAX_QUOTA_LIMIT}"
            ))
        }
    };
    let period = period.trim();
    let period = QuotaPeriod::parse(period).ok_or_else(|| {
        format!(
            "quota period '{period}' must be month, day or hour (UTC), or a number of seconds \
             such as 30s (1s to 31622400s)"
        )
    })?;
    Ok(Quota { limit, period, per })
}

/// Parses `--per` / `--quota-per`: `key` or `consumer`.
pub fn parse_quota_scope(s: &str) -> Result<QuotaScope, String> {
    match s {
        "key" => Ok(QuotaScope::Key),
        "consumer" => Ok(QuotaScope::Consumer),
        _ => Err(format!("quota scope '{s}' must be key or consumer")),
    }
}

/// A quota for people: `10000/month per key`.
pub fn quota_text(q: &Quota) -> String {
    let per = match q.per {
        QuotaScope::Key => "key",
        QuotaScope::Consumer => "consumer",
    };
    format!("{}/{} per {per}", q.limit, q.period)
}

/// Checks a tier name: 1 to 32 characters from `a-z 0-9 _ -`.
pub fn check_tier(s: &str) -> Result<(), String> {
    if !is_tier_name(s) {
        return Err(format!(
            "tier '{s}' must be 1 to 32 characters from a-z 0-9 _ - (a name from the gateway's RATE_LIMIT_TIERS)"
        ));
    }
    Ok(())
}

fn check_quota(q: &Quota) -> Result<(), String> {
    if !(1..=MAX_QUOTA_LIMIT).contains(&q.limit) {
        return Err(format!(
            "quota limit {} must be from 1 to {MAX_QUOTA_LIMIT}",
            q.limit
        ));
    }
    Ok(())
}

/// What `list` shows of a key: never the key, never the full hash.
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
    fn of(r: &KeyRecord) -> Self {
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

    pub fn state(&self, now: u64) -> &'static str {
        state_name(KeyState::of(self.disabled, self.expires_at, now))
    }
}

pub fn state_name(s: KeyState) -> &'static str {
    match s {
        KeyState::Active => "active",
        KeyState::Disabled => "disabled",
        KeyState::Expired => "expired",
    }
}

fn check_label(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 128 || !is_header_safe(s) {
        return Err(format!(
            "{what} must be 1 to 128 printable ASCII characters, without leading or trailing spaces"
        ));
    }
    Ok(())
}

/// Checks a consumer id: 1 to 128 of `A-Z a-z 0-9 . _ : @ -`.
pub fn check_consumer_id(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 128
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b))
    {
        return Err("--consumer must be 1 to 128 characters from A-Z a-z 0-9 . _ : @ -".to_owned());
    }
    Ok(())
}

/// Creates a key: validates everything first, then performs exactly one write.
pub fn create(
    kv: &dyn KvBackend,
    opts: &CreateOpts,
    now: u64,
) -> Result<(ApiKey, KeyRecord), String> {
    check_opts(opts, now)?;
    let key = generate_key()?;
    let record = store_new(kv, &key, opts, now)?;
    Ok((key, record))
}

fn check_opts(opts: &CreateOpts, now: u64) -> Result<(), String> {
    check_label("--name", &opts.name)?;
    check_consumer_id(&opts.consumer_id)?;
    if let Some(n) = &opts.consumer_name {
        check_label("--consumer-name", n)?;
    }
    if let Some(d) = &opts.description {
        if d.len() > 1024 || d.chars().any(char::is_control) {
            return Err(
                "--description must be at most 1024 characters, without control characters"
                    .to_owned(),
            );
        }
    }
    parse_scopes(&opts.scopes)?;
    if opts.expires_at.is_some_and(|e| e <= now) {
        return Err("--expires is not in the future".to_owned());
    }
    if let Some(t) = &opts.tier {
        check_tier(t)?;
    }
    if let Some(q) = &opts.quota {
        check_quota(q)?;
    }
    Ok(())
}

/// Writes the record of a new key (validated options); refuses a key that is already stored.
fn store_new(
    kv: &dyn KvBackend,
    key: &ApiKey,
    opts: &CreateOpts,
    now: u64,
) -> Result<KeyRecord, String> {
    let hash = key.hash();
    if kv.get(hash.as_kv_key())?.is_some() {
        return Err(format!(
            "key {} is already stored; nothing was written",
            hash.id()
        ));
    }
    let record = KeyRecord {
        v: RECORD_VERSION,
        id: hash.id().to_owned(),
        name: opts.name.clone(),
        consumer_id: opts.consumer_id.clone(),
        consumer_name: opts.consumer_name.clone(),
        created_at: now,
        expires_at: opts.expires_at,
        disabled: false,
        meta: opts.meta.clone(),
        scopes: parse_scopes(&opts.scopes)?,
        description: opts.description.clone(),
        tier: opts.tier.clone(),
        quota: opts.quota,
    };
    write(kv, &hash, &record, now)?;
    Ok(record)
}

/// Disables or enables a key. Nothing is deleted; the worker refuses a disabled key.
pub fn set_disabled(
    kv: &dyn KvBackend,
    r: &KeyRef,
    disabled: bool,
    now: u64,
) -> Result<KeyRecord, String> {
    update(kv, r, now, |rec| rec.disabled = disabled)
}

/// Sets a key's rate-limit tier; `None` returns it to the gateway's `DEFAULT_TIER`. The name is
/// checked against the tier grammar before anything is read; the CLI cannot see which tiers
/// the gateway defines.
pub fn set_tier(
    kv: &dyn KvBackend,
    r: &KeyRef,
    tier: Option<&str>,
    now: u64,
) -> Result<KeyRecord, String> {
    if let Some(t) = tier {
        check_tier(t)?;
    }
    update(kv, r, now, |rec| rec.tier = tier.map(str::to_owned))
}

/// Sets a key's quota; `None` removes it (the gateway then counts nothing for the key).
/// Returns the record after the change and the quota it had before.
pub fn set_quota(
    kv: &dyn KvBackend,
    r: &KeyRef,
    quota: Option<Quota>,
    now: u64,
) -> Result<(KeyRecord, Option<Quota>), String> {
    if let Some(q) = &quota {
        check_quota(q)?;
    }
    let mut before = None;
    let record = update(kv, r, now, |rec| {
        before = std::mem::replace(&mut rec.quota, quota)
    })?;
    Ok((record, before))
}

/// Reads a key's record, changes it, and writes it back with fresh list metadata and expiration.
fn update(
    kv: &dyn KvBackend,
    r: &KeyRef,
    now: u64,
    change: impl FnOnce(&mut KeyRecord),
) -> Result<KeyRecord, String> {
    let hash = resolve(kv, r)?;
    let mut record = read(kv, &hash)?;
    change(&mut record);
    write(kv, &hash, &record, now)?;
    Ok(record)
}

/// What `rotate` produced: the new key and both records after the change.
#[derive(Debug)]
pub struct Rotation {
    pub key: ApiKey,
    pub new: KeyRecord,
    pub old: KeyRecord,
}

/// Issues a new key with the old one's consumer, scopes, metadata, tier and quota, and makes the old key
/// expire after `overlap_secs` (never later than an expiry it already had).
pub fn rotate(
    kv: &dyn KvBackend,
    r: &KeyRef,
    overlap_secs: u64,
    now: u64,
) -> Result<Rotation, String> {
    let old_hash = resolve(kv, r)?;
    let mut old = read(kv, &old_hash)?;
    match old.state(now) {
        KeyState::Active => {}
        KeyState::Disabled => {
            return Err(format!(
                "key {} is disabled; enable it before rotating",
                old.id
            ))
        }
        KeyState::Expired => {
            return Err(format!(
                "key {} has expired; create a new key instead",
                old.id
            ))
        }
    }
    let opts = CreateOpts {
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
    let new = store_new(kv, &key, &opts, now)?;
    let overlap_end = now.saturating_add(overlap_secs);
    old.expires_at = Some(old.expires_at.map_or(overlap_end, |e| e.min(overlap_end)));
    if let Err(e) = write(kv, &old_hash, &old, now) {
        // Undo the new key so that a failed rotation leaves things as they were.
        return Err(match kv.delete(key.hash().as_kv_key()) {
            Ok(()) => format!("{e}; the new key was removed again, nothing changed"),
            Err(u) => format!("{e}; removing the new key {} also failed: {u}", new.id),
        });
    }
    Ok(Rotation { key, new, old })
}

/// Imports plaintext keys (one a line; blank lines skipped). Validates every line first and
/// writes nothing unless all are importable; a store failure midway removes what was written.
pub fn import(
    kv: &dyn KvBackend,
    input: &str,
    opts: &CreateOpts,
    now: u64,
) -> Result<Vec<KeyRecord>, String> {
    check_opts(opts, now)?;
    let mut keys: Vec<ApiKey> = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let k = line.trim();
        if k.is_empty() {
            continue;
        }
        if k.len() > MAX_TOKEN_LEN || !is_b64token(k.as_bytes()) {
            return Err(format!(
                "line {}: not a valid key (RFC 6750 b64token, at most 4096 bytes)",
                n + 1
            ));
        }
        if keyformat::classify(k) == KeyShape::BadChecksum {
            return Err(format!(
                "line {}: starts with kg_ but fails the keygate checksum",
                n + 1
            ));
        }
        let key = ApiKey::new(k);
        if keys.iter().any(|seen| seen == &key) {
            return Err(format!("line {}: the same key appears twice", n + 1));
        }
        if kv.get(key.hash().as_kv_key())?.is_some() {
            return Err(format!(
                "line {}: key {} is already stored",
                n + 1,
                key.hash().id()
            ));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("no keys on stdin".to_owned());
    }
    let mut done = Vec::new();
    for key in &keys {
        match store_new(kv, key, opts, now) {
            Ok(r) => done.push(r),
            Err(e) => {
                for k in &keys[..done.len()] {
                    let _ = kv.delete(k.hash().as_kv_key());
                }
                return Err(format!(
                    "{e}; the {} key(s) written before were removed again",
                    done.len()
                ));
            }
        }
    }
    Ok(done)
}

fn read(kv: &dyn KvBackend, hash: &KeyHash) -> Result<KeyRecord, String> {
    let raw = kv
        .get(hash.as_kv_key())?
        .ok_or_else(|| format!("key {} vanished while reading", hash.id()))?;
    KeyRecord::decode(&raw, hash)
        .map_err(|e| format!("the record of key {} is corrupt ({e:?})", hash.id()))
}

/// Writes a record with its list metadata and, for an expiring key, a KV expiration.
fn write(kv: &dyn KvBackend, hash: &KeyHash, record: &KeyRecord, now: u64) -> Result<(), String> {
    let metadata = serde_json::to_string(&Summary::of(record)).map_err(|e| e.to_string())?;
    // KV needs an expiration at least 60 s ahead; the worker enforces the exact instant itself.
    let expiration = record
        .expires_at
        .map(|e| (e + EXPIRED_RETENTION_SECS).max(now + 120));
    kv.put(hash.as_kv_key(), &record.to_json(), &metadata, expiration)
}

/// Every key, from list metadata (falling back to reading records without metadata), by creation.
pub fn list(kv: &dyn KvBackend) -> Result<Vec<Summary>, String> {
    let mut out = Vec::new();
    for entry in kv.list("")? {
        let Some(hash) = KeyHash::parse(&entry.name) else {
            continue;
        };
        let from_meta = entry
            .metadata
            .and_then(|m| serde_json::from_value::<Summary>(m).ok());
        match from_meta {
            Some(s) if s.id == hash.id() => out.push(s),
            _ => {
                if let Some(raw) = kv.get(hash.as_kv_key())? {
                    match KeyRecord::decode(&raw, &hash) {
                        Ok(r) => out.push(Summary::of(&r)),
                        Err(e) => {
                            eprintln!("keygate: skipping corrupt record {} ({e:?})", hash.id())
                        }
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(out)
}

/// Finds the stored hash for an id or key. Errors when it is unknown or ambiguous.
pub fn resolve(kv: &dyn KvBackend, r: &KeyRef) -> Result<KeyHash, String> {
    match r {
        KeyRef::Key(key) => {
            let hash = key.hash();
            match kv.get(hash.as_kv_key())? {
                Some(_) => Ok(hash),
                None => Err(format!(
                    "no key matches the given key (id {}): it was revoked, or never stored here",
                    hash.id()
                )),
            }
        }
        KeyRef::Id(id) => {
            let found: Vec<KeyHash> = kv
                .list(id)?
                .iter()
                .filter_map(|l| KeyHash::parse(&l.name))
                .collect();
            match found.as_slice() {
                [h] => Ok(h.clone()),
                [] => Err(format!(
                    "no key with id {id}: it was revoked, or never stored here"
                )),
                _ => Err(format!("id {id} is ambiguous; use the key itself")),
            }
        }
    }
}

/// Reads and decodes the record for an id or key.
pub fn show(kv: &dyn KvBackend, r: &KeyRef) -> Result<KeyRecord, String> {
    read(kv, &resolve(kv, r)?)
}

/// Deletes a key's record. Refused requests follow within the revocation bound (see README).
pub fn revoke(kv: &dyn KvBackend, r: &KeyRef) -> Result<String, String> {
    let hash = resolve(kv, r)?;
    kv.delete(hash.as_kv_key())?;
    Ok(hash.id().to_owned())
}

/// Where `usage` reads a quota counter: the gateway's admin endpoint ([`admin::AdminApi`]), or
/// a fake in tests.
pub trait UsageSource {
    /// Requests counted by `counter` in the window that starts at `window_start` (Unix seconds).
    fn used(&self, counter: &str, window_start: u64) -> Result<u64, String>;
}

/// What `usage` reports of a key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub id: String,
    pub name: String,
    pub consumer_id: String,
    pub state: &'static str,
    /// `None`: the gateway's `DEFAULT_TIER`.
    pub tier: Option<String>,
    pub quota: Option<Quota>,
    /// The current window's count; `None` for a key without a quota.
    pub usage: Option<QuotaUsage>,
}

/// A quota's count in the window holding "now".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaUsage {
    /// The counter's name: `key:<id>` or `consumer:<consumer id>`.
    pub counter: String,
    pub used: u64,
    pub limit: u64,
    /// `limit - used`, and 0 (not negative) when a lowered limit is below the count.
    pub remaining: u64,
    pub window_start: u64,
    /// When the count starts again from zero (Unix seconds).
    pub window_end: u64,
    /// `window_end` as RFC 3339 UTC.
    pub resets_at: String,
    /// Whole seconds until the reset; at least 1.
    pub reset_in_secs: u64,
}

impl QuotaUsage {
    pub fn new(quota: &Quota, counter: String, window: Window, used: u64, now: u64) -> Self {
        Self {
            counter,
            used,
            limit: quota.limit,
            remaining: quota.limit.saturating_sub(used),
            window_start: window.start,
            window_end: window.end,
            resets_at: rfc3339(window.end),
            reset_in_secs: window.seconds_left(now),
        }
    }
}

/// A key's tier and, when it has a quota, the count in the current window from `source`.
/// A key without a quota is answered without calling `source`.
pub fn usage(
    kv: &dyn KvBackend,
    r: &KeyRef,
    source: &dyn UsageSource,
    now: u64,
) -> Result<Usage, String> {
    let rec = show(kv, r)?;
    let usage = match &rec.quota {
        None => None,
        Some(q) => {
            let window = q.period.window(now);
            let counter = q.counter(&rec.id, &rec.consumer_id);
            let used = source.used(&counter, window.start)?;
            Some(QuotaUsage::new(q, counter, window, used, now))
        }
    };
    Ok(Usage {
        state: state_name(rec.state(now)),
        id: rec.id,
        name: rec.name,
        consumer_id: rec.consumer_id,
        tier: rec.tier,
        quota: rec.quota,
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::MemoryKv;

    const NOW: u64 = 1_800_000_000;

    fn opts(name: &str) -> CreateOpts {
        CreateOpts::new(name, "acme")
    }

    #[test]
    fn generated_keys_have_prefix_length_and_base62_alphabet() {
        let k = generate_key().unwrap();
        let s = k.expose();
        assert!(s.starts_with("kg_"));
        assert_eq!(s.len(), keyformat::KEY_LEN);
        assert_eq!(keyformat::classify(s), KeyShape::Valid);
        assert!(s[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        assert!(is_b64token(s.as_bytes()));
    }

    #[test]
    fn generated_keys_differ_and_use_the_whole_alphabet() {
        let keys: Vec<String> = (0..200)
            .map(|_| generate_key().unwrap().expose().to_owned())
            .collect();
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        let seen: std::collections::HashSet<u8> = keys
            .iter()
            .flat_map(|k| k[3..3 + keyformat::RANDOM_LEN].bytes())
            .collect();
        assert_eq!(
            seen.len(),
            62,
            "200 keys × 43 random chars should hit all 62 symbols"
        );
    }

    #[test]
    fn expiry_accepts_rfc3339_and_durations_and_refuses_the_past() {
        assert_eq!(parse_expiry("30d", NOW), Ok(NOW + 30 * 86_400));
        assert_eq!(parse_expiry("2030-01-01T00:00:00Z", NOW), Ok(1_893_456_000));
        assert_eq!(
            parse_expiry("2030-01-01T01:00:00+01:00", NOW),
            Ok(1_893_456_000)
        );
        assert!(parse_expiry("2020-01-01T00:00:00Z", NOW)
            .unwrap_err()
            .contains("not in the future"));
        assert!(parse_expiry("0s", NOW).is_err());
        assert!(parse_expiry("tomorrow", NOW).is_err());
    }

    #[test]
    fn create_stores_only_the_hash_and_a_record_the_worker_accepts() {
        let kv = MemoryKv::default();
        let (key, rec) = create(&kv, &opts("ci"), NOW).unwrap();
        let entries = kv.entries.borrow();
        let (name, (value, meta, exp)) = entries.iter().next().unwrap();
        assert_eq!(name, key.hash().as_kv_key());
        assert!(!value.contains(key.expose()) && !meta.contains(key.expose()));
        assert!(
            !meta.contains(name.as_str()),
            "metadata must not repeat the full hash"
        );
        assert_eq!(KeyRecord::decode(value, &key.hash()).unwrap(), rec);
        assert_eq!(*exp, None);
    }

    #[test]
    fn expiring_key_gets_a_kv_expiration_after_a_retention_window() {
        let kv = MemoryKv::default();
        let o = CreateOpts {
            expires_at: Some(NOW + 3600),
            ..opts("tmp")
        };
        create(&kv, &o, NOW).unwrap();
        let exp = kv.entries.borrow().values().next().unwrap().2;
        assert_eq!(exp, Some(NOW + 3600 + EXPIRED_RETENTION_SECS));
    }

    #[test]
    fn bad_create_input_writes_nothing() {
        let kv = MemoryKv::default();
        for o in [
            opts(""),
            opts("bad\nname"),
            CreateOpts {
                consumer_id: "has space".into(),
                ..opts("x")
            },
            CreateOpts {
                expires_at: Some(NOW - 1),
                ..opts("x")
            },
            CreateOpts {
                consumer_name: Some("\u{7f}".into()),
                ..opts("x")
            },
        ] {
            assert!(create(&kv, &o, NOW).is_err(), "{o:?}");
        }
        assert!(kv.entries.borrow().is_empty());
    }

    #[test]
    fn store_failure_on_create_is_reported() {
        let kv = MemoryKv::default();
        *kv.fail.borrow_mut() = Some("KV PUT failed: 500".into());
        assert_eq!(
            create(&kv, &opts("x"), NOW).unwrap_err(),
            "KV PUT failed: 500"
        );
    }

    #[test]
    fn list_shows_ids_and_states_but_never_keys_or_hashes() {
        let kv = MemoryKv::default();
        let (k1, _) = create(&kv, &opts("a"), NOW).unwrap();
        let (k2, _) = create(
            &kv,
            &CreateOpts {
                expires_at: Some(NOW + 10),
                ..opts("b")
            },
            NOW,
        )
        .unwrap();
        let l = list(&kv).unwrap();
        assert_eq!(l.len(), 2);
        let json = serde_json::to_string(&l).unwrap();
        for k in [&k1, &k2] {
            assert!(!json.contains(k.expose()));
            assert!(!json.contains(k.hash().as_kv_key()));
            assert!(json.contains(k.hash().id()));
        }
        let b = l.iter().find(|s| s.name == "b").unwrap();
        assert_eq!(b.state(NOW + 9), "active");
        assert_eq!(b.state(NOW + 10), "expired");
    }

    #[test]
    fn list_reads_records_written_without_metadata() {
        let kv = MemoryKv::default();
        let (key, rec) = create(&kv, &opts("a"), NOW).unwrap();
        kv.entries
            .borrow_mut()
            .get_mut(key.hash().as_kv_key())
            .unwrap()
            .1 = String::new();
        assert_eq!(list(&kv).unwrap(), vec![Summary::of(&rec)]);
    }

    #[test]
    fn revoke_by_id_or_by_key_deletes_exactly_that_key() {
        let kv = MemoryKv::default();
        let (k1, r1) = create(&kv, &opts("a"), NOW).unwrap();
        let (k2, _) = create(&kv, &opts("b"), NOW).unwrap();
        assert_eq!(revoke(&kv, &KeyRef::parse(&r1.id).unwrap()).unwrap(), r1.id);
        assert!(kv.get(k1.hash().as_kv_key()).unwrap().is_none());
        assert!(kv.get(k2.hash().as_kv_key()).unwrap().is_some());
        revoke(&kv, &KeyRef::parse(k2.expose()).unwrap()).unwrap();
        assert!(kv.entries.borrow().is_empty());
    }

    #[test]
    fn revoking_an_unknown_id_or_key_fails_and_changes_nothing() {
        let kv = MemoryKv::default();
        create(&kv, &opts("a"), NOW).unwrap();
        assert!(revoke(&kv, &KeyRef::parse("000000000000").unwrap())
            .unwrap_err()
            .contains("no key with id"));
        assert!(revoke(&kv, &KeyRef::parse("kg_notakey").unwrap()).is_err());
        assert_eq!(kv.entries.borrow().len(), 1);
    }

    #[test]
    fn key_ref_rejects_garbage() {
        for s in ["", "has space", "kg_\u{e9}", "a,b"] {
            assert!(KeyRef::parse(s).is_err(), "{s:?}");
        }
        assert!(matches!(KeyRef::parse("0123456789ab"), Ok(KeyRef::Id(_))));
        assert!(matches!(KeyRef::parse("0123456789AB"), Ok(KeyRef::Key(_))));
    }

    #[test]
    fn show_reports_a_corrupt_record_by_id_only() {
        let kv = MemoryKv::default();
        let (key, rec) = create(&kv, &opts("a"), NOW).unwrap();
        kv.entries
            .borrow_mut()
            .get_mut(key.hash().as_kv_key())
            .unwrap()
            .0 = "{not json".into();
        let err = show(&kv, &KeyRef::Id(rec.id.clone())).unwrap_err();
        assert!(err.contains(&rec.id) && !err.contains(key.hash().as_kv_key()));
    }

    #[test]
    fn disable_then_enable_flips_only_the_flag() {
        let kv = MemoryKv::default();
        let (key, rec) = create(&kv, &opts("a"), NOW).unwrap();
        let r = KeyRef::Id(rec.id.clone());
        assert!(set_disabled(&kv, &r, true, NOW).unwrap().disabled);
        assert_eq!(show(&kv, &r).unwrap().state(NOW), KeyState::Disabled);
        let back = set_disabled(&kv, &KeyRef::Key(key), false, NOW).unwrap();
        assert_eq!(back, rec, "enable restores the record exactly");
        assert_eq!(list(&kv).unwrap()[0].state(NOW), "active");
    }

    #[test]
    fn rotate_copies_identity_and_expires_the_old_key_after_the_overlap() {
        let kv = MemoryKv::default();
        let o = CreateOpts {
            scopes: vec!["GET /v1/*".into()],
            meta: parse_meta(&["plan=pro".into()], None).unwrap(),
            consumer_name: Some("Acme".into()),
            ..opts("svc")
        };
        let (_, old) = create(&kv, &o, NOW).unwrap();
        let rot = rotate(&kv, &KeyRef::Id(old.id.clone()), 3600, NOW + 10).unwrap();
        assert_eq!(rot.old.expires_at, Some(NOW + 10 + 3600));
        assert_eq!(
            (
                rot.new.consumer_id.as_str(),
                rot.new.consumer_name.as_deref()
            ),
            ("acme", Some("Acme"))
        );
        assert_eq!(rot.new.scopes, old.scopes);
        assert_eq!(rot.new.meta, old.meta);
        assert_eq!(rot.new.expires_at, None);
        assert_eq!(keyformat::classify(rot.key.expose()), KeyShape::Valid);
        assert_eq!(
            show(&kv, &KeyRef::Id(old.id)).unwrap().expires_at,
            Some(NOW + 3610)
        );
    }

    #[test]
    fn rotate_never_extends_an_existing_expiry() {
        let kv = MemoryKv::default();
        let (_, old) = create(
            &kv,
            &CreateOpts {
                expires_at: Some(NOW + 60),
                ..opts("a")
            },
            NOW,
        )
        .unwrap();
        let rot = rotate(&kv, &KeyRef::Id(old.id), 24 * 3600, NOW).unwrap();
        assert_eq!(rot.old.expires_at, Some(NOW + 60));
        assert_eq!(
            rot.new.expires_at,
            Some(NOW + 60),
            "the new key inherits the old deadline"
        );
    }

    #[test]
    fn rotating_a_disabled_key_is_refused_and_writes_nothing() {
        let kv = MemoryKv::default();
        let (_, old) = create(&kv, &opts("a"), NOW).unwrap();
        set_disabled(&kv, &KeyRef::Id(old.id.clone()), true, NOW).unwrap();
        assert!(rotate(&kv, &KeyRef::Id(old.id), 60, NOW)
            .unwrap_err()
            .contains("disabled"));
        assert_eq!(kv.entries.borrow().len(), 1);
    }

    #[test]
    fn import_stores_only_hashes_and_keeps_keys_usable() {
        let kv = MemoryKv::default();
        let done = import(
            &kv,
            "legacy-one\n\n  legacy-two  \n",
            &opts("imported"),
            NOW,
        )
        .unwrap();
        assert_eq!(done.len(), 2);
        for k in ["legacy-one", "legacy-two"] {
            let h = ApiKey::new(k).hash();
            let raw = kv.get(h.as_kv_key()).unwrap().unwrap();
            assert!(!raw.contains(k));
            assert!(KeyRecord::decode(&raw, &h).is_ok());
        }
    }

    #[test]
    fn import_with_any_bad_line_writes_nothing() {
        let kv = MemoryKv::default();
        let good = generate_key().unwrap();
        let mut bad_sum = good.expose().to_owned();
        bad_sum.replace_range(4..5, if &bad_sum[4..5] == "x" { "y" } else { "x" });
        for input in [
            String::from("ok-key\nbad key\n"),
            String::from("dup\ndup\n"),
            format!("{bad_sum}\n"),
            String::from("\n\n"),
        ] {
            assert!(import(&kv, &input, &opts("i"), NOW).is_err(), "{input:?}");
        }
        assert!(kv.entries.borrow().is_empty());
        import(&kv, "already\n", &opts("i"), NOW).unwrap();
        assert!(import(&kv, "fresh\nalready\n", &opts("i"), NOW)
            .unwrap_err()
            .contains("already stored"));
        assert_eq!(kv.entries.borrow().len(), 1);
    }

    #[test]
    fn scopes_and_metadata_are_validated_before_any_write() {
        let kv = MemoryKv::default();
        assert!(create(
            &kv,
            &CreateOpts {
                scopes: vec!["GET v1".into()],
                ..opts("a")
            },
            NOW
        )
        .is_err());
        assert!(parse_meta(&["novalue".into()], None).is_err());
        assert!(parse_meta(&[], Some("[1]")).is_err());
        assert_eq!(
            parse_scopes(&["GET:/v1/*, * /r/**".into()]).unwrap(),
            vec!["GET /v1/*", "* /r/**"]
        );
        assert!(kv.entries.borrow().is_empty());
    }

    /// The rule in `.gitleaks.toml`, as a scanner would apply it.
    fn gitleaks_rule() -> regex::Regex {
        let toml = include_str!("../../../.gitleaks.toml");
        let line = toml
            .lines()
            .find(|l| l.starts_with("regex = "))
            .expect("regex line");
        let pattern = line.trim_start_matches("regex = ").trim_matches('\'');
        regex::Regex::new(pattern).expect("the gitleaks regex compiles")
    }

    #[test]
    fn gitleaks_rule_matches_generated_keys_and_rejects_mutated_ones() {
        let rule = gitleaks_rule();
        for _ in 0..50 {
            let key = generate_key().unwrap();
            let text = format!("export TOKEN={} # leaked", key.expose());
            let m = rule.captures(&text).expect("matches a generated key");
            assert_eq!(&m[1], key.expose());
            let k = key.expose();
            for mutated in [
                k[..k.len() - 1].to_owned(),         // checksum cut short
                k.replacen("kg_", "kx_", 1),         // other prefix
                k.replace('_', "-"),                 // separators changed
                format!("{}{}", &k[..10], &k[11..]), // one random character dropped
            ] {
                assert!(!rule.is_match(&mutated), "{mutated}");
            }
        }
        // The published regex and the one in the code agree.
        assert!(toml_regex_matches_core_regex());
    }

    fn toml_regex_matches_core_regex() -> bool {
        gitleaks_rule().as_str().contains(keyformat::KEY_REGEX)
    }

    // Rate-limit tiers and quotas.

    fn quota(limit: u64, period: &str) -> Quota {
        Quota {
            limit,
            period: QuotaPeriod::parse(period).unwrap(),
            per: QuotaScope::Key,
        }
    }

    /// A [`UsageSource`] that records its calls and answers a fixed count (or an error).
    struct FakeUsage {
        used: Result<u64, String>,
        calls: std::cell::RefCell<Vec<(String, u64)>>,
    }

    impl FakeUsage {
        fn answering(used: Result<u64, String>) -> Self {
            Self {
                used,
                calls: Default::default(),
            }
        }
    }

    impl UsageSource for FakeUsage {
        fn used(&self, counter: &str, window_start: u64) -> Result<u64, String> {
            self.calls
                .borrow_mut()
                .push((counter.to_owned(), window_start));
            self.used.clone()
        }
    }

    fn stored(kv: &MemoryKv, key: &ApiKey) -> (KeyRecord, Summary, Option<u64>) {
        let entries = kv.entries.borrow();
        let (value, meta, exp) = entries.get(key.hash().as_kv_key()).unwrap();
        (
            KeyRecord::decode(value, &key.hash()).unwrap(),
            serde_json::from_str(meta).unwrap(),
            *exp,
        )
    }

    #[test]
    fn quota_syntax_accepts_limit_slash_period() {
        assert_eq!(
            parse_quota("10000/month", QuotaScope::Key),
            Ok(quota(10_000, "month"))
        );
        assert_eq!(
            parse_quota(" 500 / day ", QuotaScope::Consumer).map(|q| quota_text(&q)),
            Ok("500/day per consumer".to_owned())
        );
        assert_eq!(parse_quota("20/30s", QuotaScope::Key), Ok(quota(20, "30s")));
        assert_eq!(
            parse_quota(&format!("{MAX_QUOTA_LIMIT}/hour"), QuotaScope::Key).map(|q| q.limit),
            Ok(MAX_QUOTA_LIMIT)
        );
    }

    #[test]
    fn bad_quota_syntax_is_refused_with_the_reason() {
        for (input, reason) in [
            ("10000", "must be LIMIT/PERIOD"),
            ("", "must be LIMIT/PERIOD"),
            ("0/day", "whole number from 1"),
            ("-5/day", "whole number from 1"),
            ("+5/day", "whole number from 1"),
            ("1.5/day", "whole number from 1"),
            ("ten/day", "whole number from 1"),
            (
                &format!("{}/day", MAX_QUOTA_LIMIT + 1),
                "whole number from 1",
            ),
            ("99999999999999999999999/day", "whole number from 1"),
            ("5/week", "must be month, day or hour"),
            ("5/", "must be month, day or hour"),
            ("5/0s", "must be month, day or hour"),
            ("5/30", "must be month, day or hour"),
            ("5/Month", "must be month, day or hour"),
            ("5/day/extra", "must be month, day or hour"),
        ] {
            let e = parse_quota(input, QuotaScope::Key).unwrap_err();
            assert!(e.contains(reason), "{input:?}: {e}");
        }
        assert!(parse_quota_scope("team").is_err());
    }

    #[test]
    fn create_with_tier_and_quota_stores_them_in_the_record() {
        let kv = MemoryKv::default();
        let o = CreateOpts {
            tier: Some("pro".into()),
            quota: Some(quota(10_000, "month")),
            ..opts("svc")
        };
        let (key, rec) = create(&kv, &o, NOW).unwrap();
        assert_eq!(rec.tier.as_deref(), Some("pro"));
        assert_eq!(rec.quota, Some(quota(10_000, "month")));
        let (stored_rec, meta, _) = stored(&kv, &key);
        assert_eq!(
            stored_rec, rec,
            "the worker decodes the same tier and quota"
        );
        assert_eq!(
            meta.tier.as_deref(),
            Some("pro"),
            "list metadata carries the tier"
        );
        let raw = kv.get(key.hash().as_kv_key()).unwrap().unwrap();
        assert!(
            raw.contains(r#""tier":"pro""#)
                && raw.contains(r#""quota":{"limit":10000,"period":"month"}"#),
            "{raw}"
        );
    }

    #[test]
    fn create_without_tier_or_quota_stores_neither_field() {
        let kv = MemoryKv::default();
        let (key, _) = create(&kv, &opts("a"), NOW).unwrap();
        let raw = kv.get(key.hash().as_kv_key()).unwrap().unwrap();
        assert!(!raw.contains("tier") && !raw.contains("quota"), "{raw}");
    }

    #[test]
    fn bad_tier_or_quota_on_create_or_import_writes_nothing() {
        let kv = MemoryKv::default();
        for o in [
            CreateOpts {
                tier: Some("Pro".into()),
                ..opts("x")
            },
            CreateOpts {
                tier: Some(String::new()),
                ..opts("x")
            },
            CreateOpts {
                tier: Some("a".repeat(33)),
                ..opts("x")
            },
            CreateOpts {
                quota: Some(quota(0, "day")),
                ..opts("x")
            },
            CreateOpts {
                quota: Some(quota(MAX_QUOTA_LIMIT + 1, "day")),
                ..opts("x")
            },
        ] {
            assert!(create(&kv, &o, NOW).is_err(), "{o:?}");
            assert!(import(&kv, "legacy\n", &o, NOW).is_err(), "{o:?}");
        }
        assert!(kv.entries.borrow().is_empty());
    }

    #[test]
    fn set_tier_then_clear_returns_the_key_to_the_default_tier() {
        let kv = MemoryKv::default();
        let (key, rec) = create(&kv, &opts("a"), NOW).unwrap();
        let r = KeyRef::Id(rec.id.clone());
        assert_eq!(
            set_tier(&kv, &r, Some("pro"), NOW).unwrap().tier.as_deref(),
            Some("pro")
        );
        assert_eq!(stored(&kv, &key).1.tier.as_deref(), Some("pro"));
        assert_eq!(list(&kv).unwrap()[0].tier.as_deref(), Some("pro"));
        let back = set_tier(&kv, &KeyRef::Key(key.clone()), None, NOW).unwrap();
        assert_eq!(back, rec, "--clear restores the record exactly");
        assert_eq!(stored(&kv, &key).1.tier, None);
    }

    #[test]
    fn set_tier_with_a_bad_name_changes_nothing() {
        let kv = MemoryKv::default();
        let (key, rec) = create(&kv, &opts("a"), NOW).unwrap();
        let before = kv.entries.borrow().clone();
        for bad in ["", "Pro", "pro tier", "pro!", &"x".repeat(33)] {
            assert!(set_tier(&kv, &KeyRef::Id(rec.id.clone()), Some(bad), NOW)
                .unwrap_err()
                .contains("tier"));
        }
        assert_eq!(*kv.entries.borrow(), before);
        assert_eq!(stored(&kv, &key).0, rec);
    }

    #[test]
    fn set_quota_none_removes_it_and_keeps_everything_else() {
        let kv = MemoryKv::default();
        let o = CreateOpts {
            tier: Some("free".into()),
            expires_at: Some(NOW + 3600),
            ..opts("a")
        };
        let (key, rec) = create(&kv, &o, NOW).unwrap();
        let r = KeyRef::Id(rec.id.clone());
        let exp_before = stored(&kv, &key).2;
        let q = Quota {
            per: QuotaScope::Consumer,
            ..quota(500, "day")
        };
        let (set, before) = set_quota(&kv, &r, Some(q), NOW).unwrap();
        assert_eq!((set.quota, before), (Some(q), None));
        assert_eq!(show(&kv, &r).unwrap().quota, Some(q));
        let (removed, before) = set_quota(&kv, &r, None, NOW + 60).unwrap();
        assert_eq!(removed, rec, "only the quota changed, and back");
        assert_eq!(before, Some(q));
        let (after, meta, exp) = stored(&kv, &key);
        assert_eq!(after.quota, None);
        assert_eq!(meta, Summary::of(&rec));
        assert_eq!(
            exp, exp_before,
            "the KV expiration follows the key's expiry"
        );
    }

    #[test]
    fn set_quota_with_an_out_of_range_limit_changes_nothing() {
        let kv = MemoryKv::default();
        let (_, rec) = create(&kv, &opts("a"), NOW).unwrap();
        let before = kv.entries.borrow().clone();
        let r = KeyRef::Id(rec.id);
        assert!(set_quota(&kv, &r, Some(quota(0, "day")), NOW).is_err());
        assert!(set_quota(&kv, &r, Some(quota(MAX_QUOTA_LIMIT + 1, "day")), NOW).is_err());
        assert_eq!(*kv.entries.borrow(), before);
    }

    #[test]
    fn set_tier_or_quota_on_a_revoked_or_unknown_key_is_refused() {
        let kv = MemoryKv::default();
        let (key, rec) = create(&kv, &opts("a"), NOW).unwrap();
        revoke(&kv, &KeyRef::Id(rec.id.clone())).unwrap();
        for r in [KeyRef::Id(rec.id.clone()), KeyRef::Key(key)] {
            let e = set_tier(&kv, &r, Some("pro"), NOW).unwrap_err();
            assert!(e.contains("revoked"), "{e}");
            let e = set_quota(&kv, &r, Some(quota(1, "day")), NOW).unwrap_err();
            assert!(e.contains("revoked"), "{e}");
        }
        assert!(kv.entries.borrow().is_empty(), "nothing was written back");
    }

    #[test]
    fn a_store_failure_on_set_quota_is_reported() {
        let kv = MemoryKv::default();
        let (_, rec) = create(&kv, &opts("a"), NOW).unwrap();
        *kv.fail.borrow_mut() = Some("KV PUT failed: 500".into());
        assert_eq!(
            set_quota(&kv, &KeyRef::Id(rec.id), None, NOW).unwrap_err(),
            "KV PUT failed: 500"
        );
    }

    #[test]
    fn rotate_keeps_tier_and_quota() {
        let kv = MemoryKv::default();
        let o = CreateOpts {
            tier: Some("pro".into()),
            quota: Some(Quota {
                per: QuotaScope::Consumer,
                ..quota(10_000, "month")
            }),
            ..opts("svc")
        };
        let (_, old) = create(&kv, &o, NOW).unwrap();
        let rot = rotate(&kv, &KeyRef::Id(old.id.clone()), 3600, NOW).unwrap();
        assert_eq!(rot.new.tier, old.tier);
        assert_eq!(rot.new.quota, old.quota);
        assert_eq!(stored(&kv, &rot.key).0.quota, old.quota);
        assert_eq!(rot.old.tier, old.tier);
        assert_eq!(rot.old.quota, old.quota);
        // Counted per consumer, both keys spend from the same counter.
        let q = old.quota.unwrap();
        assert_eq!(
            q.counter(&old.id, &old.consumer_id),
            q.counter(&rot.new.id, &rot.new.consumer_id)
        );
    }

    #[test]
    fn usage_for_a_key_without_quota_makes_no_call() {
        let kv = MemoryKv::default();
        let (_, rec) = create(
            &kv,
            &CreateOpts {
                tier: Some("free".into()),
                ..opts("a")
            },
            NOW,
        )
        .unwrap();
        let fake = FakeUsage::answering(Err("must not be called".into()));
        let u = usage(&kv, &KeyRef::Id(rec.id.clone()), &fake, NOW).unwrap();
        assert!(fake.calls.borrow().is_empty());
        assert_eq!((u.quota, u.usage), (None, None));
        assert_eq!(u.tier.as_deref(), Some("free"));
        assert_eq!(u.id, rec.id);
    }

    #[test]
    fn usage_reports_remaining_and_the_reset_at_the_end_of_the_window() {
        let kv = MemoryKv::default();
        let (key, rec) = create(
            &kv,
            &CreateOpts {
                quota: Some(quota(10_000, "month")),
                ..opts("a")
            },
            NOW,
        )
        .unwrap();
        // NOW is 2027-01-15T08:00:00Z: the window is January 2027, UTC.
        assert_eq!(rfc3339(NOW), "2027-01-15T08:00:00Z");
        let fake = FakeUsage::answering(Ok(42));
        let u = usage(&kv, &KeyRef::Key(key), &fake, NOW).unwrap();
        let jan = 1_798_761_600; // 2027-01-01T00:00:00Z
        let feb = jan + 31 * 86_400;
        assert_eq!(
            *fake.calls.borrow(),
            vec![(format!("key:month:{}", rec.id), jan)],
            "the gateway is asked about this key's counter in this window"
        );
        assert_eq!(
            u.usage,
            Some(QuotaUsage {
                counter: format!("key:month:{}", rec.id),
                used: 42,
                limit: 10_000,
                remaining: 9_958,
                window_start: jan,
                window_end: feb,
                resets_at: "2027-02-01T00:00:00Z".into(),
                reset_in_secs: feb - NOW,
            })
        );
        assert_eq!(u.state, "active");
    }

    #[test]
    fn usage_remaining_never_goes_below_zero() {
        let q = quota(5, "30s");
        let w = q.period.window(95);
        let u = QuotaUsage::new(&q, "key:x".into(), w, 8, 95);
        assert_eq!((u.used, u.limit, u.remaining), (8, 5, 0));
        assert_eq!(
            (u.window_start, u.window_end, u.reset_in_secs),
            (90, 120, 25)
        );
        assert_eq!(QuotaUsage::new(&q, "key:x".into(), w, 5, 95).remaining, 0);
        assert_eq!(QuotaUsage::new(&q, "key:x".into(), w, 0, 95).remaining, 5);
    }

    #[test]
    fn usage_of_a_per_consumer_quota_reads_the_consumer_counter() {
        let kv = MemoryKv::default();
        let (_, rec) = create(
            &kv,
            &CreateOpts {
                quota: Some(Quota {
                    per: QuotaScope::Consumer,
                    ..quota(100, "hour")
                }),
                ..opts("a")
            },
            NOW,
        )
        .unwrap();
        let fake = FakeUsage::answering(Ok(0));
        let u = usage(&kv, &KeyRef::Id(rec.id), &fake, NOW + 59).unwrap();
        assert_eq!(
            *fake.calls.borrow(),
            vec![("consumer:hour:acme".to_owned(), NOW)]
        );
        let w = u.usage.unwrap();
        assert_eq!((w.remaining, w.reset_in_secs), (100, 3_600 - 59));
    }

    #[test]
    fn usage_passes_on_a_gateway_error_and_refuses_unknown_keys() {
        let kv = MemoryKv::default();
        let (_, rec) = create(
            &kv,
            &CreateOpts {
                quota: Some(quota(1, "day")),
                ..opts("a")
            },
            NOW,
        )
        .unwrap();
        let fake = FakeUsage::answering(Err(
            "the gateway answered 503 Quota store unavailable".into()
        ));
        assert_eq!(
            usage(&kv, &KeyRef::Id(rec.id.clone()), &fake, NOW).unwrap_err(),
            "the gateway answered 503 Quota store unavailable"
        );
        let none = FakeUsage::answering(Ok(0));
        assert!(usage(&kv, &KeyRef::parse("000000000000").unwrap(), &none, NOW).is_err());
        assert!(none.calls.borrow().is_empty());
    }

    #[test]
    fn list_metadata_written_before_tiers_still_parses() {
        let s: Summary = serde_json::from_str(
            r#"{"id":"0123456789ab","name":"n","consumer_id":"c","created_at":1,"expires_at":null,"disabled":false}"#,
        )
        .unwrap();
        assert_eq!(s.tier, None);
    }
}
