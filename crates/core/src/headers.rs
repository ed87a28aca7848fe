//! Header-name tables of the upstream request: the names keygate sets, the hop-by-hop and
//! gateway-owned names it always drops, and which names may not be configured as the secret header.

use crate::integrity::{canonical_header_name, classify_header};
use http::header::{HeaderMap, HeaderName, HeaderValue};

pub const X_CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
pub const X_CONSUMER_NAME: HeaderName = HeaderName::from_static("x-consumer-name");
pub const X_KEY_ID: HeaderName = HeaderName::from_static("x-key-id");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_CONSUMER_ANONYMOUS: HeaderName = HeaderName::from_static("x-consumer-anonymous");

/// Hop-by-hop fields (RFC 9110 §7.6.1) plus the legacy ones proxies still see.
pub(crate) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Client headers that the gateway always drops because it owns them: the credential, the
/// default secret header, and the ids it sets itself.
pub(crate) const DROPPED_FROM_CLIENT: &[&str] = &[
    "authorization",
    "host",
    "x-shared-secret",
    "x-key-id",
    "x-request-id",
];

/// Prefixes of client headers the gateway always drops: its own `X-Keygate-*`, and `Proxy-*`
/// (meant for a proxy). Identity, client-address and rewrite claims are in
/// [`crate::integrity`]'s tables.
pub(crate) const DROPPED_PREFIXES: &[&str] = &["x-keygate-", "proxy-"];

/// True for a header the gateway manages on the upstream request, so it may not be reconfigured
/// as the shared-secret header.
pub fn is_reserved_request_header(name: &HeaderName) -> bool {
    let n = name.as_str();
    (n != "x-shared-secret" && DROPPED_FROM_CLIENT.contains(&n))
        || DROPPED_PREFIXES.iter().any(|p| n.starts_with(p))
        || classify_header(&canonical_header_name(n)).is_some()
        || HOP_BY_HOP.contains(&n)
        || n.starts_with("content-")
        || n == "cookie"
}

/// The headers of every answer keygate writes itself (a problem, the operator endpoint's JSON):
/// its content type, `Cache-Control: no-store`, and the request id.
pub fn own_answer_headers(content_type: &'static str, request_id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(X_REQUEST_ID, v);
    }
    h
}
