//! The management API's refusals and faults as CLI errors: an RFC 9457 problem (title, detail,
//! one entry per invalid field, request id) turned into one message and the exit code of its
//! status ([`crate::error::exit_code_of_status`]), with a hint for what to do. Every network
//! text is cleaned of control characters, and the root key is scrubbed from the whole message.

use crate::error::{exit_code_of_status, CliError, EXIT_FAILURE};
use crate::http::Answer;
use crate::redact::{clean, redact};
use serde::Deserialize;

/// The answer headers a refusal reads.
pub const KEPT_HEADERS: &[&str] = &["www-authenticate", "retry-after", "x-request-id"];

#[derive(Deserialize, Default)]
struct Problem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    errors: Vec<FieldError>,
}

#[derive(Deserialize)]
struct FieldError {
    #[serde(default)]
    field: String,
    #[serde(default)]
    detail: String,
}

/// What the CLI knows about the call that was refused.
pub struct Context<'a> {
    /// The gateway's base URL, for hints.
    pub base: &'a str,
    /// The root key's public id (never the key), for the 401 hint.
    pub root_id: &'a str,
    /// The root key itself, only to scrub it from what the gateway said.
    pub secret: &'a str,
    /// Whether the call named one key or root key (a 404 then means "no such id"; on a
    /// collection it means no management API is served there).
    pub names_an_id: bool,
}

/// The `scope` parameter of a `WWW-Authenticate: Bearer … scope="…"` field.
fn scope_of(www_authenticate: &str) -> Option<String> {
    let start = www_authenticate.find("scope=\"")? + "scope=\"".len();
    let rest = &www_authenticate[start..];
    Some(clean(&rest[..rest.find('"')?]))
}

