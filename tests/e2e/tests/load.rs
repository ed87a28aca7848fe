//! Load with nothing lost: 20,000 mixed, interleaved requests at concurrency 64 through one
//! `wrangler dev` (key cache at its shipped default) in front of the recording origin, loopback
//! only. Every valid request must reach the origin exactly once, with the secret and its own
//! key's identity headers and no `Authorization`; every refused one must get its contract status
//! and never reach the origin; no 5xx and no transport error at all. Throughput and latency are
//! printed, never asserted.
//!
//! `LOAD_REQUESTS` and `LOAD_CONCURRENCY` override the counts (for local experiments).

use keygate_e2e::*;
use libtest_mimic::Arguments;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REQUESTS: usize = 20_000;
const CONCURRENCY: usize = 64;
/// The base path of `ORIGIN_URL`, so every forwarded target is joined under it.
const BASE: &str = "/up";
/// How many examples of each kind of failure the report shows.
const EXAMPLES: usize = 8;

/// A private copy of the built worker (the JS entry files of `src/` and `build/`), whose entry this
/// test's instance runs. `wrangler dev` watches its script and reloads when it changes; on a shared
/// machine another `make worker` may rewrite `build/` mid-run, and a reload drops or replays the
/// requests in flight (seen once: requests lost, one delivered to the origin twice, then a torn
/// wasm that would not compile). The copy is retried until no source file changed while it was
/// taken. It keeps the layout (`src/entry.js` imports `../build/index.js`).
fn snapshot_worker() -> PathBuf {
    let root = repo_root();
    let dst = root.join("target/e2e/load-worker");
    let files = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e} (run `make worker` first)", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_file())
            .collect()
    };
    let stamp = |paths: &[PathBuf]| -> Vec<(u64, std::time::SystemTime)> {
        paths
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).expect("metadata");
                (m.len(), m.modified().expect("mtime"))
            })
            .collect()
    };
    for _attempt in 0..10 {
        let entries: Vec<PathBuf> = files(&root.join("src"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "js"))
            .collect();
        let build = files(&root.join("build"));
        let mut all = entries.clone();
        all.extend(build.iter().cloned());
        let before = stamp(&all);
        let _ = std::fs::remove_dir_all(&dst);
        std::fs::create_dir_all(dst.join("build")).expect("snapshot dir");
        std::fs::create_dir_all(dst.join("src")).expect("snapshot dir");
        for (dir, paths) in [("src", &entries), ("build", &build)] {
            for from in paths {
                let to = dst.join(dir).join(from.file_name().expect("name"));
                std::fs::copy(from, &to).expect("copy worker build");
            }
        }
        let wasm = std::fs::read(dst.join("build/index_bg.wasm")).unwrap_or_default();
        if stamp(&all) == before && wasm.starts_with(b"\0asm") {
            return dst.join("src/entry.js");
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    panic!("build/ kept changing while it was copied");
}

/// What a request carries, and so what it must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Class {
    /// A stored key: the origin's echo.
    Valid,
    /// A well-formed key that was never stored, from a small set (the negative cache's path).
    Unknown,
    /// A well-formed, never-stored key used once only (a KV read every time).
    UnknownFresh,
    /// A stored key with its checksum broken (refused without a KV read).
    BadChecksum,
    /// Wrong scheme, bad characters, two `Authorization` headers, empty or oversized token.
    Malformed,
    /// No `Authorization` at all.
    NoKey,
}

impl Class {
    fn label(self) -> &'static str {
        match self {
            Class::Valid => "valid",
            Class::Unknown => "unknown",
            Class::UnknownFresh => "unknown-fresh",
            Class::BadChecksum => "bad-checksum",
            Class::Malformed => "malformed",
            Class::NoKey => "no-key",
        }
    }

    /// The status the response contract gives this class.
    fn status(self) -> u16 {
        match self {
            Class::Valid => 200,
            Class::Malformed => 400,
            _ => 401,
        }
    }
}

/// Twenty slots, drawn in a scrambled order: 12 valid, 8 refused of five kinds.
const MIX: [Class; 20] = [
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Valid,
    Class::Unknown,
    Class::Unknown,
    Class::UnknownFresh,
    Class::BadChecksum,
    Class::Malformed,
    Class::Malformed,
    Class::NoKey,
    Class::NoKey,
];

