//! Root keys, the management API's credentials (issue 15): their `kgr_` format, the permissions a
//! root key carries, its stored record, and the tenant guard that confines it to a consumer
//! prefix. A root key is a type of its own, so it cannot be handed to the data plane by mistake.
//! Also the root records' storage over any [`KvStore`]: create, find, list and revoke, which the
//! CLI runs through wrangler (bootstrap, before any root key exists) and the management API runs
//! over its KV binding.

use crate::keyformat::{self, KeyShape};
use crate::kv::{list_all, KvStore, PutOptions};
use crate::lifecycle::rules::{check_consumer_id, check_label};
use crate::lifecycle::{AskedBy, Conflict, Field, Invalid, LifecycleError, NotFound, Problem};
use crate::record::{CorruptRecord, MAX_RECORD_LEN};
use crate::secret::{ApiKey, KeyHash, KEY_ID_LEN};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The KV name prefix of root records. Key records are stored under the bare hash, so a lookup by
/// an API key's hash can never find a root record.
pub const ROOT_RECORD_PREFIX: &str = "root:";

/// What a root key may do: a resource and an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read key records and list them.
    KeysRead,
    /// Create, import, change and rotate keys.
    KeysWrite,
    /// Revoke (delete) keys.
    KeysRevoke,
    /// Ask for the gateway's decision on a key (`POST /keys/verify`), for services that do not
    /// sit behind the gateway. Apart from `keys:read`, so such a service cannot list keys.
    KeysVerify,
    /// Read a key's quota usage.
    UsageRead,
    /// Read the audit trail.
    AuditRead,
    /// Create, list and revoke root keys.
    RootsManage,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::KeysRead,
        Permission::KeysWrite,
        Permission::KeysRevoke,
        Permission::KeysVerify,
        Permission::UsageRead,
        Permission::AuditRead,
        Permission::RootsManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::KeysRead => "keys:read",
            Permission::KeysWrite => "keys:write",
            Permission::KeysRevoke => "keys:revoke",
            Permission::KeysVerify => "keys:verify",
            Permission::UsageRead => "usage:read",
            Permission::AuditRead => "audit:read",
            Permission::RootsManage => "roots:manage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of permissions, written as a list of names (`["keys:read", "usage:read"]`).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions(u8);

impl Permissions {
    /// Every permission: what the bootstrap credential (`ADMIN_TOKEN`) holds.
    pub fn all() -> Self {
        Self(Permission::ALL.iter().fold(0, |bits, p| bits | p.bit()))
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Whether every permission of `other` is also in this set.
    pub fn includes(self, other: Permissions) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Parses names separated by commas or given one by one (`--permissions keys:read,usage:read`).
    /// At least one, each known; repeats are harmless.
    pub fn parse_list<S: AsRef<str>>(values: &[S]) -> Result<Self, Invalid> {
        let mut bits = 0;
        for name in values
            .iter()
            .flat_map(|v| v.as_ref().split(','))
            .map(str::trim)
        {
            if name.is_empty() {
                continue;
            }
            let p = Permission::parse(name).ok_or_else(|| {
                Invalid::new(Field::Permissions, Problem::Permission(name.to_owned()))
            })?;
            bits |= p.bit();
        }
        if bits == 0 {
            return Err(Invalid::new(Field::Permissions, Problem::NoPermissions));
        }
        Ok(Self(bits))
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(Permission::as_str))
            .finish()
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Permission::as_str))
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        Permissions::parse_list(&names).map_err(serde::de::Error::custom)
    }
}

/// A consumer prefix that confines a root key: the same rule as a consumer id (1 to 128 of
/// `A-Z a-z 0-9 . _ : @ -`), reported against the prefix.
pub fn check_consumer_prefix(s: &str) -> Result<(), Invalid> {
    check_consumer_id(s).map_err(|e| Invalid::new(Field::ConsumerPrefix, e.problem))
}

