#!/usr/bin/env node
// A V8 CPU profile of a worker under `wrangler dev`, through the inspector it exposes
// (`--inspector-port`). Node 22, no npm packages (Node's global WebSocket and fetch).
//
//   node scripts/profile.mjs PORT OUT.cpuprofile [--duration SECS] [--interval-us N] [--top N]
//                           [--worker NAME]
//   node scripts/profile.mjs --report OUT.cpuprofile [--top N]     (print a saved profile again)
//
// It records from `Profiler.start` until stdin closes, SIGINT or SIGTERM arrives, or --duration
// seconds have passed (then stdin is ignored), writes the raw profile to OUT (it opens in Chrome
// DevTools: Performance, "Load profile") and the worker's bundled script to OUT.sources.json, and
// prints the top frames by self time and by total (inclusive) time, aggregated by function name
// and script (idle, program and garbage collector as rows of their own), then where the isolate
// was left for the longest (see "Reading a profile" below on why those gaps are kept apart).
// "profile: recording" on stdout means the profiler runs: a driver starts its load after that line.
//
// wrangler's inspector proxy lists one target per worker at /json (webSocketDebuggerUrl
// ws://HOST/WORKER_NAME), accepts one client at a time, and refuses a WebSocket upgrade without
// an allowed Origin (Node's WebSocket sends none), so this one sends Origin: http://127.0.0.1.
//
// Wasm frames carry the names of the wasm "name" section (`make worker-profile` keeps it; the
// production `make worker` strips it, and its frames show as wasm-function[N]). wasm-ld writes
// them demangled but with the legacy hash (`keygate_worker::headers::to_header_map::h…`), which is
// dropped here; mangled names are demangled (legacy `_ZN…E`, and roughly v0 `_R…`). Anonymous JS
// functions are named from the bundle's source (wasm-bindgen's `__wbg_*` import shims are object
// properties), and each JS frame names the module of the bundle it comes from.
import { writeFileSync, readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

function usage(msg) {
  if (msg) console.error(`profile: ${msg}`);
  console.error(
    "usage: node scripts/profile.mjs PORT OUT.cpuprofile [--duration SECS] [--interval-us N] [--top N] [--worker NAME]\n" +
      "       node scripts/profile.mjs --report FILE.cpuprofile [--top N]",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { intervalUs: 100, top: 20, duration: null, worker: null, report: null };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--duration") opts.duration = Number(value());
    else if (a === "--interval-us") opts.intervalUs = Number(value());
    else if (a === "--top") opts.top = Number(value());
    else if (a === "--worker") opts.worker = value();
    else if (a === "--report") opts.report = value();
    else if (a === "-h" || a === "--help") usage();
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else positional.push(a);
  }
  if (opts.report) return opts;
  if (positional.length !== 2) usage();
  opts.port = Number(positional[0]);
  opts.out = positional[1];
  if (!Number.isInteger(opts.port) || opts.port <= 0) usage(`bad port ${positional[0]}`);
  return opts;
}

// ── Rust demangling (simple) ─────────────────────────────────────────────────────────────────

const LEGACY_ESCAPES = {
  SP: "@", BP: "*", RF: "&", LT: "<", GT: ">", LP: "(", RP: ")", C: ",",
};

function unescapeLegacy(ident) {
  let s = ident.startsWith("_$") ? ident.slice(1) : ident;
  s = s.replace(/\$([A-Z]{1,2}|u[0-9a-f]{2,6})\$/g, (whole, code) => {
    if (code in LEGACY_ESCAPES) return LEGACY_ESCAPES[code];
    if (code.startsWith("u")) return String.fromCodePoint(parseInt(code.slice(1), 16));
    return whole;
  });
  return s.replace(/\.\./g, "::");
}

/** `_ZN3foo3bar17h0123456789abcdefE` → `foo::bar`; null when it is not a legacy Rust name. */
function demangleLegacy(name) {
  const m = /^_?_ZN/.exec(name);
  if (!m) return null;
  let i = m[0].length;
  const parts = [];
  while (i < name.length && name[i] !== "E") {
    const len = /^\d+/.exec(name.slice(i));
    if (!len) return null;
    i += len[0].length;
    parts.push(name.slice(i, i + Number(len[0])));
    i += Number(len[0]);
  }
  if (name[i] !== "E" || parts.length === 0) return null;
  if (parts.length > 1 && /^h[0-9a-f]{16}$/.test(parts[parts.length - 1])) parts.pop();
  return parts.map(unescapeLegacy).join("::");
}

/** A rough reading of a v0 name (`_R…`): the identifiers of its paths, in order, joined with
 * `::` (generic arguments and disambiguators dropped). Good enough to tell frames apart. */
function demangleV0(name) {
  if (!/^_?_R/.test(name)) return null;
  const s = name.replace(/^_?_R/, "");
  const parts = [];
  for (let i = 0; i < s.length; ) {
    // A crate root's disambiguator (`Cs<base62>_`) or a nested path's (`s<base62>_`).
    const dis = /^s[0-9A-Za-z]*_/.exec(s.slice(i));
    if (dis && (s[i - 1] === "C" || /[A-Z]/.test(s[i - 1] ?? ""))) {
      i += dis[0].length;
      continue;
    }
    const len = /^(u?)(\d+)(_?)/.exec(s.slice(i));
    if (len && Number(len[2]) > 0) {
      const start = i + len[0].length;
      const ident = s.slice(start, start + Number(len[2]));
      if (/^[A-Za-z_][A-Za-z0-9_$]*$/.test(ident) || len[1] === "u") {
        parts.push(ident);
        i = start + Number(len[2]);
        continue;
      }
    }
    i++;
  }
  return parts.length ? parts.join("::") : null;
}

/** A Rust name as a frame shows it, without its hash: wasm-ld writes the name section already
 * demangled but with the legacy hash (`a::b::h0123456789abcdef`); a mangled one is demangled. */
export function demangle(name) {
  const plain = demangleLegacy(name) ?? demangleV0(name) ?? name;
  // Also drop the crate disambiguators of v0-style paths in the names (`core[c5930c85a12de822]`).
  return plain.replace(/::h[0-9a-f]{16}(?=$|\s)/g, "").replace(/\[[0-9a-f]{16}\]/g, "");
}

// ── Reading a profile ────────────────────────────────────────────────────────────────────────
//
// Time is counted from samples, not from wall-clock gaps. V8 samples the isolate only while a
// thread has it entered; workerd leaves it between events (waiting for the origin, KV, the
// client), so under load the deltas hold gaps of tens of milliseconds, which DevTools' own
// views charge to whichever frame was sampled last before the gap. Here a sample weighs the time
// to the next one capped at CAP times the median interval; what is above the cap is "outside the
// isolate", reported apart, with the frames sampled right before the longest such gaps.

const SPECIAL = new Set(["(root)", "(program)", "(idle)", "(garbage collector)"]);
const CAP = 2;

/** The script a frame belongs to, short: wasm, a file's base name, or "native" for V8/workerd
 * built-ins and API callbacks (no url). */
function shortUrl(url) {
  if (!url) return "";
  if (url.startsWith("wasm://")) return "wasm";
  const path = url.replace(/^file:\/\//, "").split(/[?#]/)[0];
  const parts = path.split("/").filter(Boolean);
  return parts.slice(-2).join("/") || url;
}

/** A name for an anonymous JS function from its source: the property or variable it is
 * assigned to (`__wbg_log_1a2b: function(arg0) {`, `const f = (x) => …`), else the start of
 * its line. */
function nameFromSource(sources, cf) {
  const text = sources?.[cf.scriptId];
  if (!text || cf.lineNumber < 0) return null;
  const line = text.split("\n", cf.lineNumber + 1)[cf.lineNumber] ?? "";
  // wrangler's bundle wraps functions as `/* @__PURE__ */ __name(function(…) {…}, "name")`.
  const before = line
    .slice(0, Math.max(0, cf.columnNumber) + 1)
    .replace(/\/\*.*?\*\//g, "")
    .replace(/__name\(\s*/g, "");
  const m =
    /([A-Za-z_$][\w$]*)\s*[:=]\s*(?:async\s+)?(?:function\b[^(]*)?\(?[^()]*\)?\s*(?:=>)?\s*\{?\s*$/.exec(before) ??
    /([A-Za-z_$][\w$]*)\s*\([^()]*\)\s*\{\s*$/.exec(before);
  if (m) return m[1];
  const snippet = line.trim().replace(/\s+/g, " ");
  return snippet ? `(anonymous: ${snippet.length > 60 ? `${snippet.slice(0, 57)}...` : snippet})` : null;
}

/** The module a line of a bundled script comes from: esbuild (wrangler's bundler) starts each
 * module with a `// path/to/module.js` comment; its last two path parts, or null. */
const modulesOf = new Map();
function moduleAt(sources, cf) {
  const text = sources?.[cf.scriptId];
  if (!text || cf.lineNumber < 0) return null;
  if (!modulesOf.has(text)) {
    const marks = [];
    text.split("\n").forEach((l, i) => {
      const m = /^\/\/ (\S+\.[cm]?[jt]s)$/.exec(l);
      if (m) marks.push([i, m[1].split("/").slice(-2).join("/")]);
    });
    modulesOf.set(text, marks);
  }
  let found = null;
  for (const [line, name] of modulesOf.get(text)) {
    if (line > cf.lineNumber) break;
    found = name;
  }
  return found;
}

/** How the report names a profile node: function name (demangled, or found in the source) and
 * where it lives. A native callback without a name is told apart by its caller. */
function frameLabel(node, parentNode, sources) {
  const cf = node.callFrame;
  const raw = cf.functionName;
  if (SPECIAL.has(raw)) return { key: raw, name: raw, where: "" };
  const wasm = cf.url?.startsWith("wasm://");
  const rusty = wasm || /^_?_[ZR]|::h[0-9a-f]{16}(?=$|\s)/.test(raw);
  let name = raw ? (rusty ? demangle(raw) : raw) : null;
  let where = cf.url ? shortUrl(cf.url) : "native";
  if (!name && cf.url && !wasm) name = nameFromSource(sources, cf);
  if (!name && !cf.url && parentNode) {
    const caller = frameLabel(parentNode, null, sources);
    where = `native, called by ${caller.name}`;
  }
  name ??= "(anonymous)";
  // JS frames keep their line, so that two anonymous functions of one file stay apart; a line of
  // wrangler's bundle also names the module it comes from.
  let line = "";
  if (cf.url && !wasm && cf.lineNumber >= 0) {
    const module = moduleAt(sources, cf);
    line = module ? `:${cf.lineNumber + 1} (${module})` : `:${cf.lineNumber + 1}`;
  }
  return { key: `${name}\u0000${where}${line}`, name, where: `${where}${line}` };
}

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x) && x >= 0).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}

export function analyse(profile, sources = null) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = new Map(
    profile.nodes.map((n) => [n.id, frameLabel(n, byId.get(parent.get(n.id)), sources)]),
  );
  const { samples = [], timeDeltas = [] } = profile;
  // timeDeltas[i] is the time from sample i-1 to sample i: sample i lasts timeDeltas[i+1].
  const interval = median(timeDeltas.slice(1));
  const cap = CAP * interval;
  const self = new Map();
  const total = new Map();
  const before = new Map();
  const info = new Map();
  const add = (map, key, us) => {
    const e = map.get(key) ?? { us: 0, n: 0 };
    e.us += us;
    e.n += 1;
    map.set(key, e);
  };
  let all = 0;
  let idle = 0;
  let outside = 0;
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i];
    const next = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : interval;
    const us = Math.min(Math.max(next, 0), cap);
    const leaf = label.get(id);
    if (!leaf) continue;
    all += us;
    if (next > cap) {
      outside += next - cap;
      info.set(leaf.key, leaf);
      add(before, leaf.key, next - cap);
    }
    if (leaf.name === "(idle)") idle += us;
    info.set(leaf.key, leaf);
    add(self, leaf.key, us);
    // Inclusive: each distinct frame on the stack once (recursion counts once).
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const k = label.get(at);
      if (!k || k.name === "(root)" || seen.has(k.key)) continue;
      seen.add(k.key);
      info.set(k.key, k);
      add(total, k.key, us);
    }
  }
  // Outside the isolate: everything the samples do not cover (the gaps above, and the time
  // before the first sample and after the last).
  const wall = (profile.endTime ?? 0) - (profile.startTime ?? 0);
  if (wall > all) outside = wall - all;
  return { self, total, before, info, all, idle, outside, wall, interval, samples: samples.length };
}

