//! The management API against its OpenAPI document: `scripts/schemathesis.sh` (the contract's
//! fuzzing run, bounded to a few minutes) against an instance of its own, with a root key that
//! holds every permission. Its own instance: the run creates, changes and revokes keys and root
//! keys at random, which no other test must see.

use super::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The fuzzing phase's bound in `make test`: the script's default is 120 s; 90 s keeps `make
/// test` within its budget and still runs about 2,000 cases, each operation answering 2xx at least
/// once (the script checks that).
const MAX_TIME_SECS: &str = "90";
/// Far above that bound plus a few seconds of checks: only a hung run reaches it.
const HARD_LIMIT: Duration = Duration::from_secs(480);

pub fn schemathesis_finds_no_server_error_schema_break_or_undocumented_status(c: &Ctx) {
    let script = repo_root().join("scripts/schemathesis.sh");
    assert!(script.is_file(), "{} is missing", script.display());
    let dev = &c.fuzz;
    let (root, _) = new_root(dev, BOOT, "schemathesis", &all_permissions(), None);
    let mut cmd = Command::new(&script);
    cmd.args([dev.base.as_str(), root.as_str()])
        .current_dir(repo_root())
        .env("SCHEMATHESIS_MAX_TIME", MAX_TIME_SECS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("run scripts/schemathesis.sh");
    // Both streams are drained while it runs, so a full pipe never stalls it.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break Some(s);
        }
        if start.elapsed() > HARD_LIMIT {
            // SAFETY: kill(2) on the process group this test started.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let (out, err) = (
        out.join().expect("stdout reader"),
        err.join().expect("stderr reader"),
    );
    let took = start.elapsed().as_secs();
    match status {
        Some(s) if s.success() => {
            // The summary, for the run's log.
            let tail: Vec<&str> = out.lines().rev().take(12).collect();
            eprintln!(
                "schemathesis: passed in {took} s\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        s => panic!(
            "scripts/schemathesis.sh {} after {took} s\n--- stdout\n{out}\n--- stderr\n{err}",
            s.map_or("was killed (hung)".to_owned(), |s| format!("failed ({s})"))
        ),
    }
}
