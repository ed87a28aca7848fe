//! Reading management requests: the body (413, 415, a JSON object or 422) and the query, and
//! checking every field at once. The lifecycle's own checks stop at the first broken rule; here
//! each field is checked by the same rules ([`crate::lifecycle::rules`], [`crate::root`]) and
//! every invalid one is reported, so a client fixes its request in one round.

use super::answer::{ApiError, FieldError};
use super::{Body, MAX_BODY, MAX_IMPORT, MAX_OVERLAP_SECS, MAX_PAGE};
use crate::lifecycle::rules::{
    canonical_scopes, check_consumer_id, check_description, check_expiry, check_import_key,
    check_label, check_meta, check_quota, check_tier, parse_quota_scope,
};
use crate::lifecycle::{Changes, Field, Invalid, NewKey, Problem};
use crate::limits::{Quota, QuotaPeriod};
use crate::management::Route;
use crate::root::{check_consumer_prefix, Permissions};
use crate::secret::ApiKey;
use http::HeaderMap;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub(crate) type Object = Map<String, Value>;

/// The name a lifecycle field has in the API (an import item is `keys[i]`, 0-based).
pub(crate) fn field_name(f: &Field) -> String {
    match f {
        Field::ImportLine(n) => format!("keys[{}]", n.saturating_sub(1)),
        other => other.name(),
    }
}

/// The body of a route that takes one: 413 when too large, 415 when not JSON, 422 (`body`) when
/// not a JSON object. `None` only for a rotate without a body (its defaults apply).
pub(crate) fn read(
    route: &Route,
    headers: &HeaderMap,
    body: Body<'_>,
) -> Result<Option<Object>, ApiError> {
    let bytes = match body {
        Body::TooLarge => return Err(ApiError::TooLarge),
        Body::Bytes(b) if b.len() > MAX_BODY => return Err(ApiError::TooLarge),
        Body::Bytes(b) => b,
        Body::Absent => &[],
    };
    if matches!(route, Route::RotateKey { .. }) && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let patch = matches!(route, Route::UpdateKey { .. });
    if !is_json(headers, patch) {
        return Err(ApiError::UnsupportedMediaType {
            detail: if patch {
                "Send the body as application/json or application/merge-patch+json."
            } else {
                "Send the body as application/json."
            },
        });
    }
    // Read as text first: one serde_json reader (`from_str`) in the wasm, not two. Invalid
    // UTF-8 is invalid JSON either way.
    let parsed = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(text).ok());
    match parsed {
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(invalid("body", "the body must be a JSON object")),
        None => Err(invalid("body", "the body is not valid JSON")),
    }
}

fn invalid(field: &str, detail: &str) -> ApiError {
    ApiError::Invalid(vec![FieldError::new(field, detail)])
}

/// One `Content-Type` of `application/json` (or, for a merge patch, its own type), parameters
/// such as `; charset=utf-8` allowed.
fn is_json(headers: &HeaderMap, merge_patch: bool) -> bool {
    let mut values = headers.get_all(http::header::CONTENT_TYPE).iter();
    let (Some(v), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(v) = v.to_str() else {
        return false;
    };
    let media = v.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
        || (merge_patch && media.eq_ignore_ascii_case("application/merge-patch+json"))
}

/// Collects every invalid field of one request.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    pub errors: Vec<FieldError>,
}

impl Checker {
    pub fn err(&mut self, field: impl Into<String>, detail: impl Into<String>) {
        self.errors.push(FieldError::new(field, detail));
    }

    /// Records a broken lifecycle rule.
    pub fn rule(&mut self, r: Result<(), Invalid>) {
        if let Err(i) = r {
            let name = field_name(&i.field);
            let detail = i.render(&name);
            self.err(name, detail);
        }
    }

    /// A member that is not part of the body: named when its name is a plain identifier (an
    /// odd name is not echoed back: it could be anything, a secret included).
    pub fn unknown(&mut self, name: &str) {
        let plain = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if plain {
            self.err(name, format!("{name} is not accepted here"));
        } else {
            self.err("body", "a member or parameter that is not accepted here");
        }
    }