function table(title, rows, stats, top, { share = true } = {}) {
  const { all, idle, info } = stats;
  const busy = all - idle;
  const lines = [title];
  lines.push(
    share
      ? `${"ms".padStart(9)} ${"%all".padStart(6)} ${"%busy".padStart(6)} ${"samples".padStart(8)}  function  [script]`
      : `${"ms".padStart(9)} ${"gaps".padStart(8)}  function sampled last before the gap  [script]`,
  );
  const sorted = [...rows.entries()].sort((a, b) => b[1].us - a[1].us).slice(0, top);
  for (const [key, { us, n }] of sorted) {
    const { name, where } = info.get(key);
    const label = name.length > 110 ? `${name.slice(0, 107)}...` : name;
    const frame = `${label}${where ? `  [${where}]` : ""}`;
    if (!share) {
      lines.push(`${(us / 1000).toFixed(1).padStart(9)} ${String(n).padStart(8)}  ${frame}`);
      continue;
    }
    const pctAll = all ? (100 * us) / all : 0;
    const pctBusy = busy && name !== "(idle)" ? ((100 * us) / busy).toFixed(1) : "-";
    lines.push(
      `${(us / 1000).toFixed(1).padStart(9)} ${pctAll.toFixed(1).padStart(6)} ${String(pctBusy).padStart(6)} ${String(n).padStart(8)}  ${frame}`,
    );
  }
  return lines.join("\n");
}

