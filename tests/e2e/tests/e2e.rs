//! End-to-end: real `wrangler dev` instances with local KV, a real recording origin, a real HTTP
//! client, and keys made with the `keygate` CLI. Every response is scanned for leaked secrets,
//! and after the run every wrangler log is too. This file starts the instances and registers
//! the tests; each module in `e2e/` holds one subject's tests, registered as `module::function`.

#[path = "e2e/cache.rs"]
mod cache;
#[path = "e2e/cli.rs"]
mod cli;
#[path = "e2e/contract.rs"]
mod contract;
#[path = "e2e/forward.rs"]
mod forward;
#[path = "e2e/lifecycle.rs"]
mod lifecycle;
#[path = "e2e/limits.rs"]
mod limits;
#[path = "e2e/policy.rs"]
mod policy;

use keygate_e2e::*;
use libtest_mimic::Arguments;
use std::sync::Arc;

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

fn main() {
    let args = Arguments::from_args();
    let tests: Vec<NamedTest<Ctx>> = named_tests![
        contract::{
            no_authorization_header_gets_401_with_a_bare_bearer_challenge,
            wrong_scheme_gets_400_invalid_request,
            empty_token_gets_400_invalid_request,
            token_with_bad_characters_gets_400_invalid_request,
            two_authorization_headers_get_400_invalid_request,
            token_over_4_kib_gets_400_invalid_request,
            unknown_disabled_and_expired_keys_are_indistinguishable,
            corrupt_record_is_an_invalid_token_not_a_500,
            missing_shared_secret_is_a_500_and_origin_is_never_contacted,
            invalid_origin_url_is_a_500,
            kv_read_failure_fails_closed_with_503_and_retry_after,
            unreachable_origin_gets_502,
            slow_origin_gets_504_after_the_configured_timeout,
            a_body_that_streams_past_the_origin_timeout_arrives_whole,
            origin_status_headers_and_body_come_back_unchanged,
        },
        forward::{
            origin_receives_secret_identity_and_forwarding_headers_once,
            client_copies_of_secret_and_identity_headers_are_replaced,
            hop_by_hop_and_connection_listed_headers_are_dropped,
            sane_request_id_passes_and_others_are_replaced,
            no_path_form_changes_the_origin_host_or_leaves_the_base_path,
            absolute_form_target_goes_to_the_origin_only,
            method_query_and_body_pass_unchanged,
            five_mb_upload_arrives_byte_identical,
            five_mb_download_streams_back_byte_identical,
            redirects_are_returned_to_the_client_not_followed,
            response_headers_echoing_the_secret_never_reach_the_client,
            custom_secret_header_name_is_used_and_default_one_not_sent,
        },
        cli::{
            revoked_key_is_refused_afterwards,
            create_prints_only_the_key_and_list_show_never_reveal_it,
            hash_prints_the_kv_key_name_the_worker_reads,
            bad_input_fails_clearly_and_changes_nothing,
            missing_wrangler_is_a_clear_error,
            revoke_and_show_accept_the_key_on_stdin,
            expiring_key_works_until_its_expiry_then_is_refused,
        },
        lifecycle::{
            disable_refuses_the_key_and_enable_restores_it,
            rotate_keeps_both_keys_during_the_overlap_then_refuses_the_old,
            imported_key_works_and_only_its_hash_is_stored,
            list_filters_by_consumer_and_state,
            list_pages_beyond_1000_keys,
        },
        policy::{
            scoped_key_gets_403_outside_its_scopes_even_via_traversal,
            key_failing_its_checksum_is_refused_like_an_unknown_key,
            key_in_the_query_string_gets_400,
            anonymous_requests_pass_only_when_enabled,
            cors_preflight_passes_without_a_key_only_when_enabled,
            x_api_key_is_a_source_only_when_enabled_and_must_agree,
            listed_metadata_reaches_the_origin_as_consumer_headers,
        },
        limits::{
            tier_allows_exactly_its_limit_then_429_and_the_origin_sees_only_those,
            quota_of_n_admits_exactly_n_of_concurrent_requests_and_usage_agrees,
            quota_count_survives_a_wrangler_dev_restart,
            tier_missing_from_config_is_a_500_never_unlimited,
            tier_binding_missing_from_wrangler_toml_is_a_500,
            quota_store_fault_fails_closed_and_keys_without_quota_never_call_it,
            admin_usage_endpoint_needs_the_admin_token_and_exists_only_when_set,
            unlimited_tier_passes_with_no_ratelimit_headers,
        },
        cache::{
            revoked_key_is_refused_within_the_isolate_ttl,
            concurrent_requests_for_one_key_make_one_kv_read,
        },
    ];

    // Held for the whole run, so no instance can take the dead origin's port.
    let closed_port = ClosedPort::new();
    let ctx = Arc::new(start(&closed_port));
    let trials = trials(&ctx, tests);
    let conclusion = libtest_mimic::run(&args, trials);

    // After every request: no wrangler log may contain a key, a full hash or the secret.
    conclude(conclusion, ctx, |c| {
        logs_are_clean(&[
            &c.main,
            &c.no_secret,
            &c.bad_origin,
            &c.dead_origin,
            &c.custom_header,
            &c.kv_fault,
            &c.open,
            &c.limits,
        ])
    });
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

fn cli_ok(dev: &Dev, args: &[&str]) -> String {
    let out = dev.keygate(args);
    assert!(
        out.status.success(),
        "keygate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}
