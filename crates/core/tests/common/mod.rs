//! Fixtures shared by the native tests and the bench: the one way to build a configuration, the
//! one in-memory key store (it counts reads, can fail, answer slowly or hang), a minimal key
//! record, a `GET` request head carrying a bearer key, and the README.
#![allow(dead_code)] // Each test binary uses its own subset.

use http::{HeaderMap, HeaderName, HeaderValue};
use keygate_core::forward::ClientContext;
use keygate_core::{
    ApiKey, Config, ConfigError, KeyHash, KeyRecord, KeyStore, RequestHead, StoreError,
};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The `ORIGIN_URL` of every test configuration unless `vars` sets another.
pub const ORIGIN: &str = "https://api.example/base";

/// The `SHARED_SECRET` of every test configuration unless `vars` sets another.
pub const SECRET: &str = "origin-secret-0123456789";

/// The configuration read from `vars`, with `ORIGIN_URL` = [`ORIGIN`] and `SHARED_SECRET` =
/// [`SECRET`] where `vars` does not set them.
pub fn try_config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_lookup(|k| {
        let default = match k {
            "ORIGIN_URL" => Some(ORIGIN),
            "SHARED_SECRET" => Some(SECRET),
            _ => None,
        };
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| *v)
            .or(default)
            .map(str::to_owned)
    })
}

/// [`try_config`] for `vars` that make a valid configuration.
pub fn config(vars: &[(&str, &str)]) -> Config {
    try_config(vars).expect("test configuration is valid")
}

/// Returns `Pending` `n` times (waking itself), like a store call that takes a while.
pub struct Yield(pub u32);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A map-backed key store that counts reads and can be told to fail. By default it answers at
/// once; [`FakeStore::slow`] makes each read yield first, and `hang_next` makes the next read
/// never answer.
#[derive(Default)]
pub struct FakeStore {
    /// Stored values under their key hash's KV name.
    pub records: RefCell<HashMap<String, String>>,
    pub reads: Cell<u32>,
    pub fail: Cell<bool>,
    /// The next read never answers, like a KV call that hangs.
    pub hang_next: Cell<bool>,
    /// How many times each read returns `Pending` before it answers.
    pub yields: u32,
}

impl FakeStore {
    /// A store holding these records, each under its key's hash.
    pub fn with(records: &[(&str, KeyRecord)]) -> Self {
        let store = Self::default();
        for (key, record) in records {
            store.put(key, record);
        }
        store
    }

    /// An empty store whose every read yields three times before it answers, like a KV call.
    pub fn slow() -> Self {
        Self {
            yields: 3,
            ..Self::default()
        }
    }

    /// Stores `record` under the hash of `key`.
    pub fn put(&self, key: &str, record: &KeyRecord) {
        self.put_raw(key, record.to_json());
    }

    /// Stores `value` as it is (it need not be a record) under the hash of `key`.
    pub fn put_raw(&self, key: &str, value: String) {
        let name = ApiKey::new(key).hash().as_kv_key().to_owned();
        self.records.borrow_mut().insert(name, value);
    }

    /// Removes what is stored under the hash of `key`.
    pub fn delete(&self, key: &str) {
        self.records
            .borrow_mut()
            .remove(ApiKey::new(key).hash().as_kv_key());
    }
}

impl KeyStore for FakeStore {
    async fn get(&self, hash: &KeyHash) -> Result<Option<String>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        if self.hang_next.replace(false) {
            std::future::pending::<()>().await;
        }
        Yield(self.yields).await;
        if self.fail.get() {
            return Err(StoreError("KV GET failed: 503".into()));
        }
        Ok(self.records.borrow().get(hash.as_kv_key()).cloned())
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

/// [`record`] for `key`, owned by `acme`, limited to `scopes`.
pub fn scoped(key: &str, scopes: &[&str]) -> KeyRecord {
    KeyRecord {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..record(key, "acme")
    }
}

/// Request headers from `(name, value)` pairs, in order, repeats kept.
pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
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

/// The project's README.md, which some tests hold to the code.
pub fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md")
}
