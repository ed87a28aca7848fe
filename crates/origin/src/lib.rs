//! A real HTTP origin for the demo and the end-to-end tests: it records every request it
//! receives, checks it with `keygate-verify` (shared secret or signature), and echoes what it
//! saw (secret and signature redacted).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use futures_util::StreamExt;
use keygate_verify::{Verified, Verifier, VerifyLayer, SIGNATURE_HEADER};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// How the origin behaves.
#[derive(Clone)]
pub struct OriginConfig {
    /// The secret it requires; `None` (and no [`OriginConfig::secrets`]) answers every request
    /// with 500, like a misconfigured origin.
    pub secret: Option<String>,
    /// Header carrying the secret (lower case).
    pub header: String,
    /// Enables the `/__test/…` routes used by the end-to-end suite.
    pub test_routes: bool,
    /// Keeps every request for [`Origin::received`] (tests); off for the demo and bench origin.
    pub record: bool,
    /// More accepted secrets after `secret` (a rotation accepts the old and the new one).
    pub secrets: Vec<String>,
    /// Refuse requests without a valid `X-Keygate-Signature`.
    pub require_signature: bool,
    /// The signature clock window in seconds.
    pub signature_window_secs: u64,
}

impl Default for OriginConfig {
    /// No secret (every request 500), `x-shared-secret`, no test routes, no recording, no
    /// signature required, the default window.
    fn default() -> Self {
        Self {
            secret: None,
            header: keygate_verify::DEFAULT_SECRET_HEADER.to_owned(),
            test_routes: false,
            record: false,
            secrets: Vec::new(),
            require_signature: false,
            signature_window_secs: keygate_verify::DEFAULT_WINDOW_SECS,
        }
    }
}

impl std::fmt::Debug for OriginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let accepted = self.secret.iter().count() + self.secrets.len();
        f.debug_struct("OriginConfig")
            .field("secrets", &format_args!("<{accepted} redacted>"))
            .field("header", &self.header)
            .field("test_routes", &self.test_routes)
            .field("record", &self.record)
            .field("require_signature", &self.require_signature)
            .field("signature_window_secs", &self.signature_window_secs)
            .finish()
    }
}

impl OriginConfig {
    /// The verifier this configuration describes: `secret` then `secrets` accepted.
    pub fn verifier(&self) -> std::io::Result<Verifier> {
        let header = HeaderName::try_from(self.header.as_str()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("'{}' is not a header name", self.header),
            )
        })?;
        Ok(Verifier::builder()
            .secrets(self.secret.iter().chain(&self.secrets))
            .header(header)
            .require_signature(self.require_signature)
            .window_secs(self.signature_window_secs)
            .build())
    }
}

/// One request as the origin received it, before any check.
#[derive(Clone, Debug, Serialize)]
pub struct Received {
    pub method: String,
    /// Path and query exactly as on the request line.
    pub target: String,
    /// Every header field in arrival order; values are lossy UTF-8.
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
    pub body_sha256: String,
    /// False when the body stream ended with an error (truncated upload).
    pub body_complete: bool,
}

impl Received {
    /// All values of a header, by lower-case name.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of a header, if exactly one was received.
    pub fn one(&self, name: &str) -> Option<&str> {
        match self.all(name).as_slice() {
            [v] => Some(v),
            _ => None,
        }
    }
}

#[derive(Clone)]
struct AppState {
    cfg: Arc<OriginConfig>,
    verifier: Verifier,
    log: Arc<Mutex<Vec<Received>>>,
}

/// A running origin.
pub struct Origin {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    verifier: Verifier,
}

impl Origin {
    /// The verifier in front of the handler; [`Verifier::set_secrets`] on it changes the
    /// accepted secrets of the running origin.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().expect("origin log").clone()
    }

    pub fn clear(&self) {
        self.log.lock().expect("origin log").clear();
    }
}

