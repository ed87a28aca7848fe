//! API mode against [`FakeApi`], a local server playing the contract: every command prints what
//! it prints on the wrangler path (the same records seeded in both stores), refusals and faults
//! map to their exit codes, create is idempotent across a lost answer, and no output ever holds
//! the root key.

use super::fake::{view, FakeApi};
use super::*;
use crate::commands::testing::{with_ctx, Captured, NOW};
use crate::commands::{self, block_on, Cmd};
use clap::Parser;
use keygate_core::kv::memory::MemoryKv;
use keygate_core::lifecycle;

#[derive(Parser)]
struct Line {
    #[command(subcommand)]
    cmd: Cmd,
}

fn cmd(args: &[&str]) -> Cmd {
    Line::try_parse_from(std::iter::once("keygate").chain(args.iter().copied()))
        .unwrap()
        .cmd
}

/// Runs a command line on a backend, with `stdin`.
fn run_on(b: &dyn Backend, args: &[&str], stdin: &str) -> (Captured, Result<(), CliError>) {
    let c = cmd(args);
    with_ctx(stdin, |ctx| commands::run(c, b, ctx))
}

/// Keys imported (so with known ids) into both stores.
const KEY_A: &str = "legacy-key-a-0001";
const KEY_B: &str = "legacy-key-b-0002";
const KEY_C: &str = "legacy-key-c-0003";

fn id(key: &str) -> String {
    ApiKey::new(key).hash().id().to_owned()
}

fn seed(kv: &MemoryKv) {
    let acme = NewKey {
        scopes: vec!["GET /v1/*".into()],
        meta: serde_json::from_str(r#"{"plan":"pro"}"#).unwrap(),
        tier: Some("pro".into()),
        quota: Some(lifecycle::rules::parse_quota("100/day", QuotaScope::Key).unwrap()),
        description: Some("the web app".into()),
        ..NewKey::new("web", "acme-eu")
    };
    block_on(lifecycle::import(kv, &[KEY_A, KEY_B], &acme, NOW)).unwrap();
    let globex = NewKey {
        expires_at: Some(NOW + 3600),
        consumer_name: Some("Globex Inc".into()),
        ..NewKey::new("batch", "globex")
    };
    block_on(lifecycle::import(kv, &[KEY_C], &globex, NOW)).unwrap();
    block_on(lifecycle::set_disabled(
        kv,
        &KeyRef::Id(id(KEY_B)),
        true,
        NOW,
    ))
    .unwrap();
}

/// The same three keys in a local store (the wrangler path) and in the fake's.
fn twins() -> (MemoryKv, FakeApi) {
    let local = MemoryKv::new();
    seed(&local);
    let fake = FakeApi::start();
    fake.with_kv(seed);
    (local, fake)
}

/// Runs `args` on both paths; both must succeed and print the same.
fn same_on_both(local: &MemoryKv, fake: &FakeApi, args: &[&str], stdin: &str) -> Captured {
    let (on_kv, r) = run_on(local, args, stdin);
    r.unwrap_or_else(|e| panic!("{args:?} on KV: {e}"));
    let (on_api, r) = run_on(&fake.backend(), args, stdin);
    r.unwrap_or_else(|e| panic!("{args:?} through the API: {e}"));
    assert_eq!(on_api.out(), on_kv.out(), "stdout of {args:?}");
    assert_eq!(on_api.err(), on_kv.err(), "stderr of {args:?}");
    assert_no_root_key(fake, &on_api);
    on_api
}

fn assert_no_root_key(fake: &FakeApi, cap: &Captured) {
    let k = fake.root_key.expose();
    assert!(!cap.out().contains(k) && !cap.err().contains(k));
}

fn refused(fake: &FakeApi, b: &dyn Backend, args: &[&str]) -> (u8, String) {
    let (cap, r) = run_on(b, args, "");
    let e = r.unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains(fake.root_key.expose()), "{msg}");
    assert_no_root_key(fake, &cap);
    assert!(cap.out.is_empty(), "nothing on stdout after a refusal");
    (e.exit_code(), msg)
}