/// The CLI error for a non-success answer.
pub fn refusal(a: &Answer, cx: &Context) -> CliError {
    let p: Problem = serde_json::from_str(&a.body).unwrap_or_default();
    let status = a.status;
    let mut msg = format!("the management API answered {status}");
    if let Some(t) = p.title.as_deref().map(clean).filter(|t| !t.is_empty()) {
        msg.push(' ');
        msg.push_str(&t);
    }
    let detail = p.detail.as_deref().map(clean).filter(|d| !d.is_empty());
    if let Some(d) = &detail {
        msg.push_str(": ");
        msg.push_str(d);
    }
    let base = cx.base;
    let hint = match status {
        401 => Some(format!(
            "the root key (id {}) was refused: it is unknown to the gateway at {base} (revoked, \
             or made for another gateway). Check KEYGATE_ROOT_KEY or --root-key-file, and \
             --url or KEYGATE_URL",
            cx.root_id
        )),
        403 => Some(match a.header("www-authenticate").and_then(scope_of) {
            Some(scope) => format!(
                "the root key lacks the permission {scope} (permissions are given when a root \
                 key is created: keygate root create --permissions …)"
            ),
            None => "the root key may not do this".to_owned(),
        }),
        404 if !cx.names_an_id => Some(format!(
            "is the management API served at {base}/__keygate/v1? (check --url or KEYGATE_URL)"
        )),
        405 => Some("the gateway does not offer this call; is it an older keygate?".to_owned()),
        413 => Some("the request is larger than the API takes (64 KiB)".to_owned()),
        429 => Some(match a.header("retry-after").map(clean) {
            Some(s) => format!("over the management API's rate limit; retry after {s} s"),
            None => "over the management API's rate limit; retry later".to_owned(),
        }),
        500 => Some(
            "the gateway failed (its configuration, or a corrupt record); its log has the \
             request id"
                .to_owned(),
        ),
        502..=504 if detail.is_none() => {
            Some("a store behind the gateway is unavailable; try again".to_owned())
        }
        300..=399 => Some(
            "redirects are not followed (a bearer token must not follow one); check --url or \
             KEYGATE_URL"
                .to_owned(),
        ),
        _ => None,
    };
    if let Some(h) = hint {
        msg.push_str(" - ");
        msg.push_str(&h);
    }
    if let Some(id) = p
        .request_id
        .as_deref()
        .or(a.header("x-request-id"))
        .map(clean)
        .filter(|r| !r.is_empty())
    {
        msg.push_str(&format!(" (request id {id})"));
    }
    for e in p.errors.iter().take(20) {
        msg.push_str(&format!("\n  {}: {}", clean(&e.field), clean(&e.detail)));
    }
    let code = if status == 404 && !cx.names_an_id {
        EXIT_FAILURE
    } else {
        exit_code_of_status(status)
    };
    CliError::Coded {
        code,
        message: redact(&msg, cx.secret, "root key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "kgr_SECRET_value";

    fn cx(names_an_id: bool) -> Context<'static> {
        Context {
            base: "https://gw.example",
            root_id: "0123456789ab",
            secret: SECRET,
            names_an_id,
        }
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        Answer {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_owned(),
        }
    }

    fn coded(e: CliError) -> (u8, String) {
        match e {
            CliError::Coded { code, message } => (code, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_422_lists_every_invalid_field_and_exits_2() {
        let body = r#"{"type":"about:blank","title":"Unprocessable Content","status":422,
            "detail":"2 invalid fields","request_id":"r-1",
            "errors":[{"field":"name","detail":"must be 1 to 128 characters"},
                      {"field":"scopes","detail":"GET v1: no slash"}]}"#;
        let (code, msg) = coded(refusal(&answer(422, &[], body), &cx(false)));
        assert_eq!(code, 2);
        assert_eq!(
            msg,
            "the management API answered 422 Unprocessable Content: 2 invalid fields (request \
             id r-1)\n  name: must be 1 to 128 characters\n  scopes: GET v1: no slash"
        );
    }

    #[test]
    fn a_401_names_the_root_key_by_id_and_never_by_value() {
        let body = format!(r#"{{"title":"Unauthorized","detail":"{SECRET} is unknown"}}"#);
        let (code, msg) = coded(refusal(
            &answer(401, &[("x-request-id", "abc")], &body),
            &cx(false),
        ));
        assert_eq!(code, 1);
        assert!(
            msg.contains("root key (id 0123456789ab) was refused"),
            "{msg}"
        );
        assert!(msg.contains("[root key] is unknown"), "{msg}");
        assert!(
            !msg.contains(SECRET) && msg.ends_with("(request id abc)"),
            "{msg}"
        );
    }

    #[test]
    fn a_403_names_the_missing_permission_from_www_authenticate() {
        let h =
            r#"Bearer realm="keygate-management", error="insufficient_scope", scope="keys:write""#;
        let (code, msg) = coded(refusal(
            &answer(403, &[("www-authenticate", h)], r#"{"title":"Forbidden"}"#),
            &cx(true),
        ));
        assert_eq!(code, 1);
        assert!(msg.contains("lacks the permission keys:write"), "{msg}");
    }

    #[test]
    fn statuses_pick_their_exit_codes_and_a_404_on_a_collection_is_no_api_at_all() {
        for (status, names_an_id, code) in [
            (404, true, 3),
            (404, false, 1),
            (409, true, 4),
            (429, false, 5),
            (503, false, 5),
            (500, false, 1),
            (413, false, 2),
            (415, false, 1),
            (301, false, 1),
        ] {
            let (c, msg) = coded(refusal(&answer(status, &[], "not json"), &cx(names_an_id)));
            assert_eq!(c, code, "{status} {msg}");
            assert!(msg.starts_with(&format!("the management API answered {status}")));
        }
        let (_, msg) = coded(refusal(&answer(404, &[], ""), &cx(false)));
        assert!(msg.contains("https://gw.example/__keygate/v1"), "{msg}");
    }

    #[test]
    fn a_429_says_when_to_retry_and_a_503_shows_the_gateways_detail() {
        let (_, msg) = coded(refusal(
            &answer(429, &[("retry-after", "60")], "{}"),
            &cx(false),
        ));
        assert!(msg.ends_with("retry after 60 s"), "{msg}");
        let body = r#"{"title":"Service Unavailable","detail":"the change was made; its audit entry was not written"}"#;
        let (code, msg) = coded(refusal(&answer(503, &[], body), &cx(true)));
        assert_eq!(code, 5);
        assert!(msg.ends_with("its audit entry was not written"), "{msg}");
    }

    #[test]
    fn control_characters_from_the_network_are_dropped() {
        let body =
            "{\"title\":\"Boom\\u001b[31m\",\"errors\":[{\"field\":\"a\\nb\",\"detail\":\"x\"}]}";
        let (_, msg) = coded(refusal(&answer(500, &[], body), &cx(false)));
        assert!(
            msg.starts_with("the management API answered 500 Boom[31m - "),
            "{msg}"
        );
        assert!(msg.ends_with("\n  ab: x"), "{msg}");
    }
}
