//! The edge: the only crate that names `worker`. Its entry (this file) runs core's pipeline for
//! each request, answers refusals and management requests (core's `management_api`), and logs;
//! [`bindings`] binds KV, the rate-limit bindings, the quota counters, the management log and the
//! config, [`origin`] calls the origin, [`quota_counter`] is the quota Durable Object,
//! [`management_log`] the management log's, and [`headers`] converts headers. Bodies stream
//! through untouched.

mod bindings;
mod drive;
#[cfg(feature = "fault-injection")]
mod fault;
mod headers;
mod management_log;
mod origin;
mod quota_counter;

pub use management_log::ManagementLog;
pub use quota_counter::QuotaCounter;

use bindings::{
    analytics, key_store, load_config, Feed, Kv, Limiters, LogObject, Quotas, TimerPause,
    LOG_BINDING,
};
use headers::{log_after, own_answer, read_request, Head};
use keygate_core::admin::{usage_answer, AdminRequest};
use keygate_core::cache::{CacheOutcome, KeyCache};
use keygate_core::changes::{ChangeView, SyncOutcome, Synced};
use keygate_core::forward::{request_id, ClientContext};
use keygate_core::heads;
use keygate_core::management::{Route, RouteError};
use keygate_core::management_api::{self, Body, BodyPlan, Deps, ManagementRequest, Sleep};
use keygate_core::management_log::Applied;
use keygate_core::path::split_request_url;
use keygate_core::store::QuotaReader;
use keygate_core::telemetry::{iso_timestamp, loggable_target, Decision, RequestEvent, Timing};
use keygate_core::{
    decide, Accepted, Cached, Config, ConfigError, Denial, Fault, LimitError, Refusal, RequestHead,
    Verdict,
};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::web_sys;
use worker::{
    event, AnalyticsEngineDataPointBuilder, AnalyticsEngineDataset, Context, Delay, Env, Request,
};

