//! The real `keygate` binary choosing between API mode and wrangler: which flags and variables
//! select the management API, where the root key comes from (`$KEYGATE_ROOT_KEY`,
//! `--root-key-file PATH`, `--root-key-file -`), the refusals (exit 2), and that neither stdout
//! nor stderr ever holds the root key. The API is a scripted server on loopback; wrangler is a
//! stand-in script (`KEYGATE_WRANGLER`) that logs its calls.

use keygate_core::root::RootKey;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A server answering each request with the next canned `(status, body)` and recording the
/// requests (head and body) it got.
struct Scripted {
    base: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn start(answers: Vec<(u16, &'static str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let Ok((mut conn, _)) = listener.accept() else {
                    return;
                };
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    let n = conn.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break req.len();
                    }
                    req.extend_from_slice(&buf[..n]);
                };
                let head = String::from_utf8_lossy(&req[..head_end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while req.len() < head_end + len {
                    let n = conn.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&req).into_owned());
                let ct = if status >= 400 {
                    "application/problem+json"
                } else {
                    "application/json"
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { base, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A stand-in wrangler that logs its calls and answers `list` with `[]` and `get` with nothing.
fn stand_in(test: &str) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("api-mode-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("wrangler");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls.log\"\n\
         case \"$3\" in list) echo '[]' ;; get) echo 'Value not found' >&2; exit 1 ;; esac\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, script)
}

fn wrangler_calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// Runs keygate with only the given API variables (none inherited) and the stand-in wrangler.
fn keygate(script: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keygate"));
    cmd.args(args)
        .env("KEYGATE_WRANGLER", script)
        .env_remove("KEYGATE_URL")
        .env_remove("KEYGATE_ROOT_KEY")
        .env_remove("KEYGATE_ADMIN_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Neither stream holds the root key.
fn assert_secret_kept(o: &Output, key: &RootKey) {
    let (out, err) = text(o);
    assert!(!out.contains(key.expose()), "stdout holds the root key");
    assert!(!err.contains(key.expose()), "stderr holds the root key");
}

const EMPTY_LIST: &str = r#"{"keys":[],"cursor":null}"#;

#[test]
fn both_variables_send_the_key_commands_to_the_api_with_the_root_key_as_bearer() {
    let (dir, script) = stand_in("env");
    let api = Scripted::start(vec![(200, EMPTY_LIST)]);
    let key = RootKey::generate().unwrap();
    let o = keygate(
        &script,
        &["list"],
        &[
            ("KEYGATE_URL", &api.base),
            ("KEYGATE_ROOT_KEY", key.expose()),
        ],
        "",
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("ID "), "{out}");
    assert_eq!(err, "keygate: 0 key(s)\n");
    assert_secret_kept(&o, &key);
    let seen = api.seen();
    assert!(seen[0].starts_with("GET /__keygate/v1/keys?limit=100 HTTP/1.1\r\n"));
    assert!(seen[0].to_ascii_lowercase().contains(&format!(
        "authorization: bearer {}\r\n",
        key.expose().to_ascii_lowercase()
    )));
    assert_eq!(wrangler_calls(&dir), "", "wrangler was not run");
}

#[test]
fn the_root_key_file_dash_is_the_first_line_of_stdin_and_the_rest_is_the_commands() {
    let (_, script) = stand_in("stdin");
    let api = Scripted::start(vec![(201, r#"{"records":[]}"#)]);
    let key = RootKey::generate().unwrap();
    let o = keygate(
        &script,
        &[
            "import",
            "--name",
            "old",
            "--url",
            &api.base,
            "--root-key-file",
            "-",
        ],
        &[],
        &format!("{}\nlegacy-one\nlegacy-two\n", key.expose()),
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_secret_kept(&o, &key);
    let seen = api.seen();
    let body = seen[0].split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["keys"], serde_json::json!(["legacy-one", "legacy-two"]));
}

#[test]
fn the_root_key_file_is_read_from_a_path() {
    let (dir, script) = stand_in("file");
    let api = Scripted::start(vec![(200, r#"{"roots":[]}"#)]);
    let key = RootKey::generate().unwrap();
    let file = dir.join("root.key");
    std::fs::write(&file, format!("{}\n", key.expose())).unwrap();
    let o = keygate(
        &script,
        &["root", "list", "--url", &api.base, "--root-key-file"],
        &[],
        "",
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "a missing value is clap's usage error"
    );
    let o = keygate(
        &script,
        &[
            "root",
            "list",
            "--json",
            "--url",
            &api.base,
            "--root-key-file",
            file.to_str().unwrap(),
        ],
        &[],
        "",
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out, "[]\n");
    assert!(api.seen()[0].starts_with("GET /__keygate/v1/roots HTTP/1.1\r\n"));
}

#[test]
fn a_wrangler_flag_in_api_mode_exits_2_before_any_call() {
    let (dir, script) = stand_in("conflict");
    let key = RootKey::generate().unwrap();
    for args in [
        &["list", "--url", "http://127.0.0.1:9", "--local"][..],
        &["list", "--remote", "--url", "http://127.0.0.1:9"],
        &[
            "show",
            "0123456789ab",
            "--env",
            "staging",
            "--url",
            "http://127.0.0.1:9",
        ],
    ] {
        let o = keygate(&script, args, &[("KEYGATE_ROOT_KEY", key.expose())], "");
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(err.contains("cannot be used in API mode"), "{err}");
        assert_secret_kept(&o, &key);
    }
    assert_eq!(wrangler_calls(&dir), "");
}

#[test]
fn url_without_a_root_key_is_a_usage_error_for_key_commands() {
    let (dir, script) = stand_in("no-key");
    let o = keygate(&script, &["list", "--url", "http://127.0.0.1:9"], &[], "");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("needs a root key") && err.contains("KEYGATE_ROOT_KEY"),
        "{err}"
    );
    assert_eq!(wrangler_calls(&dir), "");
}

#[test]
fn an_api_key_given_as_root_key_is_refused_without_being_echoed() {
    let (_, script) = stand_in("api-key");
    let api_key = keygate_core::lifecycle::generate_key().unwrap();
    let o = keygate(
        &script,
        &["list"],
        &[
            ("KEYGATE_URL", "http://127.0.0.1:9"),
            ("KEYGATE_ROOT_KEY", api_key.expose()),
        ],
        "",
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("holds an API key (kg_…), not a root key"),
        "{err}"
    );
    assert!(!out.contains(api_key.expose()) && !err.contains(api_key.expose()));
}

#[test]
fn audit_without_api_mode_exits_2_and_says_why() {
    let (dir, script) = stand_in("audit");
    let o = keygate(&script, &["audit"], &[], "");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(out.is_empty());
    assert!(
        err.contains("keygate audit needs the management API"),
        "{err}"
    );
    assert_eq!(wrangler_calls(&dir), "");
}

#[test]
fn a_root_key_without_a_url_uses_wrangler_and_says_so() {
    let (dir, script) = stand_in("key-only");
    let key = RootKey::generate().unwrap();
    let o = keygate(
        &script,
        &["list"],
        &[("KEYGATE_ROOT_KEY", key.expose())],
        "",
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("KEYGATE_ROOT_KEY is set but KEYGATE_URL is not"),
        "{err}"
    );
    assert_secret_kept(&o, &key);
    assert!(wrangler_calls(&dir).contains("kv key list"));
}

#[test]
fn usage_with_url_and_no_root_key_keeps_the_wrangler_path() {
    let (dir, script) = stand_in("usage-legacy");
    let o = keygate(
        &script,
        &[
            "usage",
            "0123456789ab",
            "--url",
            "http://127.0.0.1:9",
            "--local",
        ],
        &[("KEYGATE_ADMIN_TOKEN", "admin-token")],
        "",
    );
    // The stand-in stores nothing: the record is looked up in KV and not found.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    assert!(wrangler_calls(&dir).contains("kv key list --prefix 0123456789ab"));
}

#[test]
fn a_gateway_that_cannot_be_reached_exits_5_and_never_shows_the_root_key() {
    let (_, script) = stand_in("refused");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = RootKey::generate().unwrap();
    let o = keygate(
        &script,
        &[
            "show",
            "0123456789ab",
            "--url",
            &format!("http://127.0.0.1:{port}"),
        ],
        &[("KEYGATE_ROOT_KEY", key.expose())],
        "",
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(
        err.starts_with("keygate: no answer from the management API"),
        "{err}"
    );
    assert_secret_kept(&o, &key);
}

#[test]
fn refusals_map_to_exit_codes_and_never_show_the_root_key() {
    let (_, script) = stand_in("refusals");
    let key = RootKey::generate().unwrap();
    let echo: &'static str = Box::leak(
        format!(
            r#"{{"title":"Unauthorized","detail":"{} is not known"}}"#,
            key.expose()
        )
        .into_boxed_str(),
    );
    for (status, body, code) in [
        (401, echo, 1),
        (403, r#"{"title":"Forbidden"}"#, 1),
        (404, r#"{"title":"Not Found"}"#, 3),
        (409, r#"{"title":"Conflict","detail":"key is disabled"}"#, 4),
        (
            422,
            r#"{"title":"Unprocessable","errors":[{"field":"overlap","detail":"too long"}]}"#,
            2,
        ),
    ] {
        let api = Scripted::start(vec![(status, body)]);
        let o = keygate(
            &script,
            &["rotate", "0123456789ab", "--url", &api.base],
            &[("KEYGATE_ROOT_KEY", key.expose())],
            "",
        );
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(code), "{status}: {err}");
        assert!(out.is_empty());
        assert_secret_kept(&o, &key);
    }
}
