//! How the real CLI treats a KV API that answers 5xx now and then: a stand-in `wrangler`
//! (`KEYGATE_WRANGLER`, a shell script) records every call and fails the first put or delete the
//! way wrangler's local store does under concurrent use.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The stand-in: logs each call's arguments to `calls.log` beside it; answers `list` with `[]`;
/// fails the first call of the kind named by `$FAIL_ON` with `$FAIL_WITH`, every call when
/// `$FAIL_ALWAYS` is set, and succeeds otherwise.
const FAKE_WRANGLER: &str = r#"#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/calls.log"
if [ "$3" = "$FAIL_ON" ] && { [ -n "$FAIL_ALWAYS" ] || [ ! -e "$dir/failed" ]; }; then
  touch "$dir/failed"
  printf '\033[31m✘ \033[41;31m[\033[41;97mERROR\033[41;31m]\033[0m %s\n' "$FAIL_WITH" >&2
  exit 1
fi
case "$3" in
  list) echo '[]' ;;
esac
"#;

/// A fresh directory holding the stand-in; returns it and the script's path.
fn stand_in(test: &str) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("flaky-kv-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("wrangler");
    std::fs::write(&script, FAKE_WRANGLER).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, script)
}

fn keygate(script: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keygate"));
    cmd.args(args).env("KEYGATE_WRANGLER", script);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The calls the stand-in saw of one kind (`put`, `list`, `delete`, …), in order.
fn calls(dir: &Path, kind: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(' ').nth(2) == Some(kind))
        .map(str::to_owned)
        .collect()
}

const PUT_500: &str = "KV PUT failed: 500 Internal Server Error";

#[test]
fn create_survives_one_put_answered_500_by_writing_the_same_record_again() {
    let (dir, script) = stand_in("create-500");
    let out = keygate(
        &script,
        &["create", "--name", "retry", "--local"],
        &[("FAIL_ON", "put"), ("FAIL_WITH", PUT_500)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "create failed: {stderr}");
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("kg_"), "not a key: {key}");
    let puts = calls(&dir, "put");
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert_eq!(puts[0], puts[1], "the retry wrote something else");
    assert!(!puts[0].contains(&key), "a put carried the key itself");
    assert!(!stderr.contains(&key), "stderr carried the key");
}

#[test]
fn create_refused_by_a_4xx_put_is_not_tried_again_and_prints_no_key() {
    let (dir, script) = stand_in("create-400");
    let out = keygate(
        &script,
        &["create", "--name", "retry", "--local"],
        &[
            ("FAIL_ON", "put"),
            ("FAIL_WITH", "KV PUT failed: 400 Bad Request"),
        ],
    );
    assert_eq!(out.status.code(), Some(5), "exit 5: the store failed");
    assert!(
        out.stdout.is_empty(),
        "a key was printed for a record never stored"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("KV PUT failed: 400 Bad Request"),
        "{stderr}"
    );
    assert_eq!(calls(&dir, "put").len(), 1);
}

#[test]
fn create_gives_up_after_three_puts_answered_500() {
    let (dir, script) = stand_in("create-500-always");
    let out = keygate(
        &script,
        &["create", "--name", "retry", "--local"],
        &[
            ("FAIL_ON", "put"),
            ("FAIL_WITH", PUT_500),
            ("FAIL_ALWAYS", "1"),
        ],
    );
    assert_eq!(out.status.code(), Some(5), "exit 5: the store failed");
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains(PUT_500));
    assert_eq!(calls(&dir, "put").len(), 3);
}
