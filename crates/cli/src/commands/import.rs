//! `keygate import`: existing plaintext keys from stdin, one a line, all or nothing. Only their
//! hashes are stored; nothing is printed on stdout.

use super::Ctx;
use crate::backend::Backend;
use crate::error::CliError;

/// The most stdin `import` reads.
const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// The fields every imported key gets, as for `create`.
pub use super::create::Args;

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let new = args.key.build(ctx.now)?;
    let input = ctx.io.read_input(MAX_INPUT, "keys")?;
    let lines: Vec<&str> = input.lines().collect();
    let done = b.import(&lines, &new, ctx.now)?;
    for r in &done {
        ctx.io
            .note(format_args!("imported key {} ({})", r.id, r.name));
    }
    ctx.io.note(format_args!(
        "imported {} key(s); only their hashes are stored.",
        done.len()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{parse, with_ctx};
    use keygate_core::kv::memory::MemoryKv;

    fn args(a: &[&str]) -> Args {
        parse(a)
    }

    #[test]
    fn import_reads_keys_from_stdin_and_never_prints_them() {
        let kv = MemoryKv::new();
        let (cap, r) = with_ctx("legacy-one\n\nlegacy-two\n", |ctx| {
            run(args(&["--name", "old"]), &kv, ctx)
        });
        r.unwrap();
        assert!(cap.out.is_empty());
        let err = cap.err();
        assert!(
            err.contains("imported 2 key(s)") && !err.contains("legacy-"),
            "{err}"
        );
        assert_eq!(kv.entries().len(), 2);
    }

    #[test]
    fn an_import_with_a_stored_key_is_a_conflict_and_exits_4() {
        let kv = MemoryKv::new();
        with_ctx("again\n", |ctx| run(args(&["--name", "a"]), &kv, ctx))
            .1
            .unwrap();
        let (_, r) = with_ctx("fresh\nagain\n", |ctx| {
            run(args(&["--name", "a"]), &kv, ctx)
        });
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().starts_with("line 2: key "), "{e}");
        assert_eq!(kv.entries().len(), 1);
    }

    #[test]
    fn an_empty_stdin_is_a_usage_error() {
        let kv = MemoryKv::new();
        let (_, r) = with_ctx("\n", |ctx| run(args(&["--name", "a"]), &kv, ctx));
        let e = r.unwrap_err();
        assert_eq!(
            (e.exit_code(), e.to_string()),
            (2, "no keys on stdin to import".into())
        );
    }
}
