//! Keygate's own paths under `/__keygate/`, in every spelling ([`spelling`]), and the legacy
//! operator endpoint there, served only when `ADMIN_TOKEN` is set: its authentication (constant
//! time) and routing. It reads quota counters for `keygate usage`; it never changes anything and
//! never reaches the origin. (The management API under `/__keygate/v1/` is routed by
//! [`crate::management`].)

use crate::config::Config;
use crate::credential::parse_authorization;
use crate::record::is_header_safe;
use http::HeaderMap;
use std::borrow::Cow;

/// Every path under this prefix belongs to the gateway, whether or not `ADMIN_TOKEN` is set.
pub const ADMIN_PREFIX: &str = "/__keygate/";
/// Longest counter name accepted.
const MAX_COUNTER_LEN: usize = 256;

/// A well-formed, authenticated operator request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest {
    /// `GET /__keygate/usage?counter=…&window_start=…`: a quota counter's count in a window.
    Usage { counter: String, window_start: u64 },
}

/// The operator endpoint's answer to a usage request: its headers and JSON body.
pub fn usage_answer(
    counter: &str,
    window_start: u64,
    used: u64,
    request_id: &str,
) -> (http::HeaderMap, String) {
    #[derive(serde::Serialize)]
    struct Usage<'a> {
        counter: &'a str,
        window_start: u64,
        used: u64,
    }
    let body = Usage {
        counter,
        window_start,
        used,
    };
    (
        crate::headers::own_answer_headers("application/json", request_id),
        serde_json::to_string(&body).unwrap_or_default(),
    )
}

/// Why an operator request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminDenial {
    /// No `ADMIN_TOKEN` bearer, or the wrong one.
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    BadQuery,
}

/// Routes a request: `None` when it is not an operator request (no `ADMIN_TOKEN`, or a path
/// outside [`ADMIN_PREFIX`]), so it goes through the normal key checks.
///
/// `path` is the normalised path that would be forwarded ([`crate::path::join`]), so `//` and
/// dot segments cannot hide the prefix. It is also compared decoded and in any letter case
/// (`/%5F_KEYGATE/usage`), so no spelling of the operator paths reaches the origin.
pub fn route(
    cfg: &Config,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Result<AdminRequest, AdminDenial>> {
    route_spelled(cfg, method, &spelling(path), query, headers)
}

/// [`route`] for a path already in its [`spelling`].
pub fn route_spelled(
    cfg: &Config,
    method: &str,
    canonical: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Result<AdminRequest, AdminDenial>> {
    let token = cfg.admin_token.as_ref()?;
    let rest = own_rest(canonical)?;
    let presented = parse_authorization(
        headers
            .get_all(http::header::AUTHORIZATION)
            .iter()
            .map(|v| v.as_bytes()),
    );
    let authorised = matches!(presented, Ok(Some(key)) if token.matches(key.expose().as_bytes()));
    if !authorised {
        return Some(Err(AdminDenial::Unauthorized));
    }
    Some(match rest {
        "usage" if method != "GET" => Err(AdminDenial::MethodNotAllowed),
        "usage" => usage_query(query.unwrap_or("")),
        _ => Err(AdminDenial::NotFound),
    })
}

/// What follows [`ADMIN_PREFIX`] in a path's [`spelling`] (`""` for `/__keygate` itself);
/// `None` for a path that is not keygate's own.
fn own_rest(canonical: &str) -> Option<&str> {
    canonical
        .strip_prefix(ADMIN_PREFIX)
        .or_else(|| (canonical == ADMIN_PREFIX.trim_end_matches('/')).then_some(""))
}

/// Whether a path, in its [`spelling`], is keygate's own: `/__keygate` and everything under
/// [`ADMIN_PREFIX`]. Such a path is never forwarded, with or without `ADMIN_TOKEN`.
pub fn is_own_path(canonical: &str) -> bool {
    own_rest(canonical).is_some()
}

/// `path` decoded (every round an origin might apply) and in lower case, for matching only.
/// Most paths hold no escape and do not start like the prefix: those cost no allocation.
pub fn spelling(path: &str) -> Cow<'_, str> {
    let stem = ADMIN_PREFIX.trim_end_matches('/');
    let plain_elsewhere = !path.contains('%')
        && !path
            .get(..stem.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(stem));
    if plain_elsewhere {
        return Cow::Borrowed(path);
    }
    let decoded = crate::integrity::decode_repeatedly(path.as_bytes());
    Cow::Owned(String::from_utf8_lossy(&decoded).to_ascii_lowercase())
}

fn usage_query(query: &str) -> Result<AdminRequest, AdminDenial> {
    let mut counter = None;
    let mut window_start = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "counter" if counter.is_none() => counter = Some(v.into_owned()),
            "window_start" if window_start.is_none() => {
                window_start = Some(v.parse::<u64>().map_err(|_| AdminDenial::BadQuery)?)
            }
            _ => return Err(AdminDenial::BadQuery),
        }
    }
    let (Some(counter), Some(window_start)) = (counter, window_start) else {
        return Err(AdminDenial::BadQuery);
    };
    if !is_counter_name(&counter) {
        return Err(AdminDenial::BadQuery);
    }
    Ok(AdminRequest::Usage {
        counter,
        window_start,
    })
}

