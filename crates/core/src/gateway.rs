//! The request filter and upstream-request phases: parse → path → hash → lookup → decide → build.
//! Denials are values (`Verdict::Deny`); infrastructure faults are errors (`Fault`).

use crate::config::{Config, ConfigError};
use crate::credential::{parse_authorization, Malformed};
use crate::forward::{upstream_headers, ClientContext};
use crate::path::{join, PathError, UpstreamTarget};
use crate::record::{CorruptRecord, KeyRecord, KeyState};
use crate::secret::KeyHash;
use http::{header, HeaderMap};

/// A store of key records, addressed by key hash. The edge implements it over Workers KV;
/// tests implement it in memory.
#[allow(async_fn_in_trait)] // Workers futures are single-threaded; no Send bound is wanted.
pub trait KeyStore {
    /// The raw stored record for `hash`, `Ok(None)` when there is none.
    async fn get(&self, hash: &KeyHash) -> Result<Option<String>, StoreError>;
}

/// The key store could not answer. Its text must never contain a key or a full hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

/// Why a key that was presented is refused. The client sees the same 401 for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKey {
    Unknown,
    Disabled,
    Expired,
    Corrupt(CorruptRecord),
}

/// A refusal decided by policy: an expected outcome, not a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    MissingCredential,
    Malformed(Malformed),
    BadPath(PathError),
    /// `key_id` is the short public id, for logs.
    InvalidKey {
        reason: InvalidKey,
        key_id: KeyIdBuf,
    },
}

/// Something went wrong that is not the client's doing. Every fault fails closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Config(ConfigError),
    StoreUnavailable(StoreError),
    OriginUnreachable,
    OriginTimeout,
}

/// A key id copied into a fixed buffer, so denials stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyIdBuf([u8; crate::secret::KEY_ID_LEN]);

impl KeyIdBuf {
    pub fn from_hash(hash: &KeyHash) -> Self {
        let mut b = [0u8; crate::secret::KEY_ID_LEN];
        b.copy_from_slice(hash.id().as_bytes());
        Self(b)
    }

    pub fn as_str(&self) -> &str {
        // Built from a hex hash prefix, so always ASCII.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl std::fmt::Debug for KeyIdBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The request line and headers as the edge received them.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub client: ClientContext<'a>,
}

/// An accepted request, ready to forward.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub record: KeyRecord,
    pub target: UpstreamTarget,
    pub headers: HeaderMap,
}

#[derive(Debug, Clone)]
pub enum Verdict {
    Accept(Box<Accepted>),
    Deny(Denial),
}

/// Decides one request. `now` is Unix seconds. The store is read at most once, and only for a
/// well-formed credential on a well-formed path.
pub async fn authorize<S: KeyStore>(
    cfg: &Config,
    head: &RequestHead<'_>,
    store: &S,
    now: u64,
) -> Result<Verdict, Fault> {
    let values = head
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes());
    let key = match parse_authorization(values) {
        Ok(Some(key)) => key,
        Ok(None) => return Ok(Verdict::Deny(Denial::MissingCredential)),
        Err(m) => return Ok(Verdict::Deny(Denial::Malformed(m))),
    };
    let target = match join(&cfg.origin, head.path, head.query) {
        Ok(t) => t,
        Err(e) => return Ok(Verdict::Deny(Denial::BadPath(e))),
    };

    let hash = key.hash();
    drop(key);
    let key_id = KeyIdBuf::from_hash(&hash);
    let deny = |reason| Ok(Verdict::Deny(Denial::InvalidKey { reason, key_id }));

    let raw = match store.get(&hash).await {
        Ok(Some(raw)) => raw,
        Ok(None) => return deny(InvalidKey::Unknown),
        Err(e) => return Err(Fault::StoreUnavailable(e)),
    };
    let record = match KeyRecord::decode(&raw, &hash) {
        Ok(r) => r,
        Err(c) => return deny(InvalidKey::Corrupt(c)),
    };
    match record.state(now) {
        KeyState::Active => {}
        KeyState::Disabled => return deny(InvalidKey::Disabled),
        KeyState::Expired => return deny(InvalidKey::Expired),
    }

    let headers = upstream_headers(head.headers, cfg, &record, head.client);
    Ok(Verdict::Accept(Box::new(Accepted {
        record,
        target,
        headers,
    })))
}
