//! `make bench`, part 7: what the worker's size costs at a cold start. Each target is bundled as
//! `wrangler deploy` would upload it (`wrangler deploy --dry-run --outdir`), then started again
//! and again in a bare `workerd` (the runtime `wrangler dev` and Cloudflare run), and timed from
//! the process's spawn to its first answer: the runtime's own start, loading the script,
//! compiling the wasm, instantiating it and the first call into it.
//!
//! Targets, in interleaved rounds that rotate the order (A B C, B C A, C A B, …) so machine noise
//! and any effect of going first or after a given target hit each alike:
//! - **JS passthrough** (`bench/js/passthrough.js`), with no wasm: the runtime's own start;
//! - **Rust passthrough** (`bench/passthrough`, workers-rs): a wasm that does nearly nothing;
//! - **keygate** (`src/entry.js`, the `make worker` build);
//! - any other build named in `BENCH_COLD_ENTRIES` (`name=<path to its src/entry.js>`, comma
//!   separated; for example a split of the management API, built in another checkout).
//!
//! None has bindings or variables, so each first answer is that worker's own 500 for a missing
//! configuration: what differs between them is the script and the wasm. Per target it prints the
//! wasm's size, the medians and 90th percentiles over the rounds (`BENCH_COLD_ROUNDS`, default
//! 30) of the time to a listening socket and to the first answer, the second answer's time (the
//! warm isolate), and the median of each round's start-to-answer against the JS passthrough of
//! the same round. A benchmark, never a test: nothing here asserts anything about time.

use keygate_e2e::{env_or, free_port, median, repo_root};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One target: its name, the bundle directory `wrangler deploy --dry-run` wrote, and the
/// `modules` list of a `workerd` config for that bundle (its main module first).
struct Target {
    name: String,
    bundle: PathBuf,
    modules: String,
}

/// One cold start: to a listening socket, to the first answer, and the second answer's time.
struct Start {
    listen_ms: f64,
    first_ms: f64,
    second_ms: f64,
}

fn main() {
    let root = repo_root();
    let rounds = env_or("BENCH_COLD_ROUNDS", 30).max(3);
    let work = root.join("target/bench-cold");
    let _ = std::fs::remove_dir_all(&work);
    let date = compatibility_date(&root);
    let mut entries = vec![
        (
            "JS passthrough".to_owned(),
            root.join("bench/js/passthrough.js"),
        ),
        (
            "Rust passthrough".to_owned(),
            root.join("bench/passthrough/build/index.js"),
        ),
        ("keygate".to_owned(), root.join("src/entry.js")),
    ];
    if let Ok(extra) = std::env::var("BENCH_COLD_ENTRIES") {
        for item in extra.split(',').filter(|s| !s.trim().is_empty()) {
            let (name, path) = item
                .split_once('=')
                .expect("BENCH_COLD_ENTRIES: name=<path to src/entry.js>, comma separated");
            let path = Path::new(path.trim());
            let path = path
                .canonicalize()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            entries.push((name.trim().to_owned(), path));
        }
    }
    let targets: Vec<Target> = entries
        .iter()
        .enumerate()
        .map(|(i, (name, entry))| {
            let (bundle, modules) = bundle(&root, &work.join(format!("t{i}")), entry, &date);
            Target {
                name: name.clone(),
                bundle,
                modules,
            }
        })
        .collect();
    let workerd = workerd_binary(&root);

    // One start of each first, not counted: the page cache, the binary's first load.
    for t in &targets {
        start(&workerd, t, &date);
    }
    let mut results: Vec<Vec<Start>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        // Round k starts with target k (mod n): each goes first, and after each other, alike.
        for k in 0..targets.len() {
            let i = (round + k) % targets.len();
            results[i].push(start(&workerd, &targets[i], &date));
        }
        eprintln!("bench-cold: round {}/{rounds}", round + 1);
    }

    println!(
        "{rounds} cold starts each in a bare workerd ({}), interleaved; ms, median (p90)",
        workerd_version(&workerd)
    );
    println!(
        "{:<20} {:>10} {:>10} {:>16} {:>16} {:>16} {:>9} {:>16}",
        "target",
        "wasm raw",
        "wasm gz",
        "to listening",
        "to 1st answer",
        "1st answer",
        "2nd",
        "over JS (round)"
    );
    let total = |s: &Start| s.listen_ms + s.first_ms;
    for (t, r) in targets.iter().zip(&results) {
        let (raw, gz) = wasm_size(&t.bundle);
        let over: Vec<f64> = r
            .iter()
            .zip(&results[0])
            .map(|(s, js)| total(s) - total(js))
            .collect();
        println!(
            "{:<20} {:>10} {:>10} {:>16} {:>16} {:>16} {:>9.1} {:>+16.1}",
            t.name,
            raw,
            gz,
            mp(r.iter().map(|s| s.listen_ms).collect()),
            mp(r.iter().map(total).collect()),
            mp(r.iter().map(|s| s.first_ms).collect()),
            median(r.iter().map(|s| s.second_ms).collect()),
            median(over),
        );
    }
}

/// The `compatibility_date` of the repository's `wrangler.toml`, so every bundle gets keygate's.
fn compatibility_date(root: &Path) -> String {
    let toml = std::fs::read_to_string(root.join("wrangler.toml")).expect("wrangler.toml");
    toml.lines()
        .find_map(|l| l.strip_prefix("compatibility_date = "))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("wrangler.toml: compatibility_date")
}

