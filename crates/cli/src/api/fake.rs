//! A management API in a thread, for tests of API mode: it plays the contract of issue 15 over
//! core's lifecycle and root functions on a `MemoryKv` (routes from
//! `keygate_core::management::route`, root-key authentication, permissions, the tenant guard,
//! idempotent create, an audit trail, problem+json answers), records every request it gets, and
//! can be told to answer the next requests with canned answers or to hang up without one.

use super::{quota_json, ApiBackend};
use crate::commands::testing::NOW;
use keygate_core::kv::memory::MemoryKv;
use keygate_core::lifecycle::{
    self, parse_state, state_name, Changes, Filter, KeyRef, LifecycleError, NewKey,
};
use keygate_core::limits::Quota;
use keygate_core::management::{self, Route, RouteError};
use keygate_core::root::{self, Permissions, Principal, RootKey, RootRecord};
use keygate_core::KeyRecord;
use pollster::block_on;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A canned answer for the next request.
pub enum Canned {
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Close the connection without answering.
    HangUp,
    /// Handle the request for real, then close the connection without answering: the change
    /// is made and its answer lost.
    LoseAnswer,
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    canned: VecDeque<Canned>,
    seen: Vec<Seen>,
    audit: Vec<Value>,
    /// What `GET /keys/{id}/usage` reports as used.
    used: u64,
    /// Idempotency key → the first answer.
    idempotent: HashMap<String, (u16, String)>,
    requests: u64,
}

/// The fake API. Dropping it stops the thread.
pub struct FakeApi {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A root key with every permission.
    pub root_key: RootKey,
    pub kv: Arc<Mutex<MemoryKv>>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FakeApi {
    /// A fake whose KV lists two names a page (so listing follows cursors), holding one root
    /// key with every permission.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let kv = Arc::new(Mutex::new(MemoryKv::with_page_size(2)));
        let (root_key, _) = block_on(root::create_root(
            &*kv.lock().unwrap(),
            "test admin",
            Permissions::all(),
            None,
            NOW,
        ))
        .unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (kv, state, stop) = (kv.clone(), state.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        serve(conn, &kv, &state);
                    }
                }
            })
        };
        Self {
            base,
            root_key,
            kv,
            state,
            stop,
            handle: Some(handle),
        }
    }

    /// A backend speaking to this fake with `key` (retrying without pauses).
    pub fn backend_with(&self, key: &RootKey) -> ApiBackend {
        ApiBackend::without_pauses(self.base.clone(), key.clone())
    }

    /// A backend speaking to this fake with the root key holding every permission.
    pub fn backend(&self) -> ApiBackend {
        self.backend_with(&self.root_key)
    }

    /// Another root key, made directly in the fake's KV.
    pub fn root(&self, permissions: &[&str], prefix: Option<&str>) -> RootKey {
        let p = Permissions::parse_list(permissions).unwrap();
        block_on(root::create_root(
            &*self.kv.lock().unwrap(),
            "test",
            p,
            prefix,
            NOW,
        ))
        .unwrap()
        .0
    }

    /// The next request gets this answer instead of the real one.
    pub fn then(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.state.lock().unwrap().canned.push_back(Canned::Answer {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_owned(),
        });
    }

    /// The next request gets no answer: the connection is closed.
    pub fn then_hang_up(&self) {
        self.state.lock().unwrap().canned.push_back(Canned::HangUp);
    }

    /// The next request is handled, but its answer is lost on the way.
    pub fn then_lose_the_answer(&self) {
        self.state
            .lock()
            .unwrap()
            .canned
            .push_back(Canned::LoseAnswer);
    }

    /// What `GET /keys/{id}/usage` reports as used from now on.
    pub fn set_used(&self, used: u64) {
        self.state.lock().unwrap().used = used;
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Runs `f` on the fake's KV.
    pub fn with_kv<T>(&self, f: impl FnOnce(&MemoryKv) -> T) -> T {
        f(&self.kv.lock().unwrap())
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Reads one request: the request line, the headers, and a body of Content-Length bytes.
fn read_request(conn: &mut TcpStream) -> Option<Seen> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn serve(mut conn: TcpStream, kv: &Mutex<MemoryKv>, state: &Mutex<State>) {
    let Some(req) = read_request(&mut conn) else {
        return;
    };
    let canned = {
        let mut s = state.lock().unwrap();
        s.seen.push(req.clone());
        s.requests += 1;
        s.canned.pop_front()
    };
    let (status, headers, body) = match canned {
        Some(Canned::HangUp) => return,
        Some(Canned::LoseAnswer) => {
            handle(&req, &kv.lock().unwrap(), &mut state.lock().unwrap());
            return;
        }
        Some(Canned::Answer {
            status,
            headers,
            body,
        }) => (status, headers, body),
        None => {
            let a = handle(&req, &kv.lock().unwrap(), &mut state.lock().unwrap());
            (a.status, a.headers, a.body)
        }
    };
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        _ => "Answer",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nconnection: close\r\n");
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        let ct = if status >= 400 {
            "application/problem+json"
        } else {
            "application/json"
        };
        head.push_str(&format!("content-type: {ct}\r\n"));
    }
    for (n, v) in &headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: if status == 204 {
            String::new()
        } else {
            body.to_string()
        },
    }
}

