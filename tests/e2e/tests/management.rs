//! End-to-end tests of the management API (`/__keygate/v1`, issue 15) against real `wrangler dev`
//! instances: every endpoint, every refusal of the contract's answer table, the permission
//! matrix, the tenant guard, the separation of root keys and API keys, idempotent create under
//! concurrent retries, the audit trail, the management request log lines, and the CLI in API
//! mode. This file starts the instances and holds the shared helpers; each module in
//! `management/` holds one subject's tests, registered as `module::function`.

#[path = "management/audit.rs"]
mod audit;
#[path = "management/cli.rs"]
mod cli;
#[path = "management/endpoints.rs"]
mod endpoints;
#[path = "management/faults.rs"]
mod faults;
#[path = "management/idempotency.rs"]
mod idempotency;
#[path = "management/permissions.rs"]
mod permissions;
#[path = "management/refusals.rs"]
mod refusals;
#[path = "management/revocation.rs"]
mod revocation;
#[path = "management/schemathesis.rs"]
mod schemathesis;
#[path = "management/separation.rs"]
mod separation;
#[path = "management/tenant.rs"]
mod tenant;

use keygate_e2e::*;
use libtest_mimic::Arguments;
use serde_json::{json, Value};
use std::sync::Arc;

/// Where the management API lives.
pub const V1: &str = keygate_core::management::BASE;
/// The bootstrap credential: every instance here sets `ADMIN_TOKEN`.
pub const BOOT: &str = ADMIN_TOKEN;
/// The realm of every management challenge.
pub const REALM: &str = "Bearer realm=\"keygate-management\"";

pub struct Ctx {
    /// Records what reaches the origin: nothing under `/__keygate/` ever may.
    pub origin: TestOrigin,
    /// The instance most tests share: origin, `ADMIN_TOKEN`, no key cache (a change made through
    /// the API shows on the data plane at once), a tier `big` and the quota store.
    pub main: Dev,
    /// `API_KEYS` bound to a store whose calls throw.
    pub kv_fault: Dev,
    /// `MANAGEMENT_LOG` (audit trail, idempotency records) bound to an object whose calls throw.
    pub log_fault: Dev,
    /// Tiny management rate limits; only the rate-limit test sends requests to it.
    pub limited: Dev,
    /// Only the schemathesis run uses it: it changes things at random.
    pub fuzz: Dev,
    /// Keys cached for 300 s (`KEY_CACHE_TTL_SECS=300`) and the change feed at its default
    /// period: the revocation-in-seconds tests make their changes through its management API.
    pub feed: Dev,
    /// Another location of `feed`'s deployment: its KV and its management log, an isolate of its
    /// own, the same 300 s cache. It learns of `feed`'s writes only through the change feed.
    pub feed_edge: Dev,
    /// `MANAGEMENT_LOG` bound to an object whose calls throw, and `REVOCATION_LOG_FAULT=closed`.
    pub log_closed: Dev,
}

/// The per-client-address and per-root-key management limits of the `limited` instance.
pub const LIMITED_IP: u32 = 10;
pub const LIMITED_KEY: u32 = 3;

const MAIN_TOML: &str = "[[ratelimits]]\nname = \"RL_BIG\"\nnamespace_id = \"3001\"\n\
     simple = { limit = 1000, period = 60 }\n";

