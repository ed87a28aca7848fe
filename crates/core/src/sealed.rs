//! Sealed tokens: values the gateway hands out and must get back unread and unchanged, such as the
//! management API's list cursors, which carry KV's own list cursor (KV may encode the last name
//! listed in it, and names are full key hashes). ChaCha20-Poly1305 under a key derived from
//! `SHARED_SECRET` for one purpose; a token made under another secret or purpose, or changed in
//! any way, does not open.

use crate::secret::SharedSecret;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Seals and opens tokens for one purpose.
pub struct Sealer(ChaCha20Poly1305);

impl Sealer {
    /// The sealer for `purpose` (e.g. `"list cursor v1"`): its key is
    /// HMAC-SHA256(`SHARED_SECRET`, `"keygate sealed token: " ‖ purpose`).
    pub fn new(secret: &SharedSecret, purpose: &str) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"keygate sealed token: ");
        mac.update(purpose.as_bytes());
        let key = mac.finalize().into_bytes();
        Self(ChaCha20Poly1305::new(Key::from_slice(&key)))
    }

    /// `plain`, encrypted and authenticated under a fresh random nonce, in lowercase hex. `None`
    /// only when the platform's random generator fails.
    pub fn seal(&self, plain: &[u8]) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).ok()?;
        let sealed = self.0.encrypt(Nonce::from_slice(&nonce), plain).ok()?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(hex::encode(out))
    }

    /// What [`Sealer::seal`] sealed; `None` for anything else.
    pub fn open(&self, token: &str) -> Option<Vec<u8>> {
        let bytes = hex::decode(token).ok()?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        self.0.decrypt(Nonce::from_slice(nonce), sealed).ok()
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SharedSecret {
        SharedSecret::new(s.to_owned())
    }

    #[test]
    fn a_sealed_token_opens_to_what_was_sealed_and_hides_it() {
        let s = Sealer::new(&secret("0123456789abcdef0123"), "list cursor v1");
        let plain = b"cursor-naming-4e93e9dbf6510c2a";
        let token = s.seal(plain).unwrap();
        assert_eq!(s.open(&token).as_deref(), Some(&plain[..]));
        let unhexed = hex::decode(&token).unwrap();
        assert!(!unhexed.windows(plain.len()).any(|w| w == plain));
        assert!(!token.contains("4e93e9dbf651"));
        // A fresh nonce each time: the same value never gives the same token.
        assert_ne!(s.seal(plain).unwrap(), token);
    }

    #[test]
    fn a_changed_foreign_or_malformed_token_does_not_open() {
        let s = Sealer::new(&secret("0123456789abcdef0123"), "list cursor v1");
        let token = s.seal(b"x").unwrap();
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(s.open(&String::from_utf8(flipped).unwrap()), None);
        let other_secret = Sealer::new(&secret("another-secret-0123456"), "list cursor v1");
        assert_eq!(other_secret.open(&token), None);
        let other_purpose = Sealer::new(&secret("0123456789abcdef0123"), "audit cursor v1");
        assert_eq!(other_purpose.open(&token), None);
        for bad in ["", "zz", "00", &"0".repeat(56), &token[..token.len() - 2]] {
            assert_eq!(s.open(bad), None, "{bad}");
        }
        assert_eq!(format!("{s:?}"), "Sealer(<redacted>)");
    }
}
