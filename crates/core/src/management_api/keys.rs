//! The key endpoints over [`crate::lifecycle`]: list, show, update (a merge patch), rotate,
//! revoke, import and usage, each behind the tenant guard (a key outside the root key's
//! consumer prefix is answered exactly as an unknown id), each write followed by its audit
//! entry. Also the request context ([`Ctx`]) every endpoint runs in.

use super::answer::{ApiError, LogFacts, Reply};
use super::auth::Authenticated;
use super::body::{self, Checker, Object};
use super::views::{key_location, KeyView, QuotaView, SummaryView};
use super::{Deps, Sleep, MAX_KV_PAGES};
use crate::audit::{AuditAction, AuditEntry, AuditLog};
use crate::changes::Change;
use crate::idempotency::IdempotencyStore;
use crate::kv::KvStore;
use crate::lifecycle::{
    self, parse_state, rules, Filter, KeyRef, LifecycleError, Position, DEFAULT_OVERLAP_SECS,
};
use crate::pipeline::quota_of;
use crate::record::KeyRecord;
use crate::root::Permission;
use crate::sealed::Sealer;
use crate::secret::KeyHash;
use crate::store::{LimitError, QuotaReader, RateLimiter};
use serde::Serialize;
use serde_json::Value;

/// One authenticated request's context: the stores, the principal, the request id.
pub(crate) struct Ctx<'a, 'd, K, A, I, L, Q, S> {
    pub deps: &'a Deps<'d, K, A, I, L, Q, S>,
    pub who: &'a Authenticated,
    pub request_id: &'a str,
}

/// The detail of a 403 for a consumer outside the root key's prefix.
pub(crate) const OUTSIDE_PREFIX: &str = "consumer_id is outside this root key's consumer prefix";

