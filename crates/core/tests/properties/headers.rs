//! Forwarding headers (forward.rs): the upstream request carries exactly one secret and the
//! gateway's own identity fields, drops hop-by-hop, `Connection`-listed, override, rewrite and
//! foreign identity names in any spelling, and passes every other client field through; and the
//! edits the edge sends the runtime (heads.rs) turn the client's fields into exactly those.

use crate::common::{config, record};
use crate::strategies::trim_ows;
use crate::{check, check_reaching};
use http::{HeaderMap, HeaderName, HeaderValue};
use keygate_core::forward::Caller;
use keygate_core::forward::{upstream_headers, ClientContext};
use keygate_core::heads;
use keygate_core::integrity::{
    Honoured, IDENTITY_HEADERS, METHOD_OVERRIDE_HEADERS, REWRITE_HEADERS,
};
use keygate_core::Config;
use keygate_core::KeyRecord;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Client header names: everything the gateway owns or strips, plus ordinary ones.
const HEADER_NAMES: &[&str] = &[
    "authorization",
    "x-shared-secret",
    "x-origin-auth",
    "x-upstream-token",
    "x-api-key",
    "x-consumer-id",
    "x-consumer-name",
    "x-consumer-anonymous",
    "x-consumer-plan",
    "x-consumer-role",
    "x-keygate-debug",
    "x-key-id",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "forwarded",
    "x-real-ip",
    "cf-connecting-ip",
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-status",
    "accept",
    "content-type",
    "cookie",
    "user-agent",
    "x-custom",
    "x-other",
];

/// Hop-by-hop fields as the README lists them (RFC 9110 §7.6.1, the legacy `Keep-Alive`, and
/// every `Proxy-*`): never forwarded.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || name.starts_with("proxy-")
}

/// Every entry of the integrity tables, each with its table's class.
fn table_entries() -> Vec<(Honoured, &'static str)> {
    let tagged = |t: &'static [Honoured], class| t.iter().map(move |h| (*h, class));
    tagged(METHOD_OVERRIDE_HEADERS, "override")
        .chain(tagged(REWRITE_HEADERS, "rewrite"))
        .chain(tagged(IDENTITY_HEADERS, "identity"))
        .collect()
}

/// A name from the integrity tables as a client may spell it: a family gets a random member, and
/// each `-` becomes `-`, `_` or `.` at random (the letter case is randomised by [`header_name`]).
fn table_header_name() -> BoxedStrategy<String> {
    (select(table_entries()), "[a-z0-9-]{0,6}", any::<u32>())
        .prop_map(|((h, _), tail, seps)| {
            let name = if h.prefix {
                format!("{}{tail}", h.name)
            } else {
                h.name.to_owned()
            };
            name.chars()
                .enumerate()
                .map(|(i, c)| match (c, seps >> (i % 16 * 2) & 3) {
                    ('-', 1) => '_',
                    ('-', 2) => '.',
                    (c, _) => c,
                })
                .collect()
        })
        .boxed()
}

/// How an origin reads a header name, restated here: lower case, `_` and `.` as `-`.
fn origin_reading(name: &str) -> String {
    name.to_ascii_lowercase()
        .chars()
        .map(|c| if c == '_' || c == '.' { '-' } else { c })
        .collect()
}

/// The table class of a name as an origin reads it, if any.
fn table_class(name: &str) -> Option<&'static str> {
    let n = origin_reading(name);
    table_entries()
        .into_iter()
        .find(|(h, _)| {
            if h.prefix {
                n.starts_with(h.name)
            } else {
                n == h.name
            }
        })
        .map(|(_, class)| class)
}

/// A header name from the list, the integrity tables or a random token, in random letter case.
fn header_name() -> BoxedStrategy<String> {
    let name = prop_oneof![
        4 => select(HEADER_NAMES).prop_map(str::to_owned),
        2 => table_header_name(),
        1 => "[a-z0-9!#$%&'*+.^_`|~-]{1,12}",
    ];
    (name, any::<u32>())
        .prop_map(|(n, upper)| {
            n.chars()
                .enumerate()
                .map(|(i, c)| match upper >> (i % 32) & 1 {
                    1 => c.to_ascii_uppercase(),
                    _ => c,
                })
                .collect()
        })
        .boxed()
}