thread_local! {
    /// The per-isolate key cache, shared by every request this isolate serves.
    static KEY_CACHE: &'static KeyCache = Box::leak(Box::new(KeyCache::new()));
    /// The isolate's view of the change feed, beside the cache it overrides.
    static CHANGE_VIEW: &'static ChangeView = Box::leak(Box::new(ChangeView::new()));
    /// The isolate's data centre, once a request has told it (see [`colo`]).
    static COLO: std::cell::OnceCell<String> = const { std::cell::OnceCell::new() };
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid() -> String;
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The fetch handler (the wasm export worker-build's entrypoint calls, as `#[event(fetch)]`
/// would make it). The request's path is polled once at once: a request it settles without
/// waiting (a refusal, or a cache hit on its way to the origin) is answered, or sent on to the
/// origin, from this call, with no executor task, promise or microtask of wasm-bindgen's. One
/// that has to wait (a KV read, a rate limit, a quota, the management API) goes on under
/// wasm-bindgen's executor and answers with a promise.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> JsValue {
    let ctx = JsValue::from(ctx);
    drive::run(async move {
        let step = handle(req, &env, &Context::new(ctx.clone().unchecked_into())).await;
        settle(step, &env, &ctx)
    })
}

/// Where the request path left a request: answered, or accepted for the origin.
enum Step {
    Answer(web_sys::Response, Record),
    Forward(Forward),
}

/// An accepted request on its way to the origin: what the call sends, and what its answer and
/// its log line need once the origin has answered.
struct Forward {
    accepted: Box<Accepted>,
    /// The edits from the client's header fields to `accepted.headers` (`heads::edits`).
    edits: String,
    cfg: &'static Config,
    req: web_sys::Request,
    /// The request's record, with the accept decision; the status and timings are set when the
    /// origin answers, or the decision and detail of the fault when it does not.
    record: Record,
    /// Test builds only: the request asked for a panic once the origin has answered.
    #[cfg(feature = "fault-injection")]
    panic_after_origin: bool,
}

/// Answers a request the path settled, or sends it to the origin and answers with the promise of
/// what the origin's answer becomes; either way its record is written once its answer is known.
fn settle(step: Step, env: &Env, ctx: &JsValue) -> JsValue {
    let dataset = analytics(env);
    match step {
        Step::Answer(resp, rec) => {
            record(rec, dataset, ctx);
            resp.into()
        }
        Step::Forward(fwd) => {
            let timeout_ms = u32::try_from(fwd.cfg.origin_timeout.as_millis()).unwrap_or(u32::MAX);
            let call = origin::send(
                &fwd.req,
                &fwd.record.event.method,
                &fwd.accepted,
                &fwd.edits,
                timeout_ms,
            );
            let ctx = ctx.clone();
            let promise = call.then(Box::new(move |outcome| {
                let (resp, rec) = fwd.finish(outcome);
                record(rec, dataset, &ctx);
                resp.into()
            }));
            promise.into()
        }
    }
}

impl Forward {
    /// The client's answer to the origin's outcome, and the request's record.
    fn finish(self, (result, waited_ms): origin::Outcome) -> (web_sys::Response, Record) {
        // Test builds only: a panic in the call that settles the origin's fetch.
        #[cfg(feature = "fault-injection")]
        fault::inject_after_origin(self.panic_after_origin);
        let Forward {
            accepted,
            cfg,
            mut record,
            ..
        } = self;
        let event = &mut record.event;
        let answer = match result {
            Ok(resp) => {
                let (answer, status) = origin::filtered(&resp, &accepted, cfg, &event.request_id);
                event.status = status;
                event.origin_status = Some(status);
                answer
            }
            Err(error) => {
                let failed = origin::failure(error, cfg);
                let refusal = Refusal::Fault(failed.fault);
                let (status, answer) = problem_answer(&refusal, &event.request_id);
                event.decision = refusal.reason_code();
                event.status = status;
                event.detail = failed.detail;
                // A fault, and so logged at error level whatever `REQUEST_LOG` says.
                record.error = true;
                record.log = true;
                answer
            }
        };
        // Taken once the answer is built, as for every other answer.
        record.event.timing = Timing {
            total_ms: now_ms() - record.started_ms,
            origin_ms: Some(waited_ms),
        };
        (answer, record)
    }
}

/// What the request's log line and data point will say, filled in as the request goes.
struct Trace<'a> {
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    /// The query for the log line, only with `LOG_QUERY=true` (set once the config is read).
    query: Option<&'a str>,
    /// The request, for `cf.colo` (see [`colo`]).
    request: &'a web_sys::Request,
    started_ms: f64,
    /// Where the key lookup was answered from (`hit`, `shared`, `miss`, `off`, `feed`), once
    /// known.
    cache: Option<&'static str>,
    /// How the lookup met the change feed, when it synced or could not.
    sync: Option<&'static str>,
    /// The consumer of the key record the lookup found, once known.
    consumer_id: Option<String>,
    /// Whether an accepted request gets a log line (`REQUEST_LOG`); refusals always do.
    log_accepted: bool,
    /// This request's sync with the change feed failed and it went on with KV's bound
    /// (`REVOCATION_LOG_FAULT=kv`): the fault, logged with the request at error level.
    sync_fault: Option<String>,
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
        decision: Decision,
        key_id: Option<&str>,
        status: u16,
        detail: Option<String>,
    ) -> RequestEvent {
        let total_ms = now_ms() - self.started_ms;
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
            // An accepted request's origin status and time are set when the origin answers.
            origin_status: None,
            timing: Timing {
                total_ms,
                origin_ms: None,
            },
            colo: colo(self.request),
            cache: self.cache,
            sync: self.sync,
            detail: detail.or_else(|| self.sync_fault.clone()),
            actor: None,
        }
    }
}

/// The edge data centre, from `request.cf.colo`, when the runtime gives one. Read without
/// `Cf::colo`, which panics when the field is absent.
///
/// An isolate lives in one data centre, so the first colo read is kept for the isolate's life:
/// `request.cf` is built anew on every read, and was the costliest single read of a request.
fn colo(req: &web_sys::Request) -> Option<String> {
    use worker::js_sys::Reflect;
    if let Some(known) = COLO.with(|c| c.get().cloned()) {
        return Some(known);
    }
    let cf = Reflect::get(req, &"cf".into()).ok()?;
    if cf.is_undefined() || cf.is_null() {
        return None;
    }
    let colo = Reflect::get(&cf, &"colo".into()).ok()?.as_string()?;
    COLO.with(|c| c.get_or_init(|| colo.clone()).clone()).into()
}

