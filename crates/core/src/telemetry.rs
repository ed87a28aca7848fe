//! What each request leaves behind for operators: the one structured log line, the Analytics
//! Engine data point, and the fixed set of decision codes both carry. The CLI's `keygate stats`
//! reads both back through the same names, so the layout lives here once.

use serde::Serialize;

/// The `event` member of every request log line, so that tools can pick keygate's lines out of
/// a log that holds other output too.
pub const LOG_EVENT: &str = "keygate.request";

/// Whether a decision let the request through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    /// Forwarded to the origin.
    Accepted,
    /// The client's doing: refused by policy (4xx).
    Refused,
    /// Not the client's doing: configuration or infrastructure (5xx).
    Fault,
    /// The operator endpoint or the management API, not API traffic: left out of `keygate stats`.
    /// Its faults (5xx) carry the fault codes.
    Operator,
}

/// Defines [`Decision`] and [`DECISIONS`] from one list, so each code is written once.
macro_rules! decisions {
    ($($variant:ident = $code:literal, $kind:ident, $meaning:literal;)*) => {
        /// Every decision a log line or data point can carry. The README's "Operating keygate"
        /// table lists the same codes (a test checks it), and nothing else is ever written: the
        /// set is fixed so that dashboards and alerts can rely on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Decision {
            $($variant,)*
        }

        impl Decision {
            /// Every decision, in the README table's order.
            pub const ALL: &'static [Decision] = &[$(Decision::$variant,)*];

            /// The code written in log lines and data points.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Decision::$variant => $code,)*
                }
            }

            pub fn kind(self) -> DecisionKind {
                match self {
                    $(Decision::$variant => DecisionKind::$kind,)*
                }
            }

            /// The code read back from a log line or data point; `None` for a code outside the set.
            pub fn parse(code: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|d| d.as_str() == code)
            }
        }

        /// An event that has no decision yet; the edge always sets one.
        impl Default for Decision {
            fn default() -> Self {
                Decision::InternalError
            }
        }

        /// Every decision's code, its kind, and what it means, for tools that read logs back.
        pub const DECISIONS: &[(&str, DecisionKind, &str)] = &[
            $(($code, DecisionKind::$kind, $meaning),)*
        ];
    };
}