fn start() -> Ctx {
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let o = format!("http://{}", origin.addr());
    // Side by side: each instance takes seconds to boot.
    std::thread::scope(|s| {
        let main = s.spawn(|| {
            Dev::start_setup(
                "mgmt-main",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ADMIN_TOKEN", ADMIN_TOKEN),
                    ("KEY_CACHE_TTL_SECS", "0"),
                    ("RATE_LIMIT_TIERS", "big=RL_BIG:1000/60"),
                ],
                Setup {
                    extra_toml: MAIN_TOML,
                    ..Setup::default()
                },
            )
        });
        let kv_fault = s.spawn(|| {
            Dev::start_setup(
                "mgmt-kv-fault",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ADMIN_TOKEN", ADMIN_TOKEN),
                ],
                Setup {
                    failing_kv: true,
                    ..Setup::default()
                },
            )
        });
        let log_fault = s.spawn(|| {
            Dev::start_setup(
                "mgmt-log-fault",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ADMIN_TOKEN", ADMIN_TOKEN),
                    ("KEY_CACHE_TTL_SECS", "0"),
                ],
                Setup {
                    failing_log: true,
                    ..Setup::default()
                },
            )
        });
        let limited = s.spawn(|| {
            Dev::start_setup(
                "mgmt-limited",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ADMIN_TOKEN", ADMIN_TOKEN),
                ],
                Setup {
                    mgmt_ip_limit: Some(LIMITED_IP),
                    mgmt_key_limit: Some(LIMITED_KEY),
                    ..Setup::default()
                },
            )
        });
        let fuzz = s.spawn(|| {
            Dev::start(
                "mgmt-fuzz",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ADMIN_TOKEN", ADMIN_TOKEN),
                ],
            )
        });
        let feed = s.spawn(|| {
            Dev::start(
                "mgmt-feed",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ADMIN_TOKEN", ADMIN_TOKEN),
                    ("KEY_CACHE_TTL_SECS", "300"),
                ],
            )
        });
        let log_closed = s.spawn(|| {
            Dev::start_setup(
                "mgmt-log-closed",
                &[
                    ("ORIGIN_URL", &o),
                    ("SHARED_SECRET", SECRET),
                    ("ADMIN_TOKEN", ADMIN_TOKEN),
                    ("REVOCATION_LOG_FAULT", "closed"),
                ],
                Setup {
                    failing_log: true,
                    ..Setup::default()
                },
            )
        });
        let feed = feed.join().expect("mgmt-feed");
        let feed_edge = Dev::start_setup(
            "mgmt-feed-edge",
            &[
                ("ORIGIN_URL", &o),
                ("SHARED_SECRET", SECRET),
                ("KEY_CACHE_TTL_SECS", "300"),
            ],
            Setup {
                peer: Some(&feed),
                ..Setup::default()
            },
        );
        Ctx {
            feed,
            feed_edge,
            log_closed: log_closed.join().expect("mgmt-log-closed"),
            main: main.join().expect("mgmt-main"),
            fuzz: fuzz.join().expect("mgmt-fuzz"),
            kv_fault: kv_fault.join().expect("mgmt-kv-fault"),
            log_fault: log_fault.join().expect("mgmt-log-fault"),
            limited: limited.join().expect("mgmt-limited"),
            origin,
        }
    })
}

/// Set by `scripts/test.sh`, which runs this binary on its own beside `cargo test --workspace`:
/// the run inside `cargo test` then does nothing.
const RUN_SEPARATELY_ENV: &str = "KEYGATE_E2E_MANAGEMENT_SEPARATELY";