#[test]
fn reading_commands_print_the_same_through_the_api_as_on_kv() {
    let (local, fake) = twins();
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["list", "--consumer", "acme-eu", "--state", "disabled"],
        vec!["list", "--state", "active", "--json"],
        vec!["show", &id(KEY_A)],
        vec!["show", &id(KEY_C), "--json"],
    ] {
        same_on_both(&local, &fake, &args, "");
    }
    // By the key itself, on stdin.
    same_on_both(
        &local,
        &fake,
        &["show", "-", "--json"],
        &format!("{KEY_A}\n"),
    );
    // The list followed the fake's cursors (two names a page).
    let lists = fake
        .seen()
        .iter()
        .filter(|s| s.target.starts_with("/__keygate/v1/keys?") && !s.target.contains("state"))
        .filter(|s| s.target.contains("cursor="))
        .count();
    assert!(lists >= 1, "{:?}", fake.seen());
}

#[test]
fn changing_commands_print_the_same_and_change_the_same() {
    let (local, fake) = twins();
    let a = id(KEY_A);
    for args in [
        vec!["disable", a.as_str()],
        vec!["enable", a.as_str()],
        vec!["set-tier", a.as_str(), "enterprise"],
        vec!["set-tier", a.as_str(), "--clear"],
        vec!["set-quota", a.as_str(), "200/day"],
        vec!["set-quota", a.as_str(), "5/hour", "--per", "consumer"],
        vec!["set-quota", a.as_str(), "none"],
        vec!["show", a.as_str(), "--json"],
        vec!["revoke", a.as_str()],
        vec!["list", "--json"],
    ] {
        same_on_both(&local, &fake, &args, "");
    }
    // A disable is one PATCH and nothing else.
    let patches: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "PATCH")
        .collect();
    let body = |i: usize| serde_json::from_str::<Value>(&patches[i].body).unwrap();
    assert_eq!(body(0), json!({"enabled": false}));
    assert_eq!(
        patches[0].header("content-type"),
        Some("application/merge-patch+json")
    );
    assert_eq!(body(2), json!({"tier": "enterprise"}));
    assert_eq!(body(3), json!({"tier": null}));
    assert_eq!(
        body(4),
        json!({"quota": {"limit": 200, "period": "day", "per": "key"}})
    );
    assert_eq!(body(6), json!({"quota": null}));
}

#[test]
fn import_prints_the_same_and_sends_only_the_keys_and_fields() {
    let local = MemoryKv::new();
    let fake = FakeApi::start();
    let args = [
        "import",
        "--name",
        "old",
        "--consumer",
        "acme-eu",
        "--tier",
        "pro",
    ];
    same_on_both(&local, &fake, &args, "legacy-one\n\nlegacy-two\n");
    let post = fake
        .seen()
        .into_iter()
        .find(|s| s.target == "/__keygate/v1/keys/import")
        .unwrap();
    let body: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(
        body,
        json!({"name": "old", "consumer_id": "acme-eu", "tier": "pro",
               "keys": ["legacy-one", "legacy-two"]})
    );
    // Stored already: 409, exit 4, nothing written.
    let (code, msg) = refused(&fake, &fake.backend(), &["import", "--name", "x"]);
    assert_eq!((code, msg.as_str()), (2, "no keys on stdin to import"));
    let (cap, r) = run_on(
        &fake.backend(),
        &["import", "--name", "x"],
        "fresh\nlegacy-two\n",
    );
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    assert!(e.to_string().contains("already stored"), "{e}");
    assert!(cap.out.is_empty());
    // A repeated key is refused before any request, with its line, as on KV.
    let before = fake.seen().len();
    let (_, r) = run_on(
        &fake.backend(),
        &["import", "--name", "x"],
        "k-1\nk-2\nk-1\n",
    );
    let e = r.unwrap_err();
    assert_eq!(
        (e.exit_code(), e.to_string()),
        (4, "line 3: the same key appears twice".into())
    );
    assert_eq!(fake.seen().len(), before);
}

#[test]
fn an_import_larger_than_one_request_is_a_usage_error_before_any_call() {
    let fake = FakeApi::start();
    let keys: String = (0..=MAX_IMPORT_KEYS)
        .map(|i| format!("legacy-{i:05}\n"))
        .collect();
    let (code, msg) = {
        let (cap, r) = run_on(&fake.backend(), &["import", "--name", "x"], &keys);
        assert!(cap.out.is_empty());
        let e = r.unwrap_err();
        (e.exit_code(), e.to_string())
    };
    assert_eq!(code, 2);
    assert!(
        msg.contains("at most 1000 keys") && msg.contains("1001 keys"),
        "{msg}"
    );
    assert!(fake.seen().is_empty());
}

