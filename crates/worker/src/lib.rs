//! The edge: the only module that names `worker`. It binds Workers KV, vars, secrets and `fetch`
//! to keygate-core, and streams bodies through untouched.

use futures_util::future::{select, Either};
use http::{HeaderMap, HeaderName, HeaderValue};
use keygate_core::admin::{self, AdminRequest};
use keygate_core::cache::{CacheOutcome, KeyCache, Pause, COALESCE_POLL_MS};
use keygate_core::forward::{request_id, sanitise_response_headers, ClientContext, X_REQUEST_ID};
use keygate_core::limits::{self, CounterState, QuotaCount, RateLimitFields, Window};
use keygate_core::path::split_request_url;
use keygate_core::problem::PROBLEM_CONTENT_TYPE;
use keygate_core::{
    decide, Cached, Config, ConfigError, Denial, Fault, KeyHash, KeyStore, LimitError, QuotaStore,
    RateLimiter, Refusal, RequestHead, StoreError, Verdict,
};
use std::rc::Rc;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{
    durable_object, event, AbortController, Context, Date, Delay, DurableObject, Env, Fetch,
    Headers, KvStore, Method, Request, RequestInit, RequestRedirect, Response, ResponseBody,
    ResponseBuilder, SqlStorage, SqlStorageValue, State,
};

/// The KV namespace binding that holds key records.
const KV_BINDING: &str = "API_KEYS";
/// KV's own edge cache for key reads, in seconds: 60 is KV's minimum and its default. A longer
/// value would save little (the isolate cache already absorbs hot keys) and would lengthen the
/// time from `keygate revoke` to refusal one for one. See README, "How long until a revoked key
/// is refused".
const KV_CACHE_TTL_SECS: u64 = 60;

#[cfg(feature = "fault-injection")]
mod fault;

thread_local! {
    /// The per-isolate key cache, shared by every request this isolate serves.
    static KEY_CACHE: &'static KeyCache = Box::leak(Box::new(KeyCache::new()));
}

/// The Durable Object namespace binding of the quota counters.
const QUOTA_BINDING: &str = "QUOTAS";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid() -> String;
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    Ok(handle(req, &env).await)
}

struct Kv(KvStore);

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
struct TimerPause;

impl Pause for TimerPause {
    async fn pause(&self) {
        Delay::from(std::time::Duration::from_millis(COALESCE_POLL_MS)).await;
    }
}

/// The Workers Rate Limiting bindings named by `RATE_LIMIT_TIERS`.
struct Limiters<'a>(&'a Env);

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
struct Quotas<'a>(&'a Env);

impl Quotas<'_> {
    /// Calls the counter named `counter` at `path_and_query`; a non-200 answer is a fault.
    async fn call(&self, counter: &str, path_and_query: &str) -> Result<String, LimitError> {
        let ns = self
            .0
            .durable_object(QUOTA_BINDING)
            .map_err(|_| LimitError::MissingBinding)?;
        let unavailable = |e: worker::Error| LimitError::Unavailable(e.to_string());
        let stub = ns.get_by_name(counter).map_err(unavailable)?;
        let mut resp = stub
            .fetch_with_str(&format!("https://quota{path_and_query}"))
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
}

impl QuotaStore for Quotas<'_> {
    async fn consume(
        &self,
        counter: &str,
        window: Window,
        limit: u64,
    ) -> Result<QuotaCount, LimitError> {
        let body = self
            .call(
                counter,
                &format!(
                    "/consume?start={}&end={}&limit={limit}",
                    window.start, window.end
                ),
            )
            .await?;
        serde_json::from_str(&body).map_err(|e| LimitError::Unavailable(e.to_string()))
    }
}

/// One quota counter: a SQLite-backed Durable Object holding `(window_start, used)`. Each call
/// reads and writes synchronously with no await in between, so concurrent requests for the
/// same counter are serialised and the count is exact.
#[durable_object(fetch)]
pub struct QuotaCounter {
    sql: SqlStorage,
}

