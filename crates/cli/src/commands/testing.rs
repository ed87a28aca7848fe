//! What command tests share: a context over in-memory streams and a fixed clock, and
//! core's `MemoryKv` as the store.

use super::{block_on, Ctx, Io};
use crate::wrangler::Target;
use keygate_core::kv::memory::MemoryKv;
use keygate_core::lifecycle::{self, NewKey};
use keygate_core::{ApiKey, KeyRecord};

/// 2027-01-15T08:00:00Z.
pub const NOW: u64 = 1_800_000_000;

/// Parses a command's arguments as clap would after `keygate NAME`; panics on a usage error.
pub fn parse<A: clap::Args + clap::FromArgMatches>(argv: &[&str]) -> A {
    try_parse(argv).unwrap()
}

/// Parses a command's arguments as clap would after `keygate NAME`.
pub fn try_parse<A: clap::Args + clap::FromArgMatches>(argv: &[&str]) -> Result<A, clap::Error> {
    let cmd = A::augment_args(clap::Command::new("keygate-test"));
    let matches =
        cmd.try_get_matches_from(std::iter::once("keygate-test").chain(argv.iter().copied()))?;
    A::from_arg_matches(&matches)
}

/// A store holding one key, `a` of consumer `acme`, created at [`NOW`].
pub fn store_with_a_key() -> (MemoryKv, ApiKey, KeyRecord) {
    let kv = MemoryKv::new();
    let (key, rec) = block_on(lifecycle::create(&kv, &NewKey::new("a", "acme"), NOW)).unwrap();
    (kv, key, rec)
}

/// A command's captured streams.
#[derive(Default)]
pub struct Captured {
    pub out: Vec<u8>,
    pub err: Vec<u8>,
}

impl Captured {
    pub fn out(&self) -> String {
        String::from_utf8(self.out.clone()).unwrap()
    }
    pub fn err(&self) -> String {
        String::from_utf8(self.err.clone()).unwrap()
    }
}

/// Runs `f` with a context at [`NOW`] whose stdin holds `stdin`; returns what it wrote and its
/// result.
pub fn with_ctx<T>(stdin: &str, f: impl FnOnce(&mut Ctx) -> T) -> (Captured, T) {
    let target = Target::default();
    let mut cap = Captured::default();
    let mut input = stdin.as_bytes();
    let result = {
        let mut ctx = Ctx {
            now: NOW,
            target: &target,
            url: None,
            io: Io {
                out: &mut cap.out,
                err: &mut cap.err,
                input: &mut input,
            },
        };
        f(&mut ctx)
    };
    (cap, result)
}
