//! The isolate key cache, on instances of its own: a revoked key is refused within the TTL, and
//! concurrent requests for one key make one KV read.

use super::{cli_ok, fixture_key, Ctx};
use keygate_e2e::*;
use std::time::Duration;

/// The `cache` field of the log line of the request with this id.
fn cache_outcome(dev: &Dev, request_id: &str) -> String {
    dev.request_log(request_id)["cache"]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

fn get_with_id(dev: &Dev, path: &str, key: &str, request_id: &str) -> Resp {
    get_with(&dev.url(path), Some(key), &[("x-request-id", request_id)])
}

const CACHE_TTL_SECS: u64 = 8;

fn start_cached_instance(name: &str) -> (TestOrigin, Dev) {
    let ttl = CACHE_TTL_SECS.to_string();
    Dev::start_with_origin(name, &[("KEY_CACHE_TTL_SECS", &ttl)], Setup::default())
}

pub fn revoked_key_is_refused_within_the_isolate_ttl(_c: &Ctx) {
    let (_origin, dev) = start_cached_instance("cache-ttl");
    let key = dev.create_key(&["--name", "cached"]);
    let m = marker("cachettl");
    assert_eq!(get_with_id(&dev, "/a", &key, &format!("{m}-a")).status, 200);
    assert_eq!(get_with_id(&dev, "/b", &key, &format!("{m}-b")).status, 200);
    assert_eq!(cache_outcome(&dev, &format!("{m}-a")), "miss");
    assert_eq!(cache_outcome(&dev, &format!("{m}-b")), "hit");
    cli_ok(&dev, &["revoke", &key_id(&key)]);
    let revoked = std::time::Instant::now();
    let mut stale = 0;
    let refused_after = loop {
        let r = get(&dev.url("/poll"), Some(&key));
        if r.status == 401 {
            break revoked.elapsed();
        }
        assert_eq!(r.status, 200);
        stale += 1;
        assert!(
            revoked.elapsed() < Duration::from_secs(CACHE_TTL_SECS + 10),
            "revoked key still accepted"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "cache: revoked key refused {:.1} s after revoke returned ({stale} stale answers; bound {CACHE_TTL_SECS} s)",
        refused_after.as_secs_f64()
    );
    // Local KV has no propagation delay, so the bound is the isolate TTL (plus request time).
    assert!(
        refused_after <= Duration::from_millis(CACHE_TTL_SECS * 1000 + 1500),
        "refused only after {refused_after:?}"
    );
    // Unknown keys are cached too, for the shorter negative TTL, and still get 401.
    let unknown = fixture_key("cache-unknown");
    for i in 0..2 {
        get_with_id(&dev, "/u", &unknown, &format!("{m}-u{i}")).problem(401);
    }
    assert_eq!(cache_outcome(&dev, &format!("{m}-u0")), "miss");
    assert_eq!(cache_outcome(&dev, &format!("{m}-u1")), "hit");
    assert_no_secrets("wrangler log 'cache-ttl'", &dev.logs());
}

pub fn concurrent_requests_for_one_key_make_one_kv_read(_c: &Ctx) {
    let (origin, dev) = start_cached_instance("cache-coalesce");
    let key = dev.create_key(&["--name", "burst"]);
    let m = marker("burst");
    let ids: Vec<String> = (0..24).map(|i| format!("{m}-{i}")).collect();
    std::thread::scope(|s| {
        for id in &ids {
            let (dev, key) = (&dev, &key);
            s.spawn(move || assert_eq!(get_with_id(dev, "/burst", key, id).status, 200));
        }
    });
    let outcomes: Vec<String> = ids.iter().map(|id| cache_outcome(&dev, id)).collect();
    let misses = outcomes.iter().filter(|o| *o == "miss").count();
    assert_eq!(misses, 1, "one KV read for the whole burst: {outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o.as_str(), "miss" | "hit" | "shared")));
    eprintln!(
        "cache: 24 concurrent requests: 1 miss, {} shared, {} hits",
        outcomes.iter().filter(|o| *o == "shared").count(),
        outcomes.iter().filter(|o| *o == "hit").count()
    );
    assert_eq!(origin.received().len(), 24);
}
