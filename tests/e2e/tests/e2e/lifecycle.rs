//! Key lifecycle through the CLI: disable and enable, rotation with an overlap, imported keys
//! (only their hash stored), and listing by consumer and state, past KV's 1,000-key page.

use super::{cli_ok, Ctx, BASE};
use keygate_e2e::*;

pub fn disable_refuses_the_key_and_enable_restores_it(c: &Ctx) {
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
    assert_eq!(
        c.origin.targets_with(&m),
        vec![format!("{BASE}/{m}/1"), format!("{BASE}/{m}/3")]
    );
}

pub fn rotate_keeps_both_keys_during_the_overlap_then_refuses_the_old(c: &Ctx) {
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
    sleep_past(expires_at);
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

pub fn imported_key_works_and_only_its_hash_is_stored(c: &Ctx) {
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

pub fn list_filters_by_consumer_and_state(c: &Ctx) {
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

pub fn list_pages_beyond_1000_keys(c: &Ctx) {
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
