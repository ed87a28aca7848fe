//! The Workers bindings keygate reads: the key store (KV, for the data plane's lookups and the
//! management API's lifecycle), the rate-limit bindings (the tiers' and the management API's),
//! the quota counters and the management log (Durable Objects) and the vars and secrets of its
//! config, each behind a core trait.

use keygate_core::audit::LogError;
use keygate_core::changes::{ChangeFeed, ChangePage};
use keygate_core::coalesce::{Pause, COALESCE_POLL_MS};
use keygate_core::kv;
use keygate_core::limits::{CounterCall, CounterUsage, QuotaCount, Window};
use keygate_core::management_log::{LogCall, LogClient, LogTransport};
use keygate_core::{
    Config, ConfigError, KeyHash, KeyStore, LimitError, QuotaStore, RateLimiter, StoreError,
};
use serde::de::DeserializeOwned;
use std::cell::OnceCell;
use wasm_bindgen::JsValue;
use worker::{
    AnalyticsEngineDataset, Cache, Delay, Env, Headers, KvStore, Method, ObjectNamespace, Request,
    RequestInit, Response,
};

/// The KV namespace binding that holds key records.
const KV_BINDING: &str = "API_KEYS";
/// KV's own edge cache for key reads, in seconds: 30 is KV's minimum (since 2026-01-30; its
/// default stays 60). A longer value would save little (the isolate cache already absorbs hot
/// keys) and lengthens, one for one, how long a write made without the management API (and so
/// without the change feed) takes to hold. See README, "How long until a revoked key is refused".
const KV_CACHE_TTL_SECS: u64 = 30;
/// The optional Workers Analytics Engine dataset binding: one data point per request.
const ANALYTICS_BINDING: &str = "ANALYTICS";
/// The Durable Object namespace binding of the quota counters.
const QUOTA_BINDING: &str = "QUOTAS";

/// The key records in Workers KV.
pub struct Kv(pub KvStore);

impl KeyStore for Kv {
    async fn get(&self, hash: &KeyHash) -> Result<Option<String>, StoreError> {
        let read = self.0.get(hash.as_kv_key()).cache_ttl(KV_CACHE_TTL_SECS);
        read.text().await.map_err(|e| {
            // KV errors may quote the key name; only the short id may leave the gateway.
            StoreError(e.to_string().replace(hash.as_kv_key(), hash.id()))
        })
    }
}

/// The management API's view of the same namespace: key records and root-key records read,
/// written, listed and deleted through core's lifecycle. Unlike the data plane's reads above,
/// no read here goes through KV's edge cache (`cacheTtl`): a write is read back at once, in
/// this location (other locations may still see the old value for up to KV's propagation
/// time, about 60 s). Error texts are scrubbed of full key hashes (`KvError::scrubbed`).
impl kv::KvStore for Kv {
    async fn get(&self, name: &str) -> Result<Option<String>, kv::KvError> {
        self.0.get(name).text().await.map_err(scrub)
    }

    async fn put(
        &self,
        name: &str,
        value: &str,
        opts: kv::PutOptions<'_>,
    ) -> Result<(), kv::KvError> {
        let mut put = self.0.put(name, value).map_err(scrub)?;
        if let Some(metadata) = opts.metadata {
            put = put.metadata(metadata).map_err(scrub)?;
        }
        if let Some(at) = opts.expiration {
            put = put.expiration(at);
        }
        put.execute().await.map_err(scrub)
    }

    async fn delete(&self, name: &str) -> Result<(), kv::KvError> {
        self.0.delete(name).await.map_err(scrub)
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<kv::ListPage, kv::KvError> {
        let mut list = self.0.list().prefix(prefix.to_owned());
        if let Some(c) = cursor {
            list = list.cursor(c.to_owned());
        }
        let page = list.execute().await.map_err(scrub)?;
        let keys = page
            .keys
            .into_iter()
            .map(|k| kv::Listed {
                name: k.name,
                expiration: k.expiration,
                metadata: k.metadata,
            })
            .collect();
        // KV may send a cursor with the last page; core's last page has none.
        let cursor = page.cursor.filter(|c| !page.list_complete && !c.is_empty());
        Ok(kv::ListPage { keys, cursor })
    }
}

/// A KV binding's error for core: its text may quote the names it was given, so full key
/// hashes are cut to their ids.
fn scrub(e: worker::kv::KvError) -> kv::KvError {
    kv::KvError::scrubbed(&e.to_string())
}

/// How a request waits for another request's KV read of the same key: a short timer of its own,
/// so the runtime never sees it idle (see `keygate_core::coalesce`).
pub struct TimerPause;

impl Pause for TimerPause {
    async fn pause(&self) {
        Delay::from(std::time::Duration::from_millis(COALESCE_POLL_MS)).await;
    }
}

/// The Workers Rate Limiting bindings named by `RATE_LIMIT_TIERS`.
pub struct Limiters<'a>(pub &'a Env);