/** Sums self time by kind of code: wasm, JS, native callbacks, V8's own rows. */
function byKind(stats) {
  const kinds = new Map();
  for (const [key, { us }] of stats.self) {
    const { name, where } = stats.info.get(key);
    const kind = SPECIAL.has(name)
      ? name
      : where === "wasm"
        ? "wasm (Rust, and wasm-bindgen's wasm side)"
        : where.startsWith("native")
          ? "native (V8 built-ins, workerd API callbacks: fetch, Headers, console.log …)"
          : "JS (wasm-bindgen glue, the panic guard, wrangler's middleware)";
    kinds.set(kind, (kinds.get(kind) ?? 0) + us);
  }
  const busy = stats.all - stats.idle;
  return [...kinds.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(
      ([k, us]) =>
        `  ${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / stats.all).toFixed(1).padStart(5)}% of all` +
        (k === "(idle)" ? "             " : ` ${((100 * us) / busy).toFixed(1).padStart(5)}% of busy`) +
        `  ${k}`,
    )
    .join("\n");
}

export function report(profile, top = 20, sources = null) {
  const stats = analyse(profile, sources);
  const f = (us) => (us / 1000).toFixed(0);
  return [
    `profile: ${stats.samples} samples, median interval ${stats.interval} µs; ${f(stats.wall)} ms wall, ` +
      `${f(stats.all)} ms sampled (${f(stats.all - stats.idle)} ms not idle), ` +
      `${f(stats.outside)} ms outside the isolate (no samples, or gaps over ${CAP}x the interval)`,
    "ms: sampled time (a sample lasts until the next, at most " +
      `${CAP}x the interval); %all of sampled time; %busy of sampled time that is not (idle)`,
    "",
    "by kind (self time):",
    byKind(stats),
    "",
    table(`top ${top} frames by self time:`, stats.self, stats, top),
    "",
    table(`top ${top} frames by total (inclusive) time:`, stats.total, stats, top),
    "",
    table(
      "where the isolate was left (time outside it, by the frame sampled last before each gap):",
      stats.before,
      stats,
      Math.min(top, 8),
      { share: false },
    ),
  ].join("\n");
}

// ── Recording ────────────────────────────────────────────────────────────────────────────────

async function findTarget(port, worker) {
  let list;
  let lastError;
  for (const path of ["/json", "/json/list"]) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      if (r.ok) {
        list = await r.json();
        if (Array.isArray(list) && list.length) break;
      }
    } catch (e) {
      lastError = e;
    }
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error(`no inspector target at 127.0.0.1:${port}/json${lastError ? ` (${lastError.message})` : ""}`);
  }
  const withWs = list.filter((t) => t.webSocketDebuggerUrl);
  const pick =
    (worker && withWs.find((t) => t.webSocketDebuggerUrl.endsWith(`/${worker}`) || t.title?.endsWith(worker))) ||
    (withWs.length === 1 ? withWs[0] : withWs.find((t) => !/failing/.test(t.webSocketDebuggerUrl)));
  if (!pick) throw new Error(`no matching target in ${JSON.stringify(list)}`);
  return pick;
}

