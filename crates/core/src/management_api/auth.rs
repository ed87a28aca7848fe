//! Who makes a management request, and the management API's two rate limits. A credential is
//! `ADMIN_TOKEN` (compared in constant time; the bootstrap principal) or a root key (found by
//! its hash); anything else, an API key included, is a 401.

use super::answer::ApiError;
use super::{Deps, Sleep};
use crate::audit::AuditLog;
use crate::credential::parse_authorization;
use crate::idempotency::IdempotencyStore;
use crate::kv::KvStore;
use crate::root::{self, Principal, RootKey};
use crate::secret::ApiKey;
use crate::store::{LimitError, QuotaReader, RateLimiter};
use http::HeaderMap;

/// An authenticated request's principal, and the credential it presented (kept to derive an
/// idempotent create's key; never shown or logged).
pub(crate) struct Authenticated {
    pub principal: Principal,
    pub credential: ApiKey,
}

impl Authenticated {
    /// The consumer prefix the principal is confined to, if any.
    pub fn prefix(&self) -> Option<&str> {
        match &self.principal {
            Principal::Bootstrap => None,
            Principal::Root(r) => r.consumer_prefix.as_deref(),
        }
    }
}

/// The request's principal: `ADMIN_TOKEN`, or a stored root key.
pub(crate) async fn authenticate<K, A, I, L, Q, S>(
    deps: &Deps<'_, K, A, I, L, Q, S>,
    headers: &HeaderMap,
) -> Result<Authenticated, ApiError>
where
    K: KvStore,
    A: AuditLog,
    I: IdempotencyStore,
    L: RateLimiter,
    Q: QuotaReader,
    S: Sleep,
{
    let values = headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes());
    let credential = match parse_authorization(values) {
        Ok(Some(c)) => c,
        Ok(None) => return Err(ApiError::Unauthenticated { presented: false }),
        Err(_) => return Err(ApiError::Unauthenticated { presented: true }),
    };
    if let Some(token) = &deps.cfg.admin_token {
        if token.matches(credential.expose().as_bytes()) {
            return Ok(Authenticated {
                principal: Principal::Bootstrap,
                credential,
            });
        }
    }
    let Some(key) = RootKey::parse(credential.expose()) else {
        return Err(ApiError::Unauthenticated { presented: true });
    };
    match root::find_root(deps.kv, &key).await {
        Ok(Some(record)) => Ok(Authenticated {
            principal: Principal::Root(record),
            credential,
        }),
        Ok(None) => Err(ApiError::Unauthenticated { presented: true }),
        Err(e) => Err(ApiError::lifecycle(e, "root key")),
    }
}

/// Counts one request against `binding` for `key`: over the limit is a 429, a missing binding
/// a configuration fault, a failing one a 503.
pub(crate) async fn limit<K, A, I, L, Q, S>(
    deps: &Deps<'_, K, A, I, L, Q, S>,
    binding: &str,
    key: &str,
) -> Result<(), ApiError>
where
    L: RateLimiter,
{
    match deps.limiter.limit(binding, key).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::RateLimited),
        Err(LimitError::MissingBinding) => Err(ApiError::Config(format!(
            "the rate-limit binding {binding} is missing"
        ))),
        Err(LimitError::Unavailable(m)) => Err(ApiError::Limiter(format!("{binding}: {m}"))),
    }
}
