// keygate's JS side of the wasm boundary (src/headers.rs binds it): each step of a request that
// touches the runtime's objects is one call here, and request and answer heads travel as one
// string, so a request crosses the boundary a handful of times rather than once per header and
// per property.
//
// Heads are lines separated by "\n": neither a method, a serialised URL, a status, a header name
// nor a header value can hold a line feed (the Fetch standard and the URL standard forbid it, and
// so does the `http` crate on the Rust side). Header values are ByteStrings: each byte is one
// code point below 256, which Rust maps back to the byte.

/** Every header as `name\nvalue\n` lines, in the runtime's order. */
function headerLines(headers) {
  let lines = "";
  for (const [name, value] of headers) lines += name + "\n" + value + "\n";
  return lines;
}

/** New headers from `name\nvalue\n` lines. */
function headersFrom(lines) {
  const headers = new Headers();
  const parts = lines.split("\n");
  for (let i = 0; i + 1 < parts.length; i += 2) {
    try {
      headers.append(parts[i], parts[i + 1]);
    } catch {
      // A header the runtime refuses is left out, never the whole request or answer.
    }
  }
  return headers;
}

/**
 * `headers` changed by `edits` (core's `heads::edits`): a count of names, those names deleted,
 * then `name\nvalue\n` fields appended. A name the runtime refuses cannot be among `headers`, so
 * its delete has nothing to do; a field it refuses is left out, as in `headersFrom`.
 */
function edited(headers, edits) {
  const parts = edits.split("\n");
  const deletes = Number(parts[0]);
  let i = 1;
  for (; i <= deletes; i++) {
    try {
      headers.delete(parts[i]);
    } catch {
      // Not a field name, so no field of `headers` has it.
    }
  }
  for (; i + 1 < parts.length; i += 2) {
    try {
      headers.append(parts[i], parts[i + 1]);
    } catch {
      // As in headersFrom.
    }
  }
  return headers;
}

/** The request's head: `method\nurl\n` and then its header lines. */
export function request_head(request) {
  return request.method + "\n" + request.url + "\n" + headerLines(request.headers);
}

/**
 * The origin call: `method` exactly as received, the client's headers with core's `edits`
 * (which give the headers core built), the client's body
 * stream handed on as is when `forwardBody` (nothing is buffered), and redirects returned rather
 * than followed. The timeout bounds the wait for the answer's head (README, "Responses"): a timer
 * that aborts the fetch with a `TimeoutError` (the runtime then cancels the upstream request),
 * cleared by `settleIfLive` as soon as the head is in. Cleared, it is gone at once, where an
 * `AbortSignal.timeout` (which cannot be cleared) stays armed until `ORIGIN_TIMEOUT_MS` (30 s by
 * default) after the send, however early the answer came.
 */
function originFetch(url, method, edits, request, forwardBody, timeoutMs) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(timedOut()), timeoutMs);
  const fetched = fetch(url, {
    method,
    headers: edited(new Headers(request.headers), edits),
    body: forwardBody ? request.body : null,
    redirect: "manual",
    signal: abort.signal,
  });
  return { fetched, timer };
}

/** The reason the origin timeout aborts with: a `TimeoutError`, as `AbortSignal.timeout` gives. */
function timedOut() {
  return new DOMException("the origin did not answer within ORIGIN_TIMEOUT_MS", "TimeoutError");
}

/** What the panic guard (src/panic-guard.js) finds on a promise that `forward` made. */
const SETTLES = Symbol.for("keygate.settles");
/** Why the answer to an origin call cannot be made: the wasm instance that sent it is gone. The
 * panic guard knows this error by its name, as the one error that does not end the instance. */
function gone() {
  const error = new Error("the wasm instance that sent this origin call was reset");
  error.name = "KeygateInstanceGone";
  return error;
}

/**
 * The origin call, settled by one call back into the wasm: `settle(token, response, false)` with
 * the origin's answer, or `settle(token, error, true)` with the rejection. The promise is that of
 * what `settle` returns (the client's answer). No Rust future waits on the fetch, so no executor
 * task, waker or microtask of wasm-bindgen's runs for it.
 *
 * The promise always settles, by the fetch's timeout at the latest, so the panic guard does not
 * watch it for a trap elsewhere (it is marked with SETTLES). When a panic has ended the instance
 * that sent the call (worker's `__worker_init_state` says critical, or counts a newer instance),
 * `settle` is not called, since its closure belongs to the dead instance: the promise rejects,
 * and the guard answers with its 500.
 */
export function forward(url, method, edits, request, forwardBody, timeoutMs, token, settle) {
  const state = globalThis.__worker_init_state;
  const instance = state?.instanceId;
  const { fetched, timer } = originFetch(url, method, edits, request, forwardBody, timeoutMs);
  const promise = fetched.then(
    (response) => settleIfLive(state, instance, settle, token, response, false, timer),
    (error) => settleIfLive(state, instance, settle, token, error, true, timer),
  );
  promise[SETTLES] = true;
  return promise;
}

/** Clears the origin call's `timer`, then `settle(token, outcome, failed)`, unless the instance
 * that sent the call (`instance`, as worker's init `state` counted it) has ended since: then it
 * throws `gone()`. */
function settleIfLive(state, instance, settle, token, outcome, failed, timer) {
  clearTimeout(timer);
  if (state && (state.criticalError || state.instanceId !== instance)) throw gone();
  return settle(token, outcome, failed);
}

/** An answer's head: `status\n` and then its header lines. */
export function response_head(response) {
  return response.status + "\n" + headerLines(response.headers);
}

/** A new answer with `status`, the headers of `lines` and `body` (a string, a stream or null). */
export function answer(status, lines, body) {
  return new Response(body, { status, headers: headersFrom(lines) });
}

/** The origin's answer again, with `status` and its headers changed by `edits`, its body
 * streamed on. */
export function answer_with_body_of(response, status, edits) {
  const answer = new Response(response.body, { status, headers: response.headers });
  edited(answer.headers, edits);
  return answer;
}

/** The name of a rejection (`TimeoutError`, `TypeError` …), or "" for one without. */
export function error_name(error) {
  return typeof error?.name === "string" ? error.name : "";
}

/**
 * Writes a request's log line after its answer: `console.error` for a fault (Workers Logs files
 * it as an error), `console.log` otherwise, on a microtask kept alive by `waitUntil`.
 */
export function log_after(ctx, line, error) {
  ctx.waitUntil(
    Promise.resolve().then(() => {
      if (error) console.error(line);
      else console.log(line);
    }),
  );
}
