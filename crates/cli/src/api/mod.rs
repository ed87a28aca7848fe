//! API mode: the key commands through the gateway's management API (`/__keygate/v1`, issue 15)
//! instead of wrangler. [`mode`] decides when; [`ApiBackend`] is the [`Backend`] that speaks
//! the contract with a root key as bearer token; [`answer`] turns refusals into CLI errors.
//!
//! Inputs are checked by core's rules before the first call, as on the wrangler path, so a
//! refusal reads the same and costs no request. What comes back is checked too: a key record
//! that breaks keygate's rules is refused, never printed. The root key appears only in the
//! `Authorization` header: every message is scrubbed of it.

pub mod answer;
pub mod mode;

use crate::backend::{root_not_found, AuditPage, Backend, Changed, RevokedRoot};
use crate::commands::usage::{QuotaUsage, Usage, UsageSource};
use crate::error::{CliError, EXIT_STORE};
use crate::http::{Answer, Call, Client, SendError};
use crate::redact::{clean, redact};
use answer::{refusal, Context, KEPT_HEADERS};
use keygate_core::keyformat::{self, KeyShape};
use keygate_core::lifecycle::rules::{
    canonical_scopes, check_consumer_id, check_description, check_import_key, check_label,
    check_meta, check_new_key, check_quota, check_tier,
};
use keygate_core::lifecycle::{
    generate_with_prefix, state_name, AskedBy, Changes, Conflict, Field, Filter, Invalid, KeyRef,
    LifecycleError, NewKey, NotFound, Page, Problem, Rotation, Summary,
};
use keygate_core::limits::{Quota, QuotaScope, Window};
use keygate_core::management::BASE;
use keygate_core::record::RECORD_VERSION;
use keygate_core::root::{is_root_id, Permissions, RootKey, RootList, RootRecord};
use keygate_core::{ApiKey, KeyRecord};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The most keys one `POST /keys/import` takes (the contract's bound).
pub const MAX_IMPORT_KEYS: usize = 1000;
/// The largest request body the API takes.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;
/// The largest answer read.
const MAX_ANSWER: u64 = 4 * 1024 * 1024;
/// The page size asked for when listing every key.
const LIST_PAGE: u32 = 100;
/// Pauses before the retries of a call that may be retried.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(300), Duration::from_millis(900)];
/// What every call accepts.
const ACCEPT: &str = "application/json, application/problem+json";

/// Which failures a call may be retried after (with the same request, so at most the first
/// attempt can have had an effect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Never,
    /// No answer came (connection refused or broken): a create carrying an `Idempotency-Key`.
    Unanswered,
    /// No answer, or 502/503/504: reads.
    UnansweredOrUnavailable,
}

