//! Signed requests (`SIGNING=hmac`): the `X-Keygate-Signature` header that binds the forwarded
//! method, target and identity headers to the gateway and to a moment, and its canonical string.
//!
//! `X-Keygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, keyed with the shared secret,
//! over the canonical string: `keygate-v1`, t, method, path and query as forwarded, consumer id,
//! key id, joined with `\n`. Origins verify it within a clock window (README, "Origin
//! integration"); bodies are not covered, because they stream.

use crate::secret::SharedSecret;
use hmac::{Hmac, Mac};
use http::HeaderName;
use sha2::Sha256;

pub const X_KEYGATE_SIGNATURE: HeaderName = HeaderName::from_static("x-keygate-signature");

/// `SIGNING`: what the origin gets to prove a request came through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signing {
    /// The static secret header only (the default).
    #[default]
    Off,
    /// The signature beside the static secret header (for migrating origins).
    Hmac,
    /// The signature alone: the static secret never travels.
    HmacOnly,
}

impl Signing {
    /// Parses the `SIGNING` var: unset, empty or `off`; `hmac`; `hmac-only`.
    pub fn parse(v: Option<&str>) -> Option<Self> {
        match v.map(str::trim) {
            None | Some("") | Some("off") => Some(Signing::Off),
            Some("hmac") => Some(Signing::Hmac),
            Some("hmac-only") => Some(Signing::HmacOnly),
            Some(_) => None,
        }
    }

    pub fn signs(self) -> bool {
        self != Signing::Off
    }

    pub fn sends_static_secret(self) -> bool {
        self != Signing::HmacOnly
    }
}

/// What a signature covers, each as the origin receives it.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// Unix seconds.
    pub t: u64,
    pub method: &'a str,
    /// Path and query as on the upstream request line (`/base/v1/x?a=1`).
    pub path_and_query: &'a str,
    /// `X-Consumer-Id`, or empty when the request has none.
    pub consumer_id: &'a str,
    /// `X-Key-Id`, or empty when the request has none.
    pub key_id: &'a str,
}

impl Signed<'_> {
    /// The canonical string: six fields joined with `\n`, no trailing newline.
    pub fn canonical(&self) -> String {
        format!(
            "keygate-v1\n{}\n{}\n{}\n{}\n{}",
            self.t, self.method, self.path_and_query, self.consumer_id, self.key_id
        )
    }

    /// The `X-Keygate-Signature` value under `secret`.
    pub fn header_value(&self, secret: &SharedSecret) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(self.canonical().as_bytes());
        format!(
            "t={},v1={}",
            self.t,
            hex::encode(mac.finalize().into_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's test vector; the Rust and Python verifiers check the same one.
    #[test]
    fn test_vector_signs_to_the_published_value() {
        let signed = Signed {
            t: 1_798_502_400,
            method: "POST",
            path_and_query: "/base/v1/orders?limit=10&cursor=abc",
            consumer_id: "acme",
            key_id: "4e93e9dbf651",
        };
        assert_eq!(
            signed.canonical(),
            "keygate-v1\n1798502400\nPOST\n/base/v1/orders?limit=10&cursor=abc\nacme\n4e93e9dbf651"
        );
        let secret = SharedSecret::new("keygate-test-vector-secret".into());
        assert_eq!(
            signed.header_value(&secret),
            "t=1798502400,v1=8832bb8c123588d0d13980fe2f7031141cbc67445e293a2d08dad929d154cb14"
        );
    }

    #[test]
    fn every_signed_field_changes_the_signature() {
        let secret = SharedSecret::new("keygate-test-vector-secret".into());
        let base = Signed {
            t: 1_798_502_400,
            method: "GET",
            path_and_query: "/a?b=c",
            consumer_id: "acme",
            key_id: "4e93e9dbf651",
        };
        let sig = |s: Signed<'_>| s.header_value(&secret)[24..].to_owned();
        let variants = [
            Signed {
                t: base.t + 1,
                ..base
            },
            Signed {
                method: "POST",
                ..base
            },
            Signed {
                path_and_query: "/a?b=d",
                ..base
            },
            Signed {
                consumer_id: "acme2",
                ..base
            },
            Signed {
                key_id: "4e93e9dbf652",
                ..base
            },
            // The separator is part of the format: fields cannot slide into each other.
            Signed {
                consumer_id: "acme\n4e93e9dbf651",
                key_id: "",
                ..base
            },
        ];
        for v in variants {
            assert_ne!(sig(v), sig(base), "{v:?}");
        }
        let other = SharedSecret::new("another-secret-of-enough-length".into());
        assert_ne!(base.header_value(&other), base.header_value(&secret));
    }

    #[test]
    fn signing_var_is_off_hmac_or_hmac_only() {
        assert_eq!(Signing::parse(None), Some(Signing::Off));
        assert_eq!(Signing::parse(Some(" off ")), Some(Signing::Off));
        assert_eq!(Signing::parse(Some("hmac")), Some(Signing::Hmac));
        assert_eq!(Signing::parse(Some("hmac-only")), Some(Signing::HmacOnly));
        for bad in ["HMAC", "on", "true", "hmac,only"] {
            assert_eq!(Signing::parse(Some(bad)), None, "{bad}");
        }
        assert!(Signing::HmacOnly.signs() && !Signing::HmacOnly.sends_static_secret());
        assert!(Signing::Hmac.signs() && Signing::Hmac.sends_static_secret());
        assert!(!Signing::Off.signs() && Signing::Off.sends_static_secret());
    }
}
