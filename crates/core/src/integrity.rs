//! Request integrity: what keeps the origin running the method, path and identity that keygate
//! checked. It owns the methods keygate forwards, the tables of names that frameworks, proxies and
//! gateways honour (method overrides, URL rewrites, identity claims), the repeated percent-decoding
//! that origins may apply, and the search for key-shaped strings in a URL. It sits at the bottom
//! of the crate: it imports nothing from it but the key format.
//!
//! Every table is listed in the README's "Request integrity" section; a test checks that the two
//! agree.

use crate::keyformat::RANDOM_LEN;
use http::HeaderMap;
use std::borrow::Cow;

/// The methods keygate forwards, exactly as received. Every other method gets 405 with
/// [`ALLOW`]: `TRACE` and `TRACK` echo the request (the secret header included), `CONNECT`
/// opens a tunnel, and the WebDAV and cache methods (`PROPFIND`, `COPY`, `MOVE`, `PURGE`, …)
/// carry targets and depths in headers that scopes cannot see.
pub const FORWARDED_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The `Allow` value of a 405: [`FORWARDED_METHODS`].
pub const ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// True when keygate forwards `method` (case-sensitive, as RFC 9110 §9.1 compares methods).
pub fn is_forwarded_method(method: &str) -> bool {
    FORWARDED_METHODS.contains(&method)
}

/// A name that some framework, proxy or gateway honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Honoured {
    /// The canonical form (see [`canonical_header_name`] and [`param_reads_as`]).
    pub name: &'static str,
    /// `true`: every name that starts with `name` (a family such as `x-auth-request-`).
    pub prefix: bool,
}

const fn exact(name: &'static str) -> Honoured {
    Honoured {
        name,
        prefix: false,
    }
}

const fn family(name: &'static str) -> Honoured {
    Honoured { name, prefix: true }
}

