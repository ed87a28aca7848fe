//! keygate-core: the gateway's logic with no Workers types, so native `cargo test` covers it.
//!
//! Phases, in Pingora's terms, as the code runs them: request filter ([`gateway::authorize`]:
//! the method and the other request-integrity checks of [`integrity`], keys in the URL, the
//! upstream peer ([`path::join`], whose normalised path also routes the operator endpoint), the
//! credential, method overrides, preflights, the key lookup and the decision, then the upstream
//! request filter ([`forward::upstream_headers`]) for an accepted request) → limits
//! ([`gateway::enforce_limits`]: rate limit, quota) → response filter
//! ([`forward::sanitise_response_headers`]).
//! Refusals become HTTP answers in one place, [`problem::Refusal::problem`].

pub mod admin;
pub mod cache;
pub mod config;
pub mod credential;
pub mod forward;
pub mod gateway;
pub mod integrity;
pub mod keyformat;
pub mod kv;
pub mod lifecycle;
pub mod limits;
pub mod path;
pub mod problem;
pub mod record;
pub mod scope;
pub mod secret;
pub mod signing;
pub mod telemetry;

pub use config::{Config, ConfigError};
pub use gateway::{
    authorize, decide, enforce_limits, Accepted, Cached, Denial, Fault, InvalidKey, KeyLookup,
    KeyStore, LimitError, QuotaStore, RateLimiter, RequestHead, StoreError, Verdict,
};
pub use problem::{Problem, Refusal};
pub use record::KeyRecord;
pub use secret::{ApiKey, KeyHash, SharedSecret};
