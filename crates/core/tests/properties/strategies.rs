//! What more than one subject uses: generators built from hostile fragments, key bodies and
//! scope fragments, and two readings restated from the specs (OWS trimming, the scope glob).

use keygate_core::keyformat::{BASE62, RANDOM_LEN};
use proptest::prelude::*;
use proptest::sample::select;

/// Concatenates 0..`max` pieces, each a listed fragment or (less often) 1-3 arbitrary bytes.
pub fn hostile_bytes(pieces: &'static [&'static str], max: usize) -> BoxedStrategy<Vec<u8>> {
    let piece = prop_oneof![
        4 => select(pieces).prop_map(|p| p.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(piece, 0..max)
        .prop_map(|ps| ps.concat())
        .boxed()
}

/// Like [`hostile_bytes`], as text: arbitrary characters instead of arbitrary bytes.
pub fn hostile_text(pieces: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
    let piece = prop_oneof![
        4 => select(pieces).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..max)
        .prop_map(|ps| ps.concat())
        .boxed()
}

/// Concatenates 0..`max` listed fragments.
pub fn pieces(list: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(select(list), 0..max)
        .prop_map(|ps| ps.concat())
        .boxed()
}

/// Any text up to `max` characters, control characters and astral planes included (cheaper to
/// generate than `any::<String>()`).
pub fn any_text(max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(any::<char>(), 0..max)
        .prop_map(String::from_iter)
        .boxed()
}

/// Fragments of scope texts and of the paths they are matched against.
pub const SCOPE_PIECES: &[&str] = &[
    "GET", "POST", "*", "**", "get", " ", ":", "/", "//", "a", "ab", "b", ".", "..", "%61", "?",
    "#", ",", "\"", "\\", "é", "\t", "x*",
];

/// The random part of a key in our format: [`RANDOM_LEN`] base62 characters.
pub fn random_part() -> impl Strategy<Value = String> {
    prop::collection::vec(select(&BASE62[..]), RANDOM_LEN)
        .prop_map(|v| String::from_utf8(v).expect("base62 is ASCII"))
}

// Readings restated from the specs, independently of the code under test.

/// The bytes with surrounding spaces and tabs (RFC 9110 OWS) removed.
pub fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The documented scope matching, by plain backtracking: `*` is one segment, `**` any number.
pub fn glob_reference(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|k| glob_reference(rest, &path[k..])),
        Some((&"*", rest)) => !path.is_empty() && glob_reference(rest, &path[1..]),
        Some((lit, rest)) => path.first() == Some(lit) && glob_reference(rest, &path[1..]),
    }
}
