//! The management API's request handling (`keygate_core::management_api::serve`), natively, over
//! in-memory stores that fail on request: KV (`MemoryKv`), the management log (`MemoryLog`, the
//! Durable Object's own rules behind its JSON protocol), the rate-limit bindings, the quota
//! counters and a sleep that only yields. One module a subject; the world they share is here.

mod audit_trail;
mod auth;
mod bodies;
#[path = "../common/mod.rs"]
mod common;
mod faults;
mod feed;
mod idempotent;
mod keys;
mod permissions;
mod roots;
mod secrets;
mod tenant;
mod verify;

use common::Yield;
use http::{HeaderMap, HeaderName, HeaderValue};
use keygate_core::cache::KeyCache;
use keygate_core::changes::ChangeView;
use keygate_core::kv::memory::MemoryKv;
use keygate_core::kv::{KvError, KvStore, ListPage, PutOptions};
use keygate_core::limits::Quota;
use keygate_core::management::route;
use keygate_core::management_api::{
    body_plan, serve, Answer, Body, BodyPlan, Deps, ManagementRequest, Sleep,
};
use keygate_core::management_log::{Applied, LogClient, MemoryLog};
use keygate_core::root::{create_root, Permissions};
use keygate_core::store::{LimitError, QuotaReader, RateLimiter};
use keygate_core::Config;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

pub const ADMIN: &str = "admin-token-0123456789abcdef";
pub const NOW: u64 = 1_764_547_200;
pub const BASE: &str = "/__keygate/v1";

/// A KV namespace whose every call yields a few times first, like a real KV call, so that
/// concurrent requests interleave.
pub struct SlowKv {
    pub inner: MemoryKv,
    pub yields: u32,
}

impl KvStore for SlowKv {
    async fn get(&self, name: &str) -> Result<Option<String>, KvError> {
        Yield(self.yields).await;
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: &str, opts: PutOptions<'_>) -> Result<(), KvError> {
        Yield(self.yields).await;
        self.inner.put(name, value, opts).await
    }
    async fn delete(&self, name: &str) -> Result<(), KvError> {
        Yield(self.yields).await;
        self.inner.delete(name).await
    }
    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<ListPage, KvError> {
        Yield(self.yields).await;
        self.inner.list(prefix, cursor).await
    }
}

/// The rate-limit bindings: a count per (binding, key), a limit per binding, and bindings that
/// are missing or failing on request.
#[derive(Default)]
pub struct Limiter {
    pub limits: RefCell<HashMap<String, u32>>,
    pub counts: RefCell<HashMap<(String, String), u32>>,
    pub missing: RefCell<Vec<String>>,
    pub failing: Cell<bool>,
}

impl Limiter {
    pub fn set(&self, binding: &str, limit: u32) {
        self.limits.borrow_mut().insert(binding.into(), limit);
    }
    pub fn count(&self, binding: &str, key: &str) -> u32 {
        self.counts
            .borrow()
            .get(&(binding.to_owned(), key.to_owned()))
            .copied()
            .unwrap_or(0)
    }
    pub fn total(&self) -> u32 {
        self.counts.borrow().values().sum()
    }
}

impl RateLimiter for Limiter {
    async fn limit(&self, binding: &str, key: &str) -> Result<bool, LimitError> {
        if self.missing.borrow().iter().any(|b| b == binding) {
            return Err(LimitError::MissingBinding);
        }
        if self.failing.get() {
            return Err(LimitError::Unavailable("limiter down (test)".into()));
        }
        let mut counts = self.counts.borrow_mut();
        let n = counts.entry((binding.into(), key.into())).or_default();
        *n += 1;
        let limit = self
            .limits
            .borrow()
            .get(binding)
            .copied()
            .unwrap_or(u32::MAX);
        Ok(*n <= limit)
    }
}

/// The quota counters, read only: `used` per counter name and window start.
#[derive(Default)]
pub struct Quotas {
    pub used: RefCell<HashMap<(String, u64), u64>>,
    pub reads: Cell<u32>,
    pub failing: Cell<bool>,
    pub missing: Cell<bool>,
}

impl QuotaReader for Quotas {
    async fn used(&self, counter: &str, window_start: u64) -> Result<u64, LimitError> {
        self.reads.set(self.reads.get() + 1);
        if self.missing.get() {
            return Err(LimitError::MissingBinding);
        }
        if self.failing.get() {
            return Err(LimitError::Unavailable("counter down (test)".into()));
        }
        Ok(self
            .used
            .borrow()
            .get(&(counter.to_owned(), window_start))
            .copied()
            .unwrap_or(0))
    }
}

/// A sleep that yields once and adds up how long it was asked to wait.
#[derive(Default)]
pub struct FakeSleep {
    pub slept_ms: Cell<u64>,
}

impl Sleep for FakeSleep {
    async fn sleep(&self, ms: u64) {
        self.slept_ms.set(self.slept_ms.get() + ms);
        Yield(1).await;
    }
}

/// Everything a management request runs on.
pub struct World {
    pub cfg: Config,
    pub kv: SlowKv,
    pub log: MemoryLog,
    /// The view of the change feed, and the key cache, of the isolate that serves the management
    /// requests (its writes apply to them at once, as at the edge).
    pub view: ChangeView,
    pub cache: KeyCache,
    pub limiter: Limiter,
    pub quotas: Quotas,
    pub sleep: FakeSleep,
    pub now: Cell<u64>,
}

impl Default for World {
    fn default() -> Self {
        Self::with(&[("ADMIN_TOKEN", ADMIN)])
    }
}

