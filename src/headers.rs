//! Header conversion between the runtime's `Headers` and core's `http::HeaderMap`, byte for byte,
//! and the answers keygate writes itself from core's parts.
//!
//! Each conversion crosses the wasm boundary once: the headers travel as one string of
//! `name\nvalue\n` lines (neither a name nor a value can hold a line feed, in the Fetch standard
//! or in `http`), built and split by the two small JS functions below. Going header by header
//! through `Headers.entries()` and `Headers.append` cost several crossings and a string copy for
//! every header, on every request and every answer.

use http::{HeaderMap, HeaderName, HeaderValue};
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{web_sys, Headers, Response, ResponseBody, ResponseBuilder};

#[wasm_bindgen(inline_js = r#"
export function header_lines(headers) {
  let lines = "";
  for (const [name, value] of headers) lines += name + "\n" + value + "\n";
  return lines;
}
export function headers_from_lines(lines) {
  const headers = new Headers();
  const parts = lines.split("\n");
  for (let i = 0; i + 1 < parts.length; i += 2) {
    try {
      headers.append(parts[i], parts[i + 1]);
    } catch {
      // A header the runtime refuses is left out, as before: never the whole answer.
    }
  }
  return headers;
}
"#)]
extern "C" {
    /// Every header of `headers` as `name\nvalue\n` lines, in the runtime's order.
    fn header_lines(headers: &web_sys::Headers) -> String;
    /// New runtime headers from `name\nvalue\n` lines.
    fn headers_from_lines(lines: &str) -> web_sys::Headers;
}

/// Reads runtime headers into an `http::HeaderMap`. Header bytes reach JS as Latin-1 code points;
/// they are mapped back to bytes so that no value is silently dropped or altered.
pub fn to_header_map(headers: &Headers) -> HeaderMap {
    let lines = header_lines(&headers.0);
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

/// Writes headers for the runtime; `drop_body_headers` leaves out `Content-Length` for a request
/// whose body is not forwarded (`Accepted::forward_body`).
pub fn to_worker_headers(map: &HeaderMap, drop_body_headers: bool) -> Headers {
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
    Headers(headers_from_lines(&lines))
}

/// An answer of keygate's own (a problem, the operator endpoint's JSON) from core's parts.
pub fn own_answer(status: u16, headers: &HeaderMap, body: String) -> Response {
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(to_worker_headers(headers, false))
        .body(ResponseBody::Body(body.into_bytes()))
}