/// A plaintext root key. `Debug` redacts it; it hashes like an API key but is stored apart.
#[derive(Clone, PartialEq)]
pub struct RootKey(ApiKey);

impl RootKey {
    /// A presented root key: it must be in the `kgr_` format with a valid checksum.
    pub fn parse(s: &str) -> Option<Self> {
        (keyformat::classify_with(keyformat::ROOT_PREFIX, s) == KeyShape::Valid)
            .then(|| Self(ApiKey::new(s)))
    }

    /// A new root key from the platform's CSPRNG.
    pub fn generate() -> Result<Self, LifecycleError> {
        crate::lifecycle::generate_with_prefix(keyformat::ROOT_PREFIX).map(Self)
    }

    /// The plaintext, shown once when the key is created.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    pub fn hash(&self) -> KeyHash {
        self.0.hash()
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// The KV name of a root key's record.
pub fn record_name(hash: &KeyHash) -> String {
    format!("{ROOT_RECORD_PREFIX}{}", hash.as_kv_key())
}

/// A root key's stored record (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootRecord {
    /// The public id: the first 12 hex characters of the key's hash. Audit entries name it.
    pub id: String,
    pub name: String,
    pub permissions: Permissions,
    /// When set, the key sees and changes only consumers whose id starts with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_prefix: Option<String>,
    pub created_at: u64,
}

/// Who makes a management request.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// The `ADMIN_TOKEN` bearer: every permission, every consumer.
    Bootstrap,
    Root(RootRecord),
}

impl Principal {
    /// The audit trail's "who": the root key's id, or `bootstrap`.
    pub fn actor(&self) -> &str {
        match self {
            Principal::Bootstrap => "bootstrap",
            Principal::Root(r) => &r.id,
        }
    }

    pub fn permits(&self, p: Permission) -> bool {
        match self {
            Principal::Bootstrap => true,
            Principal::Root(r) => r.permissions.contains(p),
        }
    }

    /// The tenant guard: whether this principal may see the consumer `consumer_id` at all. A key
    /// outside it must be answered exactly as a key that does not exist.
    pub fn sees(&self, consumer_id: &str) -> bool {
        match self {
            Principal::Bootstrap => true,
            Principal::Root(r) => r
                .consumer_prefix
                .as_deref()
                .is_none_or(|prefix| consumer_id.starts_with(prefix)),
        }
    }

    /// The tenant guard for root keys: a confined root key sees only root keys confined at least
    /// as narrowly (their prefix starts with its own). Others must be answered as unknown ids.
    pub fn sees_root(&self, other: &RootRecord) -> bool {
        match self {
            Principal::Bootstrap => true,
            Principal::Root(r) => r.consumer_prefix.as_deref().is_none_or(|mine| {
                other
                    .consumer_prefix
                    .as_deref()
                    .is_some_and(|theirs| theirs.starts_with(mine))
            }),
        }
    }

    /// No escalation: whether this principal may create a root key with `permissions`, confined
    /// to `consumer_prefix`. A root key grants only permissions it holds, and only a prefix that
    /// starts with its own.
    pub fn may_grant(&self, permissions: Permissions, consumer_prefix: Option<&str>) -> bool {
        match self {
            Principal::Bootstrap => true,
            Principal::Root(r) => {
                r.permissions.includes(permissions)
                    && r.consumer_prefix.as_deref().is_none_or(|mine| {
                        consumer_prefix.is_some_and(|theirs| theirs.starts_with(mine))
                    })
            }
        }
    }
}

