//! A real HTTP origin for the demo and the end-to-end tests: it checks the shared secret in
//! constant time, records every request it receives, and echoes what it saw (secret redacted).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

/// How the origin behaves.
#[derive(Clone, Debug)]
pub struct OriginConfig {
    /// The secret it requires; `None` answers every request with 500, like a misconfigured origin.
    pub secret: Option<String>,
    /// Header carrying the secret (lower case).
    pub header: String,
    /// Enables the `/__test/…` routes used by the end-to-end suite.
    pub test_routes: bool,
    /// Keeps every request for [`Origin::received`] (tests); off for the demo and bench origin.
    pub record: bool,
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
    log: Arc<Mutex<Vec<Received>>>,
}

/// A running origin.
pub struct Origin {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Origin {
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
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        cfg: Arc::new(cfg),
        log: log.clone(),
    };
    let app = Router::new().fallback(handle).with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Origin { addr, log })
}

async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
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

    let cfg = &state.cfg;
    let Some(secret) = cfg.secret.as_deref() else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server configuration error",
        );
    };
    match parts.headers.get(cfg.header.as_str()) {
        None => return text(StatusCode::UNAUTHORIZED, "No secret provided"),
        Some(v) if !bool::from(v.as_bytes().ct_eq(secret.as_bytes())) => {
            return text(StatusCode::UNAUTHORIZED, "Invalid secret")
        }
        Some(_) => {}
    }

    if cfg.test_routes {
        if let Some(resp) = test_route(&target, secret).await {
            return resp;
        }
    }
    echo(&received, &cfg.header)
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

/// Echoes the request as JSON, with the secret header's value replaced by `<verified>`.
fn echo(r: &Received, secret_header: &str) -> Response {
    let headers = r
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str(),
                if n == secret_header {
                    "<verified>"
                } else {
                    v.as_str()
                },
            )
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