impl<K, A, I, L, Q, S> Ctx<'_, '_, K, A, I, L, Q, S>
where
    K: KvStore,
    A: AuditLog,
    I: IdempotencyStore,
    L: RateLimiter,
    Q: QuotaReader,
    S: Sleep,
{
    pub fn now(&self) -> u64 {
        self.deps.now
    }

    /// Appends the audit entry of a write that succeeded, with the key writes it made for the
    /// change feed (in one call); `Some(detail)` when that failed (the answer is then a 503 that
    /// says the change was made, and gateways see it within KV's bound only).
    pub async fn audit(
        &self,
        action: AuditAction,
        key_ids: Vec<String>,
        consumer_id: Option<String>,
        fields: Vec<String>,
        changes: &[Change],
    ) -> Option<String> {
        let entry = AuditEntry {
            seq: 0,
            at: self.now(),
            actor: self.who.principal.actor().to_owned(),
            action,
            key_ids,
            consumer_id,
            fields,
            request_id: self.request_id.to_owned(),
        };
        self.deps
            .audit
            .append(&entry, changes)
            .await
            .err()
            .map(|e| e.0)
    }

    /// 403 unless the principal may hold keys of `consumer_id`.
    pub fn guard_consumer(&self, consumer_id: &str) -> Result<(), ApiError> {
        if self.who.principal.sees(consumer_id) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                scope: Permission::KeysWrite,
                detail: OUTSIDE_PREFIX.into(),
            })
        }
    }

    /// The record of key `id`, if the principal may see it: an unknown id and a key outside
    /// the tenant guard are the same 404 (a corrupt record, too, for a confined principal, who
    /// cannot be shown to own it).
    async fn visible(
        &self,
        id: &str,
        facts: &mut LogFacts,
    ) -> Result<(KeyHash, KeyRecord), ApiError> {
        let not_found = ApiError::NotFound { what: "key" };
        match lifecycle::show_hashed(self.deps.kv, &KeyRef::Id(id.to_owned())).await {
            Ok((h, r)) if self.who.principal.sees(&r.consumer_id) => {
                facts.key(&r.id, Some(&r.consumer_id));
                Ok((h, r))
            }
            Ok(_) | Err(LifecycleError::NotFound(_)) => Err(not_found),
            Err(LifecycleError::Corrupt { .. }) if self.who.prefix().is_some() => Err(not_found),
            Err(e) => Err(ApiError::lifecycle(e, "key")),
        }
    }

    pub async fn list(&self, query: Option<&str>) -> Result<Reply, ApiError> {
        let mut c = Checker::default();
        let params = body::query(&mut c, query, &["consumer", "state", "limit", "cursor"]);
        let limit = body::page_limit(&mut c, &params);
        let mut filter = Filter::default();
        if let Some(s) = params.get("state") {
            filter.state = parse_state(s);
            if filter.state.is_none() {
                c.err("state", "state must be active, disabled or expired");
            }
        }
        if let Some(consumer) = params.get("consumer") {
            if rules::check_consumer_id(consumer).is_err() {
                c.err(
                    "consumer",
                    "consumer must be 1 to 128 characters from A-Z a-z 0-9 . _ : @ -",
                );
            }
            filter.consumer_id = Some(consumer.clone());
        }
        let sealer = Sealer::new(&self.deps.cfg.secret, CURSOR_PURPOSE);
        let from = match params.get("cursor") {
            None => Position::default(),
            Some(cur) => decode_cursor(cur, &sealer).unwrap_or_else(|| {
                c.err("cursor", "cursor is not one this API gave out");
                Position::default()
            }),
        };
        c.finish(Some(()))?;
        #[derive(Serialize)]
        struct Page<'a> {
            keys: Vec<SummaryView<'a>>,
            cursor: Option<String>,
        }
        // A consumer outside the prefix has no key this principal may see.
        if filter
            .consumer_id
            .as_deref()
            .is_some_and(|id| !self.who.principal.sees(id))
        {
            let empty = Page {
                keys: vec![],
                cursor: None,
            };
            return Ok(Reply::json(200, &empty));
        }
        let now = self.now();
        let admit = |s: &lifecycle::Summary| {
            filter.admits(s, now) && self.who.principal.sees(&s.consumer_id)
        };
        let listing = lifecycle::list_page(self.deps.kv, admit, &from, limit, MAX_KV_PAGES)
            .await
            .map_err(|e| ApiError::lifecycle(e, "key"))?;
        let cursor = match &listing.next {
            None => None,
            Some(next) => Some(encode_cursor(next, &sealer).ok_or_else(|| {
                ApiError::Internal("the random generator failed to seal a cursor".into())
            })?),
        };
        let page = Page {
            keys: listing
                .keys
                .iter()
                .map(|s| SummaryView::of(s, now))
                .collect(),
            cursor,
        };
        Ok(Reply::json(200, &page))
    }

    pub async fn show(&self, id: &str, facts: &mut LogFacts) -> Result<Reply, ApiError> {
        let (_, r) = self.visible(id, facts).await?;
        Ok(Reply::json(200, &KeyView::of(&r, self.now())))
    }

    pub async fn update(
        &self,
        id: &str,
        json: Option<Object>,
        facts: &mut LogFacts,
    ) -> Result<Reply, ApiError> {
        let o = json.unwrap_or_default();
        let mut c = Checker::default();
        let p = body::patch(&mut c, &o, self.now());
        let mut p = c.finish(p)?;
        let (hash, current) = self.visible(id, facts).await?;
        if let Some(meta_patch) = p.meta.take() {
            let mut meta = Value::Object(current.meta.clone());
            body::merge_patch(&mut meta, &Value::Object(meta_patch));
            let Value::Object(meta) = meta else {
                unreachable!("a merge of objects is an object")
            };
            let mut c = Checker::default();
            c.rule(rules::check_meta(&meta));
            c.finish(Some(()))?;
            p.changes.meta = Some(meta);
        }
        let updated = lifecycle::update(
            self.deps.kv,
            &KeyRef::Id(id.to_owned()),
            &p.changes,
            self.now(),
        )
        .await
        .map_err(|e| ApiError::lifecycle(e, "key"))?;
        let r = &updated.record;
        let fields = changed_fields(&updated.before, r);
        let not_audited = self
            .audit(
                AuditAction::KeyUpdate,
                vec![r.id.clone()],
                Some(r.consumer_id.clone()),
                fields,
                &[Change::stored(&hash, r)],
            )
            .await;
        Ok(Reply {
            not_audited,
            ..Reply::json(200, &KeyView::of(r, self.now()))
        })
    }

    pub async fn rotate(
        &self,
        id: &str,
        json: Option<Object>,
        facts: &mut LogFacts,
    ) -> Result<Reply, ApiError> {
        let overlap = match json {
            None => DEFAULT_OVERLAP_SECS,
            Some(o) => {
                let mut c = Checker::default();
                let overlap = body::overlap(&mut c, &o);
                c.finish(overlap)?.unwrap_or(DEFAULT_OVERLAP_SECS)
            }
        };
        let (old_hash, _) = self.visible(id, facts).await?;
        let rot = lifecycle::rotate(
            self.deps.kv,
            &KeyRef::Id(id.to_owned()),
            overlap,
            self.now(),
        )
        .await
        .map_err(|e| ApiError::lifecycle(e, "key"))?;
        facts.key(&rot.new.id, Some(&rot.new.consumer_id));
        let not_audited = self
            .audit(
                AuditAction::KeyRotate,
                vec![rot.old.id.clone(), rot.new.id.clone()],
                Some(rot.new.consumer_id.clone()),
                vec!["expires_at".into()],
                &[
                    Change::stored(&old_hash, &rot.old),
                    Change::stored(&rot.key.hash(), &rot.new),
                ],
            )
            .await;
        #[derive(Serialize)]
        struct Rotated<'a> {
            key: &'a str,
            record: KeyView<'a>,
            previous: KeyView<'a>,
        }
        let now = self.now();
        let body = Rotated {
            key: rot.key.expose(),
            record: KeyView::of(&rot.new, now),
            previous: KeyView::of(&rot.old, now),
        };
        Ok(Reply {
            not_audited,
            ..Reply::json(201, &body).at(key_location(&rot.new.id))
        })
    }

    pub async fn revoke(&self, id: &str, facts: &mut LogFacts) -> Result<Reply, ApiError> {
        let (hash, r) = self.visible(id, facts).await?;
        lifecycle::revoke(self.deps.kv, &KeyRef::Id(id.to_owned()))
            .await
            .map_err(|e| ApiError::lifecycle(e, "key"))?;
        let not_audited = self
            .audit(
                AuditAction::KeyRevoke,
                vec![r.id.clone()],
                Some(r.consumer_id.clone()),
                vec![],
                &[Change::deleted(&hash)],
            )
            .await;
        Ok(Reply {
            not_audited,
            ..Reply::no_content()
        })
    }

    pub async fn import(
        &self,
        json: Option<Object>,
        facts: &mut LogFacts,
    ) -> Result<Reply, ApiError> {
        let o = json.unwrap_or_default();
        let mut c = Checker::default();
        let keys = body::import_keys(&mut c, &o);
        let new = body::new_key(&mut c, &o, self.now(), &["keys"]);
        let (keys, (new, set)) = c.finish(keys.zip(new))?;
        self.guard_consumer(&new.consumer_id)?;
        let lines: Vec<&str> = keys.iter().map(|k| k.expose()).collect();
        let records = lifecycle::import(self.deps.kv, &lines, &new, self.now())
            .await
            .map_err(|e| ApiError::lifecycle(e, "key"))?;
        let changes: Vec<Change> = keys
            .iter()
            .map(|k| k.hash())
            .filter_map(|h| {
                let r = records.iter().find(|r| r.id == h.id())?;
                Some(Change::stored(&h, r))
            })
            .collect();
        drop(keys);
        facts.consumer_id = Some(new.consumer_id.clone());
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let not_audited = self
            .audit(
                AuditAction::KeyImport,
                ids,
                Some(new.consumer_id.clone()),
                set,
                &changes,
            )
            .await;
        #[derive(Serialize)]
        struct Imported<'a> {
            records: Vec<KeyView<'a>>,
        }
        let now = self.now();
        let body = Imported {
            records: records.iter().map(|r| KeyView::of(r, now)).collect(),
        };
        Ok(Reply {
            not_audited,
            ..Reply::json(201, &body)
        })
    }

    pub async fn usage(&self, id: &str, facts: &mut LogFacts) -> Result<Reply, ApiError> {
        let (_, r) = self.visible(id, facts).await?;
        let Some((q, counter, window)) = quota_of(&r, self.now()) else {
            #[derive(Serialize)]
            struct NoQuota<'a> {
                id: &'a str,
                quota: Option<()>,
            }
            return Ok(Reply::json(
                200,
                &NoQuota {
                    id: &r.id,
                    quota: None,
                },
            ));
        };
        let used = self
            .deps
            .quotas
            .used(&counter, window.start)
            .await
            .map_err(|e| match e {
                LimitError::MissingBinding => {
                    ApiError::Config("the quota counters' binding (QUOTAS) is missing".into())
                }
                LimitError::Unavailable(m) => ApiError::Quota(m),
            })?;
        #[derive(Serialize)]
        struct Usage<'a> {
            id: &'a str,
            quota: QuotaView,
            counter: &'a str,
            window_start: u64,
            resets_at: u64,
            used: u64,
            remaining: u64,
        }
        Ok(Reply::json(
            200,
            &Usage {
                id: &r.id,
                quota: QuotaView::of(&q),
                counter: &counter,
                window_start: window.start,
                resets_at: window.end,
                used,
                remaining: q.limit.saturating_sub(used),
            },
        ))
    }
}

