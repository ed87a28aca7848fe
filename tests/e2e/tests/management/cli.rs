//! The `keygate` CLI in API mode (`KEYGATE_URL` and `KEYGATE_ROOT_KEY`) against the real gateway:
//! key commands, root keys and the audit trail go through the management API (the audit trail
//! names the root key as the actor, which the wrangler path could not); and `keygate root create`
//! on the wrangler path bootstraps the first root key.

use super::*;
use std::process::{Command, Output, Stdio};

/// Runs the CLI in API mode against `dev` with `root_key`; no wrangler flag.
fn keygate_api(dev: &Dev, root_key: &str, args: &[&str]) -> Output {
    Command::new(keygate_bin())
        .args(args)
        .env("KEYGATE_URL", &dev.base)
        .env("KEYGATE_ROOT_KEY", root_key)
        // Whatever the wrangler path would use must not be reached.
        .env("KEYGATE_WRANGLER", "/nonexistent/wrangler")
        .env_remove("KEYGATE_ADMIN_TOKEN")
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("run keygate")
}

/// Runs it and insists it succeeds; returns stdout, after scanning both streams.
fn ok(dev: &Dev, root_key: &str, args: &[&str]) -> String {
    let out = keygate_api(dev, root_key, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "keygate {args:?}: {stderr}");
    assert_no_secrets(&format!("keygate {args:?} stderr"), &stderr);
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The audit entries `actor` wrote, as the bootstrap principal reads them.
fn actions_of(dev: &Dev, actor: &str) -> Vec<(String, Vec<String>)> {
    audit_all(dev, BOOT, 100)
        .iter()
        .filter(|e| e["actor"] == actor)
        .map(|e| {
            (
                e["action"].as_str().expect("action").to_owned(),
                entry_ids(e).into_iter().map(str::to_owned).collect(),
            )
        })
        .collect()
}

pub fn cli_in_api_mode_manages_keys_through_the_gateway(c: &Ctx) {
    let dev = &c.main;
    let m = marker("cli-api");
    let consumer = format!("cli-{m}");
    let (root, rec) = new_root(
        dev,
        BOOT,
        "cli",
        &["keys:read", "keys:write", "keys:revoke"],
        None,
    );
    let actor = rec["id"].as_str().expect("id").to_owned();

    // create: the key alone on stdout, and it works.
    let stdout = ok(
        dev,
        &root,
        &["create", "--name", "from-cli", "--consumer", &consumer],
    );
    let key = stdout.trim().to_owned();
    assert_eq!(stdout, format!("{key}\n"), "stdout carries the key alone");
    remember_key(&key);
    let id = key_id(&key);
    assert_eq!(get(&dev.url(&format!("/{m}/1")), Some(&key)).status, 200);
    let v = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{id}"), None),
        200,
    );
    assert_eq!(v["name"], "from-cli");
    assert_eq!(v["consumer_id"], consumer.as_str());

    // list: the same rows the API lists.
    let listed = ok(dev, &root, &["list", "--json", "--consumer", &consumer]);
    assert_no_secrets("keygate list", &listed);
    let rows: Value = serde_json::from_str(&listed).expect("list --json");
    let ids: Vec<&str> = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [id.as_str()]);
    let table = ok(dev, &root, &["list", "--consumer", &consumer]);
    assert!(table.contains(&id), "{table}");

    // disable, then rotate is refused (a disabled key) and enable restores it.
    ok(dev, &root, &["disable", &id]);
    let v = answer(
        &call(dev, Some(BOOT), "GET", &format!("/keys/{id}"), None),
        200,
    );
    assert_eq!(v["state"], "disabled");
    get(&dev.url(&format!("/{m}/2")), Some(&key)).problem(401);
    let refused = keygate_api(dev, &root, &["rotate", &id]);
    assert!(!refused.status.success(), "rotating a disabled key fails");
    ok(dev, &root, &["enable", &id]);
    assert_eq!(get(&dev.url(&format!("/{m}/3")), Some(&key)).status, 200);

    // rotate: the new key on stdout; both work during the overlap.
    let stdout = ok(dev, &root, &["rotate", &id, "--overlap", "60s"]);
    let new = stdout.trim().to_owned();
    remember_key(&new);
    assert_ne!(new, key);
    let new_id = key_id(&new);
    assert_eq!(get(&dev.url(&format!("/{m}/4")), Some(&new)).status, 200);
    assert_eq!(get(&dev.url(&format!("/{m}/5")), Some(&key)).status, 200);

    // revoke: gone.
    ok(dev, &root, &["revoke", &new_id]);
    get(&dev.url(&format!("/{m}/6")), Some(&new)).problem(401);
    call(dev, Some(BOOT), "GET", &format!("/keys/{new_id}"), None).problem(404);

    // Every step went through the API: the trail names this root key.
    let actions: Vec<(String, Vec<String>)> = actions_of(dev, &actor)
        .into_iter()
        .filter(|(_, ids)| ids.contains(&id) || ids.contains(&new_id))
        .collect();
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "key.create",
            "key.update",
            "key.update",
            "key.rotate",
            "key.revoke"
        ],
        "{actions:?}"
    );
}

