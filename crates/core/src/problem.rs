//! The one place where refusals become HTTP answers: status, `WWW-Authenticate`, `Retry-After`,
//! and an RFC 9457 `application/problem+json` body.

use crate::admin::AdminDenial;
use crate::credential::Malformed;
use crate::headers::own_answer_headers;
use crate::limits::{RateLimitFields, QUOTA_POLICY};
use crate::path::PathError;
use crate::pipeline::{Denial, Fault};
use crate::record::InvalidKey;
use crate::store::StoreError;
use crate::telemetry::Decision;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
pub const REALM: &str = "keygate";
/// Seconds a client is asked to wait after a key-store fault.
pub const STORE_RETRY_AFTER_SECS: u32 = 5;

/// Everything that ends a request without the origin's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Denied(Denial),
    Fault(Fault),
}

/// An HTTP error answer, ready for the edge to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    /// Short machine code, also the last part of `type`.
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<u32>,
    /// `RateLimit-Policy` / `RateLimit` values for a 429; empty otherwise.
    pub rate_limit: RateLimitFields,
    /// The policy that refused the request (a tier name, or `quota`), as a body member.
    pub policy: Option<String>,
    /// The `Allow` field of a 405.
    pub allow: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
}

impl Problem {
    /// The answer's headers: the problem content type, `no-store`, the request id, and the
    /// challenge, `Retry-After`, `Allow` and `RateLimit` fields the refusal calls for.
    pub fn headers(&self, request_id: &str) -> HeaderMap {
        let mut h = own_answer_headers(PROBLEM_CONTENT_TYPE, request_id);
        let mut set = |name: http::header::HeaderName, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        };
        if let Some(challenge) = &self.www_authenticate {
            set(http::header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(secs) = self.retry_after {
            set(http::header::RETRY_AFTER, &secs.to_string());
        }
        if let Some(allow) = self.allow {
            set(http::header::ALLOW, allow);
        }
        self.rate_limit.append_to(&mut h);
        h
    }

    /// The RFC 9457 body. `request_id` is the sanitised id; nothing else is echoed from the request.
    pub fn body(&self, request_id: &str) -> String {
        serde_json::to_string(&Body {
            kind: format!("urn:keygate:problem:{}", self.code),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            request_id,
            policy: self.policy.as_deref(),
        })
        .expect("problem body always serialises")
    }
}

impl Refusal {
    /// Operator-facing detail for the log line: a configuration error's text and a store's
    /// message, never for a denial (the log's code says all there is) nor for an origin fault
    /// (the edge adds the origin's own error). None of these texts carries a key or a secret.
    pub fn operator_detail(&self) -> Option<String> {
        match self {
            Refusal::Fault(Fault::Config(e)) => Some(e.to_string()),
            Refusal::Fault(
                Fault::StoreUnavailable(StoreError(msg))
                | Fault::RateLimiterUnavailable(msg)
                | Fault::QuotaStoreUnavailable(msg),
            ) => Some(msg.clone()),
            Refusal::Fault(Fault::OriginUnreachable | Fault::OriginTimeout)
            | Refusal::Denied(_) => None,
        }
    }

