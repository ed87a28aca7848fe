//! `keygate enable`: the gateway accepts a disabled key again.

use super::{block_on, Ctx};
use crate::error::CliError;
use keygate_core::kv::KvStore;
use keygate_core::lifecycle;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "ID|KEY|-")]
    pub key: String,
}

/// Tested with `disable`, in disable.rs.
pub fn run(args: Args, kv: &impl KvStore, ctx: &mut Ctx) -> Result<(), CliError> {
    let r = ctx.io.key_ref(&args.key)?;
    let rec = block_on(lifecycle::set_disabled(kv, &r, false, ctx.now))?;
    ctx.io
        .note(format_args!("enabled key {} ({}).", rec.id, rec.name));
    Ok(())
}