/// splitmix64: a fixed, well-spread scramble of the request index.
fn mix(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn class_of(i: usize) -> Class {
    MIX[(mix(i) % MIX.len() as u64) as usize]
}

/// A stored key and the identity the origin must see with it.
struct Issued {
    key: String,
    consumer: &'static str,
    consumer_name: Option<&'static str>,
    key_id: String,
}

/// Everything the senders need: keys by class.
struct Keys {
    valid: Vec<Issued>,
    unknown: Vec<String>,
    bad_checksum: Vec<String>,
}

/// Five keys of four consumers (acme has two; initech has no display name), made with the CLI.
fn issue_keys(dev: &Dev) -> Keys {
    let specs: [(&str, Option<&str>); 5] = [
        ("acme", Some("Acme Corp")),
        ("acme", Some("Acme Corp")),
        ("globex", Some("Globex")),
        ("initech", None),
        ("umbrella", Some("Umbrella Corp")),
    ];
    // One after another: concurrent `wrangler kv` runs on one local store fail now and then
    // ("internal error"), and on two busy cores they gain little.
    let valid: Vec<Issued> = specs
        .iter()
        .enumerate()
        .map(|(n, &(consumer, consumer_name))| {
            let name = format!("load-{n}");
            let mut args = vec!["--name", &name, "--consumer", consumer];
            if let Some(cn) = consumer_name {
                args.extend(["--consumer-name", cn]);
            }
            let key = dev.create_key(&args);
            let key_id = keygate_core::ApiKey::new(key.as_str())
                .hash()
                .id()
                .to_owned();
            Issued {
                key,
                consumer,
                consumer_name,
                key_id,
            }
        })
        .collect();
    let mut unknown: Vec<String> = (0..4)
        .map(|n| {
            let key = keygate_core::keyformat::assemble(&format!("loadunknown{n:032}"));
            remember_key(&key);
            key
        })
        .collect();
    // A key without the `kg_` prefix is looked up as it is (imported keys).
    unknown.push("legacy-never-imported-4f2a9c".to_owned());
    remember_key(&unknown[4]);
    // Real stored keys with the last checksum character changed.
    let bad_checksum = valid
        .iter()
        .map(|v| {
            let mut k = v.key.clone();
            let last = k.pop().expect("non-empty key");
            k.push(if last == 'A' { 'B' } else { 'A' });
            remember_key(&k);
            k
        })
        .collect();
    Keys {
        valid,
        unknown,
        bad_checksum,
    }
}

/// A never-stored, well-formed key of its own for request `i`.
fn fresh_unknown(i: usize) -> String {
    keygate_core::keyformat::assemble(&format!("fresh{i:038}"))
}

/// The client request id of request `i`; the gateway keeps it and forwards it.
fn request_id(i: usize) -> String {
    format!("load-{i:06}")
}

/// The path the client asks for; the origin must see it under [`BASE`].
fn path_of(i: usize, class: Class) -> String {
    format!("/load/{}/{i}?n={i}", class.label())
}

/// Valid requests: every third one is a POST with a body of its own.
fn is_post(i: usize) -> bool {
    i % 3 == 0
}

fn body_of(i: usize) -> String {
    format!("payload of request {i}: {}", "x".repeat(i % 97))
}

/// Which valid key request `i` uses.
fn valid_key(keys: &Keys, i: usize) -> &Issued {
    &keys.valid[(mix(i) >> 32) as usize % keys.valid.len()]
}

/// One request as the client saw it.
struct Outcome {
    i: usize,
    class: Class,
    /// `None` when the request failed in transport (the error is in `problem`).
    status: Option<u16>,
    latency: Duration,
    transport_error: Option<String>,
    /// What was wrong with the answer, if anything.
    mismatch: Option<String>,
}

/// Builds request `i`, sends it, and checks the answer against the contract.
async fn one(
    client: &reqwest::Client,
    base: &str,
    keys: &Keys,
    secrets: &[String],
    i: usize,
) -> Outcome {
    let class = class_of(i);
    let rid = request_id(i);
    let url = format!("{base}{}", path_of(i, class));
    let mut req = if class == Class::Valid && is_post(i) {
        client.post(&url).body(body_of(i))
    } else {
        client.get(&url)
    };
    req = req.header("x-request-id", &rid);
    match class {
        Class::Valid => req = req.header("authorization", bearer(&valid_key(keys, i).key)),
        Class::Unknown => {
            req = req.header(
                "authorization",
                bearer(&keys.unknown[i % keys.unknown.len()]),
            )
        }
        Class::UnknownFresh => req = req.header("authorization", bearer(&fresh_unknown(i))),
        Class::BadChecksum => {
            let k = &keys.bad_checksum[i % keys.bad_checksum.len()];
            req = req.header("authorization", bearer(k));
        }
        Class::Malformed => {
            req = match i % 5 {
                0 => req.header("authorization", "Basic dXNlcjpwYXNz"),
                1 => req.header("authorization", "Bearer a;b"),
                // A valid key, twice: still refused, and never forwarded.
                2 => {
                    let k = &valid_key(keys, i).key;
                    req.header("authorization", bearer(k))
                        .header("authorization", bearer(k))
                }
                3 => req.header("authorization", "Bearer "),
                _ => req.header("authorization", bearer(&"a".repeat(4097))),
            }
        }
        Class::NoKey => {}
    }
    let started = Instant::now();
    let sent = async {
        let r = req.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, body))
    }
    .await;
    let latency = started.elapsed();
    let (status, headers, body) = match sent {
        Ok(x) => x,
        Err(e) => {
            return Outcome {
                i,
                class,
                status: None,
                latency,
                transport_error: Some(format!(
                    "{e} (timeout: {}, connect: {}, source: {:?})",
                    e.is_timeout(),
                    e.is_connect(),
                    std::error::Error::source(&e)
                )),
                mismatch: None,
            }
        }
    };
    let mismatch = check_answer(class, i, keys, secrets, status, &headers, &body).err();
    Outcome {
        i,
        class,
        status: Some(status),
        latency,
        transport_error: None,
        mismatch,
    }
}

