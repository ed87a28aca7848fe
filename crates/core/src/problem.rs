//! The one place where refusals become HTTP answers: status, `WWW-Authenticate`, `Retry-After`,
//! and an RFC 9457 `application/problem+json` body.

use crate::credential::Malformed;
use crate::gateway::{Denial, Fault, InvalidKey};
use crate::path::PathError;
use http::StatusCode;
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
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    request_id: &'a str,
}

impl Problem {
    /// The RFC 9457 body. `request_id` is the sanitised id; nothing else is echoed from the request.
    pub fn body(&self, request_id: &str) -> String {
        serde_json::to_string(&Body {
            kind: format!("urn:keygate:problem:{}", self.code),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            request_id,
        })
        .expect("problem body always serialises")
    }
}

impl Refusal {
    /// The reason code for logs: finer than what the client sees.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Refusal::Denied(Denial::MissingCredential) => "missing_credential",
            Refusal::Denied(Denial::Malformed(Malformed::KeyInQuery)) => "key_in_query",
            Refusal::Denied(Denial::Malformed(_)) => "malformed_credential",
            Refusal::Denied(Denial::BadPath(_)) => "bad_path",
            Refusal::Denied(Denial::OutOfScope { .. }) => "out_of_scope",
            Refusal::Denied(Denial::InvalidKey { reason, .. }) => match reason {
                InvalidKey::BadChecksum => "bad_checksum",
                InvalidKey::Unknown => "unknown_key",
                InvalidKey::Disabled => "disabled",
                InvalidKey::Expired => "expired",
                InvalidKey::Corrupt(_) => "corrupt_record",
            },
            Refusal::Fault(Fault::Config(_)) => "config_error",
            Refusal::Fault(Fault::StoreUnavailable(_)) => "store_unavailable",
            Refusal::Fault(Fault::OriginUnreachable) => "origin_unreachable",
            Refusal::Fault(Fault::OriginTimeout) => "origin_timeout",
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
        };
        match self {
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
            Refusal::Denied(Denial::InvalidKey { .. }) => {
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
