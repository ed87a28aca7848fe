//! Header conversion between the runtime's `Headers` and core's `http::HeaderMap`, byte for byte,
//! and the answers keygate writes itself from core's parts.

use http::{HeaderMap, HeaderName, HeaderValue};
use worker::{Headers, Response, ResponseBody, ResponseBuilder};

/// Reads runtime headers into an `http::HeaderMap`. Header bytes reach JS as Latin-1 code points;
/// they are mapped back to bytes so that no value is silently dropped or altered.
pub fn to_header_map(headers: &Headers) -> HeaderMap {
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
/// whose body is not forwarded (`Accepted::forward_body`).
pub fn to_worker_headers(map: &HeaderMap, drop_body_headers: bool) -> Headers {
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

/// An answer of keygate's own (a problem, the operator endpoint's JSON) from core's parts.
pub fn own_answer(status: u16, headers: &HeaderMap, body: String) -> Response {
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(to_worker_headers(headers, false))
        .body(ResponseBody::Body(body.into_bytes()))
}