function connect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { origin: "http://127.0.0.1" } });
    let nextId = 1;
    const waiting = new Map();
    ws.onopen = () =>
      resolve({
        send(method, params = {}) {
          const id = nextId++;
          ws.send(JSON.stringify({ id, method, params }));
          return new Promise((ok, fail) => waiting.set(id, { ok, fail, method }));
        },
        close: () => ws.close(),
      });
    ws.onerror = (e) => reject(new Error(`inspector WebSocket ${url}: ${e.message ?? "error"}`));
    ws.onclose = (e) => {
      for (const { fail, method } of waiting.values()) {
        fail(new Error(`inspector closed (${e.code} ${e.reason}) while waiting for ${method}`));
      }
      waiting.clear();
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(typeof m.data === "string" ? m.data : Buffer.from(m.data).toString());
      const w = msg.id !== undefined && waiting.get(msg.id);
      if (!w) return;
      waiting.delete(msg.id);
      if (msg.error) w.fail(new Error(`${w.method}: ${JSON.stringify(msg.error)}`));
      else w.ok(msg.result);
    };
  });
}

function untilStopped(duration) {
  return new Promise((resolve) => {
    const done = (why) => resolve(why);
    process.once("SIGINT", () => done("SIGINT"));
    process.once("SIGTERM", () => done("SIGTERM"));
    if (duration !== null) {
      setTimeout(() => done(`${duration} s`), duration * 1000);
    } else {
      process.stdin.on("data", () => {});
      process.stdin.once("end", () => done("stdin closed"));
      process.stdin.once("close", () => done("stdin closed"));
      process.stdin.resume();
    }
  });
}

