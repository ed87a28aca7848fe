//! The decision: which secrets are accepted, how a request proves it came through the gateway
//! (a v1 signature or the static secret header), and the refusals with their status and text.

use crate::signature::{self, HmacSha256, SIGNATURE_HEADER};
use hmac::Mac;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode, Uri};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use subtle::{Choice, ConstantTimeEq};

/// The default header that carries the static secret.
pub const DEFAULT_SECRET_HEADER: &str = "x-shared-secret";
/// The default signature clock window: a signature is accepted when `|now − t| ≤ 300` s.
pub const DEFAULT_WINDOW_SECS: u64 = 300;
/// The header carrying the consumer id, the fifth canonical field.
pub const CONSUMER_ID_HEADER: &str = "x-consumer-id";
/// The header carrying the key id, the sixth canonical field.
pub const KEY_ID_HEADER: &str = "x-key-id";

/// A shared secret the origin accepts. Its `Debug` never shows the value, and it has no
/// `PartialEq`: comparisons go through the verifier, in constant time.
#[derive(Clone)]
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self(value.into().into_boxed_slice())
    }

    /// The secret's bytes, for the few places that must send it (e.g. a client or a test).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&String> for Secret {
    fn from(s: &String) -> Self {
        Self::new(s.as_str())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(s: Vec<u8>) -> Self {
        Self::new(s)
    }
}

/// Unix seconds now; the verifier's clock (injectable for tests).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How a request proved it came through the gateway. The layer inserts it into the request's
/// extensions, so a handler can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// A valid `X-Keygate-Signature` inside the clock window.
    Signature,
    /// The static secret header matched an accepted secret.
    Secret,
}

/// Why a request is refused. Each has a fixed status and plain-text message, identical across
/// keygate's origin verifiers; none carries anything from the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No secret is configured: 500 `Server configuration error`.
    NotConfigured,
    /// A signature header is present but invalid, malformed, outside the window or repeated,
    /// or a header it covers is repeated: 401 `Invalid signature`.
    InvalidSignature,
    /// `require_signature` is on and the request has no signature: 401 `No signature provided`.
    NoSignature,
    /// No secret header: 401 `No secret provided`.
    NoSecret,
    /// The secret header matches no accepted secret, or is repeated: 401 `Invalid secret`.
    InvalidSecret,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotConfigured => "Server configuration error",
            Refusal::InvalidSignature => "Invalid signature",
            Refusal::NoSignature => "No signature provided",
            Refusal::NoSecret => "No secret provided",
            Refusal::InvalidSecret => "Invalid secret",
        }
    }

    /// The `text/plain` response for this refusal.
    pub fn response<B: From<&'static str>>(self) -> Response<B> {
        let mut resp = Response::new(B::from(self.message()));
        *resp.status_mut() = self.status();
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Refusal {}

/// One accepted secret, prepared: its SHA-256 (compared in constant time, so neither its
/// value nor its length shows in the timing) and an HMAC instance already keyed with it.
struct Accepted {
    digest: [u8; 32],
    mac: HmacSha256,
}

impl Accepted {
    fn new(secret: &Secret) -> Self {
        Self {
            digest: Sha256::digest(secret.expose()).into(),
            mac: signature::keyed(secret.expose()),
        }
    }
}

struct Keys {
    secrets: Arc<[Secret]>,
    accepted: Vec<Accepted>,
}

impl Keys {
    fn new(secrets: impl IntoIterator<Item = impl Into<Secret>>) -> Self {
        // An empty secret would accept an empty header, so it is never an accepted secret.
        let secrets: Arc<[Secret]> = secrets
            .into_iter()
            .map(Into::into)
            .filter(|s| !s.expose().is_empty())
            .collect();
        let accepted = secrets.iter().map(Accepted::new).collect();
        Self { secrets, accepted }
    }
}

