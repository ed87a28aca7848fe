//! The lifecycle against [`MemoryKv`]: what each operation stores, what it refuses before any
//! write, and what it undoes when the store fails midway.

use super::rules::{parse_quota, parse_quota_scope, quota_text};
use super::*;
use crate::credential::is_b64token;
use crate::keyformat::{self, KeyShape};
use crate::kv::memory::{MemoryKv, Op};
use crate::kv::KvError;
use crate::limits::{QuotaPeriod, QuotaScope, MAX_QUOTA_LIMIT};
use pollster::block_on;

const NOW: u64 = 1_800_000_000;

fn opts(name: &str) -> NewKey {
    NewKey::new(name, "acme")
}

fn create_ok(kv: &MemoryKv, o: &NewKey) -> (ApiKey, KeyRecord) {
    block_on(create(kv, o, NOW)).unwrap()
}

fn invalid(field: Field, problem: Problem) -> LifecycleError {
    LifecycleError::Invalid(Invalid::new(field, problem))
}

fn quota(limit: u64, period: &str) -> Quota {
    Quota {
        limit,
        period: QuotaPeriod::parse(period).unwrap(),
        per: QuotaScope::Key,
    }
}

/// The record, list metadata and KV expiration stored for `key`.
fn stored(kv: &MemoryKv, key: &ApiKey) -> (KeyRecord, Summary, Option<u64>) {
    let e = kv.entry(key.hash().as_kv_key()).unwrap();
    (
        KeyRecord::decode(&e.value, &key.hash()).unwrap(),
        serde_json::from_value(e.metadata.unwrap()).unwrap(),
        e.expiration,
    )
}

fn tier(t: Option<&str>) -> Changes {
    Changes {
        tier: Some(t.map(str::to_owned)),
        ..Changes::default()
    }
}

fn set_quota(q: Option<Quota>) -> Changes {
    Changes {
        quota: Some(q),
        ..Changes::default()
    }
}

#[test]
fn generated_keys_have_prefix_length_and_base62_alphabet() {
    let k = generate_key().unwrap();
    let s = k.expose();
    assert!(s.starts_with("kg_"));
    assert_eq!(s.len(), keyformat::KEY_LEN);
    assert_eq!(keyformat::classify(s), KeyShape::Valid);
    assert!(s[3..]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    assert!(is_b64token(s.as_bytes()));
}

#[test]
fn generated_keys_differ_and_use_the_whole_alphabet() {
    let keys: Vec<String> = (0..200)
        .map(|_| generate_key().unwrap().expose().to_owned())
        .collect();
    let unique: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len());
    let seen: std::collections::HashSet<u8> = keys
        .iter()
        .flat_map(|k| k[3..3 + keyformat::RANDOM_LEN].bytes())
        .collect();
    assert_eq!(
        seen.len(),
        62,
        "200 keys × 43 random chars hit all 62 symbols"
    );
}

#[test]
fn create_stores_only_the_hash_and_a_record_the_worker_accepts() {
    let kv = MemoryKv::new();
    let (key, rec) = create_ok(&kv, &opts("ci"));
    let entries = kv.entries();
    let (name, e) = entries.iter().next().unwrap();
    let meta = e.metadata.as_ref().unwrap().to_string();
    assert_eq!(name, key.hash().as_kv_key());
    assert!(!e.value.contains(key.expose()) && !meta.contains(key.expose()));
    assert!(
        !meta.contains(name.as_str()),
        "metadata must not repeat the full hash"
    );
    assert_eq!(KeyRecord::decode(&e.value, &key.hash()).unwrap(), rec);
    assert_eq!(e.expiration, None);
    assert_eq!(kv.calls_of(Op::Put).len(), 1, "exactly one write");
}

#[test]
fn expiring_key_gets_a_kv_expiration_after_a_retention_window() {
    let kv = MemoryKv::new();
    let o = NewKey {
        expires_at: Some(NOW + 3600),
        ..opts("tmp")
    };
    let (key, _) = create_ok(&kv, &o);
    assert_eq!(
        stored(&kv, &key).2,
        Some(NOW + 3600 + EXPIRED_RETENTION_SECS)
    );
}

