//! Idempotent create (`POST /keys` with `Idempotency-Key`): the claim a request makes on an
//! idempotency key, the pure rules that decide it against what is stored ([`decide`],
//! [`complete`], [`release`]: 24 h expiry, fingerprint mismatch, pending or done), the
//! [`IdempotencyStore`] trait the edge implements over the `ManagementLog` Durable Object, and
//! the derivation of an idempotent create's key ([`derive_key`]), so that the key itself is never
//! stored.
//!
//! The Durable Object keeps one row per (scope, key) — a [`StoredClaim`] — and applies these
//! rules to it; it decides nothing itself.

use crate::audit::LogError;
use crate::lifecycle::{key_from_bytes, LifecycleError};
use crate::secret::ApiKey;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long an idempotency key is remembered after its first claim.
pub const TTL_SECS: u64 = 24 * 3600;
/// A claim still pending this long after it was made is taken to be abandoned (its request died
/// between claim and completion); the next claim takes it over with a fresh salt.
pub const PENDING_TIMEOUT_SECS: u64 = 60;
/// The longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// An `Idempotency-Key` header value is 1 to 255 printable ASCII characters (space included).
pub fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// The fingerprint of a request body: the lowercase hex SHA-256 of its canonical JSON (members
/// sorted by name, no insignificant whitespace), so the same body written differently is the
/// same request.
pub fn fingerprint(body: &serde_json::Value) -> String {
    // serde_json's map is ordered by key (no `preserve_order`), so this is canonical. (The
    // bytes of `body.to_string()`, written without the `Display` formatter: one JSON writer less
    // in the wasm.)
    let json = serde_json::to_vec(body).expect("a JSON value serialises");
    hex::encode(Sha256::digest(&json))
}

/// A request's claim on an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Whose key it is: the principal's actor (`bootstrap` or a root key id).
    pub scope: String,
    /// The `Idempotency-Key` header's value.
    pub key: String,
    /// [`fingerprint`] of the request body.
    pub fingerprint: String,
    /// Unix seconds.
    pub now: u64,
    /// A fresh random salt, stored when the claim is new (the caller draws it, so the rules stay
    /// pure).
    pub salt: String,
}

/// What a claim found. On the wire, externally tagged (`"pending"`, `{"new":{"salt":…}}`): an
/// internally tagged enum costs serde's buffering deserializer in the wasm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Claimed {
    /// The claim is this request's: do the work with `salt`, then [`IdempotencyStore::complete`]
    /// (or [`IdempotencyStore::release`] when it fails).
    New { salt: String },
    /// Another request with the same key and body is still running.
    Pending,
    /// The work is done: replay its answer.
    Done {
        salt: String,
        status: u16,
        body: String,
    },
    /// The key was used with another body.
    Mismatch,
}

/// The state of a stored claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    Pending,
    Done,
}

impl ClaimState {
    /// The text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimState::Pending => "pending",
            ClaimState::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(ClaimState::Pending),
            "done" => Some(ClaimState::Done),
            _ => None,
        }
    }
}

/// One row of the `idempotency` table, without its (scope, key) primary key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredClaim {
    pub fingerprint: String,
    pub salt: String,
    pub state: ClaimState,
    /// The answer's status, once done.
    pub status: Option<u16>,
    /// The answer's body to replay, once done (never holding a key).
    pub body: Option<String>,
    /// When the key was first claimed, Unix seconds.
    pub created_at: u64,
}

/// What to do with a stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Keep,
    /// Insert or replace the row.
    Put(StoredClaim),
    Delete,
}

/// Whether a row is past its 24 hours at `now` (and may be deleted).
pub fn expired(row: &StoredClaim, now: u64) -> bool {
    now >= row.created_at.saturating_add(TTL_SECS)
}

/// Rows created before this instant are expired at `now`: the Durable Object may delete them
/// (`DELETE FROM idempotency WHERE created_at < ?`).
pub fn expired_before(now: u64) -> u64 {
    now.saturating_sub(TTL_SECS).saturating_add(1)
}