fn problem(status: u16, title: &str, detail: &str) -> Reply {
    reply(
        status,
        json!({"type": "about:blank", "title": title, "status": status, "detail": detail,
               "request_id": "req-fake"}),
    )
}

fn invalid(fields: Vec<(String, String)>) -> Reply {
    let errors: Vec<Value> = fields
        .iter()
        .map(|(f, d)| json!({"field": f, "detail": d}))
        .collect();
    reply(
        422,
        json!({"type": "about:blank", "title": "Unprocessable Content", "status": 422,
               "detail": "the request breaks a rule", "request_id": "req-fake",
               "errors": errors}),
    )
}

fn lifecycle_problem(e: LifecycleError) -> Reply {
    match &e {
        LifecycleError::Invalid(i) => invalid(vec![(i.field.name(), e.to_string())]),
        LifecycleError::NotFound(_) => problem(404, "Not Found", "no such key"),
        _ => problem(e.http_status(), "Refused", &e.to_string()),
    }
}

fn with_header(mut r: Reply, name: &str, value: &str) -> Reply {
    r.headers.push((name.to_owned(), value.to_owned()));
    r
}

pub fn view(r: &KeyRecord) -> Value {
    json!({
        "id": r.id, "name": r.name, "consumer_id": r.consumer_id,
        "consumer_name": r.consumer_name, "description": r.description,
        "created_at": r.created_at, "expires_at": r.expires_at,
        "state": state_name(r.state(NOW)), "enabled": !r.disabled,
        "scopes": r.scopes, "meta": r.meta, "tier": r.tier,
        "quota": r.quota.as_ref().map(quota_json),
    })
}

fn query_arg(target: &str, name: &str) -> Option<String> {
    let q = target.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn authenticate(req: &Seen, kv: &MemoryKv) -> Result<Principal, Reply> {
    let realm = r#"Bearer realm="keygate-management""#;
    let Some(token) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return Err(with_header(
            problem(401, "Unauthorized", "a root key is needed"),
            "www-authenticate",
            realm,
        ));
    };
    let refused = || {
        with_header(
            problem(401, "Unauthorized", "the credential is not a root key"),
            "www-authenticate",
            &format!(r#"{realm}, error="invalid_token""#),
        )
    };
    let key = RootKey::parse(token).ok_or_else(refused)?;
    match block_on(root::find_root(kv, &key)) {
        Ok(Some(r)) => Ok(Principal::Root(r)),
        Ok(None) => Err(refused()),
        Err(e) => Err(lifecycle_problem(e)),
    }
}

fn body_object(req: &Seen) -> Result<Map<String, Value>, Reply> {
    if req.body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid(vec![("body".into(), "not a JSON object".into())])),
    }
}