fn main() {
    if std::env::var_os(RUN_SEPARATELY_ENV).is_some() {
        eprintln!("management: run on its own by scripts/test.sh ({RUN_SEPARATELY_ENV} is set)");
        return;
    }
    let args = Arguments::from_args();
    // The longest first: it runs beside all the others.
    let tests: Vec<NamedTest<Ctx>> = named_tests![
        schemathesis::{
            schemathesis_finds_no_server_error_schema_break_or_undocumented_status
        },
        endpoints::{
            create_answers_201_with_the_key_once_its_record_and_location_and_the_key_passes,
            create_with_only_the_required_fields_leaves_the_optional_ones_unset,
            list_filters_by_consumer_and_state_and_pages_with_an_opaque_cursor,
            patch_merges_fields_and_the_data_plane_follows_at_once,
            rotate_issues_a_working_new_key_and_never_extends_the_expiry,
            revoke_answers_204_and_the_key_is_gone_from_the_api_and_the_data_plane,
            import_stores_only_hashes_all_or_nothing_and_the_keys_pass,
            usage_reports_the_quota_window_and_what_the_data_plane_counted,
            verify_gives_the_data_plane_decision_and_consumes_no_quota,
            roots_are_created_listed_and_revoked_and_a_revoked_root_key_is_refused,
            openapi_document_is_served_without_a_credential_as_committed,
            expiry_after_2038_is_accepted_and_a_far_one_is_never_a_store_fault,
        },
        refusals::{
            missing_unknown_malformed_and_api_key_credentials_get_401,
            missing_permission_gets_403_insufficient_scope_naming_it,
            unknown_ids_routes_and_paths_under_keygate_get_404,
            known_path_with_another_method_gets_405_with_allow,
            conflicts_get_409_and_write_nothing,
            body_over_64_kib_gets_413_and_one_of_64_kib_passes,
            body_that_is_not_json_content_gets_415,
            invalid_fields_get_422_with_one_entry_per_field,
        },
        revocation::{
            twenty_revocations_and_disables_through_the_api_hold_within_the_bound_despite_a_300_s_cache,
            a_scope_change_through_the_api_holds_within_the_bound_despite_a_300_s_cache,
            a_change_written_around_the_api_waits_for_the_cache,
            the_isolate_that_served_the_write_refuses_at_once,
            with_the_log_down_and_the_kv_setting_keys_pass_and_the_fault_is_logged,
            with_the_log_down_and_the_closed_setting_keyed_requests_get_503,
        },
        faults::{
            failing_key_store_fails_closed_with_503,
            failing_management_log_fails_closed_with_503_and_says_what_was_done,
            management_requests_over_the_ip_or_root_key_limit_get_429,
        },
        permissions::{each_permission_opens_exactly_its_endpoints},
        tenant::{
            prefixed_root_key_gets_the_unknown_id_answer_for_a_key_outside_its_prefix,
            prefixed_root_key_lists_verifies_and_audits_only_its_consumers,
            prefixed_root_key_cannot_create_outside_its_prefix_or_escalate_roots,
        },
        separation::{
            root_key_is_refused_by_the_data_plane_and_the_origin_gets_nothing,
            api_key_never_opens_the_management_api,
            no_spelling_of_a_keygate_path_reaches_the_origin,
            management_log_lines_carry_management_decisions_and_no_credential,
        },
        idempotency::{
            twenty_concurrent_retries_of_one_create_make_exactly_one_key,
            idempotency_key_is_scoped_to_its_body_and_its_principal,
        },
        audit::{
            create_patch_rotate_revoke_leave_four_ordered_entries_without_secrets,
            audit_pages_with_a_cursor_oldest_first,
        },
        cli::{
            cli_in_api_mode_manages_keys_through_the_gateway,
            cli_in_api_mode_manages_root_keys_and_reads_the_audit_trail,
            cli_root_create_on_the_wrangler_path_bootstraps_the_first_root_key,
            cli_in_api_mode_with_a_bad_root_key_fails_without_printing_it,
        },
    ];

    let ctx = Arc::new(start());
    let trials = trials(&ctx, tests);
    let conclusion = libtest_mimic::run(&args, trials);
    conclude(conclusion, ctx, |c| {
        logs_are_clean(&[
            &c.main,
            &c.kv_fault,
            &c.log_fault,
            &c.limited,
            &c.fuzz,
            &c.feed,
            &c.feed_edge,
            &c.log_closed,
        ])
    });
}