/// The names of the fields an update changed (the API's names; `disabled` is `enabled`).
fn changed_fields(before: &KeyRecord, after: &KeyRecord) -> Vec<String> {
    let changed = [
        ("name", before.name != after.name),
        ("description", before.description != after.description),
        ("consumer_name", before.consumer_name != after.consumer_name),
        ("scopes", before.scopes != after.scopes),
        ("meta", before.meta != after.meta),
        ("tier", before.tier != after.tier),
        ("quota", before.quota != after.quota),
        ("expires_at", before.expires_at != after.expires_at),
        ("enabled", before.disabled != after.disabled),
    ];
    changed
        .into_iter()
        .filter(|(_, c)| *c)
        .map(|(n, _)| n.to_owned())
        .collect()
}

/// What a list cursor is sealed for (see [`crate::sealed`]).
const CURSOR_PURPOSE: &str = "management list cursor v1";

/// A list position as an opaque cursor: the KV cursor and the last name returned (a full key
/// hash, and KV's cursor may encode one too), sealed so that neither can be read from it.
fn encode_cursor(p: &Position, sealer: &Sealer) -> Option<String> {
    let plain = format!(
        "{}.{}",
        hex::encode(p.kv_cursor.as_deref().unwrap_or("")),
        p.after.as_deref().unwrap_or("")
    );
    sealer.seal(plain.as_bytes())
}

