//! The key format (keyformat.rs): generated keys have the published shape and validate, any one
//! changed or swapped character fails the checksum, and only generated keys classify as valid.

use crate::strategies::{any_text, hostile_text, random_part};
use crate::{check, check_reaching};
use keygate_core::credential::{parse_bearer, query_carries_key};
use keygate_core::keyformat::{self, KeyShape, BASE62, KEY_LEN, PREFIX};
use proptest::prelude::*;
use proptest::sample::select;

/// The published shape, `kg_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}`, checked by hand.
fn has_published_shape(k: &str) -> bool {
    let b = k.as_bytes();
    b.len() == KEY_LEN
        && k.starts_with("kg_")
        && b[3..46].iter().all(u8::is_ascii_alphanumeric)
        && b[46] == b'_'
        && b[47..].iter().all(u8::is_ascii_alphanumeric)
}

#[test]
fn generated_keys_always_validate_and_are_accepted_bearer_tokens() {
    check(random_part(), |random| {
        let key = keyformat::assemble(&random);
        prop_assert!(has_published_shape(&key), "{}", key);
        prop_assert_eq!(keyformat::classify(&key), KeyShape::Valid);
        let bearer =
            parse_bearer(format!("Bearer {key}").as_bytes()).map(|k| k.expose().to_owned());
        prop_assert_eq!(bearer, Ok(key.clone()));
        let query = format!("q=1&k={key}");
        prop_assert!(query_carries_key(&query));
        Ok(())
    });
}

#[test]
fn a_changed_or_swapped_character_fails_the_key_checksum() {
    let strategy = (
        random_part(),
        PREFIX.len()..KEY_LEN - 1,
        select(&BASE62[..]),
        any::<bool>(),
    );
    check(strategy, |(random, at, replacement, swap)| {
        let key = keyformat::assemble(&random);
        let mut b = key.clone().into_bytes();
        if swap {
            b.swap(at, at + 1);
        } else {
            b[at] = replacement;
        }
        let changed = String::from_utf8(b).expect("ASCII");
        if changed != key {
            prop_assert_eq!(
                keyformat::classify(&changed),
                KeyShape::BadChecksum,
                "{}",
                changed
            );
        }
        Ok(())
    });
}

#[test]
fn key_classifier_never_panics_and_only_generated_keys_are_valid() {
    let key_like = prop_oneof![
        2 => hostile_text(&["kg_", "_", "a", "Z", "9", "é", "\u{1F600}", "-", " "], 60),
        2 => (random_part(), "[0-9A-Za-z_é-]{0,8}")
            .prop_map(|(r, tail)| format!("{PREFIX}{r}_{tail}")),
        1 => random_part().prop_map(|r| keyformat::assemble(&r)),
        1 => any_text(24),
    ];
    check_reaching("were valid keys", 5, key_like, |k, reached| {
        let shape = keyformat::classify(&k);
        if !k.starts_with(PREFIX) {
            prop_assert_eq!(shape, KeyShape::Foreign);
        } else if shape == KeyShape::Valid {
            reached.hit();
            prop_assert!(has_published_shape(&k));
            prop_assert_eq!(keyformat::assemble(&k[3..46]), k);
        } else {
            prop_assert_eq!(shape, KeyShape::BadChecksum);
        }
        Ok(())
    });
}
