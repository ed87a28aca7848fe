// The JavaScript floor of `make bench` (part 1): a plain ES-module worker that forwards every
// request to ORIGIN_URL with the shared secret and checks nothing, as little code as a worker
// in front of an origin can be. A bench baseline only; never deploy it.

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("x-shared-secret", env.SHARED_SECRET);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
  },
};
