//! Header fields as the edge carries them across the wasm boundary: the runtime's fields read
//! from `name\nvalue\n` lines into a `HeaderMap` (with the names that could not be read), and
//! what core changed in them written back as edits, so the edge changes a copy of the runtime's
//! own fields instead of building every one of them again; or, when that would take as many
//! calls, every field of core's map, built anew.
//!
//! Either way the runtime ends up with the fields of the map core built. As edits, a field core
//! kept stays as the runtime holds it (its spelling, order and separate lines), and one it
//! changed or added is appended. Every field core could not read is deleted, so nothing core did
//! not see is sent on.

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

/// Header fields read from lines: the map core works on, and the names of the fields left out of
/// it (a name or value the `http` crate refuses, or a value holding U+FFFD). A request's unread
/// credential fields are in the map as stand-ins as well ([`stand_in_credentials`]).
#[derive(Debug, Default, Clone)]
pub struct Fields {
    pub map: HeaderMap,
    pub unread: Vec<String>,
}

impl Fields {
    /// Whether a field named `name` was left unread, in any letter case.
    fn is_unread(&self, name: &HeaderName) -> bool {
        self.unread
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name.as_str()))
    }
}

/// Reads `name\nvalue\n` lines, as the runtime iterates its fields. The runtime holds a value as
/// text decoded from UTF-8 and encodes it back the same way, so a value is read as the bytes of
/// its UTF-8 text, the bytes that were on the wire (and [`lines`] and [`edits`] write it back as
/// that text). A value the `http` crate refuses is unread, and so is one holding U+FFFD: it is
/// how a decoder stands in for bytes that are not UTF-8, so the text is not what was sent.
/// A request's credential fields then get stand-ins ([`stand_in_credentials`]).
pub fn read(lines: &str) -> Fields {
    let mut fields = Fields::default();
    let mut parts = lines.split('\n');
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            fields.unread.push(name.to_owned());
            continue;
        };
        let as_sent = !value.contains(char::REPLACEMENT_CHARACTER);
        if let Some(v) = HeaderValue::from_bytes(value.as_bytes())
            .ok()
            .filter(|_| as_sent)
        {
            fields.map.append(header, v);
            continue;
        }
        fields.unread.push(name.to_owned());
    }
    fields
}

/// Gives each credential field of a request that could not be read a stand-in, so that it counts
/// as a malformed credential, never as none: a value with a byte that is not ASCII, which the
/// credential parser refuses with 400. `Authorization` gets one always (core never sends it on),
/// and `X-API-Key` when it is a key source (`api_key_header`: core then never sends it on either).
/// Where `X-API-Key` is not a key source it is an ordinary field, and an unread one is deleted
/// like any other, since a stand-in there would reach the origin. The names stay unread, so the
/// originals are deleted whatever core does with the stand-ins.
pub fn stand_in_credentials(fields: &mut Fields, api_key_header: bool) {
    if fields.is_unread(&AUTHORIZATION) {
        let stand_in = HeaderValue::from_bytes(b"Bearer \x80").expect("obs-text is a value");
        fields.map.append(AUTHORIZATION, stand_in);
    }
    if api_key_header && fields.is_unread(&X_API_KEY) {
        let stand_in = HeaderValue::from_bytes(b"\x80").expect("obs-text is a value");
        fields.map.append(X_API_KEY, stand_in);
    }
}

/// The `X-API-Key` field, a key source with `KEY_SOURCES=authorization,x-api-key`.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// `name\nvalue\n` lines of `map`, values as UTF-8 text: fields built whole, for an answer of
/// keygate's own, and for [`edits`] sent whole.
pub fn lines(map: &HeaderMap) -> String {
    let mut out = String::with_capacity(map.len() * 32);
    for (name, value) in map {
        push_field(&mut out, name, value);
    }
    out
}