#[test]
fn create_prints_the_key_alone_like_on_kv_and_sends_an_idempotency_key() {
    let local = MemoryKv::new();
    let fake = FakeApi::start();
    let args = [
        "create",
        "--name",
        "ci",
        "--consumer",
        "acme-eu",
        "--tier",
        "pro",
        "--quota",
        "5/day",
        "--scopes",
        "GET /v1/*",
        "--meta",
        "plan=pro",
        "--expires",
        "30d",
    ];
    let (on_kv, r) = run_on(&local, &args, "");
    r.unwrap();
    let (on_api, r) = run_on(&fake.backend(), &args, "");
    r.unwrap();
    let key = on_api.out().trim_end().to_owned();
    assert_eq!(on_api.out(), format!("{key}\n"));
    assert_eq!(keyformat::classify(&key), KeyShape::Valid);
    let kv_key = on_kv.out().trim_end().to_owned();
    assert_eq!(
        on_api.err().replace(&id(&key), "ID"),
        on_kv.err().replace(&id(&kv_key), "ID")
    );
    // Stored in the fake's KV: the API made it.
    let stored = fake.with_kv(|kv| block_on(lifecycle::show(kv, &KeyRef::Key(ApiKey::new(&key)))));
    assert_eq!(stored.unwrap().quota.map(|q| q.limit), Some(5));
    let post = fake
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .unwrap();
    assert_eq!(post.target, "/__keygate/v1/keys");
    assert_eq!(post.header("content-type"), Some("application/json"));
    let idem = post.header("idempotency-key").unwrap();
    assert!(idem.len() <= 255 && idem.bytes().all(|b| b.is_ascii_graphic()));
    assert_eq!(
        post.header("authorization"),
        Some(format!("Bearer {}", fake.root_key.expose()).as_str())
    );
    let body: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(
        body["quota"],
        json!({"limit": 5, "period": "day", "per": "key"})
    );
    assert_eq!(body["scopes"], json!(["GET /v1/*"]));
    assert_eq!(body["expires_at"], json!(NOW + 30 * 86_400));
}

#[test]
fn a_create_whose_answer_is_lost_is_retried_with_the_same_idempotency_key_and_makes_one_key() {
    let fake = FakeApi::start();
    fake.then_hang_up();
    let (cap, r) = run_on(&fake.backend(), &["create", "--name", "ci"], "");
    r.unwrap();
    let posts: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0].header("idempotency-key"),
        posts[1].header("idempotency-key")
    );
    // The hang-up came before the fake handled the first: one key in all.
    let n = fake.with_kv(|kv| {
        block_on(lifecycle::list_all(kv, &Filter::default(), NOW))
            .unwrap()
            .keys
            .len()
    });
    assert_eq!(n, 1);
    assert!(cap.out().starts_with("kg_"));
}

#[test]
fn a_create_made_but_whose_answer_is_lost_is_replayed_and_prints_the_key_made() {
    let fake = FakeApi::start();
    fake.then_lose_the_answer();
    let (cap, r) = run_on(&fake.backend(), &["create", "--name", "ci"], "");
    r.unwrap();
    let stored = fake.with_kv(|kv| {
        block_on(lifecycle::list_all(kv, &Filter::default(), NOW))
            .unwrap()
            .keys
    });
    assert_eq!(stored.len(), 1, "the retry created nothing");
    let printed = cap.out().trim_end().to_owned();
    assert_eq!(
        id(&printed),
        stored[0].id,
        "the key printed is the one stored"
    );
    let posts: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0].header("idempotency-key"),
        posts[1].header("idempotency-key")
    );
}

#[test]
fn other_writes_are_not_retried_when_the_answer_is_lost() {
    let (_, fake) = twins();
    fake.then_lose_the_answer();
    let (code, msg) = refused(&fake, &fake.backend(), &["revoke", &id(KEY_A)]);
    assert_eq!(code, 5);
    assert!(
        msg.starts_with("no answer from the management API"),
        "{msg}"
    );
    assert!(msg.contains("the change may have been made"), "{msg}");
    assert_eq!(fake.seen().len(), 1);
}