/// A value a client can send: visible ASCII, SP and HTAB, and obs-text bytes.
fn header_value() -> BoxedStrategy<Vec<u8>> {
    let byte = prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'\t'), 1 => 0x80u8..=0xff];
    prop_oneof![
        3 => "[ -~]{0,16}".prop_map(String::into_bytes),
        1 => prop::collection::vec(byte, 0..16),
    ]
    .boxed()
}

/// A `Connection` value: a comma list of header names with optional whitespace, sometimes with
/// an obs-text byte or a stray token in it.
fn connection_value() -> BoxedStrategy<Vec<u8>> {
    let item = (
        header_name(),
        select(&["", " ", "\t", " \t"]),
        select(&["", " ", "\t"]),
    )
        .prop_map(|(n, a, b)| format!("{a}{n}{b}").into_bytes());
    let item = prop_oneof![
        6 => item,
        1 => Just(b"\xe9t\xe9".to_vec()),
        1 => Just(Vec::new()),
    ];
    prop::collection::vec(item, 1..6)
        .prop_map(|items| items.join(&b","[..]))
        .boxed()
}

#[derive(Debug, Clone)]
struct HeaderCase {
    secret_header: Option<&'static str>,
    secret: String,
    api_key_source: bool,
    meta: bool,
    method_override: bool,
    caller: u8,
    consumer_name: Option<String>,
    client_ip: Option<&'static str>,
    proto: &'static str,
    request_id: String,
    headers: Vec<(String, Vec<u8>)>,
}

fn header_case() -> impl Strategy<Value = HeaderCase> {
    let header = prop_oneof![
        4 => (header_name(), header_value()),
        1 => (
            select(&["connection", "Connection"]).prop_map(str::to_owned),
            connection_value()
        ),
    ];
    (
        (
            select(&[None, Some("X-Origin-Auth"), Some("x-upstream-token")]),
            "[!-~]{16,40}",
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0u8..3,
        ),
        (
            prop::option::of("[!-~]([ -~]{0,10}[!-~])?"),
            select(&[
                None,
                Some("203.0.113.9"),
                Some("2001:db8::1"),
                Some("bad\nip"),
            ]),
            select(&["http", "https"]),
            "[A-Za-z0-9._:+=/@-]{1,24}",
        ),
        prop::collection::vec(header, 0..14),
    )
        .prop_map(
            |(
                (secret_header, secret, api_key_source, meta, method_override, caller),
                (consumer_name, client_ip, proto, request_id),
                headers,
            )| HeaderCase {
                secret_header,
                secret,
                api_key_source,
                meta,
                method_override,
                caller,
                consumer_name,
                client_ip,
                proto,
                request_id,
                headers,
            },
        )
}

struct Built {
    cfg: Config,
    caller: Caller,
    incoming: HeaderMap,
    out: HeaderMap,
}

