//! The management API's routes (issue 15): which endpoint a method and path under
//! `/__keygate/v1/` name, and the permission each one needs. The table here is the permission
//! matrix the README documents and the end-to-end tests walk.

use crate::root::Permission;

/// Where the management API lives on the gateway; nothing under it is ever forwarded.
pub const BASE: &str = "/__keygate/v1";

/// One management endpoint. `id` is a key's or root key's public id (12 lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    CreateKey,
    ListKeys,
    GetKey {
        id: String,
    },
    UpdateKey {
        id: String,
    },
    RotateKey {
        id: String,
    },
    RevokeKey {
        id: String,
    },
    ImportKeys,
    KeyUsage {
        id: String,
    },
    VerifyKey,
    ListAudit,
    CreateRoot,
    ListRoots,
    RevokeRoot {
        id: String,
    },
    /// The OpenAPI document: public, like any published contract; it holds no key or secret.
    OpenApi,
}

/// Why a method and path name no endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// No endpoint at this path (also an id that is not 12 lowercase hex).
    NotFound,
    /// The path exists; `allow` is the `Allow` field of the 405.
    MethodNotAllowed { allow: &'static str },
}

impl Route {
    /// The permission the endpoint needs; `None` for the public OpenAPI document.
    pub fn permission(&self) -> Option<Permission> {
        Some(match self {
            Route::ListKeys | Route::GetKey { .. } => Permission::KeysRead,
            Route::CreateKey
            | Route::UpdateKey { .. }
            | Route::RotateKey { .. }
            | Route::ImportKeys => Permission::KeysWrite,
            Route::RevokeKey { .. } => Permission::KeysRevoke,
            Route::KeyUsage { .. } => Permission::UsageRead,
            Route::VerifyKey => Permission::KeysVerify,
            Route::ListAudit => Permission::AuditRead,
            Route::CreateRoot | Route::ListRoots | Route::RevokeRoot { .. } => {
                Permission::RootsManage
            }
            Route::OpenApi => return None,
        })
    }

    /// Whether the endpoint changes something, and so writes an audit entry.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Route::CreateKey
                | Route::UpdateKey { .. }
                | Route::RotateKey { .. }
                | Route::RevokeKey { .. }
                | Route::ImportKeys
                | Route::CreateRoot
                | Route::RevokeRoot { .. }
        )
    }
}

impl Route {
    /// Whether the endpoint reads a request body (`POST /keys/{id}/rotate`: an optional one).
    pub fn takes_body(&self) -> bool {
        matches!(
            self,
            Route::CreateKey
                | Route::UpdateKey { .. }
                | Route::RotateKey { .. }
                | Route::ImportKeys
                | Route::VerifyKey
                | Route::CreateRoot
        )
    }
}

