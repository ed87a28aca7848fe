//! The end-to-end harness: starts `wrangler dev` instances (each with its own config, ports and
//! `--persist-to`), a recording origin, and runs the `keygate` CLI against the same local KV.

use keygate_origin::{OriginConfig, Received};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The shared secret every test instance uses (except the ones testing its absence).
pub const SECRET: &str = "e2e-shared-secret-7f3a9c2d41b8e6f0";
/// The operator token of instances with the admin endpoint on.
pub const ADMIN_TOKEN: &str = "e2e-admin-token-5b1e07c9d2a4f863";

/// Locks `m`; a panic of a failed test that held it does not poison it for the others.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// A port nobody listens on right now.
/// A loopback port that was free just now and that this process has not handed out before (the
/// OS may offer a just-released port again while its first taker is still starting up).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = lock(&GIVEN);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A loopback port that is bound but never listens: connecting to it is refused at once, and
/// no other process can take it while this value lives.
pub struct ClosedPort {
    fd: libc::c_int,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> Self {
        // SAFETY: plain socket calls on a local fd and a zeroed, correctly sized sockaddr_in.
        unsafe {
            // CLOEXEC: a `wrangler dev` spawned later must not inherit the socket, or the port
            // stays bound after this value is dropped.
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket");
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let rc = libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len);
            assert_eq!(rc, 0, "bind");
            let mut out: libc::sockaddr_in = std::mem::zeroed();
            let mut out_len = len;
            let rc = libc::getsockname(fd, &mut out as *mut _ as *mut libc::sockaddr, &mut out_len);
            assert_eq!(rc, 0, "getsockname");
            Self {
                fd,
                port: u16::from_be(out.sin_port),
            }
        }
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ClosedPort {
    fn drop(&mut self) {
        // SAFETY: closes the fd this value owns, once.
        unsafe { libc::close(self.fd) };
    }
}

/// The recording origin, served from its own runtime for the whole run.
pub struct TestOrigin {
    _rt: tokio::runtime::Runtime,
    origin: keygate_origin::Origin,
}

impl TestOrigin {
    pub fn start(secret: Option<&str>, header: &str) -> Self {
        Self::start_config(OriginConfig {
            secret: secret.map(str::to_owned),
            header: header.to_owned(),
            ..OriginConfig::default()
        })
    }

    /// Starts an origin configured as `cfg` says, with the test routes and recording on.
    pub fn start_config(cfg: OriginConfig) -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("addr"), cfg, None)
    }

    /// Starts an origin on `addr` that checks requests with `verifier` when given (e.g. one
    /// with an injected clock), else with the one `cfg` describes.
    pub fn start_on(
        addr: SocketAddr,
        cfg: OriginConfig,
        verifier: Option<keygate_verify::Verifier>,
    ) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let cfg = OriginConfig {
            test_routes: true,
            record: true,
            ..cfg
        };
        let origin = rt
            .block_on(async {
                match verifier {
                    Some(v) => keygate_origin::spawn_with(addr, cfg, v).await,
                    None => keygate_origin::spawn(addr, cfg).await,
                }
            })
            .expect("origin listens");
        Self { _rt: rt, origin }
    }

    /// The origin's verifier: `set_secrets` on it changes what the running origin accepts.
    pub fn verifier(&self) -> &keygate_verify::Verifier {
        self.origin.verifier()
    }

    pub fn addr(&self) -> SocketAddr {
        self.origin.addr
    }

    pub fn received(&self) -> Vec<Received> {
        self.origin.received()
    }

    /// Requests received whose target contains `marker`: tests tag their paths with a unique
    /// marker so they can run in parallel against one origin.
    pub fn received_with(&self, marker: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.target.contains(marker))
            .collect()
    }

    /// The targets of [`TestOrigin::received_with`], in the order received.
    pub fn targets_with(&self, marker: &str) -> Vec<String> {
        self.received_with(marker)
            .into_iter()
            .map(|r| r.target)
            .collect()
    }
}

/// One `wrangler dev` instance with its own config file, ports and state directory.
pub struct Dev {
    pub name: String,
    pub base: String,
    pub dir: PathBuf,
    /// `--persist-to`: `dir/state`, or a peer's (see [`Setup::peer`]).
    state: PathBuf,
    port: u16,
    inspector: u16,
    /// Fixture worker configs started in the same `wrangler dev` session.
    fixtures: Vec<PathBuf>,
    /// The `--env` the instance runs (see [`Setup::env`]).
    env: Option<String>,
    child: Mutex<Child>,
    /// Held by each `wrangler kv` call: tests sharing an instance write its local KV one at a
    /// time (at the same moment, wrangler's local store drops connections).
    kv_writes: Mutex<()>,
}

