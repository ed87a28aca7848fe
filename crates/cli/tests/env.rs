//! `keygate --env ENV` acts on that environment's KV namespace and no other: the real CLI runs the
//! project's wrangler (`node_modules/.bin`, installed by `make setup`) with `--local` against a
//! throwaway `wrangler.toml` whose top level and `[env.staging]` / `[env.production]` name
//! different namespaces, persisted in a temporary directory. No worker and no port are involved.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The config: one `API_KEYS` binding per environment, each with its own namespace id.
const CONFIG: &str = r#"name = "keygate-env-test"
compatibility_date = "2026-11-01"

[[kv_namespaces]]
binding = "API_KEYS"
id = "00000000000000000000000000000000"

[[env.staging.kv_namespaces]]
binding = "API_KEYS"
id = "11111111111111111111111111111111"

[[env.production.kv_namespaces]]
binding = "API_KEYS"
id = "22222222222222222222222222222222"
"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temporary directory holding the config and the local KV state; removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("keygate-cli-env-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        std::fs::write(dir.join("wrangler.toml"), CONFIG).expect("write wrangler.toml");
        Self(dir)
    }

    /// Runs `keygate ARGS… [--env ENV] --local --config … --persist-to …` from the repository root,
    /// so that the CLI finds `node_modules/.bin/wrangler`; panics with its stderr on failure.
    fn keygate(&self, env: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keygate"));
        cmd.args(args);
        if let Some(env) = env {
            cmd.args(["--env", env]);
        }
        let out = cmd
            .arg("--local")
            .arg("--config")
            .arg(self.0.join("wrangler.toml"))
            .arg("--persist-to")
            .arg(self.0.join("state"))
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .output()
            .expect("run keygate");
        assert!(
            out.status.success(),
            "keygate {args:?} --env {env:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The names of the keys `list --json` shows in one environment.
    fn names(&self, env: Option<&str>) -> Vec<String> {
        let out = self.keygate(env, &["list", "--json"]);
        let list: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).expect("list --json is a JSON array");
        let mut names: Vec<String> = list
            .iter()
            .map(|k| k["name"].as_str().expect("a name").to_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn env_flag_reads_and_writes_only_that_environments_namespace() {
    assert!(
        repo_root().join("node_modules/.bin/wrangler").is_file(),
        "node_modules/.bin/wrangler is missing: run `make setup` (npm ci) first"
    );
    let scratch = Scratch::new();
    let key = scratch.keygate(Some("staging"), &["create", "--name", "in-staging"]);
    assert!(String::from_utf8_lossy(&key.stdout).starts_with("kg_"));
    scratch.keygate(None, &["create", "--name", "at-top-level"]);

    assert_eq!(scratch.names(Some("staging")), ["in-staging"]);
    assert_eq!(scratch.names(None), ["at-top-level"]);
    assert!(scratch.names(Some("production")).is_empty());
}