/// Checks one answer: the origin's echo of this very request, or the contract's refusal.
fn check_answer(
    class: Class,
    i: usize,
    keys: &Keys,
    secrets: &[String],
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let rid = request_id(i);
    let fail = |what: String| Err(format!("{what}; status {status}, body {text:.300}"));
    let mut all = String::new();
    for (n, v) in headers {
        all.push_str(&format!("{n}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    all.push_str(&text);
    if let Some(s) = secrets.iter().find(|s| all.contains(s.as_str())) {
        return fail(format!("answer leaks a secret ({}…)", &s[..6.min(s.len())]));
    }
    if class == Class::UnknownFresh && all.contains(&fresh_unknown(i)) {
        return fail("answer leaks the key it was sent".into());
    }
    if status != class.status() {
        return fail(format!("expected {}", class.status()));
    }
    if h("x-request-id") != Some(rid.as_str()) {
        return fail(format!("x-request-id {:?}", h("x-request-id")));
    }
    if class == Class::Valid {
        let echo: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| format!("echo is not JSON: {e}: {text:.300}"))?;
        let want_target = format!("{BASE}{}", path_of(i, class));
        if echo["target"] != want_target.as_str() {
            return fail(format!("echo of another target, want {want_target}"));
        }
        let want_method = if is_post(i) { "POST" } else { "GET" };
        if echo["method"] != want_method {
            return fail(format!("echo method, want {want_method}"));
        }
        let echoed = |name: &str| -> Vec<String> {
            echo["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p[0] == name)
                .filter_map(|p| p[1].as_str().map(str::to_owned))
                .collect()
        };
        let issued = valid_key(keys, i);
        if echoed("x-request-id") != [rid.as_str()]
            || echoed("x-consumer-id") != [issued.consumer]
            || echoed("x-shared-secret") != ["<verified>"]
        {
            return fail("echoed headers are not this request's".into());
        }
        return Ok(());
    }
    if h("content-type") != Some("application/problem+json")
        || h("cache-control") != Some("no-store")
    {
        return fail("not a problem+json, no-store answer".into());
    }
    let p: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("problem is not JSON: {e}: {text:.300}"))?;
    if p["status"] != status || p["request_id"] != rid.as_str() {
        return fail("problem status or request_id".into());
    }
    let challenge = h("www-authenticate").unwrap_or("");
    let ok = match class {
        Class::NoKey => challenge == "Bearer realm=\"keygate\"",
        Class::Malformed => {
            challenge.starts_with("Bearer realm=\"keygate\"")
                && challenge.contains("error=\"invalid_request\"")
        }
        _ => {
            challenge.starts_with("Bearer realm=\"keygate\"")
                && challenge.contains("error=\"invalid_token\"")
                && p["type"] == "urn:keygate:problem:invalid_token"
        }
    };
    if !ok {
        return fail(format!(
            "challenge {challenge:?} or problem type {}",
            p["type"]
        ));
    }
    Ok(())
}

/// Sends `n` requests from `concurrency` tasks sharing one pooled keep-alive client.
fn drive(dev: &Dev, keys: &Arc<Keys>, n: usize, concurrency: usize) -> (Vec<Outcome>, Duration) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let secrets: Arc<Vec<String>> = Arc::new(secrets());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let outcomes = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (client, base, keys, secrets, next) = (
                client.clone(),
                dev.base.clone(),
                keys.clone(),
                secrets.clone(),
                next.clone(),
            );
            tasks.spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return out;
                    }
                    out.push(one(&client, &base, &keys, &secrets, i).await);
                }
            });
        }
        let mut all = Vec::with_capacity(n);
        while let Some(done) = tasks.join_next().await {
            all.extend(done.expect("sender task"));
        }
        all
    });
    (outcomes, started.elapsed())
}

