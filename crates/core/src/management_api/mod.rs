//! The management API's request handling (issue 15): [`serve`] takes a request the pipeline
//! routed under `/__keygate/v1` ([`crate::pipeline::Verdict::Management`]) and answers it, over
//! the stores the edge binds ([`Deps`]). In order: the route (404, 405), the public OpenAPI
//! document, the per-address rate limit, authentication (a root key, or `ADMIN_TOKEN` as the
//! bootstrap principal), the per-principal rate limit, the permission, the body (413, 415,
//! 422), then the endpoint over [`crate::lifecycle`], [`crate::root`], the audit trail and the
//! idempotency store. Every write appends one audit entry.
//!
//! The answer ([`Answer`]) is the status, headers and body, and what the edge logs
//! ([`LogFacts`]): never a key, a root key or `ADMIN_TOKEN`, apart from the one-time create
//! answer's key.
//!
//! Submodules: `answer` (errors and successes as HTTP), `auth` (who asks, the rate limits),
//! `body` (reading and checking bodies and queries, every invalid field at once), `views` (the
//! JSON shapes), `keys` (the key endpoints), `create` (`POST /keys`, idempotent), `roots`,
//! `verify` and `audit_list`.

mod answer;
mod audit_list;
mod auth;
mod body;
mod create;
mod keys;
mod roots;
mod verify;
mod views;

pub use answer::{Answer, LogFacts};

use crate::audit::AuditLog;
use crate::config::Config;
use crate::idempotency::IdempotencyStore;
use crate::kv::KvStore;
use crate::management::{Route, RouteError};
use crate::store::{QuotaReader, RateLimiter};
use answer::{ApiError, Reply};
use http::HeaderMap;

/// The largest request body accepted, in bytes; above it, 413.
pub const MAX_BODY: usize = 64 * 1024;
/// The Workers Rate Limiting binding counting management requests per client address, before
/// authentication.
pub const IP_LIMIT_BINDING: &str = "MGMT_IP_LIMIT";
/// The binding counting management requests per principal (a root key's id, or `bootstrap`),
/// after authentication.
pub const KEY_LIMIT_BINDING: &str = "MGMT_KEY_LIMIT";
/// The period of both bindings (wrangler.toml), sent as `Retry-After` with a 429.
pub const RATE_LIMIT_PERIOD_SECS: u32 = 60;
/// The most keys or audit entries one page holds, and the default.
pub const MAX_PAGE: usize = 100;
pub const DEFAULT_PAGE: usize = 50;
/// The most KV list pages one `GET /keys` reads; a page may then hold fewer keys than asked
/// for, with a cursor to go on.
pub const MAX_KV_PAGES: usize = 5;
/// How long a retry of an idempotent create waits for the first request to finish, in ms.
pub const IDEMPOTENCY_WAIT_MS: u64 = 10_000;
/// `Retry-After` of the 409 when the first request is still running after that.
pub const IDEMPOTENCY_RETRY_AFTER_SECS: u32 = 1;
/// The most keys one import takes.
pub const MAX_IMPORT: usize = 1000;
/// The longest rotation overlap, in seconds (30 days).
pub const MAX_OVERLAP_SECS: u64 = 30 * 86_400;

/// A wait of `ms` milliseconds that keeps the waiting request's own context busy: a timer at
/// the edge, a yield in native tests. (Like [`crate::cache::Pause`], with a length: a retry of
/// an idempotent create waits for seconds, not for a KV read.)
#[allow(async_fn_in_trait)] // Workers futures are single-threaded; no Send bound is wanted.
pub trait Sleep {
    async fn sleep(&self, ms: u64);
}

/// What the management API runs on, as the edge binds it.
pub struct Deps<'a, K, A, I, L, Q, S> {
    pub cfg: &'a Config,
    /// The key records and root-key records (the `API_KEYS` namespace).
    pub kv: &'a K,
    /// The audit trail (the `ManagementLog` Durable Object).
    pub audit: &'a A,
    /// Idempotent create's claims (the same Durable Object).
    pub idempotency: &'a I,
    /// The `MGMT_IP_LIMIT` and `MGMT_KEY_LIMIT` bindings.
    pub limiter: &'a L,
    /// The quota counters, read only (usage, verify).
    pub quotas: &'a Q,
    pub sleep: &'a S,
    /// Unix seconds.
    pub now: u64,
}

/// The request body as the edge read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Not read: the route takes none, or the request sent none.
    Absent,
    Bytes(&'a [u8]),
    /// Longer than [`MAX_BODY`] (by its `Content-Length`, or as read): not read.
    TooLarge,
}

