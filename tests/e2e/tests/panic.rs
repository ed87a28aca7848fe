//! End-to-end: a real Rust panic in the worker (the `fault-injection` build, `make worker-faults`)
//! answers a 500 problem body through the JS entry's panic guard, never a hang or wrangler's error
//! page, and the next request is served again; the normal build ignores the fault header.
//!
//! The tests run one at a time: a panic ends every request the isolate is serving, so a test
//! running beside it on the same instance would see it.

use keygate_e2e::*;
use libtest_mimic::Arguments;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The header that makes the fault-injection build panic (src/fault.rs).
const FAULT: (&str, &str) = ("x-keygate-fault", "panic");
const INTERNAL_ERROR: &str = "urn:keygate:problem:internal_error";

struct Ctx {
    origin: TestOrigin,
    /// keygate built with `fault-injection`, behind `src/entry-faults.js`.
    faults: Dev,
    /// The normal build (`make worker`) behind `src/entry.js`.
    plain: Dev,
}

fn start() -> Ctx {
    let root = repo_root();
    let built = root.join("build-faults/index.js");
    assert!(
        built.is_file(),
        "{} is missing: run `make worker-faults` (`make test` does)",
        built.display()
    );
    let entry = root.join("src/entry-faults.js");
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let o = format!("http://{}", origin.addr());
    let vars = [("ORIGIN_URL", o.as_str()), ("SHARED_SECRET", SECRET)];
    std::thread::scope(|s| {
        let faults = s.spawn(|| {
            Dev::start_setup(
                "panic-faults",
                &vars,
                Setup {
                    main: Some(&entry),
                    ..Setup::default()
                },
            )
        });
        let plain = s.spawn(|| Dev::start("panic-plain", &vars));
        Ctx {
            faults: faults.join().expect("faults instance"),
            plain: plain.join().expect("plain instance"),
            origin,
        }
    })
}

/// A GET with the key and the fault header.
fn panic_request(dev: &Dev, path: &str, key: &str) -> Resp {
    send(
        client()
            .get(dev.url(path))
            .header("authorization", bearer(key))
            .header(FAULT.0, FAULT.1),
    )
}

/// Checks the panic answer: the problem shape every error has, our type, and nothing of the
/// failure itself (no HTML page, stack, wasm or panic text). `send`/`raw` scanned it for secrets.
fn assert_panic_problem(r: &Resp) -> serde_json::Value {
    let p = r.problem(500);
    assert_eq!(p["type"], INTERNAL_ERROR, "{p}");
    assert_eq!(p["title"], "Internal error", "{p}");
    let mut fields: Vec<&str> = p
        .as_object()
        .expect("problem is an object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["detail", "request_id", "status", "title", "type"],
        "{p}"
    );
    let text = r.text().to_ascii_lowercase();
    for needle in [
        "<html",
        "<!doctype",
        "stack",
        " at ",
        "wasm",
        "unreachable",
        "panic",
        "runtimeerror",
        "fault",
        ".rs",
        ".js",
    ] {
        assert!(
            !text.contains(needle),
            "the body contains {needle:?}: {text}"
        );
    }
    p
}

/// The guard's log line for a panicked request is a request log line like the Rust ones: the
/// same event and fields, the code `internal_error`, status 500, no key, no origin status.
fn guard_line_is_a_request_line(dev: &Dev) -> bool {
    let lines: Vec<_> = dev
        .request_logs()
        .into_iter()
        .filter(|v| v["decision"] == "internal_error")
        .collect();
    let Some(v) = lines.first() else {
        eprintln!("the fault instance's log has no internal_error request line from the guard");
        return false;
    };
    let ok = v["status"] == 500
        && v["key_id"].is_null()
        && v["consumer_id"].is_null()
        && v["origin_status"].is_null()
        && v["total_ms"].is_number()
        && v["gateway_ms"].is_number()
        && v["request_id"].is_string()
        && v["detail"].as_str().is_some_and(|d| d.contains("panicked"));
    if !ok {
        eprintln!("the guard's line lacks a field: {v}");
    }
    ok
}

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let tests: Vec<NamedTest<Ctx>> = named_tests![
        panic: [
            panic_gets_a_500_problem_and_the_next_request_with_the_same_key_works,
            raw_http_answer_to_a_panic_is_the_problem_body_and_nothing_else,
            repeated_panics_each_answer_500_and_each_next_request_works,
            request_in_flight_during_a_panic_is_answered_not_hung,
            request_at_the_origin_during_a_panic_gets_the_500_when_the_origin_answers,
            panic_after_the_origin_answered_gets_a_500_problem_and_the_next_request_works,
            normal_build_treats_the_fault_header_as_an_ordinary_header,
        ],
    ];
    let ctx = Arc::new(start());
    let trials = trials(&ctx, tests);
    let conclusion = libtest_mimic::run(&args, trials);

    // After every request: no wrangler log may contain a key, a full hash or the secret, and
    // the guard's log line is there.
    let run_failed = conclusion.has_failed();
    conclude(conclusion, ctx, |c| {
        let clean = logs_are_clean(&[&c.faults, &c.plain]);
        let guard_ok = run_failed || guard_line_is_a_request_line(&c.faults);
        clean && guard_ok
    });
}

