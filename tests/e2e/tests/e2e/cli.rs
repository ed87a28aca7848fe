//! The `keygate` CLI against the local KV: create, list, show, hash and revoke, keys on stdin,
//! bad input that changes nothing, a missing wrangler, and a key used until its expiry.

use super::Ctx;
use keygate_e2e::*;
use sha2::{Digest, Sha256};

pub fn revoked_key_is_refused_afterwards(c: &Ctx) {
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

pub fn create_prints_only_the_key_and_list_show_never_reveal_it(c: &Ctx) {
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

pub fn hash_prints_the_kv_key_name_the_worker_reads(c: &Ctx) {
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

pub fn bad_input_fails_clearly_and_changes_nothing(c: &Ctx) {
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

pub fn missing_wrangler_is_a_clear_error(c: &Ctx) {
    let out = c.main.keygate_with(
        &["list"],
        None,
        &[("KEYGATE_WRANGLER", "/nonexistent/wrangler")],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrangler was not found"));
}

pub fn revoke_and_show_accept_the_key_on_stdin(c: &Ctx) {
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

pub fn expiring_key_works_until_its_expiry_then_is_refused(c: &Ctx) {
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
    sleep_past(expires_at);
    get(&c.main.url(&format!("/{m}/2")), Some(&key)).problem(401);
    assert_eq!(c.origin.received_with(&m).len(), 1);
}
