//! The edge: the only module that names `worker`. It binds Workers KV, vars, secrets and `fetch`
//! to keygate-core, and streams bodies through untouched.

use futures_util::future::{select, Either};
use http::{HeaderMap, HeaderName, HeaderValue};
use keygate_core::admin::AdminRequest;
use keygate_core::cache::{CacheOutcome, KeyCache, Pause, COALESCE_POLL_MS};
use keygate_core::forward::{request_id, sanitise_response_headers, ClientContext};
use keygate_core::headers::X_REQUEST_ID;
use keygate_core::limits::{self, CounterState, QuotaCount, RateLimitFields, Window};
use keygate_core::path::split_request_url;
use keygate_core::problem::PROBLEM_CONTENT_TYPE;
use keygate_core::telemetry::{loggable_target, RequestEvent, Timing};
use keygate_core::{
    decide, Accepted, Cached, Config, ConfigError, Denial, Fault, KeyHash, KeyStore, LimitError,
    QuotaStore, RateLimiter, Refusal, RequestHead, StoreError, Verdict,
};
use std::rc::Rc;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{
    durable_object, event, web_sys, AbortController, AnalyticsEngineDataPointBuilder,
    AnalyticsEngineDataset, Context, Date, Delay, DurableObject, Env, Fetch, Headers, KvStore,
    Request, RequestInit, RequestRedirect, Response, ResponseBody, ResponseBuilder, SqlStorage,
    SqlStorageValue, State,
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

/// The optional Workers Analytics Engine dataset binding: one data point per request.
const ANALYTICS_BINDING: &str = "ANALYTICS";

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
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let (resp, rec) = handle(req, &env).await;
    let dataset = env.analytics_engine(ANALYTICS_BINDING).ok();
    // Nothing to write (an accepted request under `REQUEST_LOG=refusals`, no dataset): no task.
    if rec.log || dataset.is_some() {
        ctx.wait_until(async move { record(rec, dataset) });
    }
    Ok(resp)
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

/// What the request's log line and data point will say, filled in as the request goes.
struct Trace<'a> {
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    /// The query for the log line, only with `LOG_QUERY=true` (set once the config is read).
    query: Option<&'a str>,
    colo: Option<String>,
    started_ms: f64,
    /// Where the key lookup was answered from (`hit`, `shared`, `miss`, `off`), once known.
    cache: Option<&'static str>,
    /// The consumer of the key record the lookup found, once known.
    consumer_id: Option<String>,
    /// Whether an accepted request gets a log line (`REQUEST_LOG`); refusals always do.
    log_accepted: bool,
}

/// A finished request's record, written after the answer has gone (see [`record`]).
struct Record {
    event: RequestEvent,
    started_ms: f64,
    /// Faults go to `console.error`, so that Workers Logs files them as errors.
    error: bool,
    log: bool,
}

impl Trace<'_> {
    fn finish(
        &self,
        decision: &'static str,
        key_id: Option<&str>,
        status: u16,
        origin: Option<(Option<u16>, f64)>,
        detail: Option<String>,
    ) -> RequestEvent {
        let total_ms = Date::now().as_millis() as f64 - self.started_ms;
        let (path, query) = loggable_target(decision, self.path, self.query);
        RequestEvent {
            request_id: self.request_id.to_owned(),
            method: self.method.to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            decision,
            key_id: key_id.map(str::to_owned),
            consumer_id: self.consumer_id.clone(),
            status,
            origin_status: origin.and_then(|(s, _)| s),
            timing: Timing {
                total_ms,
                origin_ms: origin.map(|(_, ms)| ms),
            },
            colo: self.colo.clone(),
            cache: self.cache,
            detail,
        }
    }
}

/// The edge data centre, from `request.cf.colo`, when the runtime gives one. Read without
/// `Cf::colo`, which panics when the field is absent.
fn colo(req: &Request) -> Option<String> {
    use worker::js_sys::Reflect;
    let cf = Reflect::get(req.inner(), &"cf".into()).ok()?;
    if cf.is_undefined() || cf.is_null() {
        return None;
    }
    Reflect::get(&cf, &"colo".into()).ok()?.as_string()
}

