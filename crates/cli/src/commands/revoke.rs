//! `keygate revoke`: deletes a key's record, by id or by the key itself. Gateways refuse the
//! key within the revocation bound (README).

use super::Ctx;
use crate::backend::Backend;
use crate::error::CliError;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "ID|KEY|-")]
    key: String,
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let r = ctx.io.key_ref(&args.key)?;
    let id = b.revoke(&r)?;
    ctx.io.note(format_args!(
        "revoked key {id}. Gateways refuse it within the revocation bound (see README)."
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{store_with_a_key, with_ctx};
    use keygate_core::kv::memory::MemoryKv;

    #[test]
    fn revoke_deletes_the_key_and_a_second_revoke_exits_3() {
        let (kv, _, rec) = store_with_a_key();
        let a = Args {
            key: rec.id.clone(),
        };
        let (cap, r) = with_ctx("", |ctx| run(a, &kv, ctx));
        r.unwrap();
        assert!(cap
            .err()
            .starts_with(&format!("keygate: revoked key {}.", rec.id)));
        assert!(kv.entries().is_empty());
        let (_, r) = with_ctx("", |ctx| {
            run(
                Args {
                    key: rec.id.clone(),
                },
                &kv,
                ctx,
            )
        });
        assert_eq!(r.unwrap_err().exit_code(), 3);
    }

    #[test]
    fn a_key_argument_that_is_neither_id_nor_key_is_a_usage_error_before_any_store_call() {
        let kv = MemoryKv::new();
        let (_, r) = with_ctx("", |ctx| {
            run(
                Args {
                    key: "not a key".into(),
                },
                &kv,
                ctx,
            )
        });
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "expected a key id (12 hex characters) or an API key"
        );
        assert!(kv.calls().is_empty());
    }
}
