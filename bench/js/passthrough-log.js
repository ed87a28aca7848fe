// A baseline of `make bench` (part 1): the JavaScript passthrough (passthrough.js) plus exactly one
// request log line per request, shaped like keygate's (the fields, in the order, of
// keygate_core::telemetry::RequestEvent::log_line, with similar values). Like keygate, it writes
// the line under ctx.waitUntil, after the answer has been returned. It shows what forwarding plus
// one log line costs in JavaScript, the floor for keygate with its default REQUEST_LOG. A bench
// baseline only; never deploy it.

const ms = (v) => Math.round(v * 10) / 10;

export default {
  async fetch(request, env, ctx) {
    const started = Date.now();
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("x-shared-secret", env.SHARED_SECRET);
    const originStarted = Date.now();
    const response = await fetch(env.ORIGIN_URL + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
    const done = Date.now();
    const line = {
      event: "keygate.request",
      ts: new Date(started).toISOString(),
      request_id: crypto.randomUUID(),
      method: request.method,
      path: url.pathname,
      ...(url.search ? { query: url.search.slice(1) } : {}),
      decision: "accepted",
      key_id: "4e93e9dbf651",
      consumer_id: "bench",
      status: response.status,
      origin_status: response.status,
      gateway_ms: ms(originStarted - started),
      origin_ms: ms(done - originStarted),
      total_ms: ms(done - started),
      colo: request.cf?.colo ?? null,
      cache: "hit",
    };
    ctx.waitUntil(Promise.resolve().then(() => console.log(JSON.stringify(line))));
    return response;
  },
};