/// Sends `method V1{path}` with an optional bearer credential, header fields and a body.
pub fn call_raw(
    dev: &Dev,
    token: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Resp {
    let mut req = client().request(
        method.parse().expect("method"),
        dev.url(&format!("{V1}{path}")),
    );
    if let Some(t) = token {
        req = req.header("authorization", bearer(t));
    }
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    send(req)
}

/// Sends `method V1{path}`, with a JSON body (`Content-Type: application/json`) when given.
pub fn call(
    dev: &Dev,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    match body {
        Some(b) => call_raw(
            dev,
            token,
            method,
            path,
            &[("content-type", "application/json")],
            Some(b.to_string().into_bytes()),
        ),
        None => call_raw(dev, token, method, path, &[], None),
    }
}

/// Checks a JSON answer of `status` with the headers every management answer carries; returns
/// the body.
pub fn answer(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "status; body: {}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "content-type {:?}",
        r.header("content-type")
    );
    assert_common_headers(r);
    r.json()
}

/// Every management answer: `Cache-Control: no-store` and an `X-Request-Id`.
pub fn assert_common_headers(r: &Resp) {
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "{:?}",
        r.headers
    );
    assert!(
        r.header("x-request-id").is_some_and(|v| !v.is_empty()),
        "no X-Request-Id: {:?}",
        r.headers
    );
}

/// A 401 of the management API: problem+json and its challenge (`error="invalid_token"` unless
/// no credential was sent).
pub fn assert_unauthenticated(r: &Resp, credential_sent: bool) -> Value {
    let p = r.problem(401);
    let want = if credential_sent {
        format!("{REALM}, error=\"invalid_token\"")
    } else {
        REALM.to_owned()
    };
    assert_eq!(r.header("www-authenticate"), Some(want.as_str()));
    p
}

/// A 403 for a missing permission: problem+json and the `insufficient_scope` challenge.
pub fn assert_forbidden(r: &Resp, scope: &str) -> Value {
    let p = r.problem(403);
    let want = format!("{REALM}, error=\"insufficient_scope\", scope=\"{scope}\"");
    assert_eq!(r.header("www-authenticate"), Some(want.as_str()));
    p
}

/// A 422 whose `errors` name exactly these fields, one entry each; returns the problem.
pub fn assert_invalid(r: &Resp, fields: &[&str]) -> Value {
    let p = r.problem(422);
    let errors = p["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {p}"));
    let mut got: Vec<&str> = errors
        .iter()
        .map(|e| {
            assert!(
                e["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "entry without detail: {e}"
            );
            e["field"]
                .as_str()
                .unwrap_or_else(|| panic!("entry without field: {e}"))
        })
        .collect();
    got.sort_unstable();
    let mut want = fields.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{p}");
    p
}

/// Creates a key through the API with `token` and `body`; returns the key (remembered for the
/// scans) and its record.
pub fn new_key(dev: &Dev, token: &str, body: Value) -> (String, Value) {
    let r = call(dev, Some(token), "POST", "/keys", Some(&body));
    let v = answer(&r, 201);
    let key = v["key"].as_str().expect("key").to_owned();
    remember_key(&key);
    (key, v["record"].clone())
}

/// Creates a key with only a name and `consumer`, as the bootstrap principal.
pub fn plain_key(dev: &Dev, consumer: &str) -> (String, String) {
    let (key, rec) = new_key(dev, BOOT, json!({"name": "k", "consumer_id": consumer}));
    (key, rec["id"].as_str().expect("id").to_owned())
}

/// Creates a root key through the API; returns the key (remembered) and its record.
pub fn new_root(
    dev: &Dev,
    token: &str,
    name: &str,
    permissions: &[&str],
    prefix: Option<&str>,
) -> (String, Value) {
    let mut body = json!({"name": name, "permissions": permissions});
    if let Some(p) = prefix {
        body["consumer_prefix"] = json!(p);
    }
    let r = call(dev, Some(token), "POST", "/roots", Some(&body));
    let v = answer(&r, 201);
    let key = v["key"].as_str().expect("root key").to_owned();
    remember_key(&key);
    (key, v["record"].clone())
}

/// Every permission name.
pub fn all_permissions() -> Vec<&'static str> {
    keygate_core::root::Permission::ALL
        .iter()
        .map(|p| p.as_str())
        .collect()
}

