//! Rate limits and quotas: a tier's exact limit, a quota exact under concurrency and across a
//! restart, tier configuration errors, a failing quota store, the unlimited tier, and the
//! operator's usage endpoint (`/__keygate/usage`) that reports them.

use super::Ctx;
use keygate_e2e::*;

/// Checks a 429's headers and body: which policy, how long to wait.
fn assert_429(r: &Resp, policy: &str, want_policy_field: &str) -> u64 {
    let p = r.problem(429);
    assert_eq!(p["policy"], policy, "{p}");
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(retry >= 1);
    assert_eq!(r.header("ratelimit-policy"), Some(want_policy_field));
    assert_eq!(
        r.header("ratelimit"),
        Some(format!("\"{policy}\";r=0;t={retry}").as_str())
    );
    retry
}

pub fn tier_allows_exactly_its_limit_then_429_and_the_origin_sees_only_those(c: &Ctx) {
    let key = c.limits.create_key(&["--name", "tiny", "--tier", "tiny"]);
    let m = marker("tier");
    // The local limiter counts fixed 60 s windows on the wall clock: start well inside one.
    avoid_window_edge(60, 25);
    let statuses: Vec<u16> = (0..8)
        .map(|i| {
            let r = get(&c.limits.url(&format!("/{m}/{i}")), Some(&key));
            if r.status == 429 {
                assert_eq!(assert_429(&r, "tiny", "\"tiny\";q=5;w=60"), 60);
            } else {
                assert_eq!(r.header("ratelimit-policy"), Some("\"tiny\";q=5;w=60"));
            }
            r.status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    assert_eq!(
        c.origin.received_with(&m).len(),
        5,
        "the origin saw exactly the allowed 5"
    );
    // Another key of the same tier has its own count.
    let other = c.limits.create_key(&["--name", "tiny-2", "--tier", "tiny"]);
    assert_eq!(
        get(&c.limits.url(&format!("/{m}/other")), Some(&other)).status,
        200
    );
}

fn usage_json(dev: &Dev, id: &str) -> serde_json::Value {
    let out = dev.keygate_with(
        &["usage", id, "--json", "--url", &dev.base],
        None,
        &[("KEYGATE_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "keygate usage failed: {stderr}");
    assert_no_secrets("keygate usage output", &format!("{stdout}{stderr}"));
    let all: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("usage --json ({e}): {stdout}"));
    all["usage"].clone()
}

pub fn quota_of_n_admits_exactly_n_of_concurrent_requests_and_usage_agrees(c: &Ctx) {
    const N: usize = 10;
    const SENT: usize = 30;
    let key = c
        .limits
        .create_key(&["--name", "quota", "--quota", "10/hour"]);
    let id = key_id(&key);
    let m = marker("quota");
    avoid_window_edge(3_600, 120);
    let results: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..SENT)
            .map(|i| {
                let url = c.limits.url(&format!("/{m}/{i}"));
                let key = key.clone();
                s.spawn(move || get(&url, Some(&key)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request"))
            .collect()
    });
    let ok: Vec<&Resp> = results.iter().filter(|r| r.status == 200).collect();
    let refused: Vec<&Resp> = results.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok.len(), N, "exactly the quota is admitted");
    assert_eq!(refused.len(), SENT - N, "every other request is refused");
    for r in &refused {
        let retry = assert_429(r, "quota", &format!("\"quota\";q={N};w=3600"));
        assert!(retry <= 3_600);
    }
    // Each admitted answer reports its own remaining count: 9, 8, …, 0, each exactly once.
    let mut remaining: Vec<u64> = ok
        .iter()
        .map(|r| {
            assert_eq!(r.header("ratelimit-policy"), Some("\"quota\";q=10;w=3600"));
            let v = r.header("ratelimit").expect("RateLimit on success");
            v.split(";r=")
                .nth(1)
                .and_then(|x| x.split(';').next())
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("RateLimit value {v}"))
        })
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..N as u64).collect::<Vec<_>>());
    let received = c.origin.received_with(&m).len();
    assert_eq!(
        received, N,
        "the origin received exactly the admitted requests"
    );
    let usage = usage_json(&c.limits, &id);
    assert_eq!(
        usage["used"], received as u64,
        "keygate usage agrees with the origin: {usage}"
    );
    assert_eq!(usage["limit"], N as u64);
    assert_eq!(usage["remaining"], 0);
}

pub fn quota_count_survives_a_wrangler_dev_restart(_c: &Ctx) {
    let (origin, dev) = Dev::start_with_origin(
        "quota-restart",
        &[("ADMIN_TOKEN", ADMIN_TOKEN)],
        Setup::default(),
    );
    let key = dev.create_key(&["--name", "persist", "--quota", "3/hour"]);
    let id = key_id(&key);
    avoid_window_edge(3_600, 180);
    for i in 0..2 {
        assert_eq!(
            get(&dev.url(&format!("/before/{i}")), Some(&key)).status,
            200
        );
    }
    dev.restart();
    assert_eq!(
        usage_json(&dev, &id)["used"],
        2,
        "the count survived the restart"
    );
    assert_eq!(get(&dev.url("/after/0"), Some(&key)).status, 200);
    assert_429(
        &get(&dev.url("/after/1"), Some(&key)),
        "quota",
        "\"quota\";q=3;w=3600",
    );
    assert_eq!(origin.received().len(), 3);
    assert_no_secrets("wrangler log 'quota-restart'", &dev.logs());
}

pub fn tier_missing_from_config_is_a_500_never_unlimited(c: &Ctx) {
    let key = c.limits.create_key(&["--name", "gold", "--tier", "gold"]);
    let m = marker("gold");
    let p = get(&c.limits.url(&format!("/{m}")), Some(&key)).problem(500);
    assert_eq!(p["type"], "urn:keygate:problem:server_configuration_error");
    assert!(c.origin.received_with(&m).is_empty());
    assert!(c
        .limits
        .log_contains("names a tier that RATE_LIMIT_TIERS does not define"));
}

pub fn tier_binding_missing_from_wrangler_toml_is_a_500(_c: &Ctx) {
    let (origin, dev) = Dev::start_with_origin(
        "tier-no-binding",
        &[("RATE_LIMIT_TIERS", "free=RL_ABSENT:5/60")],
        Setup::default(),
    );
    let key = dev.create_key(&["--name", "any"]);
    let p = get(&dev.url("/x"), Some(&key)).problem(500);
    assert_eq!(p["type"], "urn:keygate:problem:server_configuration_error");
    assert!(origin.received().is_empty(), "never silently unlimited");
    assert!(dev.log_contains("names a rate-limit binding that is not in wrangler.toml"));
}

pub fn quota_store_fault_fails_closed_and_keys_without_quota_never_call_it(_c: &Ctx) {
    let (origin, dev) = Dev::start_with_origin(
        "quota-fault",
        &[],
        Setup {
            failing_quota: true,
            ..Setup::default()
        },
    );
    let with_quota = dev.create_key(&["--name", "q", "--quota", "100/day"]);
    let r = get(&dev.url("/quota"), Some(&with_quota));
    let p = r.problem(503);
    assert_eq!(p["type"], "urn:keygate:problem:quota_store_unavailable");
    assert!(r
        .header("retry-after")
        .is_some_and(|v| v.parse::<u32>().is_ok()));
    assert!(origin.received().is_empty(), "fails closed, never open");
    // The operator's log line names the key, its consumer and what failed.
    assert!(dev.log_contains("\"decision\":\"quota_store_unavailable\""));
    let line = dev
        .request_logs()
        .into_iter()
        .find(|v| v["decision"] == "quota_store_unavailable")
        .expect("the fault's request line");
    assert_eq!(line["key_id"], key_id(&with_quota).as_str(), "{line}");
    assert_eq!(line["consumer_id"], "default", "{line}");
    assert_eq!(line["status"], 503, "{line}");
    assert!(
        line["origin_status"].is_null() && line["detail"].is_string(),
        "{line}"
    );
    let plain = dev.create_key(&["--name", "plain"]);
    assert_eq!(get(&dev.url("/plain"), Some(&plain)).status, 200);
    assert_eq!(origin.received().len(), 1);
    assert_no_secrets("wrangler log 'quota-fault'", &dev.logs());
}

pub fn admin_usage_endpoint_needs_the_admin_token_and_exists_only_when_set(c: &Ctx) {
    let q = "/__keygate/usage?counter=key%3Aday%3A0123456789ab&window_start=0";
    let r = get(&c.limits.url(q), None);
    r.problem(401);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    get(&c.limits.url(q), Some(SECRET)).problem(401);
    let ok = get(&c.limits.url(q), Some(ADMIN_TOKEN));
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["used"], 0);
    get(&c.limits.url("/__keygate/keys"), Some(ADMIN_TOKEN)).problem(404);
    // Found in review: other spellings of the operator path were forwarded. They are routed on
    // the path keygate would forward, decoded and in any case: the operator answers, the origin
    // never sees them, whatever key comes with them.
    let key = c.limits.create_key(&["--name", "admin-spellings"]);
    let m = marker("admin-spelling");
    for path in [
        "//__keygate/usage",
        "/%5F_keygate/usage",
        "/%5f%5Fkeygate/usage",
        "/__KEYGATE/usage",
    ] {
        let with_key = get(&c.limits.url(&format!("{path}?{m}")), Some(&key));
        assert_eq!(
            with_key.problem(401)["type"],
            "urn:keygate:problem:admin_unauthorized",
            "{path}"
        );
        let spelled = q.replace("/__keygate/usage", path);
        let ok = get(&c.limits.url(&spelled), Some(ADMIN_TOKEN));
        assert_eq!(ok.status, 200, "{path}: {}", ok.text());
    }
    // Dot segments, sent raw (an HTTP client would resolve them first).
    let dots = raw(
        &c.limits.base,
        format!(
            "GET /{m}/../__keygate/usage HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Authorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    dots.problem(401);
    assert!(c.origin.received_with(&m).is_empty());
    // Without ADMIN_TOKEN the prefix is still keygate's own (issue 15): a 404 whatever the
    // credential, and never forwarded.
    let m = marker("admin");
    let key = c.main.create_key(&["--name", "admin-path"]);
    for auth in [Some(ADMIN_TOKEN), Some(key.as_str()), None] {
        get(&c.main.url(&format!("/__keygate/usage?{m}")), auth).problem(404);
    }
    assert!(c.origin.received_with(&m).is_empty());
}

pub fn unlimited_tier_passes_with_no_ratelimit_headers(c: &Ctx) {
    let key = c
        .limits
        .create_key(&["--name", "internal", "--tier", "internal"]);
    let m = marker("internal");
    for i in 0..7 {
        let r = get(&c.limits.url(&format!("/{m}/{i}")), Some(&key));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("ratelimit-policy"), None);
        assert_eq!(r.header("ratelimit"), None);
    }
    assert_eq!(c.origin.received_with(&m).len(), 7);
}
