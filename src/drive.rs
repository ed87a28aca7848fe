//! How the fetch handler's future is run: polled once at once, inside the handler's own call,
//! and handed to wasm-bindgen's executor only if it has to wait.
//!
//! A request that settles on its first poll (most do: a refusal, or a cache hit on its way to
//! the origin, whose fetch is not awaited in Rust) then costs no promise, executor task or
//! microtask. The first poll's waker relays to whichever waker the executor polls with later, so
//! a future that keeps the first waker it was given (as `worker::Delay` does) still wakes the
//! task.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use wasm_bindgen::JsValue;

/// Runs `fut` to its value: at once when it is ready on the first poll, else as a promise.
pub fn run(fut: impl Future<Output = JsValue> + 'static) -> JsValue {
    let relay = Arc::new(Relay::default());
    let waker = Waker::from(relay.clone());
    let mut fut = Box::pin(fut);
    match fut.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(value) => value,
        Poll::Pending => {
            let rest = std::future::poll_fn(move |cx| {
                relay.point_at(cx.waker());
                fut.as_mut().poll(cx).map(Ok)
            });
            wasm_bindgen_futures::future_to_promise(rest).into()
        }
    }
}

/// A waker that wakes whatever waker it was last pointed at (none at first).
#[derive(Default)]
struct Relay(Mutex<Option<Waker>>);

impl Relay {
    fn point_at(&self, waker: &Waker) {
        if let Ok(mut target) = self.0.lock() {
            if !target.as_ref().is_some_and(|t| t.will_wake(waker)) {
                *target = Some(waker.clone());
            }
        }
    }
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Cloned out first, so that a waker that polls at once cannot find the lock held.
        let target = self.0.lock().ok().and_then(|t| t.clone());
        if let Some(target) = target {
            target.wake();
        }
    }
}
