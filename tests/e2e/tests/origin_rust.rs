//! The Rust origin verifier (`keygate-verify`) behind a real `wrangler dev`: what it accepts
//! through the gateway and refuses around it, a zero-downtime rotation of the shared secret
//! (origin accepts both, gateway restarted with the new one, origin drops the old), and signed
//! requests (`SIGNING=hmac-only` and `hmac`): a captured signature replayed after the window, or
//! with another consumer, is refused.

use keygate_e2e::*;
use keygate_origin::OriginConfig;
use keygate_verify::Verifier;
use libtest_mimic::Arguments;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The secret the rotation moves to (the old one is [`SECRET`]).
const NEW_SECRET: &str = "e2e-rotated-secret-4c81d0a9e7b25f36";
/// Every gateway forwards under this base path, so the signed target includes it.
const BASE: &str = "/base";
/// The signature window of the signing origins.
const WINDOW: u64 = 300;

struct Ctx {
    /// Accepts [`SECRET`]; behind `plain` (no signing).
    origin: TestOrigin,
    plain: Dev,
    /// Starts accepting [`SECRET`]; its accepted list and `rotating`'s secret change during the
    /// rotation test.
    rot_origin: TestOrigin,
    rotating: Dev,
    /// Requires a signature, with a clock the tests move (`skew`); behind `hmac_only`.
    signed_origin: TestOrigin,
    skew: Arc<AtomicU64>,
    hmac_only: Dev,
    /// The signed tests move `skew`, so they run one at a time.
    signed_lock: Mutex<()>,
    /// Requires a signature (default clock); behind `hmac` (signature and static secret).
    both_origin: TestOrigin,
    hmac: Dev,
}

fn origin_url(o: &TestOrigin) -> String {
    format!("http://{}{BASE}", o.addr())
}

fn start() -> Ctx {
    remember_secret(NEW_SECRET);
    let origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let rot_origin = TestOrigin::start(Some(SECRET), "x-shared-secret");
    let skew = Arc::new(AtomicU64::new(0));
    let clock = skew.clone();
    let signed_origin = TestOrigin::start_on(
        "127.0.0.1:0".parse().expect("addr"),
        OriginConfig::default(),
        Some(
            Verifier::builder()
                .secrets([SECRET])
                .require_signature(true)
                .window_secs(WINDOW)
                .clock(move || unix_now() + clock.load(Ordering::SeqCst))
                .build(),
        ),
    );
    let both_origin = TestOrigin::start_config(OriginConfig {
        secret: Some(SECRET.into()),
        require_signature: true,
        ..OriginConfig::default()
    });
    let urls = [&origin, &rot_origin, &signed_origin, &both_origin].map(origin_url);
    let vars = |url: &str, signing: &'static str| {
        vec![
            ("ORIGIN_URL", url.to_owned()),
            ("SHARED_SECRET", SECRET.to_owned()),
            ("SIGNING", signing.to_owned()),
        ]
    };
    let start = |name: &'static str, vars: Vec<(&'static str, String)>| {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Dev::start(name, &vars)
    };
    // Two at a time: the machines are small, and each `wrangler dev` start is heavy.
    let (plain, rotating) = std::thread::scope(|s| {
        let a = s.spawn(|| start("origin-rust-plain", vars(&urls[0], "off")));
        let b = s.spawn(|| start("origin-rust-rotating", vars(&urls[1], "off")));
        (a.join().expect("plain"), b.join().expect("rotating"))
    });
    let (hmac_only, hmac) = std::thread::scope(|s| {
        let a = s.spawn(|| start("origin-rust-hmac-only", vars(&urls[2], "hmac-only")));
        let b = s.spawn(|| start("origin-rust-hmac", vars(&urls[3], "hmac")));
        (a.join().expect("hmac-only"), b.join().expect("hmac"))
    });
    Ctx {
        origin,
        plain,
        rot_origin,
        rotating,
        signed_origin,
        skew,
        hmac_only,
        signed_lock: Mutex::new(()),
        both_origin,
        hmac,
    }
}

/// A direct request to an origin, around the gateway, with these headers.
fn direct(origin: &TestOrigin, target: &str, headers: &[(&str, &str)]) -> Resp {
    request("GET", &format!("http://{}{target}", origin.addr()), headers)
}

fn assert_text(r: &Resp, status: u16, body: &str) {
    assert_eq!((r.status, r.text().as_str()), (status, body));
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain")),
        "{:?}",
        r.headers
    );
}

// ---- static secret ----

