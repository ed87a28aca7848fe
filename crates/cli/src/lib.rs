//! The `keygate` CLI: one module per command ([`commands`]) over core's key lifecycle
//! (`keygate_core::lifecycle`), run against Workers KV through wrangler ([`wrangler`]).
//! `main.rs` only parses arguments, picks the backend and turns errors into exit codes
//! ([`error`]).

pub mod admin;
mod ansi;
pub mod commands;
pub mod error;
pub mod http;
pub mod redact;
pub mod stats;
pub mod wrangler;
