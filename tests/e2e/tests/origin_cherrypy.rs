//! The CherryPy origin verifier (`examples/origin-cherrypy`) end to end: its `app.py` runs with
//! the Python of `target/venv-cherrypy` behind a real keygate under `wrangler dev`. The static
//! secret through the gateway and around it, an app without a secret, a secret rotation in which
//! no request is refused, and signed requests (`SIGNING=hmac-only`, and the gateway's own
//! signature replayed: altered, repeated, and after the window).

use keygate_e2e::*;
use libtest_mimic::Arguments;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The secret a rotation moves to.
const NEW_SECRET: &str = "e2e-rotated-secret-2b9d04e7c1a6f538";
/// A secret no app accepts.
const WRONG_SECRET: &str = "e2e-wrong-secret-8c51f0d3a97e6b24";
/// The path prefix of every `ORIGIN_URL` here: the signed target includes it.
const BASE: &str = "/base";
/// Requests sent through the gateway at each step of the rotation.
const BATCH: usize = 10;
/// The short signature window of the app that replays are sent to after it.
const SHORT_WINDOW: u64 = 2;

/// One `app.py` process on a loopback port, restartable with other settings on the same port.
struct App {
    name: String,
    port: u16,
    log: PathBuf,
    child: Mutex<Child>,
}