fn through_keygate_is_accepted(c: &Ctx) {
    let key = c.plain.create_key(&[]);
    let m = marker("plain");
    let r = get(&c.plain.url(&format!("/{m}/hello?a=1")), Some(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c.origin.received_with(&m);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].target, format!("{BASE}/{m}/hello?a=1"));
    assert_eq!(got[0].all("x-shared-secret"), [SECRET]);
    assert!(got[0].all("x-keygate-signature").is_empty());
    // The echo says the secret was verified, and never shows it.
    let echoed = r.json()["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .find(|h| h[0] == "x-shared-secret")
        .map(|h| h[1].clone());
    assert_eq!(echoed, Some("<verified>".into()));
}

fn direct_without_the_secret_is_401_no_secret_provided(c: &Ctx) {
    let m = marker("nosecret");
    let r = direct(&c.origin, &format!("{BASE}/{m}"), &[]);
    assert_text(&r, 401, "No secret provided");
    // Recorded before the check, as the other suites rely on.
    assert_eq!(c.origin.received_with(&m).len(), 1);
}

fn direct_with_a_wrong_or_repeated_secret_is_401_invalid_secret(c: &Ctx) {
    let m = marker("wrong");
    let r = direct(
        &c.origin,
        &format!("{BASE}/{m}"),
        &[("x-shared-secret", "not-the-secret-at-all")],
    );
    assert_text(&r, 401, "Invalid secret");
    let r = direct(
        &c.origin,
        &format!("{BASE}/{m}"),
        &[("x-shared-secret", SECRET), ("x-shared-secret", SECRET)],
    );
    assert_text(&r, 401, "Invalid secret");
    let r = direct(
        &c.origin,
        &format!("{BASE}/{m}"),
        &[("x-shared-secret", SECRET)],
    );
    assert_eq!(r.status, 200, "the right secret, sent once, is accepted");
}

fn origin_without_a_secret_answers_500(_: &Ctx) {
    let unconfigured = TestOrigin::start(None, "x-shared-secret");
    for headers in [vec![], vec![("x-shared-secret", SECRET)]] {
        let r = direct(&unconfigured, "/anything", &headers);
        assert_text(&r, 500, "Server configuration error");
    }
}

// ---- rotation ----

/// Requests through `dev` in a loop while `change` runs, and a little after; all must be 200.
fn under_traffic(dev: &Dev, key: &str, m: &str, change: impl FnOnce()) -> usize {
    let stop = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let traffic = s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let i = sent.fetch_add(1, Ordering::SeqCst);
                let r = get(&dev.url(&format!("/{m}/{i}")), Some(key));
                assert_eq!(r.status, 200, "request {i} of {m}: {}", r.text());
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        change();
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
        traffic.join().expect("traffic");
    });
    sent.load(Ordering::SeqCst)
}

/// The secrets the origin received on requests tagged `m`, deduplicated.
fn secrets_seen(o: &TestOrigin, m: &str) -> Vec<String> {
    let mut seen: Vec<String> = o
        .received_with(m)
        .iter()
        .flat_map(|r| r.all("x-shared-secret"))
        .map(str::to_owned)
        .collect();
    seen.dedup();
    seen
}

fn old_and_new_then_gateway_restart_then_new_only_refuses_no_request(c: &Ctx) {
    let (dev, origin) = (&c.rotating, &c.rot_origin);
    let key = dev.create_key(&[]);

    let m0 = marker("rot-step0");
    batch(dev, &key, &format!("/{m0}"), 20);
    assert_eq!(secrets_seen(origin, &m0), [SECRET]);

    // Step 1: the origin accepts the old and the new secret (in place, under traffic).
    let m1 = marker("rot-step1");
    let sent = under_traffic(dev, &key, &m1, || {
        origin.verifier().set_secrets([SECRET, NEW_SECRET])
    });
    batch(dev, &key, &format!("/{m1}"), 20);
    eprintln!("rotation step 1: {} requests, none refused", sent + 20);

    // Step 2: the gateway gets the new secret (as `wrangler secret put` and a deploy).
    dev.set_secret("SHARED_SECRET", NEW_SECRET);
    dev.restart();
    let m2 = marker("rot-step2");
    batch(dev, &key, &format!("/{m2}"), 20);
    assert_eq!(secrets_seen(origin, &m2), [NEW_SECRET]);

    // Step 3: the origin drops the old secret (in place, under traffic).
    let m3 = marker("rot-step3");
    let sent = under_traffic(dev, &key, &m3, || {
        origin.verifier().set_secrets([NEW_SECRET])
    });
    batch(dev, &key, &format!("/{m3}"), 20);
    assert_eq!(secrets_seen(origin, &m3), [NEW_SECRET]);
    eprintln!("rotation step 3: {} requests, none refused", sent + 20);

    // The old secret, sent around the gateway, is refused now; the new one is accepted.
    let m = marker("rot-after");
    let old = direct(
        origin,
        &format!("{BASE}/{m}"),
        &[("x-shared-secret", SECRET)],
    );
    assert_text(&old, 401, "Invalid secret");
    let new = direct(
        origin,
        &format!("{BASE}/{m}"),
        &[("x-shared-secret", NEW_SECRET)],
    );
    assert_eq!(new.status, 200);
}

// ---- signed requests ----

/// Sends the captured request again, straight to `origin`, as from `consumer`.
fn replay(origin: &TestOrigin, got: &Captured, consumer: &str) -> Resp {
    direct(origin, &got.target, &got.headers_for(consumer))
}