/// How an instance is wired, beyond its `[vars]`.
#[derive(Clone, Copy, Default)]
pub struct Setup<'a> {
    /// `API_KEYS` is bound to a worker whose reads throw.
    pub failing_kv: bool,
    /// `QUOTAS` is bound to a Durable Object whose calls throw.
    pub failing_quota: bool,
    /// `MANAGEMENT_LOG` (the management API's audit and idempotency store) is bound to a
    /// Durable Object whose calls throw.
    pub failing_log: bool,
    /// The management API's per-address limit (`MGMT_IP_LIMIT`), requests per 60 s; `None`:
    /// [`MGMT_LIMIT_DEFAULT`].
    pub mgmt_ip_limit: Option<u32>,
    /// The management API's per-root-key limit (`MGMT_KEY_LIMIT`), requests per 60 s; `None`:
    /// [`MGMT_LIMIT_DEFAULT`].
    pub mgmt_key_limit: Option<u32>,
    /// Appended to the generated `wrangler.toml` (e.g. `[[ratelimits]]` blocks).
    pub extra_toml: &'a str,
    /// Another worker script instead of keygate's (a bench baseline), with no bindings but
    /// what `extra_toml` declares.
    pub script: Option<&'a Path>,
    /// Another keygate entry instead of `src/entry.js`, with the usual bindings (the
    /// fault-injection build, `src/entry-faults.js`).
    pub main: Option<&'a Path>,
    /// Another location of the same deployment: this instance shares the peer's KV (its
    /// `--persist-to` state) and binds the peer's management log (`script_name`), but is an
    /// isolate of its own, so it learns of the peer's management writes only from the change
    /// feed. The peer must be running.
    pub peer: Option<&'a Dev>,
    /// Runs `wrangler dev --env NAME`; `extra_toml` must then define `[env.NAME]`, which
    /// inherits none of the top level's bindings or vars (as in a real `wrangler.toml`).
    pub env: Option<&'a str>,
}

/// The management limits of an instance whose [`Setup`] names none: far above what any suite
/// sends in a minute (a permission matrix, a schemathesis run), so only a test that sets a small
/// limit on purpose meets a 429. (`wrangler.toml` has 120 per address and 600 per root key.)
pub const MGMT_LIMIT_DEFAULT: u32 = 100_000;

/// The Durable Object migrations, as `wrangler.toml` declares them.
const MIGRATIONS_TOML: &str =
    "[[migrations]]\ntag = \"v1\"\nnew_sqlite_classes = [\"QuotaCounter\"]\n\n\
     [[migrations]]\ntag = \"v2\"\nnew_sqlite_classes = [\"ManagementLog\"]\n";

/// The Durable Object bindings, migrations and management rate limits of a keygate instance
/// (as `wrangler.toml` declares them, with the failing stand-ins and limits `setup` asks for).
fn keygate_bindings_toml(setup: &Setup<'_>) -> String {
    let quotas = if setup.failing_quota {
        "{ name = \"QUOTAS\", class_name = \"FailingQuota\", script_name = \"keygate-e2e-failing-quota\" }"
    } else {
        "{ name = \"QUOTAS\", class_name = \"QuotaCounter\" }"
    };
    let log = match setup.peer {
        _ if setup.failing_log => "{ name = \"MANAGEMENT_LOG\", class_name = \"FailingLog\", script_name = \"keygate-e2e-failing-log\" }".to_owned(),
        Some(peer) => format!(
            "{{ name = \"MANAGEMENT_LOG\", class_name = \"ManagementLog\", script_name = \"keygate-e2e-{}\" }}",
            peer.name
        ),
        None => "{ name = \"MANAGEMENT_LOG\", class_name = \"ManagementLog\" }".to_owned(),
    };
    let ip = setup.mgmt_ip_limit.unwrap_or(MGMT_LIMIT_DEFAULT);
    let key = setup.mgmt_key_limit.unwrap_or(MGMT_LIMIT_DEFAULT);
    format!(
        "[durable_objects]\nbindings = [\n  {quotas},\n  {log},\n]\n\n{MIGRATIONS_TOML}\n\
         [[ratelimits]]\nname = \"MGMT_IP_LIMIT\"\nnamespace_id = \"8101\"\n\
         simple = {{ limit = {ip}, period = 60 }}\n\n\
         [[ratelimits]]\nname = \"MGMT_KEY_LIMIT\"\nnamespace_id = \"8102\"\n\
         simple = {{ limit = {key}, period = 60 }}\n"
    )
}

impl Dev {
    /// Starts an instance with these `[vars]` and local KV, and waits until it answers HTTP.
    pub fn start(name: &str, vars: &[(&str, &str)]) -> Dev {
        Self::start_setup(name, vars, Setup::default())
    }

    /// Like [`Dev::start`]; with `failing_kv`, `API_KEYS` is bound to a worker whose reads throw.
    pub fn start_with(name: &str, vars: &[(&str, &str)], failing_kv: bool) -> Dev {
        Self::start_setup(
            name,
            vars,
            Setup {
                failing_kv,
                ..Setup::default()
            },
        )
    }

