//! The management API's OpenAPI document (`openapi/keygate-management.json`, served minified
//! as `management::OPENAPI_JSON`) against the code: every documented operation routes to its
//! endpoint and every endpoint is documented, each names the permission it needs and lists the
//! answers it can give, and the limits and shapes it states are the ones core enforces and writes.

use keygate_core::keyformat::{KEY_REGEX, ROOT_KEY_REGEX};
use keygate_core::lifecycle::rules::{MAX_CONSUMER_ID_LEN, MAX_DESCRIPTION_LEN, MAX_LABEL_LEN};
use keygate_core::lifecycle::{state_name, DEFAULT_OVERLAP_SECS};
use keygate_core::limits::{is_tier_name, Quota, QuotaPeriod, QuotaScope, MAX_QUOTA_LIMIT};
use keygate_core::management::{route, Route, RouteError, BASE, OPENAPI_JSON};
use keygate_core::record::KeyState;
use keygate_core::root::{Permission, Permissions, RootRecord};
use keygate_core::secret::KEY_ID_LEN;
use keygate_core::telemetry::{DecisionKind, DECISIONS};
use keygate_core::{Denial, Fault, Refusal, StoreError};
use serde_json::Value;
use std::collections::BTreeSet;

const ID: &str = "0123456789ab";
/// The methods `route` is asked about, as OpenAPI spells them (lower case).
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("the OpenAPI document is JSON")
}

/// The method and path template (under [`BASE`]) each endpoint is documented at. Exhaustive on
/// purpose: a new endpoint does not compile until it is placed here, and then the tests below
/// want it documented.
fn documented_at(r: &Route) -> (&'static str, &'static str) {
    match r {
        Route::CreateKey => ("post", "/keys"),
        Route::ListKeys => ("get", "/keys"),
        Route::GetKey { .. } => ("get", "/keys/{id}"),
        Route::UpdateKey { .. } => ("patch", "/keys/{id}"),
        Route::RotateKey { .. } => ("post", "/keys/{id}/rotate"),
        Route::RevokeKey { .. } => ("delete", "/keys/{id}"),
        Route::ImportKeys => ("post", "/keys/import"),
        Route::KeyUsage { .. } => ("get", "/keys/{id}/usage"),
        Route::VerifyKey => ("post", "/keys/verify"),
        Route::ListAudit => ("get", "/audit"),
        Route::CreateRoot => ("post", "/roots"),
        Route::ListRoots => ("get", "/roots"),
        Route::RevokeRoot { .. } => ("delete", "/roots/{id}"),
        Route::OpenApi => ("get", "/openapi.json"),
    }
}

/// Every endpoint, beside [`documented_at`]: add a new one to both.
fn every_endpoint() -> Vec<Route> {
    let id = || ID.to_owned();
    vec![
        Route::CreateKey,
        Route::ListKeys,
        Route::GetKey { id: id() },
        Route::UpdateKey { id: id() },
        Route::RotateKey { id: id() },
        Route::RevokeKey { id: id() },
        Route::ImportKeys,
        Route::KeyUsage { id: id() },
        Route::VerifyKey,
        Route::ListAudit,
        Route::CreateRoot,
        Route::ListRoots,
        Route::RevokeRoot { id: id() },
        Route::OpenApi,
    ]
}

/// One documented operation.
struct Op<'a> {
    method: String,
    template: String,
    op: &'a Value,
    /// The path item's parameters followed by the operation's own, resolved.
    parameters: Vec<&'a Value>,
}

impl Op<'_> {
    fn label(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.template)
    }

    fn concrete_path(&self) -> String {
        format!("{BASE}{}", self.template.replace("{id}", ID))
    }

    fn route(&self) -> Route {
        route(&self.method.to_uppercase(), &self.concrete_path())
            .unwrap_or_else(|e| panic!("{} does not route: {e:?}", self.label()))
    }

    fn statuses(&self) -> BTreeSet<String> {
        self.op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{} has no responses", self.label()))
            .keys()
            .cloned()
            .collect()
    }

    fn has_status(&self, status: &str) -> bool {
        self.statuses().contains(status)
    }

    fn parameters_in(&self, location: &str) -> Vec<&Value> {
        self.parameters
            .iter()
            .copied()
            .filter(|p| p["in"] == location)
            .collect()
    }
}