impl App {
    /// Starts `app.py` with these settings (and none inherited) and waits until it answers.
    fn start(name: &str, env: &[(&str, &str)]) -> App {
        let dir = repo_root()
            .join("target/e2e")
            .join(format!("cherrypy-app-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("app dir");
        let port = free_port();
        let log = dir.join("app.log");
        let app = App {
            name: name.to_owned(),
            port,
            child: Mutex::new(spawn_app(port, &log, env)),
            log,
        };
        app.wait_ready();
        app
    }

    /// Stops the process and starts it again on the same port with new settings.
    fn restart(&self, env: &[(&str, &str)]) {
        {
            let mut child = lock(&self.child);
            stop_app(&mut child);
            *child = spawn_app(self.port, &self.log, env);
        }
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().expect("addr");
        let start = Instant::now();
        loop {
            if let Some(status) = lock(&self.child).try_wait().expect("try_wait") {
                panic!(
                    "app.py '{}' exited early ({status}); log:\n{}",
                    self.name,
                    self.logs()
                );
            }
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1") {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "app.py '{}' not ready after 60 s; log:\n{}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The gateway's `ORIGIN_URL` for this app.
    fn origin_url(&self) -> String {
        self.url(BASE)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        stop_app(self.child.get_mut().unwrap_or_else(|e| e.into_inner()));
    }
}

fn spawn_app(port: u16, log: &std::path::Path, env: &[(&str, &str)]) -> Child {
    let root = repo_root();
    let python = root.join("target/venv-cherrypy/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `make test` (or examples/origin-cherrypy/venv.sh), which creates it",
        python.display()
    );
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("app log");
    let mut cmd = Command::new(python);
    // -B: no __pycache__ in the example's folder.
    cmd.arg("-B")
        .arg(root.join("examples/origin-cherrypy/app.py"))
        .arg(port.to_string())
        .current_dir(root.join("examples/origin-cherrypy"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    for var in [
        "SHARED_SECRETS",
        "SHARED_SECRET",
        "SHARED_SECRET_HEADER",
        "REQUIRE_SIGNATURE",
        "SIGNATURE_WINDOW_SECS",
        "PORT",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.spawn().expect("spawn app.py")
}

/// SIGTERM (CherryPy shuts down cleanly), then SIGKILL after 10 s.
fn stop_app(child: &mut Child) {
    // SAFETY: kill(2) on the pid of a child this process spawned and has not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A gateway in front of an app, with a key for it.
struct Pair {
    app: App,
    dev: Dev,
    key: String,
    consumer: &'static str,
}

impl Pair {
    fn start(name: &str, app_env: &[(&str, &str)], gateway_vars: &[(&str, &str)]) -> Pair {
        let app = App::start(name, app_env);
        let origin = app.origin_url();
        let mut vars = vec![("ORIGIN_URL", origin.as_str()), ("SHARED_SECRET", SECRET)];
        vars.extend_from_slice(gateway_vars);
        let dev = Dev::start(&format!("cherrypy-{name}"), &vars);
        let consumer = "cherrypy-consumer";
        let key = dev.create_key(&["--name", name, "--consumer", consumer]);
        Pair {
            app,
            dev,
            key,
            consumer,
        }
    }

    /// GET through the gateway with the pair's key.
    fn get(&self, path: &str) -> Resp {
        get(&self.dev.url(path), Some(&self.key))
    }

    fn key_id(&self) -> String {
        key_id(&self.key)
    }
}

struct Ctx {
    /// Static secret: the app accepts [`SECRET`], the gateway sends it.
    plain: Pair,
    /// An app with no secret configured.
    unconfigured: App,
    /// The rotation walk-through's pair (restarted along the way).
    rotation: Pair,
    /// `SIGNING=hmac-only` in front of an app with `REQUIRE_SIGNATURE=1`.
    signed: Pair,
    /// `REQUIRE_SIGNATURE=1`, `SIGNATURE_WINDOW_SECS=2`: replays are sent to it directly.
    short: App,
    /// `SIGNING=hmac` in front of the recording origin, which shows what the gateway sends.
    capture: Dev,
    capture_key: String,
    recorder: TestOrigin,
}

fn start() -> Ctx {
    let recorder = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let recorder_url = format!("http://{}{BASE}", recorder.addr());
    // The gateways start in parallel: each `wrangler dev` takes a few seconds.
    std::thread::scope(|s| {
        let plain = s.spawn(|| Pair::start("plain", &[("SHARED_SECRETS", SECRET)], &[]));
        let rotation = s.spawn(|| Pair::start("rotation", &[("SHARED_SECRETS", SECRET)], &[]));
        let signed = s.spawn(|| {
            Pair::start(
                "signed",
                &[("SHARED_SECRET", SECRET), ("REQUIRE_SIGNATURE", "1")],
                &[("SIGNING", "hmac-only")],
            )
        });
        let capture = s.spawn(|| {
            let dev = Dev::start(
                "cherrypy-capture",
                &[
                    ("ORIGIN_URL", recorder_url.as_str()),
                    ("SHARED_SECRET", SECRET),
                    ("SIGNING", "hmac"),
                ],
            );
            let key = dev.create_key(&["--name", "capture", "--consumer", "capture-consumer"]);
            (dev, key)
        });
        let unconfigured = App::start("unconfigured", &[]);
        let window = SHORT_WINDOW.to_string();
        let short = App::start(
            "short",
            &[
                ("SHARED_SECRET", SECRET),
                ("REQUIRE_SIGNATURE", "1"),
                ("SIGNATURE_WINDOW_SECS", window.as_str()),
            ],
        );
        let (capture, capture_key) = capture.join().expect("capture gateway");
        Ctx {
            plain: plain.join().expect("plain pair"),
            unconfigured,
            rotation: rotation.join().expect("rotation pair"),
            signed: signed.join().expect("signed pair"),
            short,
            capture,
            capture_key,
            recorder,
        }
    })
}

/// A direct request (around the gateway) with these headers, in this order; repeats are sent
/// as separate fields.
/// Checks a refusal: status, exact `text/plain` body.
fn assert_refused(r: &Resp, status: u16, message: &str) {
    assert_eq!((r.status, r.text().as_str()), (status, message));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
}

/// Checks an accepted request: 200 and the JSON the app answers with.
fn accepted(r: &Resp) -> serde_json::Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

// ---- static secret ----

fn through_keygate_is_accepted_with_the_consumer(c: &Ctx) {
    let p = &c.plain;
    let seen = accepted(&p.get("/v1/orders?limit=10&cursor=a%20b"));
    assert_eq!(seen["consumer_id"], p.consumer);
    assert_eq!(seen["key_id"], p.key_id());
    assert_eq!(seen["target"], "/base/v1/orders?limit=10&cursor=a%20b");
    assert_eq!(seen["signed"], false);
    assert_eq!(seen["secret_sent"], true);
    // The app answers every path, the root included.
    assert_eq!(accepted(&p.get("/"))["consumer_id"], p.consumer);
}

fn direct_without_the_secret_is_401_no_secret_provided(c: &Ctx) {
    let r = request("GET", &c.plain.app.url("/base/v1/orders"), &[]);
    assert_refused(&r, 401, "No secret provided");
    // Identity headers alone prove nothing.
    let r = request(
        "GET",
        &c.plain.app.url("/base/v1/orders"),
        &[("x-consumer-id", "cherrypy-consumer")],
    );
    assert_refused(&r, 401, "No secret provided");
}

fn direct_with_a_wrong_secret_is_401_invalid_secret(c: &Ctx) {
    for wrong in [WRONG_SECRET, "", &SECRET[1..]] {
        let r = request(
            "GET",
            &c.plain.app.url("/base/v1/orders"),
            &[("x-shared-secret", wrong)],
        );
        assert_refused(&r, 401, "Invalid secret");
    }
    // The right one repeated beside a wrong one is not accepted either.
    let r = request(
        "GET",
        &c.plain.app.url("/base/x"),
        &[
            ("x-shared-secret", WRONG_SECRET),
            ("x-shared-secret", SECRET),
        ],
    );
    assert_refused(&r, 401, "Invalid secret");
}

fn direct_with_the_secret_is_accepted(c: &Ctx) {
    let r = request(
        "GET",
        &c.plain.app.url("/base/x"),
        &[("x-shared-secret", SECRET), ("x-consumer-id", "direct")],
    );
    assert_eq!(accepted(&r)["consumer_id"], "direct");
}

fn app_without_a_secret_is_500_server_configuration_error(c: &Ctx) {
    for headers in [vec![], vec![("x-shared-secret", SECRET)]] {
        let r = request("GET", &c.unconfigured.url("/base/x"), &headers);
        assert_refused(&r, 500, "Server configuration error");
    }
}

fn client_identity_headers_never_reach_the_app(c: &Ctx) {
    // keygate drops the client's X-Consumer-Id; a name with '_' is the same WSGI environ key
    // (HTTP_X_CONSUMER_ID), and the app's header reader drops it.
    let r = send(
        client()
            .get(c.plain.dev.url("/v1/me"))
            .header("authorization", format!("Bearer {}", c.plain.key))
            .header("x-consumer-id", "evil")
            .header("x_consumer_id", "evil")
            .header("x-key_id", "evil"),
    );
    let seen = accepted(&r);
    assert_eq!(seen["consumer_id"], c.plain.consumer);
    assert_eq!(seen["key_id"], c.plain.key_id());
}

// ---- rotation ----

/// A batch through the gateway at one step: every request accepted, with the key's consumer.
fn rotation_batch(p: &Pair, step: &str) {
    let answers = batch(&p.dev, &p.key, &format!("/v1/rotation/{step}"), BATCH);
    for (i, r) in answers.iter().enumerate() {
        assert_eq!(r.json()["consumer_id"], p.consumer, "{step}, request {i}");
    }
}

fn direct_secret(app: &App, secret: &str) -> Resp {
    request("GET", &app.url("/base/x"), &[("x-shared-secret", secret)])
}

fn no_request_is_refused_at_any_step_and_the_old_secret_is_refused_at_the_end(c: &Ctx) {
    let p = &c.rotation;
    rotation_batch(p, "0-old");
    assert_refused(&direct_secret(&p.app, NEW_SECRET), 401, "Invalid secret");

    // 1. The app accepts the old and the new secret.
    let both = format!("{SECRET},{NEW_SECRET}");
    p.app.restart(&[("SHARED_SECRETS", both.as_str())]);
    rotation_batch(p, "1-app-accepts-both");
    accepted(&direct_secret(&p.app, SECRET));
    accepted(&direct_secret(&p.app, NEW_SECRET));

    // 2. The gateway sends the new secret.
    p.dev.set_secret("SHARED_SECRET", NEW_SECRET);
    p.dev.restart();
    rotation_batch(p, "2-gateway-sends-new");

    // 3. The app accepts only the new one; the gateway's requests still pass, so it sends it.
    p.app.restart(&[("SHARED_SECRETS", NEW_SECRET)]);
    rotation_batch(p, "3-app-accepts-new");
    assert_refused(&direct_secret(&p.app, SECRET), 401, "Invalid secret");
    accepted(&direct_secret(&p.app, NEW_SECRET));
}

// ---- signed requests ----

fn hmac_only_through_keygate_to_an_app_that_requires_signatures(c: &Ctx) {
    let p = &c.signed;
    // Percent-encoding is signed and checked as sent, never decoded.
    let seen = accepted(&p.get("/v1/a%20b/%7Euser?q=a%2Fb&x=1&empty="));
    assert_eq!(seen["signed"], true);
    // hmac-only: the static secret never travels.
    assert_eq!(seen["secret_sent"], false);
    assert_eq!(seen["consumer_id"], p.consumer);
    assert_eq!(seen["key_id"], p.key_id());
    assert_eq!(seen["target"], "/base/v1/a%20b/%7Euser?q=a%2Fb&x=1&empty=");
    let r = send(
        client()
            .post(p.dev.url("/v1/orders"))
            .header("authorization", format!("Bearer {}", p.key))
            .body("{}"),
    );
    assert_eq!(accepted(&r)["method"], "POST");
}

fn unsigned_request_to_an_app_that_requires_signatures_is_401(c: &Ctx) {
    let r = direct_secret(&c.signed.app, SECRET);
    assert_refused(&r, 401, "No signature provided");
}

/// Header fields to send, in order.
type Headers<'a> = Vec<(&'a str, &'a str)>;

/// What the gateway sent to the recording origin for one request through `SIGNING=hmac`.
fn capture(c: &Ctx, path: &str) -> Captured {
    let path = format!("/{}{path}", marker("cherrypy-capture"));
    let cap = Captured::through(&c.capture, &c.recorder, &c.capture_key, &path);
    // SIGNING=hmac: the signature beside the static secret.
    let got = c.recorder.received_with(path.trim_start_matches('/'));
    assert_eq!(got[0].all("x-shared-secret"), vec![SECRET]);
    cap
}

fn the_gateways_signature_verifies_at_the_app(c: &Ctx) {
    let cap = capture(c, "/v1/orders?limit=10&cursor=abc");
    assert_eq!(cap.consumer, "capture-consumer");
    let url = c.signed.app.url(&cap.target);
    let seen = accepted(&request("GET", &url, &cap.headers()));
    assert_eq!(seen["consumer_id"], "capture-consumer");
    assert_eq!(seen["target"], cap.target);
}

fn altered_or_repeated_signed_fields_are_401_invalid_signature(c: &Ctx) {
    let cap = capture(c, "/v1/orders?limit=10");
    let url = c.signed.app.url(&cap.target);
    let sig = ("x-keygate-signature", cap.signature.as_str());
    let consumer = ("x-consumer-id", cap.consumer.as_str());
    let key_id = ("x-key-id", cap.key_id.as_str());
    let cases: Vec<(&str, String, Headers)> = vec![
        (
            "another consumer",
            url.clone(),
            vec![sig, ("x-consumer-id", "someone-else"), key_id],
        ),
        ("no consumer", url.clone(), vec![sig, key_id]),
        (
            "another key id",
            url.clone(),
            vec![sig, consumer, ("x-key-id", "000000000000")],
        ),
        (
            "another query",
            url.replace("limit=10", "limit=1000"),
            cap.headers(),
        ),
        ("no query", url.replace("?limit=10", ""), cap.headers()),
        (
            "another path",
            url.replace("/v1/orders", "/v1/admin"),
            cap.headers(),
        ),
        (
            "consumer repeated",
            url.clone(),
            vec![sig, consumer, key_id, ("x-consumer-id", "someone-else")],
        ),
        (
            "consumer repeated, first",
            url.clone(),
            vec![("x-consumer-id", "someone-else"), sig, consumer, key_id],
        ),
        (
            "key id repeated",
            url.clone(),
            vec![sig, consumer, key_id, key_id],
        ),
        (
            "signature repeated",
            url.clone(),
            vec![sig, sig, consumer, key_id],
        ),
    ];
    for (what, url, headers) in cases {
        let r = request("GET", &url, &headers);
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_refused(&r, 401, "Invalid signature");
    }
    let r = request("POST", &url, &cap.headers());
    assert_refused(&r, 401, "Invalid signature");
    // The same request unaltered is accepted.
    accepted(&request("GET", &url, &cap.headers()));
}

fn replay_after_the_window_is_401_invalid_signature(c: &Ctx) {
    let cap = capture(c, "/v1/replayed");
    let url = c.short.url(&cap.target);
    // Wait until the signature is older than the short app's window.
    while unix_now() <= cap.t + SHORT_WINDOW {
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = request("GET", &url, &cap.headers());
    assert_refused(&r, 401, "Invalid signature");
    // The 300 s app still takes it: only the age changed.
    accepted(&request(
        "GET",
        &c.signed.app.url(&cap.target),
        &cap.headers(),
    ));
}

/// A signature made here with keygate-verify's signer, at `t`, for the signed pair's consumer.
fn signature_at(c: &Ctx, t: u64, target: &str) -> String {
    keygate_verify::signature_header_value(
        SECRET.as_bytes(),
        t,
        "GET",
        target,
        c.signed.consumer,
        &c.signed.key_id(),
    )
}

fn signature_outside_the_default_window_is_401(c: &Ctx) {
    let target = "/base/v1/made-here";
    let url = c.signed.app.url(target);
    let key_id = c.signed.key_id();
    let now = unix_now();
    for (t, ok) in [
        (now, true),
        (now - 290, true),
        (now + 290, true),
        (now - 301, false),
        (now + 301, false),
    ] {
        let sig = signature_at(c, t, target);
        let r = request(
            "GET",
            &url,
            &[
                ("x-keygate-signature", sig.as_str()),
                ("x-consumer-id", c.signed.consumer),
                ("x-key-id", key_id.as_str()),
            ],
        );
        if ok {
            accepted(&r);
        } else {
            assert_refused(&r, 401, "Invalid signature");
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    remember_secret(NEW_SECRET);
    let started = Instant::now();
    let ctx = Arc::new(start());
    eprintln!(
        "origin_cherrypy: apps and gateways up in {:?}",
        started.elapsed()
    );
    let tests: Vec<NamedTest<Ctx>> = named_tests![
        static: [
            through_keygate_is_accepted_with_the_consumer,
            direct_without_the_secret_is_401_no_secret_provided,
            direct_with_a_wrong_secret_is_401_invalid_secret,
            direct_with_the_secret_is_accepted,
            app_without_a_secret_is_500_server_configuration_error,
            client_identity_headers_never_reach_the_app,
        ],
        rotation: [
            no_request_is_refused_at_any_step_and_the_old_secret_is_refused_at_the_end,
        ],
        signed: [
            hmac_only_through_keygate_to_an_app_that_requires_signatures,
            unsigned_request_to_an_app_that_requires_signatures_is_401,
            the_gateways_signature_verifies_at_the_app,
            altered_or_repeated_signed_fields_are_401_invalid_signature,
            replay_after_the_window_is_401_invalid_signature,
            signature_outside_the_default_window_is_401,
        ],
    ];
    let conclusion = libtest_mimic::run(&args, trials(&ctx, tests));
    conclude(conclusion, ctx, |c| {
        let mut clean = logs_are_clean(&[&c.plain.dev, &c.rotation.dev, &c.signed.dev, &c.capture]);
        // The apps' logs: no secret, no key.
        for app in [
            &c.plain.app,
            &c.rotation.app,
            &c.signed.app,
            &c.unconfigured,
            &c.short,
        ] {
            let logs = app.logs();
            let scan = std::panic::catch_unwind(|| {
                assert_no_secrets(&format!("app.py log '{}'", app.name), &logs)
            });
            if scan.is_err() {
                clean = false;
            }
        }
        clean
    });
}
