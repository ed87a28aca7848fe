//! `keygate`: argument parsing and output for the key-management commands in `keygate_cli`.
//! The plaintext key goes to stdout once, from `create`; every message goes to stderr.

use clap::{Args, Parser, Subcommand};
use keygate_cli::store::{Target, Wrangler};
use keygate_cli::{
    check_consumer_id, create, import, list, parse_expiry, parse_meta, parse_scopes, revoke,
    rfc3339, rotate, set_disabled, show, state_name, CreateOpts, KeyRef,
};
use keygate_core::ApiKey;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "keygate",
    version,
    about = "Manage keygate API keys in Workers KV (through wrangler)."
)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args)]
struct TargetArgs {
    /// Use the local KV store of `wrangler dev` (the default).
    #[arg(long, global = true, conflicts_with = "remote")]
    local: bool,
    /// Use the deployed KV namespace.
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
            tier: None,
            quota: None,
        })
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a key. Prints the key alone on stdout, once; it cannot be shown again.
    Create(KeyOpts),
    /// List keys: id, name, consumer, created, expires, state. Never keys or hashes.
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
    /// Issue a new key with the same consumer, scopes and metadata; the old key expires after
    /// the overlap. Prints the new key alone on stdout.
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
                "keygate: created key {} ({}) for consumer {}{}. Store it now: it is not shown again.",
                rec.id,
                rec.name,
                rec.consumer_id,
                rec.expires_at.map(|e| format!(", expires {}", rfc3339(e))).unwrap_or_default()
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
                    "{:<12}  {:<24}  {:<20}  {:<20}  {:<20}  STATE",
                    "ID", "NAME", "CONSUMER", "CREATED", "EXPIRES"
                );
                for k in &keys {
                    println!(
                        "{:<12}  {:<24}  {:<20}  {:<20}  {:<20}  {}",
                        k.id,
                        k.name,
                        k.consumer_id,
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
