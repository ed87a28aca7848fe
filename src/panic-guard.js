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
// Wherever it traps, the instance is reset before the next call, so the next request works:
// worker-build's shim resets an instance marked critical, which the worker crate's panic hook, the
// shim's own `error` listener and this guard (for what reaches it) each do.
//
// A trap ends the wasm instance, and with it every request this isolate is still serving. One
// waiting under wasm-bindgen's executor has its future in the dead instance's memory and can never
// finish, so a trap answers every such request at once, not only the one that panicked (nothing
// tells which one did). One waiting for its origin gets the same 500 when the origin answers:
// its promise rejects rather than call into the dead instance (see `forward` in src/glue.js).
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

/** What `forward` in src/glue.js marks its promises with: they always settle (see there). */
const SETTLES = Symbol.for("keygate.settles");

/** Marks the instance for reset, as worker-build's shim does on an `error` event. */
function markCritical() {
  const state = globalThis.__worker_init_state;
  if (typeof state === "object" && state !== null) state.criticalError = true;
}

/**
 * The 500 answer to a handler that threw (or whose promise rejected) with `error`.
 *
 * Any error out of the wasm but one ends its instance: wasm-bindgen marks an instance terminated
 * when a trap, or a JS exception it did not raise itself, crosses its boundary. So the instance is
 * marked for reset, and every request still waiting in it is answered, as for a trap. The one
 * exception is `KeygateInstanceGone` (src/glue.js `forward`), raised outside the wasm about an
 * instance already gone: this instance may be a new, healthy one.
 */
function failed(request, started, error) {
  if (error?.name === "KeygateInstanceGone") {
    return problem(request, started, "the gateway was reset while the origin answered");
  }
  markCritical();
  failPending();
  if (isTrap(error)) return problem(request, started, "the wasm handler panicked");
  return problem(request, started, `the wasm handler threw ${error?.name ?? typeof error}`);
}

/**
 * Wraps worker-build's default export (a `WorkerEntrypoint` class) in a guarded fetch handler.
 *
 * What the handler returns decides how it is watched:
 * - an answer (a `Response`): the request was settled in the handler's own call;
 * - a promise `forward` made (marked SETTLES): it settles by the origin timeout at the latest,
 *   and rejects if the instance is gone by then, so only its rejection is caught;
 * - any other promise (a request that had to wait, under wasm-bindgen's executor): raced against
 *   a trap anywhere in the instance, since a trap leaves it pending for ever.
 */
export function guard(Inner) {
  const handle = handlerOf(Inner);
  return {
    fetch(request, env, ctx) {
      const started = Date.now();
      let answer;
      try {
        answer = handle(request, env, ctx);
      } catch (error) {
        return failed(request, started, error);
      }
      if (answer instanceof Response) return answer;
      if (answer?.[SETTLES] === true) {
        return answer.catch((error) => failed(request, started, error));
      }
      return raced(request, started, answer);
    },
  };
}

/** The handler's `answer` (a promise), or a 500 if a trap in the instance strands it. */
async function raced(request, started, answer) {
  let fail;
  const trapped = new Promise((resolve) => {
    fail = resolve;
  });
  pending.add(fail);
  try {
    const settled = await Promise.race([answer, trapped]);
    if (settled !== TRAPPED) return settled;
    return problem(request, started, "the wasm handler panicked");
  } catch (error) {
    return failed(request, started, error);
  } finally {
    pending.delete(fail);
  }
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