#[test]
fn rotate_prints_the_new_key_alone_like_on_kv_and_sends_the_overlap() {
    let (local, fake) = twins();
    let args = ["rotate", &id(KEY_A), "--overlap", "1h"];
    let (on_kv, r) = run_on(&local, &args, "");
    r.unwrap();
    let (on_api, r) = run_on(&fake.backend(), &args, "");
    r.unwrap();
    let (kv_new, api_new) = (
        on_kv.out().trim_end().to_owned(),
        on_api.out().trim_end().to_owned(),
    );
    assert_eq!(on_api.out(), format!("{api_new}\n"));
    assert_eq!(
        on_api.err().replace(&id(&api_new), "NEW"),
        on_kv.err().replace(&id(&kv_new), "NEW")
    );
    let post = fake
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .unwrap();
    assert_eq!(post.body, r#"{"overlap":3600}"#);
    // A disabled key: 409 from the API, exit 4, as on KV.
    let (code, msg) = refused(&fake, &fake.backend(), &["rotate", &id(KEY_B)]);
    let (_, r) = run_on(&local, &["rotate", &id(KEY_B)], "");
    assert_eq!(code, r.unwrap_err().exit_code());
    assert_eq!(code, 4);
    assert!(msg.contains("409") && msg.contains("disabled"), "{msg}");
}

#[test]
fn an_unknown_id_or_key_reads_exactly_as_on_kv_and_exits_3() {
    let (local, fake) = twins();
    for args in [
        vec!["show", "ffffffffffff"],
        vec!["disable", "ffffffffffff"],
        vec!["revoke", "ffffffffffff"],
        vec!["rotate", "ffffffffffff"],
        vec!["set-tier", "ffffffffffff", "pro"],
        vec!["show", "kg-not-stored-anywhere"],
    ] {
        let (code, msg) = refused(&fake, &fake.backend(), &args);
        let (_, r) = run_on(&local, &args, "");
        let e = r.unwrap_err();
        assert_eq!((code, msg), (e.exit_code(), e.to_string()), "{args:?}");
        assert_eq!(code, 3);
    }
}

#[test]
fn the_tenant_guard_answers_like_an_unknown_id() {
    let (_, fake) = twins();
    let acme = fake.root(&["keys:read", "keys:write", "keys:revoke"], Some("acme-"));
    let b = fake.backend_with(&acme);
    let globex = id(KEY_C);
    let (code, msg) = refused(&fake, &b, &["show", &globex]);
    assert_eq!(code, 3);
    assert_eq!(
        msg,
        format!("no key with id {globex}: it was revoked, or never stored here")
    );
    // The list holds only acme keys.
    let (cap, r) = run_on(&b, &["list", "--json"], "");
    r.unwrap();
    let rows: Vec<Value> = serde_json::from_str(&cap.out()).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["consumer_id"] == "acme-eu"));
    // A create outside the prefix: 403, exit 1, the detail shown.
    let (code, msg) = refused(
        &fake,
        &b,
        &["create", "--name", "x", "--consumer", "globex"],
    );
    assert_eq!(code, 1);
    assert!(
        msg.contains("outside this root key's consumer prefix"),
        "{msg}"
    );
}

#[test]
fn a_refused_root_key_exits_1_and_is_named_by_id_only() {
    let fake = FakeApi::start();
    let stranger = RootKey::generate().unwrap();
    let b = fake.backend_with(&stranger);
    let (cap, r) = run_on(&b, &["list"], "");
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let msg = e.to_string();
    assert!(
        msg.starts_with("the management API answered 401 Unauthorized"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("root key (id {})", stranger.hash().id())),
        "{msg}"
    );
    assert!(!msg.contains(stranger.expose()) && !cap.err().contains(stranger.expose()));
}

#[test]
fn a_missing_permission_exits_1_and_names_it() {
    let (_, fake) = twins();
    let reader = fake.root(&["keys:read"], None);
    let (code, msg) = refused(&fake, &fake.backend_with(&reader), &["disable", &id(KEY_A)]);
    assert_eq!(code, 1);
    assert!(
        msg.contains("403") && msg.contains("lacks the permission keys:write"),
        "{msg}"
    );
}

