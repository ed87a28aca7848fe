//! `keygate root create|list|revoke` on the wrangler path, the bootstrap before any root key
//! exists: the real CLI runs the project's wrangler (`node_modules/.bin`) with `--local` against
//! a throwaway `wrangler.toml` and state directory. The root key is printed once; KV holds only
//! `root:<hash>` records; `list` (of API keys) does not show them. No worker, no port.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CONFIG: &str = r#"name = "keygate-root-test"
compatibility_date = "2026-11-01"

[[kv_namespaces]]
binding = "API_KEYS"
id = "00000000000000000000000000000000"
"#;

/// `PATH` with the project's `node_modules/.bin` (Node 22, wrangler) first.
fn path_with_project_node() -> std::ffi::OsString {
    let mut dirs = vec![repo_root().join("node_modules/.bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temporary directory holding the config and the local KV state; removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("root-kv");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        std::fs::write(dir.join("wrangler.toml"), CONFIG).expect("write wrangler.toml");
        Self(dir)
    }

    /// Runs `keygate ARGS… --local --config … --persist-to …` from the repository root, with no
    /// API mode variables.
    fn keygate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(args)
            .arg("--local")
            .arg("--config")
            .arg(self.0.join("wrangler.toml"))
            .arg("--persist-to")
            .arg(self.0.join("state"))
            .current_dir(repo_root())
            .env_remove("KEYGATE_URL")
            .env_remove("KEYGATE_ROOT_KEY")
            .env_remove("KEYGATE_WRANGLER")
            .stdin(Stdio::null())
            .output()
            .expect("run keygate")
    }

    /// The names wrangler's local KV holds.
    fn kv_names(&self) -> Vec<String> {
        let out = Command::new(repo_root().join("node_modules/.bin/wrangler"))
            .args([
                "kv",
                "key",
                "list",
                "--binding",
                "API_KEYS",
                "--local",
                "--config",
            ])
            .arg(self.0.join("wrangler.toml"))
            .arg("--persist-to")
            .arg(self.0.join("state"))
            .env("WRANGLER_SEND_METRICS", "false")
            // wrangler's `#!/usr/bin/env node` must find the project's Node 22, as under `make`.
            .env("PATH", path_with_project_node())
            .output()
            .expect("run wrangler");
        let list: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "wrangler kv key list is not JSON ({e}): {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        list.iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ok(o: &Output, what: &str) -> (String, String) {
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{what} failed: {err}");
    (out, err)
}

#[test]
fn root_keys_are_made_listed_and_revoked_in_kv_without_the_api() {
    assert!(
        repo_root().join("node_modules/.bin/wrangler").is_file(),
        "node_modules/.bin/wrangler is missing: run `make setup` (npm ci) first"
    );
    let s = Scratch::new();
    let (out, err) = ok(
        &s.keygate(&[
            "root",
            "create",
            "--name",
            "ops",
            "--permissions",
            "keys:read,keys:write,audit:read",
            "--consumer-prefix",
            "acme-",
        ]),
        "root create",
    );
    let key = out.trim_end().to_owned();
    assert!(
        key.starts_with("kgr_") && out == format!("{key}\n"),
        "{out}"
    );
    let root = keygate_core::root::RootKey::parse(&key).expect("a valid root key");
    let id = root.hash().id().to_owned();
    assert!(
        err.contains(&format!("created root key {id} (ops)")),
        "{err}"
    );
    assert!(!err.contains(&key));
    assert_eq!(
        s.kv_names(),
        [keygate_core::root::record_name(&root.hash())]
    );

    ok(&s.keygate(&["create", "--name", "api-key"]), "create");
    let (out, _) = ok(&s.keygate(&["root", "list", "--json"]), "root list");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(
        rows[0]["permissions"],
        serde_json::json!(["keys:read", "keys:write", "audit:read"])
    );
    assert_eq!(rows[0]["consumer_prefix"], "acme-");
    assert!(!out.contains(&key));
    // The API keys' list does not show the root record.
    let (out, _) = ok(&s.keygate(&["list", "--json"]), "list");
    let keys: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["name"], "api-key");

    let (_, err) = ok(&s.keygate(&["root", "revoke", &id]), "root revoke");
    assert!(
        err.starts_with(&format!("keygate: revoked root key {id} (ops).")),
        "{err}"
    );
    let (out, _) = ok(&s.keygate(&["root", "list", "--json"]), "root list");
    assert_eq!(out, "[]\n");
    let again = s.keygate(&["root", "revoke", &id]);
    assert_eq!(again.status.code(), Some(3));
}
