//! Idempotent create: twenty concurrent retries of one `POST /keys` (same `Idempotency-Key`, same
//! body) make exactly one key, and every answer that succeeded carries that key; a later retry
//! replays it; another body under the same idempotency key is a 409; another principal's
//! idempotency key is its own.

use super::*;
use std::sync::Barrier;

const RETRIES: usize = 20;

fn create_with(dev: &Dev, token: &str, idempotency_key: &str, body: &Value) -> Resp {
    call_raw(
        dev,
        Some(token),
        "POST",
        "/keys",
        &[
            ("content-type", "application/json"),
            ("idempotency-key", idempotency_key),
        ],
        Some(body.to_string().into_bytes()),
    )
}

pub fn twenty_concurrent_retries_of_one_create_make_exactly_one_key(c: &Ctx) {
    let dev = &c.main;
    let m = marker("idem");
    let consumer = format!("idem-{m}");
    let body = json!({"name": "once", "consumer_id": consumer, "meta": {"order": 42}});
    let idem = format!("order-42-{m}");
    // All released at once. The key is remembered only afterwards: the scans of the answers
    // would otherwise flag the replays, which must carry it.
    let barrier = Barrier::new(RETRIES);
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..RETRIES)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    create_with(dev, BOOT, &idem, &body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("retry thread"))
            .collect()
    });
    let mut created: Vec<&Resp> = Vec::new();
    for r in &answers {
        match r.status {
            201 => created.push(r),
            // Still in progress after the wait: a 409 that says when to try again.
            409 => {
                r.problem(409);
                assert_eq!(r.header("retry-after"), Some("1"), "{}", r.text());
            }
            s => panic!("a retry got {s}: {}", r.text()),
        }
    }
    assert!(!created.is_empty(), "no retry succeeded");
    let bodies: Vec<Value> = created.iter().map(|r| answer(r, 201)).collect();
    let key = bodies[0]["key"].as_str().expect("key").to_owned();
    let id = bodies[0]["record"]["id"].as_str().expect("id").to_owned();
    for (r, v) in created.iter().zip(&bodies) {
        assert_eq!(
            v, &bodies[0],
            "every success is the first answer, key included"
        );
        assert_eq!(r.header("location"), created[0].header("location"));
    }
    let originals = created
        .iter()
        .filter(|r| r.header("idempotent-replayed") != Some("true"))
        .count();
    assert_eq!(originals, 1, "one answer is the original, the rest replays");

    // A retry afterwards replays the same answer.
    let again = create_with(dev, BOOT, &idem, &body);
    assert_eq!(answer(&again, 201), bodies[0]);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    remember_key(&key);

    // Exactly one key exists, and it works.
    assert_eq!(ids_of_consumer(dev, BOOT, &consumer), vec![id.clone()]);
    assert_eq!(get(&dev.url(&format!("/{m}")), Some(&key)).status, 200);
    // The audit trail holds one creation.
    let creations = audit_all(dev, BOOT, 100)
        .into_iter()
        .filter(|e| e["action"] == "key.create" && e["consumer_id"] == consumer.as_str())
        .count();
    assert_eq!(creations, 1);
}

pub fn idempotency_key_is_scoped_to_its_body_and_its_principal(c: &Ctx) {
    let dev = &c.main;
    let m = marker("idem-scope");
    let consumer = format!("idem-{m}");
    let body = json!({"name": "one", "consumer_id": consumer});
    let idem = format!("signup-{m}");
    let first = create_with(dev, BOOT, &idem, &body);
    let v = answer(&first, 201);
    let first_id = v["record"]["id"].as_str().expect("id").to_owned();
    remember_key(v["key"].as_str().expect("key"));
    assert_ne!(first.header("idempotent-replayed"), Some("true"));

    // Another body under the same idempotency key: 409, nothing created.
    let other = json!({"name": "two", "consumer_id": consumer});
    create_with(dev, BOOT, &idem, &other).problem(409);
    // A different idempotency key creates another key.
    let second = create_with(dev, BOOT, &format!("{idem}-b"), &body);
    let v2 = answer(&second, 201);
    remember_key(v2["key"].as_str().expect("key"));
    assert_ne!(v2["record"]["id"], first_id.as_str());

    // Another principal with the same idempotency key and body makes its own key.
    let (writer, _) = new_root(dev, BOOT, "idem writer", &["keys:write"], None);
    let theirs = create_with(dev, &writer, &idem, &body);
    let v3 = answer(&theirs, 201);
    remember_key(v3["key"].as_str().expect("key"));
    assert_ne!(theirs.header("idempotent-replayed"), Some("true"));
    assert_ne!(v3["record"]["id"], first_id.as_str());
    assert_eq!(ids_of_consumer(dev, BOOT, &consumer).len(), 3);

    // Not an idempotency key: empty, or over 255 characters, or not printable ASCII. The
    // contract names no status for it: a 400 or a 422, never a key.
    let long = "x".repeat(256);
    for bad in ["", long.as_str(), "tab\there"] {
        let r = create_with(dev, BOOT, bad, &body);
        assert!(
            matches!(r.status, 400 | 422),
            "{bad:?}: {} {}",
            r.status,
            r.text()
        );
        r.problem(r.status);
    }
    assert_eq!(ids_of_consumer(dev, BOOT, &consumer).len(), 3);
}