/// What the edge should do with a request's body before calling [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlan {
    /// The route takes no body: pass [`Body::Absent`].
    Skip,
    /// Read it (then pass [`Body::TooLarge`] when it is longer than [`MAX_BODY`]).
    Read,
    /// Its `Content-Length` is over [`MAX_BODY`]: do not read it, pass [`Body::TooLarge`].
    TooLarge,
}

/// Whether and how to read the body of a request for `route`.
pub fn body_plan(route: &Result<Route, RouteError>, headers: &HeaderMap) -> BodyPlan {
    if !route.as_ref().is_ok_and(Route::takes_body) {
        return BodyPlan::Skip;
    }
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        BodyPlan::TooLarge
    } else {
        BodyPlan::Read
    }
}

/// One management request.
#[derive(Debug, Clone, Copy)]
pub struct ManagementRequest<'a> {
    /// The pipeline's routing ([`crate::pipeline::Verdict::Management`]).
    pub route: &'a Result<Route, RouteError>,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Body<'a>,
    /// `CF-Connecting-IP`, for the per-address limit.
    pub client_ip: Option<&'a str>,
    /// The request id (sanitised), echoed in every answer and audit entry.
    pub request_id: &'a str,
}

/// The answer to every management request when the edge cannot bind what the API runs on (the
/// `MANAGEMENT_LOG` Durable Object): a configuration fault, 500, failing closed. `detail` is for
/// the operator's log.
pub fn unbound(detail: &str, request_id: &str) -> Answer {
    ApiError::Config(detail.to_owned()).answer(request_id, LogFacts::default())
}

/// Answers one management request. Never fails: faults are answers (500, 503) whose
/// [`LogFacts`] carry the operator's detail.
pub async fn serve<K, A, I, L, Q, S>(
    deps: &Deps<'_, K, A, I, L, Q, S>,
    req: &ManagementRequest<'_>,
) -> Answer
where
    K: KvStore,
    A: AuditLog,
    I: IdempotencyStore,
    L: RateLimiter,
    Q: QuotaReader,
    S: Sleep,
{
    let mut facts = LogFacts::default();
    let result = run(deps, req, &mut facts).await;
    match result {
        Ok(reply) => reply.answer(req.request_id, facts),
        Err(e) => e.answer(req.request_id, facts),
    }
}

async fn run<K, A, I, L, Q, S>(
    deps: &Deps<'_, K, A, I, L, Q, S>,
    req: &ManagementRequest<'_>,
    facts: &mut LogFacts,
) -> Result<Reply, ApiError>
where
    K: KvStore,
    A: AuditLog,
    I: IdempotencyStore,
    L: RateLimiter,
    Q: QuotaReader,
    S: Sleep,
{
    let route = match req.route {
        Ok(r) => r,
        Err(RouteError::NotFound) => return Err(ApiError::NoEndpoint),
        Err(RouteError::MethodNotAllowed { allow }) => {
            return Err(ApiError::MethodNotAllowed { allow })
        }
    };
    if *route == Route::OpenApi {
        return Ok(Reply::openapi());
    }
    auth::limit(deps, IP_LIMIT_BINDING, req.client_ip.unwrap_or("unknown")).await?;
    let who = auth::authenticate(deps, req.headers).await?;
    facts.actor = Some(who.principal.actor().to_owned());
    auth::limit(deps, KEY_LIMIT_BINDING, who.principal.actor()).await?;
    if let Some(p) = route.permission() {
        if !who.principal.permits(p) {
            return Err(ApiError::Forbidden {
                scope: p,
                detail: format!("this root key lacks the permission {}", p.as_str()),
            });
        }
    }
    let json = if route.takes_body() {
        body::read(route, req.headers, req.body)?
    } else {
        None
    };
    let ctx = keys::Ctx {
        deps,
        who: &who,
        request_id: req.request_id,
    };
    match route {
        Route::CreateKey => ctx.create(req.headers, json, facts).await,
        Route::ListKeys => ctx.list(req.query).await,
        Route::GetKey { id } => ctx.show(id, facts).await,
        Route::UpdateKey { id } => ctx.update(id, json, facts).await,
        Route::RotateKey { id } => ctx.rotate(id, json, facts).await,
        Route::RevokeKey { id } => ctx.revoke(id, facts).await,
        Route::ImportKeys => ctx.import(json, facts).await,
        Route::KeyUsage { id } => ctx.usage(id, facts).await,
        Route::VerifyKey => ctx.verify(json, facts).await,
        Route::ListAudit => ctx.list_audit(req.query).await,
        Route::CreateRoot => ctx.create_root(json, facts).await,
        Route::ListRoots => ctx.list_roots().await,
        Route::RevokeRoot { id } => ctx.revoke_root(id, facts).await,
        Route::OpenApi => Ok(Reply::openapi()),
    }
}