fn panic_gets_a_500_problem_and_the_next_request_with_the_same_key_works(c: &Ctx) {
    let key = c.faults.create_key(&[]);
    let m = marker("panic");
    let r = send(
        client()
            .get(c.faults.url(&format!("/{m}/boom")))
            .header("authorization", bearer(&key))
            .header("x-request-id", "client-id.1")
            .header(FAULT.0, FAULT.1),
    );
    let p = assert_panic_problem(&r);
    // A sane client request id is kept, as on every other answer.
    assert_eq!(p["request_id"], "client-id.1");
    assert!(
        c.origin.received_with(&format!("{m}/boom")).is_empty(),
        "the origin saw the request that panicked"
    );

    let r = get(&c.faults.url(&format!("/{m}/after")), Some(&key));
    assert_eq!(r.status, 200, "after the panic: {}", r.text());
    assert_eq!(c.origin.received_with(&format!("{m}/after")).len(), 1);
}

fn raw_http_answer_to_a_panic_is_the_problem_body_and_nothing_else(c: &Ctx) {
    let key = c.faults.create_key(&[]);
    let m = marker("panic-raw");
    let addr = c.faults.base.trim_start_matches("http://");
    let request = format!(
        "POST /{m} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         X-Keygate-Fault: panic\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\
         Connection: close\r\n\r\nhello"
    );
    let r = raw(&c.faults.base, request.as_bytes());
    let p = assert_panic_problem(&r);
    // No sane client id: a generated one, in the header and the body alike.
    let id = p["request_id"].as_str().expect("request_id");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert!(c.origin.received_with(&m).is_empty());
}

/// With a quota, so every recovery also goes through the QuotaCounter Durable Object.
fn repeated_panics_each_answer_500_and_each_next_request_works(c: &Ctx) {
    let key = c.faults.create_key(&["--quota", "1000/hour"]);
    let m = marker("panic-again");
    let mut ids = Vec::new();
    let mut remaining = Vec::new();
    for round in 0..5 {
        let r = panic_request(&c.faults, &format!("/{m}/boom-{round}"), &key);
        let p = assert_panic_problem(&r);
        ids.push(p["request_id"].as_str().expect("request_id").to_owned());
        let r = get(&c.faults.url(&format!("/{m}/ok-{round}")), Some(&key));
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
        assert_eq!(
            r.header("ratelimit-policy"),
            Some("\"quota\";q=1000;w=3600")
        );
        remaining.push(quota_remaining(&r));
    }
    assert!(
        remaining.windows(2).all(|w| w[1] < w[0]),
        "the quota count goes on across resets: {remaining:?}"
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "every panic answer has its own request id");
    let seen = c.origin.targets_with(&m);
    let expected: Vec<String> = (0..5).map(|i| format!("/{m}/ok-{i}")).collect();
    assert_eq!(
        seen, expected,
        "the origin saw every ordinary request once, and none that panicked"
    );
}

/// A request waiting on the origin while another one panics. Its future lives in the wasm
/// instance the panic ends, so it cannot finish: the guard answers it with the same 500 at the
/// moment of the trap. What it must never do is hang or show an HTML page; the outcome is
/// printed for the record.
fn request_in_flight_during_a_panic_is_answered_not_hung(c: &Ctx) {
    let key = c.faults.create_key(&[]);
    let m = marker("panic-in-flight");
    let (slow, started) = slow_request_at_the_origin(c, &m, &key);
    let panicked_at = started.elapsed();
    let r = panic_request(&c.faults, &format!("/{m}/boom"), &key);
    assert_panic_problem(&r);

    let (slow, took) = slow.join().expect("slow request thread");
    eprintln!(
        "in flight during a panic: status {} after {took:?} (the panic came at {panicked_at:?}, \
         the origin answers after 4 s); body: {}",
        slow.status,
        slow.text()
    );
    match slow.status {
        200 => assert_eq!(slow.text(), "slow answer"),
        _ => {
            assert_panic_problem(&slow);
        }
    }

    let r = get(&c.faults.url(&format!("/{m}/after")), Some(&key));
    assert_eq!(r.status, 200, "after the panic: {}", r.text());
}

