//! The upstream request filter: which client headers are dropped, which the gateway sets,
//! and which origin response headers never reach the client. Strip first, then set.

use crate::config::Config;
use crate::headers::*;
use crate::integrity::{canonical_header_name, classify_header, NameClass};
use crate::record::KeyRecord;
use crate::telemetry::Decision;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::rc::Rc;

/// Who an accepted request is forwarded as.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// A valid key's record, shared with the cache.
    Key(Rc<KeyRecord>),
    /// No credential, with `ALLOW_ANONYMOUS` on.
    Anonymous,
    /// A CORS preflight, with `CORS_PREFLIGHT` on: forwarded without a key and without identity.
    Preflight,
}

impl Caller {
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Caller::Key(r) => Some(&r.id),
            Caller::Anonymous | Caller::Preflight => None,
        }
    }

    /// The `X-Consumer-Id` the origin gets, if any.
    pub fn consumer_id(&self) -> Option<&str> {
        match self {
            Caller::Key(r) => Some(&r.consumer_id),
            Caller::Anonymous | Caller::Preflight => None,
        }
    }

    /// The log decision of an accepted request.
    pub fn decision(&self) -> Decision {
        match self {
            Caller::Key(_) => Decision::Accepted,
            Caller::Anonymous => Decision::AcceptedAnonymous,
            Caller::Preflight => Decision::AcceptedPreflight,
        }
    }
}

/// Where the request came from, as the edge saw it.
#[derive(Debug, Clone, Copy)]
pub struct ClientContext<'a> {
    /// The connecting client's IP (Cloudflare's `CF-Connecting-IP`), if known.
    pub client_ip: Option<&'a str>,
    /// `http` or `https`: the scheme the client used.
    pub proto: &'a str,
    /// The request id chosen by [`request_id`].
    pub request_id: &'a str,
}

/// Builds the upstream request headers from the client's headers: strip, then set.
///
/// Stripped: hop-by-hop fields and those `Connection` names, the credential and the gateway's
/// own fields, every URL-rewrite and identity name of [`crate::integrity`], and method
/// overrides unless `METHOD_OVERRIDE` is on (the pipeline refuses them before this runs; this is
/// the second line).
pub fn upstream_headers(
    incoming: &HeaderMap,
    cfg: &Config,
    caller: &Caller,
    ctx: ClientContext<'_>,
) -> HeaderMap {
    let connection_listed = connection_tokens(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + 6);
    for (name, value) in incoming {
        // CGI, WSGI and Rack origins read `_` in a field name as `-` (`X_Consumer_Id` lands on
        // HTTP_X_CONSUMER_ID), so a name is judged in that form too.
        let dashed = canonical_header_name(name.as_str());
        let n = &*dashed;
        let drop = HOP_BY_HOP.contains(&n)
            || DROPPED_FROM_CLIENT.contains(&n)
            || DROPPED_PREFIXES.iter().any(|p| n.starts_with(p))
            || match classify_header(n) {
                Some(NameClass::MethodOverride) => !cfg.method_override,
                Some(NameClass::Rewrite | NameClass::Identity) => true,
                None => false,
            }
            || n == cfg.secret_header.as_str()
            || (cfg.api_key_header && n == "x-api-key")
            || connection_listed
                .iter()
                .any(|t| t == n || t == name.as_str());
        if !drop {
            out.append(name.clone(), value.clone());
        }
    }

    // The secret was validated as visible ASCII, so it is always a valid header value.
    if cfg.signing.sends_static_secret() {
        let secret = HeaderValue::from_str(cfg.secret.expose()).expect("validated secret");
        out.insert(cfg.secret_header.clone(), secret);
    }
    match caller {
        Caller::Key(record) => {
            out.insert(X_KEY_ID, value(&record.id));
            out.insert(X_CONSUMER_ID, value(&record.consumer_id));
            if let Some(name) = &record.consumer_name {
                out.insert(X_CONSUMER_NAME, value(name));
            }
            for (key, header) in &cfg.consumer_meta {
                if let Some(v) = record.meta_header_value(key) {
                    out.insert(header.clone(), value(&v));
                }
            }
        }
        Caller::Anonymous => {
            out.insert(X_CONSUMER_ANONYMOUS, HeaderValue::from_static("true"));
        }
        Caller::Preflight => {}
    }
    if let Some(ip) = ctx.client_ip.and_then(|ip| HeaderValue::from_str(ip).ok()) {
        out.insert(X_FORWARDED_FOR, ip);
    }
    out.insert(X_FORWARDED_PROTO, value(ctx.proto));
    out.insert(X_REQUEST_ID, value(ctx.request_id));
    out
}

