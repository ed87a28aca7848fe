//! Fault injection and observation hooks for the end-to-end tests: compiled only with the
//! `fault-injection` feature, which no production build turns on (`make worker` builds without
//! it).

use http::HeaderMap;

/// The request header that asks for a fault: `panic` (before the origin is called) or
/// `panic-after-origin` (once the origin has answered).
pub const FAULT_HEADER: &str = "x-keygate-fault";

/// Panics when the request asks for it: a real Rust panic (a wasm trap), for the tests of the
/// JS entry's panic answer and of the recovery of the next request.
pub fn inject(headers: &HeaderMap) {
    if headers
        .get(FAULT_HEADER)
        .is_some_and(|v| v.as_bytes() == b"panic")
    {
        panic!("fault injection: {FAULT_HEADER}: panic");
    }
}

/// Whether the request asks for a panic once the origin has answered, in the call that settles
/// the origin's fetch (see `origin::send`), rather than in the handler's own call.
pub fn after_origin(headers: &HeaderMap) -> bool {
    headers
        .get(FAULT_HEADER)
        .is_some_and(|v| v.as_bytes() == b"panic-after-origin")
}

/// Panics, for a request that asked for it with [`after_origin`].
pub fn inject_after_origin(asked: bool) {
    if asked {
        panic!("fault injection: {FAULT_HEADER}: panic-after-origin");
    }
}

/// Logs an Analytics Engine data point as written, for the end-to-end test of the analytics
/// write: `wrangler dev`'s local dataset binding discards points and offers no way to read them.
pub fn echo_data_point(point: &keygate_core::telemetry::DataPoint) {
    let echo = serde_json::json!({
        "event": "keygate.test.data_point",
        "index": point.index,
        "blobs": point.blobs,
        "doubles": point.doubles,
    });
    worker::console_log!("{echo}");
}
