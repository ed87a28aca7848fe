//! `keygate`: parses the command line, picks the backend (wrangler, or the management API in
//! API mode: `keygate_cli::api::mode`), runs the command and exits with its code (see
//! `keygate_cli::error`). Results go to stdout, messages to stderr.

use clap::{Args, Parser};
use keygate_cli::api::mode::{self, Inputs, Mode, ROOT_KEY_ENV, URL_ENV};
use keygate_cli::api::ApiBackend;
use keygate_cli::commands::{self, Cmd, Ctx, Io};
use keygate_cli::wrangler::{Target, Wrangler};
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::process::ExitCode;

/// The KV binding used when `--binding` is not given.
const DEFAULT_BINDING: &str = "API_KEYS";
/// The largest root key file read.
const MAX_ROOT_KEY_FILE: u64 = 8 * 1024;

#[derive(Parser)]
#[command(
    name = "keygate",
    version,
    about = "Manage keygate API keys: create, rotate and revoke keys, set their rate-limit tier \
             and quota, read quota usage, and summarise traffic per key. Keys live in Workers KV, \
             reached through wrangler, or, in API mode (KEYGATE_URL with KEYGATE_ROOT_KEY, or \
             --url), through the gateway's management API with a root key."
)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args)]
struct TargetArgs {
    /// Use the local gateway (the default): the KV store of `wrangler dev`, and for `stats` the
    /// log `make dev` writes.
    #[arg(long, global = true, conflicts_with = "remote")]
    local: bool,
    /// Use the deployed gateway: its KV namespace, and for `stats` its Analytics Engine dataset.
    #[arg(long, global = true)]
    remote: bool,
    /// Local state directory, passed to wrangler (must match `wrangler dev --persist-to`).
    #[arg(long, global = true, value_name = "DIR")]
    persist_to: Option<PathBuf>,
    /// Wrangler environment.
    #[arg(long, global = true, value_name = "ENV")]
    env: Option<String>,
    /// Wrangler configuration file (default: ./wrangler.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// KV binding name (default: API_KEYS).
    #[arg(long, global = true, value_name = "NAME")]
    binding: Option<String>,
}

/// API mode: the key, root and audit commands through the gateway's management API.
#[derive(Args)]
struct ApiArgs {
    /// The gateway's base URL (default: $KEYGATE_URL). With a root key ($KEYGATE_ROOT_KEY or
    /// --root-key-file) the commands go through its management API; for `usage` without a root
    /// key it names the admin endpoint (default there: http://127.0.0.1:8787 when local).
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// Read the root key for API mode from this file ('-': the first line of stdin, the rest is
    /// left for the command). Default: $KEYGATE_ROOT_KEY. Never pass a root key as a flag value.
    #[arg(long, global = true, value_name = "PATH|-")]
    root_key_file: Option<String>,
}

