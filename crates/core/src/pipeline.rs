//! The request pipeline, phase by phase: the request filter and upstream request filter
//! ([`authorize`]: integrity → URL keys → path → keygate's own paths (the management API, the
//! operator endpoint) → credential → overrides → preflight → lookup → decide → upstream
//! headers), then the limits ([`enforce_limits`]: the tier's rate limit, then the quota).
//! Denials are values (`Verdict::Deny`); infrastructure faults are errors (`Fault`), and every
//! fault fails closed.
//!
//! The management API's `POST /keys/verify` asks for the same decision without forwarding or
//! spending anything: it runs the same request-line and key checks ([`request_target`],
//! [`check_key`]) and reads the quota instead of spending it ([`peek_limits`]).

use crate::admin::{self, AdminDenial, AdminRequest};
use crate::cache::{KeyLookup, Lookup};
use crate::config::{Config, ConfigError};
use crate::credential::{parse_api_key_header, parse_authorization, query_carries_key, Malformed};
use crate::forward::{upstream_headers, Caller, ClientContext};
use crate::heads::X_API_KEY;
use crate::integrity::{
    declares_body, is_forwarded_method, tunnelled_method, url_part_holds_key, OverrideError,
};
use crate::keyformat::{classify, KeyShape, ROOT_PREFIX};
use crate::limits::{self, CounterState, Quota, RateLimitFields, Tier, Window, QUOTA_POLICY};
use crate::management::{self, Route, RouteError};
use crate::path::{join, PathError, UpstreamTarget};
use crate::record::{InvalidKey, KeyRecord, KeyState};
use crate::scope;
use crate::secret::{ApiKey, KeyHash};
use crate::signing::{Signed, X_KEYGATE_SIGNATURE};
use crate::store::{LimitError, QuotaReader, QuotaStore, RateLimiter, StoreError};
use http::{header, HeaderMap, HeaderValue};
use std::rc::Rc;

/// A refusal decided by policy: an expected outcome, not a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// A method keygate does not forward (see [`crate::integrity::FORWARDED_METHODS`]), sent or
    /// tunnelled.
    MethodNotAllowed,
    /// A method override that is not enabled, not one method, conflicting, or on a preflight.
    MethodOverride(OverrideError),
    /// A CORS preflight that declares a body.
    PreflightWithBody,
    MissingCredential,
    Malformed(Malformed),
    /// A root key (`kgr_…`) on the data plane: refused without a store read. Root keys open the
    /// management API only.
    RootKeyRefused,
    BadPath(PathError),
    /// `key_id` is the short public id, for logs.
    InvalidKey {
        reason: InvalidKey,
        key_id: KeyIdBuf,
    },
    /// A valid key outside its scopes. `scopes` is the RFC 6750 `scope` value (space-separated
    /// `METHOD:/pattern` tokens).
    OutOfScope {
        key_id: KeyIdBuf,
        scopes: String,
    },
    /// A refused request to the operator endpoint.
    Admin(AdminDenial),
    /// Over the tier's short-window rate limit.
    RateLimited {
        key_id: KeyIdBuf,
        tier: String,
        limit: u32,
        period: u32,
    },
    /// The quota for the current window is used up.
    QuotaExhausted {
        key_id: KeyIdBuf,
        limit: u64,
        window_secs: u64,
        reset_in: u64,
    },
}

impl Denial {
    /// The key id a denial concerns, when a key was looked up.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Denial::InvalidKey { key_id, .. }
            | Denial::OutOfScope { key_id, .. }
            | Denial::RateLimited { key_id, .. }
            | Denial::QuotaExhausted { key_id, .. } => Some(key_id.as_str()),
            Denial::MethodNotAllowed
            | Denial::MethodOverride(_)
            | Denial::PreflightWithBody
            | Denial::MissingCredential
            | Denial::Malformed(_)
            | Denial::RootKeyRefused
            | Denial::BadPath(_)
            | Denial::Admin(_) => None,
        }
    }
}

/// Something went wrong that is not the client's doing. Every fault fails closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Config(ConfigError),
    StoreUnavailable(StoreError),
    RateLimiterUnavailable(String),
    QuotaStoreUnavailable(String),
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

    /// From a record's id, which decoding has checked is the hash prefix.
    pub fn from_id(id: &str) -> Self {
        let mut b = [b'0'; crate::secret::KEY_ID_LEN];
        let n = id.len().min(b.len());
        b[..n].copy_from_slice(&id.as_bytes()[..n]);
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
    /// The method exactly as received: what scopes are checked against and what is forwarded.
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub client: ClientContext<'a>,
}

