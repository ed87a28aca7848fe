//! The `keygate` subcommands, one module each: its clap arguments, its `run`, its printing
//! (text and `--json`) and its tests. Commands reach keys only through the [`Backend`] they are
//! given (core's lifecycle over wrangler's KV, or the management API in API mode), and write
//! results to [`Io::out`] (stdout) and messages to [`Io::err`] (stderr).

pub mod audit;
pub mod create;
pub mod disable;
pub mod enable;
pub mod hash;
pub mod import;
mod key_opts;
pub mod list;
pub mod revoke;
pub mod root;
pub mod rotate;
pub mod set_quota;
pub mod set_tier;
pub mod show;
pub mod stats;
#[cfg(test)]
pub(crate) mod testing;
pub mod usage;

use crate::api::mode::Kind;
use crate::backend::Backend;
use crate::error::CliError;
use crate::wrangler::Target;
use clap::Subcommand;
use keygate_core::lifecycle::KeyRef;
use std::fmt::Display;
use std::io::{Read, Write};

#[derive(Subcommand)]
pub enum Cmd {
    /// Create a key. Prints the key alone on stdout, once; it cannot be shown again.
    Create(create::Args),
    /// List keys: id, name, consumer, tier, created, expires, state. Never keys or hashes.
    List(list::Args),
    /// Show one key's record, by id or by the key itself ('-' reads the key from stdin).
    Show(show::Args),
    /// Refuse a key until it is enabled again. Nothing is deleted.
    Disable(disable::Args),
    /// Accept a disabled key again.
    Enable(enable::Args),
    /// Issue a new key with the same consumer, scopes, metadata, tier and quota; the old key
    /// expires after the overlap. Prints the new key alone on stdout.
    Rotate(rotate::Args),
    /// Import existing plaintext keys from stdin, one a line. Only their hashes are stored.
    Import(import::Args),
    /// Delete a key, by id or by the key itself ('-' reads the key from stdin).
    Revoke(revoke::Args),
    /// Set a key's rate-limit tier, or return it to the gateway's DEFAULT_TIER with --clear.
    SetTier(set_tier::Args),
    /// Set a key's quota (LIMIT/PERIOD: 10000/month, 500/day, 100/hour, 20/30s), or remove it
    /// with 'none'.
    SetQuota(set_quota::Args),
    /// Show a key's tier and its quota usage in the current window: in API mode from the
    /// management API, else from the gateway's admin endpoint (token: $KEYGATE_ADMIN_TOKEN, or
    /// ADMIN_TOKEN in ./.dev.vars when local).
    Usage(usage::Args),
    /// Requests per key over a recent window: accepted, refused, faults, refusals by code, and
    /// latency. Reads the local gateway's log (`make dev`), or Analytics Engine with --remote
    /// ($CLOUDFLARE_ACCOUNT_ID, $CLOUDFLARE_API_TOKEN with Account Analytics Read).
    Stats(stats::Args),
    /// Print the KV key name (hex SHA-256) of a key ('-' reads the key from stdin).
    Hash(hash::Args),
    /// Root keys, the management API's credentials: create (the key is printed once), list and
    /// revoke. Without API mode they are written to KV directly (bootstrap).
    #[command(subcommand)]
    Root(root::Cmd),
    /// The management API's audit trail: who changed which key when (API mode only; a root
    /// key with audit:read).
    Audit(audit::Args),
}

impl Cmd {
    /// What kind of command this is, for the choice between the management API and wrangler.
    pub fn kind(&self) -> Kind {
        match self {
            Cmd::Stats(_) | Cmd::Hash(_) => Kind::Neither,
            Cmd::Usage(_) => Kind::Usage,
            Cmd::Root(_) | Cmd::Audit(_) => Kind::Management,
            _ => Kind::Keys,
        }
    }
}

/// Runs one command against `b`.
pub fn run(cmd: Cmd, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    match cmd {
        Cmd::Create(a) => create::run(a, b, ctx),
        Cmd::List(a) => list::run(a, b, ctx),
        Cmd::Show(a) => show::run(a, b, ctx),
        Cmd::Disable(a) => disable::run(a, b, ctx),
        Cmd::Enable(a) => enable::run(a, b, ctx),
        Cmd::Rotate(a) => rotate::run(a, b, ctx),
        Cmd::Import(a) => import::run(a, b, ctx),
        Cmd::Revoke(a) => revoke::run(a, b, ctx),
        Cmd::SetTier(a) => set_tier::run(a, b, ctx),
        Cmd::SetQuota(a) => set_quota::run(a, b, ctx),
        Cmd::Usage(a) => usage::run(a, b, ctx),
        Cmd::Stats(a) => stats::run(a, ctx),
        Cmd::Hash(a) => hash::run(a, ctx),
        Cmd::Root(c) => root::run(c, b, ctx),
        Cmd::Audit(a) => audit::run(a, b, ctx),
    }
}

/// What every command runs with: the time, the namespace targeted, the gateway URL given, and
/// its streams.
pub struct Ctx<'a> {
    /// Now, Unix seconds.
    pub now: u64,
    pub target: &'a Target,
    /// `--url`, if given (`usage` on the wrangler path reads its admin endpoint there).
    pub url: Option<&'a str>,
    pub io: Io<'a>,
}

/// A command's streams: results to `out`, messages to `err`, keys from `input`.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub input: &'a mut dyn Read,
}

impl Io<'_> {
    /// Writes a result to stdout.
    pub fn print(&mut self, text: &str) -> Result<(), CliError> {
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| CliError::Failed(format!("could not write the output: {e}")))
    }

    /// Writes `keygate: {msg}` to stderr. A message that cannot be written is dropped.
    pub fn note(&mut self, msg: impl Display) {
        let _ = writeln!(self.err, "keygate: {msg}");
    }

    /// Reads stdin, at most `limit` bytes; `what` names it in the error.
    pub fn read_input(&mut self, limit: u64, what: &str) -> Result<String, CliError> {
        let mut s = String::new();
        self.input
            .take(limit)
            .read_to_string(&mut s)
            .map_err(|e| CliError::Failed(format!("could not read {what} from stdin: {e}")))?;
        Ok(s)
    }

    /// A key argument as given; `-` takes one line from stdin so the key stays out of shell
    /// history.
    pub fn key_arg(&mut self, arg: &str) -> Result<String, CliError> {
        if arg != "-" {
            return Ok(arg.to_owned());
        }
        let s = self.read_input(64 * 1024, "the key")?;
        Ok(s.lines().next().unwrap_or("").trim().to_owned())
    }

    /// A key argument as a [`KeyRef`]: an id, or the key itself.
    pub fn key_ref(&mut self, arg: &str) -> Result<KeyRef, CliError> {
        Ok(KeyRef::parse(&self.key_arg(arg)?)?)
    }
}

/// Pretty JSON on stdout, with a final newline.
pub fn print_json(io: &mut Io, v: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::Failed(e.to_string()))?;
    io.print(&format!("{text}\n"))
}

/// Formats Unix seconds as RFC 3339 UTC.
pub fn rfc3339(secs: u64) -> String {
    use time::format_description::well_known::Rfc3339;
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// A key's tier for people; `None` is the gateway's default.
pub fn tier_text(tier: Option<&str>) -> String {
    tier.map_or_else(
        || "default (the gateway's DEFAULT_TIER)".to_owned(),
        str::to_owned,
    )
}

/// Runs a lifecycle future to completion: the wrangler backend blocks inside, so nothing waits.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}
