//! `keygate`: argument parsing and output for the key-management commands in `keygate_cli`.
//! The plaintext key goes to stdout once, from `create`; every message goes to stderr.

use clap::{Args, Parser, Subcommand};
use keygate_cli::admin::AdminApi;
use keygate_cli::stats::{self, local, remote, Query, Source};
use keygate_cli::store::{Target, Wrangler};
use keygate_cli::{
    check_consumer_id, check_tier, create, import, list, parse_expiry, parse_meta, parse_quota,
    parse_quota_scope, parse_scopes, quota_text, revoke, rfc3339, rotate, set_disabled, set_quota,
    set_tier, show, state_name, usage, CreateOpts, KeyRef,
};
use keygate_core::ApiKey;
use std::io::Read;
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

/// Options shared by `create` and `import`.
#[derive(Args)]
struct KeyOpts {
    /// A label for the key (need not be unique).
    #[arg(long)]
    name: String,
    /// The consumer the key belongs to (A-Z a-z 0-9 . _ : @ -).
    #[arg(long, value_name = "ID", default_value = "default")]
    consumer: String,
    /// A display name for the consumer, sent to the origin as X-Consumer-Name.
    #[arg(long, value_name = "NAME")]
    consumer_name: Option<String>,
    /// Expiry: an RFC 3339 time (2027-01-31T00:00:00Z) or a duration from now (30d, 12h).
    #[arg(long, value_name = "RFC3339|DURATION")]
    expires: Option<String>,
    /// Limit the key to 'METHOD /pattern' rules (repeatable, or comma-separated), e.g. 'GET /v1/*'.
    #[arg(long, value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Metadata key=value (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Metadata as a JSON object (--meta pairs are merged over it).
    #[arg(long, value_name = "JSON")]
    meta_json: Option<String>,
    /// A note for operators; never sent to the origin.
    #[arg(long)]
    description: Option<String>,
    /// Rate-limit tier, a name from the gateway's RATE_LIMIT_TIERS (default: its DEFAULT_TIER).
    #[arg(long, value_name = "TIER")]
    tier: Option<String>,
    /// Exact request quota: LIMIT per month, day or hour (UTC) or per N seconds, e.g.
    /// 10000/month, 500/day, 100/hour, 20/30s.
    #[arg(long, value_name = "LIMIT/PERIOD")]
    quota: Option<String>,
    /// Count the quota per key (the default) or across all keys of the consumer.
    #[arg(long, value_name = "SCOPE", requires = "quota", value_parser = ["key", "consumer"])]
    quota_per: Option<String>,
}