decisions! {
    Accepted = "accepted", Accepted,
        "a valid key; forwarded";
    AcceptedAnonymous = "accepted_anonymous", Accepted,
        "no credential, with ALLOW_ANONYMOUS; forwarded";
    AcceptedPreflight = "accepted_preflight", Accepted,
        "a CORS preflight, with CORS_PREFLIGHT; forwarded";
    MethodNotAllowed = "method_not_allowed", Refused,
        "a method keygate does not forward, sent or tunnelled: TRACE, CONNECT, WebDAV, ... (405)";
    MethodOverride = "method_override", Refused,
        "a method-override header or _method parameter that is off, not one method, conflicting, or on a preflight (400)";
    PreflightWithBody = "preflight_with_body", Refused,
        "a CORS preflight that declares a body, with CORS_PREFLIGHT (400)";
    MissingCredential = "missing_credential", Refused,
        "no API key (401)";
    MalformedCredential = "malformed_credential", Refused,
        "an Authorization or X-API-Key header outside RFC 6750 (400)";
    KeyInQuery = "key_in_query", Refused,
        "a key in the query string, in any encoding (400)";
    KeyInPath = "key_in_path", Refused,
        "a key in the request path, in any encoding; the path is not logged (400)";
    BadPath = "bad_path", Refused,
        "a path that could leave the origin or its base path (400, 414)";
    BadChecksum = "bad_checksum", Refused,
        "a kg_ key whose checksum fails, refused without a KV read (401)";
    RootKeyRefused = "root_key_refused", Refused,
        "a kgr_ root key sent to the data plane, refused without a KV read (401)";
    UnknownKey = "unknown_key", Refused,
        "no record for the key's hash (401)";
    Disabled = "disabled", Refused,
        "the key is disabled (401)";
    Expired = "expired", Refused,
        "the key is past its expiry (401)";
    CorruptRecord = "corrupt_record", Refused,
        "the key's KV record does not decode (401)";
    OutOfScope = "out_of_scope", Refused,
        "a valid key outside its scopes (403)";
    RateLimited = "rate_limited", Refused,
        "over the key's tier rate limit (429)";
    QuotaExhausted = "quota_exhausted", Refused,
        "the key's quota for this window is used up (429)";
    AdminUnauthorized = "admin_unauthorized", Refused,
        "the operator endpoint without a valid ADMIN_TOKEN (401)";
    AdminBadRequest = "admin_bad_request", Refused,
        "a bad operator request (400, 404, 405)";
    AdminUsage = "admin_usage", Operator,
        "an answered operator usage query (200)";
    ManagementOk = "management_ok", Operator,
        "an answered management API request (200, 201, 204)";
    ManagementUnauthenticated = "management_unauthenticated", Operator,
        "a management request without a valid root key or ADMIN_TOKEN (401)";
    ManagementForbidden = "management_forbidden", Operator,
        "a root key without the endpoint's permission, or granting or creating beyond its own (403)";
    ManagementNotFound = "management_not_found", Operator,
        "no such management endpoint, key or root key, or one outside the root key's consumer prefix (404)";
    ManagementInvalid = "management_invalid", Operator,
        "a management request with a wrong method, body size, content type or field (405, 413, 415, 422)";
    ManagementConflict = "management_conflict", Operator,
        "a management write that conflicts with what is stored, or an idempotency key reused or in progress (409)";
    ManagementRateLimited = "management_rate_limited", Operator,
        "over the management API's limit per client address or per root key (429)";
    ConfigError = "config_error", Fault,
        "the gateway's configuration is invalid or a binding is missing (500)";
    StoreUnavailable = "store_unavailable", Fault,
        "KV could not be read; fails closed (503)";
    RateLimiterUnavailable = "rate_limiter_unavailable", Fault,
        "the rate-limit binding failed; fails closed (503)";
    QuotaStoreUnavailable = "quota_store_unavailable", Fault,
        "the quota Durable Object failed; fails closed (503)";
    OriginUnreachable = "origin_unreachable", Fault,
        "the origin could not be reached (502)";
    OriginTimeout = "origin_timeout", Fault,
        "the origin did not answer within ORIGIN_TIMEOUT_MS (504)";
    InternalError = "internal_error", Fault,
        "the worker itself failed (a panic); the isolate is reset (500)";
}

/// The kind of a decision code; `None` for a code outside [`DECISIONS`].
pub fn decision_kind(code: &str) -> Option<DecisionKind> {
    Decision::parse(code).map(Decision::kind)
}

/// The Analytics Engine dataset layout: which column holds what. `keygate stats --remote`
/// builds its SQL from these names.
pub mod columns {
    /// The sampling index: the key id, or [`super::NO_KEY_INDEX`].
    pub const INDEX: &str = "index1";
    pub const KEY_ID: &str = "blob1";
    pub const CONSUMER_ID: &str = "blob2";
    pub const DECISION: &str = "blob3";
    pub const METHOD: &str = "blob4";
    pub const PATH: &str = "blob5";
    pub const COLO: &str = "blob6";
    pub const REQUEST_ID: &str = "blob7";
    /// The status the client got.
    pub const STATUS: &str = "double1";
    /// The origin's status; 0 when the origin was not called or did not answer.
    pub const ORIGIN_STATUS: &str = "double2";
    pub const TOTAL_MS: &str = "double3";
    pub const GATEWAY_MS: &str = "double4";
    pub const ORIGIN_MS: &str = "double5";
}

/// The index of a data point for a request without a key (anonymous, preflight, or refused
/// before a key was read).
pub const NO_KEY_INDEX: &str = "-";
/// The longest path a data point keeps, in bytes: blobs share a per-point size budget.
pub const MAX_PATH_BLOB: usize = 256;

/// What a log line and data point carry instead of a request path that held a key.
pub const REDACTED_PATH: &str = "<redacted: the path held a key>";

