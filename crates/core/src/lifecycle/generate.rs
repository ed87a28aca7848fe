//! New keys from the platform's CSPRNG, natively and on wasm32 (getrandom's `wasm_js` backend,
//! `crypto.getRandomValues` in a Worker).

use super::LifecycleError;
use crate::keyformat;
use crate::secret::ApiKey;

/// A new key: `kg_` + 43 uniformly random base62 characters + `_` + checksum.
pub fn generate_key() -> Result<ApiKey, LifecycleError> {
    generate_with_prefix(keyformat::PREFIX)
}

/// A new key in the checksummed format with `prefix` (`kg_`, or `kgr_` for a root key).
pub fn generate_with_prefix(prefix: &str) -> Result<ApiKey, LifecycleError> {
    key_from_bytes(prefix, |buf| {
        getrandom::fill(buf).map_err(|e| LifecycleError::Random(e.to_string()))
    })
}

/// A key in the checksummed format with `prefix`, its random part drawn from the bytes `fill`
/// writes, 64 at a time: the CSPRNG for a new key, a keyed hash for a derived one (an idempotent
/// create's, [`crate::idempotency::derive_key`]).
pub fn key_from_bytes(
    prefix: &str,
    mut fill: impl FnMut(&mut [u8; 64]) -> Result<(), LifecycleError>,
) -> Result<ApiKey, LifecycleError> {
    let mut random = String::with_capacity(keyformat::RANDOM_LEN);
    let mut buf = [0u8; 64];
    while random.len() < keyformat::RANDOM_LEN {
        fill(&mut buf)?;
        // 248 = 4 × 62: rejecting bytes at or above it keeps every character equally likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if random.len() == keyformat::RANDOM_LEN {
                break;
            }
            random.push(keyformat::BASE62[(b % 62) as usize] as char);
        }
    }
    Ok(ApiKey::new(keyformat::assemble_with(prefix, &random)))
}