    pub fn missing(&mut self, name: &str) {
        self.err(name, format!("{name} is required"));
    }

    /// The result, or every error.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match (self.errors.is_empty(), value) {
            (true, Some(v)) => Ok(v),
            (true, None) => Err(ApiError::Invalid(vec![FieldError::new(
                "body",
                "the body is invalid",
            )])),
            (false, _) => Err(ApiError::Invalid(self.errors)),
        }
    }

    pub fn string<'a>(&mut self, name: &str, v: &'a Value) -> Option<&'a str> {
        match v {
            Value::String(s) => Some(s),
            _ => {
                self.err(name, format!("{name} must be a string"));
                None
            }
        }
    }

    /// A string or null (`Some(None)`).
    pub fn opt_string<'a>(&mut self, name: &str, v: &'a Value) -> Option<Option<&'a str>> {
        match v {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s)),
            _ => {
                self.err(name, format!("{name} must be a string or null"));
                None
            }
        }
    }

    /// A whole number of at least 0.
    pub fn integer(&mut self, name: &str, v: &Value) -> Option<u64> {
        let n = v.as_u64();
        if n.is_none() {
            self.err(name, format!("{name} must be a whole number of at least 0"));
        }
        n
    }

    pub fn opt_integer(&mut self, name: &str, v: &Value) -> Option<Option<u64>> {
        match v {
            Value::Null => Some(None),
            _ => self.integer(name, v).map(Some),
        }
    }

    fn strings<'a>(&mut self, name: &str, v: &'a Value) -> Option<Vec<&'a str>> {
        let items = v.as_array().filter(|a| a.iter().all(Value::is_string));
        if items.is_none() {
            self.err(name, format!("{name} must be an array of strings"));
        }
        items.map(|a| a.iter().filter_map(Value::as_str).collect())
    }

    fn object<'a>(&mut self, name: &str, v: &'a Value) -> Option<&'a Object> {
        let o = v.as_object();
        if o.is_none() {
            self.err(name, format!("{name} must be a JSON object"));
        }
        o
    }

    /// Scopes, checked and in their canonical spelling.
    fn scopes(&mut self, v: &Value) -> Option<Vec<String>> {
        let scopes: Vec<String> = self
            .strings("scopes", v)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        match canonical_scopes(&scopes) {
            Ok(_) => Some(scopes),
            Err(e) => {
                self.rule(Err(e));
                None
            }
        }
    }

    fn meta(&mut self, v: &Value) -> Option<Object> {
        let m = self.object("meta", v)?.clone();
        let before = self.errors.len();
        self.rule(check_meta(&m));
        (self.errors.len() == before).then_some(m)
    }

    /// A quota object (`{"limit":1000,"period":"day","per":"key"}`) or null.
    fn quota(&mut self, v: &Value) -> Option<Option<Quota>> {
        if v.is_null() {
            return Some(None);
        }
        let o = self.object("quota", v)?;
        let before = self.errors.len();
        let (mut limit, mut period, mut per) = (None, None, Some(Default::default()));
        for (k, v) in o {
            match k.as_str() {
                "limit" => match v.as_u64() {
                    Some(n) => limit = Some(n),
                    None => self.err("quota", "quota limit must be a whole number"),
                },
                "period" => match v.as_str().map(|p| (p, QuotaPeriod::parse(p))) {
                    Some((_, Some(p))) => period = Some(p),
                    Some((p, None)) => self.rule(Err(Invalid::new(
                        Field::Quota,
                        Problem::QuotaPeriod(p.chars().take(32).collect()),
                    ))),
                    None => self.err("quota", "quota period must be a string"),
                },
                "per" => match v.as_str().map(parse_quota_scope) {
                    Some(Ok(s)) => per = Some(s),
                    Some(Err(e)) => self.rule(Err(e)),
                    None => self.err("quota", "quota per must be key or consumer"),
                },
                _ => self.err("quota", "quota takes limit, period and per only"),
            }
        }
        if limit.is_none() && o.get("limit").is_none() {
            self.err("quota", "quota limit is required");
        }
        if period.is_none() && o.get("period").is_none() {
            self.err("quota", "quota period is required");
        }
        let q = Quota {
            limit: limit?,
            period: period?,
            per: per?,
        };
        self.rule(check_quota(&q));
        (self.errors.len() == before).then_some(Some(q))
    }

    fn label(&mut self, field: Field, v: &Value) -> Option<String> {
        let s = self.string(&field.name(), v)?;
        let before = self.errors.len();
        self.rule(check_label(field, s));
        (self.errors.len() == before).then(|| s.to_owned())
    }

    fn opt_label(&mut self, field: Field, v: &Value) -> Option<Option<String>> {
        match self.opt_string(&field.name(), v)? {
            None => Some(None),
            Some(s) => {
                let before = self.errors.len();
                self.rule(check_label(field, s));
                (self.errors.len() == before).then(|| Some(s.to_owned()))
            }
        }
    }

    fn opt_description(&mut self, v: &Value) -> Option<Option<String>> {
        match self.opt_string("description", v)? {
            None => Some(None),
            Some(s) => {
                let before = self.errors.len();
                self.rule(check_description(s));
                (self.errors.len() == before).then(|| Some(s.to_owned()))
            }
        }
    }

    fn opt_tier(&mut self, v: &Value) -> Option<Option<String>> {
        match self.opt_string("tier", v)? {
            None => Some(None),
            Some(s) => {
                let before = self.errors.len();
                self.rule(check_tier(s));
                (self.errors.len() == before).then(|| Some(s.to_owned()))
            }
        }
    }

    fn opt_expiry(&mut self, v: &Value, now: u64) -> Option<Option<u64>> {
        let e = self.opt_integer("expires_at", v)?;
        let before = self.errors.len();
        if let Some(e) = e {
            self.rule(check_expiry(e, now));
        }
        (self.errors.len() == before).then_some(e)
    }
}