/// Binds `addr` and serves in the background on the current tokio runtime.
pub async fn spawn(addr: SocketAddr, cfg: OriginConfig) -> std::io::Result<Origin> {
    let verifier = cfg.verifier()?;
    spawn_with(addr, cfg, verifier).await
}

/// Like [`spawn`], checking requests with `verifier` (e.g. one with an injected clock); the
/// secret settings in `cfg` are not used.
pub async fn spawn_with(
    addr: SocketAddr,
    cfg: OriginConfig,
    verifier: Verifier,
) -> std::io::Result<Origin> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        cfg: Arc::new(cfg),
        verifier: verifier.clone(),
        log: log.clone(),
    };
    // Layers run outermost last-added first: record, then verify, then the handler.
    let app = Router::new()
        .fallback(handle)
        .layer(VerifyLayer::new(verifier.clone()))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Origin {
        addr,
        log,
        verifier,
    })
}

/// Reads the whole request and records it before any check (the e2e suite inspects refused
/// requests too); the handler gets the [`Received`] in the extensions and an empty body.
async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let (body_len, body_sha256, body_complete) = drain(body).await;
    let received = Received {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body_len,
        body_sha256,
        body_complete,
    };
    if state.cfg.record {
        state.log.lock().expect("origin log").push(received.clone());
    }
    parts.extensions.insert(received);
    next.run(Request::from_parts(parts, Body::empty())).await
}

/// Runs only for requests the verifier accepted.
async fn handle(
    State(state): State<AppState>,
    Extension(received): Extension<Received>,
    Extension(how): Extension<Verified>,
) -> Response {
    if state.cfg.test_routes {
        // The first accepted secret stands for "the" secret (the one the gateway sends).
        let secret = state
            .verifier
            .secrets()
            .first()
            .map(|s| String::from_utf8_lossy(s.expose()).into_owned())
            .unwrap_or_default();
        if let Some(resp) = test_route(&received.target, &secret).await {
            return resp;
        }
    }
    echo(&received, state.verifier.header().as_str(), how)
}

/// Reads the whole body, hashing it as it streams; never holds more than one chunk.
async fn drain(body: Body) -> (u64, String, bool) {
    let mut stream = body.into_data_stream();
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut complete = true;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                len += bytes.len() as u64;
                hasher.update(&bytes);
            }
            Err(_) => {
                complete = false;
                break;
            }
        }
    }
    (len, hex::encode(hasher.finalize()), complete)
}

/// Routes the end-to-end suite uses to make the origin misbehave on purpose.
async fn test_route(target: &str, secret: &str) -> Option<Response> {
    let path = target.split('?').next().unwrap_or("");
    // Routes match at the end of the path, so they work under any base path or test marker.
    let route = path.rsplit_once("/__test/").map(|(_, r)| r)?;
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    match route {
        "slow" => {
            let ms = param("ms").and_then(|v| v.parse().ok()).unwrap_or(5_000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Some(text(StatusCode::OK, "slow answer"))
        }
        "drip" => {
            // The head at once, then `n` chunks of "drip\n", one every `ms / n` milliseconds:
            // an answer whose body takes longer than its head.
            let ms: u64 = param("ms").and_then(|v| v.parse().ok()).unwrap_or(2_000);
            let n: u64 = param("n").and_then(|v| v.parse().ok()).unwrap_or(4).max(1);
            let gap = Duration::from_millis(ms / n);
            let chunks = futures_util::stream::iter(0..n).then(move |_| async move {
                tokio::time::sleep(gap).await;
                Ok::<_, std::convert::Infallible>("drip\n")
            });
            Some(
                (
                    StatusCode::OK,
                    [("content-type", "text/plain")],
                    Body::from_stream(chunks),
                )
                    .into_response(),
            )
        }
        "redirect" => Some(
            (
                StatusCode::FOUND,
                [
                    ("location", "http://elsewhere.invalid/landing"),
                    ("x-origin", "redirected"),
                ],
                "",
            )
                .into_response(),
        ),
        "echo-secret" => {
            let mut resp = text(StatusCode::OK, "echoing");
            let h = resp.headers_mut();
            let v = HeaderValue::from_str(secret).expect("secret is a header value");
            h.insert("x-shared-secret", v.clone());
            h.insert(
                "x-debug-auth",
                HeaderValue::from_str(&format!("seen={secret}")).expect("ascii"),
            );
            h.insert("x-harmless", HeaderValue::from_static("kept"));
            h.insert("connection", HeaderValue::from_static("x-hop"));
            h.insert("x-hop", HeaderValue::from_static("hop-by-hop"));
            Some(resp)
        }
        "bytes" => {
            let n: usize = param("n").and_then(|v| v.parse().ok()).unwrap_or(0);
            let body: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            Some(
                (
                    StatusCode::OK,
                    [("content-type", "application/octet-stream")],
                    body,
                )
                    .into_response(),
            )
        }
        "status" => {
            let code = param("code").and_then(|v| v.parse().ok()).unwrap_or(200);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            Some((status, [("x-origin-status", code.to_string())], "status").into_response())
        }
        _ => None,
    }
}

#[derive(Serialize)]
struct Echo<'a> {
    method: &'a str,
    target: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body_len: u64,
    body_sha256: &'a str,
}