/// An accepted request, ready to forward.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub caller: Caller,
    pub target: UpstreamTarget,
    pub headers: HeaderMap,
    /// `RateLimit-Policy` / `RateLimit` values for the response; empty when no limit applies.
    pub rate_limit: RateLimitFields,
    /// Whether the client's body goes on to the origin: never for `GET` and `HEAD` (`fetch`
    /// cannot send one) nor for a CORS preflight (a real one has none, and one that declares a
    /// body is refused). Without it, `headers` has no `Content-Length` either.
    pub forward_body: bool,
}

#[derive(Debug, Clone)]
pub enum Verdict {
    Accept(Box<Accepted>),
    Deny(Denial),
    /// An authenticated request to the operator endpoint: the edge answers it, nothing is
    /// forwarded.
    Operator(AdminRequest),
    /// A request under the management API's [`management::BASE`], in any spelling: the endpoint
    /// it names, or why it names none (404, 405). The edge hands it to the management API's
    /// handler; nothing is forwarded, and no credential has been looked at yet.
    Management(Result<Route, RouteError>),
}

/// Decides one request. `now` is Unix seconds. The store is read at most once, and only for a
/// well-formed credential, with a valid checksum when it carries our prefix, on a well-formed path.
///
/// The checks, in order: the method; keys in the URL; the path (normalised once, and used both
/// for routing keygate's own paths and for forwarding); keygate's own paths (the management
/// API, the operator endpoint); the credential; method overrides; CORS preflights; anonymous
/// access; the key's record, state and scopes.
pub async fn authorize<K: KeyLookup>(
    cfg: &Config,
    head: &RequestHead<'_>,
    keys: &K,
    now: u64,
) -> Result<Verdict, Fault> {
    let deny = |d| Ok(Verdict::Deny(d));
    let target = match request_target(cfg, head.method, head.path, head.query) {
        Ok(t) => t,
        Err(d) => return deny(d),
    };
    if let Some(own) = own_path(cfg, head, &target.path) {
        return Ok(own);
    }
    let key = match credential(cfg, head.headers) {
        Ok(key) => key,
        Err(m) => return deny(Denial::Malformed(m)),
    };
    let tunnelled = match tunnelled_method(head.headers, head.query) {
        Ok(None) => None,
        Ok(Some(_)) | Err(_) if !cfg.method_override => {
            return deny(Denial::MethodOverride(OverrideError::NotEnabled))
        }
        Ok(Some(m)) if is_forwarded_method(&m) => Some(m),
        Ok(Some(_)) => return deny(Denial::MethodNotAllowed),
        Err(e) => return deny(Denial::MethodOverride(e)),
    };
    // Takes the target by value: exactly one branch forwards, so the URL is never copied.
    let forward = |caller: Caller, target: UpstreamTarget| {
        let mut headers = upstream_headers(head.headers, cfg, &caller, head.client);
        if cfg.signing.signs() {
            let signed = Signed {
                t: now,
                method: head.method,
                path_and_query: target.path_and_query(),
                consumer_id: caller.consumer_id().unwrap_or(""),
                key_id: caller.key_id().unwrap_or(""),
            };
            let value = signed.header_value(&cfg.secret);
            headers.insert(
                X_KEYGATE_SIGNATURE,
                HeaderValue::from_str(&value).expect("digits and hex"),
            );
        }
        let forward_body =
            !matches!(head.method, "GET" | "HEAD") && !matches!(caller, Caller::Preflight);
        if !forward_body {
            // No body goes on, so no length of one does either.
            headers.remove(header::CONTENT_LENGTH);
        }
        Ok(Verdict::Accept(Box::new(Accepted {
            caller,
            target,
            headers,
            rate_limit: RateLimitFields::default(),
            forward_body,
        })))
    };
    if cfg.cors_preflight && is_preflight(head) {
        // A real preflight has no body, and no key whose scopes could cover a tunnelled method.
        if declares_body(head.headers) {
            return deny(Denial::PreflightWithBody);
        }
        if tunnelled.is_some() {
            return deny(Denial::MethodOverride(OverrideError::OnPreflight));
        }
        return forward(Caller::Preflight, target);
    }
    let Some(key) = key else {
        return if cfg.allow_anonymous {
            forward(Caller::Anonymous, target)
        } else {
            deny(Denial::MissingCredential)
        };
    };
    match check_key(
        keys,
        key,
        head.method,
        tunnelled.as_deref(),
        &target.path,
        now,
    )
    .await?
    {
        Ok(record) => forward(Caller::Key(record), target),
        Err(d) => deny(d),
    }
}

/// The request line's checks, before anything else: the method is one keygate forwards, no key
/// rides in the query or the path, and the path joins the origin's safely. The upstream target
/// it returns carries the normalised path that routing and scopes use.
pub fn request_target(
    cfg: &Config,
    method: &str,
    path: &str,
    query: Option<&str>,
) -> Result<UpstreamTarget, Denial> {
    if !is_forwarded_method(method) {
        return Err(Denial::MethodNotAllowed);
    }
    if query.is_some_and(query_carries_key) {
        return Err(Denial::Malformed(Malformed::KeyInQuery));
    }
    if url_part_holds_key(path) {
        return Err(Denial::Malformed(Malformed::KeyInPath));
    }
    join(&cfg.origin, path, query).map_err(Denial::BadPath)
}

