//! The origin call: the upstream request as core built it, with the method exactly as received
//! and the body streamed through, under the origin timeout (a timer in `glue.js`), settled
//! without a Rust future: JS chains the fetch to one finishing call (`glue.js`, `forward`), and
//! the answer is filtered by core there.

use crate::headers::{answer_with_body_of, error_name, forward, read_response};
use keygate_core::forward::{finish_response_headers, sanitise_response_headers};
use keygate_core::heads;
use keygate_core::{Accepted, Config, Fault};
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeMap;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, web_sys};

/// An origin call that ended without an answer: the fault and its operator-facing detail.
pub struct OriginFailure {
    pub fault: Fault,
    pub detail: Option<String>,
}

/// What the origin call came to, and the milliseconds spent waiting for it.
pub type Outcome = (Result<web_sys::Response, JsValue>, f64);

/// What runs when the origin call settles; it returns the answer.
pub type Then = Box<dyn FnOnce(Outcome) -> JsValue>;

/// The JS function every call settles through: `settle(token, outcome, failed)`.
type Settle = Closure<dyn Fn(f64, JsValue, bool) -> JsValue>;

/// An origin call in flight: what to run when it settles, and when it was sent.
struct InFlight {
    then: Option<Then>,
    sent_ms: f64,
}

/// How long past its own timeout a call's entry is kept. A call settles by its timeout
/// (`glue.js` aborts the fetch) unless its request was cancelled (the client went away), and
/// then it never settles; such entries are dropped once they are this old, so they cannot pile
/// up.
const ABANDONED_AFTER_MS: f64 = 600_000.0;

thread_local! {
    /// The calls in flight in this isolate, by token (tokens grow, so the oldest come first).
    static IN_FLIGHT: RefCell<BTreeMap<u64, InFlight>> = const { RefCell::new(BTreeMap::new()) };
    static NEXT_TOKEN: Cell<u64> = const { Cell::new(0) };
    /// The one JS function every call settles through (made once per instance).
    static SETTLE: OnceCell<Settle> = const { OnceCell::new() };
}

/// An origin call just sent; [`Call::then`] says what its outcome becomes.
pub struct Call {
    token: u64,
    promise: js_sys::Promise,
}

impl Call {
    /// The promise of the answer `then` makes of the call's outcome. (The fetch settles on a
    /// later turn of the event loop, never before this is set.)
    pub fn then(self, then: Then) -> js_sys::Promise {
        IN_FLIGHT.with(|calls| {
            if let Some(call) = calls.borrow_mut().get_mut(&self.token) {
                call.then = Some(then);
            }
        });
        self.promise
    }
}

/// Sends the upstream request with `method` exactly as received and the client's header fields
/// changed by `edits` (from what was read to `accepted.headers`), under `timeout_ms`. No Rust
/// future waits for the origin: the fetch's promise calls back into the wasm once, when it
/// settles.
pub fn send(
    req: &web_sys::Request,
    method: &str,
    accepted: &Accepted,
    edits: &str,
    timeout_ms: u32,
) -> Call {
    let sent_ms = js_sys::Date::now();
    let token = NEXT_TOKEN.with(|n| {
        let t = n.get();
        n.set(t.wrapping_add(1));
        t
    });
    IN_FLIGHT.with(|calls| {
        let mut calls = calls.borrow_mut();
        let limit = f64::from(timeout_ms) + ABANDONED_AFTER_MS;
        while let Some(entry) = calls.first_entry() {
            if sent_ms - entry.get().sent_ms <= limit {
                break;
            }
            entry.remove();
        }
        calls.insert(
            token,
            InFlight {
                then: None,
                sent_ms,
            },
        );
    });
    let promise = SETTLE.with(|settle| {
        let settle = settle.get_or_init(|| Closure::new(settle_call));
        forward(
            &accepted.target.url,
            method,
            edits,
            req,
            accepted.forward_body,
            timeout_ms,
            token as f64,
            settle.as_ref().unchecked_ref(),
        )
    });
    Call { token, promise }
}

/// The fetch of call `token` settled: with the origin's answer, or (`failed`) a rejection.
fn settle_call(token: f64, outcome: JsValue, failed: bool) -> JsValue {
    // Tokens cross to JS as numbers: exact far beyond any isolate's count of calls.
    let call = IN_FLIGHT.with(|calls| calls.borrow_mut().remove(&(token as u64)));
    let Some(InFlight {
        then: Some(then),
        sent_ms,
    }) = call
    else {
        // Only a call abandoned for ABANDONED_AFTER_MS past its timeout gets here; the panic
        // guard answers the request with a 500.
        wasm_bindgen::throw_str("origin call settled after it was given up");
    };
    let waited_ms = js_sys::Date::now() - sent_ms;
    let result = if failed {
        Err(outcome)
    } else {
        Ok(outcome.unchecked_into())
    };
    then((result, waited_ms))
}

/// The origin's answer as the client gets it: core's filter on its headers, then the request id
/// and the rate-limit fields, sent as core's edits to its fields (`heads::edits`); the body
/// streams through.
pub fn filtered(
    resp: &web_sys::Response,
    accepted: &Accepted,
    cfg: &Config,
    request_id: &str,
) -> (web_sys::Response, u16) {
    let (status, fields) = read_response(resp);
    let mut out_headers = fields.map.clone();
    sanitise_response_headers(&mut out_headers, cfg);
    finish_response_headers(&mut out_headers, request_id, &accepted.rate_limit);
    let edits = heads::edits(&fields, &out_headers);
    (answer_with_body_of(resp, status, &edits), status)
}

/// Why the origin call was rejected: its timeout (504), or anything else (502, with the
/// runtime's message, the shared secret redacted should it ever appear there).
pub fn failure(error: JsValue, cfg: &Config) -> OriginFailure {
    if error_name(&error) == "TimeoutError" {
        return OriginFailure {
            fault: Fault::OriginTimeout,
            detail: None,
        };
    }
    let detail = worker::Error::from(error)
        .to_string()
        .replace(cfg.secret.expose(), "<redacted>");
    OriginFailure {
        fault: Fault::OriginUnreachable,
        detail: Some(detail),
    }
}