/// Whether `s` has the shape of a root key's public id (12 lowercase hex characters).
pub fn is_root_id(s: &str) -> bool {
    s.len() == KEY_ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl RootRecord {
    /// Decodes a stored root record found under `hash`, checking that it belongs there.
    pub fn decode(raw: &str, hash: &KeyHash) -> Result<Self, CorruptRecord> {
        if raw.len() > MAX_RECORD_LEN {
            return Err(CorruptRecord::TooLarge);
        }
        let rec: RootRecord = serde_json::from_str(raw).map_err(|_| CorruptRecord::NotJson)?;
        if rec.id != hash.id() {
            return Err(CorruptRecord::IdMismatch);
        }
        rec.check().map_err(|_| CorruptRecord::UnsafeField)?;
        Ok(rec)
    }

    /// The rules a root record's fields follow: a label for a name, and a consumer prefix in the
    /// consumer-id alphabet. (Permissions are checked when they are parsed.)
    fn check(&self) -> Result<(), Invalid> {
        check_label(Field::Name, &self.name)?;
        if let Some(p) = &self.consumer_prefix {
            check_consumer_prefix(p)?;
        }
        Ok(())
    }
}

/// The root records, and those that could not be decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RootList {
    /// By creation time, then id.
    pub roots: Vec<RootRecord>,
    /// Records that could not be decoded (left out of `roots`), by id.
    pub corrupt: Vec<(String, CorruptRecord)>,
}

/// Creates a root key: checks the name and the prefix, then writes its record (and only a hash
/// of the key) under [`record_name`]. The record is also the entry's list metadata, so
/// [`list_roots`] reads no values. The key is returned once; nothing stores it.
pub async fn create_root(
    kv: &impl KvStore,
    name: &str,
    permissions: Permissions,
    consumer_prefix: Option<&str>,
    now: u64,
) -> Result<(RootKey, RootRecord), LifecycleError> {
    check_label(Field::Name, name)?;
    if let Some(p) = consumer_prefix {
        check_consumer_prefix(p)?;
    }
    if permissions == Permissions::default() {
        return Err(Invalid::new(Field::Permissions, Problem::NoPermissions).into());
    }
    let key = RootKey::generate()?;
    let hash = key.hash();
    let kv_name = record_name(&hash);
    if kv.get(&kv_name).await?.is_some() {
        return Err(Conflict::AlreadyStored {
            id: hash.id().to_owned(),
            line: None,
        }
        .into());
    }
    let record = RootRecord {
        id: hash.id().to_owned(),
        name: name.to_owned(),
        permissions,
        consumer_prefix: consumer_prefix.map(str::to_owned),
        created_at: now,
    };
    let raw = serde_json::to_string(&record).expect("a root record serialises");
    let metadata = serde_json::to_value(&record).ok();
    let opts = PutOptions {
        metadata: metadata.as_ref(),
        expiration: None,
    };
    kv.put(&kv_name, &raw, opts).await?;
    Ok((key, record))
}

/// The record of a presented root key: `Ok(None)` when no root key with its hash is stored. A
/// record that does not decode is an error (the caller fails closed).
pub async fn find_root(
    kv: &impl KvStore,
    key: &RootKey,
) -> Result<Option<RootRecord>, LifecycleError> {
    let hash = key.hash();
    read_root(kv, &hash).await
}

async fn read_root(
    kv: &impl KvStore,
    hash: &KeyHash,
) -> Result<Option<RootRecord>, LifecycleError> {
    let Some(raw) = kv.get(&record_name(hash)).await? else {
        return Ok(None);
    };
    RootRecord::decode(&raw, hash)
        .map(Some)
        .map_err(|reason| LifecycleError::Corrupt {
            id: hash.id().to_owned(),
            reason,
        })
}

/// The hash of the one root record whose id is `id`.
async fn resolve_root(kv: &impl KvStore, id: &str) -> Result<KeyHash, LifecycleError> {
    let not_found = || {
        LifecycleError::NotFound(NotFound {
            id: id.to_owned(),
            by: AskedBy::Id,
        })
    };
    // Anything but an id would list other names (an empty one: every root record).
    if !is_root_id(id) {
        return Err(not_found());
    }
    let found: Vec<KeyHash> = list_all(kv, &format!("{ROOT_RECORD_PREFIX}{id}"), Some(2))
        .await?
        .iter()
        .filter_map(|l| KeyHash::parse(l.name.strip_prefix(ROOT_RECORD_PREFIX)?))
        .collect();
    match found.as_slice() {
        [h] => Ok(h.clone()),
        [] => Err(not_found()),
        _ => Err(Conflict::AmbiguousId { id: id.to_owned() }.into()),
    }
}