/// One table written once: `NAMES` for the gateway, and `BY` (who sets or honours each name, in
/// the same order) for the README and its test. `BY` is a `const` that the worker never reads,
/// so none of its text is compiled into the wasm.
macro_rules! honoured {
    ($(#[$meta:meta])* $names:ident, $by:ident = [$($kind:ident($name:expr, $who:expr $(,)?)),* $(,)?];) => {
        $(#[$meta])*
        pub const $names: &[Honoured] = &[$($kind($name)),*];
        #[doc = concat!("Who sets or honours each name of [`", stringify!($names), "`], in order.")]
        pub const $by: &[&str] = &[$($who),*];
    };
}

impl Honoured {
    /// True when the canonical `name` is this entry (or, for a family, starts with it).
    pub fn matches(&self, name: &str) -> bool {
        if self.prefix {
            name.starts_with(self.name)
        } else {
            name == self.name
        }
    }
}

honoured! {
    /// Header fields that tell a framework to run another method than the request line's.
    METHOD_OVERRIDE_HEADERS, METHOD_OVERRIDE_HEADERS_BY = [
        exact(
            "x-http-method-override",
            "Express method-override, Rails Rack::MethodOverride, Laravel and Symfony, ASP.NET Core \
             UseHttpMethodOverride, Google APIs",
        ),
        exact(
            "x-http-method",
            "ASP.NET Web API and OData, Express method-override set-ups",
        ),
        exact("x-method-override", "Express method-override set-ups"),
    ];
}

honoured! {
    /// Query parameters that tell a framework to run another method (on a POST, mostly).
    METHOD_OVERRIDE_PARAMS, METHOD_OVERRIDE_PARAMS_BY = [
        exact(
            "_method",
            "Laravel, Symfony, Spring HiddenHttpMethodFilter, Express method-override('_method'), \
             CakePHP, Rails (form body)",
        ),
        exact(
            "x_http_method_override",
            "the header's name used as a parameter",
        ),
        exact("x_http_method", "the header's name used as a parameter"),
        exact("x_method_override", "the header's name used as a parameter"),
    ];
}

honoured! {
    /// Header fields that tell a framework or proxy to serve another URL, host or scheme, or that
    /// steer a proxy inside the origin's own network. None of them ever reaches the origin.
    REWRITE_HEADERS, REWRITE_HEADERS_BY = [
        family(
            "x-original-",
            "IIS URL Rewrite and Symfony (X-Original-URL), nginx auth_request and ingress-nginx \
             (X-Original-URI, X-Original-Method, X-Original-Forwarded-For)",
        ),
        family(
            "x-rewrite-",
            "IIS ISAPI_Rewrite, Symfony and Zend (X-Rewrite-URL)",
        ),
        exact(
            "x-host",
            "PHP, Ruby and Node applications that prefer it to Host",
        ),
        exact(
            "x-http-host-override",
            "host-override set-ups (web cache poisoning research)",
        ),
        exact("x-scheme", "ingress-nginx, Flask and Django proxy set-ups"),
        exact("x-url-scheme", "WSGI and PHP applications behind proxies"),
        exact("front-end-https", "Microsoft (OWA, IIS ARR)"),
        family(
            "x-arr-",
            "IIS Application Request Routing (X-ARR-SSL, X-ARR-ClientCert)",
        ),
        family(
            "x-envoy-",
            "Envoy and Istio (x-envoy-original-path after a rewrite, x-envoy-internal, retry and \
             timeout controls)",
        ),
        family("x-istio-", "Istio"),
        family(
            "x-middleware-",
            "Next.js (x-middleware-subrequest skipped middleware, CVE-2025-29927)",
        ),
    ];
}

honoured! {
    /// Header fields through which origins learn who is calling, or from where. keygate sets its own
    /// identity headers after dropping these, so an origin sees only what keygate set.
    IDENTITY_HEADERS, IDENTITY_HEADERS_BY = [
        family(
            "x-consumer-",
            "keygate, Kong, APISIX (X-Consumer-ID, -Username, -Custom-ID, -Groups)",
        ),
        family(
            "x-credential-",
            "Kong, APISIX (X-Credential-Identifier, X-Credential-Username)",
        ),
        family(
            "x-anonymous-",
            "Kong (X-Anonymous-Consumer, X-Anonymous-Groups)",
        ),
        family(
            "x-authenticated-",
            "Kong (X-Authenticated-Userid, -Scope, -Groups)",
        ),
        exact("x-userinfo", "Kong OpenID Connect"),
        exact("x-id-token", "Kong OpenID Connect"),
        exact("x-access-token", "Kong OpenID Connect"),
        family(
            "x-auth-request-",
            "oauth2-proxy --set-xauthrequest (-User, -Email, -Groups, …)",
        ),
        family(
            "x-forwarded-",
            "oauth2-proxy (X-Forwarded-User, -Email, -Groups, -Access-Token), Envoy \
             (X-Forwarded-Client-Cert), every proxy (-For, -Host, -Proto, -Prefix, -Uri)",
        ),
        exact("forwarded", "RFC 7239 proxies"),
        exact("gap-auth", "oauth2-proxy (legacy)"),
        exact("gap-signature", "oauth2-proxy (legacy)"),
        family(
            "remote-",
            "Authelia, Authentik, Caddy forward_auth (Remote-User, -Groups, -Email)",
        ),
        family(
            "x-remote-",
            "Kubernetes authenticating proxy (X-Remote-User, -Group, -Extra-*)",
        ),
        family("x-authentik-", "Authentik proxy outpost"),
        family("x-webauth-", "Grafana auth proxy (X-WEBAUTH-USER)"),
        family("x-goog-authenticated-", "Google Identity-Aware Proxy"),
        family(
            "x-goog-iap-",
            "Google Identity-Aware Proxy (X-Goog-IAP-JWT-Assertion)",
        ),
        exact("x-apigateway-api-userinfo", "Google API Gateway, ESPv2"),
        exact("x-endpoint-api-userinfo", "Google Cloud Endpoints (ESP)"),
        family(
            "cf-access-",
            "Cloudflare Access (Cf-Access-Authenticated-User-Email, -Jwt-Assertion)",
        ),
        family(
            "x-amzn-oidc-",
            "AWS Application Load Balancer (X-Amzn-Oidc-Identity, -Data)",
        ),
        family(
            "x-amzn-mtls-",
            "AWS Application Load Balancer mTLS (X-Amzn-Mtls-Clientcert)",
        ),
        family("x-ms-client-principal", "Azure App Service authentication"),
        family("x-ms-token-", "Azure App Service authentication"),
        family(
            "x-jwt-",
            "Envoy/Istio claim-to-header set-ups, WSO2 (X-JWT-Assertion)",
        ),
        exact("x-user", "nginx auth_request set-ups"),
        exact("x-user-id", "common auth middleware"),
        exact("x-userid", "common auth middleware"),
        exact("x-username", "common auth middleware"),
        exact("x-user-name", "common auth middleware"),
        exact("x-user-email", "common auth middleware"),
        exact("x-email", "nginx auth_request set-ups"),
        exact("x-auth-user", "common auth middleware"),
        exact("x-real-ip", "nginx real_ip, many frameworks"),
        exact("true-client-ip", "Akamai, Cloudflare Enterprise"),
        exact("x-client-ip", "common proxies"),
        exact("x-originating-ip", "Microsoft Exchange and mail gateways"),
        exact("x-cluster-client-ip", "Rackspace and other load balancers"),
        exact("client-ip", "common proxies"),
        exact("fastly-client-ip", "Fastly"),
        exact("cf-connecting-ip", "Cloudflare"),
        exact("cf-connecting-ipv6", "Cloudflare"),
        exact("x-azure-clientip", "Azure Front Door"),
        exact("x-azure-socketip", "Azure Front Door"),
        exact("x-proxyuser-ip", "Google"),
        family(
            "x-appengine-",
            "Google App Engine (X-AppEngine-User-IP, -Cron, -QueueName)",
        ),
        family(
            "x-ssl-",
            "nginx and HAProxy client-certificate set-ups (X-SSL-Client-Cert, -S-DN)",
        ),
        family("ssl-client-", "nginx and Apache client-certificate set-ups"),
        family(
            "x-client-cert",
            "client-certificate set-ups (X-Client-Cert, X-Client-Certificate)",
        ),
        exact("x-client-verify", "client-certificate set-ups"),
        exact("x-client-dn", "client-certificate set-ups"),
    ];
}

/// Which table a header name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameClass {
    MethodOverride,
    Rewrite,
    Identity,
}

/// The header tables, each with its class.
const HEADER_TABLES: [(&[Honoured], NameClass); 3] = [
    (METHOD_OVERRIDE_HEADERS, NameClass::MethodOverride),
    (REWRITE_HEADERS, NameClass::Rewrite),
    (IDENTITY_HEADERS, NameClass::Identity),
];

/// Which bytes some table name starts with: most request headers (`accept`, `user-agent`,
/// `authorization`, …) are ruled out by their first byte without a scan.
const FIRST_BYTES: [bool; 256] = {
    let mut out = [false; 256];
    let mut t = 0;
    while t < HEADER_TABLES.len() {
        let table = HEADER_TABLES[t].0;
        let mut i = 0;
        while i < table.len() {
            out[table[i].name.as_bytes()[0] as usize] = true;
            i += 1;
        }
        t += 1;
    }
    out
};

/// The class of a canonical header name, if it is in one of the tables.
pub fn classify_header(canonical: &str) -> Option<NameClass> {
    let first = *canonical.as_bytes().first()?;
    if !FIRST_BYTES[usize::from(first)] {
        return None;
    }
    HEADER_TABLES
        .into_iter()
        .find(|(table, _)| table.iter().any(|h| h.matches(canonical)))
        .map(|(_, class)| class)
}

/// A header name as the origin may read it: lower case, with `_` and `.` read as `-` (CGI, WSGI,
/// Rack and PHP origins see `X_Consumer_Id` and `X.Consumer.Id` as `HTTP_X_CONSUMER_ID`).
pub fn canonical_header_name(name: &str) -> Cow<'_, str> {
    if name
        .bytes()
        .any(|b| b == b'_' || b == b'.' || b.is_ascii_uppercase())
    {
        Cow::Owned(
            name.bytes()
                .map(|b| match b {
                    b'_' | b'.' => '-',
                    b => char::from(b.to_ascii_lowercase()),
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(name)
    }
}

/// True when the decoded query parameter `name` reads as `canonical` the way origins read names:
/// lower case, leading spaces dropped, and `-`, `.`, ` ` and `[` read as `_` (PHP turns ` _method`
/// and `.method` into `_method`). Compared without allocating.
pub fn param_reads_as(name: &str, canonical: &str) -> bool {
    param_reading(name).eq(canonical.chars())
}

fn param_reading(name: &str) -> impl Iterator<Item = char> + '_ {
    name.trim_start_matches(' ').chars().map(|c| match c {
        '-' | '.' | ' ' | '[' => '_',
        c => c.to_ascii_lowercase(),
    })
}

/// Why a request's method override is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideError {
    /// An override is present but `METHOD_OVERRIDE` is off.
    NotEnabled,
    /// A value that is not one plain method name (empty, a list, non-ASCII).
    BadValue,
    /// Two overrides that name different methods.
    Conflicting,
    /// A preflight carries an override: it has no key, so no scope could cover it.
    OnPreflight,
}

impl OverrideError {
    pub fn description(self) -> &'static str {
        match self {
            OverrideError::NotEnabled => {
                "method override headers and _method parameters are not accepted; send the method \
                 itself"
            }
            OverrideError::BadValue => "a method override must name one method",
            OverrideError::Conflicting => "the request's method overrides name different methods",
            OverrideError::OnPreflight => "a CORS preflight cannot carry a method override",
        }
    }
}

