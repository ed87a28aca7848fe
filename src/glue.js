// keygate's JS side of the wasm boundary (src/headers.rs binds it): each step of a request that
// touches the runtime's objects is one call here, and request and answer heads travel as one
// string, so a request crosses the boundary a handful of times rather than once per header and
// per property. What comes back for the upstream request and the origin's answer is what core
// changed (`edited`), applied to a copy of the runtime's own fields; when core changed most of
// them, the fields whole.
//
// Heads are lines separated by "\n": neither a method, a serialised URL, a status, a header name
// nor a header value can hold a line feed (the Fetch standard and the URL standard forbid it, and
// so does the `http` crate on the Rust side). workerd hands header values to JS as strings
// decoded from UTF-8, and encodes the strings it is given back to UTF-8; Rust reads a value as
// the bytes of its UTF-8 text (`heads::read`), so a value goes on byte for byte, and a value
// holding U+FFFD (a stand-in for bytes that were not UTF-8) as a field it cannot read, which is
// deleted.

/** Every header as `name\nvalue\n` lines, in the runtime's order. */
function headerLines(headers) {
  let lines = "";
  for (const [name, value] of headers) lines += name + "\n" + value + "\n";
  return lines;
}

/** New headers from `name\nvalue\n` lines. */
function headersFrom(lines) {
  return appended(new Headers(), lines.split("\n"), 0);
}

/** `headers` with the `name`, `value` pairs of `parts` from index `i` on appended. */
function appended(headers, parts, i) {
  for (; i + 1 < parts.length; i += 2) {
    try {
      headers.append(parts[i], parts[i + 1]);
    } catch {
      // A header the runtime refuses is left out, never the whole request or answer.
    }
  }
  return headers;
}

/**
 * The headers core's `heads::edits` make of `original` (the runtime's own): a count of names,
 * those names deleted from a copy of `original`, then `name\nvalue\n` fields appended; or `*`
 * and every field, which start from no fields at all. A delete is never caught: the names come
 * from the runtime's own iteration or from core, and a delete that failed must stop the request
 * rather than let a field core removed go on.
 */
function edited(original, edits) {
  const parts = edits.split("\n");
  if (parts[0] === "*") return appended(new Headers(), parts, 1);
  const headers = new Headers(original);
  const deletes = Number(parts[0]);
  for (let i = 1; i <= deletes; i++) headers.delete(parts[i]);
  return appended(headers, parts, deletes + 1);
}

/** The request's head: `method\nurl\n` and then its header lines. */
export function request_head(request) {
  return request.method + "\n" + request.url + "\n" + headerLines(request.headers);
}

/**
 * The origin call: `method` exactly as received, the client's headers with core's `edits`
 * (which give the headers core built), the client's body stream handed on as is when
 * `forwardBody` (nothing is buffered), and redirects returned rather than followed. The
 * timeout bounds the wait for the answer's head (README, "Responses"): a timer that aborts the
 * fetch with a `TimeoutError` (the runtime then cancels the upstream request), cleared by
 * `settleIfLive` as soon as the head is in. Cleared, it is gone at once, where an
 * `AbortSignal.timeout` (which cannot be cleared) stays armed until `ORIGIN_TIMEOUT_MS` (30 s by
 * default) after the send, however early the answer came.
 */
function originFetch(url, method, edits, request, forwardBody, timeoutMs) {
  const headers = edited(request.headers, edits);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(timedOut()), timeoutMs);
  const fetched = fetch(url, {
    method,
    headers,
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
  return new Response(response.body, { status, headers: edited(response.headers, edits) });
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