impl RateLimiter for Limiters<'_> {
    async fn limit(&self, binding: &str, key: &str) -> Result<bool, LimitError> {
        let limiter = self
            .0
            .rate_limiter(binding)
            .map_err(|_| LimitError::MissingBinding)?;
        match limiter.limit(key.to_owned()).await {
            Ok(outcome) => Ok(outcome.success),
            Err(e) => Err(LimitError::Unavailable(e.to_string())),
        }
    }
}

/// The quota counters: one `QuotaCounter` Durable Object per counter name.
pub struct Quotas<'a>(pub &'a Env);

impl Quotas<'_> {
    /// Makes `call` on the counter named `counter` and returns the answer's body; a non-200
    /// answer is a fault. (Not generic over the answer's type: one copy of this in the wasm.)
    async fn call(&self, counter: &str, call: CounterCall) -> Result<String, LimitError> {
        let ns = self
            .0
            .durable_object(QUOTA_BINDING)
            .map_err(|_| LimitError::MissingBinding)?;
        let unavailable = |e: worker::Error| LimitError::Unavailable(e.to_string());
        let stub = ns.get_by_name(counter).map_err(unavailable)?;
        let mut resp = stub
            .fetch_with_str(&format!("https://quota{}", call.path_and_query()))
            .await
            .map_err(unavailable)?;
        let body = resp.text().await.map_err(unavailable)?;
        if resp.status_code() != 200 {
            return Err(LimitError::Unavailable(format!(
                "quota counter answered {}",
                resp.status_code()
            )));
        }
        Ok(body)
    }

    /// How much of the window starting at `window_start` the counter has used.
    pub async fn used(&self, counter: &str, window_start: u64) -> Result<u64, LimitError> {
        let body = self
            .call(counter, CounterCall::Usage { window_start })
            .await?;
        parse_answer::<CounterUsage>(&body).map(|u| u.used)
    }
}

impl QuotaStore for Quotas<'_> {
    async fn consume(
        &self,
        counter: &str,
        window: Window,
        limit: u64,
    ) -> Result<QuotaCount, LimitError> {
        let body = self
            .call(counter, CounterCall::Consume { window, limit })
            .await?;
        parse_answer(&body)
    }
}

/// The Durable Object namespace binding of the management log (class `ManagementLog`).
pub const LOG_BINDING: &str = "MANAGEMENT_LOG";
/// The management log's one instance.
const LOG_INSTANCE: &str = "v1";
/// The most characters of the log's error answer that go into a `LogError` (for the log line).
const LOG_ERROR_CHARS: usize = 300;

/// The management log (the `ManagementLog` Durable Object): the transport under core's
/// `LogClient`, which is the management API's `AuditLog` and `IdempotencyStore`.
pub struct LogObject(ObjectNamespace);

impl LogObject {
    /// The management log of `env`; `None` when the `MANAGEMENT_LOG` binding is missing, a
    /// configuration fault (500, fail closed). A call that fails later is a `LogError`, a store
    /// fault (503).
    pub fn client(env: &Env) -> Option<LogClient<LogObject>> {
        let ns = env.durable_object(LOG_BINDING).ok()?;
        Some(LogClient(LogObject(ns)))
    }
}

impl LogTransport for LogObject {
    async fn send(&self, call: &LogCall, body: String) -> Result<String, LogError> {
        let failed = |e: worker::Error| {
            LogError::new(format!("management log: {:?} failed: {e}", call.kind()))
        };
        let stub = self.0.get_by_name(LOG_INSTANCE).map_err(failed)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(JsValue::from_str(&body)));
        let req = Request::new_with_init("https://management-log/call", &init).map_err(failed)?;
        let mut resp = stub.fetch_with_request(req).await.map_err(failed)?;
        let text = resp.text().await.map_err(failed)?;
        match resp.status_code() {
            200 => Ok(text),
            status => Err(LogError::new(format!(
                "management log answered {status} to {:?}: {}",
                call.kind(),
                text.chars().take(LOG_ERROR_CHARS).collect::<String>()
            ))),
        }
    }
}

/// The named cache that shares the change feed's window within a location.
const FEED_CACHE: &str = "keygate-change-feed";
/// The window's cache key: a name no client request can have (the Cache API is keyed by URL;
/// this host does not resolve).
const FEED_CACHE_KEY: &str = "https://change-feed.keygate.invalid/v1/window";

/// The change feed at the edge (core's `changes::ChangeFeed`): the window's first page from the
/// location's cache while it is young enough, else from the management log, then cached for the
/// location's other isolates; later pages from the log. `now_ms` is the request's clock, taken
/// before any read, so a page's `as_of_ms` never claims more than it holds.
/// `E` is `&Env` on the request's path, or an `Env` of its own for a sync after the answer.
pub struct Feed<E> {
    pub env: E,
    pub now_ms: u64,
}

/// How long a read of the change feed waits for the log before it counts as a fault: a log that
/// hangs must not hold an isolate's requests (they wait for the sync) any longer than this.
const FEED_TIMEOUT_MS: u64 = 1_500;