/// Keygate's own paths, in any spelling ([`admin::spelling`]): the management API (with or
/// without `ADMIN_TOKEN`), the operator endpoint (with it), and a 404 for anything else under
/// `/__keygate/`. `None` for a path that goes on to the origin.
fn own_path(cfg: &Config, head: &RequestHead<'_>, path: &str) -> Option<Verdict> {
    let canonical = admin::spelling(path);
    if management::is_management_path(&canonical) {
        return Some(Verdict::Management(management::route(
            head.method,
            &canonical,
        )));
    }
    if let Some(operator) =
        admin::route_spelled(cfg, head.method, &canonical, head.query, head.headers)
    {
        return Some(match operator {
            Ok(request) => Verdict::Operator(request),
            Err(d) => Verdict::Deny(Denial::Admin(d)),
        });
    }
    admin::is_own_path(&canonical).then_some(Verdict::Deny(Denial::Admin(AdminDenial::NotFound)))
}

/// The key's checks, after the request line's: not a root key; the checksum of a key with our
/// prefix (both without a store read); then the record (`keys` is read once), its state, and
/// its scopes for `method` on the normalised `path` (and for a `tunnelled` method too). The
/// data plane and the management API's verify both decide through here.
pub async fn check_key<K: KeyLookup>(
    keys: &K,
    key: ApiKey,
    method: &str,
    tunnelled: Option<&str>,
    path: &str,
    now: u64,
) -> Result<Result<Rc<KeyRecord>, Denial>, Fault> {
    if key.expose().starts_with(ROOT_PREFIX) {
        return Ok(Err(Denial::RootKeyRefused));
    }
    let shape = classify(key.expose());
    let hash = key.hash();
    drop(key);
    let key_id = KeyIdBuf::from_hash(&hash);
    let invalid = |reason| Ok(Err(Denial::InvalidKey { reason, key_id }));
    if shape == KeyShape::BadChecksum {
        return invalid(InvalidKey::BadChecksum);
    }

    let record = match keys.lookup(&hash).await {
        Ok(Lookup::Found(r)) => r,
        Ok(Lookup::Refused(reason)) => return invalid(reason),
        Err(e) => return Err(Fault::StoreUnavailable(e)),
    };
    match record.state(now) {
        KeyState::Active => {}
        KeyState::Disabled => return invalid(InvalidKey::Disabled),
        KeyState::Expired => return invalid(InvalidKey::Expired),
    }
    let scopes = record.parsed_scopes();
    // With METHOD_OVERRIDE on, the origin may run the tunnelled method: both must be in scope.
    let admitted = scope::admits(&scopes, method, path)
        && tunnelled.is_none_or(|m| scope::admits(&scopes, m, path));
    if !admitted {
        let tokens: Vec<String> = scopes.iter().map(scope::Scope::token).collect();
        return Ok(Err(Denial::OutOfScope {
            key_id,
            scopes: tokens.join(" "),
        }));
    }
    Ok(Ok(record))
}

/// Both phases: [`authorize`], then, for a key, [`enforce_limits`]. The store is read at most
/// once; the limiter and quota store are called only for a key that passed every other check.
pub async fn decide<K: KeyLookup, L: RateLimiter, Q: QuotaStore>(
    cfg: &Config,
    head: &RequestHead<'_>,
    store: &K,
    limiter: &L,
    quotas: &Q,
    now: u64,
) -> Result<Verdict, Fault> {
    let mut accepted = match authorize(cfg, head, store, now).await? {
        Verdict::Accept(a) => a,
        other @ (Verdict::Deny(_) | Verdict::Operator(_) | Verdict::Management(_)) => {
            return Ok(other)
        }
    };
    if let Caller::Key(record) = &accepted.caller {
        match enforce_limits(cfg, record, limiter, quotas, now).await? {
            Ok(fields) => accepted.rate_limit = fields,
            Err(denial) => return Ok(Verdict::Deny(denial)),
        }
    }
    Ok(Verdict::Accept(accepted))
}