impl DurableObject for QuotaCounter {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), \
             window_start INTEGER NOT NULL, used INTEGER NOT NULL)",
            None,
        );
        Self { sql }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let raw = req.inner().url();
        let Some(url) = split_request_url(&raw) else {
            return Response::error("bad url", 400);
        };
        let arg = |name: &str| {
            form_urlencoded::parse(url.query.unwrap_or("").as_bytes())
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        let stored = self.load()?;
        match url.path {
            "/consume" => {
                let (Some(start), Some(end), Some(limit)) =
                    (arg("start"), arg("end"), arg("limit"))
                else {
                    return Response::error("bad consume query", 400);
                };
                let (next, count) = limits::consume(stored, Window { start, end }, limit);
                if next != stored {
                    self.store(next)?;
                }
                Response::from_json(&count)
            }
            "/usage" => {
                let Some(start) = arg("window_start") else {
                    return Response::error("bad usage query", 400);
                };
                let used = limits::used_in(stored, Window { start, end: start });
                Response::from_json(&serde_json::json!({ "used": used }))
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl QuotaCounter {
    fn load(&self) -> worker::Result<CounterState> {
        let rows: Vec<CounterState> = self
            .sql
            .exec("SELECT window_start, used FROM counter WHERE id = 1", None)?
            .to_array()?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    fn store(&self, s: CounterState) -> worker::Result<()> {
        let int = |n: u64| SqlStorageValue::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        self.sql.exec(
            "INSERT INTO counter (id, window_start, used) VALUES (1, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET window_start = excluded.window_start, used = excluded.used",
            vec![int(s.window_start), int(s.used)],
        )?;
        Ok(())
    }
}

/// What one request log line records.
struct LogCtx<'a> {
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    started_ms: f64,
    /// Where the key lookup was answered from (`hit`, `shared`, `miss`, `off`), once known.
    cache: std::cell::Cell<Option<&'static str>>,
}

async fn handle(req: Request, env: &Env) -> Response {
    let started_ms = Date::now().as_millis() as f64;
    let headers = to_header_map(req.headers());
    let request_id = request_id(&headers, random_uuid);
    let method = req.method();
    // The runtime's own serialisation of the URL (WHATWG): no second URL parser in the wasm.
    let raw_url = req.inner().url();
    let url = split_request_url(&raw_url);
    let path = url.map(|u| u.path).unwrap_or_default();
    let log = LogCtx {
        request_id: &request_id,
        method: method.as_ref(),
        path,
        started_ms,
        cache: std::cell::Cell::new(None),
    };

    let loaded = load_config(env);
    let cfg = match &*loaded {
        Ok(c) => c,
        Err(e) => return refuse(Refusal::Fault(Fault::Config(*e)), &log, None),
    };
    let kv = match env.kv(KV_BINDING) {
        Ok(kv) => Kv(kv),
        Err(_) => {
            return refuse(
                Refusal::Fault(Fault::Config(ConfigError::MissingKeyStore)),
                &log,
                None,
            )
        }
    };
    let Some(url) = url else {
        let denial = Denial::BadPath(keygate_core::path::PathError::NotOriginForm);
        return refuse(Refusal::Denied(denial), &log, None);
    };
    if let Some(admin) = admin::route(cfg, method.as_ref(), url.path, url.query, &headers) {
        return match admin {
            Ok(request) => serve_admin(request, env, &log).await,
            Err(d) => refuse(Refusal::Denied(Denial::Admin(d)), &log, None),
        };
    }

    let client_ip = headers
        .get("cf-connecting-ip")
        .and_then(|v| v.to_str().ok());
    let head = RequestHead {
        method: method.as_ref(),
        path: url.path,
        query: url.query,
        headers: &headers,
        client: ClientContext {
            client_ip,
            proto: url.scheme,
            request_id: &request_id,
        },
    };
    let now_ms = Date::now().as_millis();
    let keys = Cached::new(KEY_CACHE.with(|c| *c), cfg.cache, &kv, TimerPause, now_ms);
    let verdict = decide(
        cfg,
        &head,
        &keys,
        &Limiters(env),
        &Quotas(env),
        now_ms / 1000,
    )
    .await;
    log.cache.set(keys.outcome.get().map(CacheOutcome::as_str));
    let accepted = match verdict {
        Ok(Verdict::Accept(a)) => a,
        Ok(Verdict::Deny(d)) => {
            let key_id = d.key_id().map(str::to_owned);
            return refuse(Refusal::Denied(d), &log, key_id.as_deref());
        }
        Err(f) => return refuse(Refusal::Fault(f), &log, None),
    };

    // Test builds only: a panic after the key was accepted, before anything reaches the origin.
    #[cfg(feature = "fault-injection")]
    fault::inject(&headers);

    let key_id = accepted.caller.key_id().map(str::to_owned);
    let key_id = key_id.as_deref();
    match forward(req, &method, &accepted.target.url, &accepted.headers, cfg).await {
        Ok(mut resp) => {
            let decision = accepted.caller.decision();
            if cfg.log_accepted {
                worker::console_log!(
                    "{}",
                    log_line(&log, decision, key_id, resp.status_code(), None)
                );
            }
            let _ = ensure_request_id(&mut resp, &request_id);
            set_rate_limit_fields(resp.headers_mut(), &accepted.rate_limit);
            resp
        }
        Err(fault) => refuse(Refusal::Fault(fault), &log, key_id),
    }
}

fn ensure_request_id(resp: &mut Response, request_id: &str) -> worker::Result<()> {
    if !resp.headers().has(X_REQUEST_ID.as_str())? {
        resp.headers_mut().set(X_REQUEST_ID.as_str(), request_id)?;
    }
    Ok(())
}

/// Adds the `RateLimit-Policy` / `RateLimit` fields, after any the origin sent.
fn set_rate_limit_fields(headers: &mut Headers, fields: &RateLimitFields) {
    if !fields.policy.is_empty() {
        let _ = headers.append("ratelimit-policy", &fields.policy);
    }
    if !fields.state.is_empty() {
        let _ = headers.append("ratelimit", &fields.state);
    }
}

/// Answers an authenticated operator request.
async fn serve_admin(request: AdminRequest, env: &Env, log: &LogCtx<'_>) -> Response {
    let AdminRequest::Usage {
        counter,
        window_start,
    } = request;
    let used = Quotas(env)
        .call(&counter, &format!("/usage?window_start={window_start}"))
        .await
        .and_then(|body| {
            serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["used"].as_u64())
                .ok_or_else(|| LimitError::Unavailable("bad usage answer".into()))
        });
    let used = match used {
        Ok(used) => used,
        Err(LimitError::MissingBinding) => {
            let fault = Fault::Config(ConfigError::MissingQuotaStore);
            return refuse(Refusal::Fault(fault), log, None);
        }
        Err(LimitError::Unavailable(m)) => {
            return refuse(Refusal::Fault(Fault::QuotaStoreUnavailable(m)), log, None)
        }
    };
    worker::console_log!("{}", log_line(log, "admin_usage", None, 200, None));
    let body =
        serde_json::json!({ "counter": counter, "window_start": window_start, "used": used });
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set(X_REQUEST_ID.as_str(), log.request_id);
    ResponseBuilder::new()
        .with_headers(headers)
        .body(ResponseBody::Body(body.to_string().into_bytes()))
}

thread_local! {
    /// Vars and secrets are fixed for an isolate's life (a deploy or a `wrangler dev` reload
    /// starts new isolates), so the config is read and validated once per isolate.
    static CONFIG: std::cell::OnceCell<Rc<Result<Config, ConfigError>>> =
        const { std::cell::OnceCell::new() };
}

/// The isolate's config, including the check that every binding `RATE_LIMIT_TIERS` names exists
/// (bindings, like vars, are fixed for the isolate's life).
fn load_config(env: &Env) -> Rc<Result<Config, ConfigError>> {
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

/// Sends the upstream request, racing the origin timeout, and filters the origin's answer.
async fn forward(
    req: Request,
    method: &Method,
    url: &str,
    headers: &HeaderMap,
    cfg: &Config,
) -> Result<Response, Fault> {
    let mut init = RequestInit::new();
    init.with_method(method.clone())
        .with_headers(to_worker_headers(headers, !carries_body(method)))
        .with_redirect(RequestRedirect::Manual);
    if carries_body(method) {
        // The client's body stream is handed on as is: nothing is buffered in the worker.
        init.with_body(req.inner().body().map(Into::into));
    }
    let upstream = Request::new_with_init(url, &init).map_err(|_| Fault::OriginUnreachable)?;

    let controller = AbortController::default();
    let signal = controller.signal();
    let call = Fetch::Request(upstream);
    let sending = call.send_with_signal(&signal);
    let timeout = Delay::from(cfg.origin_timeout);
    futures_util::pin_mut!(sending);
    futures_util::pin_mut!(timeout);
    let resp = match select(sending, timeout).await {
        Either::Left((Ok(resp), _)) => resp,
        Either::Left((Err(e), _)) => {
            worker::console_warn!(
                "origin fetch failed: {}",
                e.to_string().replace(cfg.secret.expose(), "<redacted>")
            );
            return Err(Fault::OriginUnreachable);
        }
        Either::Right(_) => {
            controller.abort();
            return Err(Fault::OriginTimeout);
        }
    };

    let status = resp.status_code();
    let mut out_headers = to_header_map(resp.headers());
    sanitise_response_headers(&mut out_headers, cfg);
    let (_, body) = resp.into_parts();
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(to_worker_headers(&out_headers, false))
        .body(body))
}

fn carries_body(method: &Method) -> bool {
    !matches!(method, Method::Get | Method::Head)
}

/// Logs a refusal (faults at error level, with their operator-facing detail) and answers it.
fn refuse(refusal: Refusal, log: &LogCtx<'_>, key_id: Option<&str>) -> Response {
    let status = refusal.problem().status.as_u16();
    let code = refusal.reason_code();
    match &refusal {
        Refusal::Fault(Fault::Config(e)) => {
            worker::console_error!(
                "{}",
                log_line(log, code, key_id, status, Some(&e.to_string()))
            )
        }
        Refusal::Fault(
            Fault::StoreUnavailable(StoreError(msg))
            | Fault::RateLimiterUnavailable(msg)
            | Fault::QuotaStoreUnavailable(msg),
        ) => worker::console_error!("{}", log_line(log, code, key_id, status, Some(msg))),
        Refusal::Fault(_) => {
            worker::console_error!("{}", log_line(log, code, key_id, status, None))
        }
        Refusal::Denied(_) => worker::console_log!("{}", log_line(log, code, key_id, status, None)),
    }
    problem_response(&refusal, log)
}

fn problem_response(refusal: &Refusal, log: &LogCtx<'_>) -> Response {
    let problem = refusal.problem();
    let headers = Headers::new();
    let _ = headers.set("content-type", PROBLEM_CONTENT_TYPE);
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set(X_REQUEST_ID.as_str(), log.request_id);
    if let Some(challenge) = &problem.www_authenticate {
        let _ = headers.set("www-authenticate", challenge);
    }
    if let Some(secs) = problem.retry_after {
        let _ = headers.set("retry-after", &secs.to_string());
    }
    let mut headers = headers;
    set_rate_limit_fields(&mut headers, &problem.rate_limit);
    ResponseBuilder::new()
        .with_status(problem.status.as_u16())
        .with_headers(headers)
        .body(ResponseBody::Body(
            problem.body(log.request_id).into_bytes(),
        ))
}

/// One JSON line per request. It carries the key id (a hash prefix), never a key or full hash.
fn log_line(
    log: &LogCtx<'_>,
    decision: &str,
    key_id: Option<&str>,
    status: u16,
    detail: Option<&str>,
) -> String {
    /// The fields, serialised straight to a string: no intermediate JSON tree per request.
    #[derive(serde::Serialize)]
    struct Line<'a> {
        ts: String,
        request_id: &'a str,
        method: &'a str,
        path: &'a str,
        decision: &'a str,
        key_id: Option<&'a str>,
        status: u16,
        gateway_ms: f64,
        cache: Option<&'a str>,
        detail: Option<&'a str>,
    }
    serde_json::to_string(&Line {
        ts: String::from(worker::js_sys::Date::new_0().to_iso_string()),
        request_id: log.request_id,
        method: log.method,
        path: log.path,
        decision,
        key_id,
        status,
        gateway_ms: Date::now().as_millis() as f64 - log.started_ms,
        cache: log.cache.get(),
        detail,
    })
    .unwrap_or_default()
}

/// Reads runtime headers into an `http::HeaderMap`. Header bytes reach JS as Latin-1 code points;
/// they are mapped back to bytes so that no value is silently dropped or altered.
fn to_header_map(headers: &Headers) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers.entries() {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        let bytes: Option<Vec<u8>> = value
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect();
        match bytes.and_then(|b| HeaderValue::from_bytes(&b).ok()) {
            Some(v) => {
                map.append(name, v);
            }
            // An unreadable credential must still count as a (malformed) credential, never as
            // none: a stand-in with a non-ASCII byte is refused by the parser with 400.
            None if name == http::header::AUTHORIZATION => {
                if let Ok(v) = HeaderValue::from_bytes(b"Bearer \x80") {
                    map.append(name, v);
                }
            }
            None => {}
        }
    }
    map
}

/// Writes headers for the runtime; `drop_body_headers` leaves out `Content-Length` for a request
/// whose body is not forwarded (GET and HEAD).
fn to_worker_headers(map: &HeaderMap, drop_body_headers: bool) -> Headers {
    let headers = Headers::new();
    for (name, value) in map {
        if drop_body_headers && name == http::header::CONTENT_LENGTH {
            continue;
        }
        let value: String = value.as_bytes().iter().map(|&b| char::from(b)).collect();
        let _ = headers.append(name.as_str(), &value);
    }
    headers
}