pub fn cli_in_api_mode_manages_root_keys_and_reads_the_audit_trail(c: &Ctx) {
    let dev = &c.main;
    let (admin, rec) = new_root(dev, BOOT, "cli roots", &all_permissions(), None);
    let actor = rec["id"].as_str().expect("id").to_owned();

    let stdout = ok(
        dev,
        &admin,
        &[
            "root",
            "create",
            "--name",
            "cli-made",
            "--permissions",
            "keys:read,usage:read",
            "--consumer-prefix",
            "cli-acme-",
        ],
    );
    let made = stdout.trim().to_owned();
    assert_eq!(
        stdout,
        format!("{made}\n"),
        "stdout carries the root key alone"
    );
    remember_key(&made);
    let made_id = key_id(&made);
    assert_eq!(
        keygate_core::keyformat::classify_with(keygate_core::keyformat::ROOT_PREFIX, &made),
        keygate_core::keyformat::KeyShape::Valid
    );
    // It opens the API with exactly those permissions.
    answer(&call(dev, Some(&made), "GET", "/keys", None), 200);
    assert_forbidden(&call(dev, Some(&made), "GET", "/audit", None), "audit:read");

    let listed = ok(dev, &admin, &["root", "list", "--json"]);
    assert_no_secrets("keygate root list", &listed);
    let roots: Value = serde_json::from_str(&listed).expect("root list --json");
    let row = roots
        .as_array()
        .or_else(|| roots["roots"].as_array())
        .expect("an array of roots")
        .iter()
        .find(|r| r["id"] == made_id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(row["name"], "cli-made");
    assert_eq!(row["permissions"], json!(["keys:read", "usage:read"]));
    assert_eq!(row["consumer_prefix"], "cli-acme-");
    let table = ok(dev, &admin, &["root", "list"]);
    assert!(
        table.contains(&made_id) && table.contains("cli-made"),
        "{table}"
    );

    ok(dev, &admin, &["root", "revoke", &made_id]);
    assert_unauthenticated(&call(dev, Some(&made), "GET", "/keys", None), true);

    // audit: the trail, as JSON and as text, holds this root key's two actions.
    let text = ok(dev, &admin, &["audit", "--all", "--json"]);
    assert_no_secrets("keygate audit", &text);
    let entries: Value = serde_json::from_str(&text).expect("audit --json");
    let entries = entries
        .as_array()
        .or_else(|| entries["entries"].as_array())
        .expect("an array of entries")
        .clone();
    let mine: Vec<&str> = entries
        .iter()
        .filter(|e| e["actor"] == actor.as_str())
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(mine, ["root.create", "root.revoke"]);
    let table = ok(dev, &admin, &["audit", "--all"]);
    assert!(
        table.contains("root.revoke") && table.contains(&actor),
        "{table}"
    );
}

pub fn cli_root_create_on_the_wrangler_path_bootstraps_the_first_root_key(c: &Ctx) {
    let dev = &c.main;
    let out = dev.keygate_with(
        &[
            "root",
            "create",
            "--local",
            "--name",
            "first",
            "--permissions",
            "keys:read,keys:write",
        ],
        None,
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "keygate root create --local: {stderr}"
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let root = stdout.trim().to_owned();
    assert_eq!(
        stdout,
        format!("{root}\n"),
        "stdout carries the root key alone"
    );
    remember_key(&root);
    assert!(!stderr.contains(&root));
    // The running gateway accepts it at once, with its permissions and no more.
    let consumer = marker("bootstrapped");
    let (key, _) = new_key(
        dev,
        &root,
        json!({"name": "first key", "consumer_id": consumer}),
    );
    assert_eq!(
        get(&dev.url(&format!("/{consumer}")), Some(&key)).status,
        200
    );
    answer(&call(dev, Some(&root), "GET", "/keys", None), 200);
    assert_forbidden(
        &call(dev, Some(&root), "GET", "/roots", None),
        "roots:manage",
    );
    // The wrangler path lists it too; the record holds no key.
    let out = dev.keygate(&["root", "list", "--local", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_no_secrets("keygate root list --local", &text);
    assert!(text.contains(&key_id(&root)), "{text}");
}

pub fn cli_in_api_mode_with_a_bad_root_key_fails_without_printing_it(c: &Ctx) {
    let dev = &c.main;
    let unknown = unknown_root_key("cli-bad");
    let out = keygate_api(dev, &unknown, &["list"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.is_empty());
    assert_no_secrets("keygate stderr", &stderr);
    // An API key is no root key: refused before any request.
    let (api_key, _) = plain_key(dev, &marker("cli-api-key"));
    let out = keygate_api(dev, &api_key, &["list"]);
    assert!(!out.status.success());
    assert_no_secrets("keygate stderr", &String::from_utf8_lossy(&out.stderr));
}