#[test]
fn a_key_expiring_after_2038_is_stored_without_a_kv_expiration_but_keeps_its_expiry() {
    let kv = MemoryKv::new();
    for expires_at in [MAX_KV_EXPIRATION, 4_102_444_800, rules::MAX_EXPIRES_AT] {
        let o = NewKey {
            expires_at: Some(expires_at),
            ..opts("far")
        };
        let (key, rec) = create_ok(&kv, &o);
        assert_eq!(rec.expires_at, Some(expires_at));
        assert_eq!(stored(&kv, &key).2, None, "expires_at {expires_at}");
    }
    // Just inside the range, the KV expiration is still written.
    let o = NewKey {
        expires_at: Some(MAX_KV_EXPIRATION - EXPIRED_RETENTION_SECS),
        ..opts("near")
    };
    let (key, _) = create_ok(&kv, &o);
    assert_eq!(stored(&kv, &key).2, Some(MAX_KV_EXPIRATION));
}

#[test]
fn bad_create_input_is_refused_before_any_store_call() {
    let kv = MemoryKv::new();
    for (o, want) in [
        (opts(""), invalid(Field::Name, Problem::Label)),
        (opts("bad\nname"), invalid(Field::Name, Problem::Label)),
        (
            NewKey {
                consumer_id: "has space".into(),
                ..opts("x")
            },
            invalid(Field::ConsumerId, Problem::ConsumerId),
        ),
        (
            NewKey {
                expires_at: Some(NOW),
                ..opts("x")
            },
            invalid(Field::ExpiresAt, Problem::NotInFuture),
        ),
        (
            NewKey {
                expires_at: Some(rules::MAX_EXPIRES_AT + 1),
                ..opts("x")
            },
            invalid(Field::ExpiresAt, Problem::TooLate),
        ),
        (
            NewKey {
                consumer_name: Some("\u{7f}".into()),
                ..opts("x")
            },
            invalid(Field::ConsumerName, Problem::Label),
        ),
        (
            NewKey {
                description: Some("a\u{0}b".into()),
                ..opts("x")
            },
            invalid(Field::Description, Problem::Description),
        ),
        (
            NewKey {
                scopes: vec!["GET v1".into()],
                ..opts("x")
            },
            invalid(
                Field::Scopes,
                Problem::Scope(crate::scope::Scope::parse("GET v1").unwrap_err().0),
            ),
        ),
        (
            NewKey {
                meta: [("big".to_owned(), "x".repeat(9000).into())]
                    .into_iter()
                    .collect(),
                ..opts("x")
            },
            invalid(Field::Meta, Problem::MetaTooLarge),
        ),
    ] {
        assert_eq!(block_on(create(&kv, &o, NOW)).unwrap_err(), want, "{o:?}");
    }
    assert!(kv.calls().is_empty(), "{:?}", kv.calls());
}

#[test]
fn a_store_failure_on_create_is_a_store_error_with_the_stores_message() {
    let kv = MemoryKv::new();
    kv.fail(Some(Op::Put), "KV PUT failed: 500");
    let e = block_on(create(&kv, &opts("x"), NOW)).unwrap_err();
    assert_eq!(
        e,
        LifecycleError::Store {
            error: KvError::new("KV PUT failed: 500"),
            rollback: Rollback::NotNeeded
        }
    );
    assert_eq!(e.to_string(), "KV PUT failed: 500");
    assert_eq!(e.http_status(), 503);
}

#[test]
fn list_shows_ids_and_states_but_never_keys_or_hashes() {
    let kv = MemoryKv::new();
    let (k1, _) = create_ok(&kv, &opts("a"));
    let (k2, _) = create_ok(
        &kv,
        &NewKey {
            expires_at: Some(NOW + 10),
            ..opts("b")
        },
    );
    let l = block_on(list_all(&kv, &Filter::default(), NOW))
        .unwrap()
        .keys;
    assert_eq!(l.len(), 2);
    let json = serde_json::to_string(&l).unwrap();
    for k in [&k1, &k2] {
        assert!(!json.contains(k.expose()));
        assert!(!json.contains(k.hash().as_kv_key()));
        assert!(json.contains(k.hash().id()));
    }
    let b = l.iter().find(|s| s.name == "b").unwrap();
    assert_eq!(b.state(NOW + 9), KeyState::Active);
    assert_eq!(b.state(NOW + 10), KeyState::Expired);
}

#[test]
fn list_reads_records_written_without_metadata_and_reports_corrupt_ones() {
    let kv = MemoryKv::new();
    let (key, rec) = create_ok(&kv, &opts("a"));
    let (bad, bad_rec) = create_ok(&kv, &opts("b"));
    kv.edit(key.hash().as_kv_key(), |e| e.metadata = None);
    kv.edit(bad.hash().as_kv_key(), |e| {
        e.metadata = None;
        e.value = "{not json".into();
    });
    let page = block_on(list_all(&kv, &Filter::default(), NOW)).unwrap();
    assert_eq!(page.keys, vec![Summary::of(&rec)]);
    assert_eq!(page.corrupt, vec![(bad_rec.id, CorruptRecord::NotJson)]);
}