/// What a call names, for its 404.
enum Names<'a> {
    Collection,
    Key(&'a KeyRef),
    Root(&'a str),
}

/// The management API as a [`Backend`].
pub struct ApiBackend {
    base: String,
    root_key: RootKey,
    client: Client,
    pauses: Vec<Duration>,
}

impl ApiBackend {
    /// A backend for the gateway at `base` (checked by [`mode::choose`]).
    pub fn new(base: String, root_key: RootKey) -> Self {
        let client = Client::new(&base, Duration::from_secs(30));
        Self {
            base,
            root_key,
            client,
            pauses: RETRY_PAUSES.to_vec(),
        }
    }

    /// The same, retrying without pauses (tests).
    #[cfg(test)]
    pub(crate) fn without_pauses(base: String, root_key: RootKey) -> Self {
        Self {
            pauses: vec![Duration::ZERO; RETRY_PAUSES.len()],
            ..Self::new(base, root_key)
        }
    }

    fn hide(&self, s: &str) -> String {
        redact(s, self.root_key.expose(), "root key")
    }

    /// One call, with retries as `retry` allows; any answer is returned, a missing one is an
    /// error (exit 5: try again).
    fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<(&str, &str)>,
        headers: &[(&str, &str)],
        retry: Retry,
    ) -> Result<Answer, CliError> {
        let url = format!("{}{BASE}{path_and_query}", self.base);
        let call = Call {
            method,
            url: &url,
            token: self.root_key.expose(),
            token_label: "root key",
            accept: ACCEPT,
            headers,
            body,
            max_body: MAX_ANSWER,
            keep: KEPT_HEADERS,
        };
        let mut pauses = self.pauses.iter();
        loop {
            let result = self.client.call(&call);
            let retryable = match &result {
                Ok(a) => retry == Retry::UnansweredOrUnavailable && matches!(a.status, 502..=504),
                Err(SendError::Unreachable(_)) => retry != Retry::Never,
                Err(SendError::Unreadable { .. }) => false,
            };
            if retryable {
                if let Some(p) = pauses.next() {
                    std::thread::sleep(*p);
                    continue;
                }
            }
            return match result {
                Ok(a) => Ok(a),
                Err(SendError::Unreachable(e)) => {
                    let local =
                        url::Url::parse(&self.base).is_ok_and(|u| crate::http::is_loopback(&u));
                    let hint = if method != "GET" {
                        "; if the request arrived, the change may have been made: look before \
                         trying again"
                    } else if local {
                        "; is the local gateway running (`make dev`)?"
                    } else {
                        ""
                    };
                    Err(CliError::Coded {
                        code: EXIT_STORE,
                        message: self.hide(&format!(
                            "no answer from the management API at {}: {}{hint}",
                            self.base,
                            clean(&e)
                        )),
                    })
                }
                Err(SendError::Unreadable { status, error }) => {
                    Err(CliError::Failed(self.hide(&format!(
                        "could not read the management API's answer ({status}): {}",
                        clean(&error)
                    ))))
                }
            };
        }
    }

    /// The answer if it is a success; else the refusal as a CLI error. A 404 about one key
    /// reads exactly as on the wrangler path.
    fn success(&self, a: Answer, names: Names) -> Result<Answer, CliError> {
        if (200..300).contains(&a.status) {
            return Ok(a);
        }
        match (&names, a.status) {
            (Names::Key(r), 404) => {
                let (id, by) = match r {
                    KeyRef::Id(id) => (id.clone(), AskedBy::Id),
                    KeyRef::Key(k) => (k.hash().id().to_owned(), AskedBy::Key),
                };
                return Err(LifecycleError::NotFound(NotFound { id, by }).into());
            }
            (Names::Root(id), 404) => return Err(root_not_found(id)),
            _ => {}
        }
        let hash = self.root_key.hash();
        Err(refusal(
            &a,
            &Context {
                base: &self.base,
                root_id: hash.id(),
                secret: self.root_key.expose(),
                names_an_id: !matches!(names, Names::Collection),
            },
        ))
    }

    /// The answer's body as `T`.
    fn parse<T: for<'de> Deserialize<'de>>(&self, a: &Answer, what: &str) -> Result<T, CliError> {
        serde_json::from_str(&a.body).map_err(|e| {
            CliError::Failed(self.hide(&format!(
                "the management API's answer to {what} is not what the contract describes ({}); \
                 is {} a keygate gateway?",
                clean(&e.to_string()),
                self.base
            )))
        })
    }

    fn get<T: for<'de> Deserialize<'de>>(
        &self,
        path_and_query: &str,
        names: Names,
        what: &str,
    ) -> Result<T, CliError> {
        let a = self.send(
            "GET",
            path_and_query,
            None,
            &[],
            Retry::UnansweredOrUnavailable,
        )?;
        let a = self.success(a, names)?;
        self.parse(&a, what)
    }

    fn write<T: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &Value)>,
        names: Names,
        what: &str,
    ) -> Result<T, CliError> {
        let text = body.map(|(ct, v)| (ct, v.to_string()));
        let a = self.send(
            method,
            path,
            text.as_ref().map(|(ct, b)| (*ct, b.as_str())),
            &[],
            Retry::Never,
        )?;
        let a = self.success(a, names)?;
        self.parse(&a, what)
    }

    fn delete(&self, path: &str, names: Names) -> Result<(), CliError> {
        let a = self.send("DELETE", path, None, &[], Retry::Never)?;
        self.success(a, names).map(|_| ())
    }
}