/// Sends `/{m}/slow` (the origin answers it after 4 s) with `key` from another thread, and
/// returns once the origin has it, that is while it is in flight inside the worker: the thread's
/// handle (its answer and how long it took) and when it was sent.
fn slow_request_at_the_origin(
    c: &Ctx,
    m: &str,
    key: &str,
) -> (std::thread::JoinHandle<(Resp, Duration)>, Instant) {
    let slow_url = c.faults.url(&format!("/{m}/slow/__test/slow?ms=4000"));
    let slow_key = key.to_owned();
    let started = Instant::now();
    let slow = std::thread::spawn(move || {
        let r = get(&slow_url, Some(&slow_key));
        (r, started.elapsed())
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.origin.received_with(&format!("{m}/slow")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the slow request never reached the origin"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (slow, started)
}

/// A request settled in the handler's own call (its key already cached) and waiting for the
/// origin while another request panics: its promise belongs to no executor, so the trap does not
/// answer it at once. When the origin answers, the settle call would enter the dead instance, so
/// the promise rejects instead (src/glue.js `forward`) and the guard answers 500.
fn request_at_the_origin_during_a_panic_gets_the_500_when_the_origin_answers(c: &Ctx) {
    let key = c.faults.create_key(&[]);
    let m = marker("panic-at-origin");
    // The key in this instance's cache, so the slow request is settled without waiting.
    let r = get(&c.faults.url(&format!("/{m}/warm")), Some(&key));
    assert_eq!(r.status, 200, "warm-up: {}", r.text());
    let (slow, _) = slow_request_at_the_origin(c, &m, &key);
    let r = panic_request(&c.faults, &format!("/{m}/boom"), &key);
    assert_panic_problem(&r);

    let (slow, took) = slow.join().expect("slow request thread");
    assert_panic_problem(&slow);
    assert!(
        took >= Duration::from_millis(3_500),
        "answered after {took:?}: at the trap, not when the origin answered after 4 s"
    );
    let r = get(&c.faults.url(&format!("/{m}/after")), Some(&key));
    assert_eq!(r.status, 200, "after the panic: {}", r.text());
}

/// A panic in the call that settles the origin's fetch (the handler's own call has returned by
/// then): the handler's promise rejects with the trap, the guard answers 500 and marks the
/// instance for reset, and the next request is served by a fresh instance.
fn panic_after_the_origin_answered_gets_a_500_problem_and_the_next_request_works(c: &Ctx) {
    let key = c.faults.create_key(&[]);
    let m = marker("panic-after-origin");
    for round in 0..2 {
        let r = send(
            client()
                .get(c.faults.url(&format!("/{m}/boom-{round}")))
                .header("authorization", bearer(&key))
                .header(FAULT.0, "panic-after-origin"),
        );
        assert_panic_problem(&r);
        assert_eq!(
            c.origin.received_with(&format!("{m}/boom-{round}")).len(),
            1,
            "the origin saw the request once, before the panic"
        );
        let r = get(&c.faults.url(&format!("/{m}/after-{round}")), Some(&key));
        assert_eq!(
            r.status,
            200,
            "round {round}, after the panic: {}",
            r.text()
        );
    }
}

/// The `r=` member of a `RateLimit` answer.
fn quota_remaining(r: &Resp) -> u64 {
    let v = r
        .header("ratelimit")
        .expect("RateLimit on a quota key's answer");
    v.split(";r=")
        .nth(1)
        .and_then(|x| x.split(';').next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("RateLimit value {v}"))
}

/// Also shows that `src/entry.js` passes the QuotaCounter Durable Object through.
fn normal_build_treats_the_fault_header_as_an_ordinary_header(c: &Ctx) {
    let key = c.plain.create_key(&["--quota", "10/hour"]);
    let m = marker("no-fault");
    let r = panic_request(&c.plain, &format!("/{m}"), &key);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("ratelimit-policy"), Some("\"quota\";q=10;w=3600"));
    assert_eq!(quota_remaining(&r), 9);
    let got = c.origin.received_with(&m);
    assert_eq!(got.len(), 1);
    // An `X-Keygate-*` header, so the gateway drops it like any other before forwarding.
    assert!(got[0].all(FAULT.0).is_empty(), "{:?}", got[0].headers);
}
