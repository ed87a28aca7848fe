//! `keygate stats`: the per-key summary of requests, from the local gateway's log or, with
//! `--remote`, from Analytics Engine; printed as a table (with a closing message on stderr) or
//! JSON. The summary itself is built and rendered by [`crate::stats`].

use super::Ctx;
use crate::error::CliError;
use crate::stats::{self, local, remote, Query, Source};
use keygate_core::lifecycle::rules::check_consumer_id;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Only requests of this consumer.
    #[arg(long, value_name = "ID")]
    pub consumer: Option<String>,
    /// The window: requests newer than this (15m, 24h, 7d).
    #[arg(long, value_name = "DURATION", default_value = stats::DEFAULT_SINCE)]
    pub since: String,
    /// Print JSON: the same rows and total, with every decision code.
    #[arg(long)]
    pub json: bool,
    /// The gateway log to read when local (default: target/dev/gateway.log, which
    /// `make dev` appends to).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// The Analytics Engine dataset when remote (default: the ANALYTICS binding's dataset in
    /// the wrangler config, for --env).
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
}

pub fn run(args: Args, ctx: &mut Ctx) -> Result<(), CliError> {
    if let Some(c) = &args.consumer {
        check_consumer_id(c)?;
    }
    let query = Query {
        since_secs: stats::parse_since(&args.since).map_err(|e| CliError::usage("--since", e))?,
        since_label: args.since.trim().to_owned(),
        consumer: args.consumer,
    };
    let (summary, source) = if ctx.target.remote {
        if args.log_file.is_some() {
            return Err(CliError::usage(
                "--log-file",
                "--log-file names the local log; it cannot be used with --remote",
            ));
        }
        let creds =
            remote::credentials(|name| std::env::var(name).ok()).map_err(CliError::Failed)?;
        // `remote::fetch` checks the name before any call, wherever it came from.
        let dataset = match args.dataset {
            Some(d) => d,
            None => dataset_from_config(ctx)?,
        };
        let summary = remote::fetch(&creds, &dataset, &query).map_err(CliError::Failed)?;
        (summary, Source::Remote(dataset))
    } else {
        if args.dataset.is_some() {
            return Err(CliError::usage(
                "--dataset",
                "--dataset names an Analytics Engine dataset; use it with --remote",
            ));
        }
        let path = args
            .log_file
            .unwrap_or_else(|| PathBuf::from(local::DEFAULT_LOG_FILE));
        let (summary, malformed) =
            local::read(&path, &query, now_nanos()).map_err(CliError::Failed)?;
        if malformed > 0 {
            ctx.io.note(format_args!(
                "skipped {malformed} {} line(s) without the expected fields",
                keygate_core::telemetry::LOG_EVENT
            ));
        }
        (summary, Source::Local(path.display().to_string()))
    };
    if args.json {
        return ctx.io.print(&format!(
            "{}\n",
            stats::render_json(&summary, &query, &source)
        ));
    }
    ctx.io.print(&stats::render_table(&summary))?;
    ctx.io.note(format_args!(
        "{} request(s){} in the last {} from {}{}.",
        summary.total.requests,
        query
            .consumer
            .as_ref()
            .map(|c| format!(" of consumer {c}"))
            .unwrap_or_default(),
        query.since_label,
        source.describe(),
        match source {
            Source::Remote(_) => "; counts and latencies weighted by each row's _sample_interval",
            Source::Local(_) => "",
        }
    ));
    Ok(())
}

/// The dataset of the ANALYTICS binding in the wrangler config (`--config`, else ./wrangler.toml).
fn dataset_from_config(ctx: &Ctx) -> Result<String, CliError> {
    let config = ctx
        .target
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(remote::DEFAULT_CONFIG));
    let text = std::fs::read_to_string(&config).map_err(|e| {
        CliError::Failed(format!(
            "could not read {} for the Analytics Engine dataset ({e}); pass --config FILE or \
             --dataset NAME",
            config.display()
        ))
    })?;
    remote::dataset_from_config(&text, ctx.target.env.as_deref(), &config).map_err(CliError::Failed)
}

/// Now, in Unix nanoseconds.
fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::with_ctx;

    fn args(since: &str) -> Args {
        Args {
            consumer: None,
            since: since.into(),
            json: false,
            log_file: Some("/nonexistent/keygate.log".into()),
            dataset: None,
        }
    }

    #[test]
    fn a_bad_window_or_a_dataset_without_remote_is_a_usage_error_before_any_read() {
        let (_, r) = with_ctx("", |ctx| run(args("soon"), ctx));
        assert!(matches!(
            r.unwrap_err(),
            CliError::Usage {
                flag: "--since",
                ..
            }
        ));
        let with_dataset = Args {
            dataset: Some("ds".into()),
            ..args("1h")
        };
        let (_, r) = with_ctx("", |ctx| run(with_dataset, ctx));
        assert!(matches!(
            r.unwrap_err(),
            CliError::Usage {
                flag: "--dataset",
                ..
            }
        ));
    }

    #[test]
    fn a_missing_log_is_a_failure_that_says_to_run_make_dev() {
        let (_, r) = with_ctx("", |ctx| run(args("1h"), ctx));
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("make dev"), "{e}");
    }
}