/// The rule for a claim against the row stored for its (scope, key): a new claim when there is
/// none, it expired or it was abandoned while pending; otherwise a different body is a
/// mismatch, and the same body finds the first request pending or done.
pub fn decide(stored: Option<&StoredClaim>, claim: &Claim) -> (Claimed, Write) {
    let abandoned = |row: &StoredClaim| {
        row.state == ClaimState::Pending
            && claim.now >= row.created_at.saturating_add(PENDING_TIMEOUT_SECS)
    };
    match stored {
        Some(row) if !expired(row, claim.now) && !abandoned(row) => {
            if row.fingerprint != claim.fingerprint {
                return (Claimed::Mismatch, Write::Keep);
            }
            match (row.state, row.status, &row.body) {
                (ClaimState::Done, Some(status), Some(body)) => (
                    Claimed::Done {
                        salt: row.salt.clone(),
                        status,
                        body: body.clone(),
                    },
                    Write::Keep,
                ),
                // A done row without its answer cannot be replayed: treat it as still running,
                // so the retry ends in 409 rather than a second key.
                _ => (Claimed::Pending, Write::Keep),
            }
        }
        _ => (
            Claimed::New {
                salt: claim.salt.clone(),
            },
            Write::Put(StoredClaim {
                fingerprint: claim.fingerprint.clone(),
                salt: claim.salt.clone(),
                state: ClaimState::Pending,
                status: None,
                body: None,
                created_at: claim.now,
            }),
        ),
    }
}

/// The rule for completing a claim: only the pending row with the claimer's salt becomes done
/// (a claim taken over meanwhile is not overwritten).
pub fn complete(stored: Option<&StoredClaim>, salt: &str, status: u16, body: &str) -> Write {
    match stored {
        Some(row) if row.state == ClaimState::Pending && row.salt == salt => {
            Write::Put(StoredClaim {
                state: ClaimState::Done,
                status: Some(status),
                body: Some(body.to_owned()),
                ..row.clone()
            })
        }
        _ => Write::Keep,
    }
}

/// The rule for releasing a claim whose work failed: the pending row with the claimer's salt is
/// deleted, so a retry starts afresh.
pub fn release(stored: Option<&StoredClaim>, salt: &str) -> Write {
    match stored {
        Some(row) if row.state == ClaimState::Pending && row.salt == salt => Write::Delete,
        _ => Write::Keep,
    }
}

/// Where idempotency keys are claimed: the `ManagementLog` Durable Object at the edge.
#[allow(async_fn_in_trait)] // Workers futures are single-threaded; no Send bound is wanted.
pub trait IdempotencyStore {
    /// Claims `claim.key` in `claim.scope`, atomically ([`decide`]).
    async fn claim(&self, claim: &Claim) -> Result<Claimed, LogError>;
    /// Records the answer of the claim made with `salt` ([`complete`]).
    async fn complete(
        &self,
        scope: &str,
        key: &str,
        salt: &str,
        status: u16,
        body: &str,
    ) -> Result<(), LogError>;
    /// Gives up the claim made with `salt` ([`release`]).
    async fn release(&self, scope: &str, key: &str, salt: &str) -> Result<(), LogError>;
}