/// One request to send.
pub struct Req<'a> {
    pub method: &'a str,
    /// Under [`BASE`], with an optional query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub ip: &'a str,
}

impl<'a> Req<'a> {
    pub fn new(method: &'a str, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: vec![],
            body: None,
            ip: "198.51.100.7",
        }
    }
    pub fn bearer(mut self, credential: &str) -> Self {
        self.headers
            .push(("authorization".into(), format!("Bearer {credential}")));
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// A JSON body, with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.raw_json(&body.to_string())
    }
    pub fn raw_json(mut self, body: &str) -> Self {
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self.body = Some(body.to_owned());
        self
    }
    pub fn from(mut self, ip: &'a str) -> Self {
        self.ip = ip;
        self
    }
}

impl World {
    pub fn with(vars: &[(&str, &str)]) -> Self {
        Self {
            cfg: common::config(vars),
            kv: SlowKv {
                inner: MemoryKv::new(),
                yields: 0,
            },
            log: MemoryLog::new(),
            view: ChangeView::new(),
            cache: KeyCache::new(),
            limiter: Limiter::default(),
            quotas: Quotas::default(),
            sleep: FakeSleep::default(),
            now: Cell::new(NOW),
        }
    }

    /// Sends one request.
    pub async fn send(&self, r: Req<'_>) -> Answer {
        let (path, query) = match r.path.split_once('?') {
            Some((p, q)) => (format!("{BASE}{p}"), Some(q.to_owned())),
            None => (format!("{BASE}{}", r.path), None),
        };
        let routed = route(r.method, &path);
        let mut headers = HeaderMap::new();
        for (k, v) in &r.headers {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        if let Some(b) = &r.body {
            headers.insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from(b.len() as u64),
            );
        }
        let body = match (body_plan(&routed, &headers), &r.body) {
            (BodyPlan::Skip, _) | (BodyPlan::Read, None) => Body::Absent,
            (BodyPlan::TooLarge, _) => Body::TooLarge,
            (BodyPlan::Read, Some(b)) => Body::Bytes(b.as_bytes()),
        };
        let log = LogClient(&self.log);
        let audit = Applied {
            log: &log,
            view: &self.view,
            cache: &self.cache,
        };
        let deps = Deps {
            cfg: &self.cfg,
            kv: &self.kv,
            audit: &audit,
            idempotency: &log,
            limiter: &self.limiter,
            quotas: &self.quotas,
            sleep: &self.sleep,
            now: self.now.get(),
        };
        let req = ManagementRequest {
            route: &routed,
            query: query.as_deref(),
            headers: &headers,
            body,
            client_ip: Some(r.ip),
            request_id: "req-1",
        };
        serve(&deps, &req).await
    }

    /// Sends one request, blocking.
    pub fn call(&self, r: Req<'_>) -> Answer {
        pollster::block_on(self.send(r))
    }

    /// `method path` as the bootstrap principal, with an optional JSON body.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.as_(ADMIN, method, path, body)
    }

    /// `method path` with `credential`, with an optional JSON body.
    pub fn as_(&self, credential: &str, method: &str, path: &str, body: Option<Value>) -> Answer {
        let mut r = Req::new(method, path).bearer(credential);
        if let Some(b) = body {
            r = r.json(&b);
        }
        self.call(r)
    }

    /// A root key stored directly (not through the API), its plaintext returned.
    pub fn root(&self, permissions: &[&str], prefix: Option<&str>) -> (String, String) {
        let perms = Permissions::parse_list(permissions).unwrap();
        let (key, record) =
            pollster::block_on(create_root(&self.kv.inner, "test root", perms, prefix, NOW))
                .unwrap();
        (key.expose().to_owned(), record.id)
    }

    /// Creates a key as the bootstrap principal: its plaintext and id.
    pub fn key(&self, consumer: &str, extra: Value) -> (String, String) {
        let mut body = serde_json::json!({"name": "web", "consumer_id": consumer});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let a = self.admin("POST", "/keys", Some(body));
        assert_eq!(a.status, 201, "{}", a.body);
        let v = json(&a);
        (
            v["key"].as_str().unwrap().to_owned(),
            v["record"]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// The key records stored (not root records).
    pub fn key_records(&self) -> usize {
        self.kv
            .inner
            .entries()
            .keys()
            .filter(|n| keygate_core::KeyHash::parse(n).is_some())
            .count()
    }

    pub fn set_used(&self, q: &Quota, id: &str, consumer: &str, used: u64) {
        let window = q.period.window(self.now.get());
        self.quotas
            .used
            .borrow_mut()
            .insert((q.counter(id, consumer), window.start), used);
    }
}

pub fn json(a: &Answer) -> Value {
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body))
}

pub fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The fields a 422 names.
pub fn fields(a: &Answer) -> Vec<String> {
    assert_eq!(a.status, 422, "{}", a.body);
    json(a)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// The problem code of an error answer (`type` after `urn:keygate:problem:`).
pub fn code(a: &Answer) -> String {
    json(a)["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:keygate:problem:")
        .to_owned()
}

/// Every answer carries these, whatever it says.
pub fn assert_own_headers(a: &Answer) {
    assert_eq!(header(a, "cache-control"), Some("no-store"), "{}", a.status);
    assert_eq!(header(a, "x-request-id"), Some("req-1"), "{}", a.status);
    if a.status >= 400 {
        assert_eq!(header(a, "content-type"), Some("application/problem+json"));
        assert_eq!(json(a)["request_id"], "req-1");
        assert_eq!(json(a)["status"], a.status);
    }
}
