//! `POST /keys`, and its idempotency. With an `Idempotency-Key` (scoped per principal), the
//! first request claims the key in the idempotency store; its new key is derived from the
//! presented credential, the claim's salt and the idempotency key
//! ([`crate::idempotency::derive_key`]), so the answer stored for a replay holds no key: a
//! replay derives it again and checks it against the stored record's id. A retry while the
//! first is still running waits for it (up to [`super::IDEMPOTENCY_WAIT_MS`]), then gets a 409.
//! A create that fails releases its claim.

use super::answer::{ApiError, LogFacts, Reply};
use super::body::{self, Checker, Object};
use super::keys::Ctx;
use super::views::{key_location, KeyView};
use super::{Sleep, IDEMPOTENCY_RETRY_AFTER_SECS, IDEMPOTENCY_WAIT_MS};
use crate::audit::{AuditAction, AuditLog};
use crate::idempotency::{self, derive_key, Claim, Claimed, IdempotencyStore};
use crate::kv::KvStore;
use crate::lifecycle::{self, NewKey};
use crate::record::KeyRecord;
use crate::secret::ApiKey;
use crate::store::{QuotaReader, RateLimiter};
use http::{HeaderMap, HeaderName};

/// The request header of an idempotent create.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The first pause of a waiting retry, in ms; each next one doubles, up to [`MAX_POLL_MS`].
const FIRST_POLL_MS: u64 = 50;
const MAX_POLL_MS: u64 = 1_000;