/// The id a key reference names in a path: the id itself, or the id of the key's hash.
fn id_of(r: &KeyRef) -> String {
    match r {
        KeyRef::Id(id) => id.clone(),
        KeyRef::Key(k) => k.hash().id().to_owned(),
    }
}

fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

fn quota_json(q: &Quota) -> Value {
    let per = match q.per {
        QuotaScope::Key => "key",
        QuotaScope::Consumer => "consumer",
    };
    json!({"limit": q.limit, "period": q.period.to_string(), "per": per})
}

/// The fields of `POST /keys` (and of an import) for a new key.
fn new_key_json(new: &NewKey) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), new.name.clone().into());
    m.insert("consumer_id".into(), new.consumer_id.clone().into());
    if let Some(n) = &new.consumer_name {
        m.insert("consumer_name".into(), n.clone().into());
    }
    if let Some(e) = new.expires_at {
        m.insert("expires_at".into(), e.into());
    }
    if !new.scopes.is_empty() {
        m.insert("scopes".into(), new.scopes.clone().into());
    }
    if !new.meta.is_empty() {
        m.insert("meta".into(), Value::Object(new.meta.clone()));
    }
    if let Some(d) = &new.description {
        m.insert("description".into(), d.clone().into());
    }
    if let Some(t) = &new.tier {
        m.insert("tier".into(), t.clone().into());
    }
    if let Some(q) = &new.quota {
        m.insert("quota".into(), quota_json(q));
    }
    m
}

/// The JSON merge patch (RFC 7396) of `changes`. Metadata is replaced as a whole, as on the
/// wrangler path: members of `before` that are gone become `null`.
fn merge_patch(changes: &Changes, before: Option<&KeyRecord>) -> Value {
    let mut m = Map::new();
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    if let Some(n) = &changes.name {
        m.insert("name".into(), n.clone().into());
    }
    if let Some(n) = &changes.consumer_name {
        m.insert("consumer_name".into(), opt(n));
    }
    if let Some(d) = &changes.description {
        m.insert("description".into(), opt(d));
    }
    if let Some(s) = &changes.scopes {
        m.insert(
            "scopes".into(),
            canonical_scopes(s).unwrap_or_default().into(),
        );
    }
    if let Some(meta) = &changes.meta {
        let mut patch = meta.clone();
        for k in before.map(|b| b.meta.keys()).into_iter().flatten() {
            if !meta.contains_key(k) {
                patch.insert(k.clone(), Value::Null);
            }
        }
        m.insert("meta".into(), Value::Object(patch));
    }
    if let Some(t) = &changes.tier {
        m.insert("tier".into(), opt(t));
    }
    if let Some(q) = &changes.quota {
        m.insert("quota".into(), q.as_ref().map_or(Value::Null, quota_json));
    }
    if let Some(d) = changes.disabled {
        m.insert("enabled".into(), (!d).into());
    }
    Value::Object(m)
}

/// A key view of the contract (never the key, never the hash).
#[derive(Deserialize)]
struct KeyView {
    id: String,
    name: String,
    consumer_id: String,
    #[serde(default)]
    consumer_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    created_at: u64,
    #[serde(default)]
    expires_at: Option<u64>,
    enabled: bool,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    meta: Option<Map<String, Value>>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    quota: Option<Quota>,
}

/// The rules every record shown must follow: what the wrangler path's decoding guarantees.
fn check_view(id: &str, name: &str, consumer_id: &str, tier: Option<&str>) -> Result<(), Invalid> {
    if !is_root_id(id) {
        return Err(Invalid::new(Field::Key, Problem::NotKeyOrId));
    }
    check_label(Field::Name, name)?;
    check_consumer_id(consumer_id)?;
    if let Some(t) = tier {
        check_tier(t)?;
    }
    Ok(())
}

fn invalid_answer(e: Invalid) -> CliError {
    CliError::Failed(format!(
        "the management API answered with a key record that breaks keygate's rules ({}); \
         nothing is shown",
        clean(&e.to_string())
    ))
}

