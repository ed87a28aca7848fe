//! Key records and their metadata (record.rs): the decoder never panics on any stored value, what
//! it accepts re-encodes to itself and can become header values, and valid records round-trip.

use crate::strategies::{any_text, hostile_text, SCOPE_PIECES};
use crate::{check, check_reaching};
use http::HeaderValue;
use keygate_core::record::{KeyRecord, MAX_RECORD_LEN};
use keygate_core::{ApiKey, KeyHash};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

const TEXT_PIECES: &[&str] = &[
    "acme",
    "Acme Inc",
    " ",
    "a b",
    "\r\n",
    "\n",
    "\t",
    "\0",
    "\u{7f}",
    "é",
    "\u{2028}",
    "\"",
    "\\",
    "{",
    "}",
    ",",
    ":",
    "GET /v1/*",
    "* /**",
    "/",
    "pro",
    "X-Evil: 1",
    "\u{1F600}",
];

fn json_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => hostile_text(TEXT_PIECES, 5),
        1 => "[!-~]([ -~]{0,12}[!-~])?",
        1 => any_text(24),
    ]
    .boxed()
}

fn json_number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        select(&[0u64, 1, 2, 1 << 40, (1 << 40) + 1]).prop_map(Value::from),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        json_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(json_text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn record_hash() -> KeyHash {
    ApiKey::new("kg_property").hash()
}

/// A field value: usually a plausible one, sometimes any JSON value; `None`: the field is absent.
fn field(plausible: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        6 => plausible.prop_map(Some),
        1 => json_value().prop_map(Some),
        1 => Just(None),
    ]
    .boxed()
}

fn scope_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(&["GET /v1/*", "* /reports/**", "POST:/a/b", "GET /v1/*/", "DELETE /"])
            .prop_map(str::to_owned),
        1 => hostile_text(SCOPE_PIECES, 8),
    ]
    .boxed()
}

fn quota_value() -> BoxedStrategy<Value> {
    (
        json_number(),
        select(&[
            "month",
            "day",
            "hour",
            "60s",
            "0s",
            "+5s",
            "s",
            "31622401s",
            "Day",
        ]),
        prop::option::of(select(&["key", "consumer", "Key", "team"])),
    )
        .prop_map(|(limit, period, per)| {
            let mut q = json!({ "limit": limit, "period": period });
            if let Some(per) = per {
                q["per"] = json!(per);
            }
            q
        })
        .boxed()
}

/// A JSON object shaped like a key record, with any field absent, malformed or hostile.
fn record_json() -> BoxedStrategy<Value> {
    let id = record_hash().id().to_owned();
    let text = || json_text().prop_map(Value::String).boxed();
    (
        (
            field(select(&[1u32, 1, 1, 2, 0]).prop_map(Value::from).boxed()),
            field(prop_oneof![4 => Just(Value::from(id)), 1 => "[0-9a-f]{12}".prop_map(Value::from)].boxed()),
            field(text()),
            field(text()),
            field(prop::option::of(json_text()).prop_map(|o| o.map_or(Value::Null, Value::String)).boxed()),
            field(any::<u64>().prop_map(Value::from).boxed()),
            field(prop::option::of(any::<u64>()).prop_map(|o| o.map_or(Value::Null, Value::from)).boxed()),
        ),
        (
            field(any::<bool>().prop_map(Value::Bool).boxed()),
            field(prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect())).boxed()),
            field(prop::collection::vec(scope_text(), 0..4).prop_map(|v| json!(v)).boxed()),
            field(text()),
            field(prop_oneof![3 => "[a-z0-9_-]{1,32}".prop_map(Value::from), 1 => json_text().prop_map(Value::from)].boxed()),
            field(quota_value()),
            prop::option::of((json_text(), json_value())),
        ),
    )
        .prop_map(
            |(
                (v, id, name, consumer_id, consumer_name, created_at, expires_at),
                (disabled, meta, scopes, description, tier, quota, unknown),
            )| {
                let mut m = Map::new();
                for (k, val) in [
                    ("v", v),
                    ("id", id),
                    ("name", name),
                    ("consumer_id", consumer_id),
                    ("consumer_name", consumer_name),
                    ("created_at", created_at),
                    ("expires_at", expires_at),
                    ("disabled", disabled),
                    ("meta", meta),
                    ("scopes", scopes),
                    ("description", description),
                    ("tier", tier),
                    ("quota", quota),
                ] {
                    if let Some(val) = val {
                        m.insert(k.to_owned(), val);
                    }
                }
                if let Some((k, val)) = unknown {
                    m.insert(k, val);
                }
                Value::Object(m)
            },
        )
        .boxed()
}

const RECORD_FIELDS: &[&str] = &[
    "v",
    "id",
    "name",
    "consumer_id",
    "consumer_name",
    "created_at",
    "expires_at",
    "disabled",
    "meta",
    "scopes",
    "description",
    "tier",
    "quota",
    "future_field",
];