#[test]
fn list_filters_by_consumer_and_state_across_pages() {
    let kv = MemoryKv::with_page_size(2);
    let mut ids = Vec::new();
    for (i, consumer) in ["acme", "globex", "acme", "acme", "globex"]
        .iter()
        .enumerate()
    {
        let (_, r) = block_on(create(
            &kv,
            &NewKey::new(&format!("k{i}"), consumer),
            NOW + i as u64,
        ))
        .unwrap();
        ids.push(r.id);
    }
    block_on(set_disabled(&kv, &KeyRef::Id(ids[2].clone()), true, NOW)).unwrap();
    let acme = Filter {
        consumer_id: Some("acme".into()),
        state: None,
    };
    let all = block_on(list_all(&kv, &acme, NOW)).unwrap().keys;
    let got: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(got, [&ids[0], &ids[2], &ids[3]], "by creation time");
    let active = Filter {
        state: Some(KeyState::Active),
        ..acme
    };
    assert_eq!(block_on(list_all(&kv, &active, NOW)).unwrap().keys.len(), 2);
    // Page by page, as the management API serves it: at most 2 names a page.
    let first = block_on(list(&kv, &Filter::default(), None, NOW)).unwrap();
    assert_eq!(first.keys.len(), 2);
    let second = block_on(list(&kv, &Filter::default(), first.cursor.as_deref(), NOW)).unwrap();
    assert_eq!(second.keys.len(), 2);
    assert!(first.keys.iter().all(|k| !second.keys.contains(k)));
}

#[test]
fn state_names_read_back() {
    for s in [KeyState::Active, KeyState::Disabled, KeyState::Expired] {
        assert_eq!(parse_state(state_name(s)), Some(s));
    }
    assert_eq!(parse_state("gone"), None);
}

#[test]
fn revoke_by_id_or_by_key_deletes_exactly_that_key() {
    let kv = MemoryKv::new();
    let (k1, r1) = create_ok(&kv, &opts("a"));
    let (k2, _) = create_ok(&kv, &opts("b"));
    assert_eq!(
        block_on(revoke(&kv, &KeyRef::parse(&r1.id).unwrap())).unwrap(),
        r1.id
    );
    assert!(kv.entry(k1.hash().as_kv_key()).is_none());
    assert!(kv.entry(k2.hash().as_kv_key()).is_some());
    block_on(revoke(&kv, &KeyRef::parse(k2.expose()).unwrap())).unwrap();
    assert!(kv.entries().is_empty());
}

#[test]
fn revoking_an_unknown_id_or_key_is_not_found_and_changes_nothing() {
    let kv = MemoryKv::new();
    create_ok(&kv, &opts("a"));
    let e = block_on(revoke(&kv, &KeyRef::parse("000000000000").unwrap())).unwrap_err();
    assert_eq!(
        e,
        LifecycleError::NotFound(NotFound {
            id: "000000000000".into(),
            by: AskedBy::Id
        })
    );
    assert!(e.to_string().starts_with("no key with id 000000000000"));
    assert_eq!(e.http_status(), 404);
    let e = block_on(revoke(&kv, &KeyRef::parse("kg_notakey").unwrap())).unwrap_err();
    assert!(matches!(
        e,
        LifecycleError::NotFound(NotFound {
            by: AskedBy::Key,
            ..
        })
    ));
    assert_eq!(kv.entries().len(), 1);
}

#[test]
fn an_id_two_stored_keys_share_is_ambiguous() {
    let kv = MemoryKv::new();
    let (key, rec) = create_ok(&kv, &opts("a"));
    let twin = format!("{}{}", rec.id, "0".repeat(64 - rec.id.len()));
    let e = kv.entry(key.hash().as_kv_key()).unwrap();
    kv.insert(&twin, e);
    let err = block_on(show(&kv, &KeyRef::Id(rec.id.clone()))).unwrap_err();
    assert_eq!(
        err,
        LifecycleError::Conflict(Conflict::AmbiguousId { id: rec.id })
    );
    assert_eq!(err.http_status(), 409);
    assert!(
        block_on(show(&kv, &KeyRef::Key(key))).is_ok(),
        "the key itself still works"
    );
}