/// The `workerd` binary the `workerd` npm package resolves for this platform (its `bin/workerd`
/// may be a Node script that only launches it, which would time Node's start as well).
fn workerd_binary(root: &Path) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![root.join("node_modules/.bin")];
    dirs.extend(std::env::split_paths(&path));
    let out = Command::new("node")
        .args(["-p", "require('workerd').default"])
        .current_dir(root)
        .env("PATH", std::env::join_paths(dirs).expect("PATH"))
        .output()
        .expect("node, to find the workerd binary (run through `make bench`)");
    assert!(
        out.status.success(),
        "require('workerd'): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binary = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        binary.is_file(),
        "no workerd binary at {}",
        binary.display()
    );
    binary
}

/// Bundles `entry` as `wrangler deploy` would, with no bindings, into `dir/out`. Returns that
/// directory and the `modules` list of a `workerd` config for it.
fn bundle(root: &Path, dir: &Path, entry: &Path, date: &str) -> (PathBuf, String) {
    std::fs::create_dir_all(dir).expect("bench dir");
    let cfg = format!(
        "name = \"bench-cold\"\nmain = \"{}\"\ncompatibility_date = \"{date}\"\n",
        entry.display()
    );
    std::fs::write(dir.join("wrangler.toml"), cfg).expect("wrangler.toml");
    let out = dir.join("out");
    let run = Command::new(root.join("node_modules/.bin/wrangler"))
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(&out)
        .current_dir(dir)
        .env("WRANGLER_SEND_METRICS", "false")
        .output()
        .expect("wrangler deploy --dry-run");
    assert!(
        run.status.success(),
        "wrangler deploy --dry-run for {}:\n{}",
        entry.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    // wrangler names the bundled entry after the entry file; workerd takes the first module as
    // the main one, so that one goes first whatever order the directory lists in.
    let main = entry.file_name().expect("entry file").to_string_lossy();
    let mut modules = Vec::new();
    let mut found_main = false;
    for file in std::fs::read_dir(&out).expect("bundle").flatten() {
        let name = file.file_name().to_string_lossy().into_owned();
        if name.ends_with(".js") {
            let module = format!("(name = \"{name}\", esModule = embed \"{name}\")");
            if name == main {
                found_main = true;
                modules.insert(0, module);
            } else {
                modules.push(module);
            }
        } else if name.ends_with(".wasm") {
            modules.push(format!("(name = \"{name}\", wasm = embed \"{name}\")"));
        }
    }
    assert!(found_main, "{}: no {main} in the bundle", out.display());
    (out, modules.join(", "))
}

/// A `workerd` config that serves `t`'s bundle on 127.0.0.1:`port`.
fn config(t: &Target, port: u16, date: &str) -> String {
    format!(
        "using Workerd = import \"/workerd/workerd.capnp\";\n\
         const config :Workerd.Config = (\n  \
           services = [ (name = \"main\", worker = .w) ],\n  \
           sockets = [ (name = \"http\", address = \"127.0.0.1:{port}\", http = (), service = \"main\") ],\n);\n\
         const w :Workerd.Worker = (\n  modules = [ {} ],\n  compatibilityDate = \"{date}\",\n);\n",
        t.modules
    )
}

/// Starts `workerd` on `t`'s bundle, waits for its socket, sends two requests, stops it.
fn start(workerd: &Path, t: &Target, date: &str) -> Start {
    let port = free_port();
    let config_path = t.bundle.join("config.capnp");
    std::fs::write(&config_path, config(t, port, date)).expect("config");
    let began = Instant::now();
    let child = Command::new(workerd)
        .arg("serve")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("workerd");
    let mut child = Killed(child);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) if began.elapsed() < Duration::from_secs(30) => {
                if let Ok(Some(status)) = child.0.try_wait() {
                    panic!("workerd for {} exited: {status}", t.name);
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            Err(e) => panic!("workerd for {} never listened: {e}", t.name),
        }
    };
    let listening = Instant::now();
    answer(stream, &t.name);
    let first = Instant::now();
    answer(TcpStream::connect(addr).expect("second"), &t.name);
    let second = Instant::now();
    Start {
        listen_ms: ms(listening - began),
        first_ms: ms(first - listening),
        second_ms: ms(second - first),
    }
}

/// Sends one request on `stream` and reads the answer to its end; it must be an HTTP answer.
fn answer(mut stream: TcpStream, name: &str) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
        .write_all(b"GET /bench HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut got = Vec::new();
    stream.read_to_end(&mut got).expect("answer");
    assert!(
        got.starts_with(b"HTTP/1.1 "),
        "{name}: not an HTTP answer: {:?}",
        String::from_utf8_lossy(&got[..got.len().min(80)])
    );
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workerd_version(workerd: &Path) -> String {
    Command::new(workerd)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The bundle's wasm, raw and `gzip -9`, or dashes when it has none.
fn wasm_size(bundle: &Path) -> (String, String) {
    let wasm = std::fs::read_dir(bundle)
        .expect("bundle")
        .flatten()
        .map(|f| f.path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"));
    let Some(wasm) = wasm else {
        return ("-".into(), "-".into());
    };
    let raw = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    let gz = Command::new("sh")
        .arg("-c")
        // From standard input: gzip would otherwise store the bundle's hashed file name.
        .arg(format!("gzip -9c < '{}' | wc -c", wasm.display()))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    (raw.to_string(), gz)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `median (p90)`, to one decimal.
fn mp(mut xs: Vec<f64>) -> String {
    xs.sort_by(|a, b| a.total_cmp(b));
    let p90 = xs[(xs.len() * 9 / 10).min(xs.len() - 1)];
    format!("{:.1} ({:.1})", xs[xs.len() / 2], p90)
}