/// The fields of a key to create or import, every one checked; `others` are members the caller
/// reads itself (`keys` of an import). Also the names of the fields set, for the audit trail.
pub(crate) fn new_key(
    c: &mut Checker,
    o: &Object,
    now: u64,
    others: &[&str],
) -> Option<(NewKey, Vec<String>)> {
    let mut k = NewKey::new("", "");
    let (mut name, mut consumer) = (None, None);
    let mut ok = true;
    let mut set = Vec::new();
    for (member, v) in o {
        let done = match member.as_str() {
            "name" => {
                name = c.label(Field::Name, v);
                name.is_some()
            }
            "consumer_id" => {
                consumer = c.string("consumer_id", v).map(str::to_owned);
                if let Some(id) = &consumer {
                    c.rule(check_consumer_id(id));
                }
                consumer.is_some()
            }
            "consumer_name" => c
                .opt_label(Field::ConsumerName, v)
                .map(|x| k.consumer_name = x)
                .is_some(),
            "description" => c.opt_description(v).map(|x| k.description = x).is_some(),
            "expires_at" => c.opt_expiry(v, now).map(|x| k.expires_at = x).is_some(),
            "scopes" => c.scopes(v).map(|x| k.scopes = x).is_some(),
            "meta" => c.meta(v).map(|x| k.meta = x).is_some(),
            "tier" => c.opt_tier(v).map(|x| k.tier = x).is_some(),
            "quota" => c.quota(v).map(|x| k.quota = x).is_some(),
            m if others.contains(&m) => continue,
            m => {
                c.unknown(m);
                false
            }
        };
        ok &= done;
        if done && !v.is_null() {
            set.push(member.clone());
        }
    }
    for (field, value) in [("name", &name), ("consumer_id", &consumer)] {
        if value.is_none() && !o.contains_key(field) {
            c.missing(field);
        }
    }
    k.name = name?;
    k.consumer_id = consumer?;
    (ok && c.errors.is_empty()).then_some((k, set))
}

