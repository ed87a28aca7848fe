//! `keygate set-tier`: a key's rate-limit tier, or the gateway's DEFAULT_TIER with `--clear`.
//! The name is checked against the tier grammar; which tiers the gateway defines the CLI
//! cannot see.

use super::Ctx;
use crate::backend::Backend;
use crate::error::CliError;
use keygate_core::lifecycle::Changes;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "ID|KEY|-")]
    key: String,
    /// A tier name from the gateway's RATE_LIMIT_TIERS.
    #[arg(value_name = "TIER", required_unless_present = "clear")]
    tier: Option<String>,
    /// Remove the key's own tier: the gateway's DEFAULT_TIER applies.
    #[arg(long, conflicts_with = "tier")]
    clear: bool,
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let tier = if args.clear { None } else { args.tier };
    let changes = Changes {
        tier: Some(tier),
        ..Changes::default()
    };
    changes.check()?;
    let r = ctx.io.key_ref(&args.key)?;
    let rec = b.update(&r, &changes, ctx.now)?.record;
    match &rec.tier {
        Some(t) => ctx.io.note(format_args!(
            "key {} ({}) now has tier {t}; the gateway must define it in RATE_LIMIT_TIERS.",
            rec.id, rec.name
        )),
        None => ctx.io.note(format_args!(
            "key {} ({}) now has the gateway's default tier (DEFAULT_TIER).",
            rec.id, rec.name
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::block_on;
    use crate::commands::testing::{store_with_a_key, try_parse as parse, with_ctx};
    use keygate_core::kv::memory::MemoryKv;
    use keygate_core::lifecycle;
    use keygate_core::lifecycle::{Field, KeyRef, LifecycleError};

    #[test]
    fn set_tier_takes_a_tier_or_clear_but_not_both_or_neither() {
        assert!(matches!(
            parse::<Args>(&["0123456789ab", "pro"]).unwrap(),
            Args { tier: Some(t), clear: false, .. } if t == "pro"
        ));
        assert!(matches!(
            parse::<Args>(&["0123456789ab", "--clear"]).unwrap(),
            Args {
                tier: None,
                clear: true,
                ..
            }
        ));
        assert!(parse::<Args>(&["0123456789ab"]).is_err());
        assert!(parse::<Args>(&["0123456789ab", "pro", "--clear"]).is_err());
    }

    #[test]
    fn set_tier_then_clear_says_which_tier_applies() {
        let (kv, _, rec) = store_with_a_key();
        let (cap, r) = with_ctx("", |ctx| run(parse(&[&rec.id, "pro"]).unwrap(), &kv, ctx));
        r.unwrap();
        assert!(cap.err().contains("now has tier pro;"), "{}", cap.err());
        let (cap, r) = with_ctx("", |ctx| {
            run(parse(&[&rec.id, "--clear"]).unwrap(), &kv, ctx)
        });
        r.unwrap();
        assert!(cap.err().contains("default tier (DEFAULT_TIER)"));
        let shown = block_on(lifecycle::show(&kv, &KeyRef::Id(rec.id))).unwrap();
        assert_eq!(shown.tier, None);
    }

    #[test]
    fn a_bad_tier_name_is_refused_before_the_key_is_read() {
        let kv = MemoryKv::new();
        let (_, r) = with_ctx("", |ctx| run(parse(&["-", "Pro"]).unwrap(), &kv, ctx));
        let e = r.unwrap_err();
        assert!(
            matches!(&e, CliError::Lifecycle(LifecycleError::Invalid(i)) if i.field == Field::Tier),
            "{e:?}"
        );
        assert!(kv.calls().is_empty(), "not even stdin was needed");
    }
}