/// The path and query that a request's log line and data point may carry for `decision`. `query`
/// is the query string when `LOG_QUERY` is on. A path or a query that was refused for holding a
/// key is never written.
pub fn loggable_target<'a>(
    decision: Decision,
    path: &'a str,
    query: Option<&'a str>,
) -> (&'a str, Option<&'a str>) {
    match decision {
        Decision::KeyInPath => (REDACTED_PATH, None),
        Decision::KeyInQuery => (path, None),
        _ => (path, query),
    }
}

/// How long a request took, in milliseconds, measured at the edge.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// From the request's arrival to the answer's headers.
    pub total_ms: f64,
    /// Spent waiting for the origin's headers; `None` when the origin was not called.
    pub origin_ms: Option<f64>,
}

impl Timing {
    /// What the gateway added: everything but the origin's share.
    pub fn gateway_ms(&self) -> f64 {
        (self.total_ms - self.origin_ms.unwrap_or(0.0)).max(0.0)
    }
}

/// One request's outcome, owned, so that the edge can write it after the answer has gone
/// (`wait_until`). It holds a key id (a hash prefix) and never a key, a full hash or a secret.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestEvent {
    pub request_id: String,
    pub method: String,
    pub path: String,
    /// Only with `LOG_QUERY=true`, and never for a request refused for a key in its query.
    pub query: Option<String>,
    pub decision: Decision,
    pub key_id: Option<String>,
    pub consumer_id: Option<String>,
    /// The status the client got.
    pub status: u16,
    /// The origin's status, when it answered.
    pub origin_status: Option<u16>,
    pub timing: Timing,
    /// The Cloudflare data centre (`request.cf.colo`), when the runtime gives one.
    pub colo: Option<String>,
    /// Where the key lookup was answered from (`hit`, `shared`, `miss`, `off`, `feed`).
    pub cache: Option<&'static str>,
    /// How this request's lookup met the change feed, when it did more than trust a fresh view:
    /// `synced`, `shared` (another request's sync), `stale` (the log could not be reached).
    pub sync: Option<&'static str>,
    /// Operator-facing detail of a fault; never quotes a key or secret.
    pub detail: Option<String>,
    /// Who made a management request: a root key's id, or `bootstrap`.
    pub actor: Option<String>,
}

/// Rounds a duration to tenths of a millisecond for the log.
fn ms(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// `ms` since the Unix epoch as RFC 3339 in UTC with milliseconds, as JavaScript's
/// `Date.prototype.toISOString` writes it (`2026-12-02T04:05:06.789Z`): the log line's `ts`,
/// formatted without a round trip to the runtime's `Date`.
pub fn iso_timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = crate::limits::civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        ms % 1000
    )
}

impl RequestEvent {
    /// The JSON log line. `ts` is the RFC 3339 time, formatted by the edge's clock.
    pub fn log_line(&self, ts: &str) -> String {
        /// Field order is the order an operator reads in: when, what, the verdict, who, how long.
        #[derive(Serialize)]
        struct Line<'a> {
            event: &'static str,
            ts: &'a str,
            request_id: &'a str,
            method: &'a str,
            path: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            query: Option<&'a str>,
            decision: &'a str,
            key_id: Option<&'a str>,
            consumer_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            actor: Option<&'a str>,
            status: u16,
            origin_status: Option<u16>,
            gateway_ms: f64,
            origin_ms: Option<f64>,
            total_ms: f64,
            colo: Option<&'a str>,
            cache: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            sync: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<&'a str>,
        }
        serde_json::to_string(&Line {
            event: LOG_EVENT,
            ts,
            request_id: &self.request_id,
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            decision: self.decision.as_str(),
            key_id: self.key_id.as_deref(),
            consumer_id: self.consumer_id.as_deref(),
            actor: self.actor.as_deref(),
            status: self.status,
            origin_status: self.origin_status,
            gateway_ms: ms(self.timing.gateway_ms()),
            origin_ms: self.timing.origin_ms.map(ms),
            total_ms: ms(self.timing.total_ms),
            colo: self.colo.as_deref(),
            cache: self.cache,
            sync: self.sync,
            detail: self.detail.as_deref(),
        })
        .unwrap_or_default()
    }

    /// The Analytics Engine data point, in the [`columns`] layout.
    pub fn data_point(&self) -> DataPoint {
        let key_id = self.key_id.clone().unwrap_or_default();
        DataPoint {
            index: if key_id.is_empty() {
                NO_KEY_INDEX.to_owned()
            } else {
                key_id.clone()
            },
            blobs: [
                key_id,
                self.consumer_id.clone().unwrap_or_default(),
                self.decision.as_str().to_owned(),
                self.method.clone(),
                truncate(&self.path, MAX_PATH_BLOB).to_owned(),
                self.colo.clone().unwrap_or_default(),
                self.request_id.clone(),
            ],
            doubles: [
                f64::from(self.status),
                f64::from(self.origin_status.unwrap_or(0)),
                ms(self.timing.total_ms),
                ms(self.timing.gateway_ms()),
                ms(self.timing.origin_ms.unwrap_or(0.0)),
            ],
        }
    }
}

