//! The self-checking key format, `kg_<43 base62 random>_<6 base62 CRC-32>`, checkable offline,
//! and the same format with the prefix `kgr_` for root keys (the management API's credentials).
//!
//! Published for secret scanners: `kg_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}` and
//! `kgr_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}`. The checksum is the CRC-32 (IEEE) of everything before
//! the last `_` (the prefix and the random part), written as a 6-digit big-endian base62 number
//! with the alphabet `0-9 A-Z a-z`.

pub const PREFIX: &str = "kg_";
/// The prefix of root keys. It is not `kg_` followed by anything, so no root key classifies as
/// an API key of ours, nor the other way round.
pub const ROOT_PREFIX: &str = "kgr_";
/// 43 base62 characters carry 43 × log2(62) ≈ 256.03 bits.
pub const RANDOM_LEN: usize = 43;
pub const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_LEN + 1 + CHECKSUM_LEN;
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The regular expression the README and `.gitleaks.toml` publish.
pub const KEY_REGEX: &str = r"kg_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}";
/// The regular expression `.gitleaks.toml` publishes for root keys.
pub const ROOT_KEY_REGEX: &str = r"kgr_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}";

/// What a presented key looks like before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyShape {
    /// Our format with a valid checksum: worth a lookup.
    Valid,
    /// Carries our prefix but is not our format or fails its checksum: refused without a lookup.
    BadChecksum,
    /// Not our prefix (an imported key): looked up as it is.
    Foreign,
}

/// The base62 CRC-32 checksum of `body` (the key up to its last `_`).
pub fn checksum(body: &str) -> [u8; CHECKSUM_LEN] {
    const CRC32: crc::Crc<u32, crc::Table<1>> =
        crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISO_HDLC);
    let mut n = CRC32.checksum(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Builds a key from 43 base62 random characters.
pub fn assemble(random: &str) -> String {
    assemble_with(PREFIX, random)
}

/// Builds a key with `prefix` ([`PREFIX`] or [`ROOT_PREFIX`]) from 43 base62 random characters.
pub fn assemble_with(prefix: &str, random: &str) -> String {
    debug_assert_eq!(random.len(), RANDOM_LEN);
    let mut key = String::with_capacity(prefix.len() + RANDOM_LEN + 1 + CHECKSUM_LEN);
    key.push_str(prefix);
    key.push_str(random);
    let sum = checksum(&key);
    key.push('_');
    key.push_str(std::str::from_utf8(&sum).expect("base62 is ASCII"));
    key
}

/// Classifies a presented key. Constant work: no allocation, one CRC over 46 bytes.
pub fn classify(key: &str) -> KeyShape {
    classify_with(PREFIX, key)
}

/// Classifies a presented key against the format with `prefix` ([`PREFIX`] or [`ROOT_PREFIX`]).
pub fn classify_with(prefix: &str, key: &str) -> KeyShape {
    if !key.starts_with(prefix) {
        return KeyShape::Foreign;
    }
    let b = key.as_bytes();
    let body_len = prefix.len() + RANDOM_LEN;
    let well_formed = b.len() == body_len + 1 + CHECKSUM_LEN
        && b[body_len] == b'_'
        && b[prefix.len()..body_len]
            .iter()
            .all(u8::is_ascii_alphanumeric)
        && b[body_len + 1..].iter().all(u8::is_ascii_alphanumeric);
    if well_formed && checksum(&key[..body_len]) == b[body_len + 1..] {
        KeyShape::Valid
    } else {
        KeyShape::BadChecksum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANDOM: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg";

    #[test]
    fn assembled_key_has_the_published_shape_and_checks() {
        let k = assemble(RANDOM);
        assert_eq!(k.len(), KEY_LEN);
        assert!(k.starts_with("kg_0123"));
        assert_eq!(classify(&k), KeyShape::Valid);
    }

    #[test]
    fn checksum_is_crc32_in_six_base62_digits() {
        // crc32("123456789") = 0xCBF43926, the standard check value, = 3421780262 in base62.
        assert_eq!(&checksum("123456789"), b"3jZRME");
        assert_eq!(&checksum(""), b"000000");
    }

    #[test]
    fn any_single_character_change_fails_the_checksum() {
        let k = assemble(RANDOM);
        for i in PREFIX.len()..k.len() {
            if k.as_bytes()[i] == b'_' {
                continue;
            }
            let mut m = k.clone().into_bytes();
            m[i] = if m[i] == b'x' { b'y' } else { b'x' };
            let m = String::from_utf8(m).unwrap();
            assert_eq!(classify(&m), KeyShape::BadChecksum, "position {i}");
        }
    }

    #[test]
    fn prefixed_keys_of_the_wrong_shape_are_bad_not_foreign() {
        for k in [
            "kg_",
            "kg_short",
            &format!("{}x", assemble(RANDOM)),
            &assemble(RANDOM).replace('_', "-"),
        ] {
            let want = if k.starts_with("kg_") {
                KeyShape::BadChecksum
            } else {
                KeyShape::Foreign
            };
            assert_eq!(classify(k), want, "{k}");
        }
    }

    #[test]
    fn root_keys_have_their_own_prefix_and_check_the_same_way() {
        let root = assemble_with(ROOT_PREFIX, RANDOM);
        assert!(root.starts_with("kgr_0123"));
        assert_eq!(root.len(), KEY_LEN + 1);
        assert_eq!(classify_with(ROOT_PREFIX, &root), KeyShape::Valid);
        // Neither format passes for the other.
        assert_eq!(classify(&root), KeyShape::Foreign);
        assert_eq!(
            classify_with(ROOT_PREFIX, &assemble(RANDOM)),
            KeyShape::Foreign
        );
        let mut bad = root.into_bytes();
        bad[10] = if bad[10] == b'x' { b'y' } else { b'x' };
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(classify_with(ROOT_PREFIX, &bad), KeyShape::BadChecksum);
    }

    #[test]
    fn keys_without_our_prefix_are_foreign() {
        for k in ["sk_live_abc", "legacy-key-123", "KG_abc"] {
            assert_eq!(classify(k), KeyShape::Foreign);
        }
    }
}
