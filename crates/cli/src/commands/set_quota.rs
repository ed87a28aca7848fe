//! `keygate set-quota`: a key's quota (`LIMIT/PERIOD`, per key or consumer), or none. Says
//! whether the current window's count carries over.

use super::key_opts::scope_arg;
use super::Ctx;
use crate::backend::Backend;
use crate::error::CliError;
use keygate_core::lifecycle::rules::{parse_quota, quota_text};
use keygate_core::lifecycle::Changes;
use keygate_core::limits::Quota;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "ID|KEY|-")]
    key: String,
    #[arg(value_name = "LIMIT/PERIOD|none")]
    quota: String,
    /// Count per key (the default) or across all keys of the consumer.
    #[arg(long, value_name = "SCOPE", value_parser = ["key", "consumer"])]
    per: Option<String>,
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let quota = if args.quota.trim() == "none" {
        if args.per.is_some() {
            return Err(CliError::usage("--per", "--per cannot be used with 'none'"));
        }
        None
    } else {
        Some(parse_quota(&args.quota, scope_arg(args.per.as_deref())?)?)
    };
    let changes = Changes {
        quota: Some(quota),
        ..Changes::default()
    };
    let r = ctx.io.key_ref(&args.key)?;
    let u = b.update(&r, &changes, ctx.now)?;
    let rec = &u.record;
    let Some(q) = &rec.quota else {
        ctx.io.note(format_args!(
            "key {} ({}) now has no quota.",
            rec.id, rec.name
        ));
        return Ok(());
    };
    ctx.io.note(format_args!(
        "key {} ({}) now has a quota of {}.",
        rec.id,
        rec.name,
        quota_text(q)
    ));
    // Counters are per key or consumer and per period (README, "Quotas").
    let counter = |q: &Quota| q.counter(&rec.id, &rec.consumer_id);
    match u.before.as_ref().and_then(|b| b.quota.as_ref()) {
        Some(b) if counter(b) == counter(q) => ctx
            .io
            .note("same period and scope: the count of the current window is kept."),
        Some(b) => ctx.io.note(format_args!(
            "a new period or scope: the quota now counts in {}, not {} ('keygate usage' shows \
             its count).",
            counter(q),
            counter(b)
        )),
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{store_with_a_key, with_ctx};

    fn args(key: &str, quota: &str, per: Option<&str>) -> Args {
        Args {
            key: key.into(),
            quota: quota.into(),
            per: per.map(str::to_owned),
        }
    }

    #[test]
    fn a_new_limit_keeps_the_count_and_a_new_period_moves_it() {
        let (kv, _, rec) = store_with_a_key();
        let steps = [
            (
                "100/day",
                None,
                "now has a quota of 100/day per key.".to_owned(),
            ),
            (
                "200/day",
                None,
                "the count of the current window is kept".to_owned(),
            ),
            (
                "5/hour",
                Some("consumer"),
                format!("now counts in consumer:hour:acme, not key:day:{}", rec.id),
            ),
            ("none", None, "now has no quota.".to_owned()),
        ];
        for (quota, per, want) in steps {
            let (cap, r) = with_ctx("", |ctx| run(args(&rec.id, quota, per), &kv, ctx));
            r.unwrap();
            assert!(cap.err().contains(&want), "{quota}: {}", cap.err());
        }
    }

    #[test]
    fn none_with_per_or_a_bad_quota_is_a_usage_error_that_writes_nothing() {
        let (kv, _, rec) = store_with_a_key();
        let puts = kv.calls().len();
        let (_, r) = with_ctx("", |ctx| run(args(&rec.id, "none", Some("key")), &kv, ctx));
        assert!(matches!(
            r.unwrap_err(),
            CliError::Usage { flag: "--per", .. }
        ));
        let (_, r) = with_ctx("", |ctx| run(args(&rec.id, "5/week", None), &kv, ctx));
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().starts_with("quota period 'week' must be"),
            "{e}"
        );
        assert_eq!(kv.calls().len(), puts);
    }
}