async fn handle(req: Request, env: &Env) -> (Response, Record) {
    let started_ms = Date::now().as_millis() as f64;
    let headers = to_header_map(req.headers());
    let request_id = request_id(&headers, random_uuid);
    // The method exactly as received. (`Request::method` maps any method workers-rs has no
    // variant for, such as PROPFIND, to GET: scopes would be checked, and the request sent, as
    // a GET.)
    let method = req.inner().method();
    // The runtime's own serialisation of the URL (WHATWG): no second URL parser in the wasm.
    let raw_url = req.inner().url();
    let url = split_request_url(&raw_url);
    let path = url.map(|u| u.path).unwrap_or_default();
    let mut trace = Trace {
        request_id: &request_id,
        method: &method,
        path,
        query: None,
        colo: colo(&req),
        started_ms,
        cache: None,
        consumer_id: None,
        log_accepted: true,
    };

    let loaded = load_config(env);
    let cfg = match &*loaded {
        Ok(c) => c,
        Err(e) => return refuse(Refusal::Fault(Fault::Config(*e)), &trace, None),
    };
    trace.log_accepted = cfg.log_accepted;
    if cfg.log_query {
        trace.query = url.and_then(|u| u.query);
    }
    let kv = match env.kv(KV_BINDING) {
        Ok(kv) => Kv(kv),
        Err(_) => {
            return refuse(
                Refusal::Fault(Fault::Config(ConfigError::MissingKeyStore)),
                &trace,
                None,
            )
        }
    };
    let Some(url) = url else {
        let denial = Denial::BadPath(keygate_core::path::PathError::NotOriginForm);
        return refuse(Refusal::Denied(denial), &trace, None);
    };

    let client_ip = headers
        .get("cf-connecting-ip")
        .and_then(|v| v.to_str().ok());
    let head = RequestHead {
        method: &method,
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
    trace.cache = keys.outcome.get().map(CacheOutcome::as_str);
    // The record the lookup found, if any: its consumer is logged for a refusal too, and its
    // id for a fault after the lookup (an unknown tier).
    let found = keys.found.borrow().clone();
    trace.consumer_id = found.as_ref().map(|r| r.consumer_id.clone());
    let accepted = match verdict {
        Ok(Verdict::Accept(a)) => a,
        Ok(Verdict::Operator(request)) => return serve_admin(request, env, &trace).await,
        Ok(Verdict::Deny(d)) => {
            let key_id = d.key_id().map(str::to_owned);
            return refuse(Refusal::Denied(d), &trace, key_id.as_deref());
        }
        Err(f) => {
            let key_id = found.as_ref().map(|r| r.id.as_str());
            return refuse(Refusal::Fault(f), &trace, key_id);
        }
    };

    // Test builds only: a panic after the key was accepted, before anything reaches the origin.
    #[cfg(feature = "fault-injection")]
    fault::inject(&headers);

    let key_id = accepted.caller.key_id().map(str::to_owned);
    let key_id = key_id.as_deref();
    match forward(req, &method, &accepted, cfg).await {
        Ok((mut resp, origin_ms)) => {
            let status = resp.status_code();
            let event = trace.finish(
                accepted.caller.decision(),
                key_id,
                status,
                Some((Some(status), origin_ms)),
                None,
            );
            let _ = ensure_request_id(&mut resp, &request_id);
            set_rate_limit_fields(resp.headers_mut(), &accepted.rate_limit);
            let record = Record {
                event,
                started_ms,
                error: false,
                log: trace.log_accepted,
            };
            (resp, record)
        }
        Err(failed) => refuse_after_origin(failed, &trace, key_id),
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
async fn serve_admin(request: AdminRequest, env: &Env, trace: &Trace<'_>) -> (Response, Record) {
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
            return refuse(Refusal::Fault(fault), trace, None);
        }
        Err(LimitError::Unavailable(m)) => {
            return refuse(Refusal::Fault(Fault::QuotaStoreUnavailable(m)), trace, None)
        }
    };
    let record = Record {
        event: trace.finish("admin_usage", None, 200, None, None),
        started_ms: trace.started_ms,
        error: false,
        log: true,
    };
    let body =
        serde_json::json!({ "counter": counter, "window_start": window_start, "used": used });
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set(X_REQUEST_ID.as_str(), trace.request_id);
    let resp = ResponseBuilder::new()
        .with_headers(headers)
        .body(ResponseBody::Body(body.to_string().into_bytes()));
    (resp, record)
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

/// An origin call that ended without an answer: the fault, its operator-facing detail, and the
/// milliseconds spent waiting.
struct OriginFailure {
    fault: Fault,
    detail: Option<String>,
    waited_ms: f64,
}

/// Sends the upstream request with `method` exactly as received, racing the origin timeout, and
/// filters the origin's answer. Also returns how long the origin took to answer, in
/// milliseconds.
async fn forward(
    req: Request,
    method: &str,
    accepted: &Accepted,
    cfg: &Config,
) -> Result<(Response, f64), OriginFailure> {
    let mut init = RequestInit::new();
    init.with_headers(to_worker_headers(&accepted.headers, !accepted.forward_body))
        .with_redirect(RequestRedirect::Manual);
    if accepted.forward_body {
        // The client's body stream is handed on as is: nothing is buffered in the worker.
        init.with_body(req.inner().body().map(Into::into));
    }
    // workers-rs's `RequestInit` takes its `Method` enum, which has no variant for every method;
    // the runtime's own init takes the string.
    let js_init = web_sys::RequestInit::from(&init);
    js_init.set_method(method);
    let sent_ms = Date::now().as_millis() as f64;
    let failed = |fault, detail| OriginFailure {
        fault,
        detail,
        waited_ms: Date::now().as_millis() as f64 - sent_ms,
    };
    let upstream = web_sys::Request::new_with_str_and_init(&accepted.target.url, &js_init)
        .map(Request::from)
        .map_err(|_| failed(Fault::OriginUnreachable, None))?;

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
            let detail = e.to_string().replace(cfg.secret.expose(), "<redacted>");
            return Err(failed(Fault::OriginUnreachable, Some(detail)));
        }
        Either::Right(_) => {
            controller.abort();
            return Err(failed(Fault::OriginTimeout, None));
        }
    };
    let origin_ms = Date::now().as_millis() as f64 - sent_ms;

    let status = resp.status_code();
    let mut out_headers = to_header_map(resp.headers());
    sanitise_response_headers(&mut out_headers, cfg);
    let (_, body) = resp.into_parts();
    let resp = ResponseBuilder::new()
        .with_status(status)
        .with_headers(to_worker_headers(&out_headers, false))
        .body(body);
    Ok((resp, origin_ms))
}

