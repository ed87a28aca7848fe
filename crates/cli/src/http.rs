//! The CLI's one HTTP client, for the gateway's admin endpoint (`keygate usage`), the management
//! API (API mode, [`crate::api`]) and the Analytics Engine SQL API (`keygate stats --remote`):
//! which base URLs it accepts, how it is configured (no redirects, bounded time, no proxy for
//! loopback), and one call that sends a bearer token and returns the status, the body and the
//! few answer headers callers read. The token never appears in its errors.

use crate::redact::redact;
use std::time::Duration;
use url::{Host, Url};

/// Why a call brought no answer. The texts never hold the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// No connection, or it broke before an answer came.
    Unreachable(String),
    /// An answer with this status came, but its body could not be read.
    Unreadable { status: u16, error: String },
}

/// Checks a base URL (`name` says where it came from, for messages) and drops trailing slashes:
/// absolute, `https://` (or `http://` to loopback), no user name or password, no query or
/// fragment. Never echoes a URL that holds credentials; `secret` names what would be sent.
pub fn check_base_url(raw: &str, name: &str, secret: &str) -> Result<String, String> {
    let url = Url::parse(raw.trim())
        .map_err(|_| format!("{name} must be an absolute http:// or https:// URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{name} must not hold a user name or password"));
    }
    let tls = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(format!("{name} must start with http:// or https://")),
    };
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{name} '{url}' must be a plain base URL, without query or fragment"
        ));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(format!("{name} has no host"));
    };
    if !tls && !is_loopback(&url) {
        return Err(format!(
            "refusing to send the {secret} over plain http to {host}; use https://"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(a)) => a.is_loopback(),
        Some(Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

/// A request: the method and body (`None`: GET), with a bearer token.
pub struct Request<'a> {
    pub url: &'a str,
    pub token: &'a str,
    /// What the token is, for `[…]` in redacted errors.
    pub token_label: &'a str,
    pub accept: &'a str,
    /// `(content type, body)` for a POST.
    pub body: Option<(&'a str, &'a str)>,
    /// The largest answer read, in bytes.
    pub max_body: u64,
}

/// A call of any method ([`Client::call`]): extra request headers, and the answer headers kept.
pub struct Call<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub token: &'a str,
    /// What the token is, for `[…]` in redacted errors.
    pub token_label: &'a str,
    pub accept: &'a str,
    /// Further request headers, e.g. `Idempotency-Key`.
    pub headers: &'a [(&'a str, &'a str)],
    /// `(content type, body)`; `None` sends no body.
    pub body: Option<(&'a str, &'a str)>,
    /// The largest answer read, in bytes.
    pub max_body: u64,
    /// Answer headers to keep (lower-case names).
    pub keep: &'a [&'a str],
}

/// An answer: its status, the headers asked for (lower-case name, value), and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The value of a kept header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A client for `base`: every status is an answer (not an error), no redirects are followed (a
/// bearer token must not follow one), and `global` bounds each call. A loopback `base` bypasses
/// any proxy from the environment, which has no business seeing a local call.
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    pub fn new(base: &str, global: Duration) -> Self {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(global))
            .user_agent(concat!("keygate-cli/", env!("CARGO_PKG_VERSION")));
        if Url::parse(base).is_ok_and(|u| is_loopback(&u)) {
            config = config.proxy(None);
        }
        Self {
            agent: config.build().into(),
        }
    }

    /// Sends a call of any method; whatever answer came back, with the headers it asked for.
    pub fn call(&self, c: &Call) -> Result<Answer, SendError> {
        let hide = |e: String| redact(&e, c.token, c.token_label);
        let mut req = ureq::http::Request::builder()
            .method(c.method)
            .uri(c.url)
            .header("Authorization", format!("Bearer {}", c.token))
            .header("Accept", c.accept);
        for (name, value) in c.headers {
            req = req.header(*name, *value);
        }
        if let Some((content_type, _)) = c.body {
            req = req.header("Content-Type", content_type);
        }
        let sent = match c.body {
            Some((_, body)) => req
                .body(body.to_owned())
                .map_err(|e| SendError::Unreachable(hide(e.to_string())))
                .and_then(|r| {
                    self.agent
                        .run(r)
                        .map_err(|e| SendError::Unreachable(hide(e.to_string())))
                }),
            None => req
                .body(())
                .map_err(|e| SendError::Unreachable(hide(e.to_string())))
                .and_then(|r| {
                    self.agent
                        .run(r)
                        .map_err(|e| SendError::Unreachable(hide(e.to_string())))
                }),
        };
        let mut answer = sent?;
        let status = answer.status().as_u16();
        let headers = c
            .keep
            .iter()
            .filter_map(|name| {
                let v = answer.headers().get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), v.to_owned()))
            })
            .collect();
        let body = answer
            .body_mut()
            .with_config()
            .limit(c.max_body)
            .read_to_string()
            .map_err(|e| SendError::Unreadable {
                status,
                error: hide(e.to_string()),
            })?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Sends the request (GET, or POST with a body); the status and body of whatever answer
    /// came back.
    pub fn send(&self, req: &Request) -> Result<(u16, String), SendError> {
        let a = self.call(&Call {
            method: if req.body.is_some() { "POST" } else { "GET" },
            url: req.url,
            token: req.token,
            token_label: req.token_label,
            accept: req.accept,
            headers: &[],
            body: req.body,
            max_body: req.max_body,
            keep: &[],
        })?;
        Ok((a.status, a.body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_localhost_127_8_and_ipv6_loopback_count_as_loopback() {
        for (url, loopback) in [
            ("http://127.0.0.1:8787", true),
            ("http://127.9.9.9", true),
            ("http://LOCALHOST", true),
            ("http://[::1]:8787/", true),
            ("http://10.0.0.1", false),
            ("https://localhost.example.com", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), loopback, "{url}");
        }
    }

    #[test]
    fn a_base_url_loses_trailing_slashes_and_plain_http_names_the_secret_it_protects() {
        assert_eq!(
            check_base_url("https://gw.example/base//", "x", "t"),
            Ok("https://gw.example/base".to_owned())
        );
        assert_eq!(
            check_base_url("http://gw.example.com", "the URL", "admin token"),
            Err(
                "refusing to send the admin token over plain http to gw.example.com; use https://"
                    .to_owned()
            )
        );
    }
}