/// Removes from an origin response every header that must not reach the client:
/// hop-by-hop fields, the secret header, and any header whose value contains the secret.
pub fn sanitise_response_headers(headers: &mut HeaderMap, cfg: &Config) {
    let mut doomed: Vec<HeaderName> = connection_tokens(headers)
        .into_iter()
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    doomed.extend(HOP_BY_HOP.iter().map(|h| HeaderName::from_static(h)));
    doomed.push(cfg.secret_header.clone());
    doomed.push(HeaderName::from_static("x-shared-secret"));
    let secret = cfg.secret.expose().as_bytes();
    for (name, value) in headers.iter() {
        if contains(value.as_bytes(), secret) {
            doomed.push(name.clone());
        }
    }
    for name in doomed {
        headers.remove(name);
    }
}

/// The last touches on an origin's answer, after [`sanitise_response_headers`]: the request id
/// when the origin sent none, and the gateway's `RateLimit` fields after any the origin sent.
pub fn finish_response_headers(
    headers: &mut HeaderMap,
    request_id: &str,
    rate_limit: &crate::limits::RateLimitFields,
) {
    if !headers.contains_key(X_REQUEST_ID) {
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert(X_REQUEST_ID, v);
        }
    }
    rate_limit.append_to(headers);
}

/// The request id to use: the client's `X-Request-Id` when it is sane, otherwise a generated one.
pub fn request_id(headers: &HeaderMap, generate: impl FnOnce() -> String) -> String {
    let mut values = headers.get_all(X_REQUEST_ID).iter();
    match (values.next(), values.next()) {
        (Some(v), None) if is_sane_request_id(v.as_bytes()) => {
            // Sane ids are ASCII, so this conversion cannot fail.
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        }
        _ => generate(),
    }
}

/// 1 to 128 characters from `A-Z a-z 0-9 - _ . : + = / @`.
pub fn is_sane_request_id(v: &[u8]) -> bool {
    (1..=128).contains(&v.len())
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.:+=/@".contains(&b))
}

