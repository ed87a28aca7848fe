//! The v1 request signature: its canonical string, the `X-Keygate-Signature` value the gateway
//! sends, and the strict parser of that value.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature (lower case, as `http` names headers).
pub const SIGNATURE_HEADER: &str = "x-keygate-signature";

/// The first field of every v1 canonical string.
pub const SIGNATURE_VERSION: &str = "keygate-v1";

/// HMAC-SHA256, the v1 MAC.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The v1 canonical string: `keygate-v1`, `t`, the method, the request target (path and query
/// exactly as on the request line), the `X-Consumer-Id` value and the `X-Key-Id` value, joined
/// with `\n`, no trailing newline. Pass `""` for a header that is absent.
///
/// ```
/// let s = keygate_verify::canonical_string(
///     1798502400, "POST", "/base/v1/orders?limit=10&cursor=abc", "acme", "4e93e9dbf651");
/// assert_eq!(s, "keygate-v1\n1798502400\nPOST\n/base/v1/orders?limit=10&cursor=abc\nacme\n4e93e9dbf651");
/// ```
pub fn canonical_string(
    t: u64,
    method: &str,
    target: &str,
    consumer_id: &str,
    key_id: &str,
) -> String {
    let t = t.to_string();
    let bytes = canonical_bytes(
        t.as_bytes(),
        method.as_bytes(),
        target.as_bytes(),
        consumer_id.as_bytes(),
        key_id.as_bytes(),
    );
    String::from_utf8(bytes).expect("joined from str parts")
}

/// The `X-Keygate-Signature` value for a request: `t=<t>,v1=<64 lowercase hex>`, where v1 is
/// HMAC-SHA256 of [`canonical_string`] keyed with the shared secret's bytes. This is what the
/// gateway sends; a client of the origin (or a test) can compute the same.
///
/// ```
/// let v = keygate_verify::signature_header_value(
///     b"keygate-test-vector-secret",
///     1798502400, "POST", "/base/v1/orders?limit=10&cursor=abc", "acme", "4e93e9dbf651");
/// assert_eq!(v, "t=1798502400,v1=8832bb8c123588d0d13980fe2f7031141cbc67445e293a2d08dad929d154cb14");
/// ```
pub fn signature_header_value(
    secret: &[u8],
    t: u64,
    method: &str,
    target: &str,
    consumer_id: &str,
    key_id: &str,
) -> String {
    let mut mac = keyed(secret);
    mac.update(canonical_string(t, method, target, consumer_id, key_id).as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// An HMAC-SHA256 instance keyed with `secret` (any length is a valid HMAC key).
pub(crate) fn keyed(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length")
}

/// The canonical string from raw parts (header values need not be UTF-8).
pub(crate) fn canonical_bytes(
    t: &[u8],
    method: &[u8],
    target: &[u8],
    consumer_id: &[u8],
    key_id: &[u8],
) -> Vec<u8> {
    let parts: [&[u8]; 6] = [
        SIGNATURE_VERSION.as_bytes(),
        t,
        method,
        target,
        consumer_id,
        key_id,
    ];
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(part);
    }
    out
}

/// A signature header value, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    /// The decimal digits of `t`, exactly as sent (they go into the canonical string).
    pub t_digits: &'a [u8],
    pub t: u64,
    pub mac: [u8; 32],
}

/// Parses `t=<ASCII digits>,v1=<64 lowercase hex>` and nothing else: no spaces, no other
/// fields, no upper-case hex, no sign, and a `t` that fits in a u64.
pub(crate) fn parse(value: &[u8]) -> Option<Parsed<'_>> {
    let rest = value.strip_prefix(b"t=")?;
    let comma = rest.iter().position(|&b| b == b',')?;
    let (t_digits, rest) = rest.split_at(comma);
    let hex_part = rest.strip_prefix(b",v1=")?;
    if t_digits.is_empty() || !t_digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let t = std::str::from_utf8(t_digits).ok()?.parse::<u64>().ok()?;
    if hex_part.len() != 64
        || !hex_part
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    let mut mac = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut mac).ok()?;
    Some(Parsed { t_digits, t, mac })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_MAC: &str = "8832bb8c123588d0d13980fe2f7031141cbc67445e293a2d08dad929d154cb14";

    #[test]
    fn test_vector_canonical_string_and_signature_match_the_spec() {
        let canonical = canonical_string(
            1798502400,
            "POST",
            "/base/v1/orders?limit=10&cursor=abc",
            "acme",
            "4e93e9dbf651",
        );
        assert_eq!(
            canonical,
            "keygate-v1\n1798502400\nPOST\n/base/v1/orders?limit=10&cursor=abc\nacme\n4e93e9dbf651"
        );
        let value = signature_header_value(
            b"keygate-test-vector-secret",
            1798502400,
            "POST",
            "/base/v1/orders?limit=10&cursor=abc",
            "acme",
            "4e93e9dbf651",
        );
        assert_eq!(value, format!("t=1798502400,v1={VECTOR_MAC}"));
    }

    #[test]
    fn absent_identity_headers_are_empty_fields_and_no_query_has_no_question_mark() {
        assert_eq!(
            canonical_string(5, "GET", "/hello", "", ""),
            "keygate-v1\n5\nGET\n/hello\n\n"
        );
    }

    #[test]
    fn the_test_vector_header_parses() {
        let value = format!("t=1798502400,v1={VECTOR_MAC}");
        let p = parse(value.as_bytes()).expect("parses");
        assert_eq!(p.t, 1798502400);
        assert_eq!(p.t_digits, b"1798502400");
        assert_eq!(hex::encode(p.mac), VECTOR_MAC);
    }

    #[test]
    fn anything_but_the_exact_grammar_does_not_parse() {
        let good = format!("t=1798502400,v1={VECTOR_MAC}");
        assert!(parse(good.as_bytes()).is_some());
        let upper = VECTOR_MAC.to_ascii_uppercase();
        let bad = [
            String::new(),
            format!("t=,v1={VECTOR_MAC}"),
            format!("t=+1798502400,v1={VECTOR_MAC}"),
            format!("t=-1,v1={VECTOR_MAC}"),
            format!("t=17985024x0,v1={VECTOR_MAC}"),
            format!("t=99999999999999999999999,v1={VECTOR_MAC}"),
            format!("t=1798502400,v1={upper}"),
            format!("t=1798502400,v1={}", &VECTOR_MAC[..63]),
            format!("t=1798502400,v1={VECTOR_MAC}0"),
            format!("t=1798502400,v1={}g", &VECTOR_MAC[..63]),
            format!("t=1798502400, v1={VECTOR_MAC}"),
            format!(" t=1798502400,v1={VECTOR_MAC}"),
            format!("t=1798502400,v1={VECTOR_MAC} "),
            format!("t=1798502400,v1={VECTOR_MAC},v2=00"),
            format!("v1={VECTOR_MAC},t=1798502400"),
            format!("t=1798502400,v0={VECTOR_MAC}"),
            format!("t=1798502400;v1={VECTOR_MAC}"),
            format!("T=1798502400,v1={VECTOR_MAC}"),
            format!("t=1798502400,v1={VECTOR_MAC}\n"),
            format!("t=١٧٩٨,v1={VECTOR_MAC}"),
        ];
        for value in bad {
            assert!(parse(value.as_bytes()).is_none(), "parsed {value:?}");
        }
    }
}