/// `key:<period>:<12 hex>` or `consumer:<period>:<id>`, as [`crate::limits::Quota::counter`]
/// builds them.
pub fn is_counter_name(s: &str) -> bool {
    if s.len() > MAX_COUNTER_LEN || !is_header_safe(s) || s.contains(' ') {
        return false;
    }
    let Some((kind, rest)) = s.split_once(':') else {
        return false;
    };
    let Some((period, id)) = rest.split_once(':') else {
        return false;
    };
    if crate::limits::QuotaPeriod::parse(period).is_none() {
        return false;
    }
    match kind {
        "key" => {
            id.len() == crate::secret::KEY_ID_LEN
                && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        }
        "consumer" => !id.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "admin-token-0123456789";

    fn cfg(admin: Option<&str>) -> Config {
        match admin {
            Some(t) => crate::common::config(&[("ADMIN_TOKEN", t)]),
            None => crate::common::config(&[]),
        }
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    const Q: &str = "counter=key%3Aday%3A0123456789ab&window_start=1764547200";

    #[test]
    fn without_admin_token_the_prefix_is_an_ordinary_path() {
        let c = cfg(None);
        assert_eq!(
            route(&c, "GET", "/__keygate/usage", Some(Q), &bearer(TOKEN)),
            None
        );
    }

    #[test]
    fn usage_needs_the_exact_admin_token() {
        let c = cfg(Some(TOKEN));
        let ok = route(&c, "GET", "/__keygate/usage", Some(Q), &bearer(TOKEN));
        assert_eq!(
            ok,
            Some(Ok(AdminRequest::Usage {
                counter: "key:day:0123456789ab".into(),
                window_start: 1_764_547_200
            }))
        );
        for h in [
            HeaderMap::new(),
            bearer("admin-token-012345678"),
            bearer(crate::common::SECRET),
        ] {
            assert_eq!(
                route(&c, "GET", "/__keygate/usage", Some(Q), &h),
                Some(Err(AdminDenial::Unauthorized))
            );
        }
        // Unknown paths are refused only after authentication: nothing leaks to a stranger.
        assert_eq!(
            route(&c, "GET", "/__keygate/keys", None, &HeaderMap::new()),
            Some(Err(AdminDenial::Unauthorized))
        );
        assert_eq!(
            route(&c, "GET", "/__keygate/keys", None, &bearer(TOKEN)),
            Some(Err(AdminDenial::NotFound))
        );
        assert_eq!(
            route(&c, "POST", "/__keygate/usage", Some(Q), &bearer(TOKEN)),
            Some(Err(AdminDenial::MethodNotAllowed))
        );
    }

    #[test]
    fn operator_paths_are_recognised_in_every_spelling_of_the_normalised_path() {
        // Found in review: `//__keygate/usage` and `/%5F_keygate/usage` were forwarded. The
        // gateway routes on the normalised path, so `//` and dot segments are already gone here.
        let c = cfg(Some(TOKEN));
        for p in [
            "/__keygate/usage",
            "/%5F_keygate/usage",
            "/%5f%5fkeygate/usage",
            "/__KEYGATE/usage",
            "/__keygate/%75sage",
            "/%255F_keygate/usage",
        ] {
            assert!(
                matches!(
                    route(&c, "GET", p, Some(Q), &bearer(TOKEN)),
                    Some(Ok(AdminRequest::Usage { .. }))
                ),
                "{p}"
            );
            assert_eq!(
                route(&c, "GET", p, Some(Q), &HeaderMap::new()),
                Some(Err(AdminDenial::Unauthorized)),
                "{p}"
            );
        }
        for p in ["/__keygate", "/__Keygate/", "/__keygate/other"] {
            assert!(
                route(&c, "GET", p, None, &HeaderMap::new()).is_some(),
                "{p}"
            );
        }
        for p in [
            "/v1/__keygate/usage",
            "/__keygates/usage",
            "/_keygate/usage",
        ] {
            assert_eq!(route(&c, "GET", p, None, &bearer(TOKEN)), None, "{p}");
            assert!(!is_own_path(&spelling(p)), "{p}");
        }
    }

    #[test]
    fn keygate_owns_its_prefix_in_every_spelling_with_or_without_admin_token() {
        for p in [
            "/__keygate",
            "/__keygate/",
            "/__KEYGATE/v1/keys",
            "/%5F_keygate/v1",
            "/%255F%255Fkeygate/usage",
            "/__keygate/anything",
        ] {
            assert!(is_own_path(&spelling(p)), "{p}");
        }
        assert_eq!(spelling("/v1/orders"), "/v1/orders");
        assert!(matches!(spelling("/v1/orders"), Cow::Borrowed(_)));
    }

    #[test]
    fn usage_query_is_strict() {
        let c = cfg(Some(TOKEN));
        for q in [
            "",
            "counter=key%3Aday%3A0123456789ab",
            "window_start=1",
            "counter=key%3Aday%3A0123456789ab&window_start=x",
            "counter=key%3Aday%3A0123456789AB&window_start=1",
            "counter=key%3Aday%3Aabc&window_start=1",
            "counter=key%3A0123456789ab&window_start=1",
            "counter=key%3Aweek%3A0123456789ab&window_start=1",
            "counter=user%3Aday%3Aacme&window_start=1",
            "counter=consumer%3Aday%3A&window_start=1",
            "counter=consumer%3Aacme&window_start=1",
            "counter=consumer%3Aday%3Aa%0Ab&window_start=1",
            "counter=key%3Aday%3A0123456789ab&window_start=1&extra=1",
            "counter=key%3Aday%3A0123456789ab&counter=key%3Aday%3A0123456789ab&window_start=1",
        ] {
            assert_eq!(
                route(&c, "GET", "/__keygate/usage", Some(q), &bearer(TOKEN)),
                Some(Err(AdminDenial::BadQuery)),
                "{q}"
            );
        }
        assert!(matches!(
            route(
                &c,
                "GET",
                "/__keygate/usage",
                Some("counter=consumer%3A3600s%3Aacme%3Acorp&window_start=0"),
                &bearer(TOKEN)
            ),
            Some(Ok(_))
        ));
    }
}