/// A merge patch of a key (RFC 7396): the changes, the patch of `meta` (merged into the stored
/// metadata once read, [`merge_patch`]), and the names of the members given.
pub(crate) struct Patch {
    pub changes: Changes,
    pub meta: Option<Object>,
}

pub(crate) fn patch(c: &mut Checker, o: &Object, now: u64) -> Option<Patch> {
    let mut p = Patch {
        changes: Changes::default(),
        meta: None,
    };
    for (member, v) in o {
        let ch = &mut p.changes;
        match member.as_str() {
            "name" => ch.name = c.label(Field::Name, v),
            "description" => ch.description = c.opt_description(v),
            "consumer_name" => ch.consumer_name = c.opt_label(Field::ConsumerName, v),
            "scopes" => ch.scopes = c.scopes(v),
            "meta" => p.meta = c.object("meta", v).cloned(),
            "tier" => ch.tier = c.opt_tier(v),
            "quota" => ch.quota = c.quota(v),
            "expires_at" => ch.expires_at = c.opt_expiry(v, now),
            "enabled" => match v.as_bool() {
                Some(b) => ch.disabled = Some(!b),
                None => c.err("enabled", "enabled must be true or false"),
            },
            "consumer_id" => c.err("consumer_id", "a key's consumer cannot be changed"),
            m => c.unknown(m),
        }
    }
    c.errors.is_empty().then_some(p)
}

/// RFC 7396: merges `patch` into `target` (a null member removes it, an object merges member by
/// member, anything else replaces).
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("an object");
    for (k, v) in members {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// A rotation's overlap: 0 to [`MAX_OVERLAP_SECS`]; `None` when not given.
pub(crate) fn overlap(c: &mut Checker, o: &Object) -> Option<Option<u64>> {
    let mut overlap = None;
    for (member, v) in o {
        match member.as_str() {
            "overlap" => match v.as_u64().filter(|s| *s <= MAX_OVERLAP_SECS) {
                Some(s) => overlap = Some(s),
                None => c.err(
                    "overlap",
                    format!(
                        "overlap must be a whole number of seconds from 0 to {MAX_OVERLAP_SECS}"
                    ),
                ),
            },
            m => c.unknown(m),
        }
    }
    c.errors.is_empty().then_some(overlap)
}

/// The keys of an import: 1 to [`MAX_IMPORT`], each a well-formed key.
pub(crate) fn import_keys(c: &mut Checker, o: &Object) -> Option<Vec<ApiKey>> {
    let Some(v) = o.get("keys") else {
        c.missing("keys");
        return None;
    };
    let Some(items) = v.as_array() else {
        c.err("keys", "keys must be an array of keys");
        return None;
    };
    if items.is_empty() || items.len() > MAX_IMPORT {
        c.err("keys", format!("keys must hold 1 to {MAX_IMPORT} keys"));
        return None;
    }
    let mut keys = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("keys[{i}]");
        match item.as_str() {
            Some("") => c.err(field, "an empty key"),
            Some(k) => match check_import_key(i + 1, k) {
                Ok(key) => keys.push(key),
                Err(e) => c.rule(Err(e)),
            },
            None => c.err(field, "each key must be a string"),
        }
    }
    (keys.len() == items.len()).then_some(keys)
}

/// What `POST /keys/verify` asks about.
pub(crate) struct VerifyQuestion {
    pub key: String,
    pub method: String,
    pub path: String,
}

