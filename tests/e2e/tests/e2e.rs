//! End-to-end: real `wrangler dev` instances with local KV, a real recording origin, a real HTTP
//! client, and keys made with the `keygate` CLI. Every response is scanned for leaked secrets,
//! and after the run every wrangler log is too.

use keygate_e2e::*;
use libtest_mimic::Arguments;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

struct Ctx {
    origin: TestOrigin,
    custom_origin: TestOrigin,
    main: Dev,
    no_secret: Dev,
    bad_origin: Dev,
    dead_origin: Dev,
    custom_header: Dev,
    kv_fault: Dev,
    /// Optional authentication, CORS preflight, X-API-Key and metadata headers all on.
    open: Dev,
    /// Rate-limit tiers (`tiny` = 5 per 60 s), quotas, and the admin endpoint.
    limits: Dev,
}

/// The `[[ratelimits]]` bindings of the `limits` instance.
const LIMITS_TOML: &str = "[[ratelimits]]\nname = \"RL_TINY\"\nnamespace_id = \"1001\"\n\
     simple = { limit = 5, period = 60 }\n\n[[ratelimits]]\nname = \"RL_BIG\"\n\
     namespace_id = \"1002\"\nsimple = { limit = 1000, period = 60 }\n";
const LIMITS_TIERS: &str = "tiny=RL_TINY:5/60,big=RL_BIG:1000/60,internal=none";

const BASE: &str = "/base";

fn start(closed_port: &ClosedPort) -> Ctx {
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let custom_origin = TestOrigin::start(Some(SECRET), "x-origin-auth");
    let o = format!("http://{}{BASE}", origin.addr());
    let c = format!("http://{}", custom_origin.addr());
    let dead = format!("http://127.0.0.1:{}", closed_port.port);
    // Start the instances side by side: each takes seconds to boot.
    std::thread::scope(|s| {
        let main = s.spawn(|| {
            Dev::start(
                "main",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ORIGIN_TIMEOUT_MS", "1500"),
                    // The key cache is off here so CLI changes show at once; the cache and its
                    // revocation bound are tested on their own instance.
                    ("KEY_CACHE_TTL_SECS", "0"),
                ],
            )
        });
        let no_secret = s.spawn(|| Dev::start("no-secret", &[("ORIGIN_URL", &o)]));
        let bad_origin = s.spawn(|| {
            Dev::start(
                "bad-origin",
                &[
                    ("ORIGIN_URL", "ftp://127.0.0.1/"),
                    ("SHARED_SECRET", SECRET),
                ],
            )
        });
        let dead_origin = s.spawn(|| {
            Dev::start(
                "dead-origin",
                &[("ORIGIN_URL", &dead), ("SHARED_SECRET", SECRET)],
            )
        });
        let custom_header = s.spawn(|| {
            Dev::start(
                "custom-header",
                &[
                    ("ORIGIN_URL", &c),
                    ("SHARED_SECRET", SECRET),
                    ("SHARED_SECRET_HEADER", "X-Origin-Auth"),
                ],
            )
        });
        let open = s.spawn(|| {
            Dev::start(
                "open",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ALLOW_ANONYMOUS", "true"),
                    ("CORS_PREFLIGHT", "true"),
                    ("KEY_SOURCES", "authorization,x-api-key"),
                    ("CONSUMER_META_HEADERS", "plan"),
                ],
            )
        });
        let kv_fault = s.spawn(|| {
            Dev::start_with(
                "kv-fault",
                &[("ORIGIN_URL", &o), ("SHARED_SECRET", SECRET)],
                true,
            )
        });
        let limits = s.spawn(|| {
            Dev::start_setup(
                "limits",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ADMIN_TOKEN", ADMIN_TOKEN),
                    ("RATE_LIMIT_TIERS", LIMITS_TIERS),
                ],
                Setup {
                    extra_toml: LIMITS_TOML,
                    ..Setup::default()
                },
            )
        });
        Ctx {
            limits: limits.join().expect("limits"),
            main: main.join().expect("main"),
            no_secret: no_secret.join().expect("no-secret"),
            bad_origin: bad_origin.join().expect("bad-origin"),
            dead_origin: dead_origin.join().expect("dead-origin"),
            custom_header: custom_header.join().expect("custom-header"),
            kv_fault: kv_fault.join().expect("kv-fault"),
            open: open.join().expect("open"),
            origin,
            custom_origin,
        }
    })
}

type Test = fn(&Ctx);