/// What the origin received, matched against what was sent.
#[derive(Default)]
struct OriginTally {
    received: usize,
    /// Valid requests the origin never saw.
    lost: Vec<usize>,
    /// Request ids seen more than once, with their count.
    duplicates: Vec<(usize, usize)>,
    /// Requests that are not valid ones (refused classes, or no recognisable id).
    extras: Vec<String>,
    /// Valid requests whose forwarded form was wrong.
    mismatched: Vec<String>,
}

fn tally_origin(origin: &TestOrigin, keys: &Keys, n: usize) -> OriginTally {
    // The gateway answers after the origin has; a late duplicate would arrive after the client
    // got its answer, so look again after a pause and take the later view.
    let first = origin.received().len();
    std::thread::sleep(Duration::from_secs(1));
    let received = origin.received();
    if received.len() != first {
        eprintln!(
            "origin: {} more requests arrived after the last answer",
            received.len() - first
        );
    }
    let mut t = OriginTally {
        received: received.len(),
        ..OriginTally::default()
    };
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for r in &received {
        let id = r
            .one("x-request-id")
            .and_then(|v| v.strip_prefix("load-"))
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&i| i < n);
        let Some(i) = id else {
            t.extras.push(format!(
                "{} {} (x-request-id {:?})",
                r.method,
                r.target,
                r.all("x-request-id")
            ));
            continue;
        };
        *seen.entry(i).or_default() += 1;
        let class = class_of(i);
        if class != Class::Valid {
            t.extras
                .push(format!("{} request {i} reached the origin", class.label()));
            continue;
        }
        if let Err(e) = check_forwarded(r, keys, i) {
            t.mismatched.push(format!("request {i}: {e}"));
        }
    }
    for i in (0..n).filter(|&i| class_of(i) == Class::Valid) {
        match seen.get(&i) {
            None => t.lost.push(i),
            Some(&c) if c > 1 => t.duplicates.push((i, c)),
            _ => {}
        }
    }
    t
}

