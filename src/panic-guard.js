// The panic guard around keygate's wasm fetch handler: a Rust panic becomes a 500 problem answer
// (RFC 9457, like every other keygate error) instead of a request the runtime cancels as hung.
//
// Why in JS: wasm32 aborts on panic, so no Rust code can catch one. The panic traps
// (`WebAssembly.RuntimeError: unreachable`) in one of three places:
// - in the handler's own call, which polls the request's path once (src/drive.rs): the call
//   throws it here;
// - in the call that settles an origin fetch (src/origin.rs): the handler's promise rejects with it;
// - in a microtask of wasm-bindgen's executor, for a request that had to wait: the handler's
//   promise never settles, and the trap surfaces only as a global `error` event.
// Wherever it traps, the instance is reset before the next call, so the next request works: the
// worker crate's panic hook marks it critical for worker-build's shim (as the shim's own `error`
// listener does), and wasm-bindgen's abort handler schedules the reset for any trap.
//
// A trap ends the wasm instance, and with it every request this isolate is still serving: their
// futures live in the dead instance's memory and can never finish. A trap therefore answers every
// pending request, not only the one that panicked (nothing tells which one did).
//
// Neither the answer nor the log line carries the error's message or stack: they could quote a
// key or the shared secret. The Rust panic hook logs the panic message on its own.

const PROBLEM_CONTENT_TYPE = "application/problem+json";
const PROBLEM_TYPE = "urn:keygate:problem:internal_error";
const TITLE = "Internal error";
const DETAIL =
  "The gateway failed while handling this request; its operator has been told in the gateway log.";
/** The same rule as keygate_core::forward::is_sane_request_id (one value; `Headers.get` joins
 * several with ", ", which this rejects). */
const SANE_REQUEST_ID = /^[A-Za-z0-9\-_.:+=/@]{1,128}$/;
/** What a failed request's race resolves to. */
const TRAPPED = Symbol("trapped");

/** The resolvers of the requests this isolate is serving; a trap resolves them all. */
const pending = new Set();

function isTrap(error) {
  return (
    error instanceof WebAssembly.RuntimeError ||
    error?.cause instanceof WebAssembly.RuntimeError
  );
}

function failPending() {
  for (const fail of pending) fail(TRAPPED);
  pending.clear();
}

addEventListener("error", (event) => {
  if (isTrap(event.error)) failPending();
});

/**
 * How one request reaches the wasm handler. worker-build's default export is a `WorkerEntrypoint`
 * class behind a Proxy: constructing it per request builds the entrypoint, a Proxy around it and
 * another around its `fetch`, whose async wrapper adds a promise; all of that is there to re-create
 * the wasm instance after a trap. Its prototype's `fetch` only calls the wasm export with the
 * `env` and `ctx` it finds on `this`, so while the instance is healthy (the shim's
 * `__worker_init_state` shows no critical error) it is called directly. After a trap, and with a
 * shim that does not look like this, the request goes the shim's own way, which resets the
 * instance first.
 */
function handlerOf(Inner) {
  const direct = Inner.prototype?.fetch;
  const state = globalThis.__worker_init_state;
  if (typeof direct !== "function" || typeof state !== "object" || state === null) {
    return (request, env, ctx) => new Inner(ctx, env).fetch(request);
  }
  return (request, env, ctx) =>
    state.criticalError ? new Inner(ctx, env).fetch(request) : direct.call({ env, ctx }, request);
}

/** Wraps worker-build's default export (a `WorkerEntrypoint` class) in a guarded fetch handler. */
export function guard(Inner) {
  const handle = handlerOf(Inner);
  return {
    async fetch(request, env, ctx) {
      const started = Date.now();
      let fail;
      const trapped = new Promise((resolve) => {
        fail = resolve;
      });
      pending.add(fail);
      let failure;
      try {
        const answer = await Promise.race([handle(request, env, ctx), trapped]);
        if (answer !== TRAPPED) return answer;
        failure = "the wasm handler panicked";
      } catch (error) {
        if (isTrap(error)) {
          // A trap thrown straight back to us: the instance is gone for the others too.
          failPending();
          failure = "the wasm handler panicked";
        } else {
          failure = `the wasm handler threw ${error?.name ?? typeof error}`;
        }
      } finally {
        pending.delete(fail);
      }
      return problem(request, started, failure);
    },
  };
}

/** The 500 answer and its one log line. */
function problem(request, started, failure) {
  const sent = request.headers.get("x-request-id");
  const requestId = sent !== null && SANE_REQUEST_ID.test(sent) ? sent : crypto.randomUUID();
  let path = "";
  try {
    path = new URL(request.url).pathname;
  } catch {
    // Not a URL the runtime would hand us; the log line goes without a path.
  }
  // The same fields as keygate_core::telemetry::RequestEvent::log_line, with the fixed code
  // `internal_error`; what failed goes in `detail`.
  const totalMs = Date.now() - started;
  console.error(
    JSON.stringify({
      event: "keygate.request",
      ts: new Date(started).toISOString(),
      request_id: requestId,
      method: request.method,
      path,
      decision: "internal_error",
      key_id: null,
      consumer_id: null,
      status: 500,
      origin_status: null,
      gateway_ms: totalMs,
      origin_ms: null,
      total_ms: totalMs,
      colo: typeof request.cf?.colo === "string" ? request.cf.colo : null,
      cache: null,
      detail: `${failure}; the instance is reset before the next request`,
    }),
  );
  const body = JSON.stringify({
    type: PROBLEM_TYPE,
    title: TITLE,
    status: 500,
    detail: DETAIL,
    request_id: requestId,
  });
  return new Response(body, {
    status: 500,
    headers: {
      "content-type": PROBLEM_CONTENT_TYPE,
      "cache-control": "no-store",
      "x-request-id": requestId,
    },
  });
}