impl<K, A, I, L, Q, S> Ctx<'_, '_, K, A, I, L, Q, S>
where
    K: KvStore,
    A: AuditLog,
    I: IdempotencyStore,
    L: RateLimiter,
    Q: QuotaReader,
    S: Sleep,
{
    pub async fn create(
        &self,
        headers: &HeaderMap,
        json: Option<Object>,
        facts: &mut LogFacts,
    ) -> Result<Reply, ApiError> {
        let o = json.unwrap_or_default();
        let mut c = Checker::default();
        let new = body::new_key(&mut c, &o, self.now(), &[]);
        let idem = idempotency_key(&mut c, headers);
        let ((new, set), idem) = c.finish(new.zip(idem))?;
        self.guard_consumer(&new.consumer_id)?;
        facts.consumer_id = Some(new.consumer_id.clone());
        let Some(idem) = idem else {
            let (key, record) = lifecycle::create(self.deps.kv, &new, self.now())
                .await
                .map_err(|e| ApiError::lifecycle(e, "key"))?;
            let view = view_of(&record, self.now());
            return Ok(self.created(&key, &record, &view, set, facts).await);
        };
        let claim = Claim {
            scope: self.who.principal.actor().to_owned(),
            key: idem,
            fingerprint: idempotency::fingerprint(&serde_json::Value::Object(o)),
            now: self.now(),
            salt: new_salt()?,
        };
        let mut waited = 0;
        let mut pause = FIRST_POLL_MS;
        loop {
            let claimed = self
                .deps
                .idempotency
                .claim(&claim)
                .await
                .map_err(|e| ApiError::Log(e.0))?;
            match claimed {
                Claimed::New { salt } => {
                    return self.create_claimed(&claim, &salt, &new, set, facts).await
                }
                Claimed::Done { salt, status, body } => {
                    return self.replay(&claim, &salt, status, &body, facts)
                }
                Claimed::Mismatch => {
                    return Err(ApiError::Conflict {
                        detail: "this Idempotency-Key was used with another body".into(),
                        retry_after: None,
                    })
                }
                Claimed::Pending if waited >= IDEMPOTENCY_WAIT_MS => {
                    return Err(ApiError::Conflict {
                        detail: "a request with this Idempotency-Key is still in progress".into(),
                        retry_after: Some(IDEMPOTENCY_RETRY_AFTER_SECS),
                    })
                }
                Claimed::Pending => {
                    let ms = pause.min(IDEMPOTENCY_WAIT_MS - waited);
                    self.deps.sleep.sleep(ms).await;
                    waited += ms;
                    pause = (pause * 2).min(MAX_POLL_MS);
                }
            }
        }
    }

    /// The answer of a created key, whose record view is `view`, with its audit entry.
    async fn created(
        &self,
        key: &ApiKey,
        record: &KeyRecord,
        view: &str,
        set: Vec<String>,
        facts: &mut LogFacts,
    ) -> Reply {
        facts.key(&record.id, Some(&record.consumer_id));
        let not_audited = self
            .audit(
                AuditAction::KeyCreate,
                vec![record.id.clone()],
                Some(record.consumer_id.clone()),
                set,
                &[crate::changes::Change::stored(&key.hash(), record)],
            )
            .await;
        Reply {
            not_audited,
            ..Reply::raw(201, created_body(key, view)).at(key_location(&record.id))
        }
    }

    /// The work of a claim this request holds: the derived key is stored, the claim completed
    /// with the answer (without the key), the entry audited. A failed create gives the claim up.
    async fn create_claimed(
        &self,
        claim: &Claim,
        salt: &str,
        new: &NewKey,
        set: Vec<String>,
        facts: &mut LogFacts,
    ) -> Result<Reply, ApiError> {
        let store = self.deps.idempotency;
        let key = derive_key(self.who.credential.expose().as_bytes(), salt, &claim.key);
        let record = match lifecycle::create_with(self.deps.kv, &key, new, self.now()).await {
            Ok(r) => r,
            Err(e) => {
                if let Err(r) = store.release(&claim.scope, &claim.key, salt).await {
                    facts.detail = Some(format!("idempotency claim not released: {}", r.0));
                }
                return Err(ApiError::lifecycle(e, "key"));
            }
        };
        let view = view_of(&record, self.now());
        // Completed before the audit entry: the key exists, so a retry must get it back even
        // if the audit append then fails.
        if let Err(e) = store
            .complete(&claim.scope, &claim.key, salt, 201, &view)
            .await
        {
            facts.detail = Some(format!(
                "management log: the idempotency claim was not completed: {}",
                e.0
            ));
        }
        Ok(self.created(&key, &record, &view, set, facts).await)
    }

    /// The first answer again: its key derived anew, and checked against the stored record.
    fn replay(
        &self,
        claim: &Claim,
        salt: &str,
        status: u16,
        view: &str,
        facts: &mut LogFacts,
    ) -> Result<Reply, ApiError> {
        let stored: serde_json::Value = serde_json::from_str(view)
            .map_err(|_| ApiError::Internal("a stored idempotent answer does not decode".into()))?;
        let id = stored["id"].as_str().unwrap_or_default();
        let key = derive_key(self.who.credential.expose().as_bytes(), salt, &claim.key);
        if key.hash().id() != id {
            // Same principal, another credential (ADMIN_TOKEN was changed): its key cannot be
            // given back.
            return Err(ApiError::Conflict {
                detail: "this Idempotency-Key was used with another credential".into(),
                retry_after: None,
            });
        }
        facts.key(id, stored["consumer_id"].as_str());
        Ok(Reply {
            replayed: true,
            ..Reply::raw(status, created_body(&key, view)).at(key_location(id))
        })
    }
}

fn view_of(record: &KeyRecord, now: u64) -> String {
    serde_json::to_string(&KeyView::of(record, now)).expect("a key view serialises")
}

/// `{"key":…,"record":…}` around a record view already serialised, so a replay is the first
/// answer byte for byte.
fn created_body(key: &ApiKey, view: &str) -> String {
    format!(
        "{{\"key\":{},\"record\":{view}}}",
        serde_json::to_string(key.expose()).expect("a string serialises")
    )
}

/// The `Idempotency-Key` header: `Some(None)` without one, `None` (and an error) for a bad one.
fn idempotency_key(c: &mut Checker, headers: &HeaderMap) -> Option<Option<String>> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(v) = values.next() else {
        return Some(None);
    };
    let one = values.next().is_none();
    match v.to_str() {
        Ok(k) if one && idempotency::valid_key(k) => Some(Some(k.to_owned())),
        _ => {
            c.err(
                "Idempotency-Key",
                "Idempotency-Key must be one header of 1 to 255 printable ASCII characters",
            );
            None
        }
    }
}

/// A fresh random salt for a claim.
fn new_salt() -> Result<String, ApiError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| ApiError::Internal(format!("random generator: {e}")))?;
    Ok(hex::encode(b))
}