impl KeyOpts {
    fn build(self, now: u64) -> Result<CreateOpts, String> {
        check_consumer_id(&self.consumer)?;
        Ok(CreateOpts {
            name: self.name,
            consumer_id: self.consumer,
            consumer_name: self.consumer_name,
            expires_at: self.expires.map(|e| parse_expiry(&e, now)).transpose()?,
            scopes: parse_scopes(&self.scopes)?,
            meta: parse_meta(&self.meta, self.meta_json.as_deref())?,
            description: self.description,
            tier: self.tier.map(|t| check_tier(&t).map(|()| t)).transpose()?,
            quota: self
                .quota
                .map(|q| parse_quota(&q, scope_arg(self.quota_per.as_deref())?))
                .transpose()?,
        })
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a key. Prints the key alone on stdout, once; it cannot be shown again.
    Create(KeyOpts),
    /// List keys: id, name, consumer, tier, created, expires, state. Never keys or hashes.
    List {
        #[arg(long)]
        json: bool,
        /// Only keys of this consumer.
        #[arg(long, value_name = "ID")]
        consumer: Option<String>,
        /// Only keys in this state.
        #[arg(long, value_parser = ["active", "disabled", "expired"])]
        state: Option<String>,
    },
    /// Show one key's record, by id or by the key itself ('-' reads the key from stdin).
    Show {
        #[arg(value_name = "ID|KEY|-")]
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Refuse a key until it is enabled again. Nothing is deleted.
    Disable {
        #[arg(value_name = "ID|KEY|-")]
        key: String,
    },
    /// Accept a disabled key again.
    Enable {
        #[arg(value_name = "ID|KEY|-")]
        key: String,
    },
    /// Issue a new key with the same consumer, scopes, metadata, tier and quota; the old key
    /// expires after the overlap. Prints the new key alone on stdout.
    Rotate {
        #[arg(value_name = "ID|KEY|-")]
        key: String,
        /// How long the old key keeps working (never beyond an expiry it already had).
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        overlap: String,
    },
    /// Import existing plaintext keys from stdin, one a line. Only their hashes are stored.
    Import(KeyOpts),
    /// Delete a key, by id or by the key itself ('-' reads the key from stdin).
    Revoke {
        #[arg(value_name = "ID|KEY|-")]
        key: String,
    },
    /// Set a key's rate-limit tier, or return it to the gateway's DEFAULT_TIER with --clear.
    SetTier {
        #[arg(value_name = "ID|KEY|-")]
        key: String,
        /// A tier name from the gateway's RATE_LIMIT_TIERS.
        #[arg(value_name = "TIER", required_unless_present = "clear")]
        tier: Option<String>,
        /// Remove the key's own tier: the gateway's DEFAULT_TIER applies.
        #[arg(long, conflicts_with = "tier")]
        clear: bool,
    },
    /// Set a key's quota (LIMIT/PERIOD: 10000/month, 500/day, 100/hour, 20/30s), or remove it
    /// with 'none'.
    SetQuota {
        #[arg(value_name = "ID|KEY|-")]
        key: String,
        #[arg(value_name = "LIMIT/PERIOD|none")]
        quota: String,
        /// Count per key (the default) or across all keys of the consumer.
        #[arg(long, value_name = "SCOPE", value_parser = ["key", "consumer"])]
        per: Option<String>,
    },
    /// Show a key's tier and its quota usage in the current window, read from the gateway's
    /// admin endpoint (token: $KEYGATE_ADMIN_TOKEN, or ADMIN_TOKEN in ./.dev.vars when local).
    Usage {
        #[arg(value_name = "ID|KEY|-")]
        key: String,
        /// The gateway's base URL (default: $KEYGATE_URL, else http://127.0.0.1:8787 when local;
        /// required with --remote).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Print JSON: the key's tier and quota, and the window's count (null without a quota).
        #[arg(long)]
        json: bool,
    },
    /// Requests per key over a recent window: accepted, refused, faults, refusals by code, and
    /// latency. Reads the local gateway's log (`make dev`), or Analytics Engine with --remote
    /// ($CLOUDFLARE_ACCOUNT_ID, $CLOUDFLARE_API_TOKEN with Account Analytics Read).
    Stats {
        /// Only requests of this consumer.
        #[arg(long, value_name = "ID")]
        consumer: Option<String>,
        /// The window: requests newer than this (15m, 24h, 7d).
        #[arg(long, value_name = "DURATION", default_value = stats::DEFAULT_SINCE)]
        since: String,
        /// Print JSON: the same rows and total, with every decision code.
        #[arg(long)]
        json: bool,
        /// The gateway log to read when local (default: target/dev/gateway.log, which
        /// `make dev` appends to).
        #[arg(long, value_name = "PATH")]
        log_file: Option<PathBuf>,
        /// The Analytics Engine dataset when remote (default: the ANALYTICS binding's dataset in
        /// the wrangler config, for --env).
        #[arg(long, value_name = "NAME")]
        dataset: Option<String>,
    },
    /// Print the KV key name (hex SHA-256) of a key ('-' reads the key from stdin).
    Hash {
        #[arg(value_name = "KEY|-")]
        key: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("keygate: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads a key argument; `-` takes one line from stdin so the key stays out of shell history.
fn key_arg(arg: &str) -> Result<String, String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut s = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut s)
        .map_err(|e| format!("could not read the key from stdin: {e}"))?;
    Ok(s.lines().next().unwrap_or("").trim().to_owned())
}

/// The quota scope of `--per` / `--quota-per`; `key` when not given.
fn scope_arg(s: Option<&str>) -> Result<keygate_core::limits::QuotaScope, String> {
    s.map_or(Ok(Default::default()), parse_quota_scope)
}

fn tier_text(tier: Option<&str>) -> String {
    tier.map_or_else(
        || "default (the gateway's DEFAULT_TIER)".to_owned(),
        str::to_owned,
    )
}

fn run(cli: Cli) -> Result<(), String> {
    let t = cli.target;
    let target = Target {
        remote: t.remote,
        persist_to: t.persist_to,
        env: t.env,
        config: t.config,
        binding: t.binding,
    };
    let kv = || Wrangler::locate(target.clone());
    let now = now();
    match cli.command {
        Cmd::Create(opts) => {
            let opts = opts.build(now)?;
            let (key, rec) = create(&kv(), &opts, now)?;
            eprintln!(
                "keygate: created key {} ({}) for consumer {}{}{}{}. Store it now: it is not shown again.",
                rec.id,
                rec.name,
                rec.consumer_id,
                rec.expires_at.map(|e| format!(", expires {}", rfc3339(e))).unwrap_or_default(),
                rec.tier.as_ref().map(|t| format!(", tier {t}")).unwrap_or_default(),
                rec.quota.as_ref().map(|q| format!(", quota {}", quota_text(q))).unwrap_or_default(),
            );
            println!("{}", key.expose());
        }
        Cmd::Disable { key } => {
            let r = set_disabled(&kv(), &KeyRef::parse(&key_arg(&key)?)?, true, now)?;
            eprintln!("keygate: disabled key {} ({}).", r.id, r.name);
        }
        Cmd::Enable { key } => {
            let r = set_disabled(&kv(), &KeyRef::parse(&key_arg(&key)?)?, false, now)?;
            eprintln!("keygate: enabled key {} ({}).", r.id, r.name);
        }
        Cmd::Rotate { key, overlap } => {
            let overlap = humantime::parse_duration(&overlap)
                .map_err(|_| format!("--overlap '{overlap}' is not a duration (30m, 24h, 7d)"))?;
            let rot = rotate(
                &kv(),
                &KeyRef::parse(&key_arg(&key)?)?,
                overlap.as_secs(),
                now,
            )?;
            eprintln!(
                "keygate: new key {} replaces {}, which now expires {}. Store the new key now.",
                rot.new.id,
                rot.old.id,
                rot.old.expires_at.map(rfc3339).unwrap_or_default()
            );
            println!("{}", rot.key.expose());
        }
        Cmd::Import(opts) => {
            let opts = opts.build(now)?;
            let mut input = String::new();
            std::io::stdin()
                .take(16 * 1024 * 1024)
                .read_to_string(&mut input)
                .map_err(|e| format!("could not read keys from stdin: {e}"))?;
            let done = import(&kv(), &input, &opts, now)?;
            for r in &done {
                eprintln!("keygate: imported key {} ({})", r.id, r.name);
            }
            eprintln!(
                "keygate: imported {} key(s); only their hashes are stored.",
                done.len()
            );
        }
        Cmd::List {
            json,
            consumer,
            state,
        } => {
            let keys: Vec<_> = list(&kv())?
                .into_iter()
                .filter(|k| consumer.as_ref().is_none_or(|c| &k.consumer_id == c))
                .filter(|k| state.as_ref().is_none_or(|s| k.state(now) == s))
                .collect();
            if json {
                let rows: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "id": k.id, "name": k.name, "consumer_id": k.consumer_id,
                            "tier": k.tier,
                            "created_at": rfc3339(k.created_at),
                            "expires_at": k.expires_at.map(rfc3339),
                            "state": k.state(now),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?
                );
            } else {
                println!(
                    "{:<12}  {:<24}  {:<20}  {:<12}  {:<20}  {:<20}  STATE",
                    "ID", "NAME", "CONSUMER", "TIER", "CREATED", "EXPIRES"
                );
                for k in &keys {
                    println!(
                        "{:<12}  {:<24}  {:<20}  {:<12}  {:<20}  {:<20}  {}",
                        k.id,
                        k.name,
                        k.consumer_id,
                        k.tier.as_deref().unwrap_or("-"),
                        rfc3339(k.created_at),
                        k.expires_at.map(rfc3339).unwrap_or_else(|| "never".into()),
                        k.state(now)
                    );
                }
                eprintln!("keygate: {} key(s)", keys.len());
            }
        }
        Cmd::Show { key, json } => {
            let r = show(&kv(), &KeyRef::parse(&key_arg(&key)?)?)?;
            let state = state_name(r.state(now));
            if json {
                let mut v = serde_json::to_value(&r).map_err(|e| e.to_string())?;
                v["state"] = state.into();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
                );
            } else {
                println!("id:            {}", r.id);
                println!("name:          {}", r.name);
                println!("consumer:      {}", r.consumer_id);
                if let Some(n) = &r.consumer_name {
                    println!("consumer name: {n}");
                }
                println!("created:       {}", rfc3339(r.created_at));
                println!(
                    "expires:       {}",
                    r.expires_at.map(rfc3339).unwrap_or_else(|| "never".into())
                );
                println!("state:         {state}");
                println!("tier:          {}", tier_text(r.tier.as_deref()));
                println!(
                    "quota:         {}",
                    r.quota
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), quota_text)
                );
                if !r.scopes.is_empty() {
                    println!("scopes:        {}", r.scopes.join(", "));
                }
                if let Some(d) = &r.description {
                    println!("description:   {d}");
                }
                if !r.meta.is_empty() {
                    println!(
                        "meta:          {}",
                        serde_json::Value::Object(r.meta.clone())
                    );
                }
            }
        }
        Cmd::Revoke { key } => {
            let id = revoke(&kv(), &KeyRef::parse(&key_arg(&key)?)?)?;
            eprintln!("keygate: revoked key {id}. Gateways refuse it within the revocation bound (see README).");
        }
        Cmd::SetTier { key, tier, clear } => {
            let tier = if clear { None } else { tier };
            let r = set_tier(
                &kv(),
                &KeyRef::parse(&key_arg(&key)?)?,
                tier.as_deref(),
                now,
            )?;
            match &r.tier {
                Some(t) => eprintln!(
                    "keygate: key {} ({}) now has tier {t}; the gateway must define it in RATE_LIMIT_TIERS.",
                    r.id, r.name
                ),
                None => eprintln!(
                    "keygate: key {} ({}) now has the gateway's default tier (DEFAULT_TIER).",
                    r.id, r.name
                ),
            }
        }
        Cmd::SetQuota { key, quota, per } => {
            let quota = if quota.trim() == "none" {
                if per.is_some() {
                    return Err("--per cannot be used with 'none'".to_owned());
                }
                None
            } else {
                Some(parse_quota(&quota, scope_arg(per.as_deref())?)?)
            };
            let (r, before) = set_quota(&kv(), &KeyRef::parse(&key_arg(&key)?)?, quota, now)?;
            match &r.quota {
                Some(q) => {
                    eprintln!(
                        "keygate: key {} ({}) now has a quota of {}.",
                        r.id,
                        r.name,
                        quota_text(q)
                    );
                    // Counters are per key or consumer and per period (README, "Quotas").
                    let counter =
                        |q: &keygate_core::limits::Quota| q.counter(&r.id, &r.consumer_id);
                    match before {
                        Some(b) if counter(&b) == counter(q) => eprintln!(
                            "keygate: same period and scope: the count of the current window is kept."
                        ),
                        Some(b) => eprintln!(
                            "keygate: a new period or scope: the quota now counts in {}, not {} \
                             ('keygate usage' shows its count).",
                            counter(q),
                            counter(&b)
                        ),
                        None => {}
                    }
                }
                None => eprintln!("keygate: key {} ({}) now has no quota.", r.id, r.name),
            }
        }
        Cmd::Usage { key, url, json } => {
            let source = AdminApi {
                url,
                remote: target.remote,
            };
            let u = usage(&kv(), &KeyRef::parse(&key_arg(&key)?)?, &source, now)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&u).map_err(|e| e.to_string())?
                );
            } else {
                println!("id:            {}", u.id);
                println!("name:          {}", u.name);
                println!("consumer:      {}", u.consumer_id);
                println!("state:         {}", u.state);
                println!("tier:          {}", tier_text(u.tier.as_deref()));
                match (&u.quota, &u.usage) {
                    (Some(q), Some(w)) => {
                        println!("quota:         {}", quota_text(q));
                        println!("counter:       {}", w.counter);
                        println!("used:          {}", w.used);
                        println!("limit:         {}", w.limit);
                        println!("remaining:     {}", w.remaining);
                        println!("resets:        {} (in {} s)", w.resets_at, w.reset_in_secs);
                    }
                    _ => println!("quota:         none (the gateway counts nothing for this key)"),
                }
            }
        }
        Cmd::Stats {
            consumer,
            since,
            json,
            log_file,
            dataset,
        } => run_stats(&target, consumer, &since, json, log_file, dataset)?,
        Cmd::Hash { key } => {
            let raw = key_arg(&key)?;
            match KeyRef::parse(&raw)? {
                KeyRef::Key(k) => println!("{}", k.hash().as_kv_key()),
                // 12 hex characters are also a valid key; hash them as given.
                KeyRef::Id(_) => println!("{}", ApiKey::new(raw).hash().as_kv_key()),
            }
        }
    }
    Ok(())
}

