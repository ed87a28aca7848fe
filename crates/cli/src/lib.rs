//! The `keygate` CLI: one module per command ([`commands`]) over a [`backend::Backend`]: core's
//! key lifecycle (`keygate_core::lifecycle`) against Workers KV through wrangler ([`wrangler`]),
//! or the gateway's management API in API mode ([`api`]). `main.rs` only parses arguments,
//! picks the backend ([`api::mode`]) and turns errors into exit codes ([`error`]).

pub mod admin;
mod ansi;
pub mod api;
pub mod backend;
pub mod commands;
pub mod error;
pub mod http;
pub mod redact;
pub mod stats;
pub mod wrangler;