/// The clock, in milliseconds (one call; `worker::Date::now` builds a `Date` object first).
fn now_ms() -> f64 {
    worker::js_sys::Date::now()
}

async fn handle(req: web_sys::Request, env: &Env, ctx: &Context) -> Step {
    let started_ms = now_ms();
    // The method exactly as received (workers-rs's `Request::method` maps any method it has no
    // variant for, such as PROPFIND, to GET: scopes would be checked, and the request sent, as a
    // GET), the runtime's own serialisation of the URL (WHATWG: no second URL parser in the
    // wasm), and the headers, in one call.
    let Head {
        method,
        url: raw_url,
        headers: mut fields,
    } = read_request(&req);
    let request_id = request_id(&fields.map, random_uuid);
    let url = split_request_url(&raw_url);
    let path = url.map(|u| u.path).unwrap_or_default();
    let mut trace = Trace {
        request_id: &request_id,
        method: &method,
        path,
        query: None,
        request: &req,
        started_ms,
        cache: None,
        sync: None,
        consumer_id: None,
        log_accepted: true,
        sync_fault: None,
    };

    let cfg = match load_config(env) {
        Ok(c) => c,
        Err(e) => return refuse(Refusal::Fault(Fault::Config(*e)), &trace, None).into(),
    };
    trace.log_accepted = cfg.log_accepted;
    // A credential field that could not be read is a malformed credential, not a missing one.
    heads::stand_in_credentials(&mut fields, cfg.api_key_header);
    let headers = &fields.map;
    if cfg.log_query {
        trace.query = url.and_then(|u| u.query);
    }
    let kv = match key_store(env) {
        Some(kv) => kv,
        None => {
            return refuse(
                Refusal::Fault(Fault::Config(ConfigError::MissingKeyStore)),
                &trace,
                None,
            )
            .into()
        }
    };
    let Some(url) = url else {
        let denial = Denial::BadPath(keygate_core::path::PathError::NotOriginForm);
        return refuse(Refusal::Denied(denial), &trace, None).into();
    };

    let client_ip = headers
        .get("cf-connecting-ip")
        .and_then(|v| v.to_str().ok());
    let head = RequestHead {
        method: &method,
        path: url.path,
        query: url.query,
        headers,
        client: ClientContext {
            client_ip,
            proto: url.scheme,
            request_id: &request_id,
        },
    };
    let now_ms = now_ms() as u64;
    let cached = Cached::new(KEY_CACHE.with(|c| *c), cfg.cache, kv, TimerPause, now_ms);
    let feed = Feed { env, now_ms };
    let keys = Synced::new(cached, CHANGE_VIEW.with(|v| *v), feed, cfg.sync);
    let verdict = decide(
        cfg,
        &head,
        &keys,
        &Limiters(env),
        &Quotas(env),
        now_ms / 1000,
    )
    .await;
    trace.cache = keys.cached.outcome.get().map(CacheOutcome::as_str);
    if keys.sync_ahead.get() {
        // The view is past half its period: sync it after the answer, so no request waits.
        let (env, policy) = (env.clone(), cfg.sync);
        ctx.wait_until(async move {
            let feed = Feed { env, now_ms };
            let view = CHANGE_VIEW.with(|v| *v);
            let cache = KEY_CACHE.with(|c| *c);
            view.sync_ahead(&policy, &feed, cache, now_ms).await;
        });
    }
    let sync = keys.sync.borrow_mut().take();
    trace.sync = sync.as_ref().and_then(SyncOutcome::log_name);
    if let Some(SyncOutcome::Stale(Some(fault))) = sync {
        trace.sync_fault = Some(format!(
            "change feed: {fault}; going on with the cache and KV (REVOCATION_LOG_FAULT=kv)"
        ));
    }
    // The record the lookup found, if any: its consumer is logged for a refusal too, and its
    // id for a fault after the lookup (an unknown tier).
    let found = keys.cached.found.borrow().clone();
    trace.consumer_id = found.as_ref().map(|r| r.consumer_id.clone());
    let accepted = match verdict {
        Ok(Verdict::Accept(a)) => a,
        Ok(Verdict::Operator(request)) => return serve_admin(request, env, &trace).await.into(),
        Ok(Verdict::Management(route)) => {
            let mgmt = Management {
                cfg,
                env,
                kv,
                query: url.query,
                client_ip,
                now: now_ms / 1000,
            };
            return mgmt
                .serve(route, Request::from(Clone::clone(&req)), headers, &trace)
                .await
                .into();
        }
        Ok(Verdict::Deny(d)) => {
            let key_id = d.key_id().map(str::to_owned);
            return refuse(Refusal::Denied(d), &trace, key_id.as_deref()).into();
        }
        Err(f) => {
            let key_id = found.as_ref().map(|r| r.id.as_str());
            return refuse(Refusal::Fault(f), &trace, key_id).into();
        }
    };

    // Test builds only: a panic after the key was accepted, before anything reaches the origin.
    #[cfg(feature = "fault-injection")]
    fault::inject(headers);

    let key_id = accepted.caller.key_id().map(str::to_owned);
    let event = trace.finish(accepted.caller.decision(), key_id.as_deref(), 0, None);
    let record = Record {
        event,
        started_ms,
        error: trace.sync_fault.is_some(),
        log: trace.log_accepted || trace.sync_fault.is_some(),
    };
    Step::Forward(Forward {
        edits: heads::edits(&fields, &accepted.headers),
        accepted,
        cfg,
        req,
        record,
        #[cfg(feature = "fault-injection")]
        panic_after_origin: fault::after_origin(headers),
    })
}