pub(crate) fn verify_question(c: &mut Checker, o: &Object) -> Option<VerifyQuestion> {
    let (mut key, mut method, mut path) = (None, None, None);
    for (member, v) in o {
        match member.as_str() {
            "key" => key = c.string("key", v).map(str::to_owned),
            "method" => {
                method = c.string("method", v).and_then(|m| {
                    let token = !m.is_empty() && http::Method::from_bytes(m.as_bytes()).is_ok();
                    if !token {
                        c.err("method", "method must be an HTTP method token, such as GET");
                    }
                    token.then(|| m.to_owned())
                })
            }
            "path" => {
                path = c.string("path", v).and_then(|p| {
                    if !p.starts_with('/') {
                        c.err("path", "path must start with /");
                    }
                    p.starts_with('/').then(|| p.to_owned())
                })
            }
            m => c.unknown(m),
        }
    }
    for (name, present) in [
        ("key", o.contains_key("key")),
        ("method", o.contains_key("method")),
        ("path", o.contains_key("path")),
    ] {
        if !present {
            c.missing(name);
        }
    }
    Some(VerifyQuestion {
        key: key?,
        method: method?,
        path: path?,
    })
}

/// A root key to create: a name, its permissions and an optional consumer prefix.
pub(crate) struct NewRoot {
    pub name: String,
    pub permissions: Permissions,
    pub consumer_prefix: Option<String>,
}

pub(crate) fn new_root(c: &mut Checker, o: &Object) -> Option<NewRoot> {
    let (mut name, mut permissions, mut prefix) = (None, None, Some(None));
    for (member, v) in o {
        match member.as_str() {
            "name" => name = c.label(Field::Name, v),
            "permissions" => {
                permissions = c.strings("permissions", v).and_then(|names| {
                    Permissions::parse_list(&names)
                        .map_err(|e| c.rule(Err(e)))
                        .ok()
                })
            }
            "consumer_prefix" => {
                prefix = c.opt_string("consumer_prefix", v).and_then(|p| match p {
                    None => Some(None),
                    Some(p) => match check_consumer_prefix(p) {
                        Ok(()) => Some(Some(p.to_owned())),
                        Err(e) => {
                            c.rule(Err(e));
                            None
                        }
                    },
                })
            }
            m => c.unknown(m),
        }
    }
    for field in ["name", "permissions"] {
        if !o.contains_key(field) {
            c.missing(field);
        }
    }
    Some(NewRoot {
        name: name?,
        permissions: permissions?,
        consumer_prefix: prefix?,
    })
}

/// The query's parameters, each once and each one of `known`; a page `limit` is 1 to
/// [`MAX_PAGE`].
pub(crate) fn query(
    c: &mut Checker,
    query: Option<&str>,
    known: &[&str],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if !known.contains(&k.as_ref()) {
            c.unknown(&k);
        } else if out.insert(k.to_string(), v.into_owned()).is_some() {
            c.err(k.to_string(), format!("{k} is given twice"));
        }
    }
    out
}

/// The page size: `limit` from 1 to [`MAX_PAGE`], else the default.
pub(crate) fn page_limit(c: &mut Checker, params: &BTreeMap<String, String>) -> usize {
    match params.get("limit") {
        None => super::DEFAULT_PAGE,
        Some(l) => match l.parse::<usize>() {
            Ok(n @ 1..=MAX_PAGE) if l.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                c.err(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                );
                super::DEFAULT_PAGE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_json(bytes: &[u8]) -> Result<Option<Object>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        read(&Route::CreateKey, &headers, Body::Bytes(bytes))
    }

    #[test]
    fn a_body_that_is_not_utf_8_is_not_valid_json() {
        for bytes in [
            &b"{\"name\":\"\xff\"}"[..],
            b"\xef\xbb\xbf{}",
            b"{\"a\":1}\xc3",
        ] {
            let Err(ApiError::Invalid(errors)) = read_json(bytes) else {
                panic!("{bytes:?} was read");
            };
            let got: Vec<_> = errors.iter().map(|e| (&*e.field, &*e.detail)).collect();
            assert_eq!(got, [("body", "the body is not valid JSON")], "{bytes:?}");
        }
        let read = read_json("{\"name\":\"wé\"}".as_bytes()).unwrap().unwrap();
        assert_eq!(read["name"], "wé");
    }
}
