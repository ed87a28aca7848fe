//! Origin-side check that a request came through the keygate gateway: the static shared secret
//! (several accepted at once, for rotation) or the v1 `X-Keygate-Signature`, as a tower
//! [`Layer`](tower_layer::Layer) for axum and hyper, or called directly.
//!
//! # The decision
//!
//! | request | answer |
//! |---|---|
//! | no secret configured | 500 `Server configuration error` |
//! | `X-Keygate-Signature` present: valid, in the window | accepted (the static header is not needed) |
//! | `X-Keygate-Signature` invalid, malformed, outside the window, or it, `X-Consumer-Id` or `X-Key-Id` repeated | 401 `Invalid signature` |
//! | no signature, `require_signature` on | 401 `No signature provided` |
//! | no secret header | 401 `No secret provided` |
//! | secret header matching no accepted secret, or repeated | 401 `Invalid secret` |
//!
//! Bodies are `text/plain` and never contain anything from the request. Secrets are compared in
//! constant time against every accepted secret; so are signatures.
//!
//! # The v1 signature
//!
//! `X-Keygate-Signature: t=<unix seconds>,v1=<64 lowercase hex>`, where v1 is
//! HMAC-SHA256(shared secret, [`canonical_string`]): `keygate-v1`, t, the method, the request
//! target (path and query as on the request line), `X-Consumer-Id` and `X-Key-Id` (empty when
//! absent), joined with `\n`. It is accepted when `|now − t|` is at most the window (300 s by
//! default). It does not cover the body, and a replay inside the window is not detected.
//!
//! # With axum
//!
//! ```
//! use axum::{routing::get, Router};
//! use keygate_verify::{Verified, Verifier, VerifyLayer};
//!
//! // Both secrets are accepted while the gateway moves from the old one to the new one.
//! let verifier = Verifier::builder()
//!     .secrets(["old-secret-from-the-environment", "new-secret-from-the-environment"])
//!     .build();
//! let app: Router = Router::new()
//!     .route("/hello", get(|how: axum::Extension<Verified>| async move {
//!         format!("verified by {:?}", how.0)
//!     }))
//!     .layer(VerifyLayer::new(verifier.clone()));
//! // Later, once the gateway sends only the new secret:
//! verifier.set_secrets(["new-secret-from-the-environment"]);
//! # let _ = app;
//! ```
//!
//! Put the layer on the outermost router: `Router::nest` strips its prefix from the URI, and
//! the signature covers the target as the gateway sent it.

mod layer;
mod signature;
mod verifier;

pub use layer::{ResponseFuture, VerifyLayer, VerifyService};
pub use signature::{
    canonical_string, signature_header_value, SIGNATURE_HEADER, SIGNATURE_VERSION,
};
pub use verifier::{
    Clock, Refusal, Secret, Verified, Verifier, VerifierBuilder, CONSUMER_ID_HEADER,
    DEFAULT_SECRET_HEADER, DEFAULT_WINDOW_SECS, KEY_ID_HEADER,
};