#[test]
fn a_422_shows_every_field_and_exits_2() {
    let fake = FakeApi::start();
    fake.then(
        422,
        &[],
        r#"{"title":"Unprocessable Content","status":422,"detail":"2 invalid fields",
            "errors":[{"field":"name","detail":"too long"},{"field":"tier","detail":"unknown"}]}"#,
    );
    let (code, msg) = refused(&fake, &fake.backend(), &["create", "--name", "x"]);
    assert_eq!(code, 2);
    assert!(msg.contains("\n  name: too long\n  tier: unknown"), "{msg}");
}

#[test]
fn a_rule_the_cli_knows_is_checked_before_any_request() {
    let fake = FakeApi::start();
    for args in [
        vec!["create", "--name", ""],
        vec!["set-tier", "0123456789ab", "Pro"],
        vec!["set-quota", "0123456789ab", "5/week"],
        vec!["show", "not a key"],
        vec![
            "root",
            "create",
            "--name",
            "x",
            "--permissions",
            "keys:nuke",
        ],
    ] {
        let (code, _) = refused(&fake, &fake.backend(), &args);
        assert_eq!(code, 2, "{args:?}");
    }
    assert!(fake.seen().is_empty());
}

#[test]
fn reads_are_retried_on_503_and_then_exit_5_with_the_detail() {
    let fake = FakeApi::start();
    let unavailable = r#"{"title":"Service Unavailable","detail":"KV is unavailable"}"#;
    for _ in 0..3 {
        fake.then(503, &[], unavailable);
    }
    let (code, msg) = refused(&fake, &fake.backend(), &["list"]);
    assert_eq!(code, 5);
    assert!(
        msg.ends_with("503 Service Unavailable: KV is unavailable"),
        "{msg}"
    );
    assert_eq!(fake.seen().len(), 3, "one call and two retries");
    // A 503 once, then the answer.
    fake.then(503, &[], unavailable);
    let (_, r) = run_on(&fake.backend(), &["list"], "");
    r.unwrap();
}

#[test]
fn writes_are_not_retried_on_503() {
    let (_, fake) = twins();
    fake.then(
        503,
        &[],
        r#"{"title":"Service Unavailable","detail":"the change was made; its audit entry was not written"}"#,
    );
    let (code, msg) = refused(&fake, &fake.backend(), &["disable", &id(KEY_A)]);
    assert_eq!(code, 5);
    assert!(msg.ends_with("its audit entry was not written"), "{msg}");
    assert_eq!(fake.seen().len(), 1);
}

#[test]
fn a_429_exits_5_and_says_when_to_retry() {
    let fake = FakeApi::start();
    fake.then(
        429,
        &[("retry-after", "60")],
        r#"{"title":"Too Many Requests"}"#,
    );
    let (code, msg) = refused(&fake, &fake.backend(), &["list"]);
    assert_eq!(code, 5);
    assert!(msg.contains("retry after 60 s"), "{msg}");
}

#[test]
fn a_refused_connection_exits_5_without_the_root_key() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = RootKey::generate().unwrap();
    let b = ApiBackend::without_pauses(format!("http://127.0.0.1:{port}"), key.clone());
    let (cap, r) = run_on(&b, &["list"], "");
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 5);
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "no answer from the management API at http://127.0.0.1:{port}"
        )),
        "{msg}"
    );
    assert!(
        msg.ends_with("is the local gateway running (`make dev`)?"),
        "{msg}"
    );
    assert!(!msg.contains(key.expose()) && !cap.err().contains(key.expose()));
}

