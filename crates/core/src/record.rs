//! The key record stored in KV under `hex(sha256(key))`: its schema, tolerant decoding, and state.

use crate::limits::{is_tier_name, Quota, MAX_QUOTA_LIMIT};
use crate::scope::Scope;
use crate::secret::KeyHash;
use serde::{Deserialize, Serialize};

/// The record format version this build writes and understands.
pub const RECORD_VERSION: u32 = 1;

/// Largest record the gateway will decode, in bytes. A larger value is treated as corrupt.
pub const MAX_RECORD_LEN: usize = 64 * 1024;

/// One API key's record. Unknown fields are ignored when decoding, so newer writers stay readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Format version; see [`RECORD_VERSION`].
    pub v: u32,
    /// Public key id: the first 12 hex characters of the key hash.
    pub id: String,
    /// Human label for the key (not unique).
    pub name: String,
    /// The consumer (customer, team, app) the key belongs to.
    pub consumer_id: String,
    /// Optional display name of the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_name: Option<String>,
    /// Creation time, Unix seconds (UTC).
    pub created_at: u64,
    /// Expiry time, Unix seconds (UTC). The key is refused at and after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// A disabled key is refused.
    #[serde(default)]
    pub disabled: bool,
    /// Free-form metadata. Keys listed in `CONSUMER_META_HEADERS` reach the origin as headers.
    #[serde(default)]
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// `METHOD /pattern` rules (see [`crate::scope`]); empty means the key may call everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// A note for operators; never forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The rate-limit tier (see `RATE_LIMIT_TIERS`); `None` uses `DEFAULT_TIER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// An exact request quota per window; `None`: no quota, and no Durable Object round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

/// Why a stored record does not admit the request. All of them look the same to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Disabled,
    Expired,
}

impl KeyState {
    /// The state of a key with these flags at `now` (Unix seconds). Disabled wins over expired;
    /// expiry is inclusive.
    pub fn of(disabled: bool, expires_at: Option<u64>, now: u64) -> Self {
        if disabled {
            KeyState::Disabled
        } else if expires_at.is_some_and(|exp| now >= exp) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }
}

/// Why a stored value could not be used as a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorruptRecord {
    TooLarge,
    NotJson,
    UnsupportedVersion,
    /// The record's `id` is not the prefix of the hash it is stored under.
    IdMismatch,
    /// A field that becomes a header value holds characters a header cannot carry.
    UnsafeField,
    /// A scope that does not parse.
    BadScope,
    /// A tier name outside the tier grammar, or a quota limit out of range.
    BadLimits,
}

impl KeyRecord {
    /// Decodes a stored value found under `hash`, checking that it belongs there.
    pub fn decode(raw: &str, hash: &KeyHash) -> Result<Self, CorruptRecord> {
        if raw.len() > MAX_RECORD_LEN {
            return Err(CorruptRecord::TooLarge);
        }
        let rec: KeyRecord = serde_json::from_str(raw).map_err(|_| CorruptRecord::NotJson)?;
        if rec.v != RECORD_VERSION {
            return Err(CorruptRecord::UnsupportedVersion);
        }
        if rec.id != hash.id() {
            return Err(CorruptRecord::IdMismatch);
        }
        let header_safe = |s: &str| is_header_safe(s);
        if !header_safe(&rec.consumer_id) || !rec.consumer_name.as_deref().is_none_or(header_safe) {
            return Err(CorruptRecord::UnsafeField);
        }
        if rec.scopes.iter().any(|s| Scope::parse(s).is_err()) {
            return Err(CorruptRecord::BadScope);
        }
        if !rec.tier.as_deref().is_none_or(is_tier_name)
            || rec.quota.is_some_and(|q| q.limit > MAX_QUOTA_LIMIT)
        {
            return Err(CorruptRecord::BadLimits);
        }
        Ok(rec)
    }

    /// The record's scopes, parsed. Decoding already refused records with a scope that fails.
    pub fn parsed_scopes(&self) -> Vec<Scope> {
        self.scopes
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .collect()
    }

