//! Root keys, the management API's credentials (issue 15): their `kgr_` format, the permissions a
//! root key carries, its stored record, and the tenant guard that confines it to a consumer
//! prefix. A root key is a type of its own, so it cannot be handed to the data plane by mistake.

use crate::keyformat::{self, KeyShape};
use crate::lifecycle::rules::check_consumer_id;
use crate::lifecycle::{Field, Invalid, LifecycleError, Problem};
use crate::secret::{ApiKey, KeyHash};
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
}
