//! End-to-end operations checks (issue 8): the one structured log line per request that a real
//! `wrangler dev` prints, with every field and decision code; the Analytics Engine data point
//! each request writes (seen through the test build's echo, since the local dataset keeps
//! nothing); a gateway without the dataset binding; and `keygate stats --local` over the log.
//! After the run, no log line may hold a key, a full key hash or the shared secret.

use keygate_e2e::*;
use libtest_mimic::Arguments;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The `ANALYTICS` dataset binding, as `wrangler.toml` declares it.
const ANALYTICS_TOML: &str =
    "[[analytics_engine_datasets]]\nbinding = \"ANALYTICS\"\ndataset = \"keygate_e2e\"\n";
/// A tier of one request per minute, for a `rate_limited` line.
const ONE_PER_MINUTE_TOML: &str =
    "[[ratelimits]]\nname = \"RL_ONE\"\nnamespace_id = \"2001\"\nsimple = { limit = 1, period = 60 }\n";
const ORIGIN_TIMEOUT_MS: u64 = 1500;

struct Ctx {
    /// The production build with the dataset bound, a 1/min tier, a short origin timeout, CORS
    /// preflights and the operator endpoint.
    main: Dev,
    /// The test build (echoes each data point) with the dataset bound, `LOG_QUERY=true` and
    /// anonymous access.
    echo: Dev,
    /// No dataset binding; KV reads fail; anonymous calls go to a closed port.
    bare: Dev,
    /// Keeps the closed port reserved while `bare` points at it.
    _closed: ClosedPort,
    /// Kept alive for the instances that forward to it.
    _origin: TestOrigin,
}

fn start() -> Ctx {
    let root = repo_root();
    let entry = root.join("src/entry-faults.js");
    assert!(
        root.join("build-faults/index.js").is_file(),
        "the test build is missing: run `make worker-faults` (`make test` does)"
    );
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let closed = ClosedPort::new();
    let o = format!("http://{}", origin.addr());
    let dead = format!("http://127.0.0.1:{}", closed.port);
    let timeout = ORIGIN_TIMEOUT_MS.to_string();
    let main_toml = format!("{ANALYTICS_TOML}\n{ONE_PER_MINUTE_TOML}");
    std::thread::scope(|s| {
        let main = s.spawn(|| {
            Dev::start_setup(
                "ops-main",
                &[
                    ("ORIGIN_URL", o.as_str()),
                    ("SHARED_SECRET", SECRET),
                    ("ORIGIN_TIMEOUT_MS", timeout.as_str()),
                    ("RATE_LIMIT_TIERS", "one=RL_ONE:1/60"),
                    ("CORS_PREFLIGHT", "true"),
                    ("ADMIN_TOKEN", ADMIN_TOKEN),
                ],
                Setup {
                    extra_toml: &main_toml,
                    ..Setup::default()
                },
            )
        });
        let echo = s.spawn(|| {
            Dev::start_setup(
                "ops-echo",
                &[
                    ("ORIGIN_URL", o.as_str()),
                    ("SHARED_SECRET", SECRET),
                    ("LOG_QUERY", "true"),
                    ("ALLOW_ANONYMOUS", "true"),
                ],
                Setup {
                    main: Some(&entry),
                    extra_toml: ANALYTICS_TOML,
                    ..Setup::default()
                },
            )
        });
        let bare = s.spawn(|| {
            Dev::start_setup(
                "ops-bare",
                &[
                    ("ORIGIN_URL", dead.as_str()),
                    ("SHARED_SECRET", SECRET),
                    ("ALLOW_ANONYMOUS", "true"),
                ],
                Setup {
                    failing_kv: true,
                    ..Setup::default()
                },
            )
        });
        Ctx {
            main: main.join().expect("main instance"),
            echo: echo.join().expect("echo instance"),
            bare: bare.join().expect("bare instance"),
            _origin: origin,
            _closed: closed,
        }
    })
}

/// Request headers, as name and value.
type Headers<'a> = Vec<(&'a str, &'a str)>;

/// What a request's log line must say beyond the fields every line has.
struct Want<'a> {
    decision: &'a str,
    status: u16,
    key_id: Option<&'a str>,
    consumer_id: Option<&'a str>,
    /// The origin's status when it answered.
    origin_status: Option<u16>,
    /// Whether the origin was called (it may have failed to answer).
    origin_called: bool,
}

