//! `POST /keys/verify`: the decision the data plane would make for a key, a method and a path,
//! through the data plane's own checks ([`crate::pipeline::request_target`],
//! [`crate::pipeline::check_key`], [`crate::pipeline::peek_limits`]), without forwarding
//! anything and without spending rate limit or quota. The key is read from KV directly (not
//! through the isolate cache), behind the tenant guard: a key outside the root key's prefix is
//! answered as an unknown key.

use super::answer::{ApiError, LogFacts, Reply};
use super::body::{self, Checker, Object};
use super::keys::Ctx;
use super::Sleep;
use crate::audit::AuditLog;
use crate::cache::{KeyLookup, Lookup};
use crate::credential::parse_api_key_header;
use crate::idempotency::IdempotencyStore;
use crate::kv::KvStore;
use crate::pipeline::{check_key, peek_limits, request_target, Denial, Fault, QuotaPeek};
use crate::problem::Refusal;
use crate::record::InvalidKey;
use crate::root::Principal;
use crate::secret::KeyHash;
use crate::store::{KeyStore, QuotaReader, RateLimiter, StoreError};
use serde::Serialize;

/// Key records read straight from a KV namespace.
struct KvKeys<'a, K>(&'a K);

impl<K: KvStore> KeyStore for KvKeys<'_, K> {
    async fn get(&self, hash: &KeyHash) -> Result<Option<String>, StoreError> {
        self.0
            .get(hash.as_kv_key())
            .await
            .map_err(|e| StoreError(e.0))
    }
}

/// The lookup of keys the principal may see; any other is unknown.
struct Guarded<'a, L> {
    inner: L,
    principal: &'a Principal,
    confined: bool,
}

impl<L: KeyLookup> KeyLookup for Guarded<'_, L> {
    async fn lookup(&self, hash: &KeyHash) -> Result<Lookup, StoreError> {
        Ok(match self.inner.lookup(hash).await? {
            Lookup::Found(r) if !self.principal.sees(&r.consumer_id) => {
                Lookup::Refused(InvalidKey::Unknown)
            }
            // A confined principal cannot be shown that a corrupt record is its own.
            Lookup::Refused(InvalidKey::Corrupt(_)) if self.confined => {
                Lookup::Refused(InvalidKey::Unknown)
            }
            other => other,
        })
    }
}

#[derive(Serialize)]
struct Verification<'a> {
    valid: bool,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumer_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<Option<QuotaAnswer>>,
}

#[derive(Serialize)]
struct QuotaAnswer {
    limit: u64,
    remaining: u64,
    resets_at: u64,
}

impl From<QuotaPeek> for QuotaAnswer {
    fn from(p: QuotaPeek) -> Self {
        Self {
            limit: p.limit,
            remaining: p.remaining,
            resets_at: p.resets_at,
        }
    }
}

fn fault(f: Fault) -> ApiError {
    match f {
        Fault::Config(e) => ApiError::Config(e.to_string()),
        Fault::StoreUnavailable(StoreError(m)) => ApiError::Store(m),
        Fault::QuotaStoreUnavailable(m) => ApiError::Quota(m),
        Fault::RateLimiterUnavailable(m) => ApiError::Limiter(m),
        Fault::OriginUnreachable | Fault::OriginTimeout => {
            ApiError::Internal("verify does not call the origin".into())
        }
    }
}

impl<K, A, I, L, Q, S> Ctx<'_, '_, K, A, I, L, Q, S>
where
    K: KvStore,
    A: AuditLog,
    I: IdempotencyStore,
    L: RateLimiter,
    Q: QuotaReader,
    S: Sleep,
{
    pub async fn verify(
        &self,
        json: Option<Object>,
        facts: &mut LogFacts,
    ) -> Result<Reply, ApiError> {
        let o = json.unwrap_or_default();
        let mut c = Checker::default();
        let q = body::verify_question(&mut c, &o);
        let q = c.finish(q)?;
        let (cfg, now) = (self.deps.cfg, self.now());
        let denied = |d: Denial| {
            let code = Refusal::Denied(d.clone()).reason_code().as_str();
            let key_id = d.key_id().map(str::to_owned);
            (code, key_id)
        };
        let target = match request_target(cfg, &q.method, &q.path, None) {
            Ok(t) => t,
            Err(d) => return Ok(refused(denied(d))),
        };
        let key = match parse_api_key_header(std::iter::once(q.key.as_bytes())) {
            Ok(Some(k)) => k,
            Ok(None) => unreachable!("one value was given"),
            Err(m) => return Ok(refused(denied(Denial::Malformed(m)))),
        };
        drop(q.key);
        let keys = Guarded {
            inner: KvKeys(self.deps.kv),
            principal: &self.who.principal,
            confined: self.who.prefix().is_some(),
        };
        let record = match check_key(&keys, key, &q.method, None, &target.path, now)
            .await
            .map_err(fault)?
        {
            Ok(r) => r,
            Err(d) => return Ok(refused(denied(d))),
        };
        facts.key(&record.id, Some(&record.consumer_id));
        let peek = match peek_limits(cfg, &record, self.deps.quotas, now)
            .await
            .map_err(fault)?
        {
            Ok(p) => p,
            Err(d) => return Ok(refused(denied(d))),
        };
        Ok(Reply::json(
            200,
            &Verification {
                valid: true,
                code: crate::telemetry::Decision::Accepted.as_str(),
                key_id: Some(&record.id),
                consumer_id: Some(&record.consumer_id),
                scopes: Some(&record.scopes),
                quota: Some(peek.map(QuotaAnswer::from)),
            },
        ))
    }
}

/// The answer for a request the data plane would refuse.
fn refused((code, key_id): (&'static str, Option<String>)) -> Reply {
    Reply::json(
        200,
        &Verification {
            valid: false,
            code,
            key_id: key_id.as_deref(),
            consumer_id: None,
            scopes: None,
            quota: None,
        },
    )
}