impl From<(web_sys::Response, Record)> for Step {
    fn from((resp, rec): (web_sys::Response, Record)) -> Self {
        Step::Answer(resp, rec)
    }
}

/// Answers an authenticated operator request.
async fn serve_admin(
    request: AdminRequest,
    env: &Env,
    trace: &Trace<'_>,
) -> (web_sys::Response, Record) {
    let AdminRequest::Usage {
        counter,
        window_start,
    } = request;
    let used = Quotas(env).used(&counter, window_start).await;
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
        event: trace.finish(Decision::AdminUsage, None, 200, None),
        started_ms: trace.started_ms,
        error: false,
        log: true,
    };
    let (headers, body) = usage_answer(&counter, window_start, used, trace.request_id);
    let resp = own_answer(200, &headers, body);
    (resp, record)
}

/// What a management request runs on at the edge.
struct Management<'a> {
    cfg: &'a Config,
    env: &'a Env,
    kv: &'a Kv,
    query: Option<&'a str>,
    client_ip: Option<&'a str>,
    now: u64,
}

impl Management<'_> {
    /// Reads the body when the route takes one (and its length allows), hands the request to
    /// core's management API, answers and logs what core says.
    async fn serve(
        &self,
        route: Result<Route, RouteError>,
        mut req: Request,
        headers: &http::HeaderMap,
        trace: &Trace<'_>,
    ) -> (web_sys::Response, Record) {
        let read;
        let body = match management_api::body_plan(&route, headers) {
            BodyPlan::Skip => Body::Absent,
            BodyPlan::TooLarge => Body::TooLarge,
            BodyPlan::Read => match read_capped(&mut req, management_api::MAX_BODY).await {
                Some(bytes) => {
                    read = bytes;
                    Body::Bytes(&read)
                }
                None => Body::TooLarge,
            },
        };
        let answer = match LogObject::client(self.env) {
            None => management_api::unbound(
                &format!("the {LOG_BINDING} binding is missing"),
                trace.request_id,
            ),
            Some(log) => {
                // The writes made here hold at once in this isolate (its next sync would bring
                // them anyway).
                let audit = Applied {
                    log: &log,
                    view: CHANGE_VIEW.with(|v| *v),
                    cache: KEY_CACHE.with(|c| *c),
                };
                let deps = Deps {
                    cfg: self.cfg,
                    kv: self.kv,
                    audit: &audit,
                    idempotency: &log,
                    limiter: &Limiters(self.env),
                    quotas: &Quotas(self.env),
                    sleep: &TimerSleep,
                    now: self.now,
                };
                let request = ManagementRequest {
                    route: &route,
                    query: self.query,
                    headers,
                    body,
                    client_ip: self.client_ip,
                    request_id: trace.request_id,
                };
                management_api::serve(&deps, &request).await
            }
        };
        let facts = answer.log;
        let mut event = trace.finish(
            facts.decision,
            facts.key_id.as_deref(),
            answer.status,
            facts.detail,
        );
        event.actor = facts.actor;
        event.consumer_id = facts.consumer_id;
        let record = Record {
            event,
            started_ms: trace.started_ms,
            error: answer.status >= 500,
            log: true,
        };
        let resp = if answer.status == 204 {
            // A 204 has no body at all (an empty one is refused by the runtime).
            headers::answer(204, &answer.headers, &wasm_bindgen::JsValue::NULL)
        } else {
            own_answer(answer.status, &answer.headers, answer.body)
        };
        (resp, record)
    }
}

