//! Fault injection and observation hooks for the end-to-end tests: compiled only with the
//! `fault-injection` feature, which no production build turns on (`make worker` builds without
//! it).

use http::HeaderMap;

/// The request header that asks for a fault. Its only value is `panic`.
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
