//! The `keygate` CLI's commands as plain functions over a [`store::KvBackend`], so they are
//! tested against an in-memory namespace; `main.rs` only parses arguments and prints.

pub mod store;

use keygate_core::credential::{is_b64token, MAX_TOKEN_LEN};
use keygate_core::record::{is_header_safe, KeyState, RECORD_VERSION};
use keygate_core::{ApiKey, KeyHash, KeyRecord};
use serde::{Deserialize, Serialize};
use store::KvBackend;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Prefix of every generated key, so scanners and people can recognise one.
pub const KEY_PREFIX: &str = "kg_";
/// Random base62 characters in a generated key: 44 × log2(62) ≈ 262 bits of entropy.
pub const KEY_RANDOM_CHARS: usize = 44;
/// How long KV keeps a record after its expiry, so `list` can still show it as expired.
pub const EXPIRED_RETENTION_SECS: u64 = 7 * 24 * 3600;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new key from the OS CSPRNG: `kg_` + 44 uniformly random base62 characters.
pub fn generate_key() -> Result<ApiKey, String> {
    let mut key = String::with_capacity(KEY_PREFIX.len() + KEY_RANDOM_CHARS);
    key.push_str(KEY_PREFIX);
    let mut buf = [0u8; 64];
    while key.len() < KEY_PREFIX.len() + KEY_RANDOM_CHARS {
        getrandom::fill(&mut buf).map_err(|e| format!("the OS random generator failed: {e}"))?;
        // 248 = 4 × 62: rejecting bytes at or above it keeps every character equally likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if key.len() == KEY_PREFIX.len() + KEY_RANDOM_CHARS {
                break;
            }
            key.push(BASE62[(b % 62) as usize] as char);
        }
    }
    Ok(ApiKey::new(key))
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
    check_label("--name", &opts.name)?;
    check_consumer_id(&opts.consumer_id)?;
    if let Some(n) = &opts.consumer_name {
        check_label("--consumer-name", n)?;
    }
    if opts.expires_at.is_some_and(|e| e <= now) {
        return Err("--expires is not in the future".to_owned());
    }
    let key = generate_key()?;
    let hash = key.hash();
    if kv.get(hash.as_kv_key())?.is_some() {
        return Err("a key with this hash already exists; nothing was written".to_owned());
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
        meta: Default::default(),
    };
    write(kv, &hash, &record, now)?;
    Ok((key, record))
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
                None => Err(format!("no key matches the given key (id {})", hash.id())),
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
                [] => Err(format!("no key with id {id}")),
                _ => Err(format!("id {id} is ambiguous; use the key itself")),
            }
        }
    }
}

/// Reads and decodes the record for an id or key.
pub fn show(kv: &dyn KvBackend, r: &KeyRef) -> Result<KeyRecord, String> {
    let hash = resolve(kv, r)?;
    let raw = kv
        .get(hash.as_kv_key())?
        .ok_or_else(|| format!("key {} vanished while reading", hash.id()))?;
    KeyRecord::decode(&raw, &hash)
        .map_err(|e| format!("the record of key {} is corrupt ({e:?})", hash.id()))
}

/// Deletes a key's record. Refused requests follow within the revocation bound (see README).
pub fn revoke(kv: &dyn KvBackend, r: &KeyRef) -> Result<String, String> {
    let hash = resolve(kv, r)?;
    kv.delete(hash.as_kv_key())?;
    Ok(hash.id().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::MemoryKv;

    const NOW: u64 = 1_800_000_000;

    fn opts(name: &str) -> CreateOpts {
        CreateOpts {
            name: name.into(),
            consumer_id: "acme".into(),
            consumer_name: None,
            expires_at: None,
        }
    }

    #[test]
    fn generated_keys_have_prefix_length_and_base62_alphabet() {
        let k = generate_key().unwrap();
        let s = k.expose();
        assert!(s.starts_with("kg_"));
        assert_eq!(s.len(), 3 + KEY_RANDOM_CHARS);
        assert!(s[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(is_b64token(s.as_bytes()));
    }

    #[test]
    fn generated_keys_differ_and_use_the_whole_alphabet() {
        let keys: Vec<String> = (0..200)
            .map(|_| generate_key().unwrap().expose().to_owned())
            .collect();
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        let seen: std::collections::HashSet<u8> =
            keys.iter().flat_map(|k| k[3..].bytes()).collect();
        assert_eq!(
            seen.len(),
            62,
            "200 keys × 44 chars should hit all 62 symbols"
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
}