impl KeyView {
    fn into_record(self) -> Result<KeyRecord, CliError> {
        let checked = || -> Result<(), Invalid> {
            check_view(
                &self.id,
                &self.name,
                &self.consumer_id,
                self.tier.as_deref(),
            )?;
            if let Some(n) = &self.consumer_name {
                check_label(Field::ConsumerName, n)?;
            }
            if let Some(d) = &self.description {
                check_description(d)?;
            }
            canonical_scopes(self.scopes.as_deref().unwrap_or_default())?;
            if let Some(m) = &self.meta {
                check_meta(m)?;
            }
            if let Some(q) = &self.quota {
                check_quota(q)?;
            }
            Ok(())
        };
        checked().map_err(invalid_answer)?;
        Ok(KeyRecord {
            v: RECORD_VERSION,
            id: self.id,
            name: self.name,
            consumer_id: self.consumer_id,
            consumer_name: self.consumer_name,
            created_at: self.created_at,
            expires_at: self.expires_at,
            disabled: !self.enabled,
            meta: self.meta.unwrap_or_default(),
            scopes: self.scopes.unwrap_or_default(),
            description: self.description,
            tier: self.tier,
            quota: self.quota,
        })
    }
}

/// A key summary of `GET /keys`.
#[derive(Deserialize)]
struct SummaryView {
    id: String,
    name: String,
    consumer_id: String,
    created_at: u64,
    #[serde(default)]
    expires_at: Option<u64>,
    enabled: bool,
    #[serde(default)]
    tier: Option<String>,
}

impl SummaryView {
    fn into_summary(self) -> Result<Summary, CliError> {
        check_view(
            &self.id,
            &self.name,
            &self.consumer_id,
            self.tier.as_deref(),
        )
        .map_err(invalid_answer)?;
        Ok(Summary {
            id: self.id,
            name: self.name,
            consumer_id: self.consumer_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            disabled: !self.enabled,
            tier: self.tier,
        })
    }
}

#[derive(Deserialize)]
struct Created {
    key: String,
    record: KeyView,
}

#[derive(Deserialize)]
struct Rotated {
    key: String,
    record: KeyView,
    previous: KeyView,
}

#[derive(Deserialize)]
struct Imported {
    records: Vec<KeyView>,
}

#[derive(Deserialize)]
struct KeyList {
    keys: Vec<SummaryView>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct UsageView {
    id: String,
    #[serde(default)]
    quota: Option<Quota>,
    #[serde(default)]
    counter: Option<String>,
    #[serde(default)]
    window_start: Option<u64>,
    #[serde(default)]
    resets_at: Option<u64>,
    #[serde(default)]
    used: Option<u64>,
    #[serde(default)]
    remaining: Option<u64>,
}

#[derive(Deserialize)]
struct RootCreated {
    key: String,
    record: RootRecord,
}

#[derive(Deserialize)]
struct Roots {
    roots: Vec<RootRecord>,
}

/// A key the API handed out, checked before it is printed.
fn checked_key(raw: String) -> Result<ApiKey, CliError> {
    if keyformat::classify(&raw) != KeyShape::Valid {
        return Err(CliError::Failed(
            "the management API's answer holds no valid key (kg_… with a valid checksum); \
             nothing is shown"
                .into(),
        ));
    }
    Ok(ApiKey::new(raw))
}

fn checked_root(r: RootRecord) -> Result<RootRecord, CliError> {
    let ok = is_root_id(&r.id)
        && check_label(Field::Name, &r.name).is_ok()
        && r.consumer_prefix
            .as_deref()
            .is_none_or(|p| keygate_core::root::check_consumer_prefix(p).is_ok());
    if !ok {
        return Err(CliError::Failed(
            "the management API answered with a root key record that breaks keygate's rules; \
             nothing is shown"
                .into(),
        ));
    }
    Ok(r)
}

impl Backend for ApiBackend {
    fn create(&self, new: &NewKey, now: u64) -> Result<(ApiKey, KeyRecord), CliError> {
        check_new_key(new, now)?;
        let body = Value::Object(new_key_json(new)).to_string();
        // One idempotency key for this create: a retry after a lost answer returns the first
        // answer (the same key) and creates nothing.
        let idem = generate_with_prefix("cli_")?;
        let a = self.send(
            "POST",
            "/keys",
            Some(("application/json", &body)),
            &[("Idempotency-Key", idem.expose())],
            Retry::Unanswered,
        )?;
        let a = self.success(a, Names::Collection)?;
        let c: Created = self.parse(&a, "POST /keys")?;
        Ok((checked_key(c.key)?, c.record.into_record()?))
    }

