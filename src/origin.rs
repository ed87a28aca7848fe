//! The origin fetch: the upstream request as core built it, with the method exactly as received
//! and the body streamed through, under the origin timeout (`AbortSignal.timeout`); the answer
//! filtered by core.

use crate::headers::{answer_with_body, error_name, fetch_upstream, read_response};
use keygate_core::forward::{finish_response_headers, sanitise_response_headers};
use keygate_core::{Accepted, Config, Fault};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys};

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
    req: &web_sys::Request,
    method: &str,
    accepted: &Accepted,
    cfg: &Config,
    request_id: &str,
) -> Result<(web_sys::Response, f64), OriginFailure> {
    let timeout_ms = u32::try_from(cfg.origin_timeout.as_millis()).unwrap_or(u32::MAX);
    let sent_ms = js_sys::Date::now();
    let failed = |fault, detail| OriginFailure {
        fault,
        detail,
        waited_ms: js_sys::Date::now() - sent_ms,
    };
    let call = fetch_upstream(
        &accepted.target.url,
        method,
        &accepted.headers,
        req,
        accepted.forward_body,
        timeout_ms,
    );
    let resp: web_sys::Response = match JsFuture::from(call).await {
        Ok(resp) => resp.unchecked_into(),
        Err(e) if error_name(&e) == "TimeoutError" => {
            return Err(failed(Fault::OriginTimeout, None));
        }
        Err(e) => {
            let detail = worker::Error::from(e)
                .to_string()
                .replace(cfg.secret.expose(), "<redacted>");
            return Err(failed(Fault::OriginUnreachable, Some(detail)));
        }
    };
    let origin_ms = js_sys::Date::now() - sent_ms;

    let (status, mut out_headers) = read_response(&resp);
    sanitise_response_headers(&mut out_headers, cfg);
    finish_response_headers(&mut out_headers, request_id, &accepted.rate_limit);
    Ok((answer_with_body(&resp, status, &out_headers), origin_ms))
}