/// A cursor read back; `None` for anything this API did not give out.
fn decode_cursor(s: &str, sealer: &Sealer) -> Option<Position> {
    let plain = String::from_utf8(sealer.open(s)?).ok()?;
    let (kv, after) = plain.split_once('.')?;
    let kv = String::from_utf8(hex::decode(kv).ok()?).ok()?;
    if !after.is_empty() && KeyHash::parse(after).is_none() {
        return None;
    }
    Some(Position {
        kv_cursor: (!kv.is_empty()).then_some(kv),
        after: (!after.is_empty()).then(|| after.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SharedSecret;

    fn sealer(secret: &str) -> Sealer {
        Sealer::new(&SharedSecret::new(secret.to_owned()), CURSOR_PURPOSE)
    }

    #[test]
    fn a_cursor_reads_back_and_a_made_up_one_does_not() {
        let s = sealer("0123456789abcdef0123");
        let p = Position {
            kv_cursor: Some("abc".into()),
            after: Some("a".repeat(64)),
        };
        assert_eq!(decode_cursor(&encode_cursor(&p, &s).unwrap(), &s), Some(p));
        let first = encode_cursor(&Position::default(), &s).unwrap();
        assert_eq!(decode_cursor(&first, &s), Some(Position::default()));
        for bad in ["", "zz", "7b", "7b.root:x", ".0123", "zz.", &"a".repeat(64)] {
            assert_eq!(decode_cursor(bad, &s), None, "{bad}");
        }
        // A sealed value that is not a position does not decode either.
        let other = s.seal(b"7b.root:x").unwrap();
        assert_eq!(decode_cursor(&other, &s), None);
    }

    #[test]
    fn a_cursor_holds_neither_the_last_hash_nor_the_kv_cursor_in_any_readable_form() {
        let s = sealer("0123456789abcdef0123");
        let hash = "4e93e9dbf6510c2a".repeat(4);
        let p = Position {
            // Miniflare's KV cursor is the base64 of the last name listed.
            kv_cursor: Some("NGU5M2U5ZGJmNjUxMGMyYQ==".into()),
            after: Some(hash.clone()),
        };
        let cursor = encode_cursor(&p, &s).unwrap();
        let raw = hex::decode(&cursor).unwrap();
        for needle in [&hash[..12], "NGU5M2U5", &hex::encode("NGU5M2U5")] {
            assert!(!cursor.contains(needle), "{needle}");
            assert!(!raw.windows(needle.len()).any(|w| w == needle.as_bytes()));
        }
        // Under another SHARED_SECRET (a rotated one) the cursor is refused, not misread.
        assert_eq!(
            decode_cursor(&cursor, &sealer("a-rotated-secret-4567")),
            None
        );
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut meta = serde_json::json!({"plan":"pro","nested":{"a":1,"b":2},"gone":true});
        body::merge_patch(
            &mut meta,
            &serde_json::json!({"plan":"free","nested":{"b":null,"c":3},"gone":null,"new":[1]}),
        );
        assert_eq!(
            meta,
            serde_json::json!({"plan":"free","nested":{"a":1,"c":3},"new":[1]})
        );
    }
}
