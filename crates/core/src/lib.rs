//! keygate-core: the gateway's logic with no Workers types, so native `cargo test` covers it.
//!
//! Layers, bottom to top; a module imports only from layers below it (and its own):
//! 1. Tables and values: [`secret`], [`keyformat`], [`scope`], [`limits`], [`signing`],
//!    [`integrity`], [`headers`], [`heads`], [`credential`], [`record`], [`telemetry`].
//! 2. Configuration: [`config`], then [`path`] (the origin URL join).
//! 3. Stores: [`store`] (the traits the pipeline reads), [`kv`] (a store with KV's semantics, and
//!    its in-memory fake), [`coalesce`] (one load shared by concurrent requests), [`cache`] (the per-isolate key cache over a [`store::KeyStore`]), and
//!    [`lifecycle`] (create, rotate, import, update, list and revoke keys over a [`kv::KvStore`]:
//!    the CLI's operations, and the management API's), then [`root`] (root keys: the management
//!    API's credentials, their permissions and the tenant guard), then the management API's stores:
//!    [`audit`] (the audit trail), [`idempotency`] (idempotent create's claims and rules) and
//!    [`management_log`] (both over the `ManagementLog` Durable Object: its wire protocol).
//! 4. The request pipeline: [`admin`] (the operator endpoint), [`management`] (the management
//!    API's routes and the permission each needs), [`forward`] (the upstream request filter),
//!    [`pipeline`] (the phases in order), then [`problem`] (denials and faults as HTTP).
//! 5. The management API's request handling: [`management_api`] (issue 15), on top, since its
//!    verify endpoint runs the pipeline's own checks.
//!
//! Phases, in Pingora's terms, in the order [`pipeline`] runs them:
//! 1. Request filter ([`pipeline::authorize`]): the method and the other request-integrity checks
//!    of [`integrity`]; keys in the URL; the upstream peer ([`path::join`], whose normalised path
//!    also routes the operator endpoint, [`admin::route`]); the credential; method overrides;
//!    preflights; the key lookup ([`cache`]) and the decision, scopes included.
//! 2. Upstream request filter ([`forward::upstream_headers`]), for an accepted request, still
//!    inside `authorize`.
//! 3. Limits ([`pipeline::enforce_limits`]): the tier's rate limit, then the quota.
//! 4. Response filter ([`forward::sanitise_response_headers`]).
//! 5. Logging ([`telemetry`]).
//!
//! Refusals become HTTP answers in one place, [`problem::Refusal::problem`].

// 1. Tables and values.
pub mod credential;
pub mod headers;
pub mod heads;
pub mod integrity;
pub mod keyformat;
pub mod limits;
pub mod record;
pub mod scope;
pub mod sealed;
pub mod secret;
pub mod signing;
pub mod telemetry;
// 2. Configuration.
pub mod config;
pub mod path;
// 3. Stores, and the key lifecycle over a KV store.
pub mod cache;
pub mod changes;
pub mod coalesce;
pub mod kv;
pub mod lifecycle;
pub mod root;
pub mod store;
// The management API's stores: its audit trail, idempotency claims, and the log that keeps both.
pub mod audit;
pub mod idempotency;
pub mod management_log;
// 4. The request pipeline.
pub mod admin;
pub mod forward;
pub mod management;
pub mod pipeline;
pub mod problem;
// 5. The management API's request handling, over everything below.
pub mod management_api;

pub use cache::{Cached, KeyLookup};
pub use config::{Config, ConfigError};
pub use pipeline::{
    authorize, decide, enforce_limits, Accepted, Denial, Fault, RequestHead, Verdict,
};
pub use problem::{Problem, Refusal};
pub use record::{InvalidKey, KeyRecord};
pub use secret::{ApiKey, KeyHash, SharedSecret};
pub use store::{KeyStore, LimitError, QuotaStore, RateLimiter, StoreError};

/// The native tests' fixtures (`tests/common`), also for the unit tests here: one way to build a
/// test configuration, one in-memory key store. They name the crate `keygate_core`.
#[cfg(test)]
extern crate self as keygate_core;
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
pub(crate) mod common;