impl HeaderCase {
    fn build(&self) -> Built {
        let method_override = self.method_override.to_string();
        let mut vars = vec![
            ("SHARED_SECRET", self.secret.as_str()),
            ("METHOD_OVERRIDE", &method_override),
        ];
        vars.extend(self.secret_header.map(|h| ("SHARED_SECRET_HEADER", h)));
        if self.api_key_source {
            vars.push(("KEY_SOURCES", "authorization,x-api-key"));
        }
        if self.meta {
            vars.push(("CONSUMER_META_HEADERS", "plan,region"));
        }
        let cfg = config(&vars);
        let caller = match self.caller {
            0 => Caller::Key(Rc::new(KeyRecord {
                consumer_name: self.consumer_name.clone(),
                meta: serde_json::from_str(r#"{"plan":"pro","region":"a\nb","seats":3}"#)
                    .expect("meta"),
                ..record("ab_header_case", "acme")
            })),
            1 => Caller::Anonymous,
            _ => Caller::Preflight,
        };
        let mut incoming = HeaderMap::new();
        for (name, value) in &self.headers {
            incoming.append(
                HeaderName::from_bytes(name.as_bytes()).expect("generated names are tokens"),
                HeaderValue::from_bytes(value).expect("generated values are field values"),
            );
        }
        let ctx = ClientContext {
            client_ip: self.client_ip,
            proto: self.proto,
            request_id: &self.request_id,
        };
        let out = upstream_headers(&incoming, &cfg, &caller, ctx);
        Built {
            cfg,
            caller,
            incoming,
            out,
        }
    }

    /// The headers the gateway itself sets, each with its one value.
    fn ours(&self, b: &Built) -> BTreeMap<String, Vec<u8>> {
        let mut ours = BTreeMap::new();
        ours.insert(
            b.cfg.secret_header.as_str().to_owned(),
            self.secret.clone().into_bytes(),
        );
        match &b.caller {
            Caller::Key(r) => {
                ours.insert("x-key-id".into(), r.id.clone().into_bytes());
                ours.insert("x-consumer-id".into(), r.consumer_id.clone().into_bytes());
                if let Some(n) = &r.consumer_name {
                    ours.insert("x-consumer-name".into(), n.clone().into_bytes());
                }
                for (key, header) in &b.cfg.consumer_meta {
                    if let Some(v) = r.meta_header_value(key) {
                        ours.insert(header.as_str().to_owned(), v.into_bytes());
                    }
                }
            }
            Caller::Anonymous => {
                ours.insert("x-consumer-anonymous".into(), b"true".to_vec());
            }
            Caller::Preflight => {}
        }
        if let Some(ip) = self
            .client_ip
            .filter(|ip| HeaderValue::from_str(ip).is_ok())
        {
            ours.insert("x-forwarded-for".into(), ip.as_bytes().to_vec());
        }
        ours.insert("x-forwarded-proto".into(), self.proto.as_bytes().to_vec());
        ours.insert("x-request-id".into(), self.request_id.clone().into_bytes());
        ours
    }
}

/// Header names a client may not set: credentials, the default secret header, the identity,
/// forwarding and client-address headers (the gateway's to set or to leave out), URL rewrites,
/// and method overrides unless `METHOD_OVERRIDE` is on; in any spelling an origin reads alike.
fn is_identity_or_credential(name: &str, cfg: &Config) -> bool {
    match table_class(name) {
        Some("override") if cfg.method_override => {}
        Some(_) => return true,
        None => {}
    }
    let name = &*origin_reading(name);
    name == cfg.secret_header.as_str()
        || (cfg.api_key_header && name == "x-api-key")
        || matches!(
            name,
            "authorization"
                | "host"
                | "x-shared-secret"
                | "x-key-id"
                | "x-request-id"
                | "forwarded"
                | "x-real-ip"
                | "cf-connecting-ip"
        )
        || ["x-consumer-", "x-keygate-", "x-forwarded-"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// Lower-case names listed in the client's `Connection` fields (RFC 9110 §7.6.1: a comma list of
/// tokens with optional whitespace), read from the raw bytes.
fn connection_listed(incoming: &HeaderMap) -> Vec<String> {
    incoming
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|t| String::from_utf8_lossy(trim_ows(t)).to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn values(map: &HeaderMap, name: &str) -> Vec<Vec<u8>> {
    map.get_all(name)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect()
}

/// Runs `test` on each generated [`HeaderCase`] and what the filter made of it.
fn check_headers(test: impl Fn(&HeaderCase, &Built) -> Result<(), TestCaseError>) {
    check(header_case(), |case| test(&case, &case.build()));
}

#[test]
fn upstream_headers_carry_exactly_one_secret_and_no_client_credential_or_identity() {
    check_headers(|case, b| {
        let ours = case.ours(b);
        let secret = b.cfg.secret_header.as_str();
        prop_assert_eq!(
            values(&b.out, secret),
            vec![case.secret.clone().into_bytes()]
        );
        for name in b.out.keys() {
            let n = name.as_str();
            if is_identity_or_credential(n, &b.cfg) {
                // Present only because we set it, and only with our value.
                let want = ours.get(n).cloned().map(|v| vec![v]);
                prop_assert_eq!(Some(values(&b.out, n)), want, "{}", n);
            }
        }
        prop_assert!(b.out.get("authorization").is_none());
        Ok(())
    });
}

#[test]
fn the_sanitiser_never_forwards_an_override_rewrite_or_foreign_identity_name() {
    check_reaching(
        "sent a name from the integrity tables",
        40,
        header_case(),
        |case, reached| {
            let b = case.build();
            let ours = case.ours(&b);
            if case.headers.iter().any(|(n, _)| table_class(n).is_some()) {
                reached.hit();
            }
            for (name, value) in &b.out {
                let n = name.as_str();
                match table_class(n) {
                    None => {}
                    Some("override") if case.method_override => {}
                    Some(class) => {
                        // Only a header keygate sets itself, with its value.
                        prop_assert_eq!(
                            ours.get(n).map(Vec::as_slice),
                            Some(value.as_bytes()),
                            "{} name {} forwarded",
                            class,
                            n
                        );
                    }
                }
            }
            Ok(())
        },
    );
}

#[test]
fn upstream_headers_drop_hop_by_hop_and_connection_listed_fields_but_keep_ours() {
    check_headers(|case, b| {
        let ours = case.ours(b);
        for name in b.out.keys() {
            prop_assert!(!is_hop_by_hop(name.as_str()), "{} forwarded", name);
        }
        for listed in connection_listed(&b.incoming) {
            match ours.get(&listed) {
                Some(v) => prop_assert_eq!(values(&b.out, &listed), vec![v.clone()]),
                None => prop_assert!(
                    b.out.get(listed.as_str()).is_none(),
                    "{:?} is listed in Connection but forwarded",
                    listed
                ),
            }
        }
        for (name, v) in &ours {
            prop_assert_eq!(values(&b.out, name), vec![v.clone()], "{}", name);
        }
        Ok(())
    });
}

#[test]
fn upstream_headers_pass_every_other_client_field_through_unchanged() {
    check_headers(|case, b| {
        let ours = case.ours(b);
        let listed = connection_listed(&b.incoming);
        let mut want: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for (name, value) in &b.incoming {
            let n = name.as_str();
            if !is_identity_or_credential(n, &b.cfg)
                && !is_hop_by_hop(n)
                // `Connection: x-a` also names `x_a`, as the origin reads them alike.
                && !listed.iter().any(|l| *l == n || *l == origin_reading(n))
                && !ours.contains_key(n)
            {
                want.entry(n.to_owned())
                    .or_default()
                    .push(value.as_bytes().to_vec());
            }
        }
        for (name, v) in ours {
            want.insert(name, vec![v]);
        }
        let got: BTreeMap<String, Vec<Vec<u8>>> = b
            .out
            .keys()
            .map(|k| (k.as_str().to_owned(), values(&b.out, k.as_str())))
            .collect();
        prop_assert_eq!(got, want);
        Ok(())
    });
}

/// A map's fields as (name, value) pairs, each value as the text the runtime holds: the value's
/// bytes decoded from UTF-8.
fn pairs(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| {
            let text = std::str::from_utf8(v.as_bytes()).expect("UTF-8 values only");
            (n.as_str().to_owned(), text.to_owned())
        })
        .collect()
}

/// A code point for a drawn byte: ASCII as itself, and obs-text bytes spread over code points
/// that take two, three and four bytes in UTF-8.
fn wide(b: u8) -> char {
    let wide = match b {
        0x00..=0xbf => u32::from(b),
        0xc0..=0xdf => 0x4e00 + u32::from(b),
        _ => 0x1f600 + u32::from(b - 0xe0),
    };
    char::from_u32(wide).expect("a scalar value")
}

#[test]
fn the_edges_edits_turn_the_clients_fields_into_exactly_the_upstream_headers() {
    check(header_case(), |case| {
        // The runtime holds values as text decoded from UTF-8, so the client's fields are ones it
        // can hold: each obs-text byte the case drew becomes a code point sent as UTF-8.
        let mut case = case;
        for (_, value) in &mut case.headers {
            *value = value
                .iter()
                .map(|&b| wide(b))
                .collect::<String>()
                .into_bytes();
        }
        let b = &case.build();
        // The client's fields as the runtime iterates them, plus fields core cannot read (a
        // control byte): one under a name of its own, one under a name the client also sent.
        let mut fields = pairs(&b.incoming);
        let shared = fields
            .first()
            .map_or("x-ctl-2".to_owned(), |(n, _)| n.clone());
        fields.push(("x-ctl".to_owned(), "a\u{1}b".to_owned()));
        fields.push((shared, "\u{1}".to_owned()));
        let lines: String = fields.iter().map(|(n, v)| format!("{n}\n{v}\n")).collect();
        let mut read = heads::read(&lines);
        heads::stand_in_credentials(&mut read, b.cfg.api_key_header);
        let mut got = heads::apply(&fields, &heads::edits(&read, &b.out));
        let mut want = pairs(&b.out);
        got.sort();
        want.sort();
        prop_assert_eq!(got, want, "{}", case.headers.len());
        Ok(())
    });
}
