//! Scopes (scope.rs): parsing and matching never panic, parsed scopes re-parse from their own
//! forms, and matching is exactly the documented segment glob.

use crate::strategies::{any_text, glob_reference, hostile_text, SCOPE_PIECES};
use crate::{check, check_reaching};
use keygate_core::scope::Scope;
use proptest::prelude::*;
use proptest::sample::select;

#[test]
fn scope_parser_and_matcher_never_panic_and_parsed_scopes_reparse_from_their_own_forms() {
    let shaped = (
        select(&["GET", "POST", "*", "DELETE", "get", "", " GET", "G*"]),
        select(&[" ", ":", "  ", " : ", " ", ":", "\t"]),
        prop::collection::vec(
            prop_oneof![
                4 => select(&["a", "ab", "*", "**", "%61", "a.b", ""]),
                1 => select(&[".", "..", "x*", "é", "?", ",", " "]),
            ],
            0..5,
        ),
        select(&["", "/", " "]),
    )
        .prop_map(|(m, sep, segs, end)| format!("{m}{sep}/{}{end}", segs.join("/")));
    let strategy = (
        prop_oneof![
            3 => shaped,
            2 => hostile_text(SCOPE_PIECES, 10),
            1 => any_text(24),
        ],
        hostile_text(SCOPE_PIECES, 8),
        select(&["GET", "POST", "get", ""]),
    );
    check_reaching("parsed", 5, strategy, |(text, path, method), reached| {
        let Ok(scope) = Scope::parse(&text) else {
            return Ok(());
        };
        reached.hit();
        // A trailing `/` on the path changes nothing ("/v1/items/" is "/v1/items").
        let slash = format!("{path}/");
        prop_assert_eq!(scope.allows(method, &path), scope.allows(method, &slash));
        prop_assert_eq!(Scope::parse(&scope.canonical()), Ok(scope.clone()));
        prop_assert_eq!(Scope::parse(&scope.token()), Ok(scope.clone()));
        Ok(())
    });
}

#[test]
fn scope_matches_exactly_the_documented_segment_glob() {
    let segment = || select(&["a", "ab", "b", "A", "%61", "*", "**"]);
    let strategy = (
        select(&["*", "GET", "POST"]),
        prop::collection::vec(segment(), 0..6),
        any::<bool>(),
        select(&["GET", "POST", "DELETE"]),
        prop::collection::vec(select(&["a", "ab", "b", "A", "%61", "*", ""]), 0..8),
        any::<bool>(),
    );
    check(
        strategy,
        |(scope_method, pattern, slash, method, path, trailing)| {
            let text = format!(
                "{scope_method} /{}{}",
                pattern.join("/"),
                if slash { "/" } else { "" }
            );
            let scope = Scope::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{text:?} refused: {e:?}")))?;
            let path_text = format!("/{}{}", path.join("/"), if trailing { "/" } else { "" });
            let segments: Vec<&str> = path.iter().copied().filter(|s| !s.is_empty()).collect();
            let want = (scope_method == "*" || scope_method == method)
                && glob_reference(&pattern, &segments);
            prop_assert_eq!(
                scope.allows(method, &path_text),
                want,
                "{} on {}",
                text,
                path_text
            );
            Ok(())
        },
    );
}

#[test]
fn literal_scope_never_matches_a_path_outside_its_prefix() {
    let segs = || prop::collection::vec(select(&["a", "ab", "b", "ba", "%61", "A"]), 1..4);
    check(
        (
            segs(),
            prop::collection::vec(select(&["a", "ab", "b", "ba", "%61", "A"]), 0..6),
        ),
        |(prefix, path)| {
            let exact = Scope::parse(&format!("GET /{}", prefix.join("/"))).expect("literal");
            let under = Scope::parse(&format!("GET /{}/**", prefix.join("/"))).expect("prefix");
            let path_text = format!("/{}", path.join("/"));
            prop_assert_eq!(exact.allows("GET", &path_text), path == prefix);
            prop_assert_eq!(under.allows("GET", &path_text), path.starts_with(&prefix));
            Ok(())
        },
    );
}