struct Inner {
    keys: RwLock<Arc<Keys>>,
    header: HeaderName,
    require_signature: bool,
    window: u64,
    clock: Clock,
}

/// Checks that a request came through the gateway. Cheap to clone; clones share the accepted
/// secrets, so [`Verifier::set_secrets`] on any clone (say, the one a rotation task holds)
/// changes what every clone accepts, without a restart.
///
/// Replays inside the window are not detected: the signature binds the method, target and
/// identity headers to a time, not to a single use.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.keys().secrets.len())
            .field("header", &self.inner.header)
            .field("require_signature", &self.inner.require_signature)
            .field("window_secs", &self.inner.window)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Verifier`]; every setting but the secrets has a default.
pub struct VerifierBuilder {
    secrets: Vec<Secret>,
    header: HeaderName,
    require_signature: bool,
    window: u64,
    clock: Clock,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            header: HeaderName::from_static(DEFAULT_SECRET_HEADER),
            require_signature: false,
            window: DEFAULT_WINDOW_SECS,
            clock: Arc::new(system_clock),
        }
    }
}

impl VerifierBuilder {
    /// The accepted secrets (several during a rotation). Empty ones are dropped; none at all
    /// makes every request a 500.
    pub fn secrets(mut self, secrets: impl IntoIterator<Item = impl Into<Secret>>) -> Self {
        self.secrets = secrets.into_iter().map(Into::into).collect();
        self
    }

    /// The static secret's header; default `X-Shared-Secret`.
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = name;
        self
    }

    /// Refuse requests without a signature (`No signature provided`); default off.
    pub fn require_signature(mut self, on: bool) -> Self {
        self.require_signature = on;
        self
    }

    /// The signature clock window in seconds; default 300.
    pub fn window_secs(mut self, secs: u64) -> Self {
        self.window = secs;
        self
    }

    /// The clock, in Unix seconds; default the system clock.
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn build(self) -> Verifier {
        Verifier {
            inner: Arc::new(Inner {
                keys: RwLock::new(Arc::new(Keys::new(self.secrets))),
                header: self.header,
                require_signature: self.require_signature,
                window: self.window,
                clock: self.clock,
            }),
        }
    }
}

impl Verifier {
    /// A verifier with these secrets and every default.
    pub fn new(secrets: impl IntoIterator<Item = impl Into<Secret>>) -> Self {
        Self::builder().secrets(secrets).build()
    }

    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Replaces the accepted secrets for this verifier and every clone of it. Requests already
    /// being checked finish with the old list.
    pub fn set_secrets(&self, secrets: impl IntoIterator<Item = impl Into<Secret>>) {
        let keys = Arc::new(Keys::new(secrets));
        *self.inner.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    /// The accepted secrets now, in order.
    pub fn secrets(&self) -> Arc<[Secret]> {
        self.keys().secrets.clone()
    }

    /// The static secret's header.
    pub fn header(&self) -> &HeaderName {
        &self.inner.header
    }

    pub fn require_signature(&self) -> bool {
        self.inner.require_signature
    }

    pub fn window_secs(&self) -> u64 {
        self.inner.window
    }

    fn keys(&self) -> Arc<Keys> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks a request.
    pub fn verify_request<B>(&self, req: &Request<B>) -> Result<Verified, Refusal> {
        self.verify(req.method(), req.uri(), req.headers())
    }

    /// Checks a request from its parts. `uri` must be the request target as received (an
    /// axum `Router::nest` rewrites it, so put the layer on the outer router).
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Verified, Refusal> {
        let keys = self.keys();
        if keys.accepted.is_empty() {
            return Err(Refusal::NotConfigured);
        }
        let mut signatures = headers.get_all(SIGNATURE_HEADER).iter();
        if let Some(first) = signatures.next() {
            if signatures.next().is_some() {
                return Err(Refusal::InvalidSignature);
            }
            return self
                .check_signature(&keys, first, method, uri, headers)
                .then_some(Verified::Signature)
                .ok_or(Refusal::InvalidSignature);
        }
        if self.inner.require_signature {
            return Err(Refusal::NoSignature);
        }
        let mut values = headers.get_all(&self.inner.header).iter();
        let Some(value) = values.next() else {
            return Err(Refusal::NoSecret);
        };
        if values.next().is_some() {
            return Err(Refusal::InvalidSecret);
        }
        let digest: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        if bool::from(any_equal(&keys.accepted, |a| &a.digest, &digest)) {
            Ok(Verified::Secret)
        } else {
            Err(Refusal::InvalidSecret)
        }
    }

    fn check_signature(
        &self,
        keys: &Keys,
        value: &HeaderValue,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> bool {
        let Some(sig) = signature::parse(value.as_bytes()) else {
            return false;
        };
        let now = (self.inner.clock)();
        if now.abs_diff(sig.t) > self.inner.window {
            return false;
        }
        let Some(consumer) = single(headers, CONSUMER_ID_HEADER) else {
            return false;
        };
        let Some(key_id) = single(headers, KEY_ID_HEADER) else {
            return false;
        };
        let target = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_else(|| uri.path());
        let canonical = signature::canonical_bytes(
            sig.t_digits,
            method.as_str().as_bytes(),
            target.as_bytes(),
            consumer,
            key_id,
        );
        let macs: Vec<[u8; 32]> = keys
            .accepted
            .iter()
            .map(|a| {
                let mut mac = a.mac.clone();
                mac.update(&canonical);
                mac.finalize().into_bytes().into()
            })
            .collect();
        bool::from(any_equal(&macs, |m| m, &sig.mac))
    }
}

/// The value of a header that may be absent (empty) but not repeated (`None`).
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().map(HeaderValue::as_bytes).unwrap_or(b"");
    values.next().is_none().then_some(first)
}

/// Whether `candidate` equals any item's bytes, compared in constant time against every item:
/// no early exit on a match, so the timing does not tell which secret (or whether one) matched.
fn any_equal<T>(items: &[T], bytes: impl Fn(&T) -> &[u8; 32], candidate: &[u8; 32]) -> Choice {
    let mut found = Choice::from(0);
    for item in items {
        #[cfg(test)]
        tests::COMPARISONS.with(|c| c.set(c.get() + 1));
        found |= bytes(item)[..].ct_eq(&candidate[..]);
    }
    found
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::signature::signature_header_value;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};

    thread_local! {
        /// Constant-time comparisons made on this thread (see `any_equal`).
        pub(crate) static COMPARISONS: Cell<usize> = const { Cell::new(0) };
    }

    const OLD: &str = "old-secret-0123456789abcdef";
    const NEW: &str = "new-secret-fedcba9876543210";
    const VECTOR_SECRET: &str = "keygate-test-vector-secret";
    const NOW: u64 = 1_798_502_400;
    const TARGET: &str = "/base/v1/orders?limit=10&cursor=abc";

    fn fixed(secrets: &[&str]) -> Verifier {
        Verifier::builder()
            .secrets(secrets.iter().copied())
            .clock(|| NOW)
            .build()
    }

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        request_to("POST", TARGET, headers)
    }

    fn request_to(method: &str, target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri(target);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).expect("request")
    }

    /// The gateway's headers for the test-vector request signed at `t`.
    fn signed_at(secret: &str, t: u64) -> Vec<(&'static str, String)> {
        let sig =
            signature_header_value(secret.as_bytes(), t, "POST", TARGET, "acme", "4e93e9dbf651");
        vec![
            ("x-keygate-signature", sig),
            ("x-consumer-id", "acme".into()),
            ("x-key-id", "4e93e9dbf651".into()),
        ]
    }

    fn check(v: &Verifier, headers: &[(&str, String)]) -> Result<Verified, Refusal> {
        let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        v.verify_request(&request(&h))
    }

    #[test]
    fn no_secret_configured_is_a_500_server_configuration_error() {
        let v = fixed(&[]);
        let r = v.verify_request(&request(&[("x-shared-secret", OLD)]));
        assert_eq!(r, Err(Refusal::NotConfigured));
        assert_eq!(Refusal::NotConfigured.status(), 500);
        assert_eq!(
            Refusal::NotConfigured.message(),
            "Server configuration error"
        );
        // Signed requests too: there is nothing to check them against.
        assert_eq!(
            check(&v, &signed_at(VECTOR_SECRET, NOW)),
            Err(Refusal::NotConfigured)
        );
    }

    #[test]
    fn only_empty_secrets_count_as_none_configured() {
        let v = fixed(&["", ""]);
        assert_eq!(
            v.verify_request(&request(&[("x-shared-secret", "")])),
            Err(Refusal::NotConfigured)
        );
    }

    #[test]
    fn missing_secret_header_is_401_no_secret_provided() {
        let r = fixed(&[OLD]).verify_request(&request(&[]));
        assert_eq!(r, Err(Refusal::NoSecret));
        assert_eq!(
            (r.unwrap_err().status(), r.unwrap_err().message()),
            (StatusCode::UNAUTHORIZED, "No secret provided")
        );
    }

    #[test]
    fn wrong_secret_is_401_invalid_secret() {
        let v = fixed(&[OLD]);
        for wrong in ["nope", "", &OLD[..OLD.len() - 1], &format!("{OLD}x")] {
            let r = v.verify_request(&request(&[("x-shared-secret", wrong)]));
            assert_eq!(r, Err(Refusal::InvalidSecret), "{wrong:?}");
        }
        assert_eq!(Refusal::InvalidSecret.status(), 401);
        assert_eq!(Refusal::InvalidSecret.message(), "Invalid secret");
    }

    #[test]
    fn right_secret_is_accepted() {
        let r = fixed(&[OLD]).verify_request(&request(&[("x-shared-secret", OLD)]));
        assert_eq!(r, Ok(Verified::Secret));
    }

    #[test]
    fn secret_header_sent_twice_is_invalid_secret_even_if_both_match() {
        let r = fixed(&[OLD]).verify_request(&request(&[
            ("x-shared-secret", OLD),
            ("x-shared-secret", OLD),
        ]));
        assert_eq!(r, Err(Refusal::InvalidSecret));
    }

    #[test]
    fn custom_header_name_is_the_one_checked() {
        let v = Verifier::builder()
            .secrets([OLD])
            .header(HeaderName::from_static("x-origin-auth"))
            .build();
        assert_eq!(
            v.verify_request(&request(&[("x-shared-secret", OLD)])),
            Err(Refusal::NoSecret)
        );
        assert_eq!(
            v.verify_request(&request(&[("x-origin-auth", OLD)])),
            Ok(Verified::Secret)
        );
    }

    #[test]
    fn rotation_accepts_both_secrets_then_only_the_new_one() {
        let v = fixed(&[OLD, NEW]);
        for s in [OLD, NEW] {
            assert_eq!(
                v.verify_request(&request(&[("x-shared-secret", s)])),
                Ok(Verified::Secret)
            );
        }
        // A clone (what the layer holds) sees the swap made through the original.
        let layer_copy = v.clone();
        v.set_secrets([NEW]);
        assert_eq!(
            layer_copy.verify_request(&request(&[("x-shared-secret", OLD)])),
            Err(Refusal::InvalidSecret)
        );
        assert_eq!(
            layer_copy.verify_request(&request(&[("x-shared-secret", NEW)])),
            Ok(Verified::Secret)
        );
    }

    #[test]
    fn every_accepted_secret_is_compared_even_when_the_first_matches() {
        let v = fixed(&[OLD, NEW, "third-secret-aaaaaaaaaaaaaa"]);
        for candidate in [OLD, NEW, "wrong"] {
            COMPARISONS.with(|c| c.set(0));
            let _ = v.verify_request(&request(&[("x-shared-secret", candidate)]));
            assert_eq!(COMPARISONS.with(Cell::get), 3, "{candidate}");
        }
        // The signature path compares the MAC under every secret too.
        COMPARISONS.with(|c| c.set(0));
        assert_eq!(check(&v, &signed_at(OLD, NOW)), Ok(Verified::Signature));
        assert_eq!(COMPARISONS.with(Cell::get), 3);
    }

    #[test]
    fn test_vector_request_is_accepted_by_its_signature_alone() {
        let v = fixed(&[VECTOR_SECRET]);
        let headers = signed_at(VECTOR_SECRET, NOW);
        assert_eq!(
            headers[0].1,
            "t=1798502400,v1=8832bb8c123588d0d13980fe2f7031141cbc67445e293a2d08dad929d154cb14"
        );
        assert_eq!(check(&v, &headers), Ok(Verified::Signature));
    }

    #[test]
    fn valid_signature_wins_over_a_wrong_static_secret() {
        let mut headers = signed_at(OLD, NOW);
        headers.push(("x-shared-secret", "wrong".into()));
        assert_eq!(check(&fixed(&[OLD]), &headers), Ok(Verified::Signature));
    }

    #[test]
    fn invalid_signature_is_refused_even_with_the_right_static_secret() {
        let mut headers = signed_at("some-other-secret", NOW);
        headers.push(("x-shared-secret", OLD.into()));
        assert_eq!(
            check(&fixed(&[OLD]), &headers),
            Err(Refusal::InvalidSignature)
        );
        assert_eq!(Refusal::InvalidSignature.status(), 401);
        assert_eq!(Refusal::InvalidSignature.message(), "Invalid signature");
    }

    #[test]
    fn malformed_signature_is_invalid_signature() {
        let v = fixed(&[OLD]);
        for bad in ["", "garbage", "t=1798502400", "t=1798502400,v1=00"] {
            let mut headers = signed_at(OLD, NOW);
            headers[0].1 = bad.into();
            assert_eq!(
                check(&v, &headers),
                Err(Refusal::InvalidSignature),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn signatures_under_either_rotated_secret_are_accepted() {
        let v = fixed(&[OLD, NEW]);
        assert_eq!(check(&v, &signed_at(OLD, NOW)), Ok(Verified::Signature));
        assert_eq!(check(&v, &signed_at(NEW, NOW)), Ok(Verified::Signature));
        assert_eq!(
            check(&v, &signed_at("retired", NOW)),
            Err(Refusal::InvalidSignature)
        );
    }

    #[test]
    fn replay_at_exactly_the_window_is_accepted_and_one_second_later_refused() {
        let now = Arc::new(AtomicU64::new(NOW));
        let clock = now.clone();
        let v = Verifier::builder()
            .secrets([OLD])
            .window_secs(300)
            .clock(move || clock.load(Ordering::SeqCst))
            .build();
        let headers = signed_at(OLD, NOW);
        now.store(NOW + 300, Ordering::SeqCst);
        assert_eq!(check(&v, &headers), Ok(Verified::Signature));
        now.store(NOW + 301, Ordering::SeqCst);
        assert_eq!(check(&v, &headers), Err(Refusal::InvalidSignature));
        // The window is symmetric: a signature from the future is bounded the same way.
        now.store(NOW - 300, Ordering::SeqCst);
        assert_eq!(check(&v, &headers), Ok(Verified::Signature));
        now.store(NOW - 301, Ordering::SeqCst);
        assert_eq!(check(&v, &headers), Err(Refusal::InvalidSignature));
    }

    #[test]
    fn altered_consumer_key_id_method_path_or_query_is_refused() {
        let v = fixed(&[OLD]);
        let sig = signed_at(OLD, NOW)[0].1.clone();
        let ok = request_to(
            "POST",
            TARGET,
            &[
                ("x-keygate-signature", &sig),
                ("x-consumer-id", "acme"),
                ("x-key-id", "4e93e9dbf651"),
            ],
        );
        assert_eq!(v.verify_request(&ok), Ok(Verified::Signature));
        let altered = [
            ("POST", TARGET, "evil", "4e93e9dbf651"),
            ("POST", TARGET, "", "4e93e9dbf651"),
            ("POST", TARGET, "acme", "000000000000"),
            ("POST", TARGET, "acme", ""),
            ("PUT", TARGET, "acme", "4e93e9dbf651"),
            ("post", TARGET, "acme", "4e93e9dbf651"),
            (
                "POST",
                "/base/v1/admin?limit=10&cursor=abc",
                "acme",
                "4e93e9dbf651",
            ),
            (
                "POST",
                "/base/v1/orders?limit=99&cursor=abc",
                "acme",
                "4e93e9dbf651",
            ),
            ("POST", "/base/v1/orders", "acme", "4e93e9dbf651"),
            ("POST", "/base/v1/orders?", "acme", "4e93e9dbf651"),
        ];
        for (method, target, consumer, key_id) in altered {
            let mut headers = vec![("x-keygate-signature", sig.as_str())];
            if !consumer.is_empty() {
                headers.push(("x-consumer-id", consumer));
            }
            if !key_id.is_empty() {
                headers.push(("x-key-id", key_id));
            }
            let r = v.verify_request(&request_to(method, target, &headers));
            assert_eq!(
                r,
                Err(Refusal::InvalidSignature),
                "{method} {target} {consumer:?} {key_id:?}"
            );
        }
    }

    #[test]
    fn absent_identity_headers_sign_as_empty_fields() {
        let sig = signature_header_value(OLD.as_bytes(), NOW, "GET", "/hello", "", "");
        let v = fixed(&[OLD]);
        let r = v.verify_request(&request_to(
            "GET",
            "/hello",
            &[("x-keygate-signature", &sig)],
        ));
        assert_eq!(r, Ok(Verified::Signature));
        // An empty header is the same field as an absent one.
        let r = v.verify_request(&request_to(
            "GET",
            "/hello",
            &[("x-keygate-signature", &sig), ("x-consumer-id", "")],
        ));
        assert_eq!(r, Ok(Verified::Signature));
    }

    #[test]
    fn a_repeated_signature_consumer_or_key_id_header_is_invalid_signature() {
        let v = fixed(&[OLD]);
        let good = signed_at(OLD, NOW);
        for dup in ["x-keygate-signature", "x-consumer-id", "x-key-id"] {
            let mut headers = good.clone();
            let copy = headers
                .iter()
                .find(|(n, _)| *n == dup)
                .cloned()
                .expect("has it");
            headers.push(copy);
            assert_eq!(check(&v, &headers), Err(Refusal::InvalidSignature), "{dup}");
        }
    }

    #[test]
    fn require_signature_refuses_the_static_secret_alone() {
        let v = Verifier::builder()
            .secrets([OLD])
            .require_signature(true)
            .clock(|| NOW)
            .build();
        let r = v.verify_request(&request(&[("x-shared-secret", OLD)]));
        assert_eq!(r, Err(Refusal::NoSignature));
        assert_eq!(Refusal::NoSignature.status(), 401);
        assert_eq!(Refusal::NoSignature.message(), "No signature provided");
        assert_eq!(check(&v, &signed_at(OLD, NOW)), Ok(Verified::Signature));
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let v = fixed(&[OLD, NEW]);
        let shown = format!("{v:?} {:?} {:?}", Secret::from(OLD), v.secrets());
        assert!(!shown.contains(OLD) && !shown.contains(NEW), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn refusal_response_is_plain_text_with_only_the_fixed_message() {
        let resp: Response<String> = Refusal::InvalidSecret.response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(resp.body(), "Invalid secret");
    }
}
