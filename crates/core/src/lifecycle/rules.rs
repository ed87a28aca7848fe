//! The rules a key's fields obey, checked before anything is written, whoever writes: the CLI
//! today, the management API next. Also the quota notation (`10000/month per key`), which both
//! read and print.

use super::error::{Field, Invalid, Problem};
use super::NewKey;
use crate::credential::{is_b64token, MAX_TOKEN_LEN};
use crate::keyformat::{self, KeyShape};
use crate::limits::{is_tier_name, Quota, QuotaPeriod, QuotaScope, MAX_QUOTA_LIMIT};
use crate::record::is_header_safe;
use crate::scope::Scope;
use crate::secret::ApiKey;

/// Longest name and consumer name, in bytes.
pub const MAX_LABEL_LEN: usize = 128;
/// Longest consumer id, in bytes.
pub const MAX_CONSUMER_ID_LEN: usize = 128;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Largest metadata object, as JSON, in bytes.
pub const MAX_META_LEN: usize = 8 * 1024;

/// A name or consumer name: 1 to 128 printable ASCII characters, no leading or trailing space
/// (the gateway sends the consumer name as a header).
pub fn check_label(field: Field, s: &str) -> Result<(), Invalid> {
    if s.is_empty() || s.len() > MAX_LABEL_LEN || !is_header_safe(s) {
        return Err(Invalid::new(field, Problem::Label));
    }
    Ok(())
}

/// A consumer id: 1 to 128 of `A-Z a-z 0-9 . _ : @ -`.
pub fn check_consumer_id(s: &str) -> Result<(), Invalid> {
    if s.is_empty()
        || s.len() > MAX_CONSUMER_ID_LEN
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b))
    {
        return Err(Invalid::new(Field::ConsumerId, Problem::ConsumerId));
    }
    Ok(())
}

/// A description: at most 1024 bytes, no control characters.
pub fn check_description(s: &str) -> Result<(), Invalid> {
    if s.len() > MAX_DESCRIPTION_LEN || s.chars().any(char::is_control) {
        return Err(Invalid::new(Field::Description, Problem::Description));
    }
    Ok(())
}

/// The latest expiry: 9999-12-31T23:59:59Z, the last instant RFC 3339 can write. It keeps every
/// stored time a safe JavaScript integer, as KV's list metadata needs.
pub const MAX_EXPIRES_AT: u64 = 253_402_300_799;

/// An expiry must lie after `now`, and no later than [`MAX_EXPIRES_AT`].
pub fn check_expiry(expires_at: u64, now: u64) -> Result<(), Invalid> {
    if expires_at <= now {
        return Err(Invalid::new(Field::ExpiresAt, Problem::NotInFuture));
    }
    if expires_at > MAX_EXPIRES_AT {
        return Err(Invalid::new(Field::ExpiresAt, Problem::TooLate));
    }
    Ok(())
}

/// Scopes in their canonical spelling (`GET:/v1/*` becomes `GET /v1/*`); refuses any that
/// does not parse.
pub fn canonical_scopes(scopes: &[String]) -> Result<Vec<String>, Invalid> {
    scopes
        .iter()
        .map(|s| {
            Scope::parse(s)
                .map(|s| s.canonical())
                .map_err(|e| Invalid::new(Field::Scopes, Problem::Scope(e.0)))
        })
        .collect()
}

/// Metadata: at most [`MAX_META_LEN`] bytes of JSON.
pub fn check_meta(meta: &serde_json::Map<String, serde_json::Value>) -> Result<(), Invalid> {
    if serde_json::to_string(meta).map_or(0, |s| s.len()) > MAX_META_LEN {
        return Err(Invalid::new(Field::Meta, Problem::MetaTooLarge));
    }
    Ok(())
}

/// A tier name: 1 to 32 characters from `a-z 0-9 _ -`. Whether the gateway defines it cannot
/// be checked here.
pub fn check_tier(s: &str) -> Result<(), Invalid> {
    if !is_tier_name(s) {
        return Err(Invalid::new(Field::Tier, Problem::TierName(s.to_owned())));
    }
    Ok(())
}

/// A quota's limit: 1 to [`MAX_QUOTA_LIMIT`].
pub fn check_quota(q: &Quota) -> Result<(), Invalid> {
    if !(1..=MAX_QUOTA_LIMIT).contains(&q.limit) {
        return Err(Invalid::new(
            Field::Quota,
            Problem::QuotaLimit(q.limit.to_string()),
        ));
    }
    Ok(())
}

/// Every field of a new key, before anything is read or written.
pub fn check_new_key(k: &NewKey, now: u64) -> Result<(), Invalid> {
    check_label(Field::Name, &k.name)?;
    check_consumer_id(&k.consumer_id)?;
    if let Some(n) = &k.consumer_name {
        check_label(Field::ConsumerName, n)?;
    }
    if let Some(d) = &k.description {
        check_description(d)?;
    }
    canonical_scopes(&k.scopes)?;
    check_meta(&k.meta)?;
    if let Some(e) = k.expires_at {
        check_expiry(e, now)?;
    }
    if let Some(t) = &k.tier {
        check_tier(t)?;
    }
    if let Some(q) = &k.quota {
        check_quota(q)?;
    }
    Ok(())
}

/// A key to import, at 1-based `line`: an RFC 6750 b64token of at most 4096 bytes, and, with
/// the keygate prefix, a valid checksum.
pub fn check_import_key(line: usize, k: &str) -> Result<ApiKey, Invalid> {
    let at = Field::ImportLine(line);
    if k.len() > MAX_TOKEN_LEN || !is_b64token(k.as_bytes()) {
        return Err(Invalid::new(at, Problem::NotAKey));
    }
    if keyformat::classify(k) == KeyShape::BadChecksum {
        return Err(Invalid::new(at, Problem::BadChecksum));
    }
    Ok(ApiKey::new(k))
}

/// Reads the quota notation `LIMIT/PERIOD` (`10000/month`, `500/day`, `100/hour`, `20/30s`);
/// the limit is a whole number from 1 to [`MAX_QUOTA_LIMIT`].
pub fn parse_quota(s: &str, per: QuotaScope) -> Result<Quota, Invalid> {
    let bad = |p| Invalid::new(Field::Quota, p);
    let s = s.trim();
    let (limit, period) = s
        .split_once('/')
        .ok_or_else(|| bad(Problem::QuotaSyntax(s.to_owned())))?;
    let limit = limit.trim();
    let limit = match limit.parse::<u64>() {
        Ok(n @ 1..=MAX_QUOTA_LIMIT) if limit.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => return Err(bad(Problem::QuotaLimit(limit.to_owned()))),
    };
    let period = period.trim();
    let period =
        QuotaPeriod::parse(period).ok_or_else(|| bad(Problem::QuotaPeriod(period.to_owned())))?;
    Ok(Quota { limit, period, per })
}

/// Reads a quota scope: `key` or `consumer`.
pub fn parse_quota_scope(s: &str) -> Result<QuotaScope, Invalid> {
    match s {
        "key" => Ok(QuotaScope::Key),
        "consumer" => Ok(QuotaScope::Consumer),
        _ => Err(Invalid::new(
            Field::Quota,
            Problem::QuotaScope(s.to_owned()),
        )),
    }
}

/// A quota in the notation [`parse_quota`] reads, with its scope: `10000/month per key`.
pub fn quota_text(q: &Quota) -> String {
    let per = match q.per {
        QuotaScope::Key => "key",
        QuotaScope::Consumer => "consumer",
    };
    format!("{}/{} per {per}", q.limit, q.period)
}
