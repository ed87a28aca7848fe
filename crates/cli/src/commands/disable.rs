//! `keygate disable`: the gateway refuses the key until it is enabled again. Nothing is
//! deleted.

use super::Ctx;
use crate::backend::Backend;
use crate::error::CliError;
use keygate_core::lifecycle::Changes;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "ID|KEY|-")]
    pub key: String,
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    set(args, b, ctx, true)
}

/// Disables or enables the key (`enable` runs this too) and says so on stderr.
pub(super) fn set(
    args: Args,
    b: &dyn Backend,
    ctx: &mut Ctx,
    disabled: bool,
) -> Result<(), CliError> {
    let r = ctx.io.key_ref(&args.key)?;
    let changes = Changes {
        disabled: Some(disabled),
        ..Changes::default()
    };
    let rec = b.update(&r, &changes, ctx.now)?.record;
    let done = if disabled { "disabled" } else { "enabled" };
    ctx.io
        .note(format_args!("{done} key {} ({}).", rec.id, rec.name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::block_on;
    use crate::commands::testing::{store_with_a_key, with_ctx, NOW};
    use keygate_core::lifecycle::{self, KeyRef};
    use keygate_core::record::KeyState;

    #[test]
    fn disable_then_enable_by_id_flips_the_state_and_says_so_on_stderr() {
        let (kv, _, rec) = store_with_a_key();
        let state = || {
            block_on(lifecycle::show(&kv, &KeyRef::Id(rec.id.clone())))
                .unwrap()
                .state(NOW)
        };
        let a = Args {
            key: rec.id.clone(),
        };
        let (cap, r) = with_ctx("", |ctx| run(a, &kv, ctx));
        r.unwrap();
        assert_eq!(
            cap.err(),
            format!("keygate: disabled key {} (a).\n", rec.id)
        );
        assert_eq!(state(), KeyState::Disabled);
        let (cap, r) = with_ctx("", |ctx| {
            crate::commands::enable::run(
                crate::commands::enable::Args {
                    key: rec.id.clone(),
                },
                &kv,
                ctx,
            )
        });
        r.unwrap();
        assert_eq!(cap.err(), format!("keygate: enabled key {} (a).\n", rec.id));
        assert_eq!(state(), KeyState::Active);
    }
}
