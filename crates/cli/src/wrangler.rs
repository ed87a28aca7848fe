//! The CLI's storage: Workers KV through `wrangler kv key …`, as a [`KvStore`] that blocks
//! inside its async calls (the CLI drives them with `pollster`). Which namespace ([`Target`]),
//! finding wrangler, reading its errors, and retrying a KV API that answers 5xx.

use keygate_core::kv::{KvError, KvStore, ListPage, Listed, PutOptions};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Which namespace wrangler should talk to, passed through as flags.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub remote: bool,
    pub persist_to: Option<PathBuf>,
    pub env: Option<String>,
    pub config: Option<PathBuf>,
    pub binding: String,
}

/// Runs `wrangler kv key …`. Wrangler's own output is captured, never shown on stdout.
pub struct Wrangler {
    program: PathBuf,
    path_env: Option<std::ffi::OsString>,
    target: Target,
}

impl Wrangler {
    /// Finds wrangler: `$KEYGATE_WRANGLER`, else `./node_modules/.bin/wrangler` (with that folder
    /// first on `PATH`, so the project's Node 22 runs it), else `wrangler` on `PATH`.
    pub fn locate(target: Target) -> Self {
        if let Some(p) = std::env::var_os("KEYGATE_WRANGLER") {
            return Self {
                program: p.into(),
                path_env: None,
                target,
            };
        }
        let local_bin = PathBuf::from("node_modules/.bin");
        if local_bin.join("wrangler").is_file() {
            let abs = std::fs::canonicalize(&local_bin).unwrap_or(local_bin);
            let mut paths = vec![abs.clone()];
            paths.extend(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            ));
            let path_env = std::env::join_paths(paths).ok();
            return Self {
                program: abs.join("wrangler"),
                path_env,
                target,
            };
        }
        Self {
            program: "wrangler".into(),
            path_env: None,
            target,
        }
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new(&self.program);
        cmd.args(["kv", "key"])
            .args(args)
            .args(["--binding", &self.target.binding]);
        cmd.arg(if self.target.remote {
            "--remote"
        } else {
            "--local"
        });
        if let Some(dir) = &self.target.persist_to {
            cmd.arg("--persist-to").arg(dir);
        }
        if let Some(env) = &self.target.env {
            cmd.args(["--env", env]);
        }
        if let Some(cfg) = &self.target.config {
            cmd.arg("--config").arg(cfg);
        }
        if let Some(p) = &self.path_env {
            cmd.env("PATH", p);
        }
        cmd.env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1");
        let out = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    "wrangler was not found: run `npm ci` in the keygate repository (or `make dev`), \
                     or set KEYGATE_WRANGLER to the wrangler command"
                        .to_owned()
                } else {
                    format!("could not run wrangler: {e}")
                }
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let msg = stderr
                .lines()
                .map(str::trim)
                .find(|l| l.contains("ERROR") || l.starts_with('✘'))
                .unwrap_or_else(|| {
                    stderr
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("")
                });
            return Err(format!(
                "wrangler kv key {} failed: {}",
                args[0],
                strip_ansi(msg)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs a KV call, retried twice (after 0.3 s and 0.9 s) when the KV API answers 5xx: remote
    /// KV and wrangler's local store both do now and then under load or concurrent use. Every
    /// call keygate makes is idempotent, so a retry cannot apply anything twice: a put writes the
    /// same value, metadata and absolute expiration again, and deleting a gone key succeeds.
    fn run_retrying(&self, args: &[&str]) -> Result<String, String> {
        retrying(|| self.run(args), std::thread::sleep)
    }
}

/// Calls `call` up to three times while it fails with a server error, sleeping 0.3 s, then
/// 0.9 s, between tries; any other outcome is returned at once.
fn retrying(
    mut call: impl FnMut() -> Result<String, String>,
    mut sleep: impl FnMut(std::time::Duration),
) -> Result<String, String> {
    let mut delay = std::time::Duration::from_millis(300);
    let mut attempt = 1;
    loop {
        match call() {
            Err(e) if attempt < 3 && is_server_error(&e) => {
                sleep(delay);
                delay *= 3;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// True for wrangler's "… failed: 5xx …" messages, and for the runtime's opaque "internal error;
/// reference = …" that the local store gives under concurrent use: a server-side fault, worth
/// one more try.
fn is_server_error(msg: &str) -> bool {
    msg.contains("internal error; reference =")
        || msg.match_indices("failed: 5").any(|(i, m)| {
            let rest = &msg.as_bytes()[i + m.len()..];
            rest.len() >= 2 && rest[..2].iter().all(u8::is_ascii_digit)
        })
}

impl Wrangler {
    /// Every name with `prefix`: wrangler follows KV's cursors itself and prints one array.
    fn list_names(&self, prefix: &str) -> Result<Vec<Listed>, KvError> {
        let out = self
            .run_retrying(&["list", "--prefix", prefix])
            .map_err(KvError)?;
        serde_json::from_str(&out)
            .map_err(|e| KvError::new(format!("unexpected output from wrangler kv key list: {e}")))
    }
}

impl KvStore for Wrangler {
    async fn get(&self, name: &str) -> Result<Option<String>, KvError> {
        // `get` prints "Value not found" for a missing key, so existence is checked by listing.
        if !self.list_names(name)?.iter().any(|l| l.name == name) {
            return Ok(None);
        }
        self.run_retrying(&["get", name, "--text"])
            .map(|s| Some(s.trim_end_matches('\n').to_owned()))
            .map_err(KvError)
    }

    async fn put(&self, name: &str, value: &str, opts: PutOptions<'_>) -> Result<(), KvError> {
        let meta = opts.metadata.map(|m| m.to_string());
        let exp = opts.expiration.map(|e| e.to_string());
        let mut args = vec!["put", name, value];
        if let Some(m) = &meta {
            args.extend(["--metadata", m]);
        }
        if let Some(e) = &exp {
            args.extend(["--expiration", e]);
        }
        self.run_retrying(&args).map(|_| ()).map_err(KvError)
    }

    async fn delete(&self, name: &str) -> Result<(), KvError> {
        self.run_retrying(&["delete", name])
            .map(|_| ())
            .map_err(KvError)
    }

    /// Everything in one page: wrangler has already followed KV's cursors. The page has no
    /// cursor, so a later page (asked for with one) is empty.
    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<ListPage, KvError> {
        if cursor.is_some() {
            return Ok(ListPage::default());
        }
        Ok(ListPage {
            keys: self.list_names(prefix)?,
            cursor: None,
        })
    }
}

/// A wrangler error line without its colour codes and its `✘ [ERROR]` marker.
fn strip_ansi(s: &str) -> String {
    crate::ansi::strip(s)
        .trim_start_matches(['✘', ' '])
        .trim_start_matches("[ERROR]")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::{is_server_error, retrying, strip_ansi};
    use std::time::Duration;

    /// Runs `retrying` over scripted answers; returns its result, the calls made and the sleeps.
    fn run_script(
        answers: &[Result<&str, &str>],
    ) -> (Result<String, String>, usize, Vec<Duration>) {
        let mut calls = 0;
        let mut slept = Vec::new();
        let result = retrying(
            || {
                calls += 1;
                answers[calls - 1].map(str::to_owned).map_err(str::to_owned)
            },
            |d| slept.push(d),
        );
        (result, calls, slept)
    }

    #[test]
    fn a_kv_call_answered_5xx_is_tried_again_after_a_growing_pause() {
        let put_500 = "wrangler kv key put failed: KV PUT failed: 500 Internal Server Error";
        let (result, calls, slept) = run_script(&[Err(put_500), Err(put_500), Ok("done")]);
        assert_eq!(result, Ok("done".to_owned()));
        assert_eq!(calls, 3);
        assert_eq!(
            slept,
            [Duration::from_millis(300), Duration::from_millis(900)]
        );
    }

    #[test]
    fn a_kv_call_gives_up_with_the_last_error_after_three_tries() {
        let (result, calls, slept) = run_script(&[
            Err("KV PUT failed: 500 a"),
            Err("KV PUT failed: 502 b"),
            Err("KV PUT failed: 503 c"),
        ]);
        assert_eq!(result, Err("KV PUT failed: 503 c".to_owned()));
        assert_eq!((calls, slept.len()), (3, 2));
    }

    #[test]
    fn a_kv_call_refused_4xx_is_not_tried_again() {
        let (result, calls, slept) = run_script(&[Err("KV PUT failed: 400 bad"), Ok("never")]);
        assert_eq!(result, Err("KV PUT failed: 400 bad".to_owned()));
        assert_eq!((calls, slept.len()), (1, 0));
    }

    #[test]
    fn only_5xx_kv_answers_count_as_server_errors() {
        assert!(is_server_error(
            "wrangler kv key list failed: KV GET failed: 500 Internal Server Error"
        ));
        assert!(is_server_error("KV PUT failed: 503 Service Unavailable"));
        assert!(is_server_error(
            "wrangler kv key list failed: internal error; reference = 0123abcd"
        ));
        for no in [
            "KV PUT failed: 400 bad",
            "KV GET failed: 404",
            "failed: 5",
            "wrangler was not found",
            "internal error",
        ] {
            assert!(!is_server_error(no), "{no}");
        }
    }

    #[test]
    fn wrangler_error_lines_lose_colour_codes_and_marker() {
        let raw = "\u{1b}[31m✘ \u{1b}[41;31m[\u{1b}[41;97mERROR\u{1b}[41;31m]\u{1b}[0m \u{1b}[1mKV PUT failed: 400 bad\u{1b}[0m";
        assert_eq!(strip_ansi(raw), "KV PUT failed: 400 bad");
    }
}
