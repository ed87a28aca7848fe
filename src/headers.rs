//! The request path's crossings of the wasm boundary (their JS side is `src/glue.js`): the
//! request's head read in one call, the origin called in one, its answer's head read in one and
//! every answer built in one; and the log line written after the answer.
//!
//! Heads travel as one string of lines (see `glue.js`), read into core's `http::HeaderMap`
//! (`keygate_core::heads`). What goes back to the runtime for the upstream request and the
//! origin's answer is core's edits (`heads::edits`: what core changed, applied to a copy of the
//! runtime's own fields, or every field when that takes fewer calls); keygate's own answers are
//! sent whole. Going header by header through `Headers.entries()` and `Headers.append`, and
//! property by property through `web_sys`, cost several crossings and a string copy for every
//! header and property, on every request.

use http::HeaderMap;
use keygate_core::heads::{self, Fields};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{js_sys, web_sys};

#[wasm_bindgen(module = "/src/glue.js")]
extern "C" {
    fn request_head(request: &web_sys::Request) -> String;
    /// Calls the origin (`forward` in `glue.js`) with the client's header fields changed by
    /// `edits` (`heads::edits`: from what was read to what core built); `settle(token, outcome,
    /// failed)` runs when the fetch settles, and its return value is the promise's.
    pub fn forward(
        url: &str,
        method: &str,
        edits: &str,
        request: &web_sys::Request,
        forward_body: bool,
        timeout_ms: u32,
        token: f64,
        settle: &js_sys::Function,
    ) -> js_sys::Promise;
    fn response_head(response: &web_sys::Response) -> String;
    #[wasm_bindgen(js_name = answer)]
    fn answer_from_lines(status: u16, lines: &str, body: &JsValue) -> web_sys::Response;
    /// The origin's `response` with `status`, its header fields changed by `edits` (as core
    /// filtered them), its body streamed through untouched.
    pub fn answer_with_body_of(
        response: &web_sys::Response,
        status: u16,
        edits: &str,
    ) -> web_sys::Response;
    /// The name of a rejection (`TimeoutError`, `TypeError` …); empty for one without.
    pub fn error_name(error: &JsValue) -> String;
    /// Writes a request's log line after its answer: `console.error` when `error`, else
    /// `console.log`. No Rust future is spawned for it.
    pub fn log_after(ctx: &JsValue, line: &str, error: bool);
}

/// A request's method exactly as received, its URL as the runtime serialised it (WHATWG), and
/// its header fields (the credential stand-ins are given once the config is known:
/// `heads::stand_in_credentials`).
pub struct Head {
    pub method: String,
    pub url: String,
    pub headers: Fields,
}

/// Reads the request's head in one call.
pub fn read_request(request: &web_sys::Request) -> Head {
    let head = request_head(request);
    let mut lines = head.splitn(3, '\n');
    let method = lines.next().unwrap_or_default().to_owned();
    let url = lines.next().unwrap_or_default().to_owned();
    Head {
        method,
        url,
        headers: heads::read(lines.next().unwrap_or_default()),
    }
}

/// Reads an answer's status and header fields in one call.
pub fn read_response(response: &web_sys::Response) -> (u16, Fields) {
    let head = response_head(response);
    let (status, lines) = head.split_once('\n').unwrap_or((&head, ""));
    (status.parse().unwrap_or(0), heads::read(lines))
}

/// An answer with `status`, `headers` and `body` (a string, a stream, or null for none).
pub fn answer(status: u16, headers: &HeaderMap, body: &JsValue) -> web_sys::Response {
    answer_from_lines(status, &heads::lines(headers), body)
}

/// An answer of keygate's own (a problem, the operator endpoint's JSON) from core's parts.
pub fn own_answer(status: u16, headers: &HeaderMap, body: String) -> web_sys::Response {
    answer(status, headers, &JsValue::from_str(&body))
}
