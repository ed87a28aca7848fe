//! The Workers bindings keygate reads: the key store (KV), the rate-limit bindings, the quota
//! counters (Durable Objects) and the vars and secrets of its config, each behind a core trait.

use keygate_core::cache::{Pause, COALESCE_POLL_MS};
use keygate_core::limits::{CounterCall, CounterUsage, QuotaCount, Window};
use keygate_core::{
    Config, ConfigError, KeyHash, KeyStore, LimitError, QuotaStore, RateLimiter, StoreError,
};
use serde::de::DeserializeOwned;
use std::rc::Rc;
use worker::{Delay, Env, KvStore};

/// The KV namespace binding that holds key records.
pub const KV_BINDING: &str = "API_KEYS";
/// KV's own edge cache for key reads, in seconds: 60 is KV's minimum and its default. A longer
/// value would save little (the isolate cache already absorbs hot keys) and would lengthen the
/// time from `keygate revoke` to refusal one for one. See README, "How long until a revoked key
/// is refused".
const KV_CACHE_TTL_SECS: u64 = 60;
/// The optional Workers Analytics Engine dataset binding: one data point per request.
pub const ANALYTICS_BINDING: &str = "ANALYTICS";
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

/// How a request waits for another request's KV read of the same key: a short timer of its own,
/// so the runtime never sees it idle (see `keygate_core::cache::Pause`).
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

/// A counter's JSON answer; an unreadable one is a fault.
fn parse_answer<T: DeserializeOwned>(body: &str) -> Result<T, LimitError> {
    serde_json::from_str(body).map_err(|e| LimitError::Unavailable(e.to_string()))
}

thread_local! {
    /// Vars and secrets are fixed for an isolate's life (a deploy or a `wrangler dev` reload
    /// starts new isolates), so the config is read and validated once per isolate.
    static CONFIG: std::cell::OnceCell<Rc<Result<Config, ConfigError>>> =
        const { std::cell::OnceCell::new() };
}

/// The isolate's config, including the check that every binding `RATE_LIMIT_TIERS` names exists
/// (bindings, like vars, are fixed for the isolate's life).
pub fn load_config(env: &Env) -> Rc<Result<Config, ConfigError>> {
    CONFIG.with(|c| {
        c.get_or_init(|| {
            let cfg = Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
                .and_then(|cfg| {
                    if cfg.tiers.bindings().any(|b| env.rate_limiter(b).is_err()) {
                        Err(ConfigError::MissingRateLimiter)
                    } else {
                        Ok(cfg)
                    }
                });
            Rc::new(cfg)
        })
        .clone()
    })
}