/// The edits that turn the fields `before` was read from into `after`, as lines: the count of
/// names to delete, those names, then `name\nvalue\n` fields to append. A name whose values
/// changed is deleted and all of its new values appended; a name core left as it was is not
/// named at all; every unread name is deleted.
///
/// When that would take the runtime at least as many calls as building every field of `after`
/// anew (most fields changed), the edits are `*` and then all of `after`'s fields instead: the
/// runtime starts from no fields at all.
pub fn edits(before: &Fields, after: &HeaderMap) -> String {
    let unread = |name: &HeaderName| before.is_unread(name);
    let differs = |name: &HeaderName| !before.map.get_all(name).iter().eq(after.get_all(name));
    let mut deletes: Vec<&str> = before.unread.iter().map(String::as_str).collect();
    deletes.extend(
        before
            .map
            .keys()
            .filter(|n| differs(n) && !unread(n))
            .map(HeaderName::as_str),
    );
    let appended: Vec<&HeaderName> = after.keys().filter(|n| unread(n) || differs(n)).collect();
    let appends: usize = appended
        .iter()
        .map(|n| after.get_all(*n).iter().count())
        .sum();
    if deletes.len() + appends >= after.len() {
        return format!("*\n{}", lines(after));
    }
    let mut out = String::with_capacity(16 + appends * 32);
    out.push_str(&deletes.len().to_string());
    out.push('\n');
    for name in &deletes {
        out.push_str(name);
        out.push('\n');
    }
    for name in appended {
        for value in after.get_all(name) {
            push_field(&mut out, name, value);
        }
    }
    out
}

/// `fields` (name, value pairs, values as text) changed by `edits` the way
/// `glue.js`'s `edited` changes the runtime's `Headers`: the tests' statement of what an edit
/// means, against which [`edits`] is checked.
#[doc(hidden)]
pub fn apply(fields: &[(String, String)], edits: &str) -> Vec<(String, String)> {
    let mut out = fields.to_vec();
    let mut parts = edits.split('\n');
    match parts.next() {
        Some("*") => out.clear(),
        count => {
            let deletes: usize = count.and_then(|n| n.parse().ok()).unwrap_or(0);
            for name in parts.by_ref().take(deletes) {
                out.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            }
        }
    }
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        out.push((name.to_owned(), value.to_owned()));
    }
    out
}