/// Every root record, from list metadata (reading the value of an entry without it), by
/// creation time then id.
pub async fn list_roots(kv: &impl KvStore) -> Result<RootList, LifecycleError> {
    let mut out = RootList::default();
    for entry in list_all(kv, ROOT_RECORD_PREFIX, None).await? {
        let Some(hash) = entry
            .name
            .strip_prefix(ROOT_RECORD_PREFIX)
            .and_then(KeyHash::parse)
        else {
            continue;
        };
        let from_meta = entry
            .metadata
            .and_then(|m| serde_json::from_value::<RootRecord>(m).ok())
            .filter(|r| r.id == hash.id() && r.check().is_ok());
        match from_meta {
            Some(r) => out.roots.push(r),
            None => match read_root(kv, &hash).await {
                Ok(Some(r)) => out.roots.push(r),
                Ok(None) => {}
                Err(LifecycleError::Corrupt { id, reason }) => out.corrupt.push((id, reason)),
                Err(e) => return Err(e),
            },
        }
    }
    out.roots
        .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(out)
}

/// Deletes the root key with public id `id` when `visible` admits its record (the tenant guard:
/// pass `|r| principal.sees_root(r)`; one it does not admit is answered exactly as an unknown
/// id), and returns the record. A record that does not decode is left in place (`Corrupt`). The
/// key stops opening the management API once KV's edge caches see the delete.
pub async fn revoke_root(
    kv: &impl KvStore,
    id: &str,
    visible: impl Fn(&RootRecord) -> bool,
) -> Result<RootRecord, LifecycleError> {
    let hash = resolve_root(kv, id).await?;
    let record = read_root(kv, &hash)
        .await?
        .filter(|r| visible(r))
        .ok_or_else(|| {
            LifecycleError::NotFound(NotFound {
                id: id.to_owned(),
                by: AskedBy::Id,
            })
        })?;
    kv.delete(&record_name(&hash)).await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(permissions: &[&str], prefix: Option<&str>) -> Principal {
        Principal::Root(RootRecord {
            id: "0123456789ab".into(),
            name: "support tool".into(),
            permissions: Permissions::parse_list(permissions).unwrap(),
            consumer_prefix: prefix.map(str::to_owned),
            created_at: 0,
        })
    }

    #[test]
    fn permission_names_read_back_and_are_resource_colon_action() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            let (resource, action) = p.as_str().split_once(':').unwrap();
            assert!(!resource.is_empty() && !action.is_empty());
        }
        assert_eq!(Permission::parse("keys:delete"), None);
        assert_eq!(Permission::parse("KEYS:READ"), None);
    }

    #[test]
    fn a_permission_list_takes_commas_or_repeats_and_refuses_unknown_or_empty() {
        let p = Permissions::parse_list(&["keys:read,usage:read", "keys:read"]).unwrap();
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [Permission::KeysRead, Permission::UsageRead]
        );
        let e = Permissions::parse_list(&["keys:read", "keys:nuke"]).unwrap_err();
        assert_eq!(e.field, Field::Permissions);
        assert_eq!(e.problem, Problem::Permission("keys:nuke".into()));
        for empty in [&[][..], &[""], &[" , "]] {
            let e = Permissions::parse_list(empty).unwrap_err();
            assert_eq!(e.problem, Problem::NoPermissions);
        }
    }

    #[test]
    fn permissions_are_stored_as_a_list_of_names_and_an_unknown_name_does_not_decode() {
        let p = Permissions::parse_list(&["audit:read", "keys:write"]).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"["keys:write","audit:read"]"#);
        assert_eq!(serde_json::from_str::<Permissions>(&json).unwrap(), p);
        assert!(serde_json::from_str::<Permissions>(r#"["keys:write","root"]"#).is_err());
    }

    #[test]
    fn bootstrap_holds_every_permission_and_sees_every_consumer() {
        for p in Permission::ALL {
            assert!(Principal::Bootstrap.permits(p));
            assert!(Permissions::all().contains(p));
        }
        assert!(Principal::Bootstrap.sees("globex"));
        assert_eq!(Principal::Bootstrap.actor(), "bootstrap");
    }

    #[test]
    fn a_root_key_holds_only_its_permissions() {
        let r = root(&["keys:read"], None);
        assert!(r.permits(Permission::KeysRead));
        for p in Permission::ALL.into_iter().skip(1) {
            assert!(!r.permits(p), "{p:?}");
        }
        assert_eq!(r.actor(), "0123456789ab");
    }

    #[test]
    fn the_tenant_guard_confines_a_root_key_to_its_consumer_prefix() {
        let acme = root(&["keys:read"], Some("acme-"));
        assert!(acme.sees("acme-eu"));
        assert!(acme.sees("acme-"));
        assert!(!acme.sees("globex"));
        assert!(!acme.sees("acme"));
        assert!(!acme.sees("ACME-eu"));
        assert!(root(&["keys:read"], None).sees("globex"));
    }

    #[test]
    fn a_consumer_prefix_uses_the_consumer_id_alphabet() {
        assert!(check_consumer_prefix("acme-").is_ok());
        for bad in ["", "acme/", "a b", &"x".repeat(129)] {
            assert_eq!(
                check_consumer_prefix(bad).unwrap_err().field,
                Field::ConsumerPrefix
            );
        }
    }

    #[test]
    fn a_root_key_parses_only_in_its_format_and_never_prints() {
        let key = RootKey::generate().unwrap();
        assert!(key.expose().starts_with("kgr_"));
        assert_eq!(RootKey::parse(key.expose()), Some(key.clone()));
        assert_eq!(format!("{key:?}"), "RootKey(<redacted>)");
        // An API key is not a root key, however well-formed.
        let api = crate::lifecycle::generate_key().unwrap();
        assert_eq!(RootKey::parse(api.expose()), None);
        // A changed character fails the checksum.
        let mut bad = key.expose().to_owned().into_bytes();
        bad[12] = if bad[12] == b'a' { b'b' } else { b'a' };
        assert_eq!(RootKey::parse(&String::from_utf8(bad).unwrap()), None);
        assert!(record_name(&key.hash()).starts_with(ROOT_RECORD_PREFIX));
    }

    mod store {
        use super::*;
        use crate::kv::memory::{MemoryEntry, MemoryKv, Op};
        use pollster::block_on;

        const NOW: u64 = 1_800_000_000;

        fn perms(names: &[&str]) -> Permissions {
            Permissions::parse_list(names).unwrap()
        }

        fn create(
            kv: &MemoryKv,
            name: &str,
            prefix: Option<&str>,
            now: u64,
        ) -> (RootKey, RootRecord) {
            block_on(create_root(kv, name, perms(&["keys:read"]), prefix, now)).unwrap()
        }

        #[test]
        fn create_root_stores_only_a_hash_and_the_record_is_its_list_metadata() {
            let kv = MemoryKv::new();
            let (key, rec) = block_on(create_root(
                &kv,
                "support tool",
                perms(&["keys:read", "usage:read"]),
                Some("acme-"),
                NOW,
            ))
            .unwrap();
            assert!(key.expose().starts_with("kgr_"));
            assert_eq!(rec.id, key.hash().id());
            assert_eq!(rec.name, "support tool");
            assert_eq!(rec.consumer_prefix.as_deref(), Some("acme-"));
            assert_eq!(rec.created_at, NOW);
            let entries = kv.entries();
            assert_eq!(entries.len(), 1);
            let (name, entry) = entries.iter().next().unwrap();
            assert_eq!(name, &record_name(&key.hash()));
            assert_eq!(
                serde_json::from_str::<RootRecord>(&entry.value).unwrap(),
                rec
            );
            assert_eq!(
                serde_json::from_value::<RootRecord>(entry.metadata.clone().unwrap()).unwrap(),
                rec
            );
            assert_eq!(entry.expiration, None);
            let secret = &key.expose()[4..];
            assert!(!entry.value.contains(secret));
            assert!(!entry
                .metadata
                .as_ref()
                .unwrap()
                .to_string()
                .contains(secret));
        }

        #[test]
        fn create_root_refuses_a_bad_name_prefix_or_no_permission_before_any_write() {
            let kv = MemoryKv::new();
            let bad_name = block_on(create_root(&kv, " x", perms(&["keys:read"]), None, NOW));
            assert_eq!(
                bad_name.unwrap_err(),
                LifecycleError::Invalid(Invalid::new(Field::Name, Problem::Label))
            );
            let bad_prefix = block_on(create_root(
                &kv,
                "x",
                perms(&["keys:read"]),
                Some("acme/"),
                NOW,
            ));
            assert_eq!(
                bad_prefix.unwrap_err(),
                LifecycleError::Invalid(Invalid::new(Field::ConsumerPrefix, Problem::ConsumerId))
            );
            let none = block_on(create_root(&kv, "x", Permissions::default(), None, NOW));
            assert_eq!(
                none.unwrap_err(),
                LifecycleError::Invalid(Invalid::new(Field::Permissions, Problem::NoPermissions))
            );
            assert!(kv.calls().is_empty());
        }

        #[test]
        fn create_root_fails_closed_when_the_store_fails() {
            let kv = MemoryKv::new();
            kv.fail(Some(Op::Put), "kv down");
            let e = block_on(create_root(&kv, "x", perms(&["keys:read"]), None, NOW)).unwrap_err();
            assert_eq!(e.http_status(), 503);
            assert!(kv.entries().is_empty());
        }

        #[test]
        fn find_root_returns_the_record_of_a_stored_root_key_only() {
            let kv = MemoryKv::new();
            let (key, rec) = create(&kv, "a", None, NOW);
            assert_eq!(block_on(find_root(&kv, &key)).unwrap(), Some(rec));
            let other = RootKey::generate().unwrap();
            assert_eq!(block_on(find_root(&kv, &other)).unwrap(), None);
        }

        #[test]
        fn find_root_does_not_find_an_api_key_record_under_the_same_hash() {
            // An API key's record lives under the bare hash; a root lookup never reads it.
            let kv = MemoryKv::new();
            let key = RootKey::generate().unwrap();
            kv.insert(
                key.hash().as_kv_key(),
                MemoryEntry {
                    value: format!(
                        r#"{{"id":"{}","name":"x","permissions":["roots:manage"],"created_at":1}}"#,
                        key.hash().id()
                    ),
                    metadata: None,
                    expiration: None,
                },
            );
            assert_eq!(block_on(find_root(&kv, &key)).unwrap(), None);
        }

        #[test]
        fn find_root_fails_closed_on_a_corrupt_record_or_a_store_fault() {
            let kv = MemoryKv::new();
            let (key, _) = create(&kv, "a", None, NOW);
            let name = record_name(&key.hash());
            for (value, reason) in [
                ("not json".to_owned(), CorruptRecord::NotJson),
                (
                    r#"{"id":"000000000000","name":"a","permissions":["keys:read"],"created_at":1}"#
                        .to_owned(),
                    CorruptRecord::IdMismatch,
                ),
                (
                    format!(
                        r#"{{"id":"{}","name":"a","permissions":["keys:nuke"],"created_at":1}}"#,
                        key.hash().id()
                    ),
                    CorruptRecord::NotJson,
                ),
                (
                    format!(
                        r#"{{"id":"{}","name":"a","permissions":["keys:read"],"consumer_prefix":"a/b","created_at":1}}"#,
                        key.hash().id()
                    ),
                    CorruptRecord::UnsafeField,
                ),
            ] {
                kv.edit(&name, |e| e.value = value.clone());
                let e = block_on(find_root(&kv, &key)).unwrap_err();
                assert_eq!(
                    e,
                    LifecycleError::Corrupt {
                        id: key.hash().id().to_owned(),
                        reason
                    },
                    "{value}"
                );
            }
            kv.fail(Some(Op::Get), "kv down");
            assert_eq!(
                block_on(find_root(&kv, &key)).unwrap_err().http_status(),
                503
            );
        }

        #[test]
        fn list_roots_reads_no_values_follows_pages_sorts_and_skips_key_records() {
            let kv = MemoryKv::with_page_size(1);
            let (_, late) = create(&kv, "late", None, NOW + 10);
            let (_, early) = create(&kv, "early", Some("acme-"), NOW);
            // A key record (bare hash) and another name are not root records.
            block_on(crate::lifecycle::create(
                &kv,
                &crate::lifecycle::NewKey::new("k", "acme"),
                NOW,
            ))
            .unwrap();
            let gets_before = kv.calls_of(Op::Get).len();
            let list = block_on(list_roots(&kv)).unwrap();
            assert_eq!(list.roots, vec![early, late]);
            assert!(list.corrupt.is_empty());
            assert_eq!(kv.calls_of(Op::Get).len(), gets_before);
            assert!(kv
                .calls_of(Op::List)
                .iter()
                .all(|p| p == ROOT_RECORD_PREFIX));
        }

        #[test]
        fn list_roots_reads_the_value_when_metadata_is_missing_and_reports_corrupt_records() {
            let kv = MemoryKv::new();
            let (a, rec_a) = create(&kv, "a", None, NOW);
            let (b, _) = create(&kv, "b", None, NOW);
            kv.edit(&record_name(&a.hash()), |e| e.metadata = None);
            kv.edit(&record_name(&b.hash()), |e| {
                e.metadata = None;
                e.value = "{".into();
            });
            let list = block_on(list_roots(&kv)).unwrap();
            assert_eq!(list.roots, vec![rec_a]);
            assert_eq!(
                list.corrupt,
                vec![(b.hash().id().to_owned(), CorruptRecord::NotJson)]
            );
        }

        #[test]
        fn a_root_record_is_not_listed_or_found_as_an_api_key() {
            let kv = MemoryKv::new();
            let (_, rec) = create(&kv, "a", None, NOW);
            let page = block_on(crate::lifecycle::list_all(
                &kv,
                &crate::lifecycle::Filter::default(),
                NOW,
            ))
            .unwrap();
            assert!(page.keys.is_empty() && page.corrupt.is_empty());
            let r = crate::lifecycle::KeyRef::Id(rec.id.clone());
            assert_eq!(
                block_on(crate::lifecycle::show(&kv, &r))
                    .unwrap_err()
                    .http_status(),
                404
            );
        }

        #[test]
        fn revoke_root_deletes_the_record_and_returns_it() {
            let kv = MemoryKv::new();
            let (key, rec) = create(&kv, "a", None, NOW);
            let (_, other) = create(&kv, "b", None, NOW);
            assert_eq!(block_on(revoke_root(&kv, &rec.id, |_| true)).unwrap(), rec);
            assert_eq!(block_on(find_root(&kv, &key)).unwrap(), None);
            assert_eq!(block_on(list_roots(&kv)).unwrap().roots, vec![other]);
            let again = block_on(revoke_root(&kv, &rec.id, |_| true)).unwrap_err();
            assert_eq!(again.http_status(), 404);
        }

        #[test]
        fn revoke_root_answers_a_root_outside_the_guard_as_an_unknown_id_and_keeps_it() {
            let kv = MemoryKv::new();
            let (key, rec) = create(&kv, "globex", Some("globex-"), NOW);
            let acme = Principal::Root(RootRecord {
                consumer_prefix: Some("acme-".into()),
                ..rec.clone()
            });
            let hidden = block_on(revoke_root(&kv, &rec.id, |r| acme.sees_root(r))).unwrap_err();
            let unknown = block_on(revoke_root(&kv, "0123456789ab", |_| true)).unwrap_err();
            assert_eq!(hidden.http_status(), 404);
            assert_eq!(
                hidden.to_string().replace(&rec.id, "ID"),
                unknown.to_string().replace("0123456789ab", "ID")
            );
            assert!(block_on(find_root(&kv, &key)).unwrap().is_some());
            assert!(kv.calls_of(Op::Delete).is_empty());
        }

        #[test]
        fn revoke_root_takes_only_an_id_and_never_lists_every_root() {
            let kv = MemoryKv::new();
            create(&kv, "a", None, NOW);
            for bad in ["", "0123", "0123456789AB", "0123456789abc", "root:"] {
                let e = block_on(revoke_root(&kv, bad, |_| true)).unwrap_err();
                assert_eq!(e.http_status(), 404, "{bad:?}");
            }
            assert!(kv.calls_of(Op::List).is_empty());
            assert!(kv.calls_of(Op::Delete).is_empty());
        }

        #[test]
        fn revoke_root_leaves_a_corrupt_record_and_fails_closed_on_a_store_fault() {
            let kv = MemoryKv::new();
            let (key, rec) = create(&kv, "a", None, NOW);
            kv.edit(&record_name(&key.hash()), |e| e.value = "{".into());
            let e = block_on(revoke_root(&kv, &rec.id, |_| true)).unwrap_err();
            assert_eq!(e.http_status(), 500);
            assert!(kv.entry(&record_name(&key.hash())).is_some());
            let kv = MemoryKv::new();
            let (_, rec) = create(&kv, "a", None, NOW);
            kv.fail(Some(Op::Delete), "kv down");
            let e = block_on(revoke_root(&kv, &rec.id, |_| true)).unwrap_err();
            assert_eq!(e.http_status(), 503);
        }

        #[test]
        fn a_confined_root_key_sees_only_roots_confined_within_its_prefix() {
            let rec = |prefix: Option<&str>| RootRecord {
                id: "0123456789ab".into(),
                name: "r".into(),
                permissions: perms(&["roots:manage"]),
                consumer_prefix: prefix.map(str::to_owned),
                created_at: 0,
            };
            let acme = Principal::Root(rec(Some("acme-")));
            assert!(acme.sees_root(&rec(Some("acme-"))));
            assert!(acme.sees_root(&rec(Some("acme-eu-"))));
            assert!(!acme.sees_root(&rec(Some("globex-"))));
            assert!(!acme.sees_root(&rec(None)));
            let unconfined = Principal::Root(rec(None));
            assert!(unconfined.sees_root(&rec(None)));
            assert!(unconfined.sees_root(&rec(Some("globex-"))));
            assert!(Principal::Bootstrap.sees_root(&rec(None)));
        }

        #[test]
        fn a_root_key_grants_no_permission_or_reach_beyond_its_own() {
            let acme = Principal::Root(RootRecord {
                id: "0123456789ab".into(),
                name: "r".into(),
                permissions: perms(&["roots:manage", "keys:read"]),
                consumer_prefix: Some("acme-".into()),
                created_at: 0,
            });
            assert!(acme.may_grant(perms(&["keys:read"]), Some("acme-")));
            assert!(acme.may_grant(perms(&["keys:read", "roots:manage"]), Some("acme-eu-")));
            assert!(!acme.may_grant(perms(&["keys:write"]), Some("acme-")));
            assert!(!acme.may_grant(perms(&["keys:read"]), Some("globex-")));
            assert!(!acme.may_grant(perms(&["keys:read"]), None));
            assert!(Principal::Bootstrap.may_grant(Permissions::all(), None));
            assert!(Permissions::all().includes(perms(&["audit:read"])));
            assert!(!perms(&["keys:read"]).includes(perms(&["keys:read", "keys:write"])));
        }
    }
}