fn main() {
    let args = Arguments::from_args();
    let tests: Vec<(&str, Test)> = vec![
        (
            "contract::no_authorization_header_gets_401_with_a_bare_bearer_challenge",
            no_authorization_header,
        ),
        (
            "contract::wrong_scheme_gets_400_invalid_request",
            wrong_scheme,
        ),
        (
            "contract::empty_token_gets_400_invalid_request",
            empty_token,
        ),
        (
            "contract::token_with_bad_characters_gets_400_invalid_request",
            bad_characters,
        ),
        (
            "contract::two_authorization_headers_get_400_invalid_request",
            two_authorization_headers,
        ),
        (
            "contract::token_over_4_kib_gets_400_invalid_request",
            token_over_4kib,
        ),
        (
            "contract::unknown_disabled_and_expired_keys_are_indistinguishable",
            invalid_keys_indistinguishable,
        ),
        (
            "contract::corrupt_record_is_an_invalid_token_not_a_500",
            corrupt_record,
        ),
        (
            "contract::missing_shared_secret_is_a_500_and_origin_is_never_contacted",
            missing_secret,
        ),
        ("contract::invalid_origin_url_is_a_500", invalid_origin),
        (
            "contract::kv_read_failure_fails_closed_with_503_and_retry_after",
            kv_failure,
        ),
        ("contract::unreachable_origin_gets_502", unreachable_origin),
        (
            "contract::slow_origin_gets_504_after_the_configured_timeout",
            slow_origin,
        ),
        (
            "contract::origin_status_headers_and_body_come_back_unchanged",
            origin_answer_passes,
        ),
        (
            "forward::origin_receives_secret_identity_and_forwarding_headers_once",
            origin_receives_our_headers,
        ),
        (
            "forward::client_copies_of_secret_and_identity_headers_are_replaced",
            client_copies_replaced,
        ),
        (
            "forward::hop_by_hop_and_connection_listed_headers_are_dropped",
            hop_by_hop_dropped,
        ),
        (
            "forward::sane_request_id_passes_and_others_are_replaced",
            request_id_handling,
        ),
        (
            "forward::no_path_form_changes_the_origin_host_or_leaves_the_base_path",
            path_tricks,
        ),
        (
            "forward::absolute_form_target_goes_to_the_origin_only",
            absolute_form,
        ),
        (
            "forward::method_query_and_body_pass_unchanged",
            method_query_body,
        ),
        (
            "forward::five_mb_upload_arrives_byte_identical",
            five_mb_upload,
        ),
        (
            "forward::five_mb_download_streams_back_byte_identical",
            five_mb_download,
        ),
        (
            "forward::redirects_are_returned_to_the_client_not_followed",
            redirect_not_followed,
        ),
        (
            "forward::response_headers_echoing_the_secret_never_reach_the_client",
            secret_echo_stripped,
        ),
        (
            "forward::custom_secret_header_name_is_used_and_default_one_not_sent",
            custom_header_name,
        ),
        (
            "cli::revoked_key_is_refused_afterwards",
            revoke_then_refused,
        ),
        (
            "cli::create_prints_only_the_key_and_list_show_never_reveal_it",
            cli_create_list_show,
        ),
        (
            "cli::hash_prints_the_kv_key_name_the_worker_reads",
            cli_hash,
        ),
        (
            "cli::bad_input_fails_clearly_and_changes_nothing",
            cli_bad_input,
        ),
        (
            "cli::missing_wrangler_is_a_clear_error",
            cli_missing_wrangler,
        ),
        ("cli::revoke_and_show_accept_the_key_on_stdin", cli_stdin),
        (
            "cli::expiring_key_works_until_its_expiry_then_is_refused",
            expiring_key,
        ),
        (
            "lifecycle::disable_refuses_the_key_and_enable_restores_it",
            disable_enable,
        ),
        (
            "lifecycle::rotate_keeps_both_keys_during_the_overlap_then_refuses_the_old",
            rotate_overlap,
        ),
        (
            "lifecycle::imported_key_works_and_only_its_hash_is_stored",
            imported_key,
        ),
        (
            "lifecycle::list_filters_by_consumer_and_state",
            list_filters,
        ),
        ("lifecycle::list_pages_beyond_1000_keys", list_many),
        (
            "policy::scoped_key_gets_403_outside_its_scopes_even_via_traversal",
            scoped_key,
        ),
        (
            "policy::key_failing_its_checksum_is_refused_like_an_unknown_key",
            bad_checksum,
        ),
        ("policy::key_in_the_query_string_gets_400", key_in_query),
        (
            "policy::anonymous_requests_pass_only_when_enabled",
            anonymous,
        ),
        (
            "policy::cors_preflight_passes_without_a_key_only_when_enabled",
            preflight,
        ),
        (
            "policy::x_api_key_is_a_source_only_when_enabled_and_must_agree",
            x_api_key,
        ),
        (
            "policy::listed_metadata_reaches_the_origin_as_consumer_headers",
            consumer_meta,
        ),
        (
            "limits::tier_allows_exactly_its_limit_then_429_and_the_origin_sees_only_those",
            tier_rate_limit,
        ),
        (
            "limits::quota_of_n_admits_exactly_n_of_concurrent_requests_and_usage_agrees",
            quota_concurrent,
        ),
        (
            "limits::quota_count_survives_a_wrangler_dev_restart",
            quota_restart,
        ),
        (
            "limits::tier_missing_from_config_is_a_500_never_unlimited",
            unknown_tier,
        ),
        (
            "limits::tier_binding_missing_from_wrangler_toml_is_a_500",
            missing_tier_binding,
        ),
        (
            "limits::quota_store_fault_fails_closed_and_keys_without_quota_never_call_it",
            quota_fault,
        ),
        (
            "limits::admin_usage_endpoint_needs_the_admin_token_and_exists_only_when_set",
            admin_endpoint,
        ),
        (
            "limits::unlimited_tier_passes_with_no_ratelimit_headers",
            unlimited_tier,
        ),
        (
            "cache::revoked_key_is_refused_within_the_isolate_ttl",
            cache_revocation_bound,
        ),
        (
            "cache::concurrent_requests_for_one_key_make_one_kv_read",
            cache_coalescing,
        ),
    ];

    // Held for the whole run, so no instance can take the dead origin's port.
    let closed_port = ClosedPort::new();
    let ctx = Arc::new(start(&closed_port));
    let trials = trials(&ctx, tests);
    let conclusion = libtest_mimic::run(&args, trials);

    // After every request: no wrangler log may contain a key, a full hash or the secret.
    let clean = logs_are_clean(&[
        &ctx.main,
        &ctx.no_secret,
        &ctx.bad_origin,
        &ctx.dead_origin,
        &ctx.custom_header,
        &ctx.kv_fault,
        &ctx.open,
        &ctx.limits,
    ]);
    drop(ctx);
    if !clean {
        std::process::exit(101);
    }
    conclusion.exit();
}

/// A well-formed key with a valid checksum that the CLI never issued, for crafted records.
fn fixture_key(tag: &str) -> String {
    let random: String = tag
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .chain(std::iter::repeat('0'))
        .take(43)
        .collect();
    let key = keygate_core::keyformat::assemble(&random);
    remember_key(&key);
    key
}

fn raw_get(dev: &Dev, target: &str, extra_headers: &str) -> Resp {
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    raw(&dev.base, req.as_bytes())
}