/// The method a request tunnels through override headers and `_method`-style query parameters:
/// `Ok(None)` when it carries none. Values are read as frameworks read them (trimmed, upper-cased);
/// one that is not a plain ASCII method name, or two that disagree, are refused.
pub fn tunnelled_method(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<String>, OverrideError> {
    let mut found: Option<String> = None;
    let mut add = |raw: &[u8]| -> Result<(), OverrideError> {
        let value = trim_ows(raw);
        if value.is_empty() || !value.iter().all(|b| b.is_ascii_alphabetic() || *b == b'-') {
            return Err(OverrideError::BadValue);
        }
        let upper: String = value
            .iter()
            .map(|b| char::from(b.to_ascii_uppercase()))
            .collect();
        match &found {
            Some(m) if *m != upper => Err(OverrideError::Conflicting),
            _ => {
                found = Some(upper);
                Ok(())
            }
        }
    };
    for (name, value) in headers {
        let canonical = canonical_header_name(name.as_str());
        if METHOD_OVERRIDE_HEADERS
            .iter()
            .any(|h| h.matches(&canonical))
        {
            add(value.as_bytes())?;
        }
    }
    if let Some(q) = query {
        for (name, value) in form_urlencoded::parse(q.as_bytes()) {
            if METHOD_OVERRIDE_PARAMS
                .iter()
                .any(|p| param_reads_as(&name, p.name))
            {
                add(value.as_bytes())?;
            }
        }
    }
    Ok(found)
}

/// True when the request declares a body: `Transfer-Encoding`, or a `Content-Length` other
/// than 0. (The runtime hands the worker an empty body stream for `Content-Length: 0`.)
pub fn declares_body(headers: &HeaderMap) -> bool {
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get_all(http::header::CONTENT_LENGTH)
            .iter()
            .any(|v| !v.as_bytes().iter().all(|b| *b == b'0'))
}

/// How many rounds of percent-decoding an origin stack may apply (a proxy, then a framework,
/// then an application): keygate looks through at least as many.
pub const DECODE_ROUNDS: usize = 4;

/// `s` with `%XX` escapes decoded again and again, until none is left or after
/// [`DECODE_ROUNDS`] rounds. Invalid escapes stay as they are.
pub fn decode_repeatedly(s: &[u8]) -> Cow<'_, [u8]> {
    let mut cur = Cow::Borrowed(s);
    for _ in 0..DECODE_ROUNDS {
        match decode_once(&cur) {
            Some(next) => cur = Cow::Owned(next),
            None => break,
        }
    }
    cur
}

