//! The origin fetch: the upstream request as core built it, with the method exactly as received
//! and the body streamed through, under the origin timeout (`AbortSignal.timeout`); the answer
//! filtered by core.

use crate::headers::{to_header_map, to_worker_headers};
use keygate_core::forward::{finish_response_headers, sanitise_response_headers};
use keygate_core::{Accepted, Config, Fault};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, Date, Request, Response, ResponseBuilder};

#[wasm_bindgen]
extern "C" {
    /// The runtime's `fetch(url, init)`: the upstream request is built by `fetch` itself, from
    /// the init, with no `Request` object of ours in between.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(url: &str, init: &web_sys::RequestInit) -> js_sys::Promise;
}

/// An origin call that ended without an answer: the fault, its operator-facing detail, and the
/// milliseconds spent waiting.
pub struct OriginFailure {
    pub fault: Fault,
    pub detail: Option<String>,
    pub waited_ms: f64,
}

/// Sends the upstream request with `method` exactly as received, under the origin timeout, and
/// filters the origin's answer. Also returns how long the origin took to answer, in
/// milliseconds.
pub async fn fetch_origin(
    req: Request,
    method: &str,
    accepted: &Accepted,
    cfg: &Config,
    request_id: &str,
) -> Result<(Response, f64), OriginFailure> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&to_worker_headers(&accepted.headers, !accepted.forward_body).0);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if accepted.forward_body {
        // The client's body stream is handed on as is: nothing is buffered in the worker.
        if let Some(body) = req.inner().body() {
            init.set_body(&body);
        }
    }
    // One call arms the timeout: `fetch` rejects with a `TimeoutError` when it fires, and the
    // runtime cancels the upstream request (no controller, no timer of ours to race).
    let timeout_ms = u32::try_from(cfg.origin_timeout.as_millis()).unwrap_or(u32::MAX);
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(timeout_ms)));
    let sent_ms = Date::now().as_millis() as f64;
    let failed = |fault, detail| OriginFailure {
        fault,
        detail,
        waited_ms: Date::now().as_millis() as f64 - sent_ms,
    };
    let resp = match JsFuture::from(global_fetch(&accepted.target.url, &init)).await {
        Ok(resp) => Response::from(resp.unchecked_into::<web_sys::Response>()),
        Err(e) if error_name(&e).as_deref() == Some("TimeoutError") => {
            return Err(failed(Fault::OriginTimeout, None));
        }
        Err(e) => {
            let detail = worker::Error::from(e)
                .to_string()
                .replace(cfg.secret.expose(), "<redacted>");
            return Err(failed(Fault::OriginUnreachable, Some(detail)));
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

/// The `name` of a rejection (a `DOMException` or `Error`), if it has one.
fn error_name(e: &JsValue) -> Option<String> {
    js_sys::Reflect::get(e, &JsValue::from_str("name"))
        .ok()?
        .as_string()
}