/// Echoes the request as JSON. The value of the header that verified the request (the secret
/// or the signature) is replaced by `<verified>`; the other one, if sent, by `<redacted>`.
fn echo(r: &Received, secret_header: &str, how: Verified) -> Response {
    let headers = r
        .headers
        .iter()
        .map(|(n, v)| {
            let shown = match (n.as_str(), how) {
                (n, Verified::Secret) if n == secret_header => "<verified>",
                (SIGNATURE_HEADER, Verified::Signature) => "<verified>",
                (n, _) if n == secret_header || n == SIGNATURE_HEADER => "<redacted>",
                _ => v.as_str(),
            };
            (n.as_str(), shown)
        })
        .collect();
    let body = serde_json::to_string_pretty(&Echo {
        method: &r.method,
        target: &r.target,
        headers,
        body_len: r.body_len,
        body_sha256: &r.body_sha256,
    })
    .expect("echo serialises");
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        HeaderName::from_static("content-type"),
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn text(status: StatusCode, msg: &'static str) -> Response {
    (status, [("content-type", "text/plain")], msg).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_verify::signature_header_value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const OLD: &str = "origin-old-secret-0123456789";
    const NEW: &str = "origin-new-secret-9876543210";

    fn cfg(secret: Option<&str>) -> OriginConfig {
        OriginConfig {
            secret: secret.map(str::to_owned),
            test_routes: true,
            record: true,
            ..OriginConfig::default()
        }
    }

    async fn start(cfg: OriginConfig) -> Origin {
        spawn("127.0.0.1:0".parse().expect("addr"), cfg)
            .await
            .expect("listens")
    }

    /// Sends one request with these extra header lines; returns (status, body).
    async fn send(
        origin: &Origin,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(origin.addr)
            .await
            .expect("connect");
        let mut req =
            format!("{method} {target} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("Content-Length: 3\r\n\r\nabc");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read");
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text[9..12].parse().expect("status");
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn refused_requests_are_recorded_before_the_check() {
        let origin = start(cfg(Some(OLD))).await;
        assert_eq!(
            send(&origin, "POST", "/a?x=1", &[]).await,
            (401, "No secret provided".into())
        );
        assert_eq!(
            send(&origin, "POST", "/b", &[("x-shared-secret", "wrong")]).await,
            (401, "Invalid secret".into())
        );
        let got = origin.received();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].method.as_str(), got[0].target.as_str()),
            ("POST", "/a?x=1")
        );
        assert_eq!(got[0].body_len, 3);
        assert!(got[0].body_complete);
        assert_eq!(got[1].one("x-shared-secret"), Some("wrong"));
    }

    #[tokio::test]
    async fn no_secret_configured_answers_500_to_everything_but_still_records() {
        let origin = start(cfg(None)).await;
        assert_eq!(
            send(&origin, "GET", "/", &[("x-shared-secret", OLD)]).await,
            (500, "Server configuration error".into())
        );
        assert_eq!(origin.received().len(), 1);
    }

    #[tokio::test]
    async fn accepted_request_is_echoed_with_the_secret_redacted() {
        let origin = start(cfg(Some(OLD))).await;
        let (status, body) = send(&origin, "PUT", "/v1/x?y=2", &[("x-shared-secret", OLD)]).await;
        assert_eq!(status, 200);
        assert!(!body.contains(OLD), "{body}");
        let echo: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(echo["method"], "PUT");
        assert_eq!(echo["target"], "/v1/x?y=2");
        assert_eq!(echo["body_len"], 3);
        assert!(echo["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .any(|h| h[0] == "x-shared-secret" && h[1] == "<verified>"));
    }

    #[tokio::test]
    async fn test_routes_still_work_behind_the_verifier() {
        let origin = start(cfg(Some(OLD))).await;
        let (status, body) = send(
            &origin,
            "GET",
            "/m/__test/status?code=418",
            &[("x-shared-secret", OLD)],
        )
        .await;
        assert_eq!((status, body.as_str()), (418, "status"));
        // Without the secret, a test route is refused like anything else.
        let (status, _) = send(&origin, "GET", "/m/__test/status?code=418", &[]).await;
        assert_eq!(status, 401);
    }

    #[tokio::test]
    async fn rotation_in_place_accepts_both_then_only_the_new_secret() {
        let origin = start(OriginConfig {
            secrets: vec![NEW.into()],
            ..cfg(Some(OLD))
        })
        .await;
        for s in [OLD, NEW] {
            assert_eq!(
                send(&origin, "GET", "/", &[("x-shared-secret", s)]).await.0,
                200
            );
        }
        origin.verifier().set_secrets([NEW]);
        assert_eq!(
            send(&origin, "GET", "/", &[("x-shared-secret", OLD)]).await,
            (401, "Invalid secret".into())
        );
        assert_eq!(
            send(&origin, "GET", "/", &[("x-shared-secret", NEW)])
                .await
                .0,
            200
        );
    }

    #[tokio::test]
    async fn required_signature_is_checked_and_echoed_redacted() {
        let origin = start(OriginConfig {
            require_signature: true,
            ..cfg(Some(OLD))
        })
        .await;
        assert_eq!(
            send(&origin, "GET", "/s?q=1", &[("x-shared-secret", OLD)]).await,
            (401, "No signature provided".into())
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let sig =
            signature_header_value(OLD.as_bytes(), now, "GET", "/s?q=1", "acme", "0123456789ab");
        let headers = [
            ("x-keygate-signature", sig.as_str()),
            ("x-consumer-id", "acme"),
            ("x-key-id", "0123456789ab"),
        ];
        let (status, body) = send(&origin, "GET", "/s?q=1", &headers).await;
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains(&sig[16..]), "{body}");
        let forged = [headers[0], ("x-consumer-id", "other"), headers[2]];
        assert_eq!(
            send(&origin, "GET", "/s?q=1", &forged).await,
            (401, "Invalid signature".into())
        );
    }

    #[test]
    fn config_debug_never_shows_a_secret() {
        let shown = format!(
            "{:?}",
            OriginConfig {
                secrets: vec![NEW.into()],
                ..cfg(Some(OLD))
            }
        );
        assert!(!shown.contains(OLD) && !shown.contains(NEW), "{shown}");
    }

    #[test]
    fn an_invalid_header_name_is_a_configuration_error() {
        let bad = OriginConfig {
            header: "bad header".into(),
            ..cfg(Some(OLD))
        };
        assert!(bad.verifier().is_err());
    }
}
