//! The origin fetch: the upstream request as core built it, with the method exactly as received
//! and the body streamed through, raced against the origin timeout; the answer filtered by core.

use crate::headers::{to_header_map, to_worker_headers};
use futures_util::future::{select, Either};
use keygate_core::forward::{finish_response_headers, sanitise_response_headers};
use keygate_core::{Accepted, Config, Fault};
use worker::{
    web_sys, AbortController, Date, Delay, Fetch, Request, RequestInit, RequestRedirect, Response,
    ResponseBuilder,
};

/// An origin call that ended without an answer: the fault, its operator-facing detail, and the
/// milliseconds spent waiting.
pub struct OriginFailure {
    pub fault: Fault,
    pub detail: Option<String>,
    pub waited_ms: f64,
}

/// Sends the upstream request with `method` exactly as received, racing the origin timeout, and
/// filters the origin's answer. Also returns how long the origin took to answer, in
/// milliseconds.
pub async fn fetch_origin(
    req: Request,
    method: &str,
    accepted: &Accepted,
    cfg: &Config,
    request_id: &str,
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
    finish_response_headers(&mut out_headers, request_id, &accepted.rate_limit);
    let (_, body) = resp.into_parts();
    let resp = ResponseBuilder::new()
        .with_status(status)
        .with_headers(to_worker_headers(&out_headers, false))
        .body(body);
    Ok((resp, origin_ms))
}