    /// The reason code for logs: finer than what the client sees.
    pub fn reason_code(&self) -> Decision {
        match self {
            Refusal::Denied(Denial::MethodNotAllowed) => Decision::MethodNotAllowed,
            Refusal::Denied(Denial::MethodOverride(_)) => Decision::MethodOverride,
            Refusal::Denied(Denial::PreflightWithBody) => Decision::PreflightWithBody,
            Refusal::Denied(Denial::MissingCredential) => Decision::MissingCredential,
            Refusal::Denied(Denial::Malformed(Malformed::KeyInQuery)) => Decision::KeyInQuery,
            Refusal::Denied(Denial::Malformed(Malformed::KeyInPath)) => Decision::KeyInPath,
            Refusal::Denied(Denial::Malformed(_)) => Decision::MalformedCredential,
            Refusal::Denied(Denial::BadPath(_)) => Decision::BadPath,
            Refusal::Denied(Denial::OutOfScope { .. }) => Decision::OutOfScope,
            Refusal::Denied(Denial::RootKeyRefused) => Decision::RootKeyRefused,
            Refusal::Denied(Denial::Admin(AdminDenial::Unauthorized)) => {
                Decision::AdminUnauthorized
            }
            Refusal::Denied(Denial::Admin(_)) => Decision::AdminBadRequest,
            Refusal::Denied(Denial::RateLimited { .. }) => Decision::RateLimited,
            Refusal::Denied(Denial::QuotaExhausted { .. }) => Decision::QuotaExhausted,
            Refusal::Denied(Denial::InvalidKey { reason, .. }) => match reason {
                InvalidKey::BadChecksum => Decision::BadChecksum,
                InvalidKey::Unknown => Decision::UnknownKey,
                InvalidKey::Disabled => Decision::Disabled,
                InvalidKey::Expired => Decision::Expired,
                InvalidKey::Corrupt(_) => Decision::CorruptRecord,
            },
            Refusal::Fault(Fault::Config(_)) => Decision::ConfigError,
            Refusal::Fault(Fault::StoreUnavailable(_)) => Decision::StoreUnavailable,
            Refusal::Fault(Fault::RateLimiterUnavailable(_)) => Decision::RateLimiterUnavailable,
            Refusal::Fault(Fault::QuotaStoreUnavailable(_)) => Decision::QuotaStoreUnavailable,
            Refusal::Fault(Fault::OriginUnreachable) => Decision::OriginUnreachable,
            Refusal::Fault(Fault::OriginTimeout) => Decision::OriginTimeout,
        }
    }