/// Answers a refusal that ended before the origin was called.
fn refuse(refusal: Refusal, trace: &Trace<'_>, key_id: Option<&str>) -> (Response, Record) {
    refuse_with(refusal, trace, key_id, None)
}

/// Answers an origin that failed or timed out.
fn refuse_after_origin(
    failed: OriginFailure,
    trace: &Trace<'_>,
    key_id: Option<&str>,
) -> (Response, Record) {
    let origin = Some((None, failed.waited_ms));
    let mut answer = refuse_with(Refusal::Fault(failed.fault), trace, key_id, origin);
    answer.1.event.detail = failed.detail;
    answer
}

/// The problem answer and its record: faults at error level, with their operator-facing detail.
fn refuse_with(
    refusal: Refusal,
    trace: &Trace<'_>,
    key_id: Option<&str>,
    origin: Option<(Option<u16>, f64)>,
) -> (Response, Record) {
    let status = refusal.problem().status.as_u16();
    let detail = match &refusal {
        Refusal::Fault(Fault::Config(e)) => Some(e.to_string()),
        Refusal::Fault(
            Fault::StoreUnavailable(StoreError(msg))
            | Fault::RateLimiterUnavailable(msg)
            | Fault::QuotaStoreUnavailable(msg),
        ) => Some(msg.clone()),
        Refusal::Fault(_) | Refusal::Denied(_) => None,
    };
    let event = trace.finish(refusal.reason_code(), key_id, status, origin, detail);
    let record = Record {
        event,
        started_ms: trace.started_ms,
        error: matches!(refusal, Refusal::Fault(_)),
        log: true,
    };
    (problem_response(&refusal, trace.request_id), record)
}

/// Writes a finished request's log line (unless `REQUEST_LOG` skips it) and its Analytics
/// Engine data point (when the `ANALYTICS` binding exists). It runs under `wait_until`, after the
/// answer has gone, so neither costs the client time.
fn record(rec: Record, dataset: Option<AnalyticsEngineDataset>) {
    if rec.log {
        let ts = worker::js_sys::Date::new(&rec.started_ms.into()).to_iso_string();
        let line = rec.event.log_line(&String::from(ts));
        if rec.error {
            worker::console_error!("{line}");
        } else {
            worker::console_log!("{line}");
        }
    }
    if let Some(dataset) = dataset {
        let point = rec.event.data_point();
        // Test builds only: the point is also logged, as wrangler dev keeps none.
        #[cfg(feature = "fault-injection")]
        fault::echo_data_point(&point);
        let written = AnalyticsEngineDataPointBuilder::new()
            .indexes([point.index.as_str()])
            .blobs(point.blobs)
            .doubles(point.doubles)
            .write_to(&dataset);
        if written.is_err() {
            worker::console_error!(
                "analytics: data point for request {} not written",
                rec.event.request_id
            );
        }
    }
}

fn problem_response(refusal: &Refusal, request_id: &str) -> Response {
    let problem = refusal.problem();
    let headers = Headers::new();
    let _ = headers.set("content-type", PROBLEM_CONTENT_TYPE);
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set(X_REQUEST_ID.as_str(), request_id);
    if let Some(challenge) = &problem.www_authenticate {
        let _ = headers.set("www-authenticate", challenge);
    }
    if let Some(secs) = problem.retry_after {
        let _ = headers.set("retry-after", &secs.to_string());
    }
    if let Some(allow) = problem.allow {
        let _ = headers.set("allow", allow);
    }
    let mut headers = headers;
    set_rate_limit_fields(&mut headers, &problem.rate_limit);
    ResponseBuilder::new()
        .with_status(problem.status.as_u16())
        .with_headers(headers)
        .body(ResponseBody::Body(problem.body(request_id).into_bytes()))
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
/// whose body is not forwarded ([`Accepted::forward_body`]).
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