fn hmac_only_requests_are_accepted_without_the_static_secret(c: &Ctx) {
    let _g = lock(&c.signed_lock);
    c.skew.store(0, Ordering::SeqCst);
    let key = c.hmac_only.create_key(&["--consumer", "signed-consumer"]);
    let m = marker("hmac-only");
    let got = Captured::through(
        &c.hmac_only,
        &c.signed_origin,
        &key,
        &format!("/{m}/orders?limit=10&cursor=abc"),
    );
    assert_eq!(got.target, format!("{BASE}/{m}/orders?limit=10&cursor=abc"));
    assert_eq!(got.consumer, "signed-consumer");
    let recorded = c.signed_origin.received_with(&m);
    assert!(
        recorded[0].all("x-shared-secret").is_empty(),
        "hmac-only sent the static secret"
    );
    // The gateway signed with its clock; the origin (same machine) checks against its own.
    assert!(unix_now().abs_diff(got.t) <= 5, "t={}", got.t);
    // Static-secret-only requests are refused by this origin.
    let r = direct(
        &c.signed_origin,
        &format!("{BASE}/{m}"),
        &[("x-shared-secret", SECRET)],
    );
    assert_text(&r, 401, "No signature provided");
}

fn captured_signature_replayed_after_the_window_is_401(c: &Ctx) {
    let _g = lock(&c.signed_lock);
    c.skew.store(0, Ordering::SeqCst);
    let key = c.hmac_only.create_key(&["--consumer", "replayed-consumer"]);
    let m = marker("replay");
    let got = Captured::through(
        &c.hmac_only,
        &c.signed_origin,
        &key,
        &format!("/{m}/pay?amount=5"),
    );
    // Inside the window the captured request is still good (no replay protection there).
    assert_eq!(replay(&c.signed_origin, &got, &got.consumer).status, 200);
    // The origin's clock moves past the window: the same bytes are refused.
    c.skew.store(WINDOW + 2, Ordering::SeqCst);
    let r = replay(&c.signed_origin, &got, &got.consumer);
    c.skew.store(0, Ordering::SeqCst);
    assert_text(&r, 401, "Invalid signature");
}

fn captured_signature_with_another_consumer_is_401(c: &Ctx) {
    let _g = lock(&c.signed_lock);
    c.skew.store(0, Ordering::SeqCst);
    let key = c.hmac_only.create_key(&["--consumer", "honest-consumer"]);
    let m = marker("relabel");
    let got = Captured::through(
        &c.hmac_only,
        &c.signed_origin,
        &key,
        &format!("/{m}/account"),
    );
    assert_eq!(replay(&c.signed_origin, &got, &got.consumer).status, 200);
    let r = replay(&c.signed_origin, &got, "another-consumer");
    assert_text(&r, 401, "Invalid signature");
    // The header sent twice (the genuine value and another) is refused too.
    let r = direct(
        &c.signed_origin,
        &got.target,
        &[
            ("x-keygate-signature", &got.signature),
            ("x-consumer-id", &got.consumer),
            ("x-consumer-id", "another-consumer"),
            ("x-key-id", &got.key_id),
        ],
    );
    assert_text(&r, 401, "Invalid signature");
}

fn hmac_sends_both_and_the_origin_verifies_the_signature(c: &Ctx) {
    let key = c.hmac.create_key(&["--consumer", "migrating-consumer"]);
    let m = marker("hmac");
    let r = get(&c.hmac.url(&format!("/{m}/x?y=z")), Some(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c.both_origin.received_with(&m);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].all("x-shared-secret"), [SECRET]);
    assert_eq!(got[0].all("x-keygate-signature").len(), 1);
    // The echo names the signature as what verified the request.
    let headers = r.json()["headers"].clone();
    let shown = |name: &str| {
        headers
            .as_array()
            .expect("headers")
            .iter()
            .find(|h| h[0] == name)
            .map(|h| h[1].clone())
    };
    assert_eq!(shown("x-keygate-signature"), Some("<verified>".into()));
    assert_eq!(shown("x-shared-secret"), Some("<redacted>".into()));
}

fn main() {
    let args = Arguments::from_args();
    let ctx = Arc::new(start());
    let tests: Vec<NamedTest<Ctx>> = named_tests![
        secret: [
            through_keygate_is_accepted,
            direct_without_the_secret_is_401_no_secret_provided,
            direct_with_a_wrong_or_repeated_secret_is_401_invalid_secret,
            origin_without_a_secret_answers_500,
        ],
        rotation: [
            old_and_new_then_gateway_restart_then_new_only_refuses_no_request,
        ],
        signed: [
            hmac_only_requests_are_accepted_without_the_static_secret,
            captured_signature_replayed_after_the_window_is_401,
            captured_signature_with_another_consumer_is_401,
            hmac_sends_both_and_the_origin_verifies_the_signature,
        ],
    ];
    let conclusion = libtest_mimic::run(&args, trials(&ctx, tests));
    conclude(conclusion, ctx, |c| {
        logs_are_clean(&[&c.plain, &c.rotating, &c.hmac_only, &c.hmac])
    });
}