/// The limits phase for an otherwise accepted key: its tier's rate limit, then its quota. A
/// request refused by the rate limit spends no quota. Keys without a quota make no quota call.
pub async fn enforce_limits<L: RateLimiter, Q: QuotaStore>(
    cfg: &Config,
    record: &KeyRecord,
    limiter: &L,
    quotas: &Q,
    now: u64,
) -> Result<Result<RateLimitFields, Denial>, Fault> {
    let key_id = KeyIdBuf::from_id(&record.id);
    let mut fields = RateLimitFields::default();
    if let Some(Tier {
        name,
        limit: Some(l),
    }) = tier_of(cfg, record)?
    {
        fields.add_policy(name, l.limit.into(), l.period.into());
        let within = limiter
            .limit(&l.binding, &record.id)
            .await
            .map_err(|e| match e {
                LimitError::MissingBinding => Fault::Config(ConfigError::MissingRateLimiter),
                LimitError::Unavailable(m) => Fault::RateLimiterUnavailable(m),
            })?;
        if !within {
            return Ok(Err(Denial::RateLimited {
                key_id,
                tier: name.clone(),
                limit: l.limit,
                period: l.period,
            }));
        }
    }
    if let Some((q, counter, window)) = quota_of(record, now) {
        fields.add_policy(QUOTA_POLICY, q.limit, window.secs());
        let count = quotas
            .consume(&counter, window, q.limit)
            .await
            .map_err(quota_fault)?;
        let reset_in = window.seconds_left(now);
        if !count.allowed {
            return Ok(Err(exhausted(key_id, &q, window, now)));
        }
        fields.add_state(QUOTA_POLICY, q.limit.saturating_sub(count.used), reset_in);
    }
    Ok(Ok(fields))
}

/// A key's quota as [`peek_limits`] sees it: what a request now would leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaPeek {
    pub limit: u64,
    /// Requests left in the window before this one.
    pub remaining: u64,
    /// When the window ends, Unix seconds.
    pub resets_at: u64,
}

/// The limits phase without spending: the tier must resolve (as for [`enforce_limits`]), its
/// rate limit is neither checked nor spent, and the quota is read, not consumed, then judged by
/// the counter's own rule ([`limits::consume`]). `Ok(Ok(None))` for a key without a quota.
pub async fn peek_limits<Q: QuotaReader>(
    cfg: &Config,
    record: &KeyRecord,
    quotas: &Q,
    now: u64,
) -> Result<Result<Option<QuotaPeek>, Denial>, Fault> {
    tier_of(cfg, record)?;
    let Some((q, counter, window)) = quota_of(record, now) else {
        return Ok(Ok(None));
    };
    let used = quotas
        .used(&counter, window.start)
        .await
        .map_err(quota_fault)?;
    let stored = CounterState {
        window_start: window.start,
        used,
    };
    if !limits::consume(stored, window, q.limit).1.allowed {
        return Ok(Err(exhausted(
            KeyIdBuf::from_id(&record.id),
            &q,
            window,
            now,
        )));
    }
    Ok(Ok(Some(QuotaPeek {
        limit: q.limit,
        remaining: q.limit.saturating_sub(used),
        resets_at: window.end,
    })))
}

/// The key's tier; an unknown one is a configuration fault.
fn tier_of<'c>(cfg: &'c Config, record: &KeyRecord) -> Result<Option<&'c Tier>, Fault> {
    cfg.tiers
        .resolve(record.tier.as_deref())
        .map_err(|()| Fault::Config(ConfigError::UnknownTier))
}

/// The key's quota, its counter's name and the window holding `now`.
pub fn quota_of(record: &KeyRecord, now: u64) -> Option<(Quota, String, Window)> {
    let q = record.quota?;
    Some((
        q,
        q.counter(&record.id, &record.consumer_id),
        q.period.window(now),
    ))
}

fn quota_fault(e: LimitError) -> Fault {
    match e {
        LimitError::MissingBinding => Fault::Config(ConfigError::MissingQuotaStore),
        LimitError::Unavailable(m) => Fault::QuotaStoreUnavailable(m),
    }
}

fn exhausted(key_id: KeyIdBuf, q: &Quota, window: Window, now: u64) -> Denial {
    Denial::QuotaExhausted {
        key_id,
        limit: q.limit,
        window_secs: window.secs(),
        reset_in: window.seconds_left(now),
    }
}

/// The one credential a request carries, from `Authorization: Bearer` and, when enabled,
/// `X-API-Key`. Two sources that disagree are malformed.
fn credential(cfg: &Config, headers: &HeaderMap) -> Result<Option<ApiKey>, Malformed> {
    let values = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes());
    let bearer = parse_authorization(values)?;
    if !cfg.api_key_header {
        return Ok(bearer);
    }
    let api_key = parse_api_key_header(headers.get_all(X_API_KEY).iter().map(|v| v.as_bytes()))?;
    match (bearer, api_key) {
        (Some(a), Some(b)) if a != b => Err(Malformed::ConflictingSources),
        (a, b) => Ok(a.or(b)),
    }
}

/// A CORS preflight: `OPTIONS` with `Access-Control-Request-Method`.
fn is_preflight(head: &RequestHead<'_>) -> bool {
    head.method == "OPTIONS"
        && head
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}
