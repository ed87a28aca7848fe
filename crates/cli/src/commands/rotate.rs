//! `keygate rotate`: a new key with the old one's fields; the old key expires after the overlap
//! (never later than it already did). The new key goes to stdout alone.

use super::{rfc3339, Ctx};
use crate::backend::Backend;
use crate::error::CliError;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "ID|KEY|-")]
    key: String,
    /// How long the old key keeps working (never beyond an expiry it already had).
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    overlap: String,
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let overlap = humantime::parse_duration(&args.overlap).map_err(|_| {
        CliError::usage(
            "--overlap",
            format!(
                "--overlap '{}' is not a duration (30m, 24h, 7d)",
                args.overlap
            ),
        )
    })?;
    let r = ctx.io.key_ref(&args.key)?;
    let rot = b.rotate(&r, overlap.as_secs(), ctx.now)?;
    ctx.io.note(format_args!(
        "new key {} replaces {}, which now expires {}. Store the new key now.",
        rot.new.id,
        rot.old.id,
        rot.old.expires_at.map(rfc3339).unwrap_or_default()
    ));
    ctx.io.print(&format!("{}\n", rot.key.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::block_on;
    use crate::commands::testing::{store_with_a_key, with_ctx, NOW};
    use keygate_core::lifecycle::{self, KeyRef};

    fn args(key: &str, overlap: &str) -> Args {
        Args {
            key: key.into(),
            overlap: overlap.into(),
        }
    }

    #[test]
    fn rotate_prints_the_new_key_alone_and_when_the_old_one_expires() {
        let (kv, old_key, old) = store_with_a_key();
        let (cap, r) = with_ctx("", |ctx| run(args(&old.id, "1h"), &kv, ctx));
        r.unwrap();
        let new = cap.out().trim_end().to_owned();
        assert!(new.starts_with("kg_") && new != old_key.expose());
        let err = cap.err();
        assert!(err.contains("now expires 2027-01-15T09:00:00Z"), "{err}");
        assert!(!err.contains(&new) && !err.contains(old_key.expose()));
        assert!(block_on(lifecycle::show(&kv, &KeyRef::parse(&new).unwrap())).is_ok());
    }

    #[test]
    fn a_bad_overlap_or_a_disabled_key_is_refused_with_its_exit_code() {
        let (kv, _, old) = store_with_a_key();
        let (_, r) = with_ctx("", |ctx| run(args(&old.id, "soon"), &kv, ctx));
        assert!(matches!(
            r.unwrap_err(),
            CliError::Usage {
                flag: "--overlap",
                ..
            }
        ));
        block_on(lifecycle::set_disabled(
            &kv,
            &KeyRef::Id(old.id.clone()),
            true,
            NOW,
        ))
        .unwrap();
        let (cap, r) = with_ctx("", |ctx| run(args(&old.id, "1h"), &kv, ctx));
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains("disabled"));
        assert!(cap.out.is_empty());
    }
}
