//! The management API's answers: a success ([`Reply`]) or an error ([`ApiError`]) as status,
//! headers and body, with what the request log gets ([`LogFacts`]). Every answer carries
//! `Cache-Control: no-store` and `X-Request-Id`; every error is RFC 9457 problem+json with the
//! request id, and a 422 lists every invalid field.

use crate::headers::{own_answer_headers, X_REQUEST_ID};
use crate::lifecycle::{Conflict, LifecycleError};
use crate::problem::PROBLEM_CONTENT_TYPE;
use crate::root::Permission;
use crate::telemetry::Decision;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

/// The realm of the management API's `WWW-Authenticate` challenges.
pub const REALM: &str = "keygate-management";
/// `Retry-After` of a 503, in seconds.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 5;
/// The header a replayed idempotent create carries.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// One answer, ready for the edge to send and log.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    /// Empty for a 204.
    pub body: String,
    pub log: LogFacts,
}

impl Answer {
    /// Whether the edge logs it as an error (a fault: 5xx).
    pub fn is_fault(&self) -> bool {
        self.status >= 500
    }
}

/// What the request log says of a management request. Nothing here holds a key, a root key or
/// `ADMIN_TOKEN`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFacts {
    pub decision: Decision,
    /// `bootstrap` or the root key's id, once authenticated.
    pub actor: Option<String>,
    /// The key (or root key) the request concerned, when one was found or made.
    pub key_id: Option<String>,
    /// That key's consumer.
    pub consumer_id: Option<String>,
    /// Operator detail of a fault.
    pub detail: Option<String>,
}

impl LogFacts {
    /// Notes the key a request concerns.
    pub(crate) fn key(&mut self, id: &str, consumer_id: Option<&str>) {
        self.key_id = Some(id.to_owned());
        self.consumer_id = consumer_id.map(str::to_owned);
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    /// JSON; `None` for 204.
    pub body: Option<String>,
    pub content_type: &'static str,
    pub location: Option<String>,
    pub replayed: bool,
    /// A fault after the change was made (the audit entry could not be written): the change
    /// stands, the answer is this error instead.
    pub not_audited: Option<String>,
}

impl Reply {
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        Self::raw(
            status,
            serde_json::to_string(body).expect("answers serialise"),
        )
    }

    /// A JSON body already serialised.
    pub fn raw(status: u16, body: String) -> Self {
        Self {
            status,
            body: Some(body),
            content_type: "application/json",
            location: None,
            replayed: false,
            not_audited: None,
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            content_type: "application/json",
            location: None,
            replayed: false,
            not_audited: None,
        }
    }

    pub fn openapi() -> Self {
        Self::raw(200, crate::management::OPENAPI_JSON.to_owned())
    }

    pub fn at(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }

    pub fn answer(self, request_id: &str, mut facts: LogFacts) -> Answer {
        if let Some(detail) = self.not_audited {
            return ApiError::NotAudited(detail).answer(request_id, facts);
        }
        let mut headers = match self.body {
            Some(_) => own_answer_headers(self.content_type, request_id),
            None => {
                let mut h = own_answer_headers(self.content_type, request_id);
                h.remove(http::header::CONTENT_TYPE);
                h
            }
        };
        if let Some(l) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(http::header::LOCATION, l);
        }
        if self.replayed {
            headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
        }
        facts.decision = Decision::ManagementOk;
        Answer {
            status: self.status,
            headers,
            body: self.body.unwrap_or_default(),
            log: facts,
        }
    }
}

/// One invalid input of a 422.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl FieldError {
    /// An entry; a detail that would quote something shaped like a key (a rule's message may
    /// quote the value it refused) says only which field is invalid.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let (field, detail) = (field.into(), detail.into());
        let detail = if quotes_a_key(&detail) {
            format!("{field} is invalid")
        } else {
            detail
        };
        Self { field, detail }
    }
}

/// Whether `s` holds `kg_` or `kgr_` followed by a key character: a key (or a piece of one).
fn quotes_a_key(s: &str) -> bool {
    ["kg_", "kgr_"].iter().any(|p| {
        s.match_indices(p).any(|(i, _)| {
            s[i + p.len()..]
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
        })
    })
}