fn string(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn quota_of(v: &Value) -> Result<Option<Quota>, Reply> {
    if v.is_null() {
        return Ok(None);
    }
    serde_json::from_value(v.clone())
        .map(Some)
        .map_err(|e| invalid(vec![("quota".into(), e.to_string())]))
}

fn new_key(m: &Map<String, Value>) -> Result<NewKey, Reply> {
    let known = [
        "name",
        "consumer_id",
        "consumer_name",
        "expires_at",
        "scopes",
        "meta",
        "description",
        "tier",
        "quota",
        "keys",
    ];
    let unknown: Vec<(String, String)> = m
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| (k.clone(), "unknown field".into()))
        .collect();
    if !unknown.is_empty() {
        return Err(invalid(unknown));
    }
    Ok(NewKey {
        name: string(m, "name").unwrap_or_default(),
        consumer_id: string(m, "consumer_id").unwrap_or_default(),
        consumer_name: string(m, "consumer_name"),
        expires_at: m.get("expires_at").and_then(Value::as_u64),
        scopes: m
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        meta: m
            .get("meta")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        description: string(m, "description"),
        tier: string(m, "tier"),
        quota: m.get("quota").map(quota_of).transpose()?.flatten(),
    })
}

fn changes(m: &Map<String, Value>, before: &KeyRecord) -> Result<Changes, Reply> {
    let mut c = Changes::default();
    let opt = |v: &Value| v.as_str().map(str::to_owned);
    for (k, v) in m {
        match k.as_str() {
            "name" => c.name = opt(v),
            "description" => c.description = Some(opt(v)),
            "consumer_name" => c.consumer_name = Some(opt(v)),
            "tier" => c.tier = Some(opt(v)),
            "scopes" => {
                c.scopes = Some(
                    v.as_array()
                        .ok_or_else(|| invalid(vec![("scopes".into(), "not an array".into())]))?
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "meta" => {
                let mut meta = before.meta.clone();
                for (mk, mv) in v.as_object().into_iter().flatten() {
                    if mv.is_null() {
                        meta.remove(mk);
                    } else {
                        meta.insert(mk.clone(), mv.clone());
                    }
                }
                c.meta = Some(meta);
            }
            "quota" => c.quota = Some(quota_of(v)?),
            "enabled" => c.disabled = v.as_bool().map(|e| !e),
            other => return Err(invalid(vec![(other.to_owned(), "unknown field".into())])),
        }
    }
    Ok(c)
}

fn audit(state: &mut State, p: &Principal, action: &str, ids: &[&str], consumer: Option<&str>) {
    let seq = state.audit.len() + 1;
    state.audit.push(json!({
        "seq": seq, "at": NOW, "actor": p.actor(), "action": action,
        "key_ids": ids, "consumer_id": consumer, "fields": [], "request_id": format!("req-{seq}"),
    }));
}

/// The record of `id`, if the principal may see it (else answered as unknown).
fn visible(kv: &MemoryKv, p: &Principal, id: &str) -> Result<KeyRecord, Reply> {
    match block_on(lifecycle::show(kv, &KeyRef::Id(id.to_owned()))) {
        Ok(r) if p.sees(&r.consumer_id) => Ok(r),
        Ok(_) => Err(problem(404, "Not Found", "no such key")),
        Err(e) => Err(lifecycle_problem(e)),
    }
}

fn handle(req: &Seen, kv: &MemoryKv, state: &mut State) -> Reply {
    let path = req.target.split('?').next().unwrap_or("");
    let route = match management::route(&req.method, path) {
        Ok(r) => r,
        Err(RouteError::NotFound) => return problem(404, "Not Found", "no such endpoint"),
        Err(RouteError::MethodNotAllowed { allow }) => {
            return with_header(problem(405, "Method Not Allowed", ""), "allow", allow)
        }
    };
    let p = match authenticate(req, kv) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(perm) = route.permission() {
        if !p.permits(perm) {
            return with_header(
                problem(403, "Forbidden", "the root key lacks a permission"),
                "www-authenticate",
                &format!(
                    r#"Bearer realm="keygate-management", error="insufficient_scope", scope="{}""#,
                    perm.as_str()
                ),
            );
        }
    }
    match route_answer(route, req, kv, state, &p) {
        Ok(r) | Err(r) => r,
    }
}

fn route_answer(
    route: Route,
    req: &Seen,
    kv: &MemoryKv,
    state: &mut State,
    p: &Principal,
) -> Result<Reply, Reply> {
    let outside = || {
        problem(
            403,
            "Forbidden",
            "consumer_id is outside this root key's consumer prefix",
        )
    };
    Ok(match route {
        Route::CreateKey => {
            let idem = req.header("idempotency-key").map(str::to_owned);
            if let Some((status, body)) = idem.as_ref().and_then(|k| state.idempotent.get(k)) {
                return Ok(with_header(
                    Reply {
                        status: *status,
                        headers: Vec::new(),
                        body: body.clone(),
                    },
                    "idempotent-replayed",
                    "true",
                ));
            }
            let new = new_key(&body_object(req)?)?;
            if !p.sees(&new.consumer_id) {
                return Err(outside());
            }
            let (key, rec) =
                block_on(lifecycle::create(kv, &new, NOW)).map_err(lifecycle_problem)?;
            audit(state, p, "key.create", &[&rec.id], Some(&rec.consumer_id));
            let r = reply(201, json!({"key": key.expose(), "record": view(&rec)}));
            if let Some(k) = idem {
                state.idempotent.insert(k, (r.status, r.body.clone()));
            }
            r
        }
        Route::ListKeys => {
            let filter = Filter {
                consumer_id: query_arg(&req.target, "consumer"),
                state: query_arg(&req.target, "state").and_then(|s| parse_state(&s)),
            };
            let cursor = query_arg(&req.target, "cursor");
            let page = block_on(lifecycle::list(kv, &filter, cursor.as_deref(), NOW))
                .map_err(lifecycle_problem)?;
            let keys: Vec<Value> = page
                .keys
                .iter()
                .filter(|s| p.sees(&s.consumer_id))
                .map(|s| {
                    json!({"id": s.id, "name": s.name, "consumer_id": s.consumer_id,
                           "created_at": s.created_at, "expires_at": s.expires_at,
                           "state": state_name(s.state(NOW)), "enabled": !s.disabled,
                           "tier": s.tier})
                })
                .collect();
            reply(200, json!({"keys": keys, "cursor": page.cursor}))
        }
        Route::GetKey { id } => reply(200, view(&visible(kv, p, &id)?)),
        Route::UpdateKey { id } => {
            let before = visible(kv, p, &id)?;
            let c = changes(&body_object(req)?, &before)?;
            let u = block_on(lifecycle::update(kv, &KeyRef::Id(id), &c, NOW))
                .map_err(lifecycle_problem)?;
            audit(
                state,
                p,
                "key.update",
                &[&u.record.id],
                Some(&u.record.consumer_id),
            );
            reply(200, view(&u.record))
        }
        Route::RotateKey { id } => {
            visible(kv, p, &id)?;
            let overlap = body_object(req)?
                .get("overlap")
                .and_then(Value::as_u64)
                .unwrap_or(lifecycle::DEFAULT_OVERLAP_SECS);
            let rot = block_on(lifecycle::rotate(kv, &KeyRef::Id(id), overlap, NOW))
                .map_err(lifecycle_problem)?;
            audit(
                state,
                p,
                "key.rotate",
                &[&rot.old.id, &rot.new.id],
                Some(&rot.new.consumer_id),
            );
            reply(
                201,
                json!({"key": rot.key.expose(), "record": view(&rot.new),
                       "previous": view(&rot.old)}),
            )
        }
        Route::RevokeKey { id } => {
            let rec = visible(kv, p, &id)?;
            block_on(lifecycle::revoke(kv, &KeyRef::Id(id))).map_err(lifecycle_problem)?;
            audit(state, p, "key.revoke", &[&rec.id], Some(&rec.consumer_id));
            reply(204, Value::Null)
        }
        Route::ImportKeys => {
            let body = body_object(req)?;
            let new = new_key(&body)?;
            if !p.sees(&new.consumer_id) {
                return Err(outside());
            }
            let keys: Vec<String> = body
                .get("keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let lines: Vec<&str> = keys.iter().map(String::as_str).collect();
            let records =
                block_on(lifecycle::import(kv, &lines, &new, NOW)).map_err(|e| match e {
                    LifecycleError::Conflict(c) => problem(409, "Conflict", &c.to_string()),
                    other => lifecycle_problem(other),
                })?;
            let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
            audit(state, p, "key.import", &ids, Some(&new.consumer_id));
            reply(
                201,
                json!({"records": records.iter().map(view).collect::<Vec<_>>()}),
            )
        }
        Route::KeyUsage { id } => {
            let rec = visible(kv, p, &id)?;
            match &rec.quota {
                None => reply(200, json!({"id": rec.id, "quota": null})),
                Some(q) => {
                    let w = q.period.window(NOW);
                    let used = state.used;
                    reply(
                        200,
                        json!({"id": rec.id, "quota": quota_json(q),
                               "counter": q.counter(&rec.id, &rec.consumer_id),
                               "window_start": w.start, "resets_at": w.end, "used": used,
                               "remaining": q.limit.saturating_sub(used)}),
                    )
                }
            }
        }
        Route::ListAudit => {
            let limit: usize = query_arg(&req.target, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(50);
            let from: usize = query_arg(&req.target, "cursor")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let entries: Vec<Value> = state.audit.iter().skip(from).take(limit).cloned().collect();
            let next = from + entries.len();
            let cursor = (next < state.audit.len()).then(|| next.to_string());
            reply(200, json!({"entries": entries, "cursor": cursor}))
        }
        Route::CreateRoot => {
            let body = body_object(req)?;
            let names: Vec<String> = body
                .get("permissions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let perms = Permissions::parse_list(&names)
                .map_err(|e| invalid(vec![("permissions".into(), e.to_string())]))?;
            let prefix = string(&body, "consumer_prefix");
            if !p.may_grant(perms, prefix.as_deref()) {
                return Err(problem(403, "Forbidden", "no escalation"));
            }
            let name = string(&body, "name").unwrap_or_default();
            let (key, rec) = block_on(root::create_root(kv, &name, perms, prefix.as_deref(), NOW))
                .map_err(lifecycle_problem)?;
            audit(state, p, "root.create", &[&rec.id], None);
            reply(201, json!({"key": key.expose(), "record": rec}))
        }
        Route::ListRoots => {
            let l = block_on(root::list_roots(kv)).map_err(lifecycle_problem)?;
            let roots: Vec<&RootRecord> = l.roots.iter().filter(|r| p.sees_root(r)).collect();
            reply(200, json!({ "roots": roots }))
        }
        Route::RevokeRoot { id } => {
            let r = block_on(root::revoke_root(kv, &id, |r| p.sees_root(r)))
                .map_err(lifecycle_problem)?;
            audit(state, p, "root.revoke", &[&r.id], None);
            reply(204, Value::Null)
        }
        Route::VerifyKey | Route::OpenApi => problem(404, "Not Found", "not in the fake"),
    })
}
