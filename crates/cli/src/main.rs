//! `keygate`: parses the command line, picks the storage backend (wrangler), runs the command
//! and exits with its code (see `keygate_cli::error`). Results go to stdout, messages to stderr.

use clap::{Args, Parser};
use keygate_cli::commands::{self, Cmd, Ctx, Io};
use keygate_cli::wrangler::{Target, Wrangler};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "keygate",
    version,
    about = "Manage keygate API keys in Workers KV (through wrangler): create, rotate and revoke \
             keys, set their rate-limit tier and quota, read quota usage from the gateway, and \
             summarise traffic per key."
)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
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
    /// KV binding name.
    #[arg(long, global = true, default_value = "API_KEYS", value_name = "NAME")]
    binding: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let t = cli.target;
    let target = Target {
        remote: t.remote,
        persist_to: t.persist_to,
        env: t.env,
        config: t.config,
        binding: t.binding,
    };
    let kv = Wrangler::locate(target.clone());
    let (mut out, mut err, mut input) = (std::io::stdout(), std::io::stderr(), std::io::stdin());
    let mut ctx = Ctx {
        now: now(),
        target: &target,
        io: Io {
            out: &mut out,
            err: &mut err,
            input: &mut input,
        },
    };
    match commands::run(cli.command, &kv, &mut ctx) {
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
        assert!(matches!(
            cli.command,
            Cmd::Usage(commands::usage::Args { url: Some(u), json: true, .. }) if u == "https://gw"
        ));
    }
}