/// A root key of the right format with a valid checksum that was never stored.
pub fn unknown_root_key(tag: &str) -> String {
    use sha2::{Digest, Sha256};
    let random = hex::encode(Sha256::digest(format!("root-{tag}-{}", std::process::id())));
    let key =
        keygate_core::keyformat::assemble_with(keygate_core::keyformat::ROOT_PREFIX, &random[..43]);
    remember_key(&key);
    key
}

/// A 12-hex id that names no key and no root key.
pub fn unknown_id(tag: &str) -> String {
    key_id(&crafted_key(&format!("never-stored-{tag}")))
}

/// The ids of every key the bootstrap principal lists for `consumer`, across pages.
pub fn ids_of_consumer(dev: &Dev, token: &str, consumer: &str) -> Vec<String> {
    list_all(dev, token, &format!("consumer={consumer}"))
        .iter()
        .map(|k| k["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Every key summary `GET /keys?{query}` lists, following the cursor.
pub fn list_all(dev: &Dev, token: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut q = format!("{query}&limit=100");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", encode(c)));
        }
        let v = answer(
            &call(dev, Some(token), "GET", &format!("/keys?{q}"), None),
            200,
        );
        out.extend(v["keys"].as_array().expect("keys").iter().cloned());
        match v["cursor"].as_str() {
            Some(c) => {
                assert_opaque(c);
                cursor = Some(c.to_owned());
            }
            None => return out,
        }
    }
    panic!("GET /keys?{query} never ended");
}

/// Every audit entry `token` may see, oldest first, following the cursor `limit` at a time.
pub fn audit_all(dev: &Dev, token: &str, limit: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let mut q = format!("/audit?limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", encode(c)));
        }
        let v = answer(&call(dev, Some(token), "GET", &q, None), 200);
        let page = v["entries"].as_array().expect("entries");
        assert!(page.len() <= limit as usize, "a page over its limit");
        out.extend(page.iter().cloned());
        match v["cursor"].as_str() {
            Some(c) => {
                assert_opaque(c);
                cursor = Some(c.to_owned());
            }
            None => return out,
        }
    }
    panic!("GET /audit never ended");
}

/// A cursor holds no key and no full key hash, as sent or with any hex run in it decoded (an
/// encoding is no secrecy).
pub fn assert_opaque(cursor: &str) {
    assert_no_secrets("a list cursor", cursor);
    for run in cursor.split(|ch: char| !ch.is_ascii_hexdigit()) {
        let even = &run[..run.len() - run.len() % 2];
        if let Ok(bytes) = hex::decode(even) {
            assert_no_secrets(
                "a list cursor, hex-decoded",
                &String::from_utf8_lossy(&bytes),
            );
        }
    }
}

/// Percent-encodes a query value (an opaque cursor may hold any character).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The key ids `key_ids` of an audit entry.
pub fn entry_ids(e: &Value) -> Vec<&str> {
    e["key_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Asserts two answers are the same to the byte, apart from what differs per request
/// (`X-Request-Id`, `Date`, the request id in the body) and the id each request named.
pub fn assert_same_answer(a: &Resp, id_a: &str, b: &Resp, id_b: &str, what: &str) {
    assert_eq!(a.status, b.status, "{what}: status");
    let headers = |r: &Resp| {
        let mut h: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(n, _)| n != "x-request-id" && n != "date")
            .cloned()
            .collect();
        h.sort();
        h
    };
    assert_eq!(headers(a), headers(b), "{what}: headers");
    let body = |r: &Resp, id: &str| {
        let mut t = r.text();
        if let Some(rid) = r.header("x-request-id") {
            t = t.replace(rid, "{request_id}");
        }
        t.replace(id, "{id}")
    };
    assert_eq!(body(a, id_a), body(b, id_b), "{what}: body");
}