/// Why a management request was not answered with success.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// 401: no credential (`presented: false`), or not a root key or `ADMIN_TOKEN` we know.
    Unauthenticated {
        presented: bool,
    },
    /// 403 `insufficient_scope`.
    Forbidden {
        scope: Permission,
        detail: String,
    },
    /// 404 for a path that names no endpoint.
    NoEndpoint,
    /// 404 for a key or root key that does not exist, or lies outside the tenant guard: the
    /// same answer for both.
    NotFound {
        what: &'static str,
    },
    MethodNotAllowed {
        allow: &'static str,
    },
    /// 409; `retry_after` when the conflict is a request still running.
    Conflict {
        detail: String,
        retry_after: Option<u32>,
    },
    TooLarge,
    UnsupportedMediaType {
        detail: &'static str,
    },
    Invalid(Vec<FieldError>),
    RateLimited,
    /// 500: the gateway's configuration (a missing binding).
    Config(String),
    /// 500: a stored record that does not decode.
    Corrupt(String),
    /// 500: anything else that is the gateway's fault (the random generator).
    Internal(String),
    /// 503: KV.
    Store(String),
    /// 503: the management log (audit trail, idempotency).
    Log(String),
    /// 503: a quota counter.
    Quota(String),
    /// 503: a rate-limit binding.
    Limiter(String),
    /// 503 after the change was made: its audit entry could not be written.
    NotAudited(String),
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    /// The error of a lifecycle operation; `what` names the thing a 404 is about.
    pub fn lifecycle(e: LifecycleError, what: &'static str) -> Self {
        match e {
            LifecycleError::Invalid(i) => {
                let field = super::body::field_name(&i.field);
                ApiError::Invalid(vec![FieldError::new(field.clone(), i.render(&field))])
            }
            LifecycleError::NotFound(_) => ApiError::NotFound { what },
            LifecycleError::Conflict(c) => ApiError::Conflict {
                detail: conflict_detail(&c),
                retry_after: None,
            },
            LifecycleError::Corrupt { id, reason } => {
                ApiError::Corrupt(format!("the record of {id} does not decode ({reason:?})"))
            }
            e @ LifecycleError::Store { .. } => ApiError::Store(e.to_string()),
            LifecycleError::Random(e) => ApiError::Internal(format!("random generator: {e}")),
        }
    }

    fn parts(&self) -> (u16, &'static str, &'static str, String) {
        match self {
            ApiError::Unauthenticated { presented } => (
                401,
                if *presented { "invalid_token" } else { "missing_credential" },
                "Authentication required",
                "Send a root key or ADMIN_TOKEN as 'Authorization: Bearer <credential>'.".into(),
            ),
            ApiError::Forbidden { detail, .. } => {
                (403, "insufficient_scope", "Insufficient scope", detail.clone())
            }
            ApiError::NoEndpoint => (
                404,
                "not_found",
                "No such endpoint",
                "No management endpoint at this path; see /__keygate/v1/openapi.json.".into(),
            ),
            ApiError::NotFound { what } => (
                404,
                "not_found",
                "Not found",
                format!("No {what} with this id."),
            ),
            ApiError::MethodNotAllowed { allow } => (
                405,
                "method_not_allowed",
                "Method not allowed",
                format!("This endpoint answers {allow}."),
            ),
            ApiError::Conflict { detail, .. } => (409, "conflict", "Conflict", detail.clone()),
            ApiError::TooLarge => (
                413,
                "payload_too_large",
                "Body too large",
                format!("The body is larger than {} bytes.", super::MAX_BODY),
            ),
            ApiError::UnsupportedMediaType { detail } => (
                415,
                "unsupported_media_type",
                "Unsupported media type",
                (*detail).to_owned(),
            ),
            ApiError::Invalid(errors) => (
                422,
                "invalid_fields",
                "Invalid request",
                match errors.len() {
                    1 => "One field is invalid; see errors.".to_owned(),
                    n => format!("{n} fields are invalid; see errors."),
                },
            ),
            ApiError::RateLimited => (
                429,
                "rate_limited",
                "Too many management requests",
                format!(
                    "This client address or credential is over the management API's limit. Retry after {} seconds.",
                    super::RATE_LIMIT_PERIOD_SECS
                ),
            ),
            ApiError::Config(_) => (
                500,
                "server_configuration_error",
                "Server configuration error",
                "The gateway is misconfigured; its operator has been told in the gateway log."
                    .into(),
            ),
            ApiError::Corrupt(_) | ApiError::Internal(_) => (
                500,
                "internal_error",
                "Internal error",
                "The gateway could not complete the request; its operator has been told in the gateway log.".into(),
            ),
            ApiError::Store(_) => (
                503,
                "key_store_unavailable",
                "Key store unavailable",
                "The key store could not be reached. Retry later.".into(),
            ),
            ApiError::Log(_) => (
                503,
                "management_log_unavailable",
                "Management log unavailable",
                "The audit trail could not be reached. Retry later.".into(),
            ),
            ApiError::Quota(_) => (
                503,
                "quota_store_unavailable",
                "Quota store unavailable",
                "The quota counter could not be read. Retry later.".into(),
            ),
            ApiError::Limiter(_) => (
                503,
                "rate_limiter_unavailable",
                "Rate limiter unavailable",
                "The management API's rate limit could not be checked. Retry later.".into(),
            ),
            ApiError::NotAudited(_) => (
                503,
                "not_audited",
                "Change not audited",
                "the change was made; its audit entry was not written".into(),
            ),
        }
    }

    /// The log's decision code.
    fn decision(&self) -> Decision {
        match self {
            ApiError::Unauthenticated { .. } => Decision::ManagementUnauthenticated,
            ApiError::Forbidden { .. } => Decision::ManagementForbidden,
            ApiError::NoEndpoint | ApiError::NotFound { .. } => Decision::ManagementNotFound,
            ApiError::MethodNotAllowed { .. }
            | ApiError::TooLarge
            | ApiError::UnsupportedMediaType { .. }
            | ApiError::Invalid(_) => Decision::ManagementInvalid,
            ApiError::Conflict { .. } => Decision::ManagementConflict,
            ApiError::RateLimited => Decision::ManagementRateLimited,
            ApiError::Config(_) => Decision::ConfigError,
            ApiError::Corrupt(_) => Decision::CorruptRecord,
            ApiError::Internal(_) => Decision::InternalError,
            ApiError::Store(_) | ApiError::Log(_) | ApiError::NotAudited(_) => {
                Decision::StoreUnavailable
            }
            ApiError::Quota(_) => Decision::QuotaStoreUnavailable,
            ApiError::Limiter(_) => Decision::RateLimiterUnavailable,
        }
    }

    /// The operator's detail, for the log only.
    fn operator_detail(&self) -> Option<String> {
        match self {
            ApiError::Config(d)
            | ApiError::Corrupt(d)
            | ApiError::Internal(d)
            | ApiError::Store(d)
            | ApiError::Quota(d)
            | ApiError::Limiter(d) => Some(d.clone()),
            ApiError::Log(d) => Some(format!("management log: {d}")),
            ApiError::NotAudited(d) => Some(format!(
                "the change was made; its audit entry was not written: {d}"
            )),
            _ => None,
        }
    }

    pub fn answer(self, request_id: &str, mut facts: LogFacts) -> Answer {
        let (status, code, title, detail) = self.parts();
        let mut headers = own_answer_headers(PROBLEM_CONTENT_TYPE, request_id);
        let mut set = |name: HeaderName, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        match &self {
            ApiError::Unauthenticated { presented } => set(
                http::header::WWW_AUTHENTICATE,
                if *presented {
                    format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"")
                } else {
                    format!("Bearer realm=\"{REALM}\"")
                },
            ),
            ApiError::Forbidden { scope, .. } => set(
                http::header::WWW_AUTHENTICATE,
                format!(
                    "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{}\"",
                    scope.as_str()
                ),
            ),
            ApiError::MethodNotAllowed { allow } => set(http::header::ALLOW, (*allow).into()),
            ApiError::Conflict {
                retry_after: Some(s),
                ..
            } => set(http::header::RETRY_AFTER, s.to_string()),
            ApiError::RateLimited => set(
                http::header::RETRY_AFTER,
                super::RATE_LIMIT_PERIOD_SECS.to_string(),
            ),
            ApiError::Store(_) | ApiError::Log(_) | ApiError::Quota(_) | ApiError::Limiter(_) => {
                set(
                    http::header::RETRY_AFTER,
                    UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
                )
            }
            _ => {}
        }
        let errors = match &self {
            ApiError::Invalid(e) => Some(e.as_slice()),
            _ => None,
        };
        let body = serde_json::to_string(&ProblemBody {
            kind: format!("urn:keygate:problem:{code}"),
            title,
            status,
            detail: &detail,
            request_id,
            errors,
        })
        .expect("problems serialise");
        facts.decision = self.decision();
        facts.detail = self.operator_detail();
        debug_assert!(headers.contains_key(X_REQUEST_ID) || request_id.is_empty());
        Answer {
            status,
            headers,
            body,
            log: facts,
        }
    }
}

/// A lifecycle conflict in the API's words (import items are `keys[i]`, 0-based).
fn conflict_detail(c: &Conflict) -> String {
    match c {
        Conflict::AlreadyStored { id, line: Some(n) } => format!(
            "keys[{}]: a key with id {id} is already stored; nothing was written",
            n - 1
        ),
        Conflict::Repeated { line } => format!(
            "keys[{}]: the same key appears earlier in the list; nothing was written",
            line - 1
        ),
        other => other.to_string(),
    }
}