async function record(opts) {
  const target = await findTarget(opts.port, opts.worker);
  const session = await connect(target.webSocketDebuggerUrl);
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: opts.intervalUs });
  await session.send("Profiler.start");
  const started = Date.now();
  console.log(`profile: recording ${target.webSocketDebuggerUrl} every ${opts.intervalUs} µs`);
  const why = await untilStopped(opts.duration);
  const { profile } = await session.send("Profiler.stop");
  await session.send("Profiler.disable").catch(() => {});
  const sources = await scriptSources(session, profile);
  session.close();
  writeFileSync(opts.out, JSON.stringify(profile));
  writeFileSync(`${opts.out}.sources.json`, JSON.stringify(sources));
  console.log(`profile: stopped (${why}) after ${((Date.now() - started) / 1000).toFixed(1)} s; wrote ${opts.out}`);
  console.log(report(profile, opts.top, sources));
}

/** The source of each JS script with anonymous frames in the profile (the worker's bundle), by
 * scriptId, to name those frames; read after the profile, with the debugger on only for that.
 * Kept beside the profile (OUT.sources.json) for `--report`. */
async function scriptSources(session, profile) {
  const ids = new Set(
    profile.nodes
      .filter((n) => !n.callFrame.functionName && n.callFrame.url && !n.callFrame.url.startsWith("wasm://"))
      .map((n) => n.callFrame.scriptId),
  );
  const sources = {};
  if (ids.size === 0) return sources;
  try {
    await session.send("Debugger.enable");
    for (const scriptId of ids) {
      const { scriptSource } = await session.send("Debugger.getScriptSource", { scriptId });
      sources[scriptId] = scriptSource;
    }
  } catch (e) {
    console.error(`profile: cannot read the worker's script sources (${e.message}); anonymous JS frames stay unnamed`);
  } finally {
    await session.send("Debugger.disable").catch(() => {});
  }
  return sources;
}

function readSources(file) {
  try {
    return JSON.parse(readFileSync(`${file}.sources.json`, "utf8"));
  } catch {
    return null;
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  try {
    if (opts.report) {
      const profile = JSON.parse(readFileSync(opts.report, "utf8"));
      console.log(report(profile, opts.top, readSources(opts.report)));
    } else {
      await record(opts);
    }
    process.exit(0);
  } catch (e) {
    console.error(`profile: ${e.message}`);
    process.exit(1);
  }
}

// Run as a script (not when imported for its functions: analyse, report, demangle).
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