impl<E: std::borrow::Borrow<Env>> Feed<E> {
    async fn read(&self, after: Option<u64>) -> Result<String, LogError> {
        use futures_util::future::{select, Either};
        let log = LogObject::client(self.env.borrow())
            .ok_or_else(|| LogError::new(format!("the {LOG_BINDING} binding is missing")))?;
        let call = LogCall::Changes {
            after,
            now_ms: self.now_ms,
        };
        let body = serde_json::to_string(&call).expect("a log call serialises");
        let read = std::pin::pin!(log.0.send(&call, body));
        let timer = Delay::from(std::time::Duration::from_millis(FEED_TIMEOUT_MS));
        match select(read, timer).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => Err(LogError::new(format!(
                "management log: no answer to a change-feed read within {FEED_TIMEOUT_MS} ms"
            ))),
        }
    }
}

fn parse_page(text: &str) -> Result<ChangePage, LogError> {
    serde_json::from_str(text)
        .map_err(|e| LogError::new(format!("management log: unreadable change page: {e}")))
}

impl<E: std::borrow::Borrow<Env>> ChangeFeed for Feed<E> {
    async fn window(&self, max_age_ms: u64) -> Result<ChangePage, LogError> {
        let cache = Cache::open(FEED_CACHE.to_owned()).await;
        if let Ok(Some(mut hit)) = cache.get(FEED_CACHE_KEY, true).await {
            let page = hit.text().await.ok().and_then(|t| parse_page(&t).ok());
            if let Some(page) = page.filter(|p| self.now_ms < p.as_of_ms + max_age_ms) {
                return Ok(page);
            }
        }
        let text = self.read(None).await?;
        let page = parse_page(&text)?;
        // Shared for at most the page's remaining youth; a failed put only costs the other
        // isolates a read of their own.
        let headers = Headers::new();
        let max_age = (max_age_ms / 1000).max(1);
        if headers
            .set("cache-control", &format!("max-age={max_age}"))
            .is_ok()
        {
            if let Ok(resp) = Response::ok(text) {
                let _ = cache.put(FEED_CACHE_KEY, resp.with_headers(headers)).await;
            }
        }
        Ok(page)
    }

    async fn after(&self, seq: u64) -> Result<ChangePage, LogError> {
        parse_page(&self.read(Some(seq)).await?)
    }
}

/// A counter's JSON answer; an unreadable one is a fault.
fn parse_answer<T: DeserializeOwned>(body: &str) -> Result<T, LimitError> {
    serde_json::from_str(body).map_err(|e| LimitError::Unavailable(e.to_string()))
}

thread_local! {
    /// Vars and secrets are fixed for an isolate's life (a deploy or a `wrangler dev` reload
    /// starts new isolates), so the config is read and validated once per isolate.
    static CONFIG: OnceCell<&'static Result<Config, ConfigError>> = const { OnceCell::new() };
    /// The key store binding, looked up once per isolate like the config: a lookup builds a
    /// `KvStore` from six property reads across the wasm boundary.
    static KEY_STORE: OnceCell<&'static Option<Kv>> = const { OnceCell::new() };
    /// The Analytics Engine dataset, once per isolate (`None`: not bound).
    static ANALYTICS: OnceCell<&'static Option<AnalyticsEngineDataset>> = const { OnceCell::new() };
}

/// What `make` makes, once per isolate (kept in `cell`, for the isolate's life): vars, secrets
/// and bindings are fixed for an isolate's life, and a binding's object serves any request of its
/// isolate (as `import { env } from "cloudflare:workers"` does).
fn per_isolate<T>(
    cell: &'static std::thread::LocalKey<OnceCell<&'static T>>,
    make: impl FnOnce() -> T,
) -> &'static T {
    cell.with(|c| *c.get_or_init(|| Box::leak(Box::new(make()))))
}

/// The isolate's config, including the checks that every binding `RATE_LIMIT_TIERS` names exists
/// and that the management log is bound when the change feed is on.
pub fn load_config(env: &Env) -> &'static Result<Config, ConfigError> {
    per_isolate(&CONFIG, || {
        Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string())).and_then(|cfg| {
            let log_bound = env.durable_object(LOG_BINDING).is_ok();
            cfg.check_bindings(|b| env.rate_limiter(b).is_ok(), log_bound)
        })
    })
}

/// The isolate's key store (`API_KEYS`); `None` when the binding is missing, a configuration
/// fault.
pub fn key_store(env: &Env) -> Option<&'static Kv> {
    per_isolate(&KEY_STORE, || env.kv(KV_BINDING).ok().map(Kv)).as_ref()
}

/// The isolate's Analytics Engine dataset (`ANALYTICS`), when bound.
pub fn analytics(env: &Env) -> Option<&'static AnalyticsEngineDataset> {
    per_isolate(&ANALYTICS, || env.analytics_engine(ANALYTICS_BINDING).ok()).as_ref()
}