/// Lower-cased field names listed in every `Connection` header. Read from the bytes: a tab or a
/// non-ASCII byte elsewhere in the field must not hide the names it lists.
fn connection_tokens(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|t| {
            String::from_utf8_lossy(t)
                .trim_matches([' ', '\t'])
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

fn value(s: &str) -> HeaderValue {
    // Record fields are checked header-safe when decoded; the fallback is never sent in practice.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::headers;
    use crate::record::KeyRecord;

    use crate::common::{config, SECRET};

    fn cfg() -> Config {
        config(&[])
    }

    fn record() -> Caller {
        Caller::Key(std::rc::Rc::new(KeyRecord {
            v: 1,
            id: "0123456789ab".into(),
            name: "n".into(),
            consumer_id: "acme".into(),
            consumer_name: Some("Acme".into()),
            created_at: 0,
            expires_at: None,
            disabled: false,
            meta: serde_json::from_str(r#"{"plan":"pro","secret_note":"x"}"#).unwrap(),
            scopes: vec![],
            description: None,
            tier: None,
            quota: None,
        }))
    }

    fn ctx() -> ClientContext<'static> {
        ClientContext {
            client_ip: Some("203.0.113.9"),
            proto: "https",
            request_id: "rid-1",
        }
    }

    #[test]
    fn client_credentials_and_identity_copies_are_replaced_by_ours() {
        let incoming = headers(&[
            ("authorization", "Bearer kg_abc"),
            ("x-shared-secret", "forged"),
            ("x-consumer-id", "admin"),
            ("x-consumer-name", "Admin"),
            ("x-consumer-role", "root"),
            ("x-key-id", "forged"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "gopher"),
            ("x-request-id", "client-id"),
            ("accept", "application/json"),
        ]);
        let out = upstream_headers(&incoming, &cfg(), &record(), ctx());
        assert!(out.get("authorization").is_none());
        assert!(out.get("x-consumer-role").is_none());
        for (name, want) in [
            ("x-shared-secret", SECRET),
            ("x-consumer-id", "acme"),
            ("x-consumer-name", "Acme"),
            ("x-key-id", "0123456789ab"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
            ("x-request-id", "rid-1"),
            ("accept", "application/json"),
        ] {
            let all: Vec<_> = out.get_all(name).iter().collect();
            assert_eq!(all, vec![want], "{name}");
        }
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_dropped() {
        let incoming = headers(&[
            ("connection", "keep-alive, X-Custom, X-Shared-Secret"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic x"),
            ("x-custom", "1"),
            ("x-other", "2"),
        ]);
        let out = upstream_headers(&incoming, &cfg(), &record(), ctx());
        for gone in [
            "connection",
            "keep-alive",
            "te",
            "upgrade",
            "transfer-encoding",
            "proxy-authorization",
            "x-custom",
        ] {
            assert!(out.get(gone).is_none(), "{gone}");
        }
        assert_eq!(out.get("x-other").unwrap(), "2");
        // Connection naming our secret header cannot remove it: it is set after stripping.
        assert_eq!(out.get("x-shared-secret").unwrap(), SECRET);
    }

    #[test]
    fn underscore_spellings_of_managed_headers_are_dropped_like_the_dashed_ones() {
        let incoming = headers(&[
            ("x_consumer_id", "forged"),
            ("x_key_id", "forged"),
            ("x_shared_secret", "forged"),
            ("x_forwarded_for", "forged"),
            ("x_keygate_signature", "forged"),
            ("x_request_id", "forged"),
            ("proxy_authorization", "forged"),
            ("transfer_encoding", "forged"),
            ("x_harmless", "kept"),
        ]);
        let out = upstream_headers(&incoming, &cfg(), &record(), ctx());
        assert!(
            out.iter().all(|(_, v)| v != "forged"),
            "{:?}",
            out.keys().collect::<Vec<_>>()
        );
        assert_eq!(out.get("x_harmless").unwrap(), "kept");
    }

    #[test]
    fn custom_secret_header_is_set_and_client_copies_of_both_names_dropped() {
        let cfg = config(&[("SHARED_SECRET_HEADER", "X-Origin-Auth")]);
        let incoming = headers(&[("x-origin-auth", "forged"), ("x-shared-secret", "forged")]);
        let out = upstream_headers(&incoming, &cfg, &record(), ctx());
        assert_eq!(out.get_all("x-origin-auth").iter().count(), 1);
        assert_eq!(out.get("x-origin-auth").unwrap(), SECRET);
        assert!(out.get("x-shared-secret").is_none());
    }

    #[test]
    fn connection_with_a_tab_or_non_ascii_byte_still_drops_the_fields_it_names() {
        // Found by the property tests (tests/properties/): such a field failed `to_str` and was ignored whole.
        let mut incoming = HeaderMap::new();
        for (name, value) in [
            ("connection", &b"close,\tx-a"[..]),
            ("connection", b"\xe9t\xe9, X-B"),
            ("x-a", b"1"),
            ("x-b", b"2"),
            ("x-c", b"3"),
        ] {
            incoming.append(name, HeaderValue::from_bytes(value).unwrap());
        }
        let out = upstream_headers(&incoming, &cfg(), &record(), ctx());
        assert!(out.get("x-a").is_none() && out.get("x-b").is_none());
        assert_eq!(out.get("x-c").unwrap(), "3");
    }

    #[test]
    fn every_client_x_forwarded_and_proxy_header_is_dropped() {
        // Found by the property tests (tests/properties/): only three X-Forwarded-* names and three Proxy-* names
        // were dropped, while the README promises all of them.
        let incoming = headers(&[
            ("x-forwarded-port", "1"),
            ("x-forwarded-prefix", "/admin"),
            ("x-forwarded-host", "evil.example"),
            ("proxy-status", "x"),
            ("accept", "*/*"),
        ]);
        let out = upstream_headers(&incoming, &cfg(), &record(), ctx());
        let mut names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "accept",
                "x-consumer-id",
                "x-consumer-name",
                "x-forwarded-for",
                "x-forwarded-proto",
                "x-key-id",
                "x-request-id",
                "x-shared-secret"
            ]
        );
    }

    #[test]
    fn anonymous_caller_gets_the_anonymous_marker_and_no_identity() {
        let incoming = headers(&[
            ("x-consumer-id", "admin"),
            ("x-consumer-anonymous", "false"),
        ]);
        let out = upstream_headers(&incoming, &cfg(), &Caller::Anonymous, ctx());
        assert_eq!(
            out.get_all("x-consumer-anonymous")
                .iter()
                .collect::<Vec<_>>(),
            vec!["true"]
        );
        assert!(out.get("x-consumer-id").is_none() && out.get("x-key-id").is_none());
        assert_eq!(out.get("x-shared-secret").unwrap(), SECRET);
        let pre = upstream_headers(&incoming, &cfg(), &Caller::Preflight, ctx());
        assert!(pre.get("x-consumer-anonymous").is_none() && pre.get("x-consumer-id").is_none());
    }

    #[test]
    fn only_listed_metadata_is_forwarded_and_x_api_key_dropped_when_it_is_a_source() {
        let listed = config(&[
            ("CONSUMER_META_HEADERS", "plan"),
            ("KEY_SOURCES", "authorization,x-api-key"),
        ]);
        let incoming = headers(&[("x-consumer-plan", "enterprise"), ("x-api-key", "kg_abc")]);
        let out = upstream_headers(&incoming, &listed, &record(), ctx());
        assert_eq!(
            out.get_all("x-consumer-plan").iter().collect::<Vec<_>>(),
            vec!["pro"]
        );
        assert!(out.get("x-consumer-secret_note").is_none());
        assert!(out.get("x-api-key").is_none());
        let plain = upstream_headers(&incoming, &cfg(), &record(), ctx());
        assert_eq!(
            plain.get("x-api-key").unwrap(),
            "kg_abc",
            "not a key source: not ours to drop"
        );
    }

    #[test]
    fn missing_client_ip_sets_no_forwarded_for() {
        let c = ClientContext {
            client_ip: None,
            ..ctx()
        };
        let out = upstream_headers(
            &headers(&[("x-forwarded-for", "1.2.3.4")]),
            &cfg(),
            &record(),
            c,
        );
        assert!(out.get("x-forwarded-for").is_none());
    }

    #[test]
    fn response_headers_echoing_the_secret_are_removed() {
        let mut h = headers(&[
            ("x-shared-secret", SECRET),
            ("x-debug", &format!("got secret={SECRET} ok")),
            ("set-cookie", "a=b"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("content-type", "text/plain"),
        ]);
        sanitise_response_headers(&mut h, &cfg());
        let mut names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["content-type", "set-cookie"]);
    }

    #[test]
    fn sane_client_request_id_is_kept_and_others_replaced() {
        let gen = || "generated".to_string();
        assert_eq!(
            request_id(&headers(&[("x-request-id", "abc-123")]), gen),
            "abc-123"
        );
        assert_eq!(
            request_id(&headers(&[("x-request-id", "has space")]), gen),
            "generated"
        );
        assert_eq!(
            request_id(&headers(&[("x-request-id", &"a".repeat(129))]), gen),
            "generated"
        );
        assert_eq!(
            request_id(
                &headers(&[("x-request-id", "a"), ("x-request-id", "b")]),
                gen
            ),
            "generated"
        );
        assert_eq!(request_id(&HeaderMap::new(), gen), "generated");
    }

    #[test]
    fn managed_headers_are_reserved_but_the_default_secret_header_is_not() {
        for n in [
            "authorization",
            "host",
            "x-consumer-id",
            "x-forwarded-for",
            "connection",
            "content-length",
        ] {
            assert!(
                is_reserved_request_header(&HeaderName::from_static(n)),
                "{n}"
            );
        }
        assert!(!is_reserved_request_header(&HeaderName::from_static(
            "x-shared-secret"
        )));
        assert!(!is_reserved_request_header(&HeaderName::from_static(
            "x-origin-auth"
        )));
    }
}