/// Sends `method path` with these headers and a fresh request id; returns the response and
/// the id.
fn call(dev: &Dev, method: &str, path: &str, headers: &[(&str, &str)]) -> (Resp, String) {
    let id = marker("ops-req");
    let mut all = vec![("x-request-id", id.as_str())];
    all.extend_from_slice(headers);
    (request(method, &dev.url(path), &all), id)
}

/// Checks the one log line of request `id` against `want` and the fields every line has, and
/// returns it.
fn check_line(dev: &Dev, id: &str, path: &str, resp: &Resp, want: &Want<'_>) -> Value {
    assert_eq!(
        resp.status,
        want.status,
        "status of {path}: {}",
        resp.text()
    );
    let v = dev.request_log(id);
    let s = |f: &str| v[f].as_str().map(str::to_owned);
    assert_eq!(s("event").as_deref(), Some("keygate.request"), "{v}");
    let ts = s("ts").expect("ts");
    assert!(
        ts.len() == 24 && ts.starts_with("20") && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "ts is RFC 3339 UTC with milliseconds: {ts}"
    );
    assert_eq!(s("request_id").as_deref(), Some(id));
    assert!(v["method"].is_string(), "{v}");
    let path_only = path.split('?').next().unwrap_or(path);
    assert_eq!(
        s("path").as_deref(),
        Some(path_only),
        "the query is left out: {v}"
    );
    assert!(v.get("query").is_none(), "no query without LOG_QUERY: {v}");
    assert_eq!(s("decision").as_deref(), Some(want.decision), "{v}");
    assert!(
        keygate_core::telemetry::decision_kind(want.decision).is_some(),
        "{} is one of the documented codes",
        want.decision
    );
    assert_eq!(v["status"], u64::from(want.status), "{v}");
    assert_eq!(s("key_id").as_deref(), want.key_id, "{v}");
    assert_eq!(s("consumer_id").as_deref(), want.consumer_id, "{v}");
    assert_eq!(
        v["origin_status"].as_u64(),
        want.origin_status.map(u64::from),
        "{v}"
    );
    let gateway = v["gateway_ms"].as_f64().expect("gateway_ms is a number");
    let total = v["total_ms"].as_f64().expect("total_ms is a number");
    assert!(gateway >= 0.0 && total >= gateway, "{v}");
    match v["origin_ms"].as_f64() {
        Some(origin) => {
            assert!(
                want.origin_called,
                "origin_ms only when the origin was called: {v}"
            );
            assert!(
                (gateway + origin - total).abs() < 0.25,
                "total = gateway + origin: {v}"
            );
        }
        None => {
            assert!(
                !want.origin_called,
                "origin_ms when the origin was called: {v}"
            );
            assert!((gateway - total).abs() < 0.05, "{v}");
        }
    }
    match &v["colo"] {
        Value::Null => {}
        Value::String(c) => assert!(
            !c.is_empty() && c.bytes().all(|b| b.is_ascii_uppercase()),
            "colo is an airport code: {v}"
        ),
        other => panic!("colo is a string or null, not {other}"),
    }
    v
}