/// The forwarded form of valid request `i`: its target, method and body, the secret once, its
/// own key's identity headers once each, and no credential.
fn check_forwarded(r: &keygate_origin::Received, keys: &Keys, i: usize) -> Result<(), String> {
    let issued = valid_key(keys, i);
    let want_target = format!("{BASE}{}", path_of(i, Class::Valid));
    if r.target != want_target {
        return Err(format!("target {} (want {want_target})", r.target));
    }
    let (method, body) = if is_post(i) {
        ("POST", body_of(i))
    } else {
        ("GET", String::new())
    };
    if r.method != method {
        return Err(format!("method {}", r.method));
    }
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
    if r.body_len != body.len() as u64 || r.body_sha256 != sha || !r.body_complete {
        return Err(format!("body {} bytes, not its own", r.body_len));
    }
    let want_name: Vec<&str> = issued.consumer_name.into_iter().collect();
    let rid = request_id(i);
    let checks: [(&str, Vec<&str>); 8] = [
        ("x-shared-secret", vec![SECRET]),
        ("x-consumer-id", vec![issued.consumer]),
        ("x-consumer-name", want_name),
        ("x-key-id", vec![issued.key_id.as_str()]),
        ("x-consumer-anonymous", vec![]),
        ("authorization", vec![]),
        ("x-forwarded-proto", vec!["http"]),
        ("x-request-id", vec![rid.as_str()]),
    ];
    for (name, want) in checks {
        let got = r.all(name);
        if got != want {
            let shown: Vec<&str> = if name == "x-shared-secret" {
                got.iter()
                    .map(|v| if *v == SECRET { "<SECRET>" } else { "<other>" })
                    .collect()
            } else {
                got
            };
            return Err(format!("{name}: {shown:?}"));
        }
    }
    if r.all("x-forwarded-for").len() != 1 {
        return Err(format!("x-forwarded-for: {:?}", r.all("x-forwarded-for")));
    }
    Ok(())
}

/// The once-only keys are too many for the scan list: look for their common prefix instead, and
/// for their full hashes among the log's long hex runs.
fn assert_no_once_only_keys(logs: &str, n: usize) {
    let prefix = &fresh_unknown(0)[..8];
    assert!(
        !logs.contains(prefix),
        "a once-only key in the wrangler log"
    );
    let hashes: std::collections::HashSet<String> = (0..n)
        .filter(|&i| class_of(i) == Class::UnknownFresh)
        .map(|i| {
            keygate_core::ApiKey::new(fresh_unknown(i).as_str())
                .hash()
                .as_kv_key()
                .to_owned()
        })
        .collect();
    let leaked = logs
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|run| run.len() >= 64)
        .any(|run| hashes.iter().any(|h| run.contains(h.as_str())));
    assert!(!leaked, "a once-only key's full hash in the wrangler log");
}