    fn import(&self, lines: &[&str], new: &NewKey, now: u64) -> Result<Vec<KeyRecord>, CliError> {
        // The wrangler path's checks, line by line, before anything is sent.
        check_new_key(new, now)?;
        let mut keys: Vec<ApiKey> = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let k = line.trim();
            if k.is_empty() {
                continue;
            }
            let key = check_import_key(i + 1, k)?;
            if keys.contains(&key) {
                return Err(LifecycleError::from(Conflict::Repeated { line: i + 1 }).into());
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(Invalid::new(Field::Keys, Problem::NoKeys).into());
        }
        let mut body = new_key_json(new);
        body.insert(
            "keys".into(),
            keys.iter().map(|k| k.expose().to_owned()).collect(),
        );
        let body = Value::Object(body);
        if keys.len() > MAX_IMPORT_KEYS || body.to_string().len() > MAX_REQUEST_BODY {
            return Err(CliError::usage(
                "import",
                format!(
                    "the management API imports at most {MAX_IMPORT_KEYS} keys (and 64 KiB) in \
                     one request, all or nothing; these are {} keys. Split them into smaller \
                     imports, or import them on the wrangler path",
                    keys.len()
                ),
            ));
        }
        let i: Imported = self.write(
            "POST",
            "/keys/import",
            Some(("application/json", &body)),
            Names::Collection,
            "POST /keys/import",
        )?;
        i.records.into_iter().map(KeyView::into_record).collect()
    }

    fn list(&self, filter: &Filter, _now: u64) -> Result<Page, CliError> {
        let state = filter.state.map(state_name);
        let limit = LIST_PAGE.to_string();
        let mut page = Page::default();
        let mut cursor: Option<String> = None;
        loop {
            let q = query(&[
                ("consumer", filter.consumer_id.as_deref()),
                ("state", state),
                ("limit", Some(&limit)),
                ("cursor", cursor.as_deref()),
            ]);
            let l: KeyList = self.get(&format!("/keys{q}"), Names::Collection, "GET /keys")?;
            for s in l.keys {
                page.keys.push(s.into_summary()?);
            }
            match l.cursor {
                Some(c) if cursor.as_deref() != Some(c.as_str()) => cursor = Some(c),
                _ => break,
            }
        }
        page.keys
            .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(page)
    }

    fn show(&self, r: &KeyRef) -> Result<KeyRecord, CliError> {
        let v: KeyView = self.get(
            &format!("/keys/{}", id_of(r)),
            Names::Key(r),
            "GET /keys/{id}",
        )?;
        v.into_record()
    }

    fn update(&self, r: &KeyRef, changes: &Changes, _now: u64) -> Result<Changed, CliError> {
        changes.check()?;
        // The record before is read only when a message needs it (set-quota) or the metadata
        // is replaced as a whole.
        let before = if changes.quota.is_some() || changes.meta.is_some() {
            Some(self.show(r)?)
        } else {
            None
        };
        let patch = merge_patch(changes, before.as_ref());
        let v: KeyView = self.write(
            "PATCH",
            &format!("/keys/{}", id_of(r)),
            Some(("application/merge-patch+json", &patch)),
            Names::Key(r),
            "PATCH /keys/{id}",
        )?;
        Ok(Changed {
            record: v.into_record()?,
            before,
        })
    }

    fn rotate(&self, r: &KeyRef, overlap_secs: u64, _now: u64) -> Result<Rotation, CliError> {
        let body = json!({ "overlap": overlap_secs });
        let rot: Rotated = self.write(
            "POST",
            &format!("/keys/{}/rotate", id_of(r)),
            Some(("application/json", &body)),
            Names::Key(r),
            "POST /keys/{id}/rotate",
        )?;
        Ok(Rotation {
            key: checked_key(rot.key)?,
            new: rot.record.into_record()?,
            old: rot.previous.into_record()?,
        })
    }