fn every_decision_has_one_line_with_its_fields(c: &Ctx) {
    let dev = &c.main;
    let key = dev.create_key(&["--name", "ops", "--consumer", "acme"]);
    let id = key_id(&key);
    let auth = bearer(&key);
    let with_key = [("authorization", auth.as_str())];
    let known = |decision, status, origin: Option<u16>| Want {
        decision,
        status,
        key_id: Some(&id),
        consumer_id: Some("acme"),
        origin_status: origin,
        origin_called: origin.is_some(),
    };
    let keyless = |decision, status| Want {
        decision,
        status,
        key_id: None,
        consumer_id: None,
        origin_status: None,
        origin_called: false,
    };

    // Accepted, with the origin's own status passed on and logged.
    let m = marker("ops");
    for (path, origin_status) in [
        (format!("/{m}/orders?limit=10"), 200),
        (format!("/{m}/__test/status?code=418"), 418),
    ] {
        let (r, rid) = call(dev, "GET", &path, &with_key);
        let v = check_line(
            dev,
            &rid,
            &path,
            &r,
            &known("accepted", origin_status, Some(origin_status)),
        );
        assert!(
            v["cache"].is_string(),
            "a key lookup records its cache outcome: {v}"
        );
    }

    // Refused before any key is read: no key id, no consumer.
    let bad_checksum = {
        let mut k = key.clone().into_bytes();
        let last = k.len() - 1;
        k[last] = if k[last] == b'A' { b'B' } else { b'A' };
        String::from_utf8(k).expect("ascii")
    };
    remember_key(&bad_checksum);
    let unknown = "not-a-keygate-key-but-well-formed-0123456789";
    remember_key(unknown);
    let bad_checksum_auth = bearer(&bad_checksum);
    let unknown_auth = bearer(unknown);
    let cases: Vec<(String, Headers, Want)> = vec![
        (
            format!("/{m}/a"),
            vec![],
            keyless("missing_credential", 401),
        ),
        (
            format!("/{m}/a"),
            vec![("authorization", "Bearer two words")],
            keyless("malformed_credential", 400),
        ),
        (
            format!("/{m}/a?api_key=whatever"),
            vec![],
            keyless("key_in_query", 400),
        ),
        (
            format!("/{m}/a%2Fb"),
            with_key.to_vec(),
            keyless("bad_path", 400),
        ),
    ];
    for (path, headers, want) in &cases {
        let (r, rid) = call(dev, "GET", path, headers);
        check_line(dev, &rid, path, &r, want);
    }
    // Request integrity refusals, also before any key is read: a method keygate does not
    // forward, a method override, and a preflight with a body (CORS_PREFLIGHT is on here).
    let path = format!("/{m}/t");
    let (r, rid) = call(dev, "TRACE", &path, &with_key);
    check_line(dev, &rid, &path, &r, &keyless("method_not_allowed", 405));
    let path = format!("/{m}/o");
    let overridden = [with_key[0], ("x-http-method-override", "DELETE")];
    let (r, rid) = call(dev, "POST", &path, &overridden);
    check_line(dev, &rid, &path, &r, &keyless("method_override", 400));
    let path = format!("/{m}/p");
    let rid = marker("ops-req");
    let r = send(
        client()
            .request(reqwest::Method::OPTIONS, dev.url(&path))
            .header("x-request-id", &rid)
            .header("access-control-request-method", "DELETE")
            .body("{}"),
    );
    check_line(dev, &rid, &path, &r, &keyless("preflight_with_body", 400));

    // A presented key that is not valid: the key id is logged, the client sees one 401.
    let bad_id = key_id(&bad_checksum);
    let unknown_id = key_id(unknown);
    let mut bodies = Vec::new();
    for (auth, decision, kid) in [
        (bad_checksum_auth.as_str(), "bad_checksum", bad_id.as_str()),
        (unknown_auth.as_str(), "unknown_key", unknown_id.as_str()),
    ] {
        let path = format!("/{m}/b");
        let (r, rid) = call(dev, "GET", &path, &[("authorization", auth)]);
        let want = Want {
            key_id: Some(kid),
            ..keyless(decision, 401)
        };
        check_line(dev, &rid, &path, &r, &want);
        bodies.push(without_request_id(r.problem(401)));
    }

    // Refused after the record was read: key id and consumer are both logged.
    let disabled = dev.create_key(&["--name", "ops-disabled", "--consumer", "acme"]);
    let out = dev.keygate(&["disable", &key_id(&disabled)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expiring = dev.create_key(&[
        "--name",
        "ops-expiring",
        "--consumer",
        "acme",
        "--expires",
        "2s",
    ]);
    let scoped = dev.create_key(&[
        "--name",
        "ops-scoped",
        "--consumer",
        "acme",
        "--scopes",
        "GET /allowed/*",
    ]);
    let limited = dev.create_key(&[
        "--name",
        "ops-limited",
        "--consumer",
        "acme",
        "--tier",
        "one",
    ]);
    let quota = dev.create_key(&[
        "--name",
        "ops-quota",
        "--consumer",
        "acme",
        "--quota",
        "1/day",
    ]);
    let misconfigured = dev.create_key(&[
        "--name",
        "ops-tierless",
        "--consumer",
        "acme",
        "--tier",
        "gold",
    ]);
    std::thread::sleep(Duration::from_millis(2500));
    let refused_after_read: Vec<(&str, &str, u16)> = vec![
        (&disabled, "disabled", 401),
        (&expiring, "expired", 401),
        (&scoped, "out_of_scope", 403),
        (&misconfigured, "config_error", 500),
    ];
    for (k, decision, status) in refused_after_read {
        let path = format!("/{m}/c");
        let auth = bearer(k);
        let (r, rid) = call(dev, "GET", &path, &[("authorization", &auth)]);
        let kid = key_id(k);
        let want = Want {
            key_id: Some(&kid),
            consumer_id: Some("acme"),
            ..keyless(decision, status)
        };
        let v = check_line(dev, &rid, &path, &r, &want);
        if status == 401 {
            bodies.push(without_request_id(r.problem(401)));
        }
        if decision == "config_error" {
            let detail = v["detail"].as_str().unwrap_or("");
            assert!(detail.contains("tier"), "a fault carries its detail: {v}");
        }
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "bad checksum, unknown, disabled and expired look the same to the client: {bodies:?}"
    );

    // Limits: the first call passes, the second is refused, both logged.
    for (k, decision) in [(&limited, "rate_limited"), (&quota, "quota_exhausted")] {
        let auth = bearer(k);
        let kid = key_id(k);
        let path = format!("/{m}/d");
        let (r, rid) = call(dev, "GET", &path, &[("authorization", &auth)]);
        let ok = Want {
            key_id: Some(&kid),
            consumer_id: Some("acme"),
            ..known("accepted", 200, Some(200))
        };
        check_line(dev, &rid, &path, &r, &ok);
        let (r, rid) = call(dev, "GET", &path, &[("authorization", &auth)]);
        let want = Want {
            key_id: Some(&kid),
            consumer_id: Some("acme"),
            ..keyless(decision, 429)
        };
        check_line(dev, &rid, &path, &r, &want);
    }

    // A stored record that does not decode: the key id is logged, the record gave no consumer.
    let corrupt = "ops-corrupt-record-key-0123456789";
    remember_key(corrupt);
    dev.kv_put_raw(
        keygate_core::ApiKey::new(corrupt).hash().as_kv_key(),
        "{not json",
    );
    let corrupt_id = key_id(corrupt);
    let corrupt_auth = bearer(corrupt);
    let path = format!("/{m}/corrupt");
    let (r, rid) = call(dev, "GET", &path, &[("authorization", &corrupt_auth)]);
    let want = Want {
        key_id: Some(&corrupt_id),
        ..keyless("corrupt_record", 401)
    };
    check_line(dev, &rid, &path, &r, &want);

    // A CORS preflight passes without a key, and the origin's answer is logged.
    let path = format!("/{m}/preflight");
    let (r, rid) = call(
        dev,
        "OPTIONS",
        &path,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
    );
    let want = Want {
        origin_status: Some(r.status),
        origin_called: true,
        ..keyless("accepted_preflight", r.status)
    };
    assert!(
        r.status < 500,
        "the origin answered the preflight: {}",
        r.status
    );
    check_line(dev, &rid, &path, &r, &want);

    // The operator endpoint: refused without its token, refused with a bad query, answered.
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let usage = format!("/__keygate/usage?counter=key:day:{id}&window_start=0");
    for (path, auth, decision, status) in [
        (usage.as_str(), auth.as_str(), "admin_unauthorized", 401),
        (
            "/__keygate/usage?nonsense=1",
            admin.as_str(),
            "admin_bad_request",
            400,
        ),
        (usage.as_str(), admin.as_str(), "admin_usage", 200),
    ] {
        let (r, rid) = call(dev, "GET", path, &[("authorization", auth)]);
        check_line(dev, &rid, path, &r, &keyless(decision, status));
    }

    // The origin too slow: the time spent waiting for it is the origin's share.
    let path = format!("/{m}/__test/slow?ms=4000");
    let (r, rid) = call(dev, "GET", &path, &with_key);
    let want = Want {
        origin_called: true,
        ..known("origin_timeout", 504, None)
    };
    let v = check_line(dev, &rid, &path, &r, &want);
    let waited = v["origin_ms"].as_f64().expect("origin_ms");
    assert!(
        waited >= (ORIGIN_TIMEOUT_MS - 100) as f64,
        "the origin's share is the timeout: {v}"
    );
}

fn faults_without_a_dataset_binding_are_logged_with_their_detail(c: &Ctx) {
    let dev = &c.bare;
    // Not shaped like a keygate key, so it is looked up (and the lookup fails).
    let key = "ops-store-fault-key-0123456789";
    remember_key(key);
    let auth = bearer(key);
    let path = "/ops/store";
    let (r, rid) = call(dev, "GET", path, &[("authorization", &auth)]);
    let v = check_line(
        dev,
        &rid,
        path,
        &r,
        &Want {
            decision: "store_unavailable",
            status: 503,
            key_id: None,
            consumer_id: None,
            origin_status: None,
            origin_called: false,
        },
    );
    assert!(v["detail"].is_string(), "{v}");

    // Anonymous, forwarded to a closed port.
    let path = "/ops/anonymous";
    let (r, rid) = call(dev, "POST", path, &[]);
    let v = check_line(
        dev,
        &rid,
        path,
        &r,
        &Want {
            decision: "origin_unreachable",
            status: 502,
            key_id: None,
            consumer_id: None,
            origin_status: None,
            origin_called: true,
        },
    );
    assert!(
        v["detail"].is_string(),
        "the fetch error is the detail: {v}"
    );
    assert_eq!(v["method"], "POST");
}

fn each_request_writes_one_data_point_matching_its_log_line(c: &Ctx) {
    let dev = &c.echo;
    let key = dev.create_key(&["--name", "ops-echo", "--consumer", "globex"]);
    let auth = bearer(&key);
    let m = marker("echo");
    let accepted_path = format!("/{m}/items?limit=10&cursor=abc");
    let (r, accepted) = call(dev, "GET", &accepted_path, &[("authorization", &auth)]);
    assert_eq!(r.status, 200);
    let (r, anonymous) = call(dev, "GET", &format!("/{m}/x"), &[]);
    assert_eq!(
        r.status, 200,
        "ALLOW_ANONYMOUS forwards a request without a key"
    );
    let (r, in_query) = call(dev, "GET", &format!("/{m}/y?access_token=abc"), &[]);
    assert_eq!(r.status, 400);

    let line = dev.request_log(&accepted);
    assert_eq!(
        line["query"], "limit=10&cursor=abc",
        "LOG_QUERY=true: {line}"
    );
    let point = data_point(dev, &accepted);
    let kid = key_id(&key);
    assert_eq!(point["index"], kid.as_str());
    let colo = line["colo"].as_str().unwrap_or("");
    let want_blobs = [
        kid.as_str(),
        "globex",
        "accepted",
        "GET",
        &format!("/{m}/items"),
        colo,
        accepted.as_str(),
    ];
    assert_eq!(point["blobs"], serde_json::json!(want_blobs), "{point}");
    let d = |i: usize| point["doubles"][i].as_f64().expect("double");
    assert_eq!(d(0), 200.0);
    assert_eq!(d(1), 200.0);
    assert_eq!(d(2), line["total_ms"].as_f64().unwrap());
    assert_eq!(d(3), line["gateway_ms"].as_f64().unwrap());
    assert_eq!(d(4), line["origin_ms"].as_f64().unwrap());

    let point = data_point(dev, &anonymous);
    assert_eq!(point["index"], "-", "{point}");
    assert_eq!(point["blobs"][0], "", "no key id");
    assert_eq!(point["blobs"][1], "", "no consumer");
    assert_eq!(point["blobs"][2], "accepted_anonymous");
    assert_eq!(point["doubles"][0], 200.0);
    assert_eq!(point["doubles"][1], 200.0);
    assert_eq!(
        dev.request_log(&anonymous)["decision"],
        "accepted_anonymous"
    );

    let line = dev.request_log(&in_query);
    assert_eq!(line["decision"], "key_in_query");
    assert!(
        line.get("query").is_none(),
        "a query carrying a key is never logged: {line}"
    );
    let point = data_point(dev, &in_query);
    assert_eq!(point["blobs"][2], "key_in_query");
    assert_eq!(point["doubles"][0], 400.0);
    assert_eq!(point["doubles"][1], 0.0, "no origin status");
}

fn stats_local_summarises_the_real_log(c: &Ctx) {
    let dev = &c.main;
    let consumer = "stats-e2e";
    let scoped = dev.create_key(&[
        "--name",
        "stats-scoped",
        "--consumer",
        consumer,
        "--scopes",
        "GET /ok/*",
    ]);
    let plain = dev.create_key(&["--name", "stats-plain", "--consumer", consumer]);
    let disabled = dev.create_key(&["--name", "stats-disabled", "--consumer", consumer]);
    let out = dev.keygate(&["disable", &key_id(&disabled)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = marker("stats");
    let mut ids = Vec::new();
    let mut send_n = |key: &str, path: &str, n: usize, status: u16| {
        let auth = bearer(key);
        for _ in 0..n {
            let (r, id) = call(dev, "GET", path, &[("authorization", &auth)]);
            assert_eq!(r.status, status, "{path}");
            ids.push(id);
        }
    };
    send_n(&scoped, &format!("/ok/{m}"), 4, 200);
    send_n(&scoped, &format!("/no/{m}"), 2, 403);
    send_n(&plain, &format!("/{m}/plain"), 3, 200);
    send_n(&disabled, &format!("/{m}/disabled"), 2, 401);
    // The lines are written after the answers: wait for every one.
    for id in &ids {
        dev.request_log(id);
    }

    let log = dev.dir.join("wrangler.log");
    let log = log.to_str().expect("utf-8 path");
    let stats = |extra: &[&str]| {
        let mut args = vec!["stats", "--local", "--log-file", log, "--since", "1h"];
        args.extend_from_slice(extra);
        let out = dev.keygate(&args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "keygate stats {extra:?}: {stderr}");
        assert_no_secrets("keygate stats output", &format!("{stdout}{stderr}"));
        stdout
    };
    let json: Value = serde_json::from_str(&stats(&["--consumer", consumer, "--json"]))
        .expect("stats --json is JSON");
    let keys = json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 3, "only this consumer's three keys: {json}");
    let row = |key: &str| {
        let id = key_id(key);
        keys.iter()
            .find(|r| r["key_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no row for {id}: {json}"))
            .clone()
    };
    let check = |key: &str, requests: u64, accepted: u64, refused: u64, decisions: Value| {
        let r = row(key);
        assert_eq!(r["consumer_id"], consumer, "{r}");
        assert_eq!(r["requests"], requests, "{r}");
        assert_eq!(r["accepted"], accepted, "{r}");
        assert_eq!(r["refused"], refused, "{r}");
        assert_eq!(r["faults"], 0, "{r}");
        assert_eq!(r["decisions"], decisions, "{r}");
        let p50 = r["latency_ms"]["p50"].as_f64().expect("p50");
        let p99 = r["latency_ms"]["p99"].as_f64().expect("p99");
        assert!(0.0 <= p50 && p50 <= p99, "{r}");
    };
    check(
        &scoped,
        6,
        4,
        2,
        serde_json::json!({"accepted": 4, "out_of_scope": 2}),
    );
    check(&plain, 3, 3, 0, serde_json::json!({"accepted": 3}));
    check(&disabled, 2, 0, 2, serde_json::json!({"disabled": 2}));
    assert_eq!(json["total"]["requests"], 11, "{json}");
    assert_eq!(json["total"]["accepted"], 7, "{json}");

    // The table shows the same rows; printed for the record.
    let table = stats(&["--consumer", consumer]);
    for key in [&scoped, &plain, &disabled] {
        assert!(table.contains(&key_id(key)), "{table}");
    }
    assert!(table.contains("out_of_scope 2"), "{table}");
    eprintln!("keygate stats --local --consumer {consumer}:\n{table}");
}

/// The echoed data point of request `id` (the test build logs each one it writes).
fn data_point(dev: &Dev, id: &str) -> Value {
    let needle = format!("\"{id}\"");
    assert!(dev.log_contains(&needle));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let points: Vec<Value> = dev
            .logs()
            .lines()
            .filter(|l| l.contains("keygate.test.data_point") && l.contains(&needle))
            .filter_map(|l| serde_json::from_str(l.get(l.find('{')?..=l.rfind('}')?)?).ok())
            .collect();
        match points.len() {
            1 => return points.into_iter().next().expect("one"),
            0 if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            n => panic!("{n} data points for {id}"),
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let ctx = Arc::new(start());
    let tests: Vec<NamedTest<Ctx>> = named_tests![
        ops: [
            every_decision_has_one_line_with_its_fields,
            faults_without_a_dataset_binding_are_logged_with_their_detail,
            stats_local_summarises_the_real_log,
            each_request_writes_one_data_point_matching_its_log_line,
        ],
    ];
    let conclusion = libtest_mimic::run(&args, trials(&ctx, tests));
    conclude(conclusion, ctx, |c| {
        logs_are_clean(&[&c.main, &c.echo, &c.bare])
    });
}