    /// A metadata value as a header value: strings that a header can carry, numbers and booleans.
    pub fn meta_header_value(&self, key: &str) -> Option<String> {
        match self.meta.get(key)? {
            serde_json::Value::String(s) if is_header_safe(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The record's state at `now` (Unix seconds). Expiry is inclusive: at `expires_at` the key is expired.
    pub fn state(&self, now: u64) -> KeyState {
        KeyState::of(self.disabled, self.expires_at, now)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a KeyRecord always serialises")
    }
}

/// True when `s` can be sent as an HTTP header value unchanged: visible ASCII and inner spaces only.
pub fn is_header_safe(s: &str) -> bool {
    s.len() <= 1024
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && s.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// Why a key that was presented is refused. The client sees the same 401 for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKey {
    /// Carries our prefix but fails the offline checksum: refused without a store read.
    BadChecksum,
    Unknown,
    Disabled,
    Expired,
    Corrupt(CorruptRecord),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ApiKey;

    fn hash() -> KeyHash {
        ApiKey::new("kg_test").hash()
    }

    fn record(h: &KeyHash) -> KeyRecord {
        KeyRecord {
            v: 1,
            id: h.id().to_owned(),
            name: "ci".into(),
            consumer_id: "acme".into(),
            consumer_name: Some("Acme Inc".into()),
            created_at: 1_700_000_000,
            expires_at: Some(1_800_000_000),
            disabled: false,
            meta: Default::default(),
            scopes: vec!["GET /v1/*".into()],
            description: None,
            tier: None,
            quota: None,
        }
    }

    #[test]
    fn record_with_an_unparseable_scope_is_corrupt() {
        let h = hash();
        let mut r = record(&h);
        r.scopes = vec!["GET v1".into()];
        assert_eq!(
            KeyRecord::decode(&r.to_json(), &h),
            Err(CorruptRecord::BadScope)
        );
    }

    #[test]
    fn only_header_safe_scalar_metadata_becomes_a_header_value() {
        let mut r = record(&hash());
        r.meta =
            serde_json::from_str(r#"{"plan":"pro","seats":5,"beta":true,"bad":"a\nb","obj":{}}"#)
                .unwrap();
        assert_eq!(r.meta_header_value("plan").as_deref(), Some("pro"));
        assert_eq!(r.meta_header_value("seats").as_deref(), Some("5"));
        assert_eq!(r.meta_header_value("beta").as_deref(), Some("true"));
        assert_eq!(r.meta_header_value("bad"), None);
        assert_eq!(r.meta_header_value("obj"), None);
        assert_eq!(r.meta_header_value("missing"), None);
    }

    #[test]
    fn record_round_trips_through_json() {
        let h = hash();
        let r = record(&h);
        assert_eq!(KeyRecord::decode(&r.to_json(), &h), Ok(r));
    }

    #[test]
    fn metadata_numbers_decode_and_reencode_exactly() {
        // Found by the property tests (tests/properties/): serde_json's best-effort float parsing read these back one
        // or two units in the last place off, so a record changed on every read-modify-write and
        // the origin got another number than the one stored. Fixed by its `float_roundtrip`.
        let h = hash();
        for n in [
            "9.348482554210082e+291",
            "-1.403155353942104e+84",
            "1.1504593631393237e+142",
            "7.520199773661675e-195",
        ] {
            let raw = format!(
                r#"{{"v":1,"id":"{}","name":"n","consumer_id":"c","created_at":1,"meta":{{"x":{n}}}}}"#,
                h.id()
            );
            let r = KeyRecord::decode(&raw, &h).unwrap();
            assert_eq!(r.meta["x"].as_f64(), Some(n.parse::<f64>().unwrap()), "{n}");
            assert_eq!(r.meta["x"].to_string(), n, "{n}");
            assert_eq!(KeyRecord::decode(&r.to_json(), &h), Ok(r));
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let h = hash();
        let raw = format!(
            r#"{{"v":1,"id":"{}","name":"n","consumer_id":"c","created_at":1,"future":{{"x":1}}}}"#,
            h.id()
        );
        let r = KeyRecord::decode(&raw, &h).unwrap();
        assert_eq!(r.expires_at, None);
        assert!(!r.disabled);
    }

    #[test]
    fn wrong_types_and_garbage_are_corrupt() {
        let h = hash();
        for raw in [
            "",
            "{",
            "null",
            "[]",
            r#"{"v":"1"}"#,
            &format!(
                r#"{{"v":1,"id":"{}","name":"n","consumer_id":"c","created_at":"yesterday"}}"#,
                h.id()
            ),
        ] {
            assert_eq!(
                KeyRecord::decode(raw, &h),
                Err(CorruptRecord::NotJson),
                "{raw}"
            );
        }
    }

    #[test]
    fn record_stored_under_another_hash_is_corrupt() {
        let h = hash();
        let other = ApiKey::new("kg_other").hash();
        assert_eq!(
            KeyRecord::decode(&record(&h).to_json(), &other),
            Err(CorruptRecord::IdMismatch)
        );
    }

    #[test]
    fn future_record_version_is_not_trusted() {
        let h = hash();
        let mut r = record(&h);
        r.v = 2;
        assert_eq!(
            KeyRecord::decode(&r.to_json(), &h),
            Err(CorruptRecord::UnsupportedVersion)
        );
    }

    #[test]
    fn oversized_record_is_corrupt_without_parsing() {
        let raw = " ".repeat(MAX_RECORD_LEN + 1);
        assert_eq!(
            KeyRecord::decode(&raw, &hash()),
            Err(CorruptRecord::TooLarge)
        );
    }

    #[test]
    fn consumer_fields_with_control_characters_are_corrupt() {
        let h = hash();
        let mut r = record(&h);
        r.consumer_id = "acme\r\nX-Evil: 1".into();
        assert_eq!(
            KeyRecord::decode(&r.to_json(), &h),
            Err(CorruptRecord::UnsafeField)
        );
    }

    #[test]
    fn expiry_is_inclusive_at_the_exact_second() {
        let mut r = record(&hash());
        r.expires_at = Some(100);
        assert_eq!(r.state(99), KeyState::Active);
        assert_eq!(r.state(100), KeyState::Expired);
        assert_eq!(r.state(101), KeyState::Expired);
    }

    #[test]
    fn disabled_wins_over_expiry() {
        let mut r = record(&hash());
        r.disabled = true;
        assert_eq!(r.state(0), KeyState::Disabled);
    }

    #[test]
    fn key_without_expiry_never_expires() {
        let mut r = record(&hash());
        r.expires_at = None;
        assert_eq!(r.state(u64::MAX), KeyState::Active);
    }
}