#[test]
fn key_ref_rejects_garbage() {
    for s in ["", "has space", "kg_\u{e9}", "a,b"] {
        assert_eq!(
            KeyRef::parse(s).unwrap_err(),
            Invalid::new(Field::Key, Problem::NotKeyOrId),
            "{s:?}"
        );
    }
    assert!(matches!(KeyRef::parse("0123456789ab"), Ok(KeyRef::Id(_))));
    assert!(matches!(KeyRef::parse("0123456789AB"), Ok(KeyRef::Key(_))));
}

#[test]
fn show_reports_a_corrupt_record_by_id_only() {
    let kv = MemoryKv::new();
    let (key, rec) = create_ok(&kv, &opts("a"));
    kv.edit(key.hash().as_kv_key(), |e| e.value = "{not json".into());
    let err = block_on(show(&kv, &KeyRef::Id(rec.id.clone()))).unwrap_err();
    assert_eq!(
        err,
        LifecycleError::Corrupt {
            id: rec.id.clone(),
            reason: CorruptRecord::NotJson
        }
    );
    let text = err.to_string();
    assert!(text.contains(&rec.id) && !text.contains(key.hash().as_kv_key()));
}

#[test]
fn disable_then_enable_flips_only_the_flag() {
    let kv = MemoryKv::new();
    let (key, rec) = create_ok(&kv, &opts("a"));
    let r = KeyRef::Id(rec.id.clone());
    assert!(block_on(set_disabled(&kv, &r, true, NOW)).unwrap().disabled);
    assert_eq!(
        block_on(show(&kv, &r)).unwrap().state(NOW),
        KeyState::Disabled
    );
    let back = block_on(set_disabled(&kv, &KeyRef::Key(key), false, NOW)).unwrap();
    assert_eq!(back, rec, "enable restores the record exactly");
    let l = block_on(list_all(&kv, &Filter::default(), NOW)).unwrap();
    assert_eq!(l.keys[0].state(NOW), KeyState::Active);
}

#[test]
fn rotate_copies_identity_and_expires_the_old_key_after_the_overlap() {
    let kv = MemoryKv::new();
    let o = NewKey {
        scopes: vec!["GET /v1/*".into()],
        meta: [("plan".to_owned(), "pro".into())].into_iter().collect(),
        consumer_name: Some("Acme".into()),
        ..opts("svc")
    };
    let (_, old) = create_ok(&kv, &o);
    let rot = block_on(rotate(&kv, &KeyRef::Id(old.id.clone()), 3600, NOW + 10)).unwrap();
    assert_eq!(rot.old.expires_at, Some(NOW + 10 + 3600));
    assert_eq!(
        (
            rot.new.consumer_id.as_str(),
            rot.new.consumer_name.as_deref()
        ),
        ("acme", Some("Acme"))
    );
    assert_eq!(rot.new.scopes, old.scopes);
    assert_eq!(rot.new.meta, old.meta);
    assert_eq!(rot.new.expires_at, None);
    assert_eq!(keyformat::classify(rot.key.expose()), KeyShape::Valid);
    assert_eq!(
        block_on(show(&kv, &KeyRef::Id(old.id))).unwrap().expires_at,
        Some(NOW + 3610)
    );
}

#[test]
fn rotate_never_extends_an_existing_expiry() {
    let kv = MemoryKv::new();
    let (_, old) = create_ok(
        &kv,
        &NewKey {
            expires_at: Some(NOW + 60),
            ..opts("a")
        },
    );
    let rot = block_on(rotate(&kv, &KeyRef::Id(old.id), 24 * 3600, NOW)).unwrap();
    assert_eq!(rot.old.expires_at, Some(NOW + 60));
    assert_eq!(
        rot.new.expires_at,
        Some(NOW + 60),
        "the new key inherits the old deadline"
    );
}

#[test]
fn rotating_a_disabled_or_expired_key_is_a_conflict_and_writes_nothing() {
    let kv = MemoryKv::new();
    let (_, old) = create_ok(&kv, &opts("a"));
    block_on(set_disabled(&kv, &KeyRef::Id(old.id.clone()), true, NOW)).unwrap();
    let e = block_on(rotate(&kv, &KeyRef::Id(old.id.clone()), 60, NOW)).unwrap_err();
    assert_eq!(
        e,
        LifecycleError::Conflict(Conflict::Disabled { id: old.id })
    );
    let (_, short) = create_ok(
        &kv,
        &NewKey {
            expires_at: Some(NOW + 5),
            ..opts("b")
        },
    );
    let e = block_on(rotate(&kv, &KeyRef::Id(short.id.clone()), 60, NOW + 5)).unwrap_err();
    assert_eq!(
        e,
        LifecycleError::Conflict(Conflict::Expired { id: short.id })
    );
    assert_eq!(kv.entries().len(), 2);
}

