//! `keygate enable`: the gateway accepts a disabled key again.

use super::Ctx;
use crate::backend::Backend;
use crate::error::CliError;

/// The same argument as `disable`: an id, a key, or `-`.
pub use super::disable::Args;

/// Tested with `disable`, in disable.rs.
pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    super::disable::set(args, b, ctx, false)
}
