//! `keygate-demo-origin`: the protected API that `make dev` puts behind the gateway.
//!
//! Usage: `keygate-demo-origin [ADDR]` (default 127.0.0.1:8788). The secret comes from the
//! `SHARED_SECRET` environment variable, the header name from `SHARED_SECRET_HEADER`.

use keygate_origin::{spawn, OriginConfig};

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8788".into());
    let Ok(addr) = addr.parse() else {
        eprintln!("keygate-demo-origin: '{addr}' is not an IP:PORT address");
        std::process::exit(2);
    };
    let secret = std::env::var("SHARED_SECRET")
        .ok()
        .filter(|s| !s.is_empty());
    if secret.is_none() {
        eprintln!("keygate-demo-origin: SHARED_SECRET is unset; every request will get 500");
    }
    let header = std::env::var("SHARED_SECRET_HEADER")
        .unwrap_or_else(|_| "x-shared-secret".into())
        .to_ascii_lowercase();
    let cfg = OriginConfig {
        secret,
        header,
        test_routes: false,
        record: false,
    };
    match spawn(addr, cfg).await {
        Ok(origin) => eprintln!("keygate-demo-origin: listening on http://{}", origin.addr),
        Err(e) => {
            eprintln!("keygate-demo-origin: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