#[test]
fn a_rotation_whose_old_key_write_fails_removes_the_new_key_again() {
    let kv = MemoryKv::new();
    let (_, old) = create_ok(&kv, &opts("a"));
    let before = kv.entries();
    // The new key's write succeeds; the old key's write (the next put) fails.
    kv.fail_once_after(Op::Put, 1, "KV PUT failed: 500");
    let e = block_on(rotate(&kv, &KeyRef::Id(old.id), 60, NOW)).unwrap_err();
    let LifecycleError::Store {
        error,
        rollback: Rollback::Done { ids },
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(error, &KvError::new("KV PUT failed: 500"));
    assert_eq!(ids.len(), 1);
    assert_eq!(kv.entries(), before, "nothing changed");
    assert!(
        e.to_string().ends_with("removed again, nothing changed"),
        "{e}"
    );
}

#[test]
fn a_rotation_whose_undo_fails_too_names_the_key_left_behind() {
    let kv = MemoryKv::new();
    let (_, old) = create_ok(&kv, &opts("a"));
    kv.fail_once_after(Op::Put, 1, "KV PUT failed: 500");
    kv.fail(Some(Op::Delete), "KV DELETE failed: 503");
    let e = block_on(rotate(&kv, &KeyRef::Id(old.id.clone()), 60, NOW)).unwrap_err();
    let LifecycleError::Store {
        rollback: Rollback::Failed { ids, error },
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(error, &KvError::new("KV DELETE failed: 503"));
    let left = kv.entries().len();
    assert_eq!((ids.len(), left), (1, 2), "the new key is still stored");
}

#[test]
fn import_stores_only_hashes_and_keeps_keys_usable() {
    let kv = MemoryKv::new();
    let done = block_on(import(
        &kv,
        &["legacy-one", "", "  legacy-two  "],
        &opts("imported"),
        NOW,
    ))
    .unwrap();
    assert_eq!(done.len(), 2);
    for k in ["legacy-one", "legacy-two"] {
        let h = ApiKey::new(k).hash();
        let raw = kv.entry(h.as_kv_key()).unwrap().value;
        assert!(!raw.contains(k));
        assert!(KeyRecord::decode(&raw, &h).is_ok());
    }
}

#[test]
fn import_with_any_bad_line_writes_nothing_and_names_the_line() {
    let kv = MemoryKv::new();
    let good = generate_key().unwrap();
    let mut bad_sum = good.expose().to_owned();
    bad_sum.replace_range(4..5, if &bad_sum[4..5] == "x" { "y" } else { "x" });
    for (input, want) in [
        (
            vec!["ok-key", "bad key"],
            invalid(Field::ImportLine(2), Problem::NotAKey),
        ),
        (
            vec!["dup", "dup"],
            LifecycleError::Conflict(Conflict::Repeated { line: 2 }),
        ),
        (
            vec![bad_sum.as_str()],
            invalid(Field::ImportLine(1), Problem::BadChecksum),
        ),
        (vec!["", ""], invalid(Field::Keys, Problem::NoKeys)),
    ] {
        assert_eq!(
            block_on(import(&kv, &input, &opts("i"), NOW)).unwrap_err(),
            want,
            "{input:?}"
        );
    }
    assert!(kv.entries().is_empty());
    block_on(import(&kv, &["already"], &opts("i"), NOW)).unwrap();
    let e = block_on(import(&kv, &["fresh", "already"], &opts("i"), NOW)).unwrap_err();
    assert_eq!(
        e,
        LifecycleError::Conflict(Conflict::AlreadyStored {
            id: ApiKey::new("already").hash().id().to_owned(),
            line: Some(2)
        })
    );
    assert!(e.to_string().contains("already stored"));
    assert_eq!(kv.entries().len(), 1);
}

#[test]
fn an_import_failing_midway_removes_the_keys_it_wrote() {
    let kv = MemoryKv::new();
    kv.fail_once_after(Op::Put, 2, "KV PUT failed: 500");
    let e = block_on(import(&kv, &["k-one", "k-two", "k-three"], &opts("i"), NOW)).unwrap_err();
    assert_eq!(
        e,
        LifecycleError::Store {
            error: KvError::new("KV PUT failed: 500"),
            rollback: Rollback::Done {
                ids: ["k-one", "k-two"]
                    .map(|k| ApiKey::new(k).hash().id().to_owned())
                    .to_vec()
            }
        }
    );
    assert!(kv.entries().is_empty(), "all or nothing");
}

#[test]
fn quota_notation_reads_limit_slash_period_and_prints_back() {
    assert_eq!(
        parse_quota("10000/month", QuotaScope::Key),
        Ok(quota(10_000, "month"))
    );
    assert_eq!(
        parse_quota(" 500 / day ", QuotaScope::Consumer).map(|q| quota_text(&q)),
        Ok("500/day per consumer".to_owned())
    );
    assert_eq!(parse_quota("20/30s", QuotaScope::Key), Ok(quota(20, "30s")));
    assert_eq!(
        parse_quota(&format!("{MAX_QUOTA_LIMIT}/hour"), QuotaScope::Key).map(|q| q.limit),
        Ok(MAX_QUOTA_LIMIT)
    );
    assert_eq!(parse_quota_scope("consumer"), Ok(QuotaScope::Consumer));
}

#[test]
fn bad_quota_notation_is_refused_with_the_broken_part() {
    let syntax = |s: &str| Problem::QuotaSyntax(s.into());
    let limit = |s: &str| Problem::QuotaLimit(s.into());
    let period = |s: &str| Problem::QuotaPeriod(s.into());
    let too_big = format!("{}/day", MAX_QUOTA_LIMIT + 1);
    for (input, want) in [
        ("10000", syntax("10000")),
        ("", syntax("")),
        ("0/day", limit("0")),
        ("-5/day", limit("-5")),
        ("+5/day", limit("+5")),
        ("1.5/day", limit("1.5")),
        ("ten/day", limit("ten")),
        (too_big.as_str(), limit(&(MAX_QUOTA_LIMIT + 1).to_string())),
        (
            "99999999999999999999999/day",
            limit("99999999999999999999999"),
        ),
        ("5/week", period("week")),
        ("5/", period("")),
        ("5/0s", period("0s")),
        ("5/30", period("30")),
        ("5/Month", period("Month")),
        ("5/day/extra", period("day/extra")),
    ] {
        assert_eq!(
            parse_quota(input, QuotaScope::Key),
            Err(Invalid::new(Field::Quota, want)),
            "{input:?}"
        );
    }
    assert_eq!(
        parse_quota_scope("team"),
        Err(Invalid::new(
            Field::Quota,
            Problem::QuotaScope("team".into())
        ))
    );
}

#[test]
fn create_with_tier_and_quota_stores_them_in_the_record_and_the_tier_in_metadata() {
    let kv = MemoryKv::new();
    let o = NewKey {
        tier: Some("pro".into()),
        quota: Some(quota(10_000, "month")),
        ..opts("svc")
    };
    let (key, rec) = create_ok(&kv, &o);
    assert_eq!(rec.tier.as_deref(), Some("pro"));
    assert_eq!(rec.quota, Some(quota(10_000, "month")));
    let (stored_rec, meta, _) = stored(&kv, &key);
    assert_eq!(
        stored_rec, rec,
        "the worker decodes the same tier and quota"
    );
    assert_eq!(meta.tier.as_deref(), Some("pro"));
    let raw = kv.entry(key.hash().as_kv_key()).unwrap().value;
    assert!(
        raw.contains(r#""tier":"pro""#)
            && raw.contains(r#""quota":{"limit":10000,"period":"month"}"#),
        "{raw}"
    );
}

#[test]
fn create_without_tier_or_quota_stores_neither_field() {
    let kv = MemoryKv::new();
    let (key, _) = create_ok(&kv, &opts("a"));
    let raw = kv.entry(key.hash().as_kv_key()).unwrap().value;
    assert!(!raw.contains("tier") && !raw.contains("quota"), "{raw}");
}

#[test]
fn bad_tier_or_quota_on_create_or_import_writes_nothing() {
    let kv = MemoryKv::new();
    for (o, field) in [
        (
            NewKey {
                tier: Some("Pro".into()),
                ..opts("x")
            },
            Field::Tier,
        ),
        (
            NewKey {
                tier: Some(String::new()),
                ..opts("x")
            },
            Field::Tier,
        ),
        (
            NewKey {
                tier: Some("a".repeat(33)),
                ..opts("x")
            },
            Field::Tier,
        ),
        (
            NewKey {
                quota: Some(quota(0, "day")),
                ..opts("x")
            },
            Field::Quota,
        ),
        (
            NewKey {
                quota: Some(quota(MAX_QUOTA_LIMIT + 1, "day")),
                ..opts("x")
            },
            Field::Quota,
        ),
    ] {
        for e in [
            block_on(create(&kv, &o, NOW)).unwrap_err(),
            block_on(import(&kv, &["legacy"], &o, NOW)).unwrap_err(),
        ] {
            assert!(
                matches!(&e, LifecycleError::Invalid(i) if i.field == field),
                "{o:?}: {e:?}"
            );
            assert_eq!(e.http_status(), 422);
        }
    }
    assert!(kv.calls().is_empty());
}

#[test]
fn set_tier_then_clear_returns_the_key_to_the_default_tier() {
    let kv = MemoryKv::new();
    let (key, rec) = create_ok(&kv, &opts("a"));
    let r = KeyRef::Id(rec.id.clone());
    let u = block_on(update(&kv, &r, &tier(Some("pro")), NOW)).unwrap();
    assert_eq!(u.record.tier.as_deref(), Some("pro"));
    assert_eq!(u.before, rec);
    assert_eq!(stored(&kv, &key).1.tier.as_deref(), Some("pro"));
    let l = block_on(list_all(&kv, &Filter::default(), NOW)).unwrap();
    assert_eq!(l.keys[0].tier.as_deref(), Some("pro"));
    let back = block_on(update(&kv, &KeyRef::Key(key.clone()), &tier(None), NOW)).unwrap();
    assert_eq!(back.record, rec, "clearing restores the record exactly");
    assert_eq!(stored(&kv, &key).1.tier, None);
}

#[test]
fn update_with_a_bad_tier_is_refused_before_any_store_call() {
    let kv = MemoryKv::new();
    let (_, rec) = create_ok(&kv, &opts("a"));
    let calls = kv.calls().len();
    for bad in ["", "Pro", "pro tier", "pro!", &"x".repeat(33)] {
        let e = block_on(update(
            &kv,
            &KeyRef::Id(rec.id.clone()),
            &tier(Some(bad)),
            NOW,
        ));
        assert_eq!(
            e.unwrap_err(),
            invalid(Field::Tier, Problem::TierName(bad.into()))
        );
    }
    assert_eq!(kv.calls().len(), calls);
}

#[test]
fn set_quota_none_removes_it_and_keeps_everything_else() {
    let kv = MemoryKv::new();
    let o = NewKey {
        tier: Some("free".into()),
        expires_at: Some(NOW + 3600),
        ..opts("a")
    };
    let (key, rec) = create_ok(&kv, &o);
    let r = KeyRef::Id(rec.id.clone());
    let exp_before = stored(&kv, &key).2;
    let q = Quota {
        per: QuotaScope::Consumer,
        ..quota(500, "day")
    };
    let set = block_on(update(&kv, &r, &set_quota(Some(q)), NOW)).unwrap();
    assert_eq!((set.record.quota, set.before.quota), (Some(q), None));
    assert_eq!(block_on(show(&kv, &r)).unwrap().quota, Some(q));
    let removed = block_on(update(&kv, &r, &set_quota(None), NOW + 60)).unwrap();
    assert_eq!(removed.record, rec, "only the quota changed, and back");
    assert_eq!(removed.before.quota, Some(q));
    let (after, meta, exp) = stored(&kv, &key);
    assert_eq!(after.quota, None);
    assert_eq!(meta, Summary::of(&rec));
    assert_eq!(
        exp, exp_before,
        "the KV expiration follows the key's expiry"
    );
}

#[test]
fn set_quota_with_an_out_of_range_limit_changes_nothing() {
    let kv = MemoryKv::new();
    let (_, rec) = create_ok(&kv, &opts("a"));
    let before = kv.entries();
    let r = KeyRef::Id(rec.id);
    for q in [quota(0, "day"), quota(MAX_QUOTA_LIMIT + 1, "day")] {
        let e = block_on(update(&kv, &r, &set_quota(Some(q)), NOW)).unwrap_err();
        assert!(matches!(
            e,
            LifecycleError::Invalid(Invalid {
                field: Field::Quota,
                ..
            })
        ));
    }
    assert_eq!(kv.entries(), before);
}

#[test]
fn update_changes_scopes_metadata_and_labels_in_canonical_form() {
    let kv = MemoryKv::new();
    let (key, rec) = create_ok(&kv, &opts("a"));
    let changes = Changes {
        name: Some("renamed".into()),
        consumer_name: Some(Some("Acme Inc".into())),
        description: Some(Some("for ci".into())),
        scopes: Some(vec!["GET:/v1/*".into()]),
        meta: Some([("plan".to_owned(), "pro".into())].into_iter().collect()),
        ..Changes::default()
    };
    let u = block_on(update(&kv, &KeyRef::Id(rec.id), &changes, NOW)).unwrap();
    assert_eq!(u.record.scopes, ["GET /v1/*"]);
    assert_eq!(stored(&kv, &key).0, u.record);
    assert_eq!(stored(&kv, &key).1.name, "renamed");
    let bad = Changes {
        consumer_name: Some(Some(" lead".into())),
        ..Changes::default()
    };
    assert_eq!(
        block_on(update(&kv, &KeyRef::Key(key), &bad, NOW)).unwrap_err(),
        invalid(Field::ConsumerName, Problem::Label)
    );
}

#[test]
fn updating_a_revoked_or_unknown_key_is_not_found_and_writes_nothing() {
    let kv = MemoryKv::new();
    let (key, rec) = create_ok(&kv, &opts("a"));
    block_on(revoke(&kv, &KeyRef::Id(rec.id.clone()))).unwrap();
    for r in [KeyRef::Id(rec.id.clone()), KeyRef::Key(key)] {
        for c in [tier(Some("pro")), set_quota(Some(quota(1, "day")))] {
            let e = block_on(update(&kv, &r, &c, NOW)).unwrap_err();
            assert!(matches!(e, LifecycleError::NotFound(_)), "{e:?}");
            assert!(e.to_string().contains("revoked"), "{e}");
        }
    }
    assert!(kv.entries().is_empty(), "nothing was written back");
}

#[test]
fn a_store_failure_on_update_is_reported() {
    let kv = MemoryKv::new();
    let (_, rec) = create_ok(&kv, &opts("a"));
    kv.fail(None, "KV PUT failed: 500");
    let e = block_on(update(&kv, &KeyRef::Id(rec.id), &set_quota(None), NOW)).unwrap_err();
    assert_eq!(e, LifecycleError::from(KvError::new("KV PUT failed: 500")));
}

#[test]
fn rotate_keeps_tier_and_quota() {
    let kv = MemoryKv::new();
    let o = NewKey {
        tier: Some("pro".into()),
        quota: Some(Quota {
            per: QuotaScope::Consumer,
            ..quota(10_000, "month")
        }),
        ..opts("svc")
    };
    let (_, old) = create_ok(&kv, &o);
    let rot = block_on(rotate(&kv, &KeyRef::Id(old.id.clone()), 3600, NOW)).unwrap();
    assert_eq!(rot.new.tier, old.tier);
    assert_eq!(rot.new.quota, old.quota);
    assert_eq!(stored(&kv, &rot.key).0.quota, old.quota);
    assert_eq!(rot.old.tier, old.tier);
    assert_eq!(rot.old.quota, old.quota);
    // Counted per consumer, both keys spend from the same counter.
    let q = old.quota.unwrap();
    assert_eq!(
        q.counter(&old.id, &old.consumer_id),
        q.counter(&rot.new.id, &rot.new.consumer_id)
    );
}

#[test]
fn list_metadata_written_before_tiers_still_parses() {
    let s: Summary = serde_json::from_str(
        r#"{"id":"0123456789ab","name":"n","consumer_id":"c","created_at":1,"expires_at":null,"disabled":false}"#,
    )
    .unwrap();
    assert_eq!(s.tier, None);
}

#[test]
fn each_error_kind_has_its_http_status() {
    let nf = LifecycleError::NotFound(NotFound {
        id: "x".into(),
        by: AskedBy::Id,
    });
    let corrupt = LifecycleError::Corrupt {
        id: "x".into(),
        reason: CorruptRecord::NotJson,
    };
    for (e, status) in [
        (invalid(Field::Name, Problem::Label), 422),
        (nf, 404),
        (Conflict::Repeated { line: 1 }.into(), 409),
        (KvError::new("down").into(), 503),
        (corrupt, 500),
        (LifecycleError::Random("no entropy".into()), 500),
    ] {
        assert_eq!(e.http_status(), status, "{e:?}");
    }
}

#[test]
fn an_invalid_field_is_named_as_the_caller_calls_it() {
    let e = invalid(Field::ConsumerId, Problem::ConsumerId);
    assert_eq!(
        e.to_string(),
        "consumer_id must be 1 to 128 characters from A-Z a-z 0-9 . _ : @ -"
    );
    assert_eq!(
        e.render(|_| "--consumer".into()),
        "--consumer must be 1 to 128 characters from A-Z a-z 0-9 . _ : @ -"
    );
}