    /// Starts a recording origin that expects [`SECRET`] and an instance of its own in front of
    /// it (`ORIGIN_URL` and `SHARED_SECRET` set, then `vars`), wired as `setup` says.
    pub fn start_with_origin(
        name: &str,
        vars: &[(&str, &str)],
        setup: Setup<'_>,
    ) -> (TestOrigin, Dev) {
        let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
        let url = format!("http://{}", origin.addr());
        let mut all = vec![("ORIGIN_URL", url.as_str()), ("SHARED_SECRET", SECRET)];
        all.extend_from_slice(vars);
        let dev = Self::start_setup(name, &all, setup);
        (origin, dev)
    }

    /// Starts an instance wired as `setup` says.
    pub fn start_setup(name: &str, vars: &[(&str, &str)], setup: Setup<'_>) -> Dev {
        let root = repo_root();
        // keygate's own entry imports the wasm build that `make worker` writes.
        let (main, built) = match setup.script.or(setup.main) {
            Some(path) => (path.to_path_buf(), path.to_path_buf()),
            None => (root.join("src/entry.js"), root.join("build/index.js")),
        };
        for needed in [&main, &built] {
            assert!(
                needed.is_file(),
                "{} is missing: run the end-to-end suite through `make test`, which builds the worker",
                needed.display()
            );
        }
        let dir = root.join("target/e2e").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("e2e dir");
        // A bench baseline script gets no bindings at all.
        let bare = setup.script.is_some();
        let store = if bare {
            ""
        } else if setup.failing_kv {
            "[[services]]\nbinding = \"API_KEYS\"\nservice = \"keygate-e2e-failing-kv\"\n"
        } else {
            "[[kv_namespaces]]\nbinding = \"API_KEYS\"\nid = \"e2e\"\n"
        };
        let objects = if bare {
            String::new()
        } else {
            keygate_bindings_toml(&setup)
        };
        let mut fixtures = Vec::new();
        for (on, fixture, class) in [
            (setup.failing_kv, "failing-kv", None),
            (setup.failing_quota, "failing-quota", Some("FailingQuota")),
            (setup.failing_log, "failing-log", Some("FailingLog")),
        ] {
            if !on {
                continue;
            }
            let script = root.join(format!("tests/e2e/fixtures/{fixture}.js"));
            let mut config = format!(
                "name = \"keygate-e2e-{fixture}\"\nmain = {:?}\ncompatibility_date = \"2026-11-01\"\n",
                script.display().to_string()
            );
            if let Some(class) = class {
                config.push_str(&format!(
                    "\n[durable_objects]\nbindings = [{{ name = \"SELF\", class_name = \"{class}\" }}]\n\n\
                     [[migrations]]\ntag = \"v1\"\nnew_sqlite_classes = [\"{class}\"]\n",
                ));
            }
            let path = dir.join(format!("{fixture}.toml"));
            std::fs::write(&path, config).expect("write fixture config");
            fixtures.push(path);
        }
        let mut toml = format!(
            "name = \"keygate-e2e-{name}\"\nmain = {main:?}\ncompatibility_date = \"2026-11-01\"\n\n\
             {store}\n{objects}\n{extra}\n[vars]\n",
            main = main.display().to_string(),
            extra = setup.extra_toml,
        );
        // Secrets go to .dev.vars, as users keep them: wrangler prints [vars] values but hides these.
        let mut dev_vars = String::new();
        for (k, v) in vars {
            if (k.contains("SECRET") || k.contains("TOKEN")) && !k.ends_with("_HEADER") {
                dev_vars.push_str(&format!("{k}={v:?}\n"));
            } else {
                toml.push_str(&format!("{k} = {v:?}\n"));
            }
        }
        std::fs::write(dir.join("wrangler.toml"), toml).expect("write config");
        std::fs::write(dir.join(".dev.vars"), dev_vars).expect("write .dev.vars");

        let state = setup.peer.map_or_else(|| dir.join("state"), Dev::state);
        // Another process can still take a port between our check and wrangler's bind: then
        // wrangler exits with "Address already in use", and the instance starts again on others.
        let mut attempt = 1;
        loop {
            let port = free_port();
            let inspector = free_port();
            let child = Self::spawn(&dir, &state, port, inspector, &fixtures, setup.env);
            let dev = Dev {
                name: name.to_owned(),
                base: format!("http://127.0.0.1:{port}"),
                dir: dir.clone(),
                state: state.clone(),
                port,
                inspector,
                fixtures: fixtures.clone(),
                env: setup.env.map(str::to_owned),
                child: Mutex::new(child),
                kv_writes: Mutex::new(()),
            };
            match dev.try_ready(Duration::from_secs(180)) {
                Ok(()) => return dev,
                Err(e) if attempt < 3 && e.contains("Address already in use") => {
                    eprintln!("wrangler dev '{name}': port taken, starting again on other ports");
                    attempt += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn spawn(
        dir: &Path,
        state: &Path,
        port: u16,
        inspector: u16,
        fixtures: &[PathBuf],
        env: Option<&str>,
    ) -> Child {
        let root = repo_root();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("wrangler.log"))
            .expect("log file");
        let mut cmd = Command::new(root.join("node_modules/.bin/wrangler"));
        cmd.args(["dev", "--config"]).arg(dir.join("wrangler.toml"));
        for f in fixtures {
            cmd.arg("--config").arg(f);
        }
        if let Some(env) = env {
            cmd.args(["--env", env]);
        }
        cmd.args([
            "--port",
            &port.to_string(),
            "--inspector-port",
            &inspector.to_string(),
        ])
        .args(["--ip", "127.0.0.1", "--persist-to"])
        .arg(state)
        .current_dir(dir)
        .env("PATH", node_path())
        .env("WRANGLER_SEND_METRICS", "false")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.spawn()
            .expect("spawn wrangler dev (run `make test`, which installs it)")
    }

    /// Sets (or adds) a `.dev.vars` entry, as an operator changes a secret; it takes effect at
    /// the next [`Dev::restart`].
    pub fn set_secret(&self, name: &str, value: &str) {
        let path = self.dir.join(".dev.vars");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let prefix = format!("{name}=");
        let mut vars: Vec<String> = old
            .lines()
            .filter(|l| !l.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        vars.push(format!("{name}={value:?}"));
        std::fs::write(&path, vars.join("\n") + "\n").expect("write .dev.vars");
    }

    /// Stops `wrangler dev` and starts it again on the same ports and state directory.
    pub fn restart(&self) {
        {
            let mut child = lock(&self.child);
            stop(&mut child);
            *child = Self::spawn(
                &self.dir,
                &self.state,
                self.port,
                self.inspector,
                &self.fixtures,
                self.env.as_deref(),
            );
        }
        if let Err(e) = self.try_ready(Duration::from_secs(180)) {
            panic!("{e}");
        }
    }

    /// Waits until this instance serves: its own log says `Ready on` its port (so an answer on
    /// the port cannot come from another process that took it first) and the port answers HTTP.
    /// Called right after a spawn, so only what the log gains from here on counts.
    fn try_ready(&self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        let log_before = self.logs().len();
        let ready_line = format!("Ready on {}", self.base);
        let says_ready = || {
            let logs = self.logs();
            logs.get(log_before..)
                .is_some_and(|new| new.lines().any(|l| l.trim_end().ends_with(&ready_line)))
        };
        let addr: SocketAddr = self
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("addr");
        loop {
            if let Some(status) = self
                .child
                .lock()
                .expect("child")
                .try_wait()
                .expect("try_wait")
            {
                return Err(format!(
                    "wrangler dev '{}' exited early ({status}); log:\n{}",
                    self.name,
                    self.logs()
                ));
            }
            if !says_ready() {
                // Not up yet (or the port is someone else's): look again shortly.
            } else if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
            {
                let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                let _ =
                    s.write_all(b"GET /__ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1") {
                    return Ok(());
                }
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "wrangler dev '{}' not ready after {limit:?}; log:\n{}",
                    self.name,
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("wrangler.toml")
    }

    pub fn state(&self) -> PathBuf {
        self.state.clone()
    }

    /// The port of `wrangler dev`'s inspector (`--inspector-port`): its `/json` lists the
    /// worker's DevTools target (scripts/profile.mjs records a CPU profile through it).
    pub fn inspector_port(&self) -> u16 {
        self.inspector
    }

    /// Waits up to 10 s for `needle` to appear in the log (wrangler writes it asynchronously).
    pub fn log_contains(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.logs().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything wrangler and the worker printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("wrangler.log")).unwrap_or_default()
    }

    /// Every request log line (`keygate_core::telemetry::LOG_EVENT`) written so far, parsed.
    pub fn request_logs(&self) -> Vec<serde_json::Value> {
        self.logs()
            .lines()
            .filter_map(|l| {
                // `console.error` lines come wrapped in wrangler's "✘ [ERROR]" and colour codes.
                let json = l.get(l.find('{')?..=l.rfind('}')?)?;
                let v: serde_json::Value = serde_json::from_str(json).ok()?;
                (v["event"] == keygate_core::telemetry::LOG_EVENT).then_some(v)
            })
            .collect()
    }

    /// The request log line of the request with this id, waiting up to 10 s for it (the line is
    /// written after the answer, under `wait_until`). Panics unless there is exactly one.
    pub fn request_log(&self, request_id: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut lines: Vec<_> = self
                .request_logs()
                .into_iter()
                .filter(|v| v["request_id"] == request_id)
                .collect();
            match lines.len() {
                1 => return lines.remove(0),
                0 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                n => panic!("{n} request log lines for {request_id} in '{}'", self.name),
            }
        }
    }

    /// Runs the `keygate` CLI against this instance's local KV.
    pub fn keygate(&self, args: &[&str]) -> Output {
        self.keygate_with(args, None, &[])
    }

    /// Runs the CLI with optional stdin and extra environment.
    pub fn keygate_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(keygate_bin());
        cmd.args(args)
            .arg("--config")
            .arg(self.config())
            .arg("--persist-to")
            .arg(self.state())
            .current_dir(repo_root())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn keygate");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("keygate output")
    }

    /// Creates a key with the CLI and returns it; panics with the CLI's stderr on failure.
    pub fn create_key(&self, extra: &[&str]) -> String {
        let mut args = vec!["create"];
        args.extend_from_slice(extra);
        if !extra.contains(&"--name") {
            args.extend(["--name", "e2e"]);
        }
        let out = self.keygate(&args);
        assert!(
            out.status.success(),
            "keygate create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_owned();
        remember_key(&key);
        key
    }

    /// Writes a raw value under a KV key name, bypassing the CLI (for corrupt or crafted records).
    pub fn kv_put_raw(&self, name: &str, value: &str) {
        self.wrangler_kv(&["key", "put", name, value]);
    }

    /// Writes many entries (`{"key", "value"[, "metadata"]}`) at once with `wrangler kv bulk put`.
    pub fn kv_bulk_put(&self, entries: &[serde_json::Value]) {
        // A file of its own: tests sharing an instance may write at the same time.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = self.dir.join(format!("bulk-put-{n}.json"));
        std::fs::write(&file, serde_json::Value::from(entries).to_string()).expect("write entries");
        self.wrangler_kv(&["bulk", "put", file.to_str().expect("utf-8 path")]);
    }

    /// Runs `wrangler kv …` against this instance's local KV and insists it succeeds. Like the
    /// CLI, it tries a call answered 5xx, or whose connection was lost, twice more: wrangler's
    /// local store gives one now and then when another process writes at the same moment (a
    /// running instance, its peer), and these writes are idempotent.
    fn wrangler_kv(&self, args: &[&str]) {
        let _one_at_a_time = lock(&self.kv_writes);
        let mut tries = 0;
        loop {
            tries += 1;
            let out = Command::new(repo_root().join("node_modules/.bin/wrangler"))
                .arg("kv")
                .args(args)
                .args(["--binding", "API_KEYS", "--local", "--config"])
                .arg(self.config())
                .arg("--persist-to")
                .arg(self.state())
                .env("PATH", node_path())
                .env("WRANGLER_SEND_METRICS", "false")
                .output()
                .expect("run wrangler kv");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let server_error = stderr.contains(" failed: 5")
                || stderr.contains("internal error")
                || stderr.contains("Network connection lost");
            if out.status.success() || !server_error || tries == 3 {
                assert!(
                    out.status.success(),
                    "wrangler kv {args:?} failed after {tries} tries: {stderr}"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(300 * tries));
        }
    }

    /// The CPU time (user + system, in seconds) used so far by this instance's `workerd`
    /// processes: the sum of `utime` and `stime` in `/proc/<pid>/stat` over every process named
    /// `workerd` in the process group of the `wrangler dev` child (spawned with
    /// `process_group(0)`, so its pid is the group's id). Wrangler 4 runs two, both on every
    /// request: its proxy, which serves the public port, and the one that runs the worker. The
    /// wrangler (node) process itself is not counted. The resolution is a clock tick (10 ms at the usual 100 Hz), so read it before
    /// and after thousands of requests. Panics when the group holds no `workerd`.
    pub fn workerd_cpu_secs(&self) -> f64 {
        self.cpu_secs(true)
    }

    /// The user + system CPU time, in seconds, of every process in the instance's process
    /// group: the `workerd` processes and wrangler (node) itself, which receives and prints the
    /// worker's log lines.
    pub fn group_cpu_secs(&self) -> f64 {
        self.cpu_secs(false)
    }

    /// Waits until the instance's process group has used no more than a clock tick of CPU over
    /// `window` (up to `limit`), so that work a run left behind (log lines on their way through
    /// wrangler, above all) is done before the next measurement starts. Returns how long it
    /// waited.
    pub fn wait_until_quiet(&self, window: Duration, limit: Duration) -> Duration {
        let started = Instant::now();
        let mut last = self.group_cpu_secs();
        loop {
            std::thread::sleep(window);
            let now = self.group_cpu_secs();
            if now - last <= 0.0101 || started.elapsed() >= limit {
                return started.elapsed();
            }
            last = now;
        }
    }

    fn cpu_secs(&self, only_workerd: bool) -> f64 {
        let pgid = lock(&self.child).id().to_string();
        // SAFETY: sysconf reads a system constant; no memory is involved.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
        let mut found = 0;
        let mut total = 0u64;
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid pgrp … utime stime …`; comm may hold spaces and parentheses.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let comm = &stat[open + 1..close];
            // Fields from the 3rd (state) on: pgrp is the 5th, utime the 14th, stime the 15th.
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            if (only_workerd && comm != "workerd") || fields.get(2) != Some(&pgid.as_str()) {
                continue;
            }
            let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            if let (Some(utime), Some(stime)) = (field(11), field(12)) {
                found += usize::from(comm == "workerd");
                total += utime + stime;
            }
        }
        assert!(
            found > 0,
            "wrangler dev '{}': no workerd process in its process group {pgid} (is it running?)",
            self.name
        );
        total as f64 / ticks
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let mut child = lock(&self.child);
        stop(&mut child);
    }
}

/// Ends a `wrangler dev` and everything it started (workerd is its child): the process group.
fn stop(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
}

fn node_path() -> std::ffi::OsString {
    let mut paths = vec![repo_root().join("node_modules/.bin")];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).expect("PATH")
}

/// Set by `scripts/test.sh` when it runs a test binary beside `cargo test` (which holds cargo's
/// lock until it ends): the CLI is already built, and [`keygate_bin`] must not call cargo.
pub const CLI_PREBUILT_ENV: &str = "KEYGATE_E2E_CLI_PREBUILT";

/// The `keygate` binary, built once per run from this workspace.
pub fn keygate_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os(CLI_PREBUILT_ENV) {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{CLI_PREBUILT_ENV}: {} is missing",
                path.display()
            );
            return path;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "keygate-cli", "--bin", "keygate"])
            .current_dir(repo_root())
            .status()
            .expect("cargo build keygate");
        assert!(status.success(), "building the keygate CLI failed");
        // The test binary lives in target/<profile>/deps/, a bench binary in target/<profile>/;
        // the CLI was built above with the dev profile, into target/debug/.
        let exe = std::env::current_exe().expect("current exe");
        let mut dir = exe.parent().expect("exe dir");
        if dir.ends_with("deps") {
            dir = dir.parent().expect("profile dir");
        }
        dir.parent().expect("target dir").join("debug/keygate")
    })
    .clone()
}

static KEYS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static EXTRA_SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records another secret a test uses (beside [`SECRET`] and [`ADMIN_TOKEN`]), so responses
/// and logs are scanned for it too.
pub fn remember_secret(secret: &str) {
    lock(&EXTRA_SECRETS).push(secret.to_owned());
}

/// Records a plaintext key so responses and logs can be scanned for it.
pub fn remember_key(key: &str) {
    lock(&KEYS).push(key.to_owned());
}

/// Every secret the run knows: the shared secret, every key and every full key hash.
pub fn secrets() -> Vec<String> {
    let keys = lock(&KEYS).clone();
    let mut out = vec![SECRET.to_owned(), ADMIN_TOKEN.to_owned()];
    out.extend(lock(&EXTRA_SECRETS).iter().cloned());
    for k in keys {
        out.push(
            keygate_core::ApiKey::new(k.as_str())
                .hash()
                .as_kv_key()
                .to_owned(),
        );
        out.push(k);
    }
    out
}

/// Fails if `text` contains any known secret. `what` names the place for the message.
pub fn assert_no_secrets(what: &str, text: &str) {
    for s in secrets() {
        assert!(
            !text.contains(&s),
            "{what} leaks a secret ({}…)",
            &s[..6.min(s.len())]
        );
    }
}

/// A response as the client saw it.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    /// Lower-case names, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// Checks the RFC 9457 problem shape and the headers every error carries; returns the body.
    pub fn problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.header("cache-control"), Some("no-store"));
        let p = self.json();
        assert_eq!(p["status"], status);
        for field in ["type", "title", "detail", "request_id"] {
            assert!(
                p[field].as_str().is_some_and(|s| !s.is_empty()),
                "problem lacks {field}: {p}"
            );
        }
        assert_eq!(self.header("x-request-id"), p["request_id"].as_str());
        p
    }

    fn scan(self) -> Self {
        let mut all = String::new();
        for (n, v) in &self.headers {
            all.push_str(&format!("{n}: {v}\n"));
        }
        all.push_str(&String::from_utf8_lossy(&self.body));
        assert_no_secrets("a response", &all);
        self
    }
}

/// A problem body without its per-request `request_id`, for comparing two refusals.
pub fn without_request_id(mut problem: serde_json::Value) -> serde_json::Value {
    problem
        .as_object_mut()
        .expect("a problem body is a JSON object")
        .remove("request_id");
    problem
}

/// A blocking client that never follows redirects and never adds credentials.
pub fn client() -> &'static reqwest::blocking::Client {
    static C: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    C.get_or_init(|| {
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
    })
}

/// Sends a request with reqwest; every response is scanned for leaked secrets.
pub fn send(req: reqwest::blocking::RequestBuilder) -> Resp {
    let r = req.send().expect("request");
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = r.bytes().expect("body").to_vec();
    Resp {
        status,
        headers,
        body,
    }
    .scan()
}

/// The `Authorization` value that carries `key`.
pub fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// GET with an optional bearer key.
pub fn get(url: &str, key: Option<&str>) -> Resp {
    get_with(url, key, &[])
}

/// One bench request: GET `url` with `key`, timed from send to the last byte of the body. It
/// must be answered 200.
pub fn timed_get(url: &str, key: &str) -> Duration {
    let start = Instant::now();
    let r = client()
        .get(url)
        .header("authorization", bearer(key))
        .send()
        .expect("request");
    let status = r.status().as_u16();
    let _ = r.bytes();
    let took = start.elapsed();
    assert_eq!(status, 200, "bench request refused");
    took
}

/// GET with an optional bearer key and these header fields besides.
pub fn get_with(url: &str, key: Option<&str>, headers: &[(&str, &str)]) -> Resp {
    let mut req = client().get(url);
    if let Some(k) = key {
        req = req.header("authorization", bearer(k));
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(req)
}

/// Sends `n` GETs with `key` through `dev`, to `{path}/0` … `{path}/{n-1}`, from 4 threads;
/// every one must get a 200. Returns the answers in the order of their paths.
pub fn batch(dev: &Dev, key: &str, path: &str, n: usize) -> Vec<Resp> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut answers: Vec<(usize, Resp)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= n {
                            return mine;
                        }
                        let r = get(&dev.url(&format!("{path}/{i}")), Some(key));
                        assert_eq!(r.status, 200, "request {i} of {path}: {}", r.text());
                        mine.push((i, r));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("batch worker"))
            .collect()
    });
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, r)| r).collect()
}

/// A signed request as the origin received it: its target and the header fields the gateway's
/// signature covers.
pub struct Captured {
    /// The signature's time, `t=` of `X-Keygate-Signature`.
    pub t: u64,
    pub target: String,
    pub signature: String,
    pub consumer: String,
    pub key_id: String,
}

impl Captured {
    /// Sends a GET for `path` with `key` through `dev` (it must get a 200) and reads the one
    /// request `origin` received for it.
    pub fn through(dev: &Dev, origin: &TestOrigin, key: &str, path: &str) -> Captured {
        let r = get(&dev.url(path), Some(key));
        assert_eq!(r.status, 200, "{}", r.text());
        let got = origin.received_with(path.trim_start_matches('/'));
        assert_eq!(got.len(), 1, "{got:?}");
        let one = |h: &str| {
            got[0]
                .one(h)
                .unwrap_or_else(|| panic!("origin received no single {h}"))
                .to_owned()
        };
        let signature = one("x-keygate-signature");
        let t = signature
            .strip_prefix("t=")
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no t=<digits> in {signature}"));
        Captured {
            t,
            target: got[0].target.clone(),
            signature,
            consumer: one("x-consumer-id"),
            key_id: one("x-key-id"),
        }
    }

    /// The signed header fields as captured, to send the request again.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        self.headers_for(&self.consumer)
    }

    /// The signed header fields with `consumer` in place of the captured one.
    pub fn headers_for<'a>(&'a self, consumer: &'a str) -> Vec<(&'static str, &'a str)> {
        vec![
            ("x-keygate-signature", self.signature.as_str()),
            ("x-consumer-id", consumer),
            ("x-key-id", self.key_id.as_str()),
        ]
    }
}

/// A request with exactly these header fields, sent with [`send`].
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = client().request(method.parse().expect("method"), url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(req)
}

/// Sends raw bytes as one HTTP/1.1 request (for what well-behaved clients refuse to send)
/// and reads the answer until the server closes.
pub fn raw(base: &str, request: &[u8]) -> Resp {
    try_raw(base, request)
        .unwrap_or_else(|buf| panic!("no complete response: {:?}", String::from_utf8_lossy(&buf)))
}

/// Like [`raw`], for requests a server may refuse by closing the connection: a write error is
/// not fatal, and when no response head arrives the bytes received (perhaps none) are returned.
pub fn try_raw(base: &str, request: &[u8]) -> Result<Resp, Vec<u8>> {
    let addr: SocketAddr = base.trim_start_matches("http://").parse().expect("addr");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    // The server may answer and close before reading everything (a refused oversized head).
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // Read until the response is complete by its own framing: the server may keep the socket open.
    loop {
        if let Some(resp) = try_parse(&buf) {
            return Ok(resp.scan());
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    match split_head(&buf) {
        Some((status, headers, start)) => Ok(Resp {
            status,
            headers,
            body: buf[start..].to_vec(),
        }
        .scan()),
        None => Err(buf),
    }
}

/// Header fields as (lower-case name, value), in order.
pub type HeaderList = Vec<(String, String)>;

fn split_head(buf: &[u8]) -> Option<(u16, HeaderList, usize)> {
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((status, headers, split + 4))
}

fn try_parse(buf: &[u8]) -> Option<Resp> {
    let (status, headers, start) = split_head(buf)?;
    let body = &buf[start..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        return (body.len() >= len).then(|| Resp {
            status,
            headers: headers.clone(),
            body: body[..len].to_vec(),
        });
    }
    if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return body.ends_with(b"0\r\n\r\n").then(|| Resp {
            status,
            body: dechunk(body),
            headers,
        });
    }
    None
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Sleeps until the Unix second `t` is over (a key's expiry, say).
pub fn sleep_past(t: u64) {
    std::thread::sleep(Duration::from_secs(t.saturating_sub(unix_now()) + 1));
}

/// Sleeps past the end of the current `period`-second window (aligned to the Unix epoch) when
/// fewer than `margin` seconds of it are left, so a counting test never straddles two windows.
pub fn avoid_window_edge(period: u64, margin: u64) {
    let left = period - unix_now() % period;
    if left < margin {
        std::thread::sleep(Duration::from_secs(left + 1));
    }
}

/// A key of keygate's format made from `tag` and this process's id (so runs never share one),
/// remembered for the response and log scans. For records written straight into KV.
pub fn crafted_key(tag: &str) -> String {
    use sha2::{Digest, Sha256};
    let random = hex::encode(Sha256::digest(format!("{tag}-{}", std::process::id())));
    let key = keygate_core::keyformat::assemble(&random[..43]);
    remember_key(&key);
    key
}

/// A key's public id: the first characters of its SHA-256 hash, as logs and the CLI show it.
pub fn key_id(key: &str) -> String {
    keygate_core::ApiKey::new(key).hash().id().to_owned()
}

/// A unique marker for a test's request paths.
pub fn marker(test: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{test}-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A libtest-mimic trial: runs `f`, and turns its panic into the failure message.
pub fn trial(name: impl Into<String>, f: impl FnOnce() + Send + 'static) -> libtest_mimic::Trial {
    libtest_mimic::Trial::test(name, move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
                .into()
        })
    })
}

/// Scans each instance's wrangler log for any key, full key hash or secret the run knows;
/// prints the outcome and returns whether every log is clean.
pub fn logs_are_clean(devs: &[&Dev]) -> bool {
    let mut clean = true;
    for dev in devs {
        let logs = dev.logs();
        let scan = std::panic::catch_unwind(|| {
            assert_no_secrets(&format!("wrangler log '{}'", dev.name), &logs)
        });
        if let Err(e) = scan {
            eprintln!("log scan failed: {:?}", e.downcast_ref::<String>());
            clean = false;
        }
    }
    if clean {
        eprintln!("log scan: no key, full key hash or shared secret in any wrangler log");
    }
    clean
}

/// A named test over a shared context.
pub type NamedTest<C> = (&'static str, fn(&C));

/// A binary's tests as [`NamedTest`]s, each registered as `group::function` with the function's
/// own name (`stringify!`), so the name a run prints is the function to look for:
///
/// - `named_tests![contract::{a, b}, forward::{c}]` takes `contract::a`, `contract::b` and
///   `forward::c` from those modules (a binary split into modules);
/// - `named_tests![secret: [a, b], rotation: [c]]` takes `a`, `b` and `c` from the scope and
///   registers them as `secret::a`, `secret::b` and `rotation::c` (a binary in one file, where
///   the group is a label).
#[macro_export]
macro_rules! named_tests {
    ($($module:ident :: { $($f:ident),* $(,)? }),* $(,)?) => {
        vec![$($(
            (
                concat!(stringify!($module), "::", stringify!($f)),
                $module::$f as fn(&_),
            ),
        )*)*]
    };
    ($($group:ident : [ $($f:ident),* $(,)? ]),* $(,)?) => {
        vec![$($(
            (concat!(stringify!($group), "::", stringify!($f)), $f as fn(&_)),
        )*)*]
    };
}

/// One trial a test, each run against the shared context.
pub fn trials<C: Send + Sync + 'static>(
    ctx: &std::sync::Arc<C>,
    tests: Vec<NamedTest<C>>,
) -> Vec<libtest_mimic::Trial> {
    tests
        .into_iter()
        .map(|(name, f)| {
            let ctx = ctx.clone();
            trial(name, move || f(&ctx))
        })
        .collect()
}

/// Ends a test binary after its run: `clean` checks what must hold afterwards (the log scans),
/// then `ctx` is dropped, stopping its instances (`exit` would skip that), and the process exits
/// with libtest's code, or 101 when `clean` said no.
pub fn conclude<C>(
    conclusion: libtest_mimic::Conclusion,
    ctx: std::sync::Arc<C>,
    clean: impl FnOnce(&C) -> bool,
) -> ! {
    let clean = clean(&ctx);
    drop(ctx);
    if !clean {
        std::process::exit(101);
    }
    conclusion.exit()
}

/// A numeric setting of a `make bench` driver from the environment (`BENCH_REQUESTS` …), or
/// `default` when it is unset or not a number.
/// The median of a bench's figures (the upper one of the middle two for an even count).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The bench drivers' origin: the release-built demo origin (`keygate-demo-origin`, which `make
/// bench` builds) on a loopback port of its own, expecting [`SECRET`]; killed on drop.
pub struct ReleaseOrigin {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ReleaseOrigin {
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new(repo_root().join("target/release/keygate-demo-origin"))
            .arg(format!("127.0.0.1:{port}"))
            .env("SHARED_SECRET", SECRET)
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "start target/release/keygate-demo-origin (make bench and make profile build it)",
            );
        ReleaseOrigin {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for ReleaseOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