fn assert_invalid_request(r: &Resp) {
    r.problem(400);
    let challenge = r.header("www-authenticate").expect("challenge");
    assert!(
        challenge.starts_with("Bearer realm=\"keygate\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );
}

// ---- response contract ----

fn no_authorization_header(c: &Ctx) {
    let m = marker("noauth");
    let r = get(&c.main.url(&format!("/{m}")), None);
    r.problem(401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"keygate\"")
    );
    assert!(c.origin.received_with(&m).is_empty());
}

/// Sends each set of raw header lines and expects 400 `invalid_request` with nothing forwarded.
fn refused_as_invalid_request(c: &Ctx, tag: &str, header_lines: &[String]) {
    let m = marker(tag);
    for lines in header_lines {
        let r = raw_get(&c.main, &format!("/{m}"), lines);
        assert_invalid_request(&r);
    }
    assert!(c.origin.received_with(&m).is_empty());
}

fn auth_lines(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .map(|v| format!("Authorization: {v}\r\n"))
        .collect()
}

fn wrong_scheme(c: &Ctx) {
    refused_as_invalid_request(
        c,
        "scheme",
        &auth_lines(&["Basic dXNlcjpwYXNz", "Token abc", "Bearerabc"]),
    );
}

fn empty_token(c: &Ctx) {
    refused_as_invalid_request(
        c,
        "empty",
        &auth_lines(&["Bearer", "Bearer ", "bearer    "]),
    );
}

fn bad_characters(c: &Ctx) {
    let values = [
        "Bearer a b",
        "Bearer \"abc\"",
        "Bearer ab=c",
        "Bearer a;b",
        "Bearer\tabc",
        "Bearer caf\u{e9}",
    ];
    refused_as_invalid_request(c, "badchars", &auth_lines(&values));
}

fn two_authorization_headers(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let pairs = [(key.as_str(), key.as_str()), (key.as_str(), "kg_other")];
    let lines: Vec<String> = pairs
        .iter()
        .map(|(a, b)| format!("Authorization: Bearer {a}\r\nAuthorization: Bearer {b}\r\n"))
        .collect();
    refused_as_invalid_request(c, "twoauth", &lines);
}

fn token_over_4kib(c: &Ctx) {
    let m = marker("long");
    let r = get(&c.main.url(&format!("/{m}")), Some(&"a".repeat(4097)));
    assert_invalid_request(&r);
    assert!(c.origin.received_with(&m).is_empty());
}

fn strip_request_id(mut p: serde_json::Value) -> serde_json::Value {
    p.as_object_mut().expect("object").remove("request_id");
    p
}

fn invalid_keys_indistinguishable(c: &Ctx) {
    let m = marker("invalid");
    let url = c.main.url(&format!("/{m}"));
    // Unknown: a well-formed key that was never stored.
    let unknown = get(&url, Some(&fixture_key("neverissued")));
    // Disabled: a stored record with the disabled flag (the CLI's `disable` comes later).
    let disabled_key = &fixture_key("disabled");
    remember_key(disabled_key);
    let h = keygate_core::ApiKey::new(disabled_key).hash();
    let rec = serde_json::json!({"v":1,"id":h.id(),"name":"off","consumer_id":"c","created_at":1,"disabled":true});
    c.main.kv_put_raw(h.as_kv_key(), &rec.to_string());
    let disabled = get(&url, Some(disabled_key));
    // Expired: a record whose expiry passed.
    let expired_key = &fixture_key("expired");
    remember_key(expired_key);
    let h = keygate_core::ApiKey::new(expired_key).hash();
    let rec = serde_json::json!({"v":1,"id":h.id(),"name":"old","consumer_id":"c","created_at":1,"expires_at":2});
    c.main.kv_put_raw(h.as_kv_key(), &rec.to_string());
    let expired = get(&url, Some(expired_key));

    let first = strip_request_id(unknown.problem(401));
    for r in [&disabled, &expired] {
        assert_eq!(strip_request_id(r.problem(401)), first);
        assert_eq!(
            r.header("www-authenticate"),
            unknown.header("www-authenticate")
        );
    }
    let challenge = unknown.header("www-authenticate").expect("challenge");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(c.origin.received_with(&m).is_empty());
}

fn corrupt_record(c: &Ctx) {
    let m = marker("corrupt");
    let key = &fixture_key("corrupt");
    remember_key(key);
    let h = keygate_core::ApiKey::new(key).hash();
    c.main.kv_put_raw(h.as_kv_key(), "{not json");
    let r = get(&c.main.url(&format!("/{m}")), Some(key));
    let p = r.problem(401);
    assert_eq!(p["type"], "urn:keygate:problem:invalid_token");
    // A record stored under another key's hash is refused too.
    let other = &fixture_key("wronghash");
    remember_key(other);
    let oh = keygate_core::ApiKey::new(other).hash();
    let rec = serde_json::json!({"v":1,"id":h.id(),"name":"x","consumer_id":"c","created_at":1});
    c.main.kv_put_raw(oh.as_kv_key(), &rec.to_string());
    get(&c.main.url(&format!("/{m}")), Some(other)).problem(401);
    assert!(c.origin.received_with(&m).is_empty());
    assert!(
        c.main.log_contains("corrupt_record"),
        "corrupt records are logged as such"
    );
}

fn missing_secret(c: &Ctx) {
    let m = marker("nosecret");
    for key in [None, Some("kg_anything")] {
        let r = get(&c.no_secret.url(&format!("/{m}")), key);
        let p = r.problem(500);
        assert_eq!(p["title"], "Server configuration error");
    }
    assert!(c.origin.received_with(&m).is_empty());
    assert!(c.no_secret.log_contains("SHARED_SECRET is not set"));
}

fn invalid_origin(c: &Ctx) {
    let r = get(&c.bad_origin.url("/x"), Some("kg_anything"));
    assert_eq!(r.problem(500)["title"], "Server configuration error");
    assert!(c.bad_origin.log_contains("ORIGIN_URL is invalid"));
}

fn kv_failure(c: &Ctx) {
    // API_KEYS is bound to a worker whose reads throw: a KV outage, as the gateway sees one.
    let m = marker("kvfault");
    let r = get(
        &c.kv_fault.url(&format!("/{m}")),
        Some(&fixture_key("outage")),
    );
    let p = r.problem(503);
    assert_eq!(p["type"], "urn:keygate:problem:key_store_unavailable");
    assert!(r
        .header("retry-after")
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|s| s > 0));
    assert!(
        c.origin.received_with(&m).is_empty(),
        "fail closed: nothing reaches the origin"
    );
    assert!(c.kv_fault.log_contains("store_unavailable"));
}

fn unreachable_origin(c: &Ctx) {
    let key = c.dead_origin.create_key(&[]);
    let r = get(&c.dead_origin.url("/x"), Some(&key));
    assert_eq!(r.problem(502)["title"], "Origin unreachable");
}

fn slow_origin(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("slow");
    let started = std::time::Instant::now();
    let r = get(
        &c.main.url(&format!("/{m}/__test/slow?ms=6000")),
        Some(&key),
    );
    r.problem(504);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "504 came after {:?}",
        started.elapsed()
    );
    // Just under the timeout is still answered.
    let ok = get(&c.main.url(&format!("/{m}/__test/slow?ms=200")), Some(&key));
    assert_eq!(ok.status, 200);
}

fn origin_answer_passes(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("status");
    for code in [201u16, 404, 418, 500, 503] {
        let r = get(
            &c.main.url(&format!("/{m}/__test/status?code={code}")),
            Some(&key),
        );
        assert_eq!(r.status, code);
        assert_eq!(r.header("x-origin-status"), Some(code.to_string().as_str()));
        assert_eq!(r.text(), "status");
        assert!(r.header("x-request-id").is_some());
    }
}

// ---- forwarding rules ----

