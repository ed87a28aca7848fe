//! Fixtures shared by the native pipeline tests: a configuration, a key store that counts reads
//! and can fail, a minimal key record, and a `GET` request head carrying a bearer key.
#![allow(dead_code)] // Each test binary uses its own subset.

use http::{HeaderMap, HeaderValue};
use keygate_core::forward::ClientContext;
use keygate_core::{ApiKey, Config, KeyHash, KeyRecord, KeyStore, RequestHead, StoreError};
use std::cell::Cell;
use std::collections::HashMap;

/// The shared secret of every test configuration.
pub const SECRET: &str = "origin-secret-0123456789";

/// A valid configuration: `ORIGIN_URL` = `origin`, `SHARED_SECRET` = [`SECRET`], and `vars`.
pub fn config(origin: &str, vars: &[(&str, &str)]) -> Config {
    let vars: HashMap<&str, &str> = vars.iter().copied().collect();
    Config::from_lookup(|k| match k {
        "ORIGIN_URL" => Some(origin.to_owned()),
        "SHARED_SECRET" => Some(SECRET.to_owned()),
        _ => vars.get(k).map(|v| v.to_string()),
    })
    .expect("test configuration is valid")
}

/// A map-backed key store that counts reads and can be told to fail.
#[derive(Default)]
pub struct FakeStore {
    pub records: HashMap<String, String>,
    pub reads: Cell<u32>,
    pub fail: bool,
}

impl FakeStore {
    /// A store holding these records, each under its key's hash.
    pub fn with(records: &[(&str, KeyRecord)]) -> Self {
        Self {
            records: records
                .iter()
                .map(|(k, r)| (ApiKey::new(*k).hash().as_kv_key().to_owned(), r.to_json()))
                .collect(),
            ..Default::default()
        }
    }
}

impl KeyStore for FakeStore {
    async fn get(&self, hash: &KeyHash) -> Result<Option<String>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        if self.fail {
            return Err(StoreError("KV GET failed: 503".into()));
        }
        Ok(self.records.get(hash.as_kv_key()).cloned())
    }
}

/// An active record for `key`, owned by `consumer`, with no limits, scopes or metadata.
pub fn record(key: &str, consumer: &str) -> KeyRecord {
    KeyRecord {
        v: 1,
        id: ApiKey::new(key).hash().id().to_owned(),
        name: "t".into(),
        consumer_id: consumer.into(),
        consumer_name: None,
        created_at: 0,
        expires_at: None,
        disabled: false,
        meta: Default::default(),
        scopes: vec![],
        description: None,
        tier: None,
        quota: None,
    }
}

/// Headers with `Authorization: Bearer <key>`.
pub fn bearer(key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}")).expect("header value"),
    );
    h
}

/// A `GET path` over https from an unknown client.
pub fn get<'a>(path: &'a str, headers: &'a HeaderMap) -> RequestHead<'a> {
    RequestHead {
        method: "GET",
        path,
        query: None,
        headers,
        client: ClientContext {
            client_ip: None,
            proto: "https",
            request_id: "rid",
        },
    }
}