/// A record-shaped JSON object: a valid record with perhaps one field replaced by any JSON value
/// or removed, or an object whose every field may be wrong.
fn record_object() -> BoxedStrategy<Value> {
    let changed_valid = (
        valid_record(),
        prop::option::of((select(RECORD_FIELDS), field(json_value()))),
    )
        .prop_map(|(rec, change)| {
            let mut v = serde_json::to_value(&rec).expect("a record serialises");
            if let (Some((name, value)), Some(m)) = (change, v.as_object_mut()) {
                match value {
                    Some(value) => m.insert(name.to_owned(), value),
                    None => m.remove(name),
                };
            }
            v
        });
    prop_oneof![2 => changed_valid, 1 => record_json()].boxed()
}

/// A stored value: a record-shaped object as JSON, sometimes cut short or with a character
/// inserted, sometimes any text at all.
fn stored_value() -> BoxedStrategy<String> {
    prop_oneof![
        6 => record_object().prop_map(|v| v.to_string()),
        1 => (record_object(), any::<prop::sample::Index>())
            .prop_map(|(v, i)| {
                let s = v.to_string();
                let mut cut = i.index(s.len() + 1);
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s[..cut].to_owned()
            }),
        1 => (record_object(), any::<prop::sample::Index>(), any::<char>())
            .prop_map(|(v, i, c)| {
                let mut s = v.to_string();
                let mut at = i.index(s.len() + 1);
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                s.insert(at, c);
                s
            }),
        1 => any_text(24),
    ]
    .boxed()
}

/// Runs `test` on what the decoder makes of each [`stored_value`] for [`record_hash`] that it
/// accepts (at least 5% must be); the decoder is run on every one.
fn check_decoded(test: impl Fn(KeyRecord, &KeyHash) -> Result<(), TestCaseError>) {
    let hash = record_hash();
    check_reaching("decoded", 5, stored_value(), |raw, reached| {
        let Ok(rec) = KeyRecord::decode(&raw, &hash) else {
            return Ok(());
        };
        reached.hit();
        test(rec, &hash)
    });
}

#[test]
fn record_decoder_never_panics_and_what_it_accepts_reencodes_to_itself() {
    check_decoded(|rec, hash| {
        let json = rec.to_json();
        let again = KeyRecord::decode(&json, hash);
        prop_assert_eq!(again.as_ref(), Ok(&rec), "re-encoded as {}", json);
        Ok(())
    });
}

#[test]
fn decoded_record_fields_that_become_headers_are_header_values() {
    check_decoded(|rec, hash| {
        prop_assert_eq!(rec.v, 1);
        prop_assert_eq!(rec.id.as_str(), hash.id());
        let mut forwarded = vec![&rec.id, &rec.consumer_id];
        forwarded.extend(rec.consumer_name.as_ref());
        for f in forwarded {
            prop_assert!(HeaderValue::from_str(f).is_ok(), "{:?}", f);
            prop_assert!(
                f.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
                "{:?}",
                f
            );
        }
        prop_assert_eq!(rec.parsed_scopes().len(), rec.scopes.len());
        for key in rec.meta.keys() {
            if let Some(v) = rec.meta_header_value(key) {
                prop_assert!(HeaderValue::from_str(&v).is_ok(), "meta {}: {:?}", key, v);
            }
        }
        Ok(())
    });
}

/// A record that satisfies every rule of [`KeyRecord::decode`] for [`record_hash`].
fn valid_record() -> impl Strategy<Value = KeyRecord> {
    let safe = "[!-~]([ -~]{0,20}[!-~])?";
    (
        (
            "[ -~]{0,20}",
            safe,
            prop::option::of(safe),
            any::<u64>(),
            prop::option::of(any::<u64>()),
            any::<bool>(),
        ),
        (
            prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..4),
            prop::collection::vec(
                select(&["GET /v1/*", "* /reports/**", "POST /a/b", "PUT /**/x"]),
                0..3,
            ),
            prop::option::of(json_text()),
            prop::option::of("[a-z0-9_-]{1,32}"),
            prop::option::of((
                0u64..=(1 << 40),
                select(&["month", "day", "hour", "60s", "31622400s"]),
                any::<bool>(),
            )),
        ),
    )
        .prop_map(
            |(
                (name, consumer_id, consumer_name, created_at, expires_at, disabled),
                (meta, scopes, description, tier, quota),
            )| {
                let quota = quota.map(|(limit, period, consumer)| {
                    serde_json::from_value(json!({
                        "limit": limit,
                        "period": period,
                        "per": if consumer { "consumer" } else { "key" },
                    }))
                    .expect("valid quota")
                });
                KeyRecord {
                    v: 1,
                    id: record_hash().id().to_owned(),
                    name,
                    consumer_id,
                    consumer_name,
                    created_at,
                    expires_at,
                    disabled,
                    meta: meta.into_iter().collect(),
                    scopes: scopes.into_iter().map(str::to_owned).collect(),
                    description,
                    tier,
                    quota,
                }
            },
        )
}

#[test]
fn valid_records_decode_to_exactly_what_was_encoded() {
    let hash = record_hash();
    check(valid_record(), |rec| {
        let json = rec.to_json();
        prop_assert!(json.len() <= MAX_RECORD_LEN);
        prop_assert_eq!(KeyRecord::decode(&json, &hash), Ok(rec), "{}", json);
        Ok(())
    });
}