/// Whether a path, in its decoded lower-case spelling ([`crate::admin::spelling`]), is the
/// management API's: [`BASE`] or anything under it. Such a path is answered by keygate, as a
/// route or a 404, and never forwarded.
pub fn is_management_path(canonical: &str) -> bool {
    canonical
        .strip_prefix(BASE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn is_id(s: &str) -> bool {
    s.len() == crate::secret::KEY_ID_LEN
        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The endpoint `method` and `path` name. `path` is the normalised request path (no query); it
/// must start with [`BASE`].
pub fn route(method: &str, path: &str) -> Result<Route, RouteError> {
    let rest = path.strip_prefix(BASE).ok_or(RouteError::NotFound)?;
    let segments: Vec<&str> = rest.strip_prefix('/').unwrap_or("").split('/').collect();
    let id = |s: &str| is_id(s).then(|| s.to_owned()).ok_or(RouteError::NotFound);
    let pick = |allow: &'static str, found: Option<Route>| {
        found.ok_or(RouteError::MethodNotAllowed { allow })
    };
    match segments.as_slice() {
        ["keys"] => pick(
            "GET, POST",
            match method {
                "GET" => Some(Route::ListKeys),
                "POST" => Some(Route::CreateKey),
                _ => None,
            },
        ),
        ["keys", "import"] => pick("POST", (method == "POST").then_some(Route::ImportKeys)),
        ["keys", "verify"] => pick("POST", (method == "POST").then_some(Route::VerifyKey)),
        ["keys", k] => {
            let id = id(k)?;
            pick(
                "GET, PATCH, DELETE",
                match method {
                    "GET" => Some(Route::GetKey { id }),
                    "PATCH" => Some(Route::UpdateKey { id }),
                    "DELETE" => Some(Route::RevokeKey { id }),
                    _ => None,
                },
            )
        }
        ["keys", k, "rotate"] => {
            let id = id(k)?;
            pick(
                "POST",
                (method == "POST").then_some(Route::RotateKey { id }),
            )
        }
        ["keys", k, "usage"] => {
            let id = id(k)?;
            pick("GET", (method == "GET").then_some(Route::KeyUsage { id }))
        }
        ["audit"] => pick("GET", (method == "GET").then_some(Route::ListAudit)),
        ["roots"] => pick(
            "GET, POST",
            match method {
                "GET" => Some(Route::ListRoots),
                "POST" => Some(Route::CreateRoot),
                _ => None,
            },
        ),
        ["roots", k] => {
            let id = id(k)?;
            pick(
                "DELETE",
                (method == "DELETE").then_some(Route::RevokeRoot { id }),
            )
        }
        ["openapi.json"] => pick("GET", (method == "GET").then_some(Route::OpenApi)),
        _ => Err(RouteError::NotFound),
    }
}

/// The OpenAPI 3.1 document of the management API, served at `GET {BASE}/openapi.json`. It is
/// the committed `openapi/keygate-management.json` without its indentation and line breaks
/// (`build.rs`), the same JSON; `tests/openapi.rs` checks it against [`route`].
pub const OPENAPI_JSON: &str =
    include_str!(concat!(env!("OUT_DIR"), "/keygate-management.min.json"));

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789ab";

    #[test]
    fn every_endpoint_of_the_issue_routes_and_needs_its_permission() {
        let table: &[(&str, String, Route, Option<Permission>)] = &[
            (
                "POST",
                "/keys".into(),
                Route::CreateKey,
                Some(Permission::KeysWrite),
            ),
            (
                "GET",
                "/keys".into(),
                Route::ListKeys,
                Some(Permission::KeysRead),
            ),
            (
                "GET",
                format!("/keys/{ID}"),
                Route::GetKey { id: ID.into() },
                Some(Permission::KeysRead),
            ),
            (
                "PATCH",
                format!("/keys/{ID}"),
                Route::UpdateKey { id: ID.into() },
                Some(Permission::KeysWrite),
            ),
            (
                "POST",
                format!("/keys/{ID}/rotate"),
                Route::RotateKey { id: ID.into() },
                Some(Permission::KeysWrite),
            ),
            (
                "DELETE",
                format!("/keys/{ID}"),
                Route::RevokeKey { id: ID.into() },
                Some(Permission::KeysRevoke),
            ),
            (
                "POST",
                "/keys/import".into(),
                Route::ImportKeys,
                Some(Permission::KeysWrite),
            ),
            (
                "GET",
                format!("/keys/{ID}/usage"),
                Route::KeyUsage { id: ID.into() },
                Some(Permission::UsageRead),
            ),
            (
                "POST",
                "/keys/verify".into(),
                Route::VerifyKey,
                Some(Permission::KeysVerify),
            ),
            (
                "GET",
                "/audit".into(),
                Route::ListAudit,
                Some(Permission::AuditRead),
            ),
            (
                "POST",
                "/roots".into(),
                Route::CreateRoot,
                Some(Permission::RootsManage),
            ),
            (
                "GET",
                "/roots".into(),
                Route::ListRoots,
                Some(Permission::RootsManage),
            ),
            (
                "DELETE",
                format!("/roots/{ID}"),
                Route::RevokeRoot { id: ID.into() },
                Some(Permission::RootsManage),
            ),
            ("GET", "/openapi.json".into(), Route::OpenApi, None),
        ];
        for (method, path, want, permission) in table {
            let got = route(method, &format!("{BASE}{path}")).unwrap();
            assert_eq!(&got, want, "{method} {path}");
            assert_eq!(got.permission(), *permission, "{method} {path}");
        }
        // Every permission guards some endpoint.
        for p in Permission::ALL {
            assert!(
                table.iter().any(|(.., q)| *q == Some(p)),
                "{p:?} guards nothing"
            );
        }
    }

    #[test]
    fn writes_are_exactly_the_endpoints_that_change_something() {
        let writes: Vec<_> = [
            ("POST", "/keys".to_owned()),
            ("PATCH", format!("/keys/{ID}")),
            ("POST", format!("/keys/{ID}/rotate")),
            ("DELETE", format!("/keys/{ID}")),
            ("POST", "/keys/import".into()),
            ("POST", "/roots".into()),
            ("DELETE", format!("/roots/{ID}")),
        ]
        .into_iter()
        .map(|(m, p)| route(m, &format!("{BASE}{p}")).unwrap())
        .collect();
        assert!(writes.iter().all(Route::is_write));
        for (m, p) in [
            ("GET", "/keys"),
            ("POST", "/keys/verify"),
            ("GET", "/audit"),
        ] {
            assert!(
                !route(m, &format!("{BASE}{p}")).unwrap().is_write(),
                "{m} {p}"
            );
        }
    }

    #[test]
    fn a_known_path_with_another_method_is_405_with_allow() {
        for (method, path, allow) in [
            ("PUT", "/keys".to_owned(), "GET, POST"),
            ("POST", format!("/keys/{ID}"), "GET, PATCH, DELETE"),
            ("GET", format!("/keys/{ID}/rotate"), "POST"),
            ("GET", "/keys/import".into(), "POST"),
            ("DELETE", "/audit".into(), "GET"),
            ("POST", "/openapi.json".into(), "GET"),
        ] {
            assert_eq!(
                route(method, &format!("{BASE}{path}")),
                Err(RouteError::MethodNotAllowed { allow }),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn the_management_prefix_is_base_and_what_lies_under_it() {
        for p in ["/__keygate/v1", "/__keygate/v1/", "/__keygate/v1/keys/x"] {
            assert!(is_management_path(p), "{p}");
        }
        for p in [
            "/__keygate/v10",
            "/__keygate/usage",
            "/__keygate",
            "/v1/__keygate/v1",
        ] {
            assert!(!is_management_path(p), "{p}");
        }
    }

    #[test]
    fn unknown_paths_and_ids_that_are_not_12_hex_are_404() {
        for path in [
            "/__keygate/v1",
            "/__keygate/v1/",
            "/__keygate/v1/key",
            "/__keygate/v1/keys/",
            "/__keygate/v1/keys/0123456789AB",
            "/__keygate/v1/keys/0123456789a",
            "/__keygate/v1/keys/0123456789ab/",
            "/__keygate/v1/keys/0123456789ab/delete",
            "/__keygate/v2/keys",
            "/__keygate/usage",
            "/v1/keys",
        ] {
            assert_eq!(route("GET", path), Err(RouteError::NotFound), "{path}");
        }
    }
}