/// CPU time (user + system) this process has used: the client and the recording origin.
fn own_cpu() -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given; no other memory is touched.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx].as_secs_f64() * 1e3
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The one test: it starts its own instance, so it has no shared context.
fn twenty_thousand_mixed_requests_reach_the_origin_exactly_once_or_get_their_refusal(_: &()) {
    let n = env_or("LOAD_REQUESTS", REQUESTS);
    let concurrency = env_or("LOAD_CONCURRENCY", CONCURRENCY);
    let setup = Instant::now();
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    // No RATE_LIMIT_TIERS, no DEFAULT_TIER and no quotas: nothing may refuse a valid key. The key
    // cache stays at its default (KEY_CACHE_TTL_SECS unset = 30 s): the production path.
    let entry = snapshot_worker();
    let dev = Dev::start_setup(
        "load",
        &[
            ("ORIGIN_URL", &format!("http://{}{BASE}", origin.addr())),
            ("SHARED_SECRET", SECRET),
        ],
        Setup {
            main: Some(&entry),
            ..Setup::default()
        },
    );
    let started_in = setup.elapsed();
    let keys = Arc::new(issue_keys(&dev));
    eprintln!(
        "load: wrangler dev up in {:.1} s, {} keys issued in {:.1} s more",
        started_in.as_secs_f64(),
        keys.valid.len(),
        (setup.elapsed() - started_in).as_secs_f64()
    );

    let cpu_before = own_cpu();
    let (outcomes, wall) = drive(&dev, &keys, n, concurrency);
    let own_cpu_secs = (own_cpu() - cpu_before).as_secs_f64();
    assert_eq!(outcomes.len(), n, "every request has an outcome");
    let origin_tally = tally_origin(&origin, &keys, n);

    // ---- figures ----
    let mut sent: BTreeMap<Class, usize> = BTreeMap::new();
    let mut statuses: BTreeMap<(Class, u16), usize> = BTreeMap::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(n);
    let mut valid_latencies: Vec<Duration> = Vec::new();
    let mut transport: Vec<String> = Vec::new();
    let mut client_mismatch: Vec<String> = Vec::new();
    let mut five_xx = 0;
    for o in &outcomes {
        *sent.entry(o.class).or_default() += 1;
        latencies.push(o.latency);
        if o.class == Class::Valid {
            valid_latencies.push(o.latency);
        }
        if let Some(s) = o.status {
            *statuses.entry((o.class, s)).or_default() += 1;
            if s >= 500 {
                five_xx += 1;
            }
        }
        if let Some(e) = &o.transport_error {
            transport.push(format!("request {} ({}): {e}", o.i, o.class.label()));
        }
        if let Some(m) = &o.mismatch {
            client_mismatch.push(format!("request {} ({}): {m}", o.i, o.class.label()));
        }
    }
    latencies.sort();
    valid_latencies.sort();
    let valid_sent = sent.get(&Class::Valid).copied().unwrap_or(0);
    eprintln!("load: {n} requests, concurrency {concurrency}, key cache default (30 s)");
    eprintln!(
        "  sent by class: {}",
        sent.iter()
            .map(|(c, k)| format!("{} {k}", c.label()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "  statuses:      {}",
        statuses
            .iter()
            .map(|((c, s), k)| format!("{} {s}×{k}", c.label()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "  origin received {} (valid sent {valid_sent}); lost {}, duplicates {}, extras {}, \
         mismatched at origin {}, mismatched answers {}",
        origin_tally.received,
        origin_tally.lost.len(),
        origin_tally.duplicates.len(),
        origin_tally.extras.len(),
        origin_tally.mismatched.len(),
        client_mismatch.len()
    );
    eprintln!("  5xx {five_xx}, transport errors {}", transport.len());
    eprintln!(
        "  wall {:.1} s, {:.0} req/s; client latency p50 {:.1} ms, p99 {:.1} ms (valid only: \
         p50 {:.1} ms, p99 {:.1} ms), max {:.1} ms",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&valid_latencies, 0.50),
        percentile(&valid_latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    eprintln!(
        "  this process (client + recording origin) used {own_cpu_secs:.1} CPU-s of the {:.1} s",
        wall.as_secs_f64()
    );

    // ---- correctness ----
    let mut failures = Vec::new();
    let mut report = |what: &str, items: Vec<String>| {
        if !items.is_empty() {
            let shown: Vec<&String> = items.iter().take(EXAMPLES).collect();
            failures.push(format!("{} {what}, e.g. {shown:#?}", items.len()));
        }
    };
    report("transport errors", transport);
    report(
        "5xx answers",
        outcomes
            .iter()
            .filter(|o| o.status.is_some_and(|s| s >= 500))
            .map(|o| format!("request {} ({}): {:?}", o.i, o.class.label(), o.status))
            .collect(),
    );
    report("wrong answers", client_mismatch);
    report(
        "valid requests lost (never reached the origin)",
        origin_tally
            .lost
            .iter()
            .map(|i| format!("request {i}"))
            .collect(),
    );
    report(
        "valid requests duplicated at the origin",
        origin_tally
            .duplicates
            .iter()
            .map(|(i, c)| format!("request {i} ×{c}"))
            .collect(),
    );
    report(
        "requests at the origin that must not be there",
        origin_tally.extras,
    );
    report("valid requests forwarded wrongly", origin_tally.mismatched);
    assert_no_secrets("wrangler log 'load'", &dev.logs());
    assert_no_once_only_keys(&dev.logs(), n);
    drop(dev);
    assert!(failures.is_empty(), "under load:\n{}", failures.join("\n"));
}

fn main() {
    let args = Arguments::from_args();
    let tests: Vec<NamedTest<()>> = named_tests![
        load: [twenty_thousand_mixed_requests_reach_the_origin_exactly_once_or_get_their_refusal],
    ];
    libtest_mimic::run(&args, trials(&Arc::new(()), tests)).exit();
}
