//! `keygate-demo-origin`: the protected API that `make dev` puts behind the gateway.
//!
//! Usage: `keygate-demo-origin [ADDR]` (default 127.0.0.1:8788). Environment:
//!
//! - `SHARED_SECRETS`: the accepted secrets, comma-separated (old and new during a rotation);
//!   when unset or empty, `SHARED_SECRET` is the one accepted secret;
//! - `SHARED_SECRET_HEADER`: the secret's header (default `X-Shared-Secret`);
//! - `REQUIRE_SIGNATURE`: `true` refuses requests without a valid `X-Keygate-Signature`;
//! - `SIGNATURE_WINDOW_SECS`: the signature clock window (default 300).

use keygate_origin::{spawn, OriginConfig};

/// Exits with a usage error (2).
fn fail(msg: &str) -> ! {
    eprintln!("keygate-demo-origin: {msg}");
    std::process::exit(2);
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8788".into());
    let Ok(addr) = addr.parse() else {
        fail(&format!("'{addr}' is not an IP:PORT address"));
    };
    let secrets: Vec<String> = match var("SHARED_SECRETS") {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => var("SHARED_SECRET").into_iter().collect(),
    };
    if secrets.is_empty() {
        eprintln!(
            "keygate-demo-origin: SHARED_SECRETS and SHARED_SECRET are unset; every request will get 500"
        );
    }
    let header = var("SHARED_SECRET_HEADER")
        .unwrap_or_else(|| keygate_verify::DEFAULT_SECRET_HEADER.into())
        .to_ascii_lowercase();
    let require_signature = match var("REQUIRE_SIGNATURE").as_deref().map(str::trim) {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => fail("REQUIRE_SIGNATURE must be true or false"),
    };
    let signature_window_secs = match var("SIGNATURE_WINDOW_SECS") {
        None => keygate_verify::DEFAULT_WINDOW_SECS,
        Some(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| fail("SIGNATURE_WINDOW_SECS must be a whole number of seconds")),
    };
    let cfg = OriginConfig {
        secret: None,
        header,
        test_routes: false,
        record: false,
        secrets,
        require_signature,
        signature_window_secs,
    };
    let accepted = cfg.secrets.len();
    match spawn(addr, cfg).await {
        Ok(origin) => eprintln!(
            "keygate-demo-origin: listening on http://{} ({accepted} accepted secret(s), signature {})",
            origin.addr,
            if require_signature {
                "required"
            } else {
                "checked when sent"
            }
        ),
        Err(e) => {
            eprintln!("keygate-demo-origin: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
