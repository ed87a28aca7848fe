//! The gateway's admin endpoint, for `keygate usage`: where the gateway is, which token to send,
//! and the one HTTP call (`GET /__keygate/usage`). Everything but the call itself is a plain
//! function, tested without a network.
//!
//! The admin token is sent only in the `Authorization` header. It never appears in an error
//! message: the gateway's problem texts are scrubbed of it before they are shown.

use crate::commands::usage::UsageSource;
use crate::http::{check_base_url, Client, Request, SendError};
use crate::redact::{clean, redact};
use serde::Deserialize;
use std::time::Duration;

/// The gateway `wrangler dev` serves, used when neither `--url` nor `KEYGATE_URL` is given.
pub const DEFAULT_LOCAL_URL: &str = "http://127.0.0.1:8787";
/// The admin endpoint that reports a quota counter.
pub const USAGE_PATH: &str = "/__keygate/usage";
/// Environment variable naming the gateway's base URL.
pub const URL_ENV: &str = "KEYGATE_URL";
/// Environment variable holding the gateway's `ADMIN_TOKEN`.
pub const TOKEN_ENV: &str = "KEYGATE_ADMIN_TOKEN";
/// The local secrets file `wrangler dev` reads, in the current directory.
pub const DEV_VARS_FILE: &str = ".dev.vars";
/// The gateway's variable that holds the admin token.
pub const TOKEN_VAR: &str = "ADMIN_TOKEN";

/// Largest admin answer read, in bytes.
const MAX_BODY: u64 = 64 * 1024;

/// The gateway's base URL: `--url`, else `$KEYGATE_URL`, else [`DEFAULT_LOCAL_URL`] for the
/// local gateway. `--remote` needs one of the first two. Plain `http://` is accepted only for a
/// loopback host, so the admin token never crosses a network unencrypted.
pub fn admin_url(flag: Option<&str>, env: Option<&str>, remote: bool) -> Result<String, String> {
    let given = flag
        .map(|u| (u, "--url"))
        .or(env.map(|u| (u, URL_ENV)))
        .filter(|(u, _)| !u.trim().is_empty());
    match given {
        Some((url, from)) => check_base_url(url, "the gateway URL", "admin token")
            .map_err(|e| format!("{from}: {e}")),
        None if remote => Err(format!(
            "--remote needs the deployed gateway's URL: pass --url https://… or set {URL_ENV}"
        )),
        None => Ok(DEFAULT_LOCAL_URL.to_owned()),
    }
}

/// The admin token: `$KEYGATE_ADMIN_TOKEN`, else, for the local gateway only, `ADMIN_TOKEN`
/// from `.dev.vars` (read by `dev_vars`, which is not called when the environment has one).
pub fn admin_token(
    env: Option<&str>,
    remote: bool,
    dev_vars: impl FnOnce() -> Option<String>,
) -> Result<String, String> {
    let (token, from) = match env.filter(|t| !t.is_empty()) {
        Some(t) => (t.to_owned(), TOKEN_ENV.to_owned()),
        None if remote => {
            return Err(format!(
                "set {TOKEN_ENV} to the deployed gateway's {TOKEN_VAR} secret"
            ))
        }
        None => match dev_vars()
            .and_then(|c| dev_var(&c, TOKEN_VAR))
            .filter(|t| !t.is_empty())
        {
            Some(t) => (t, format!("{TOKEN_VAR} in {DEV_VARS_FILE}")),
            None => {
                return Err(format!(
                    "no admin token: set {TOKEN_ENV}, or put {TOKEN_VAR}=\"…\" in {DEV_VARS_FILE} \
                     in the current directory (the file wrangler dev reads)"
                ))
            }
        },
    };
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the admin token ({from}) holds characters other than visible ASCII"
        ));
    }
    Ok(token)
}

/// The value of `name` in a `.dev.vars` (dotenv) file: lines `NAME="value"`, `NAME='value'` or
/// `NAME=value`, optionally after `export `. Comments and blank lines are skipped; a later line
/// wins, as in wrangler.
pub fn dev_var(content: &str, name: &str) -> Option<String> {
    let mut found = None;
    for line in content.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') || k.trim() != name {
            continue;
        }
        let v = v.trim();
        let value = match v.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => match v[1..].find(q as char) {
                Some(end) => &v[1..1 + end],
                None => continue,
            },
            // An unquoted value ends at an inline comment.
            _ => v.split(" #").next().unwrap_or("").trim_end(),
        };
        found = Some(value.to_owned());
    }
    found
}