/// One round of percent-decoding; `None` when `s` holds no valid escape.
fn decode_once(s: &[u8]) -> Option<Vec<u8>> {
    if !s.contains(&b'%') {
        return None;
    }
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut changed = false;
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                changed = true;
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    changed.then_some(out)
}

/// Decoded bytes with the other spellings of `.`, `;`, `/` and `\` that some servers accept
/// replaced by the ASCII character: overlong UTF-8 (`C0 AE` for `.`) and the full-width forms
/// that Unicode normalisation (NFKC) folds (`U+FF0E` for `.`).
pub fn fold_lookalikes(s: &[u8]) -> Cow<'_, [u8]> {
    const FOLDS: &[(&[u8], u8)] = &[
        (&[0xC0, 0xAE], b'.'),
        (&[0xE0, 0x80, 0xAE], b'.'),
        (&[0xEF, 0xBC, 0x8E], b'.'),
        (&[0xC0, 0xBB], b';'),
        (&[0xEF, 0xBC, 0x9B], b';'),
        (&[0xC0, 0xAF], b'/'),
        (&[0xE0, 0x80, 0xAF], b'/'),
        (&[0xEF, 0xBC, 0x8F], b'/'),
        (&[0xC1, 0x9C], b'\\'),
        (&[0xEF, 0xBC, 0xBC], b'\\'),
    ];
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    'outer: while i < s.len() {
        for (from, to) in FOLDS {
            if s[i..].starts_with(from) {
                out.push(*to);
                i += from.len();
                continue 'outer;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// True when `s` holds a key anywhere, as a name, a value, or inside either: `kg_` (in any case)
/// followed by the 43 letters or digits of its random part. The `_` and checksum that end a full
/// key are not needed, because anyone can compute them from the rest.
pub fn holds_key_shape(s: &[u8]) -> bool {
    const LEN: usize = 3 + RANDOM_LEN;
    s.len() >= LEN
        && (0..=s.len() - LEN).any(|i| {
            s[i..i + 3].eq_ignore_ascii_case(b"kg_")
                && s[i + 3..i + LEN].iter().all(u8::is_ascii_alphanumeric)
        })
}

/// True when a part of a URL (a path or a query) decodes, in any number of rounds up to
/// [`DECODE_ROUNDS`], to something that holds a key-shaped string.
pub fn url_part_holds_key(part: &str) -> bool {
    part.len() >= 3 + RANDOM_LEN && holds_key_shape(&decode_repeatedly(part.as_bytes()))
}

/// `v` without the optional whitespace (RFC 9110 §5.6.3: spaces and tabs) around a field value.
pub fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::headers;

    // A key-shaped test value, written in pieces so that secret scanners do not flag it.
    const KEY: &str = concat!(
        "kg",
        "_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
        "_00AbCd"
    );

    #[test]
    fn only_the_standard_api_methods_are_forwarded_and_case_matters() {
        for m in FORWARDED_METHODS {
            assert!(is_forwarded_method(m));
            assert!(ALLOW.split(", ").any(|a| a == *m));
        }
        assert_eq!(ALLOW.split(", ").count(), FORWARDED_METHODS.len());
        for m in [
            "TRACE", "TRACK", "CONNECT", "PROPFIND", "MKCOL", "COPY", "MOVE", "PURGE", "get",
            "patch", "Delete", "DEBUG", "",
        ] {
            assert!(!is_forwarded_method(m), "{m}");
        }
    }

    #[test]
    fn header_names_are_classified_in_any_case_and_underscore_spelling() {
        for (name, class) in [
            ("x-http-method-override", NameClass::MethodOverride),
            ("X_HTTP_Method_Override", NameClass::MethodOverride),
            ("x.http.method", NameClass::MethodOverride),
            ("X-Original-URL", NameClass::Rewrite),
            ("x_rewrite_url", NameClass::Rewrite),
            ("x-envoy-original-path", NameClass::Rewrite),
            ("x-middleware-subrequest", NameClass::Rewrite),
            ("X-Authenticated-Userid", NameClass::Identity),
            ("x_auth_request_user", NameClass::Identity),
            ("Remote-User", NameClass::Identity),
            ("True-Client-IP", NameClass::Identity),
            ("x-forwarded-client-cert", NameClass::Identity),
            ("cf-access-authenticated-user-email", NameClass::Identity),
        ] {
            assert_eq!(
                classify_header(&canonical_header_name(name)),
                Some(class),
                "{name}"
            );
        }
        for name in [
            "accept",
            "x-user-agent",
            "x-request-start",
            "content-type",
            "x-hosted",
        ] {
            assert_eq!(
                classify_header(&canonical_header_name(name)),
                None,
                "{name}"
            );
        }
    }

    #[test]
    fn param_names_fold_like_php_and_ignore_case() {
        for raw in [
            "_method", "_METHOD", " _method", ".method", "[method", "-method",
        ] {
            assert!(param_reads_as(raw, "_method"), "{raw:?}");
        }
        assert!(param_reads_as(
            "X-HTTP-Method-Override",
            "x_http_method_override"
        ));
        // Only a leading space is dropped (PHP), and the whole name must match.
        for raw in ["method", "_method_", "x_method", "_meth"] {
            assert!(!param_reads_as(raw, "_method"), "{raw:?}");
        }
    }

    #[test]
    fn an_override_in_a_header_or_the_query_is_found_and_upper_cased() {
        let none = tunnelled_method(&headers(&[("accept", "*/*")]), Some("a=1&method=x"));
        assert_eq!(none, Ok(None));
        let h = headers(&[("x-http-method-override", " delete ")]);
        assert_eq!(tunnelled_method(&h, None), Ok(Some("DELETE".into())));
        let h = headers(&[("x_method_override", "PATCH")]);
        assert_eq!(tunnelled_method(&h, None), Ok(Some("PATCH".into())));
        for q in [
            "_method=DELETE",
            "%5Fmethod=delete",
            "_Method=Delete",
            "+_method=DELETE",
            "a=1&.method=DELETE",
        ] {
            assert_eq!(
                tunnelled_method(&HeaderMap::new(), Some(q)),
                Ok(Some("DELETE".into())),
                "{q}"
            );
        }
    }

    #[test]
    fn override_values_that_are_not_one_plain_method_are_refused() {
        for v in ["", "  ", "DELETE, GET", "DEL ETE", "GET;x"] {
            let h = headers(&[("x-http-method", v)]);
            assert_eq!(
                tunnelled_method(&h, None),
                Err(OverrideError::BadValue),
                "{v:?}"
            );
        }
        // The long s that JavaScript and Java upper-case to S: "poſt" becomes "POST" there.
        assert_eq!(
            tunnelled_method(&HeaderMap::new(), Some("_method=po%C5%BFt")),
            Err(OverrideError::BadValue)
        );
    }

    #[test]
    fn overrides_that_disagree_are_refused_and_ones_that_agree_are_one_method() {
        let h = headers(&[
            ("x-http-method-override", "DELETE"),
            ("x-http-method", "PUT"),
        ]);
        assert_eq!(tunnelled_method(&h, None), Err(OverrideError::Conflicting));
        let h = headers(&[("x-http-method-override", "DELETE")]);
        assert_eq!(
            tunnelled_method(&h, Some("_method=PUT")),
            Err(OverrideError::Conflicting)
        );
        assert_eq!(
            tunnelled_method(&h, Some("_method=delete")),
            Ok(Some("DELETE".into()))
        );
    }

    #[test]
    fn a_body_is_declared_by_transfer_encoding_or_a_non_zero_length() {
        assert!(!declares_body(&HeaderMap::new()));
        assert!(!declares_body(&headers(&[("content-length", "0")])));
        assert!(!declares_body(&headers(&[("content-length", "000")])));
        assert!(declares_body(&headers(&[("content-length", "7")])));
        assert!(declares_body(&headers(&[("transfer-encoding", "chunked")])));
    }

    #[test]
    fn decoding_repeats_until_nothing_changes_and_leaves_bad_escapes() {
        assert_eq!(&*decode_repeatedly(b"a%2541b"), b"aAb");
        assert_eq!(&*decode_repeatedly(b"%25252e"), b".");
        assert_eq!(&*decode_repeatedly(b"%zz%2"), b"%zz%2");
        assert_eq!(&*decode_repeatedly(b"plain"), b"plain");
        assert!(matches!(decode_repeatedly(b"plain"), Cow::Borrowed(_)));
        // Four rounds and no more: a fifth level of encoding stays encoded.
        assert_eq!(&*decode_repeatedly(b"%252525252e"), b"%2e");
    }

    #[test]
    fn lookalikes_of_dot_semicolon_and_separators_fold_to_ascii() {
        assert_eq!(&*fold_lookalikes(&[0xC0, 0xAE, 0xC0, 0xAE]), b"..");
        assert_eq!(&*fold_lookalikes("．．；".as_bytes()), b"..;");
        assert_eq!(&*fold_lookalikes("a／b＼c".as_bytes()), b"a/b\\c");
        assert_eq!(&*fold_lookalikes("café".as_bytes()), "café".as_bytes());
    }

    #[test]
    fn a_key_shaped_string_is_found_anywhere_in_any_encoding() {
        for q in [
            KEY.to_owned(),
            format!("x=1,{KEY}"),
            format!("{KEY}=1"),
            format!("a=b&c=prefix{KEY}suffix"),
            format!("k=%6Bg_{}", &KEY[3..]),
            format!("k=%256Bg%255F{}", &KEY[3..]),
            format!("k=KG_{}", &KEY[3..]),
            KEY.replace('_', "%5F"),
            // Without its checksum a key is still a key: the checksum is computed from the rest.
            KEY[..46].to_owned(),
            KEY.replace("_00", "-00"),
        ] {
            assert!(url_part_holds_key(&q), "{q}");
        }
        for q in [
            "a=1",
            "kg_short",
            "unit=kg_per_m2",
            &KEY[..45],
            &KEY.replacen('0', "!", 1),
        ] {
            assert!(!url_part_holds_key(q), "{q}");
        }
    }
}