    /// Maps every refusal to its answer. Exhaustive on purpose: a new variant will not compile
    /// until it has a status here.
    pub fn problem(&self) -> Problem {
        let bearer = |error: Option<(&str, &str)>| match error {
            None => format!("Bearer realm=\"{REALM}\""),
            Some((e, d)) => {
                format!("Bearer realm=\"{REALM}\", error=\"{e}\", error_description=\"{d}\"")
            }
        };
        let p = |status, code, title, detail: &str| Problem {
            status,
            code,
            title,
            detail: detail.to_owned(),
            www_authenticate: None,
            retry_after: None,
            rate_limit: RateLimitFields::default(),
            policy: None,
            allow: None,
        };
        let unavailable = |code, title| Problem {
            retry_after: Some(STORE_RETRY_AFTER_SECS),
            ..p(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                title,
                "The request could not be checked against its limits right now. Retry later.",
            )
        };
        match self {
            Refusal::Denied(Denial::MethodNotAllowed) => Problem {
                allow: Some(crate::integrity::ALLOW),
                ..p(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "Method not allowed",
                    "The gateway forwards GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS only.",
                )
            },
            Refusal::Denied(Denial::MethodOverride(e)) => p(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Method override not allowed",
                e.description(),
            ),
            Refusal::Denied(Denial::PreflightWithBody) => p(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Preflight with a body",
                "A CORS preflight (OPTIONS with Access-Control-Request-Method) never has a body.",
            ),
            Refusal::Denied(Denial::MissingCredential) => Problem {
                www_authenticate: Some(bearer(None)),
                ..p(
                    StatusCode::UNAUTHORIZED,
                    "missing_credential",
                    "Authentication required",
                    "Send an API key as 'Authorization: Bearer <key>'.",
                )
            },
            Refusal::Denied(Denial::Malformed(m)) => Problem {
                www_authenticate: Some(bearer(Some(("invalid_request", m.description())))),
                ..p(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Malformed credential",
                    m.description(),
                )
            },
            Refusal::Denied(Denial::BadPath(e)) => {
                let status = match e {
                    PathError::TooLong => StatusCode::URI_TOO_LONG,
                    PathError::NotOriginForm
                    | PathError::InvalidCharacters
                    | PathError::EncodedSeparator
                    | PathError::DotSegmentParameters
                    | PathError::EncodedDotSegment
                    | PathError::EscapesOrigin => StatusCode::BAD_REQUEST,
                };
                p(
                    status,
                    "invalid_request",
                    "Request path not allowed",
                    e.description(),
                )
            }
            Refusal::Denied(Denial::OutOfScope { scopes, .. }) => {
                const D: &str = "The API key is not allowed to call this method and path.";
                Problem {
                    www_authenticate: Some(format!(
                        "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"{D}\", scope=\"{scopes}\""
                    )),
                    ..p(StatusCode::FORBIDDEN, "insufficient_scope", "Insufficient scope", D)
                }
            }
            // A root key gets the answer of any other key the data plane does not know.
            Refusal::Denied(Denial::InvalidKey { .. } | Denial::RootKeyRefused) => {
                const D: &str = "The API key is unknown, disabled or expired.";
                Problem {
                    www_authenticate: Some(bearer(Some(("invalid_token", D)))),
                    ..p(
                        StatusCode::UNAUTHORIZED,
                        "invalid_token",
                        "Invalid API key",
                        D,
                    )
                }
            }
            Refusal::Denied(Denial::Admin(d)) => match d {
                AdminDenial::Unauthorized => Problem {
                    www_authenticate: Some(format!("Bearer realm=\"{REALM}-admin\"")),
                    ..p(
                        StatusCode::UNAUTHORIZED,
                        "admin_unauthorized",
                        "Operator authentication required",
                        "Paths under /__keygate/ need 'Authorization: Bearer <ADMIN_TOKEN>'.",
                    )
                },
                AdminDenial::NotFound => p(
                    StatusCode::NOT_FOUND,
                    "admin_not_found",
                    "No such keygate endpoint",
                    "Paths under /__keygate/ are the gateway's own: the management API under /__keygate/v1/, and GET /__keygate/usage with ADMIN_TOKEN.",
                ),
                AdminDenial::MethodNotAllowed => p(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "admin_method_not_allowed",
                    "Method not allowed",
                    "The operator endpoint answers GET only.",
                ),
                AdminDenial::BadQuery => p(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Bad operator query",
                    "Expected counter=key:<period>:<id>|consumer:<period>:<id> and window_start=<unix seconds>.",
                ),
            },
            Refusal::Denied(Denial::RateLimited {
                tier,
                limit,
                period,
                ..
            }) => {
                let mut rate_limit = RateLimitFields::default();
                rate_limit.add_policy(tier, (*limit).into(), (*period).into());
                rate_limit.add_state(tier, 0, (*period).into());
                Problem {
                    retry_after: Some(*period),
                    rate_limit,
                    policy: Some(tier.clone()),
                    ..p(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        "Rate limit exceeded",
                        &format!(
                            "This API key's tier '{tier}' allows {limit} requests per {period} seconds. Retry after the Retry-After delay."
                        ),
                    )
                }
            }
            Refusal::Denied(Denial::QuotaExhausted {
                limit,
                window_secs,
                reset_in,
                ..
            }) => {
                let mut rate_limit = RateLimitFields::default();
                rate_limit.add_policy(QUOTA_POLICY, *limit, *window_secs);
                rate_limit.add_state(QUOTA_POLICY, 0, *reset_in);
                Problem {
                    retry_after: Some(u32::try_from(*reset_in).unwrap_or(u32::MAX)),
                    rate_limit,
                    policy: Some(QUOTA_POLICY.to_owned()),
                    ..p(
                        StatusCode::TOO_MANY_REQUESTS,
                        "quota_exhausted",
                        "Quota exhausted",
                        &format!(
                            "This API key's quota of {limit} requests is used up; it resets in {reset_in} seconds."
                        ),
                    )
                }
            }
            Refusal::Fault(Fault::RateLimiterUnavailable(_)) => {
                unavailable("rate_limiter_unavailable", "Rate limiter unavailable")
            }
            Refusal::Fault(Fault::QuotaStoreUnavailable(_)) => {
                unavailable("quota_store_unavailable", "Quota store unavailable")
            }
            Refusal::Fault(Fault::Config(_)) => p(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_configuration_error",
                "Server configuration error",
                "The gateway is misconfigured; its operator has been told in the gateway log.",
            ),
            Refusal::Fault(Fault::StoreUnavailable(_)) => Problem {
                retry_after: Some(STORE_RETRY_AFTER_SECS),
                ..p(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "key_store_unavailable",
                    "Key store unavailable",
                    "The API key could not be checked right now. Retry later.",
                )
            },
            Refusal::Fault(Fault::OriginUnreachable) => p(
                StatusCode::BAD_GATEWAY,
                "origin_unreachable",
                "Origin unreachable",
                "The upstream service could not be reached.",
            ),
            Refusal::Fault(Fault::OriginTimeout) => p(
                StatusCode::GATEWAY_TIMEOUT,
                "origin_timeout",
                "Origin timeout",
                "The upstream service did not answer in time.",
            ),
        }
    }
}