/// One Analytics Engine data point: an index, blobs and doubles in [`columns`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    pub index: String,
    pub blobs: [String; 7],
    pub doubles: [f64; 5],
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_timestamp_writes_what_to_iso_string_writes() {
        for (ms, want) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_868_799_999, "2000-02-29T23:59:59.999Z"),
            (1_764_648_306_789, "2025-12-02T04:05:06.789Z"),
            (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
        ] {
            assert_eq!(super::iso_timestamp(ms), want, "{ms}");
        }
    }

    use super::*;

    fn accepted() -> RequestEvent {
        RequestEvent {
            request_id: "req-1".into(),
            method: "GET".into(),
            path: "/v1/orders".into(),
            decision: Decision::Accepted,
            key_id: Some("4e93e9dbf651".into()),
            consumer_id: Some("acme".into()),
            status: 200,
            origin_status: Some(200),
            timing: Timing {
                total_ms: 15.04,
                origin_ms: Some(12.0),
            },
            colo: Some("AMS".into()),
            cache: Some("hit"),
            ..RequestEvent::default()
        }
    }

    #[test]
    fn log_line_has_every_field_in_reading_order() {
        let line = accepted().log_line("2026-11-29T08:00:00.000Z");
        assert_eq!(
            line,
            r#"{"event":"keygate.request","ts":"2026-11-29T08:00:00.000Z","request_id":"req-1","method":"GET","path":"/v1/orders","decision":"accepted","key_id":"4e93e9dbf651","consumer_id":"acme","status":200,"origin_status":200,"gateway_ms":3.0,"origin_ms":12.0,"total_ms":15.0,"colo":"AMS","cache":"hit"}"#
        );
    }

    #[test]
    fn refusal_line_keeps_absent_fields_as_null_and_omits_query_and_detail() {
        let e = RequestEvent {
            request_id: "r".into(),
            method: "GET".into(),
            path: "/".into(),
            decision: Decision::MissingCredential,
            status: 401,
            timing: Timing {
                total_ms: 0.04,
                origin_ms: None,
            },
            ..RequestEvent::default()
        };
        let v: serde_json::Value = serde_json::from_str(&e.log_line("t")).unwrap();
        for field in [
            "key_id",
            "consumer_id",
            "origin_status",
            "origin_ms",
            "colo",
            "cache",
        ] {
            assert!(v[field].is_null(), "{field} should be null: {v}");
        }
        assert!(v.get("query").is_none() && v.get("detail").is_none(), "{v}");
        assert_eq!(v["gateway_ms"], 0.0);
        assert_eq!(v["total_ms"], 0.0);
    }

    #[test]
    fn a_line_says_sync_only_when_the_request_synced_the_change_feed_or_could_not() {
        let mut e = accepted();
        let v: serde_json::Value = serde_json::from_str(&e.log_line("t")).unwrap();
        assert!(v.get("sync").is_none(), "{v}");
        e.sync = Some("synced");
        let line = e.log_line("t");
        assert!(line.contains(r#""cache":"hit","sync":"synced""#), "{line}");
    }

    #[test]
    fn a_management_line_names_its_actor_after_the_consumer() {
        let mut e = accepted();
        e.decision = Decision::ManagementOk;
        e.actor = Some("bootstrap".into());
        let line = e.log_line("t");
        assert!(
            line.contains(r#""consumer_id":"acme","actor":"bootstrap","status":200"#),
            "{line}"
        );
        assert!(!accepted().log_line("t").contains("actor"));
    }

    #[test]
    fn query_appears_only_when_the_edge_sets_it() {
        let mut e = accepted();
        e.query = Some("limit=10".into());
        let v: serde_json::Value = serde_json::from_str(&e.log_line("t")).unwrap();
        assert_eq!(v["query"], "limit=10");
    }

    #[test]
    fn gateway_time_is_total_minus_origin_and_never_negative() {
        let t = Timing {
            total_ms: 10.0,
            origin_ms: Some(7.5),
        };
        assert_eq!(t.gateway_ms(), 2.5);
        let clock_skew = Timing {
            total_ms: 1.0,
            origin_ms: Some(2.0),
        };
        assert_eq!(clock_skew.gateway_ms(), 0.0);
        let refused = Timing {
            total_ms: 4.0,
            origin_ms: None,
        };
        assert_eq!(refused.gateway_ms(), 4.0);
    }

    #[test]
    fn data_point_follows_the_column_layout() {
        let p = accepted().data_point();
        assert_eq!(p.index, "4e93e9dbf651");
        assert_eq!(
            p.blobs,
            [
                "4e93e9dbf651",
                "acme",
                "accepted",
                "GET",
                "/v1/orders",
                "AMS",
                "req-1"
            ]
            .map(String::from)
        );
        assert_eq!(p.doubles, [200.0, 200.0, 15.0, 3.0, 12.0]);
        // The column names are numbered in the same order as the arrays.
        let blob_cols = [
            columns::KEY_ID,
            columns::CONSUMER_ID,
            columns::DECISION,
            columns::METHOD,
            columns::PATH,
            columns::COLO,
            columns::REQUEST_ID,
        ];
        for (i, c) in blob_cols.iter().enumerate() {
            assert_eq!(*c, format!("blob{}", i + 1));
        }
        let double_cols = [
            columns::STATUS,
            columns::ORIGIN_STATUS,
            columns::TOTAL_MS,
            columns::GATEWAY_MS,
            columns::ORIGIN_MS,
        ];
        for (i, c) in double_cols.iter().enumerate() {
            assert_eq!(*c, format!("double{}", i + 1));
        }
    }

    #[test]
    fn data_point_without_a_key_uses_the_no_key_index_and_empty_blobs() {
        let e = RequestEvent {
            decision: Decision::MissingCredential,
            status: 401,
            ..RequestEvent::default()
        };
        let p = e.data_point();
        assert_eq!(p.index, NO_KEY_INDEX);
        assert_eq!(p.blobs[0], "");
        assert_eq!(p.blobs[1], "");
        assert_eq!(p.doubles[1], 0.0, "no origin status");
    }

    #[test]
    fn data_point_path_is_cut_on_a_character_boundary() {
        let mut e = accepted();
        e.path = format!("/{}", "é".repeat(300));
        let p = e.data_point();
        assert!(p.blobs[4].len() <= MAX_PATH_BLOB);
        assert!(p.blobs[4].len() >= MAX_PATH_BLOB - 1);
        assert!(e.path.starts_with(&p.blobs[4]));
    }

    #[test]
    fn a_path_or_query_that_held_a_key_is_never_logged() {
        let q = Some("k=kg_x");
        assert_eq!(loggable_target(Decision::KeyInQuery, "/p", q), ("/p", None));
        assert_eq!(
            loggable_target(Decision::KeyInPath, "/kg_x", q),
            (REDACTED_PATH, None)
        );
        assert_eq!(loggable_target(Decision::Accepted, "/p", q), ("/p", q));
        assert_eq!(
            loggable_target(Decision::Accepted, "/p", None),
            ("/p", None)
        );
    }

    #[test]
    fn decision_codes_are_unique_and_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for (code, _, meaning) in DECISIONS {
            assert!(seen.insert(*code), "{code} twice");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            assert!(!meaning.is_empty());
        }
        assert_eq!(decision_kind("accepted"), Some(DecisionKind::Accepted));
        assert_eq!(decision_kind("origin_timeout"), Some(DecisionKind::Fault));
        assert_eq!(decision_kind("nope"), None);
    }
}