/// Reads `--root-key-file`: a file, or `-` for the first line of stdin.
fn read_root_key_file(path: &str) -> Result<String, String> {
    let mut s = String::new();
    if path == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_ROOT_KEY_FILE)
            .read_line(&mut s)
            .map_err(|e| format!("could not read the root key from stdin: {e}"))?;
        return Ok(s);
    }
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_ROOT_KEY_FILE).read_to_string(&mut s))
        .map_err(|e| format!("could not read the root key file {path}: {e}"))?;
    Ok(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (t, api) = (cli.target, cli.api);
    let given = [
        (t.local, "--local"),
        (t.remote, "--remote"),
        (t.env.is_some(), "--env"),
        (t.persist_to.is_some(), "--persist-to"),
        (t.config.is_some(), "--config"),
        (t.binding.is_some(), "--binding"),
    ];
    let (env_url, env_root_key) = (
        std::env::var(URL_ENV).ok(),
        std::env::var(ROOT_KEY_ENV).ok(),
    );
    let inputs = Inputs {
        url_flag: api.url.as_deref(),
        root_key_file: api.root_key_file.as_deref(),
        env_url: env_url.as_deref(),
        env_root_key: env_root_key.as_deref(),
        wrangler_flags: given
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| *f)
            .collect(),
    };
    let mode = mode::choose(cli.command.kind(), &inputs, read_root_key_file);
    let target = Target {
        remote: t.remote,
        persist_to: t.persist_to,
        env: t.env,
        config: t.config,
        binding: t.binding.unwrap_or_else(|| DEFAULT_BINDING.to_owned()),
    };
    let (mut out, mut err, mut input) = (std::io::stdout(), std::io::stderr(), std::io::stdin());
    let mut ctx = Ctx {
        now: now(),
        target: &target,
        url: api.url.as_deref(),
        io: Io {
            out: &mut out,
            err: &mut err,
            input: &mut input,
        },
    };
    let result = mode.and_then(|m| match m {
        Mode::Wrangler { note } => {
            if let Some(n) = note {
                ctx.io.note(n);
            }
            let kv = Wrangler::locate(target.clone());
            commands::run(cli.command, &kv, &mut ctx)
        }
        Mode::Api { base, root_key } => {
            commands::run(cli.command, &ApiBackend::new(base, root_key), &mut ctx)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ctx.io.note(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("keygate").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn stats_defaults_to_the_last_24h_and_takes_its_flags_and_the_global_ones() {
        let cli = parse(&["stats"]).unwrap();
        assert!(matches!(
            cli.command,
            Cmd::Stats(commands::stats::Args { since, consumer: None, json: false, log_file: None, dataset: None })
                if since == "24h"
        ));
        let cli = parse(&[
            "stats",
            "--remote",
            "--env",
            "staging",
            "--since",
            "7d",
            "--consumer",
            "acme",
            "--json",
            "--dataset",
            "ds",
        ])
        .unwrap();
        assert!(cli.target.remote);
        assert_eq!(cli.target.env.as_deref(), Some("staging"));
        assert!(matches!(
            cli.command,
            Cmd::Stats(commands::stats::Args { since, consumer: Some(c), json: true, dataset: Some(d), .. })
                if since == "7d" && c == "acme" && d == "ds"
        ));
        assert!(parse(&["stats", "--local", "--log-file", "/tmp/x.log"]).is_ok());
    }

    #[test]
    fn usage_takes_url_and_json_and_the_global_remote_flag() {
        let cli = parse(&[
            "usage",
            "0123456789ab",
            "--url",
            "https://gw",
            "--json",
            "--remote",
        ])
        .unwrap();
        assert!(cli.target.remote);
        assert_eq!(cli.api.url.as_deref(), Some("https://gw"));
        assert!(matches!(
            cli.command,
            Cmd::Usage(commands::usage::Args { json: true, .. })
        ));
    }

    #[test]
    fn url_and_root_key_file_are_global_and_the_binding_is_only_set_when_given() {
        let cli = parse(&["list", "--url", "https://gw", "--root-key-file", "-"]).unwrap();
        assert_eq!(cli.api.url.as_deref(), Some("https://gw"));
        assert_eq!(cli.api.root_key_file.as_deref(), Some("-"));
        assert_eq!(cli.target.binding, None);
        let cli = parse(&["--binding", "KEYS", "show", "0123456789ab"]).unwrap();
        assert_eq!(cli.target.binding.as_deref(), Some("KEYS"));
        assert!(matches!(cli.command.kind(), mode::Kind::Keys));
    }

    #[test]
    fn root_and_audit_parse_their_flags() {
        let cli = parse(&[
            "root",
            "create",
            "--name",
            "ci",
            "--permissions",
            "keys:read,usage:read",
            "--consumer-prefix",
            "acme-",
        ])
        .unwrap();
        assert!(matches!(cli.command.kind(), mode::Kind::Management));
        assert!(parse(&["root", "list", "--json"]).is_ok());
        assert!(parse(&["root", "revoke", "0123456789ab"]).is_ok());
        assert!(parse(&["root", "create", "--name", "x"]).is_err());
        assert!(parse(&["audit", "--limit", "10", "--cursor", "c", "--all", "--json"]).is_ok());
        // No flag takes the root key itself.
        assert!(parse(&["list", "--root-key", "kgr_x"]).is_err());
    }
}
