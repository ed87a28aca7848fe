//! Property tests of the core's input handling, one module a subject: the credential parser
//! (`credentials`), the origin URL join (`paths`), the upstream header filter (`headers`), the
//! key-record decoder (`records`), scope matching (`scopes`), the key format (`key_format`), and
//! request integrity through `authorize` (`integrity`). What more than one of them generates or
//! restates is in `strategies`; the runner is here.
//!
//! Every property runs `PROPTEST_CASES` cases (default [`DEFAULT_CASES`], a few seconds for the
//! whole binary under `cargo test`); `make fuzz` runs the same properties with many more. Each one
//! prints the cases it ran. A failure is saved in `crates/core/proptest-regressions/` and replayed
//! first on every later run; a bug it finds also gets a named unit test beside the code it fixes.

#[path = "../common/mod.rs"]
mod common;
mod credentials;
mod headers;
mod integrity;
mod key_format;
mod paths;
mod records;
mod scopes;
mod strategies;

use proptest::strategy::Strategy;
use proptest::test_runner::{
    Config as RunnerConfig, FileFailurePersistence, TestCaseError, TestRunner,
};
use std::cell::Cell;
use std::fmt::Debug;
use std::time::Instant;

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 512;

/// Runs `test` on values of `strategy`, prints how many cases passed and returns that number.
/// The case count comes from `PROPTEST_CASES` (as proptest's own default config does), else
/// [`DEFAULT_CASES`]; cases replayed from the regressions file come on top.
pub fn check<S>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) -> u64
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = RunnerConfig {
        cases,
        // The runner's working directory is crates/core: failures persist in a committed file.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        source_file: Some(file!()),
        ..RunnerConfig::default()
    };
    // libtest names each test's thread after the test.
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("property");
    let ran = Cell::new(0u64);
    let start = Instant::now();
    let result = TestRunner::new(config).run(&strategy, |value| {
        ran.set(ran.get() + 1);
        test(value)
    });
    match result {
        Ok(()) => println!(
            "property {name}: {} cases passed in {:.2?}",
            ran.get(),
            start.elapsed()
        ),
        Err(e) => panic!("property {name} failed after {} runs: {e}", ran.get()),
    }
    ran.get()
}

/// [`check`] for a property with a precondition (a token accepted, a path joined): `test` calls
/// [`Reached::hit`] when a case gets past it, and fewer than `min_percent` of the cases doing so
/// fails the property, so that a generator drifting away from the interesting inputs fails
/// instead of passing vacuously. Prints the share, as `… of … cases <what>`.
pub fn check_reaching<S>(
    what: &'static str,
    min_percent: u64,
    strategy: S,
    test: impl Fn(S::Value, &Reached) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let reached = Reached {
        what,
        min_percent,
        hits: Cell::new(0),
    };
    let ran = check(strategy, |value| test(value, &reached));
    reached.at_least(ran);
}

/// Counts the cases of a [`check_reaching`] property that got past its precondition.
pub struct Reached {
    what: &'static str,
    min_percent: u64,
    hits: Cell<u64>,
}

impl Reached {
    /// Counts one case that got past the precondition.
    pub fn hit(&self) {
        self.hits.set(self.hits.get() + 1);
    }

    /// Checks the share after `ran` cases; below 200 cases it is too noisy to judge.
    fn at_least(&self, ran: u64) {
        let hits = self.hits.get();
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("property");
        println!("property {name}: {hits} of {ran} cases {}", self.what);
        assert!(
            ran < 200 || hits * 100 >= ran * self.min_percent,
            "{name}: only {hits} of {ran} cases {} (want {}%): the generator needs fixing",
            self.what,
            self.min_percent
        );
    }
}
