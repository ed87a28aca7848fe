//! The root-key endpoints: create (no escalation: only permissions the caller holds, only
//! within its consumer prefix), list and revoke, behind the tenant guard for root keys
//! ([`crate::root::Principal::sees_root`]: others are answered as unknown ids).

use super::answer::{ApiError, LogFacts, Reply};
use super::body::{self, Checker, Object};
use super::keys::Ctx;
use super::views::RootView;
use super::Sleep;
use crate::audit::{AuditAction, AuditLog};
use crate::idempotency::IdempotencyStore;
use crate::kv::KvStore;
use crate::root::{self, Permission};
use crate::store::{QuotaReader, RateLimiter};
use serde::Serialize;

impl<K, A, I, L, Q, S> Ctx<'_, '_, K, A, I, L, Q, S>
where
    K: KvStore,
    A: AuditLog,
    I: IdempotencyStore,
    L: RateLimiter,
    Q: QuotaReader,
    S: Sleep,
{
    pub async fn create_root(
        &self,
        json: Option<Object>,
        facts: &mut LogFacts,
    ) -> Result<Reply, ApiError> {
        let o = json.unwrap_or_default();
        let mut c = Checker::default();
        let new = body::new_root(&mut c, &o);
        let new = c.finish(new)?;
        if !self
            .who
            .principal
            .may_grant(new.permissions, new.consumer_prefix.as_deref())
        {
            return Err(ApiError::Forbidden {
                scope: Permission::RootsManage,
                detail:
                    "a root key can grant only permissions it holds, within its own consumer prefix"
                        .into(),
            });
        }
        let (key, record) = root::create_root(
            self.deps.kv,
            &new.name,
            new.permissions,
            new.consumer_prefix.as_deref(),
            self.now(),
        )
        .await
        .map_err(|e| ApiError::lifecycle(e, "root key"))?;
        facts.key(&record.id, record.consumer_prefix.as_deref());
        let mut fields = vec!["name".to_owned(), "permissions".to_owned()];
        if record.consumer_prefix.is_some() {
            fields.push("consumer_prefix".into());
        }
        let not_audited = self
            .audit(
                AuditAction::RootCreate,
                vec![record.id.clone()],
                record.consumer_prefix.clone(),
                fields,
                &[],
            )
            .await;
        #[derive(Serialize)]
        struct Created<'a> {
            key: &'a str,
            record: RootView<'a>,
        }
        let body = Created {
            key: key.expose(),
            record: RootView::of(&record),
        };
        Ok(Reply {
            not_audited,
            ..Reply::json(201, &body)
        })
    }

    pub async fn list_roots(&self) -> Result<Reply, ApiError> {
        let list = root::list_roots(self.deps.kv)
            .await
            .map_err(|e| ApiError::lifecycle(e, "root key"))?;
        #[derive(Serialize)]
        struct Roots<'a> {
            roots: Vec<RootView<'a>>,
        }
        let body = Roots {
            roots: list
                .roots
                .iter()
                .filter(|r| self.who.principal.sees_root(r))
                .map(RootView::of)
                .collect(),
        };
        Ok(Reply::json(200, &body))
    }

    pub async fn revoke_root(&self, id: &str, facts: &mut LogFacts) -> Result<Reply, ApiError> {
        let record = root::revoke_root(self.deps.kv, id, |r| self.who.principal.sees_root(r))
            .await
            .map_err(|e| match e {
                // A corrupt record outside a confined principal's view is nobody it can know.
                crate::lifecycle::LifecycleError::Corrupt { .. } if self.who.prefix().is_some() => {
                    ApiError::NotFound { what: "root key" }
                }
                e => ApiError::lifecycle(e, "root key"),
            })?;
        facts.key(&record.id, record.consumer_prefix.as_deref());
        let not_audited = self
            .audit(
                AuditAction::RootRevoke,
                vec![record.id.clone()],
                record.consumer_prefix.clone(),
                vec![],
                &[],
            )
            .await;
        Ok(Reply {
            not_audited,
            ..Reply::no_content()
        })
    }
}