/// `{base}/__keygate/usage?counter=…&window_start=…`, the counter percent-encoded.
pub fn usage_url(base: &str, counter: &str, window_start: u64) -> String {
    let mut url = format!("{}{USAGE_PATH}?", base.trim_end_matches('/'));
    url.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("counter", counter)
            .append_pair("window_start", &window_start.to_string())
            .finish(),
    );
    url
}

#[derive(Deserialize)]
struct UsageAnswer {
    counter: String,
    window_start: u64,
    used: u64,
}

#[derive(Deserialize, Default)]
struct Problem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// Turns the admin endpoint's answer into the count, or an error naming the status and the
/// problem's title (RFC 9457). An answer about another counter or window is refused.
pub fn parse_usage_response(
    status: u16,
    body: &str,
    counter: &str,
    window_start: u64,
) -> Result<u64, String> {
    if status == 200 {
        let a: UsageAnswer = serde_json::from_str(body).map_err(|_| {
            "the gateway's answer is not usage JSON ({\"counter\", \"window_start\", \"used\"}); \
             is the URL a keygate gateway?"
                .to_owned()
        })?;
        if a.counter != counter || a.window_start != window_start {
            return Err(format!(
                "the gateway answered for counter {} in the window from {}, not {counter} from \
                 {window_start}",
                clean(&a.counter),
                a.window_start
            ));
        }
        return Ok(a.used);
    }
    let p: Problem = serde_json::from_str(body).unwrap_or_default();
    let mut msg = format!("the gateway answered {status}");
    if let Some(t) = p.title.as_deref().map(clean).filter(|t| !t.is_empty()) {
        msg.push(' ');
        msg.push_str(&t);
    }
    if let Some(d) = p.detail.as_deref().map(clean).filter(|d| !d.is_empty()) {
        msg.push_str(": ");
        msg.push_str(&d);
    }
    let hint = match status {
        401 | 403 => format!(
            "the admin token was refused: compare {TOKEN_ENV}, or {TOKEN_VAR} in {DEV_VARS_FILE}, \
             with the gateway's {TOKEN_VAR}"
        ),
        404 => format!(
            "the admin endpoint is off unless the gateway has {TOKEN_VAR} set; or the URL is not \
             a keygate gateway"
        ),
        503 => "the quota store could not answer; try again".to_owned(),
        300..=399 => format!("redirects are not followed; check --url or {URL_ENV}"),
        _ => String::new(),
    };
    if !hint.is_empty() {
        msg.push_str(" - ");
        msg.push_str(&hint);
    }
    Err(msg)
}

/// The real [`UsageSource`]: one `GET` to the gateway's admin endpoint. The URL and token are
/// worked out when a count is needed, so a key without a quota needs neither.
pub struct AdminApi {
    /// `--url`, if given.
    pub url: Option<String>,
    /// Targeting the deployed gateway (`--remote`).
    pub remote: bool,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl UsageSource for AdminApi {
    fn used(&self, counter: &str, window_start: u64) -> Result<u64, String> {
        let base = admin_url(
            self.url.as_deref(),
            env_var(URL_ENV).as_deref(),
            self.remote,
        )?;
        let token = admin_token(env_var(TOKEN_ENV).as_deref(), self.remote, || {
            std::fs::read_to_string(DEV_VARS_FILE).ok()
        })?;
        fetch_used(&base, &token, counter, window_start).map_err(|e| match e {
            Fetch::Unreachable(e) if !self.remote => {
                format!("{e}; is the local gateway running (`make dev`)?")
            }
            Fetch::Unreachable(e) | Fetch::Failed(e) => e,
        })
    }
}

/// Why [`fetch_used`] has no count: the gateway could not be reached, or its answer was not
/// a count. The texts never hold the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    Unreachable(String),
    Failed(String),
}

