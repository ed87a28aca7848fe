//! `keygate disable`: the gateway refuses the key until it is enabled again. Nothing is
//! deleted.

use super::{block_on, Ctx};
use crate::error::CliError;
use keygate_core::kv::KvStore;
use keygate_core::lifecycle;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "ID|KEY|-")]
    pub key: String,
}

pub fn run(args: Args, kv: &impl KvStore, ctx: &mut Ctx) -> Result<(), CliError> {
    let r = ctx.io.key_ref(&args.key)?;
    let rec = block_on(lifecycle::set_disabled(kv, &r, true, ctx.now))?;
    ctx.io
        .note(format_args!("disabled key {} ({}).", rec.id, rec.name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{with_ctx, NOW};
    use keygate_core::kv::memory::MemoryKv;
    use keygate_core::lifecycle::{KeyRef, NewKey};
    use keygate_core::record::KeyState;

    #[test]
    fn disable_then_enable_by_id_flips_the_state_and_says_so_on_stderr() {
        let kv = MemoryKv::new();
        let (_, rec) = block_on(lifecycle::create(&kv, &NewKey::new("a", "acme"), NOW)).unwrap();
        let state = || {
            block_on(lifecycle::show(&kv, &KeyRef::Id(rec.id.clone())))
                .unwrap()
                .state(NOW)
        };
        let (cap, r) = with_ctx("", |ctx| {
            run(
                Args {
                    key: rec.id.clone(),
                },
                &kv,
                ctx,
            )
        });
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
