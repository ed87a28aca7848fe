//! The request path's crossings of the wasm boundary (their JS side is `src/glue.js`): the
//! request's head read in one call, the origin called in one, its answer's head read in one and
//! every answer built in one, with headers converted byte for byte between the runtime's
//! `Headers` and core's `http::HeaderMap`; and the log line written after the answer.
//!
//! Heads travel as one string of lines (see `glue.js`). Going header by header through
//! `Headers.entries()` and `Headers.append`, and property by property through `web_sys`, cost
//! several crossings and a string copy for every header and property, on every request.

use http::{HeaderMap, HeaderName, HeaderValue};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{js_sys, web_sys};

#[wasm_bindgen(module = "/src/glue.js")]
extern "C" {
    fn request_head(request: &web_sys::Request) -> String;
    fn forward(
        url: &str,
        method: &str,
        lines: &str,
        request: &web_sys::Request,
        forward_body: bool,
        timeout_ms: u32,
        token: f64,
        settle: &js_sys::Function,
    ) -> js_sys::Promise;
    fn response_head(response: &web_sys::Response) -> String;
    #[wasm_bindgen(js_name = answer)]
    fn answer_from_lines(status: u16, lines: &str, body: &JsValue) -> web_sys::Response;
    fn answer_with_body_of(
        response: &web_sys::Response,
        status: u16,
        lines: &str,
    ) -> web_sys::Response;
    /// The name of a rejection (`TimeoutError`, `TypeError` …); empty for one without.
    pub fn error_name(error: &JsValue) -> String;
    /// Writes a request's log line after its answer: `console.error` when `error`, else
    /// `console.log`. No Rust future is spawned for it.
    pub fn log_after(ctx: &JsValue, line: &str, error: bool);
}

/// A request's method exactly as received, its URL as the runtime serialised it (WHATWG), and
/// its headers.
pub struct Head {
    pub method: String,
    pub url: String,
    pub headers: HeaderMap,
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
        headers: header_map(lines.next().unwrap_or_default()),
    }
}

/// Reads an answer's status and headers in one call.
pub fn read_response(response: &web_sys::Response) -> (u16, HeaderMap) {
    let head = response_head(response);
    let (status, lines) = head.split_once('\n').unwrap_or((&head, ""));
    (status.parse().unwrap_or(0), header_map(lines))
}

/// Calls the origin (see `forward` in `glue.js`): `headers` as core built them, without
/// `Content-Length` when the body is not forwarded; `settle(token, outcome, failed)` runs when
/// the fetch settles, and its return value is the promise's.
#[allow(clippy::too_many_arguments)]
pub fn forward_upstream(
    url: &str,
    method: &str,
    headers: &HeaderMap,
    request: &web_sys::Request,
    forward_body: bool,
    timeout_ms: u32,
    token: f64,
    settle: &js_sys::Function,
) -> js_sys::Promise {
    let lines = header_lines(headers, !forward_body);
    forward(
        url,
        method,
        &lines,
        request,
        forward_body,
        timeout_ms,
        token,
        settle,
    )
}

/// `name\nvalue\n` lines into an `http::HeaderMap`. Header bytes reach JS as Latin-1 code points;
/// they are mapped back to bytes so that no value is silently dropped or altered.
fn header_map(lines: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    let mut parts = lines.split('\n');
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
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

/// `name\nvalue\n` lines of `map`; `drop_body_headers` leaves out `Content-Length` for a request
/// whose body is not forwarded (`Accepted::forward_body`).
fn header_lines(map: &HeaderMap, drop_body_headers: bool) -> String {
    let mut lines = String::with_capacity(map.len() * 32);
    for (name, value) in map {
        if drop_body_headers && name == http::header::CONTENT_LENGTH {
            continue;
        }
        lines.push_str(name.as_str());
        lines.push('\n');
        lines.extend(value.as_bytes().iter().map(|&b| char::from(b)));
        lines.push('\n');
    }
    lines
}

/// An answer with `status`, `headers` and `body` (a string, a stream, or null for none).
pub fn answer(status: u16, headers: &HeaderMap, body: &JsValue) -> web_sys::Response {
    answer_from_lines(status, &header_lines(headers, false), body)
}

/// The origin's `response` with `status` and `headers` (as core filtered them), its body
/// streamed through untouched.
pub fn answer_with_body(
    response: &web_sys::Response,
    status: u16,
    headers: &HeaderMap,
) -> web_sys::Response {
    answer_with_body_of(response, status, &header_lines(headers, false))
}

/// An answer of keygate's own (a problem, the operator endpoint's JSON) from core's parts.
pub fn own_answer(status: u16, headers: &HeaderMap, body: String) -> web_sys::Response {
    answer(status, headers, &JsValue::from_str(&body))
}