/// `keygate stats`: the summary from the local log, or from Analytics Engine with `--remote`.
fn run_stats(
    target: &Target,
    consumer: Option<String>,
    since: &str,
    json: bool,
    log_file: Option<PathBuf>,
    dataset: Option<String>,
) -> Result<(), String> {
    if let Some(c) = &consumer {
        check_consumer_id(c)?;
    }
    let query = Query {
        since_secs: stats::parse_since(since)?,
        since_label: since.trim().to_owned(),
        consumer,
    };
    let (summary, source) = if target.remote {
        if log_file.is_some() {
            return Err("--log-file names the local log; it cannot be used with --remote".into());
        }
        let creds = remote::credentials(|name| std::env::var(name).ok())?;
        // `remote::fetch` checks the name before any call, wherever it came from.
        let dataset = match dataset {
            Some(d) => d,
            None => {
                let config = target
                    .config
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(remote::DEFAULT_CONFIG));
                let text = std::fs::read_to_string(&config).map_err(|e| {
                    format!(
                        "could not read {} for the Analytics Engine dataset ({e}); pass \
                         --config FILE or --dataset NAME",
                        config.display()
                    )
                })?;
                remote::dataset_from_config(&text, target.env.as_deref(), &config)?
            }
        };
        let summary = remote::fetch(&creds, &dataset, &query)?;
        (summary, Source::Remote(dataset))
    } else {
        if dataset.is_some() {
            return Err("--dataset names an Analytics Engine dataset; use it with --remote".into());
        }
        let path = log_file.unwrap_or_else(|| PathBuf::from(local::DEFAULT_LOG_FILE));
        let (summary, malformed) = local::read(&path, &query, now_nanos())?;
        if malformed > 0 {
            eprintln!(
                "keygate: skipped {malformed} {} line(s) without the expected fields",
                keygate_core::telemetry::LOG_EVENT
            );
        }
        (summary, Source::Local(path.display().to_string()))
    };
    if json {
        println!("{}", stats::render_json(&summary, &query, &source));
        return Ok(());
    }
    print!("{}", stats::render_table(&summary));
    eprintln!(
        "keygate: {} request(s){} in the last {} from {}{}.",
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
    );
    Ok(())
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
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("keygate").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn set_tier_takes_a_tier_or_clear_but_not_both_or_neither() {
        assert!(matches!(
            parse(&["set-tier", "0123456789ab", "pro"]).unwrap().command,
            Cmd::SetTier { tier: Some(t), clear: false, .. } if t == "pro"
        ));
        assert!(matches!(
            parse(&["set-tier", "0123456789ab", "--clear"])
                .unwrap()
                .command,
            Cmd::SetTier {
                tier: None,
                clear: true,
                ..
            }
        ));
        assert!(parse(&["set-tier", "0123456789ab"]).is_err());
        assert!(parse(&["set-tier", "0123456789ab", "pro", "--clear"]).is_err());
    }

    #[test]
    fn quota_per_needs_a_quota_and_a_known_scope() {
        assert!(parse(&["create", "--name", "x", "--quota-per", "consumer"]).is_err());
        assert!(parse(&[
            "create",
            "--name",
            "x",
            "--quota",
            "5/day",
            "--quota-per",
            "team"
        ])
        .is_err());
        let Cmd::Create(o) = parse(&[
            "create",
            "--name",
            "x",
            "--tier",
            "pro",
            "--quota",
            "5/day",
            "--quota-per",
            "consumer",
        ])
        .unwrap()
        .command
        else {
            panic!("not create")
        };
        let opts = o.build(0).unwrap();
        assert_eq!(opts.tier.as_deref(), Some("pro"));
        assert_eq!(
            opts.quota.map(|q| quota_text(&q)).as_deref(),
            Some("5/day per consumer")
        );
    }

    #[test]
    fn create_options_with_a_bad_tier_or_quota_are_refused_before_any_store_call() {
        for args in [
            &["create", "--name", "x", "--tier", "Pro"][..],
            &["create", "--name", "x", "--quota", "0/day"],
            &["import", "--name", "x", "--quota", "10/week"],
        ] {
            let (Cmd::Create(o) | Cmd::Import(o)) = parse(args).unwrap().command else {
                panic!("not create or import")
            };
            assert!(o.build(0).is_err(), "{args:?}");
        }
    }

    #[test]
    fn stats_defaults_to_the_last_24h_and_takes_its_flags_and_the_global_ones() {
        let cli = parse(&["stats"]).unwrap();
        assert!(matches!(
            cli.command,
            Cmd::Stats { since, consumer: None, json: false, log_file: None, dataset: None }
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
            Cmd::Stats { since, consumer: Some(c), json: true, dataset: Some(d), .. }
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
            Cmd::Usage { url: Some(u), json: true, .. } if u == "https://gw"
        ));
    }
}