/// The key of an idempotent create: `kg_` + 43 base62 characters drawn from
/// HMAC-SHA256(credential, block ‖ salt ‖ 0 ‖ idempotency key), block = 0, 1, …, + checksum.
/// Only the presenter of `credential` can derive it again, so neither the answer that is
/// replayed nor the claim needs to store it; a replay checks the derived key's hash against the
/// stored record's id.
pub fn derive_key(credential: &[u8], salt: &str, idempotency_key: &str) -> ApiKey {
    let mut block: u32 = 0;
    key_from_bytes(crate::keyformat::PREFIX, |buf| {
        for (half, chunk) in buf.chunks_mut(32).enumerate() {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(credential).expect("HMAC takes a key of any size");
            mac.update(&(block * 2 + half as u32).to_be_bytes());
            mac.update(salt.as_bytes());
            mac.update(&[0]);
            mac.update(idempotency_key.as_bytes());
            chunk.copy_from_slice(&mac.finalize().into_bytes());
        }
        block += 1;
        Ok::<(), LifecycleError>(())
    })
    .expect("a keyed hash never fails")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyformat::{classify, KeyShape};

    fn claim(fp: &str, now: u64, salt: &str) -> Claim {
        Claim {
            scope: "bootstrap".into(),
            key: "signup-42".into(),
            fingerprint: fp.into(),
            now,
            salt: salt.into(),
        }
    }

    fn stored_after(step: (Claimed, Write)) -> StoredClaim {
        match step.1 {
            Write::Put(row) => row,
            w => panic!("expected a put, got {w:?}"),
        }
    }

    #[test]
    fn a_first_claim_is_new_and_stores_a_pending_row_with_its_salt() {
        let (answer, write) = decide(None, &claim("f1", 100, "s1"));
        assert_eq!(answer, Claimed::New { salt: "s1".into() });
        let Write::Put(row) = write else { panic!() };
        assert_eq!(row.state, ClaimState::Pending);
        assert_eq!((row.salt.as_str(), row.created_at), ("s1", 100));
    }

    #[test]
    fn a_second_claim_with_the_same_body_waits_then_replays() {
        let row = stored_after(decide(None, &claim("f1", 100, "s1")));
        assert_eq!(
            decide(Some(&row), &claim("f1", 101, "s2")),
            (Claimed::Pending, Write::Keep)
        );
        let Write::Put(done) = complete(Some(&row), "s1", 201, "{}") else {
            panic!()
        };
        assert_eq!(
            decide(Some(&done), &claim("f1", 102, "s3")).0,
            Claimed::Done {
                salt: "s1".into(),
                status: 201,
                body: "{}".into()
            }
        );
    }

    #[test]
    fn another_body_is_a_mismatch_pending_or_done() {
        let row = stored_after(decide(None, &claim("f1", 100, "s1")));
        assert_eq!(
            decide(Some(&row), &claim("f2", 101, "s2")).0,
            Claimed::Mismatch
        );
        let Write::Put(done) = complete(Some(&row), "s1", 201, "{}") else {
            panic!()
        };
        assert_eq!(
            decide(Some(&done), &claim("f2", 101, "s2")).0,
            Claimed::Mismatch
        );
    }

    #[test]
    fn a_claim_is_forgotten_after_24_hours_and_an_abandoned_one_after_a_minute() {
        let row = stored_after(decide(None, &claim("f1", 100, "s1")));
        let Write::Put(done) = complete(Some(&row), "s1", 201, "{}") else {
            panic!()
        };
        let just_before = 100 + TTL_SECS - 1;
        assert!(matches!(
            decide(Some(&done), &claim("f2", just_before, "s2")).0,
            Claimed::Mismatch
        ));
        assert_eq!(
            decide(Some(&done), &claim("f2", 100 + TTL_SECS, "s2")).0,
            Claimed::New { salt: "s2".into() }
        );
        assert!(expired(&done, 100 + TTL_SECS) && !expired(&done, just_before));
        assert!(done.created_at < expired_before(100 + TTL_SECS));
        assert!(done.created_at >= expired_before(just_before));
        // Pending for a minute: taken over with the new salt.
        assert_eq!(
            decide(
                Some(&row),
                &claim("f1", 100 + PENDING_TIMEOUT_SECS - 1, "s2")
            )
            .0,
            Claimed::Pending
        );
        assert_eq!(
            decide(Some(&row), &claim("f1", 100 + PENDING_TIMEOUT_SECS, "s2")).0,
            Claimed::New { salt: "s2".into() }
        );
    }

    #[test]
    fn only_the_claimer_completes_or_releases_and_only_a_pending_claim() {
        let row = stored_after(decide(None, &claim("f1", 100, "s1")));
        assert_eq!(complete(Some(&row), "other", 201, "{}"), Write::Keep);
        assert_eq!(release(Some(&row), "other"), Write::Keep);
        assert_eq!(release(Some(&row), "s1"), Write::Delete);
        assert_eq!(complete(None, "s1", 201, "{}"), Write::Keep);
        let Write::Put(done) = complete(Some(&row), "s1", 201, "{}") else {
            panic!()
        };
        assert_eq!(release(Some(&done), "s1"), Write::Keep, "done stays done");
        assert_eq!(complete(Some(&done), "s1", 500, "x"), Write::Keep);
    }

    #[test]
    fn a_done_row_without_its_answer_is_never_replayed_as_new() {
        let mut row = stored_after(decide(None, &claim("f1", 100, "s1")));
        row.state = ClaimState::Done;
        assert_eq!(
            decide(Some(&row), &claim("f1", 101, "s2")).0,
            Claimed::Pending
        );
    }

    #[test]
    fn the_derived_key_is_a_valid_key_fixed_by_credential_salt_and_idempotency_key() {
        let k = derive_key(b"kgr_secret", "salt", "signup-42");
        assert_eq!(classify(k.expose()), KeyShape::Valid);
        assert!(k.expose().starts_with("kg_"));
        assert_eq!(k, derive_key(b"kgr_secret", "salt", "signup-42"));
        for other in [
            derive_key(b"kgr_secreT", "salt", "signup-42"),
            derive_key(b"kgr_secret", "salu", "signup-42"),
            derive_key(b"kgr_secret", "salt", "signup-43"),
            // The separator keeps salt and key apart.
            derive_key(b"kgr_secret", "saltsignup-4", "2"),
        ] {
            assert_ne!(k, other);
        }
    }

    #[test]
    fn idempotency_keys_are_1_to_255_printable_ascii() {
        assert!(valid_key("a") && valid_key(&"x".repeat(255)) && valid_key("signup 42/?~"));
        for bad in ["", "tab\there", "é", &"x".repeat(256)] {
            assert!(!valid_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_fingerprint_ignores_member_order_and_whitespace_only() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"name":"web","consumer_id":"a"}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str("{ \"consumer_id\" : \"a\",\n \"name\":\"web\" }").unwrap();
        let c: serde_json::Value =
            serde_json::from_str(r#"{"name":"web","consumer_id":"b"}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_eq!(fingerprint(&a).len(), 64);
    }

    #[test]
    fn the_fingerprint_is_the_sha_256_of_the_compact_sorted_json() {
        // Claims outlive a deploy: the fingerprint of a body must not change with the code.
        let body = serde_json::json!({
            "name": "web",
            "meta": {"s": "é\n\"x\u{1}", "n": 1.5},
            "consumer_id": "a",
        });
        let canonical = r#"{"consumer_id":"a","meta":{"n":1.5,"s":"é\n\"x\u0001"},"name":"web"}"#;
        assert_eq!(body.to_string(), canonical);
        assert_eq!(
            fingerprint(&body),
            "6dbc6bbd18477289d92e60224190cc7ee10e9939cd4d7f2f4da1845e00dae3e1"
        );
    }

    #[test]
    fn claims_and_answers_travel_as_json() {
        for c in [
            Claimed::New { salt: "s".into() },
            Claimed::Pending,
            Claimed::Done {
                salt: "s".into(),
                status: 201,
                body: "{}".into(),
            },
            Claimed::Mismatch,
        ] {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Claimed>(&json).unwrap(), c);
        }
        assert_eq!(
            serde_json::to_string(&Claimed::Pending).unwrap(),
            r#""pending""#
        );
    }
}