#[test]
fn a_gateway_echoing_the_root_key_has_it_scrubbed() {
    let fake = FakeApi::start();
    let k = fake.root_key.expose().to_owned();
    fake.then(
        500,
        &[("x-request-id", &k)],
        &format!(r#"{{"title":"Boom {k}","detail":"token {k}","errors":[{{"field":"{k}","detail":"{k}"}}]}}"#),
    );
    let (code, msg) = refused(&fake, &fake.backend(), &["list"]);
    assert_eq!(code, 1);
    assert!(msg.contains("[root key]"), "{msg}");
    // A success body that breaks the contract, with the key in it.
    fake.then(200, &[], &format!(r#"{{"keys":"{k}"}}"#));
    let (code, msg) = refused(&fake, &fake.backend(), &["list"]);
    assert_eq!(code, 1);
    assert!(msg.contains("not what the contract describes"), "{msg}");
}

#[test]
fn a_record_that_breaks_the_rules_is_refused_not_printed() {
    let fake = FakeApi::start();
    let mut rec = KeyRecord {
        v: RECORD_VERSION,
        id: "0123456789ab".into(),
        name: "evil\u{1b}[2J".into(),
        consumer_id: "acme".into(),
        consumer_name: None,
        created_at: NOW,
        expires_at: None,
        disabled: false,
        meta: Map::new(),
        scopes: vec![],
        description: None,
        tier: None,
        quota: None,
    };
    fake.then(200, &[], &view(&rec).to_string());
    let (code, msg) = refused(&fake, &fake.backend(), &["show", "0123456789ab"]);
    assert_eq!(code, 1);
    assert!(
        msg.contains("breaks keygate's rules") && !msg.contains('\u{1b}'),
        "{msg}"
    );
    rec.name = "fine".into();
    fake.then(
        201,
        &[],
        &json!({"key": "not-a-kg-key", "record": view(&rec)}).to_string(),
    );
    let (_, msg) = refused(&fake, &fake.backend(), &["create", "--name", "fine"]);
    assert!(msg.contains("no valid key"), "{msg}");
}

#[test]
fn a_404_on_a_collection_means_no_management_api_there() {
    let fake = FakeApi::start();
    fake.then(404, &[], "<html>not found</html>");
    let (code, msg) = refused(&fake, &fake.backend(), &["list"]);
    assert_eq!(code, 1);
    assert!(msg.contains("is the management API served at"), "{msg}");
}

/// A count for the wrangler path's `usage`.
struct Count(u64);

impl UsageSource for Count {
    fn used(&self, _counter: &str, _window_start: u64) -> Result<u64, String> {
        Ok(self.0)
    }
}

#[test]
fn usage_reports_the_same_through_the_api() {
    let (local, fake) = twins();
    fake.set_used(42);
    for key in [KEY_A, KEY_C] {
        let r = KeyRef::Id(id(key));
        let on_kv = local.usage(&r, &Count(42), NOW).unwrap();
        let on_api = fake.backend().usage(&r, &Count(0), NOW).unwrap();
        assert_eq!(on_api, on_kv, "{key}");
    }
    assert!(fake.seen().iter().any(|s| s.target.ends_with("/usage")));
}

#[test]
fn usage_with_usage_read_alone_shows_the_count_without_the_record() {
    let (_, fake) = twins();
    fake.set_used(7);
    let counter = fake.root(&["usage:read"], None);
    let u = fake
        .backend_with(&counter)
        .usage(&KeyRef::Id(id(KEY_A)), &Count(0), NOW)
        .unwrap();
    assert_eq!(u.key, None);
    let w = u.usage.unwrap();
    assert_eq!((w.used, w.remaining, w.limit), (7, 93, 100));
    let (cap, r) = run_on(&fake.backend_with(&counter), &["usage", &id(KEY_A)], "");
    r.unwrap();
    let out = cap.out();
    assert!(
        out.contains("key:           (name, consumer, state and tier need keys:read)\n"),
        "{out}"
    );
    assert!(
        out.contains("used:          7\n") && !out.contains("name:"),
        "{out}"
    );
}

#[test]
fn root_commands_go_through_the_roots_endpoints() {
    let fake = FakeApi::start();
    let b = fake.backend();
    let (cap, r) = run_on(
        &b,
        &[
            "root",
            "create",
            "--name",
            "support",
            "--permissions",
            "keys:read,usage:read",
            "--consumer-prefix",
            "acme-",
        ],
        "",
    );
    r.unwrap();
    let new_root = cap.out().trim_end().to_owned();
    let parsed = RootKey::parse(&new_root).expect("a root key on stdout");
    assert_eq!(cap.out(), format!("{new_root}\n"));
    assert!(!cap.err().contains(&new_root));
    let rec = fake
        .with_kv(|kv| block_on(keygate_core::root::find_root(kv, &parsed)))
        .unwrap()
        .unwrap();
    assert!(cap
        .err()
        .contains(&format!("created root key {} (support)", rec.id)));
    let post = fake
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&post.body).unwrap(),
        json!({"name": "support", "permissions": ["keys:read", "usage:read"],
               "consumer_prefix": "acme-"})
    );
    let (cap, r) = run_on(&b, &["root", "list", "--json"], "");
    r.unwrap();
    let rows: Vec<Value> = serde_json::from_str(&cap.out()).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(!cap.out().contains(&new_root) && !cap.out().contains(fake.root_key.expose()));
    let (cap, r) = run_on(&b, &["root", "revoke", &rec.id], "");
    r.unwrap();
    assert!(cap
        .err()
        .starts_with(&format!("keygate: revoked root key {}.", rec.id)));
    assert_eq!(
        fake.with_kv(|kv| block_on(keygate_core::root::find_root(kv, &parsed)))
            .unwrap(),
        None
    );
    let (code, msg) = refused(&fake, &b, &["root", "revoke", &rec.id]);
    assert_eq!(code, 3);
    assert_eq!(
        msg,
        format!(
            "no root key with id {}: it was revoked, or never created here",
            rec.id
        )
    );
    // A root key cannot grant what it lacks.
    let limited = fake.root(&["roots:manage"], None);
    let (code, _) = refused(
        &fake,
        &fake.backend_with(&limited),
        &[
            "root",
            "create",
            "--name",
            "x",
            "--permissions",
            "keys:write",
        ],
    );
    assert_eq!(code, 1);
}

#[test]
fn audit_pages_follow_cursors_with_all_and_print_json_as_the_api_answers() {
    let (_, fake) = twins();
    let b = fake.backend();
    for args in [
        vec!["disable", &id(KEY_A)][..].to_vec(),
        vec!["enable", &id(KEY_A)],
        vec!["revoke", &id(KEY_C)],
    ] {
        run_on(&b, &args, "").1.unwrap();
    }
    let (cap, r) = run_on(&b, &["audit", "--limit", "2"], "");
    r.unwrap();
    let out = cap.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("SEQ ") && lines[0].ends_with("REQUEST ID"));
    assert!(lines[1].contains("key.update") && lines[1].contains("acme-eu"));
    assert_eq!(
        cap.err(),
        "keygate: 2 audit entries\nkeygate: more entries follow: keygate audit --cursor 2\n"
    );
    let (cap, r) = run_on(&b, &["audit", "--limit", "2", "--all", "--json"], "");
    r.unwrap();
    let v: Value = serde_json::from_str(&cap.out()).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 3);
    assert_eq!(v["entries"][2]["action"], "key.revoke");
    assert_eq!(v["cursor"], Value::Null);
    let (cap, r) = run_on(&b, &["audit", "--cursor", "2"], "");
    r.unwrap();
    assert_eq!(cap.err(), "keygate: 1 audit entry\n");
    let audits: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.target.starts_with("/__keygate/v1/audit"))
        .map(|s| s.target)
        .collect();
    assert_eq!(
        audits,
        [
            "/__keygate/v1/audit?limit=2",
            "/__keygate/v1/audit?limit=2",
            "/__keygate/v1/audit?limit=2&cursor=2",
            "/__keygate/v1/audit?limit=50&cursor=2",
        ]
    );
}

#[test]
fn the_merge_patch_replaces_metadata_as_a_whole_like_on_kv() {
    let mut before = KeyRecord {
        v: RECORD_VERSION,
        id: "0123456789ab".into(),
        name: "a".into(),
        consumer_id: "acme".into(),
        consumer_name: None,
        created_at: NOW,
        expires_at: None,
        disabled: false,
        meta: serde_json::from_str(r#"{"plan":"pro","seats":5}"#).unwrap(),
        scopes: vec![],
        description: None,
        tier: None,
        quota: None,
    };
    let c = Changes {
        meta: Some(serde_json::from_str(r#"{"plan":"free"}"#).unwrap()),
        consumer_name: Some(None),
        scopes: Some(vec!["GET:/v1/*".into()]),
        ..Changes::default()
    };
    assert_eq!(
        merge_patch(&c, Some(&before)),
        json!({"meta": {"plan": "free", "seats": null}, "consumer_name": null,
               "scopes": ["GET /v1/*"]})
    );
    before.meta.clear();
    assert_eq!(merge_patch(&Changes::default(), Some(&before)), json!({}));
}