/// A request body of at most `cap` bytes; `None` for a longer one, which is read no further than
/// that, so a large (or endless, chunked) body before authentication costs the isolate no more
/// than `cap` bytes of memory. A body that cannot be read is answered as an empty one (415 or 422).
async fn read_capped(req: &mut Request, cap: usize) -> Option<Vec<u8>> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Some(out);
    };
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Some(Vec::new());
        };
        if out.len() + chunk.len() > cap {
            return None;
        }
        out.extend_from_slice(&chunk);
    }
    Some(out)
}

/// How a retry of an idempotent create waits for the first: a timer of its own.
struct TimerSleep;

impl Sleep for TimerSleep {
    async fn sleep(&self, ms: u64) {
        Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

/// The quota counters, read without spending (the management API's usage and verify).
impl QuotaReader for Quotas<'_> {
    async fn used(&self, counter: &str, window_start: u64) -> Result<u64, LimitError> {
        Quotas::used(self, counter, window_start).await
    }
}

/// Answers a refusal that ended before the origin was called: the problem answer and its record,
/// faults at error level, with their operator-facing detail.
fn refuse(
    refusal: Refusal,
    trace: &Trace<'_>,
    key_id: Option<&str>,
) -> (web_sys::Response, Record) {
    let (status, answer) = problem_answer(&refusal, trace.request_id);
    let detail = refusal.operator_detail();
    let event = trace.finish(refusal.reason_code(), key_id, status, detail);
    let record = Record {
        event,
        started_ms: trace.started_ms,
        error: matches!(refusal, Refusal::Fault(_)) || trace.sync_fault.is_some(),
        log: true,
    };
    (answer, record)
}

/// A refusal's problem answer (RFC 9457), and its status.
fn problem_answer(refusal: &Refusal, request_id: &str) -> (u16, web_sys::Response) {
    let problem = refusal.problem();
    let status = problem.status.as_u16();
    let headers = problem.headers(request_id);
    let body = problem.body(request_id);
    (status, own_answer(status, &headers, body))
}

/// Writes a finished request's log line (unless `REQUEST_LOG` skips it) after the answer has
/// gone (`log_after`), and its Analytics Engine data point (when the `ANALYTICS` binding exists),
/// which `writeDataPoint` sends without blocking. Neither costs the client time.
fn record(rec: Record, dataset: Option<&AnalyticsEngineDataset>, ctx: &JsValue) {
    if rec.log {
        let line = rec.event.log_line(&iso_timestamp(rec.started_ms as u64));
        log_after(ctx, &line, rec.error);
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
            .write_to(dataset);
        if written.is_err() {
            worker::console_error!(
                "analytics: data point for request {} not written",
                rec.event.request_id
            );
        }
    }
}
