//! `keygate enable`: the gateway accepts a disabled key again.

use super::Ctx;
use crate::error::CliError;
use keygate_core::kv::KvStore;

/// The same argument as `disable`: an id, a key, or `-`.
pub use super::disable::Args;

/// Tested with `disable`, in disable.rs.
pub fn run(args: Args, kv: &impl KvStore, ctx: &mut Ctx) -> Result<(), CliError> {
    super::disable::set(args, kv, ctx, false)
}