fn origin_receives_our_headers(c: &Ctx) {
    let key = c.main.create_key(&[
        "--name",
        "fwd",
        "--consumer",
        "acme-42",
        "--consumer-name",
        "Acme Corp",
    ]);
    let m = marker("hdrs");
    let r = get(&c.main.url(&format!("/{m}")), Some(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c.origin.received_with(&m);
    assert_eq!(got.len(), 1);
    let g = &got[0];
    let id = keygate_core::ApiKey::new(key.as_str())
        .hash()
        .id()
        .to_owned();
    assert_eq!(g.all("x-shared-secret"), vec![SECRET]);
    assert_eq!(g.all("x-consumer-id"), vec!["acme-42"]);
    assert_eq!(g.all("x-consumer-name"), vec!["Acme Corp"]);
    assert_eq!(g.all("x-key-id"), vec![id.as_str()]);
    assert_eq!(g.all("x-forwarded-proto"), vec!["http"]);
    assert_eq!(g.all("x-forwarded-for").len(), 1);
    assert_eq!(g.all("x-request-id").len(), 1);
    assert!(g.all("authorization").is_empty());
    assert_eq!(g.one("host"), Some(c.origin.addr().to_string().as_str()));
    assert_eq!(r.header("x-request-id"), g.one("x-request-id"));
}

fn client_copies_replaced(c: &Ctx) {
    let key = c.main.create_key(&["--consumer", "real-consumer"]);
    let m = marker("copies");
    let r = send(
        client()
            .get(c.main.url(&format!("/{m}")))
            .header("authorization", bearer(&key))
            .header("x-shared-secret", "forged-secret")
            .header("x-consumer-id", "admin")
            .header("x-consumer-name", "Admin")
            .header("x-key-id", "000000000000")
            .header("x-forwarded-for", "10.6.6.6")
            .header("x-forwarded-proto", "https")
            .header("x-api-key", "kept-because-not-ours"),
    );
    assert_eq!(r.status, 200);
    let g = &c.origin.received_with(&m)[0];
    assert_eq!(g.all("x-shared-secret"), vec![SECRET]);
    assert_eq!(g.all("x-consumer-id"), vec!["real-consumer"]);
    assert!(
        g.all("x-consumer-name").is_empty(),
        "no consumer name on this key, and the client's is gone"
    );
    assert_ne!(g.one("x-key-id"), Some("000000000000"));
    assert!(!g.all("x-forwarded-for").contains(&"10.6.6.6"));
    assert_eq!(g.all("x-forwarded-proto"), vec!["http"]);
}

fn hop_by_hop_dropped(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("hop");
    let r = raw_get(
        &c.main,
        &format!("/{m}"),
        &format!(
            "Authorization: Bearer {key}\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Drop-Me: 1\r\n\
             X-Keep-Me: 2\r\nProxy-Authorization: Basic eDp5\r\nConnection: X-Drop-Me, X-Shared-Secret\r\n"
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.origin.received_with(&m)[0];
    // The runtime consumes the client's `Connection` header before the worker runs, so headers
    // it lists (X-Drop-Me here) cannot be identified; the fixed hop-by-hop set is still dropped.
    for gone in ["keep-alive", "te", "proxy-authorization", "connection"] {
        assert!(g.all(gone).is_empty(), "{gone} was forwarded");
    }
    assert_eq!(g.all("x-keep-me"), vec!["2"]);
    assert_eq!(
        g.all("x-shared-secret"),
        vec![SECRET],
        "Connection cannot remove our secret header"
    );
}

fn request_id_handling(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("rid");
    let r = send(
        client()
            .get(c.main.url(&format!("/{m}/a")))
            .header("authorization", bearer(&key))
            .header("x-request-id", "trace-abc.123"),
    );
    assert_eq!(r.status, 200);
    let r2 = send(
        client()
            .get(c.main.url(&format!("/{m}/b")))
            .header("authorization", bearer(&key))
            .header("x-request-id", "bad id with spaces"),
    );
    assert_eq!(r2.status, 200);
    let got = c.origin.received_with(&m);
    let a = got.iter().find(|g| g.target.ends_with("/a")).expect("a");
    let b = got.iter().find(|g| g.target.ends_with("/b")).expect("b");
    assert_eq!(a.all("x-request-id"), vec!["trace-abc.123"]);
    let generated = b.one("x-request-id").expect("generated id");
    assert_ne!(generated, "bad id with spaces");
    assert!(generated.len() >= 16);
    // Errors carry the request id too.
    let e = send(
        client()
            .get(c.main.url("/x"))
            .header("x-request-id", "err-trace-1"),
    );
    assert_eq!(e.problem(401)["request_id"], "err-trace-1");
}

fn path_tricks(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let auth = format!("Authorization: Bearer {key}\r\n");
    let m = marker("path");
    // (request target, what the origin must receive, or None when the gateway refuses with 400)
    let cases: Vec<(String, Option<String>)> = vec![
        (
            format!("//evil.example/{m}/1"),
            Some(format!("{BASE}/evil.example/{m}/1")),
        ),
        (
            format!("/@evil.example/{m}/2"),
            Some(format!("{BASE}/@evil.example/{m}/2")),
        ),
        (
            format!("/{m}/3/../../../../etc"),
            Some(format!("{BASE}/etc")),
        ),
        (format!("/{m}/4/%2e%2e/%2E%2E/x"), Some(format!("{BASE}/x"))),
        (format!("/{m}/5/..%2f..%2fadmin"), None),
        (format!("/%2F%2Fevil.example/{m}/6"), None),
        (format!("/{m}/7/a%5cb"), None),
        (
            format!("/{m}/8?q=%2F%2Fevil&next=//evil.example"),
            Some(format!("{BASE}/{m}/8?q=%2F%2Fevil&next=//evil.example")),
        ),
        (
            format!("/{m}/9/caf%C3%A9"),
            Some(format!("{BASE}/{m}/9/caf%C3%A9")),
        ),
    ];
    for (target, want) in &cases {
        let r = raw_get(&c.main, target, &auth);
        match want {
            Some(_) => assert_eq!(r.status, 200, "{target}: {}", r.text()),
            None => {
                assert_eq!(r.status, 400, "{target}: {}", r.text());
                assert_eq!(
                    r.problem(400)["type"],
                    "urn:keygate:problem:invalid_request"
                );
            }
        }
    }
    // The runtime resolves some forms itself (`/\` becomes `//`); whatever arrives must be on
    // the origin, under the base path, and match the expected target exactly.
    let received = c.origin.received();
    let expected: Vec<&String> = cases.iter().filter_map(|(_, w)| w.as_ref()).collect();
    for want in &expected {
        assert!(
            received.iter().any(|g| &&g.target == want),
            "origin never got {want}"
        );
    }
    let r = raw_get(&c.main, &format!("/\\evil.example/{m}/10"), &auth);
    assert!(
        r.status == 200 || r.status == 400,
        "backslash: {}",
        r.status
    );
    for g in c.origin.received_with(&m) {
        assert!(
            g.target.starts_with(&format!("{BASE}/")),
            "left the base path: {}",
            g.target
        );
        assert_eq!(g.one("host"), Some(c.origin.addr().to_string().as_str()));
    }
}

fn absolute_form(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("absform");
    let r = raw_get(
        &c.main,
        &format!("http://evil.example/{m}"),
        &format!("Authorization: Bearer {key}\r\n"),
    );
    assert!(r.status == 200 || r.status == 400, "{}", r.status);
    for g in c.origin.received_with(&m) {
        assert_eq!(g.target, format!("{BASE}/{m}"));
        assert_eq!(g.one("host"), Some(c.origin.addr().to_string().as_str()));
    }
}

fn method_query_body(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("methods");
    for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let body = format!("{{\"method\":\"{method}\"}}");
        let url = c
            .main
            .url(&format!("/{m}/{method}?a=1&b=two%20words&c=%E2%9C%93"));
        let r = send(
            client()
                .request(method.parse().expect("method"), url)
                .header("authorization", bearer(&key))
                .header("content-type", "application/json")
                .body(body.clone()),
        );
        assert_eq!(r.status, 200, "{method}");
        let g = c
            .origin
            .received_with(&format!("{m}/{method}?"))
            .pop()
            .expect("received");
        assert_eq!(g.method, method);
        assert_eq!(
            g.target,
            format!("{BASE}/{m}/{method}?a=1&b=two%20words&c=%E2%9C%93")
        );
        assert_eq!(
            g.body_sha256,
            hex::encode(Sha256::digest(body.as_bytes())),
            "{method} body"
        );
        assert_eq!(g.one("content-type"), Some("application/json"));
    }
    let r = send(
        client()
            .head(c.main.url(&format!("/{m}/HEAD")))
            .header("authorization", bearer(&key)),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

fn five_mb_upload(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("upload");
    let body: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let r = send(
        client()
            .post(c.main.url(&format!("/{m}")))
            .header("authorization", bearer(&key))
            .header("content-type", "application/octet-stream")
            .body(body.clone()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.origin.received_with(&m)[0];
    assert_eq!(g.body_len, body.len() as u64);
    assert_eq!(g.body_sha256, hex::encode(Sha256::digest(&body)));
    assert!(g.body_complete);
}

fn five_mb_download(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let n = 5 * 1024 * 1024;
    let r = get(
        &c.main
            .url(&format!("/{}/__test/bytes?n={n}", marker("download"))),
        Some(&key),
    );
    assert_eq!(r.status, 200);
    let want: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    assert_eq!(r.body.len(), n);
    assert!(r.body == want, "downloaded bytes differ");
}

fn redirect_not_followed(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("redirect");
    let r = get(&c.main.url(&format!("/{m}/__test/redirect")), Some(&key));
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("http://elsewhere.invalid/landing")
    );
    assert_eq!(r.header("x-origin"), Some("redirected"));
    assert_eq!(
        c.origin.received_with(&m).len(),
        1,
        "the gateway must not follow the redirect"
    );
}

fn secret_echo_stripped(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let r = get(
        &c.main
            .url(&format!("/{}/__test/echo-secret", marker("echo"))),
        Some(&key),
    );
    assert_eq!(r.status, 200);
    assert!(r.header("x-shared-secret").is_none());
    assert!(r.header("x-debug-auth").is_none());
    assert!(
        r.header("x-hop").is_none(),
        "headers named in the origin's Connection are hop-by-hop"
    );
    assert_eq!(r.header("x-harmless"), Some("kept"));
}

fn custom_header_name(c: &Ctx) {
    let key = c.custom_header.create_key(&[]);
    let m = marker("custom");
    let r = send(
        client()
            .get(c.custom_header.url(&format!("/{m}")))
            .header("authorization", bearer(&key))
            .header("x-origin-auth", "forged"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.custom_origin.received_with(&m)[0];
    assert_eq!(g.all("x-origin-auth"), vec![SECRET]);
    assert!(g.all("x-shared-secret").is_empty());
}

// ---- CLI ----

fn revoke_then_refused(c: &Ctx) {
    let key = c.main.create_key(&["--name", "to-revoke"]);
    let m = marker("revoke");
    assert_eq!(get(&c.main.url(&format!("/{m}/1")), Some(&key)).status, 200);
    let id = keygate_core::ApiKey::new(key.as_str())
        .hash()
        .id()
        .to_owned();
    let out = c.main.keygate(&["revoke", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Local KV has no edge cache: the next request is already refused.
    get(&c.main.url(&format!("/{m}/2")), Some(&key)).problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 1);
    let again = c.main.keygate(&["revoke", &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no key with id"));
}

fn cli_create_list_show(c: &Ctx) {
    let out = c.main.keygate(&[
        "create",
        "--name",
        "listed",
        "--consumer",
        "team-l",
        "--expires",
        "30d",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let key = stdout.trim();
    remember_key(key);
    assert_eq!(stdout, format!("{key}\n"), "stdout carries the key alone");
    assert_eq!(
        keygate_core::keyformat::classify(key),
        keygate_core::keyformat::KeyShape::Valid
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains(key),
        "the key is printed once, on stdout only"
    );
    let id = keygate_core::ApiKey::new(key).hash().id().to_owned();

    let list = c.main.keygate(&["list", "--json"]);
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    assert_no_secrets("keygate list", &text);
    let rows: serde_json::Value = serde_json::from_str(&text).expect("json");
    let row = rows
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["id"] == id.as_str())
        .expect("listed");
    assert_eq!(row["name"], "listed");
    assert_eq!(row["consumer_id"], "team-l");
    assert_eq!(row["state"], "active");
    assert!(row["expires_at"].as_str().is_some());

    let table = c.main.keygate(&["list"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.starts_with("ID "));
    assert!(table.contains(&id));
    assert_no_secrets("keygate list table", &table);

    let show = c.main.keygate(&["show", &id, "--json"]);
    assert!(show.status.success());
    let text = String::from_utf8_lossy(&show.stdout);
    assert_no_secrets("keygate show", &text);
    let rec: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(rec["id"], id.as_str());
    assert_eq!(rec["state"], "active");
}

fn cli_hash(c: &Ctx) {
    let key = c.main.create_key(&["--name", "hashme"]);
    let out = c.main.keygate(&["hash", &key]);
    let hash = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    assert_eq!(hash, hex::encode(Sha256::digest(key.as_bytes())));
    assert!(c.main.state().exists());
    let show = c.main.keygate(&["show", &key]);
    assert!(
        show.status.success(),
        "the record is stored under that hash"
    );
}

fn count_keys(dev: &Dev) -> usize {
    let out = dev.keygate(&["list", "--json"]);
    assert!(out.status.success());
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .expect("json")
        .as_array()
        .expect("array")
        .len()
}

fn cli_bad_input(c: &Ctx) {
    let dev = &c.bad_origin; // no other test writes keys to this instance
    let before = count_keys(dev);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["create", "--name", "x", "--expires", "2001-01-01T00:00:00Z"],
            "not in the future",
        ),
        (
            vec!["create", "--name", "x", "--expires", "soon"],
            "neither an RFC 3339",
        ),
        (vec!["create", "--name", ""], "--name"),
        (
            vec!["create", "--name", "x", "--consumer", "bad consumer"],
            "--consumer",
        ),
        (vec!["revoke", "ffffffffffff"], "no key with id"),
        (vec!["revoke", "not a key"], "expected a key id"),
        (vec!["show", "ffffffffffff"], "no key with id"),
        (vec!["create"], "--name"),
    ];
    for (args, msg) in cases {
        let out = dev.keygate(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    assert_eq!(count_keys(dev), before, "bad input wrote nothing");
}

fn cli_missing_wrangler(c: &Ctx) {
    let out = c.main.keygate_with(
        &["list"],
        None,
        &[("KEYGATE_WRANGLER", "/nonexistent/wrangler")],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrangler was not found"));
}

fn cli_stdin(c: &Ctx) {
    let key = c.main.create_key(&["--name", "stdin"]);
    let show = c
        .main
        .keygate_with(&["show", "-"], Some(&format!("{key}\n")), &[]);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert!(String::from_utf8_lossy(&show.stdout).contains("name:          stdin"));
    let revoke = c
        .main
        .keygate_with(&["revoke", "-"], Some(&format!("{key}\n")), &[]);
    assert!(revoke.status.success());
    get(&c.main.url("/stdin"), Some(&key)).problem(401);
}

fn expiring_key(c: &Ctx) {
    let key = c
        .main
        .create_key(&["--name", "short-lived", "--expires", "40s"]);
    let show = c.main.keygate(&["show", &key, "--json"]);
    let expires_at = serde_json::from_slice::<serde_json::Value>(&show.stdout).expect("json")
        ["expires_at"]
        .as_u64()
        .expect("expires_at");
    let m = marker("expiry");
    assert_eq!(get(&c.main.url(&format!("/{m}/1")), Some(&key)).status, 200);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    std::thread::sleep(Duration::from_secs(expires_at.saturating_sub(now) + 1));
    get(&c.main.url(&format!("/{m}/2")), Some(&key)).problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 1);
}

// ---- key lifecycle (issue 3) ----

fn cli_ok(dev: &Dev, args: &[&str]) -> String {
    let out = dev.keygate(args);
    assert!(
        out.status.success(),
        "keygate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

fn disable_enable(c: &Ctx) {
    let key = c.main.create_key(&["--name", "toggle"]);
    let m = marker("toggle");
    let id = key_id(&key);
    assert_eq!(get(&c.main.url(&format!("/{m}/1")), Some(&key)).status, 200);
    cli_ok(&c.main, &["disable", &id]);
    get(&c.main.url(&format!("/{m}/2")), Some(&key)).problem(401);
    let shown: serde_json::Value =
        serde_json::from_str(&cli_ok(&c.main, &["show", &id, "--json"])).expect("json");
    assert_eq!(shown["state"], "disabled");
    cli_ok(&c.main, &["enable", &id]);
    assert_eq!(get(&c.main.url(&format!("/{m}/3")), Some(&key)).status, 200);
    let got: Vec<String> = c
        .origin
        .received_with(&m)
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(got, vec![format!("{BASE}/{m}/1"), format!("{BASE}/{m}/3")]);
}

fn rotate_overlap(c: &Ctx) {
    let old = c.main.create_key(&[
        "--name",
        "rotating",
        "--consumer",
        "rot-co",
        "--scopes",
        "GET /**",
    ]);
    let out = cli_ok(&c.main, &["rotate", &key_id(&old), "--overlap", "45s"]);
    let new = out.trim().to_owned();
    remember_key(&new);
    assert_ne!(new, old);
    let m = marker("rotate");
    for (i, k) in [&old, &new].into_iter().enumerate() {
        assert_eq!(
            get(&c.main.url(&format!("/{m}/during/{i}")), Some(k)).status,
            200
        );
    }
    let g = c
        .origin
        .received_with(&format!("{m}/during/1"))
        .pop()
        .expect("new key forwarded");
    assert_eq!(
        g.one("x-consumer-id"),
        Some("rot-co"),
        "the new key keeps the consumer"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&cli_ok(&c.main, &["show", &old, "--json"])).expect("json");
    let expires_at = shown["expires_at"].as_u64().expect("old key now expires");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    std::thread::sleep(Duration::from_secs(expires_at.saturating_sub(now) + 1));
    get(&c.main.url(&format!("/{m}/after/old")), Some(&old)).problem(401);
    assert_eq!(
        get(&c.main.url(&format!("/{m}/after/new")), Some(&new)).status,
        200
    );
    // The new key inherited the scope: a POST is outside it.
    let post = send(
        client()
            .post(c.main.url(&format!("/{m}/post")))
            .header("authorization", bearer(&new)),
    );
    post.problem(403);
}

fn imported_key(c: &Ctx) {
    let legacy = format!("legacy-{}-key0123456789", marker("import"));
    remember_key(&legacy);
    let out = c.main.keygate_with(
        &[
            "import",
            "--name",
            "from-old-gateway",
            "--consumer",
            "migrated",
        ],
        Some(&format!("{legacy}\n")),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "import prints no keys");
    let m = marker("imported");
    let r = get(&c.main.url(&format!("/{m}")), Some(&legacy));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        c.origin.received_with(&m)[0].one("x-consumer-id"),
        Some("migrated")
    );
    let again = c.main.keygate_with(
        &["import", "--name", "x"],
        Some(&format!("{legacy}\n")),
        &[],
    );
    assert!(
        !again.status.success(),
        "a second import of the same key is refused"
    );
}

fn list_filters(c: &Ctx) {
    let consumer = marker("filter-co");
    let a = c
        .main
        .create_key(&["--name", "fa", "--consumer", &consumer]);
    let b = c
        .main
        .create_key(&["--name", "fb", "--consumer", &consumer]);
    cli_ok(&c.main, &["disable", &key_id(&b)]);
    let rows = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["list", "--json", "--consumer", consumer.as_str()];
        args.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_str(&cli_ok(&c.main, &args)).expect("json");
        v.as_array()
            .expect("array")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let mut all = rows(&[]);
    all.sort();
    let mut want = vec![key_id(&a), key_id(&b)];
    want.sort();
    assert_eq!(all, want);
    assert_eq!(rows(&["--state", "active"]), vec![key_id(&a)]);
    assert_eq!(rows(&["--state", "disabled"]), vec![key_id(&b)]);
    assert!(rows(&["--state", "expired"]).is_empty());
}

fn list_many(c: &Ctx) {
    // 1,100 records written in one bulk call, then listed through the CLI (KV pages at 1,000).
    let dev = &c.no_secret;
    let entries: Vec<serde_json::Value> = (0..1100)
        .map(|i| {
            let h = keygate_core::ApiKey::new(format!("bulk-key-{i:05}")).hash();
            let rec = serde_json::json!({"v":1,"id":h.id(),"name":format!("bulk{i}"),"consumer_id":"bulk","created_at":1});
            let meta = serde_json::json!({"id":h.id(),"name":format!("bulk{i}"),"consumer_id":"bulk","created_at":1});
            serde_json::json!({"key": h.as_kv_key(), "value": rec.to_string(), "metadata": meta})
        })
        .collect();
    dev.kv_bulk_put(&entries);
    let v: serde_json::Value =
        serde_json::from_str(&cli_ok(dev, &["list", "--json", "--consumer", "bulk"]))
            .expect("json");
    assert_eq!(v.as_array().expect("array").len(), 1100);
}

// ---- per-key policy (issue 3) ----

fn scoped_key(c: &Ctx) {
    let key = c.main.create_key(&[
        "--name",
        "scoped",
        "--scopes",
        "GET /v1/*",
        "--scopes",
        "* /reports/**",
    ]);
    let m = marker("scoped");
    let ok = get(&c.main.url(&format!("/v1/{m}")), Some(&key));
    assert_eq!(ok.status, 200);
    let deep = send(
        client()
            .delete(c.main.url(&format!("/reports/{m}/2026/q1")))
            .header("authorization", bearer(&key)),
    );
    assert_eq!(deep.status, 200);
    for (method, path) in [
        ("GET", format!("/admin/{m}")),
        ("POST", format!("/v1/{m}")),
        ("GET", format!("/v1/{m}/deeper")),
    ] {
        let r = send(
            client()
                .request(method.parse().expect("method"), c.main.url(&path))
                .header("authorization", bearer(&key)),
        );
        r.problem(403);
        let challenge = r.header("www-authenticate").expect("challenge");
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(
            challenge.contains("scope=\"GET:/v1/* *:/reports/**\""),
            "{challenge}"
        );
    }
    // Traversal is resolved before matching: /v1/../admin is /admin.
    let r = raw_get(
        &c.main,
        &format!("/v1/../admin/{m}"),
        &format!("Authorization: Bearer {key}\r\n"),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let got = c.origin.received_with(&m);
    assert_eq!(
        got.len(),
        2,
        "only the two in-scope requests reached the origin"
    );
    assert!(c.main.log_contains("out_of_scope"));
}

fn bad_checksum(c: &Ctx) {
    let key = c.main.create_key(&["--name", "checksum"]);
    let mut bad = key.clone();
    let i = 10;
    let swap = if &bad[i..=i] == "Z" { "Y" } else { "Z" };
    bad.replace_range(i..=i, swap);
    remember_key(&bad);
    let m = marker("checksum");
    let unknown = get(
        &c.main.url(&format!("/{m}")),
        Some(&fixture_key("neverissuedeither")),
    );
    let r = get(&c.main.url(&format!("/{m}")), Some(&bad));
    assert_eq!(
        strip_request_id(r.problem(401)),
        strip_request_id(unknown.problem(401))
    );
    assert!(c.main.log_contains("bad_checksum"));
    assert!(c.origin.received_with(&m).is_empty());
}

fn key_in_query(c: &Ctx) {
    let key = c.main.create_key(&[]);
    let m = marker("query");
    for q in [
        format!("api_key={key}"),
        format!("x={key}"),
        "access_token=abc".to_owned(),
    ] {
        let r = get(&c.main.url(&format!("/{m}?{q}")), Some(&key));
        let p = r.problem(400);
        assert!(
            p["detail"]
                .as_str()
                .expect("detail")
                .contains("query string"),
            "{p}"
        );
    }
    assert!(c.origin.received_with(&m).is_empty());
}

fn anonymous(c: &Ctx) {
    let m = marker("anon");
    let r = send(
        client()
            .get(c.open.url(&format!("/{m}/1")))
            .header("x-consumer-id", "forged"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.origin.received_with(&format!("{m}/1"))[0];
    assert_eq!(g.all("x-consumer-anonymous"), vec!["true"]);
    assert!(g.all("x-consumer-id").is_empty() && g.all("x-key-id").is_empty());
    assert_eq!(g.all("x-shared-secret"), vec![SECRET]);
    // A bad credential is still refused when anonymous access is on.
    get(
        &c.open.url(&format!("/{m}/2")),
        Some(&fixture_key("unknownonopen")),
    )
    .problem(401);
    assert_invalid_request(&send(
        client()
            .get(c.open.url(&format!("/{m}/3")))
            .header("authorization", "Basic eDp5"),
    ));
    // Off by default.
    get(&c.main.url(&format!("/{m}/4")), None).problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 1);
}

fn preflight(c: &Ctx) {
    let m = marker("preflight");
    let pre = |dev: &Dev, n: u8| {
        send(
            client()
                .request(reqwest::Method::OPTIONS, dev.url(&format!("/{m}/{n}")))
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST"),
        )
    };
    assert_eq!(pre(&c.open, 1).status, 200);
    let g = &c.origin.received_with(&format!("{m}/1"))[0];
    assert_eq!(g.method, "OPTIONS");
    assert!(g.all("x-consumer-id").is_empty() && g.all("x-consumer-anonymous").is_empty());
    pre(&c.main, 2).problem(401);
    // A plain OPTIONS (no preflight header) still needs a key.
    let plain = send(client().request(reqwest::Method::OPTIONS, c.main.url(&format!("/{m}/3"))));
    plain.problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 1);
}

fn x_api_key(c: &Ctx) {
    let key = c.open.create_key(&["--name", "apikey-header"]);
    let m = marker("xapikey");
    let r = send(
        client()
            .get(c.open.url(&format!("/{m}/1")))
            .header("x-api-key", &key),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &c.origin.received_with(&format!("{m}/1"))[0];
    assert!(
        g.all("x-api-key").is_empty(),
        "a key source is never forwarded"
    );
    assert_eq!(g.one("x-key-id"), Some(key_id(&key).as_str()));
    let both = send(
        client()
            .get(c.open.url(&format!("/{m}/2")))
            .header("x-api-key", &key)
            .header("authorization", bearer(&key)),
    );
    assert_eq!(both.status, 200);
    let other = fixture_key("otherkey");
    let clash = send(
        client()
            .get(c.open.url(&format!("/{m}/3")))
            .header("x-api-key", &other)
            .header("authorization", bearer(&key)),
    );
    assert_invalid_request(&clash);
    // Where X-API-Key is not a source, it is not a credential (and not the gateway's to drop).
    let main_key = c.main.create_key(&[]);
    let r = send(
        client()
            .get(c.main.url(&format!("/{m}/4")))
            .header("x-api-key", &main_key),
    );
    r.problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 2);
}

fn consumer_meta(c: &Ctx) {
    let key = c.open.create_key(&[
        "--name",
        "meta",
        "--meta",
        "plan=enterprise",
        "--meta",
        "internal=do-not-send",
    ]);
    let m = marker("meta");
    let r = send(
        client()
            .get(c.open.url(&format!("/{m}")))
            .header("authorization", bearer(&key))
            .header("x-consumer-plan", "free"),
    );
    assert_eq!(r.status, 200);
    let g = &c.origin.received_with(&m)[0];
    assert_eq!(g.all("x-consumer-plan"), vec!["enterprise"]);
    assert!(g.all("x-consumer-internal").is_empty());
}

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

fn tier_rate_limit(c: &Ctx) {
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

fn quota_concurrent(c: &Ctx) {
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

fn quota_restart(_c: &Ctx) {
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let dev = Dev::start(
        "quota-restart",
        &[
            ("ORIGIN_URL", &format!("http://{}", origin.addr())),
            ("SHARED_SECRET", SECRET),
            ("ADMIN_TOKEN", ADMIN_TOKEN),
        ],
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

fn unknown_tier(c: &Ctx) {
    let key = c.limits.create_key(&["--name", "gold", "--tier", "gold"]);
    let m = marker("gold");
    let p = get(&c.limits.url(&format!("/{m}")), Some(&key)).problem(500);
    assert_eq!(p["type"], "urn:keygate:problem:server_configuration_error");
    assert!(c.origin.received_with(&m).is_empty());
    assert!(c
        .limits
        .log_contains("names a tier that RATE_LIMIT_TIERS does not define"));
}

fn missing_tier_binding(_c: &Ctx) {
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let dev = Dev::start(
        "tier-no-binding",
        &[
            ("ORIGIN_URL", &format!("http://{}", origin.addr())),
            ("SHARED_SECRET", SECRET),
            ("RATE_LIMIT_TIERS", "free=RL_ABSENT:5/60"),
        ],
    );
    let key = dev.create_key(&["--name", "any"]);
    let p = get(&dev.url("/x"), Some(&key)).problem(500);
    assert_eq!(p["type"], "urn:keygate:problem:server_configuration_error");
    assert!(origin.received().is_empty(), "never silently unlimited");
    assert!(dev.log_contains("names a rate-limit binding that is not in wrangler.toml"));
}

fn quota_fault(_c: &Ctx) {
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let dev = Dev::start_setup(
        "quota-fault",
        &[
            ("ORIGIN_URL", &format!("http://{}", origin.addr())),
            ("SHARED_SECRET", SECRET),
        ],
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

fn admin_endpoint(c: &Ctx) {
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
    // Without ADMIN_TOKEN the prefix is an ordinary path behind the key check.
    let m = marker("admin");
    get(
        &c.main.url(&format!("/__keygate/usage?{m}")),
        Some(ADMIN_TOKEN),
    )
    .problem(401);
    let key = c.main.create_key(&["--name", "admin-path"]);
    assert_eq!(
        get(&c.main.url(&format!("/__keygate/usage?{m}")), Some(&key)).status,
        200
    );
    assert_eq!(c.origin.received_with(&m).len(), 1);
}

fn unlimited_tier(c: &Ctx) {
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

/// The `cache` field of the log line of the request with this id.
fn cache_outcome(dev: &Dev, request_id: &str) -> String {
    dev.request_log(request_id)["cache"]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

fn get_with_id(dev: &Dev, path: &str, key: &str, request_id: &str) -> Resp {
    send(
        client()
            .get(dev.url(path))
            .header("authorization", bearer(key))
            .header("x-request-id", request_id),
    )
}

const CACHE_TTL_SECS: u64 = 8;

fn start_cached_instance(name: &str, origin: &TestOrigin) -> Dev {
    Dev::start(
        name,
        &[
            ("ORIGIN_URL", &format!("http://{}", origin.addr())),
            ("SHARED_SECRET", SECRET),
            ("KEY_CACHE_TTL_SECS", &CACHE_TTL_SECS.to_string()),
        ],
    )
}

fn cache_revocation_bound(_c: &Ctx) {
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let dev = start_cached_instance("cache-ttl", &origin);
    let key = dev.create_key(&["--name", "cached"]);
    let m = marker("cachettl");
    assert_eq!(get_with_id(&dev, "/a", &key, &format!("{m}-a")).status, 200);
    assert_eq!(get_with_id(&dev, "/b", &key, &format!("{m}-b")).status, 200);
    assert_eq!(cache_outcome(&dev, &format!("{m}-a")), "miss");
    assert_eq!(cache_outcome(&dev, &format!("{m}-b")), "hit");
    cli_ok(&dev, &["revoke", &key_id(&key)]);
    let revoked = std::time::Instant::now();
    let mut stale = 0;
    let refused_after = loop {
        let r = get(&dev.url("/poll"), Some(&key));
        if r.status == 401 {
            break revoked.elapsed();
        }
        assert_eq!(r.status, 200);
        stale += 1;
        assert!(
            revoked.elapsed() < Duration::from_secs(CACHE_TTL_SECS + 10),
            "revoked key still accepted"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "cache: revoked key refused {:.1} s after revoke returned ({stale} stale answers; bound {CACHE_TTL_SECS} s)",
        refused_after.as_secs_f64()
    );
    // Local KV has no propagation delay, so the bound is the isolate TTL (plus request time).
    assert!(
        refused_after <= Duration::from_millis(CACHE_TTL_SECS * 1000 + 1500),
        "refused only after {refused_after:?}"
    );
    // Unknown keys are cached too, for the shorter negative TTL, and still get 401.
    let unknown = fixture_key("cache-unknown");
    for i in 0..2 {
        get_with_id(&dev, "/u", &unknown, &format!("{m}-u{i}")).problem(401);
    }
    assert_eq!(cache_outcome(&dev, &format!("{m}-u0")), "miss");
    assert_eq!(cache_outcome(&dev, &format!("{m}-u1")), "hit");
    assert_no_secrets("wrangler log 'cache-ttl'", &dev.logs());
}

fn cache_coalescing(_c: &Ctx) {
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let dev = start_cached_instance("cache-coalesce", &origin);
    let key = dev.create_key(&["--name", "burst"]);
    let m = marker("burst");
    let ids: Vec<String> = (0..24).map(|i| format!("{m}-{i}")).collect();
    std::thread::scope(|s| {
        for id in &ids {
            let (dev, key) = (&dev, &key);
            s.spawn(move || assert_eq!(get_with_id(dev, "/burst", key, id).status, 200));
        }
    });
    let outcomes: Vec<String> = ids.iter().map(|id| cache_outcome(&dev, id)).collect();
    let misses = outcomes.iter().filter(|o| *o == "miss").count();
    assert_eq!(misses, 1, "one KV read for the whole burst: {outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o.as_str(), "miss" | "hit" | "shared")));
    eprintln!(
        "cache: 24 concurrent requests: 1 miss, {} shared, {} hits",
        outcomes.iter().filter(|o| *o == "shared").count(),
        outcomes.iter().filter(|o| *o == "hit").count()
    );
    assert_eq!(origin.received().len(), 24);
}