    fn revoke(&self, r: &KeyRef) -> Result<String, CliError> {
        let id = id_of(r);
        self.delete(&format!("/keys/{id}"), Names::Key(r))?;
        Ok(id)
    }

    fn usage(&self, r: &KeyRef, _admin: &dyn UsageSource, now: u64) -> Result<Usage, CliError> {
        let id = id_of(r);
        // The record (keys:read) names the key; a root key with usage:read alone still gets the
        // count, without the name, consumer, state and tier.
        let a = self.send(
            "GET",
            &format!("/keys/{id}"),
            None,
            &[],
            Retry::UnansweredOrUnavailable,
        )?;
        let rec = if a.status == 403 {
            None
        } else {
            let a = self.success(a, Names::Key(r))?;
            Some(self.parse::<KeyView>(&a, "GET /keys/{id}")?.into_record()?)
        };
        let u: UsageView = self.get(
            &format!("/keys/{id}/usage"),
            Names::Key(r),
            "GET /keys/{id}/usage",
        )?;
        if u.id != id {
            return Err(CliError::Failed(format!(
                "the management API answered about key {}, not {id}",
                clean(&u.id)
            )));
        }
        let usage = match (&u.quota, u.counter, u.window_start, u.resets_at, u.used) {
            (None, ..) => None,
            (Some(q), Some(counter), Some(start), Some(end), Some(used)) => {
                let window = Window { start, end };
                let mut w = QuotaUsage::new(q, clean(&counter), window, used, now);
                if let Some(rem) = u.remaining {
                    w.remaining = rem;
                }
                Some(w)
            }
            (Some(_), ..) => {
                return Err(CliError::Failed(
                    "the management API's usage answer has a quota but no count (counter, \
                     window_start, resets_at, used)"
                        .into(),
                ))
            }
        };
        Ok(Usage {
            id,
            key: rec.map(|rec| crate::commands::usage::KeyInfo {
                state: state_name(rec.state(now)),
                name: rec.name,
                consumer_id: rec.consumer_id,
                tier: rec.tier,
            }),
            quota: u.quota,
            usage,
        })
    }

    fn create_root(
        &self,
        name: &str,
        permissions: Permissions,
        consumer_prefix: Option<&str>,
        _now: u64,
    ) -> Result<(RootKey, RootRecord), CliError> {
        check_label(Field::Name, name)?;
        if let Some(p) = consumer_prefix {
            keygate_core::root::check_consumer_prefix(p)?;
        }
        let mut body = json!({ "name": name, "permissions": permissions });
        if let Some(p) = consumer_prefix {
            body["consumer_prefix"] = p.into();
        }
        let c: RootCreated = self.write(
            "POST",
            "/roots",
            Some(("application/json", &body)),
            Names::Collection,
            "POST /roots",
        )?;
        let key = RootKey::parse(&c.key).ok_or_else(|| {
            CliError::Failed(
                "the management API's answer holds no valid root key (kgr_…); nothing is shown"
                    .into(),
            )
        })?;
        Ok((key, checked_root(c.record)?))
    }

    fn list_roots(&self) -> Result<RootList, CliError> {
        let r: Roots = self.get("/roots", Names::Collection, "GET /roots")?;
        let mut roots = r
            .roots
            .into_iter()
            .map(checked_root)
            .collect::<Result<Vec<_>, _>>()?;
        roots.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(RootList {
            roots,
            corrupt: Vec::new(),
        })
    }

    fn revoke_root(&self, id: &str) -> Result<RevokedRoot, CliError> {
        if !is_root_id(id) {
            return Err(root_not_found(id));
        }
        self.delete(&format!("/roots/{id}"), Names::Root(id))?;
        Ok(RevokedRoot {
            id: id.to_owned(),
            name: None,
        })
    }

    fn audit(&self, limit: u32, cursor: Option<&str>) -> Result<AuditPage, CliError> {
        let limit = limit.to_string();
        let q = query(&[("limit", Some(&limit)), ("cursor", cursor)]);
        self.get(&format!("/audit{q}"), Names::Collection, "GET /audit")
    }
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