/// Follows a local `$ref` (`#/components/...`), repeatedly.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not a local reference"));
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{r} does not resolve"));
    }
    v
}

fn operations(doc: &Value) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        let shared: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().map(|p| resolve(doc, p)).collect())
            .unwrap_or_default();
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(METHODS.contains(&method.as_str()), "{method} {template}");
            let own = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| ps.iter().map(|p| resolve(doc, p)).collect::<Vec<_>>())
                .unwrap_or_default();
            out.push(Op {
                method: method.clone(),
                template: template.clone(),
                op,
                parameters: shared.iter().copied().chain(own).collect(),
            });
        }
    }
    out
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["components"]["schemas"]
        .get(name)
        .unwrap_or_else(|| panic!("no schema {name}"))
}

fn names(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("{v} is not an array"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// Members of a JSON value that a closed object schema must declare, and that it requires.
fn fits_object_schema(what: &str, value: &Value, schema: &Value) {
    let members = names(value);
    let declared = names(&schema["properties"]);
    assert_eq!(
        schema["additionalProperties"],
        Value::Bool(false),
        "{what}: the schema is closed"
    );
    assert!(
        members.is_subset(&declared),
        "{what}: {:?} are not in the schema",
        members.difference(&declared).collect::<Vec<_>>()
    );
    let required: BTreeSet<String> = strings(&schema["required"]).into_iter().collect();
    assert!(
        required.is_subset(&members),
        "{what}: required {:?} missing",
        required.difference(&members).collect::<Vec<_>>()
    );
}

#[test]
fn the_document_is_openapi_3_1_served_under_the_management_base() {
    let d = doc();
    assert!(d["openapi"].as_str().unwrap().starts_with("3.1."));
    assert_eq!(d["servers"][0]["url"], BASE);
    assert_eq!(d["servers"].as_array().unwrap().len(), 1);
    // The constant the worker serves is the committed file's JSON, without its indentation.
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../openapi/keygate-management.json");
    let file = std::fs::read_to_string(file).unwrap();
    let committed: Value = serde_json::from_str(&file).expect("the committed file is JSON");
    assert_eq!(d, committed);
    assert!(!OPENAPI_JSON.contains('\n'));
    assert!(OPENAPI_JSON.len() < file.len() * 3 / 4);
}

#[test]
fn every_documented_operation_routes_to_the_endpoint_documented_there() {
    let d = doc();
    let ops = operations(&d);
    assert!(!ops.is_empty());
    for op in &ops {
        let r = op.route();
        assert_eq!(
            documented_at(&r),
            (op.method.as_str(), op.template.as_str()),
            "{} routes to {r:?}",
            op.label()
        );
    }
    let ids: Vec<&str> = ops
        .iter()
        .map(|o| o.op["operationId"].as_str().expect("operationId"))
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "operationIds are unique");
}

#[test]
fn every_endpoint_is_documented_once_with_exactly_the_methods_it_answers() {
    let d = doc();
    let ops = operations(&d);
    for r in every_endpoint() {
        let (method, template) = documented_at(&r);
        let found = ops
            .iter()
            .filter(|o| o.method == method && o.template == template)
            .count();
        assert_eq!(found, 1, "{r:?} at {method} {template}");
        let concrete = format!("{BASE}{}", template.replace("{id}", ID));
        assert_eq!(route(&method.to_uppercase(), &concrete), Ok(r));
    }
    assert_eq!(ops.len(), every_endpoint().len());
    // No method the router answers on a documented path is left out, and none is invented.
    for path in d["paths"].as_object().unwrap().keys() {
        let concrete = format!("{BASE}{}", path.replace("{id}", ID));
        for method in METHODS {
            let documented = d["paths"][path].get(method).is_some();
            match route(&method.to_uppercase(), &concrete) {
                Ok(r) => assert!(documented, "{method} {path} routes to {r:?} undocumented"),
                Err(RouteError::MethodNotAllowed { .. }) => {
                    assert!(!documented, "{method} {path} is documented but is a 405")
                }
                Err(e) => panic!("{path} is documented but is {e:?}"),
            }
        }
    }
}

#[test]
fn each_operation_names_the_permission_its_endpoint_needs_and_its_refusals() {
    let d = doc();
    let global = &d["security"];
    assert_eq!(global, &serde_json::json!([{ "bearer": [] }]));
    let scheme = &d["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let mut seen = BTreeSet::new();
    for op in operations(&d) {
        let permission = op.route().permission().map(Permission::as_str);
        let stated = op.op.get("x-keygate-permission").and_then(Value::as_str);
        assert_eq!(stated, permission, "{}", op.label());
        match permission {
            Some(p) => {
                seen.insert(p);
                assert!(
                    op.op.get("security").is_none(),
                    "{} uses the bearer",
                    op.label()
                );
                assert!(
                    op.op["description"].as_str().unwrap_or("").contains(p),
                    "{} says it needs {p}",
                    op.label()
                );
                for status in ["401", "403"] {
                    assert!(op.has_status(status), "{} lists {status}", op.label());
                }
            }
            None => {
                assert_eq!(op.op["security"], serde_json::json!([]), "{}", op.label());
                for status in ["401", "403"] {
                    assert!(!op.has_status(status), "{} is public", op.label());
                }
            }
        }
    }
    let all: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(seen, all, "every permission guards a documented operation");
}

#[test]
fn every_operation_documents_the_answers_it_can_give() {
    let d = doc();
    for op in operations(&d) {
        let label = op.label();
        let statuses = op.statuses();
        for s in ["429", "500", "503"] {
            assert!(statuses.contains(s), "{label} lists {s}");
        }
        assert_eq!(
            statuses.iter().filter(|s| s.starts_with('2')).count(),
            1,
            "{label} has one success answer"
        );
        let has_body = op.op.get("requestBody").is_some();
        for s in ["413", "415"] {
            assert_eq!(statuses.contains(s), has_body, "{label}: {s} iff a body");
        }
        let has_id = !op.parameters_in("path").is_empty();
        let has_query = !op.parameters_in("query").is_empty();
        assert_eq!(statuses.contains("404"), has_id, "{label}: 404 iff an id");
        assert_eq!(
            statuses.contains("400"),
            has_id || has_query,
            "{label}: 400 iff a path or query the gateway may refuse before routing"
        );
        assert_eq!(
            statuses.contains("422"),
            has_body || has_query,
            "{label}: 422 iff a body or a query to check"
        );
        for status in &statuses {
            assert!(
                status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit()),
                "{label}: {status} is a status, not a range or default"
            );
            let answer = resolve(&d, &op.op["responses"][status]);
            let headers = &answer["headers"];
            for h in ["Cache-Control", "X-Request-Id"] {
                assert_eq!(
                    resolve(&d, &headers[h])["required"],
                    true,
                    "{label} {status} carries {h}"
                );
            }
            let media = names(&answer["content"]);
            let want: &[&str] = match status.as_str() {
                "204" => &[],
                s if s.starts_with('2') => &["application/json"],
                _ => &["application/problem+json"],
            };
            let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!(media, want, "{label} {status}");
            let required_header = |name: &str| {
                assert_eq!(
                    resolve(&d, &headers[name])["required"],
                    true,
                    "{label} {status} carries {name}"
                )
            };
            match status.as_str() {
                "401" | "403" => required_header("WWW-Authenticate"),
                "429" => required_header("Retry-After"),
                _ => {}
            }
        }
    }
}

/// Walks a request schema: every object schema that declares members is closed.
fn assert_closed(d: &Value, s: &Value, at: &str) {
    let s = resolve(d, s);
    if s.get("properties").is_some() {
        assert_eq!(
            s["additionalProperties"],
            Value::Bool(false),
            "{at}: unknown members are refused"
        );
        for (name, member) in s["properties"].as_object().unwrap() {
            assert_closed(d, member, &format!("{at}.{name}"));
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            for a in alts {
                assert_closed(d, a, at);
            }
        }
    }
    if let Some(items) = s.get("items") {
        assert_closed(d, items, &format!("{at}[]"));
    }
}

#[test]
fn request_bodies_are_json_objects_that_refuse_unknown_members() {
    let d = doc();
    for op in operations(&d) {
        let Some(body) = op.op.get("requestBody") else {
            continue;
        };
        let label = op.label();
        let content = body["content"].as_object().unwrap();
        assert!(content.contains_key("application/json"), "{label}");
        for (media, m) in content {
            assert!(
                media == "application/json"
                    || (media == "application/merge-patch+json" && op.method == "patch"),
                "{label}: {media}"
            );
            let s = resolve(&d, &m["schema"]);
            assert_eq!(s["type"], "object", "{label}");
            assert_closed(&d, s, &label);
        }
        // Only rotate may come without a body.
        let optional = matches!(op.route(), Route::RotateKey { .. });
        assert_eq!(body["required"], Value::Bool(!optional), "{label}");
    }
}

#[test]
fn responses_are_closed_objects_so_nothing_more_can_leak() {
    let d = doc();
    for name in [
        "KeyView",
        "KeySummary",
        "CreatedKey",
        "RotatedKey",
        "ImportedKeys",
        "KeyPage",
        "Verification",
        "AuditEntry",
        "AuditPage",
        "RootRecord",
        "CreatedRoot",
        "RootList",
        "Problem",
        "ValidationProblem",
        "Usage",
    ] {
        assert_closed(&d, schema(&d, name), name);
    }
    // A key view never holds the key or its hash.
    let view = names(&schema(&d, "KeyView")["properties"]);
    for secret in ["key", "hash", "secret"] {
        assert!(!view.contains(secret));
    }
}

#[test]
fn ids_lengths_and_limits_are_the_ones_core_enforces() {
    let d = doc();
    let id = schema(&d, "Id");
    assert_eq!(id["pattern"], format!("^[0-9a-f]{{{KEY_ID_LEN}}}$"));
    assert_eq!(id["minLength"], KEY_ID_LEN);
    assert_eq!(id["maxLength"], KEY_ID_LEN);
    for op in operations(&d) {
        for p in op.parameters_in("path") {
            assert_eq!(p["name"], "id", "{}", op.label());
            assert_eq!(p["schema"]["$ref"], "#/components/schemas/Id");
        }
    }
    assert_eq!(schema(&d, "Label")["maxLength"], MAX_LABEL_LEN);
    assert_eq!(
        schema(&d, "Expiry")["maximum"],
        keygate_core::lifecycle::rules::MAX_EXPIRES_AT
    );
    assert_eq!(schema(&d, "ConsumerId")["maxLength"], MAX_CONSUMER_ID_LEN);
    assert_eq!(schema(&d, "Description")["maxLength"], MAX_DESCRIPTION_LEN);
    let tier_max = schema(&d, "Tier")["maxLength"].as_u64().unwrap() as usize;
    assert!(is_tier_name(&"a".repeat(tier_max)) && !is_tier_name(&"a".repeat(tier_max + 1)));
    for q in ["QuotaInput", "Quota"] {
        assert_eq!(
            schema(&d, q)["properties"]["limit"]["maximum"],
            MAX_QUOTA_LIMIT
        );
    }
    assert_eq!(
        schema(&d, "RotateOptions")["properties"]["overlap"]["default"],
        DEFAULT_OVERLAP_SECS
    );
    assert_eq!(schema(&d, "ApiKey")["pattern"], format!("^{KEY_REGEX}$"));
    assert_eq!(
        schema(&d, "RootKey")["pattern"],
        format!("^{ROOT_KEY_REGEX}$")
    );
    let import_key = &schema(&d, "ImportKeys")["properties"]["keys"]["items"];
    assert_eq!(
        import_key["maxLength"],
        keygate_core::credential::MAX_TOKEN_LEN
    );
}

#[test]
fn permissions_and_states_are_spelled_as_core_spells_them() {
    let d = doc();
    let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(strings(&schema(&d, "Permission")["enum"]), names);
    let states: Vec<&str> = [KeyState::Active, KeyState::Disabled, KeyState::Expired]
        .into_iter()
        .map(state_name)
        .collect();
    assert_eq!(strings(&schema(&d, "KeyState")["enum"]), states);
}

#[test]
fn a_verification_may_carry_every_decision_the_data_plane_makes() {
    let d = doc();
    let codes: BTreeSet<String> =
        strings(&schema(&d, "Verification")["properties"]["code"]["enum"])
            .into_iter()
            .collect();
    for (code, kind, _) in DECISIONS {
        let data_plane = matches!(kind, DecisionKind::Accepted | DecisionKind::Refused)
            && !code.starts_with("admin_")
            && !code.starts_with("management_");
        if data_plane {
            assert!(
                codes.contains(*code),
                "{code} is missing from the verify codes"
            );
        }
    }
    for code in &codes {
        assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    }
}

#[test]
fn the_shapes_core_writes_fit_their_schemas() {
    let d = doc();
    // A problem body as core writes it today, with and without the optional `policy`.
    let problem = schema(&d, "Problem");
    for refusal in [
        Refusal::Denied(Denial::MissingCredential),
        Refusal::Fault(Fault::StoreUnavailable(StoreError("kv down".into()))),
    ] {
        let body: Value = serde_json::from_str(&refusal.problem().body("req-1")).unwrap();
        fits_object_schema("problem", &body, problem);
        assert!(body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:keygate:problem:"));
    }
    let declared = names(&problem["properties"]);
    assert!(declared.contains("policy"), "core writes `policy` on a 429");
    // A root record, with and without a consumer prefix.
    for prefix in [None, Some("acme-".to_owned())] {
        let r = RootRecord {
            id: ID.into(),
            name: "support tool".into(),
            permissions: Permissions::parse_list(&["keys:read", "usage:read"]).unwrap(),
            consumer_prefix: prefix,
            created_at: 1_764_547_200,
        };
        fits_object_schema(
            "root record",
            &serde_json::to_value(&r).unwrap(),
            schema(&d, "RootRecord"),
        );
    }
    // A quota, with either scope and each kind of period.
    for (period, per) in [
        (QuotaPeriod::Day, QuotaScope::Key),
        (QuotaPeriod::Seconds(30), QuotaScope::Consumer),
    ] {
        let q = Quota {
            limit: 1000,
            period,
            per,
        };
        let v = serde_json::to_value(q).unwrap();
        fits_object_schema("quota", &v, schema(&d, "Quota"));
        // What core writes, the API takes back.
        fits_object_schema("quota input", &v, schema(&d, "QuotaInput"));
    }
}

/// Every `$ref` in `v`, with where it was found.
fn refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "$ref" {
                    out.push((at.clone(), x.as_str().expect("a $ref is a string")));
                } else {
                    refs(x, format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                refs(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_every_component_is_used() {
    let d = doc();
    let mut found = Vec::new();
    refs(&d, String::new(), &mut found);
    let targets: BTreeSet<&str> = found.iter().map(|(_, r)| *r).collect();
    for (at, r) in &found {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{at}: {r}"));
        assert!(d.pointer(pointer).is_some(), "{at}: {r} does not resolve");
    }
    for kind in ["schemas", "responses", "parameters", "headers"] {
        for name in names(&d["components"][kind]) {
            let r = format!("#/components/{kind}/{name}");
            assert!(targets.contains(r.as_str()), "{r} is never used");
        }
    }
    // Links name operations that exist, with the parameters those operations take.
    let ops = operations(&d);
    for op in &ops {
        for (status, answer) in op.op["responses"].as_object().unwrap() {
            let Some(links) = answer.get("links").and_then(Value::as_object) else {
                continue;
            };
            for (name, link) in links {
                let target = ops
                    .iter()
                    .find(|o| o.op["operationId"] == link["operationId"])
                    .unwrap_or_else(|| panic!("{} {status} link {name}", op.label()));
                for param in names(&link["parameters"]) {
                    assert!(
                        target
                            .parameters
                            .iter()
                            .any(|p| p["name"] == param.as_str()),
                        "{} {status} link {name}: {param}",
                        op.label()
                    );
                }
            }
        }
    }
}
