// A baseline of `make bench` (part 1): an idiomatic small API-key gateway in JavaScript, what one
// would write by hand instead of keygate. It takes `Authorization: Bearer <key>` (401 when absent
// or malformed), looks the key's record up in KV (binding API_KEYS) under the lowercase hex
// SHA-256 of the whole key, as keygate stores it, with KV's shortest edge cache (cacheTtl 30 s),
// refuses a missing, disabled or expired record with a 401, and forwards like passthrough.js with
// the shared secret. No log line, rate limit, scope, signing or isolate cache. A bench baseline
// only; never deploy it.

const BEARER = /^Bearer ([\x21-\x7e]+)$/;

const refuse = () =>
  new Response(JSON.stringify({ error: "unauthorized" }), {
    status: 401,
    headers: { "content-type": "application/json", "www-authenticate": "Bearer" },
  });

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export default {
  async fetch(request, env) {
    const match = BEARER.exec(request.headers.get("authorization") ?? "");
    if (!match) return refuse();
    const raw = await env.API_KEYS.get(await sha256Hex(match[1]), { cacheTtl: 30 });
    if (raw === null) return refuse();
    let record;
    try {
      record = JSON.parse(raw);
    } catch {
      return refuse();
    }
    const now = Date.now() / 1000;
    if (record.disabled || (record.expires_at != null && now >= record.expires_at)) {
      return refuse();
    }
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