/// Asks the gateway at `base` for a counter's count.
pub fn fetch_used(base: &str, token: &str, counter: &str, window_start: u64) -> Result<u64, Fetch> {
    let url = usage_url(base, counter, window_start);
    let req = Request {
        url: &url,
        token,
        token_label: "admin token",
        accept: "application/json, application/problem+json",
        body: None,
        max_body: MAX_BODY,
    };
    let (status, body) = Client::new(base, Duration::from_secs(30))
        .send(&req)
        .map_err(|e| match e {
            SendError::Unreachable(e) => {
                Fetch::Unreachable(format!("could not reach the gateway at {base}: {e}"))
            }
            SendError::Unreadable { status, error } => Fetch::Failed(format!(
                "could not read the gateway's answer ({status}): {error}"
            )),
        })?;
    parse_usage_response(status, &body, counter, window_start)
        .map_err(|e| Fetch::Failed(redact(&e, token, "admin token")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_comes_from_the_flag_then_the_environment_then_the_local_default() {
        assert_eq!(
            admin_url(
                Some("https://gw.example/"),
                Some("https://env.example"),
                true
            ),
            Ok("https://gw.example".to_owned())
        );
        assert_eq!(
            admin_url(None, Some("https://env.example/base//"), true),
            Ok("https://env.example/base".to_owned())
        );
        assert_eq!(
            admin_url(None, None, false),
            Ok(DEFAULT_LOCAL_URL.to_owned())
        );
        assert_eq!(
            admin_url(None, Some(""), false),
            Ok(DEFAULT_LOCAL_URL.to_owned())
        );
    }

    #[test]
    fn remote_without_a_url_is_a_clear_error() {
        let e = admin_url(None, None, true).unwrap_err();
        assert!(e.contains("--url") && e.contains(URL_ENV), "{e}");
    }

    #[test]
    fn plain_http_to_the_gateway_is_refused_except_to_loopback_hosts() {
        for ok in [
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "HTTP://LOCALHOST",
            "http://[::1]:8787/",
            "https://gw.example.com",
        ] {
            assert!(admin_url(Some(ok), None, false).is_ok(), "{ok}");
        }
        let e = admin_url(Some("http://gw.example.com"), None, true).unwrap_err();
        assert!(
            e.contains("plain http") && e.contains("gw.example.com"),
            "{e}"
        );
        for bad in [
            "gw.example.com",
            "ftp://gw.example.com",
            "https://",
            "https://gw.example.com/?x=1",
            "https://gw.example.com/#f",
        ] {
            assert!(admin_url(Some(bad), None, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_url_with_credentials_is_refused_without_being_echoed() {
        let e = admin_url(Some("https://admin:hunter2@gw.example"), None, true).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn token_comes_from_the_environment_before_dev_vars() {
        let t = admin_token(Some("from-env"), false, || panic!("dev vars not read")).unwrap();
        assert_eq!(t, "from-env");
        let t = admin_token(None, false, || Some("ADMIN_TOKEN=\"from-file\"\n".into())).unwrap();
        assert_eq!(t, "from-file");
    }

    #[test]
    fn remote_needs_the_token_in_the_environment_and_never_reads_dev_vars() {
        let e = admin_token(None, true, || panic!("dev vars not read")).unwrap_err();
        assert!(e.contains(TOKEN_ENV), "{e}");
        assert_eq!(
            admin_token(Some("t0k"), true, || None),
            Ok("t0k".to_owned())
        );
    }

    #[test]
    fn missing_or_empty_local_token_is_a_clear_error() {
        for file in [
            None,
            Some(""),
            Some("SHARED_SECRET=x\n"),
            Some("ADMIN_TOKEN=\"\"\n"),
        ] {
            let e = admin_token(Some(""), false, || file.map(str::to_owned)).unwrap_err();
            assert!(e.contains(TOKEN_ENV) && e.contains(DEV_VARS_FILE), "{e}");
        }
    }

    #[test]
    fn a_token_a_header_cannot_carry_is_refused_without_being_echoed() {
        let e = admin_token(Some("sec ret\n"), false, || None).unwrap_err();
        assert!(!e.contains("sec ret"), "{e}");
    }

    #[test]
    fn dev_vars_accepts_quoted_unquoted_and_exported_values() {
        let file = "# local secrets\nSHARED_SECRET=\"abc\"\n\nADMIN_TOKEN_OLD=no\n  export ADMIN_TOKEN = 'x=y' \n";
        assert_eq!(dev_var(file, "ADMIN_TOKEN").as_deref(), Some("x=y"));
        assert_eq!(dev_var(file, "SHARED_SECRET").as_deref(), Some("abc"));
        assert_eq!(
            dev_var("ADMIN_TOKEN=plain # note\n", "ADMIN_TOKEN").as_deref(),
            Some("plain")
        );
        assert_eq!(
            dev_var("ADMIN_TOKEN=a\nADMIN_TOKEN=b\n", "ADMIN_TOKEN").as_deref(),
            Some("b")
        );
        assert_eq!(dev_var("#ADMIN_TOKEN=c\n", "ADMIN_TOKEN"), None);
        assert_eq!(dev_var("ADMIN_TOKEN=\"unterminated\n", "ADMIN_TOKEN"), None);
    }

    #[test]
    fn usage_url_percent_encodes_the_counter() {
        assert_eq!(
            usage_url("http://127.0.0.1:8787/", "consumer:acme@x.io", 1_764_547_200),
            "http://127.0.0.1:8787/__keygate/usage?counter=consumer%3Aacme%40x.io&window_start=1764547200"
        );
        assert_eq!(
            usage_url("https://gw", "key:0123456789ab", 0),
            "https://gw/__keygate/usage?counter=key%3A0123456789ab&window_start=0"
        );
    }

    #[test]
    fn a_matching_answer_gives_the_count() {
        let body = r#"{"counter":"key:abc","window_start":1764547200,"used":42}"#;
        assert_eq!(
            parse_usage_response(200, body, "key:abc", 1_764_547_200),
            Ok(42)
        );
    }

    #[test]
    fn an_answer_for_another_counter_or_window_or_not_json_is_refused() {
        let body = r#"{"counter":"key:other","window_start":1764547200,"used":42}"#;
        assert!(parse_usage_response(200, body, "key:abc", 1_764_547_200).is_err());
        let body = r#"{"counter":"key:abc","window_start":1,"used":42}"#;
        assert!(parse_usage_response(200, body, "key:abc", 1_764_547_200).is_err());
        assert!(parse_usage_response(200, "<html>", "key:abc", 0)
            .unwrap_err()
            .contains("keygate gateway"));
    }

    #[test]
    fn problem_answers_report_status_title_and_a_hint() {
        let e = parse_usage_response(
            401,
            r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"bad admin token"}"#,
            "key:abc",
            0,
        )
        .unwrap_err();
        assert!(
            e.starts_with("the gateway answered 401 Unauthorized: bad admin token"),
            "{e}"
        );
        assert!(e.contains(TOKEN_ENV));
        let e = parse_usage_response(503, r#"{"title":"Quota store unavailable"}"#, "k", 0)
            .unwrap_err();
        assert!(e.contains("503 Quota store unavailable") && e.contains("try again"));
        let e = parse_usage_response(404, "not json", "k", 0).unwrap_err();
        assert!(e.starts_with("the gateway answered 404 - ") && e.contains(TOKEN_VAR));
        let e = parse_usage_response(500, r#"{"title":"Boom\u001b[31m\n"}"#, "k", 0).unwrap_err();
        assert_eq!(e, "the gateway answered 500 Boom[31m");
    }

    /// A one-shot HTTP server on loopback: answers one request with `status` and `body`, and
    /// hands back the request it received.
    fn serve_once(status: &str, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let status = status.to_owned();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            String::from_utf8(req).unwrap()
        });
        (base, handle)
    }

    #[test]
    fn the_real_client_sends_the_bearer_token_and_reads_the_count() {
        let (base, server) = serve_once(
            "200 OK",
            r#"{"counter":"consumer:acme@x","window_start":1764547200,"used":7}"#,
        );
        let used = fetch_used(&base, "tok-123", "consumer:acme@x", 1_764_547_200);
        let req = server.join().unwrap();
        assert_eq!(used, Ok(7));
        assert!(
            req.starts_with(
                "GET /__keygate/usage?counter=consumer%3Aacme%40x&window_start=1764547200 HTTP/1.1\r\n"
            ),
            "{req}"
        );
        assert!(req
            .to_ascii_lowercase()
            .contains("authorization: bearer tok-123\r\n"));
    }

    #[test]
    fn the_real_client_reports_a_problem_without_the_token() {
        let (base, server) = serve_once(
            "401 Unauthorized",
            r#"{"title":"Unauthorized","detail":"token tok-456 is not the admin token"}"#,
        );
        let Fetch::Failed(e) = fetch_used(&base, "tok-456", "key:abc", 0).unwrap_err() else {
            panic!("the gateway answered")
        };
        server.join().unwrap();
        assert!(
            e.starts_with("the gateway answered 401 Unauthorized: token [admin token] is"),
            "{e}"
        );
        assert!(!e.contains("tok-456"));
    }

    #[test]
    fn an_unreachable_gateway_is_reported_without_the_token() {
        // A port that was just free: nothing listens there, so the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let Fetch::Unreachable(e) = fetch_used(&base, "s3cr3t-token", "key:abc", 0).unwrap_err()
        else {
            panic!("not unreachable")
        };
        assert!(
            e.starts_with(&format!("could not reach the gateway at {base}")),
            "{e}"
        );
        assert!(!e.contains("s3cr3t-token"));
    }
}
