//! What command tests share: a context over in-memory streams and a fixed clock, and
//! core's `MemoryKv` as the store.

use super::{Ctx, Io};
use crate::wrangler::Target;

/// 2027-01-15T08:00:00Z.
pub const NOW: u64 = 1_800_000_000;

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