/// One field as lines. A value that is not UTF-8 (every value read is; only the stand-ins of
/// [`stand_in_credentials`] are not, and core never sends those fields on) goes with U+FFFD
/// for each byte that is not, never as other text that could mean something.
fn push_field(out: &mut String, name: &HeaderName, value: &HeaderValue) {
    out.push_str(name.as_str());
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(value.as_bytes()));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_lines(fields: &[(&str, &str)]) -> String {
        fields.iter().map(|(n, v)| format!("{n}\n{v}\n")).collect()
    }

    fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
        v.sort();
        v
    }

    fn of_map(map: &HeaderMap) -> Vec<(String, String)> {
        map.iter()
            .map(|(n, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_owned(), v)
            })
            .collect()
    }

    #[test]
    fn unchanged_fields_make_no_edits() {
        let fields = [("accept", "*/*"), ("x-a", "1"), ("set-cookie", "a=1")];
        let read = read(&as_lines(&fields));
        assert_eq!(edits(&read, &read.map.clone()), "0\n");
    }

    #[test]
    fn fields_most_of_which_changed_are_sent_whole() {
        let fields = [("a", "1"), ("b", "2"), ("c", "3")];
        let read = read(&as_lines(&fields));
        let mut after = HeaderMap::new();
        after.insert("d", HeaderValue::from_static("4"));
        after.insert("c", HeaderValue::from_static("3"));
        let edits = edits(&read, &after);
        assert_eq!(edits, "*\nd\n4\nc\n3\n");
        assert_eq!(
            apply(&owned(&fields), &edits),
            owned(&[("d", "4"), ("c", "3")])
        );
    }

    #[test]
    fn applied_edits_give_exactly_the_map_core_built() {
        let fields = [
            ("accept", "*/*"),
            ("authorization", "Bearer abc"),
            ("x-a", "1"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("x-text", "caf\u{e9} \u{20ac}"),
        ];
        let read = read(&as_lines(&fields));
        let mut after = read.map.clone();
        after.remove("authorization");
        after.insert("x-a", HeaderValue::from_static("2"));
        after.append("set-cookie", HeaderValue::from_static("c=3"));
        after.insert("x-new", HeaderValue::from_static("n"));
        let got = apply(&owned(&fields), &edits(&read, &after));
        assert_eq!(sorted(got), sorted(of_map(&after)));
    }

    #[test]
    fn a_field_core_could_not_read_is_deleted_even_when_core_changed_nothing() {
        let fields = [("x-ok", "1"), ("x-ctl", "a\u{1}b"), ("bad name", "v")];
        let read = read(&as_lines(&fields));
        assert_eq!(read.unread, ["x-ctl", "bad name"]);
        let got = apply(&owned(&fields), &edits(&read, &read.map.clone()));
        assert_eq!(got, [("x-ok".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn an_unread_name_core_sets_itself_is_deleted_then_set() {
        let fields = [("x-request-id", "a\u{1}b")];
        let read = read(&as_lines(&fields));
        let mut after = read.map.clone();
        after.insert("x-request-id", HeaderValue::from_static("gw"));
        let got = apply(&owned(&fields), &edits(&read, &after));
        assert_eq!(got, [("x-request-id".to_owned(), "gw".to_owned())]);
    }

    /// A request's fields read as the edge reads them, with `X-API-Key` a key source or not.
    fn read_request(lines: &str, api_key_header: bool) -> Fields {
        let mut fields = read(lines);
        stand_in_credentials(&mut fields, api_key_header);
        fields
    }

    #[test]
    fn an_unreadable_credential_is_a_malformed_one_and_never_kept() {
        let fields = [("authorization", "Bearer \u{1}abc")];
        let read = read_request(&as_lines(&fields), false);
        assert_eq!(read.map["authorization"].as_bytes(), b"Bearer \x80");
        // Even were the stand-in sent on unchanged, the original value is deleted.
        let edits = edits(&read, &read.map.clone());
        let got = apply(&owned(&fields), &edits);
        assert_eq!(
            got,
            [("authorization".to_owned(), "Bearer \u{fffd}".to_owned())]
        );
    }

    #[test]
    fn an_unreadable_x_api_key_gets_a_stand_in_only_where_it_is_a_key_source() {
        let fields = [("x-api-key", "kg_\u{1}abc"), ("x-a", "1")];
        let source = read_request(&as_lines(&fields), true);
        assert_eq!(source.map["x-api-key"].as_bytes(), b"\x80");
        assert_eq!(source.unread, ["x-api-key"]);
        // Not a key source: an ordinary field, unread and so deleted, with nothing in its place.
        let plain = read_request(&as_lines(&fields), false);
        assert!(plain.map.get("x-api-key").is_none());
        let got = apply(&owned(&fields), &edits(&plain, &plain.map.clone()));
        assert_eq!(got, owned(&[("x-a", "1")]));
        // A readable one is never touched.
        let fine = read_request("x-api-key\nkg_abc\n", true);
        assert_eq!(fine.map["x-api-key"], "kg_abc");
        assert_eq!(fine.map.len(), 1);
    }

    #[test]
    fn an_unreadable_authorization_in_an_answer_is_deleted_with_no_stand_in() {
        let fields = [("authorization", "Bearer \u{1}abc"), ("x-a", "1")];
        let read = read(&as_lines(&fields));
        assert!(read.map.get("authorization").is_none());
        let got = apply(&owned(&fields), &edits(&read, &read.map.clone()));
        assert_eq!(got, owned(&[("x-a", "1")]));
    }

    #[test]
    fn utf8_values_round_trip_byte_for_byte() {
        let text = "Jos\u{e9} \u{20ac} \u{5c71}\u{7530}";
        let read = read(&format!("x-v\n{text}\n"));
        assert!(read.unread.is_empty());
        assert_eq!(read.map["x-v"].as_bytes(), text.as_bytes());
        assert_eq!(lines(&read.map), format!("x-v\n{text}\n"));
    }

    #[test]
    fn a_value_the_runtime_decoded_with_a_stand_in_is_unread() {
        let fields = [("x-v", "caf\u{fffd}"), ("x-w", "ok")];
        let read = read(&as_lines(&fields));
        assert_eq!(read.unread, ["x-v"]);
        assert!(read.map.get("x-v").is_none());
        let got = apply(&owned(&fields), &edits(&read, &read.map.clone()));
        assert_eq!(got, owned(&[("x-w", "ok")]));
    }

    #[test]
    fn a_value_that_is_not_utf8_is_written_with_stand_ins_for_its_bad_bytes() {
        let mut map = HeaderMap::new();
        map.insert("x-v", HeaderValue::from_bytes(b"a\xe9b").unwrap());
        assert_eq!(lines(&map), "x-v\na\u{fffd}b\n");
    }
}
