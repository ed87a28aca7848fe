//! Gateway configuration read from worker vars and secrets, validated before any request is served.

use crate::headers::is_reserved_request_header;
use crate::limits::{TierConfigError, Tiers};
use crate::secret::SharedSecret;
use crate::signing::Signing;
use http::HeaderName;
use std::time::Duration;

pub const DEFAULT_SECRET_HEADER: &str = "x-shared-secret";
pub const DEFAULT_ORIGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest shared secret accepted: 16 bytes. A shorter one is a configuration error.
pub const MIN_SECRET_LEN: usize = 16;
const MAX_ORIGIN_TIMEOUT_MS: u64 = 300_000;

/// Default lifetime of a positive entry, in seconds (`KEY_CACHE_TTL_SECS`).
pub const DEFAULT_TTL_SECS: u64 = 30;
/// Default lifetime of a negative entry, in seconds (`KEY_CACHE_NEGATIVE_TTL_SECS`).
pub const DEFAULT_NEGATIVE_TTL_SECS: u64 = 5;
/// Longest TTL accepted for either kind of entry.
pub const MAX_TTL_SECS: u64 = 300;
/// At most this many entries per isolate.
pub const MAX_ENTRIES: usize = 10_000;
/// At most about this many bytes of entries per isolate (record JSON length plus overhead).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// Cache settings, from `KEY_CACHE_TTL_SECS` and `KEY_CACHE_NEGATIVE_TTL_SECS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Positive entries live this long; 0 turns the cache (and coalescing) off.
    pub ttl_ms: u64,
    pub negative_ttl_ms: u64,
    pub max_entries: usize,
    pub max_bytes: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl_ms: DEFAULT_TTL_SECS * 1000,
            negative_ttl_ms: DEFAULT_NEGATIVE_TTL_SECS * 1000,
            max_entries: MAX_ENTRIES,
            max_bytes: MAX_BYTES,
        }
    }
}

/// Default `REVOCATION_SYNC_SECS`: a change made through the management API holds everywhere
/// within this many seconds.
pub const DEFAULT_SYNC_SECS: u64 = 4;
/// Longest `REVOCATION_SYNC_SECS` accepted.
pub const MAX_SYNC_SECS: u64 = 60;

/// What an isolate does when a sync fails (`REVOCATION_LOG_FAULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLogFault {
    /// `kv` (the default): carry on with the key cache and KV, that is with KV's revocation
    /// bound, and log the fault.
    KvBound,
    /// `closed`: refuse every keyed request with 503 until a sync succeeds.
    FailClosed,
}

/// The change feed's settings ([`crate::changes`]), from `REVOCATION_SYNC_SECS` and
/// `REVOCATION_LOG_FAULT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPolicy {
    /// A view this much older than its last sync is synced before a lookup; 0 turns the feed off.
    pub trust_ms: u64,
    pub on_fault: OnLogFault,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        Self {
            trust_ms: DEFAULT_SYNC_SECS * 1000,
            on_fault: OnLogFault::KvBound,
        }
    }
}

/// A configuration fault. Its text names the setting and the rule, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    MissingOrigin,
    InvalidOrigin(&'static str),
    MissingSecret,
    InvalidSecret(&'static str),
    InvalidSecretHeader,
    InvalidTimeout,
    MissingKeyStore,
    /// A yes/no var holds something other than `true` or `false`.
    InvalidFlag(&'static str),
    InvalidKeySources,
    InvalidConsumerMeta,
    /// `RATE_LIMIT_TIERS` or `DEFAULT_TIER` does not parse.
    Tiers(TierConfigError),
    /// A key's record names a tier that `RATE_LIMIT_TIERS` does not define.
    UnknownTier,
    /// A tier names a rate-limit binding that the worker does not have.
    MissingRateLimiter,
    /// A key has a quota but the `QUOTAS` Durable Object binding is missing.
    MissingQuotaStore,
    InvalidAdminToken(&'static str),
    /// `KEY_CACHE_TTL_SECS` or `KEY_CACHE_NEGATIVE_TTL_SECS` is not 0 to 300.
    InvalidCacheTtl(&'static str),
    /// `REQUEST_LOG` is not `all` or `refusals`.
    InvalidRequestLog,
    /// `SIGNING` is not `off`, `hmac` or `hmac-only`.
    InvalidSigning,
    /// `REVOCATION_SYNC_SECS` is not 0 to 60.
    InvalidSyncSecs,
    /// `REVOCATION_LOG_FAULT` is not `kv` or `closed`.
    InvalidLogFault,
    /// The change feed is on but the `MANAGEMENT_LOG` Durable Object binding is missing.
    MissingManagementLog,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::MissingOrigin => f.write_str("ORIGIN_URL is not set"),
            ConfigError::InvalidOrigin(why) => write!(f, "ORIGIN_URL is invalid: {why}"),
            ConfigError::MissingSecret => f.write_str("SHARED_SECRET is not set"),
            ConfigError::InvalidSecret(why) => write!(f, "SHARED_SECRET is invalid: {why}"),
            ConfigError::InvalidSecretHeader => f.write_str(
                "SHARED_SECRET_HEADER is not a valid header name, or names a header the gateway manages",
            ),
            ConfigError::InvalidTimeout => {
                f.write_str("ORIGIN_TIMEOUT_MS must be a whole number from 1 to 300000")
            }
            ConfigError::MissingKeyStore => f.write_str("the KV binding API_KEYS is missing"),
            ConfigError::InvalidFlag(name) => write!(f, "{name} must be true or false"),
            ConfigError::InvalidKeySources => f.write_str(
                "KEY_SOURCES must be 'authorization' or 'authorization,x-api-key'",
            ),
            ConfigError::InvalidConsumerMeta => f.write_str(
                "CONSUMER_META_HEADERS must be a comma list of 1-32 character names from a-z 0-9 -, \
                 other than id, name and anonymous",
            ),
            ConfigError::Tiers(e) => e.fmt(f),
            ConfigError::InvalidAdminToken(why) => write!(f, "ADMIN_TOKEN is invalid: {why}"),
            ConfigError::InvalidRequestLog => f.write_str("REQUEST_LOG must be all or refusals"),
            ConfigError::InvalidSigning => f.write_str("SIGNING must be off, hmac or hmac-only"),
            ConfigError::InvalidSyncSecs => {
                f.write_str("REVOCATION_SYNC_SECS must be a whole number of seconds from 0 to 60")
            }
            ConfigError::InvalidLogFault => f.write_str("REVOCATION_LOG_FAULT must be kv or closed"),
            ConfigError::MissingManagementLog => f.write_str(
                "the Durable Object binding MANAGEMENT_LOG is missing (REVOCATION_SYNC_SECS=0 turns the change feed off)",
            ),
            ConfigError::InvalidCacheTtl(name) => {
                write!(f, "{name} must be a whole number of seconds from 0 to 300")
            }
            ConfigError::UnknownTier => f.write_str(
                "a key's record names a tier that RATE_LIMIT_TIERS does not define (see the key id)",
            ),
            ConfigError::MissingRateLimiter => f.write_str(
                "RATE_LIMIT_TIERS names a rate-limit binding that is not in wrangler.toml [[ratelimits]]",
            ),
            ConfigError::MissingQuotaStore => f.write_str(
                "a key has a quota but the Durable Object binding QUOTAS is missing",
            ),
        }
    }
}

/// The validated origin: scheme, host and port are fixed; `base_path` never ends in `/`.
///
/// Parsed with `http::Uri`, which takes ASCII hosts only: an internationalised host must be given
/// in its punycode (`xn--…`) form. (The `url` crate's IDNA tables would cost about 70 KB of
/// gzipped wasm.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: &'static str,
    /// Lower-case host; IPv6 addresses keep their brackets.
    host: String,
    /// `None` for the scheme's default port.
    port: Option<u16>,
    base_path: String,
}

impl Origin {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(ConfigError::MissingOrigin);
        }
        if raw.contains('#') {
            return Err(ConfigError::InvalidOrigin(
                "a query or fragment is not allowed",
            ));
        }
        let uri: http::Uri = raw
            .parse()
            .map_err(|_| ConfigError::InvalidOrigin("not an absolute URL"))?;
        let (scheme, default_port) = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => ("https", 443),
            Some(s) if s.eq_ignore_ascii_case("http") => ("http", 80),
            Some(_) => return Err(ConfigError::InvalidOrigin("scheme must be http or https")),
            None => return Err(ConfigError::InvalidOrigin("not an absolute URL")),
        };
        let authority = uri
            .authority()
            .ok_or(ConfigError::InvalidOrigin("no host"))?;
        if authority.as_str().contains('@') {
            return Err(ConfigError::InvalidOrigin(
                "credentials in the URL are not allowed",
            ));
        }
        if authority.host().is_empty() {
            return Err(ConfigError::InvalidOrigin("no host"));
        }
        if uri.query().is_some() {
            return Err(ConfigError::InvalidOrigin(
                "a query or fragment is not allowed",
            ));
        }
        Ok(Self {
            scheme,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().filter(|&p| p != default_port),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// `scheme://host[:port]`: lower-case host, default port left out.
    pub fn authority_prefix(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{p}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }

    /// The origin's base path without a trailing slash: `""` for `https://api.example`.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// Whether `uri` points at this origin: same scheme, host and port, and no credentials.
    pub fn is_same_origin(&self, uri: &http::Uri) -> bool {
        let Some(authority) = uri.authority() else {
            return false;
        };
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        uri.scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(self.scheme))
            && !authority.as_str().contains('@')
            && authority.host().eq_ignore_ascii_case(&self.host)
            && authority.port_u16().filter(|&p| p != default_port) == self.port
    }
}

/// Everything the gateway needs from its environment, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub origin: Origin,
    pub secret: SharedSecret,
    pub secret_header: HeaderName,
    pub origin_timeout: Duration,
    /// `ALLOW_ANONYMOUS`: a request with no credential is forwarded as anonymous.
    pub allow_anonymous: bool,
    /// `CORS_PREFLIGHT`: `OPTIONS` with `Access-Control-Request-Method` passes without a key.
    pub cors_preflight: bool,
    /// `METHOD_OVERRIDE`: method-override headers and `_method` parameters are forwarded, and
    /// scopes must admit the tunnelled method as well as the sent one. Off: they are refused.
    pub method_override: bool,
    /// `KEY_SOURCES` includes `x-api-key`: the `X-API-Key` header is read as well.
    pub api_key_header: bool,
    /// `CONSUMER_META_HEADERS`: metadata keys sent as `X-Consumer-<key>`.
    pub consumer_meta: Vec<(String, HeaderName)>,
    /// `RATE_LIMIT_TIERS` and `DEFAULT_TIER`.
    pub tiers: Tiers,
    /// `ADMIN_TOKEN` (a secret): enables the operator endpoint under `/__keygate/`.
    pub admin_token: Option<SharedSecret>,
    /// `KEY_CACHE_TTL_SECS` and `KEY_CACHE_NEGATIVE_TTL_SECS`: the per-isolate key cache.
    pub cache: CachePolicy,
    /// `REQUEST_LOG=all` (the default) logs every request; `refusals` skips accepted ones.
    pub log_accepted: bool,
    /// `LOG_QUERY=true` puts the query string in the request log line (left out by default: it
    /// can carry personal data).
    pub log_query: bool,
    /// `SIGNING`: the static secret header, a signature beside it, or the signature alone.
    pub signing: Signing,
    /// `REVOCATION_SYNC_SECS` and `REVOCATION_LOG_FAULT`: the change feed.
    pub sync: SyncPolicy,
}

impl Config {
    /// The bindings this configuration needs, checked once an isolate: every rate-limit binding
    /// a tier names (`rate_limiter(name)` says whether it is bound), and the management log
    /// (`log_bound`) when the change feed is on. A missing one is a configuration error.
    pub fn check_bindings(
        self,
        rate_limiter: impl Fn(&str) -> bool,
        log_bound: bool,
    ) -> Result<Self, ConfigError> {
        if !self.tiers.bindings().all(rate_limiter) {
            Err(ConfigError::MissingRateLimiter)
        } else if self.sync.trust_ms > 0 && !log_bound {
            Err(ConfigError::MissingManagementLog)
        } else {
            Ok(self)
        }
    }

    /// Reads the config through `lookup` (var or secret name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let origin = Origin::parse(&lookup("ORIGIN_URL").unwrap_or_default())?;
        let secret = parse_secret(lookup("SHARED_SECRET"))?;
        let secret_header = match lookup("SHARED_SECRET_HEADER") {
            None => HeaderName::from_static(DEFAULT_SECRET_HEADER),
            Some(name) => parse_secret_header(name.trim())?,
        };
        let origin_timeout = match lookup("ORIGIN_TIMEOUT_MS") {
            None => DEFAULT_ORIGIN_TIMEOUT,
            Some(ms) => match ms.trim().parse::<u64>() {
                Ok(ms @ 1..=MAX_ORIGIN_TIMEOUT_MS) => Duration::from_millis(ms),
                _ => return Err(ConfigError::InvalidTimeout),
            },
        };
        let flag = |name: &'static str| match lookup(name).as_deref().map(str::trim) {
            None | Some("") | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ConfigError::InvalidFlag(name)),
        };
        let allow_anonymous = flag("ALLOW_ANONYMOUS")?;
        let cors_preflight = flag("CORS_PREFLIGHT")?;
        let method_override = flag("METHOD_OVERRIDE")?;
        let log_query = flag("LOG_QUERY")?;
        let api_key_header = match lookup("KEY_SOURCES") {
            None => false,
            Some(v) => parse_key_sources(&v)?,
        };
        let consumer_meta = match lookup("CONSUMER_META_HEADERS") {
            None => Vec::new(),
            Some(v) => parse_consumer_meta(&v)?,
        };
        let tiers = Tiers::parse(
            lookup("RATE_LIMIT_TIERS").as_deref(),
            lookup("DEFAULT_TIER").as_deref(),
        )
        .map_err(ConfigError::Tiers)?;
        let admin_token = match lookup("ADMIN_TOKEN") {
            None => None,
            Some(t) => {
                let t = parse_secret(Some(t)).map_err(|e| match e {
                    ConfigError::InvalidSecret(why) => ConfigError::InvalidAdminToken(why),
                    _ => ConfigError::InvalidAdminToken("empty"),
                })?;
                if t.matches(secret.expose().as_bytes()) {
                    return Err(ConfigError::InvalidAdminToken(
                        "must differ from SHARED_SECRET",
                    ));
                }
                Some(t)
            }
        };
        let secs = |name: &'static str, default: u64| match lookup(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n <= MAX_TTL_SECS => Ok(n),
                _ => Err(ConfigError::InvalidCacheTtl(name)),
            },
        };
        let ttl = secs("KEY_CACHE_TTL_SECS", DEFAULT_TTL_SECS)?;
        let negative_ttl = secs(
            "KEY_CACHE_NEGATIVE_TTL_SECS",
            DEFAULT_NEGATIVE_TTL_SECS.min(ttl),
        )?;
        let cache = CachePolicy {
            ttl_ms: ttl * 1000,
            negative_ttl_ms: negative_ttl * 1000,
            ..CachePolicy::default()
        };
        let log_accepted = match lookup("REQUEST_LOG").as_deref().map(str::trim) {
            None | Some("") | Some("all") => true,
            Some("refusals") => false,
            Some(_) => return Err(ConfigError::InvalidRequestLog),
        };
        let signing =
            Signing::parse(lookup("SIGNING").as_deref()).ok_or(ConfigError::InvalidSigning)?;
        let sync = SyncPolicy {
            trust_ms: match lookup("REVOCATION_SYNC_SECS") {
                None => DEFAULT_SYNC_SECS,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n <= MAX_SYNC_SECS => n,
                    _ => return Err(ConfigError::InvalidSyncSecs),
                },
            } * 1000,
            on_fault: match lookup("REVOCATION_LOG_FAULT").as_deref().map(str::trim) {
                None | Some("") | Some("kv") => OnLogFault::KvBound,
                Some("closed") => OnLogFault::FailClosed,
                Some(_) => return Err(ConfigError::InvalidLogFault),
            },
        };
        Ok(Self {
            sync,
            signing,
            log_accepted,
            log_query,
            cache,
            tiers,
            admin_token,
            origin,
            secret,
            secret_header,
            origin_timeout,
            allow_anonymous,
            cors_preflight,
            method_override,
            api_key_header,
            consumer_meta,
        })
    }
}

/// `authorization` (the default) or `authorization,x-api-key`, in any order and case.
fn parse_key_sources(v: &str) -> Result<bool, ConfigError> {
    let mut auth = false;
    let mut api_key = false;
    for s in v.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        match s.as_str() {
            "authorization" => auth = true,
            "x-api-key" => api_key = true,
            _ => return Err(ConfigError::InvalidKeySources),
        }
    }
    if !auth {
        return Err(ConfigError::InvalidKeySources);
    }
    Ok(api_key)
}

fn parse_consumer_meta(v: &str) -> Result<Vec<(String, HeaderName)>, ConfigError> {
    let mut out = Vec::new();
    for key in v.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let ok = key.len() <= 32
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !matches!(key, "id" | "name" | "anonymous");
        if !ok {
            return Err(ConfigError::InvalidConsumerMeta);
        }
        let header = HeaderName::from_bytes(format!("x-consumer-{key}").as_bytes())
            .map_err(|_| ConfigError::InvalidConsumerMeta)?;
        out.push((key.to_owned(), header));
    }
    Ok(out)
}

fn parse_secret(raw: Option<String>) -> Result<SharedSecret, ConfigError> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        return Err(ConfigError::MissingSecret);
    }
    if raw.len() < MIN_SECRET_LEN {
        return Err(ConfigError::InvalidSecret("shorter than 16 characters"));
    }
    if raw.len() > 1024 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::InvalidSecret(
            "must be at most 1024 visible ASCII characters, with no spaces",
        ));
    }
    Ok(SharedSecret::new(raw))
}

fn parse_secret_header(name: &str) -> Result<HeaderName, ConfigError> {
    let header =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| ConfigError::InvalidSecretHeader)?;
    if is_reserved_request_header(&header) {
        return Err(ConfigError::InvalidSecretHeader);
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const SECRET: (&str, &str) = ("SHARED_SECRET", "0123456789abcdef0123");

    #[test]
    fn defaults_apply_when_optional_vars_are_absent() {
        let c = cfg(&[("ORIGIN_URL", "https://api.example/v1/"), SECRET]).unwrap();
        assert_eq!(c.secret_header.as_str(), "x-shared-secret");
        assert_eq!(c.origin_timeout, Duration::from_secs(30));
        assert_eq!(c.origin.base_path(), "/v1");
        assert_eq!(c.origin.authority_prefix(), "https://api.example");
    }

    #[test]
    fn missing_secret_or_origin_is_a_config_error() {
        assert_eq!(cfg(&[SECRET]).unwrap_err(), ConfigError::MissingOrigin);
        assert_eq!(
            cfg(&[("ORIGIN_URL", "http://o")]).unwrap_err(),
            ConfigError::MissingSecret
        );
        assert_eq!(
            cfg(&[("ORIGIN_URL", "http://o"), ("SHARED_SECRET", "")]).unwrap_err(),
            ConfigError::MissingSecret
        );
    }

    #[test]
    fn short_or_unprintable_secret_is_invalid() {
        for s in ["short", "has a space in it 123", "tab\there_and_more_chars"] {
            let e = cfg(&[("ORIGIN_URL", "http://o"), ("SHARED_SECRET", s)]).unwrap_err();
            assert!(matches!(e, ConfigError::InvalidSecret(_)), "{s}: {e:?}");
        }
    }

    #[test]
    fn origin_must_be_plain_http_or_https() {
        for o in [
            "not a url",
            "ftp://o",
            "https://user:pw@o",
            "https://o/?q=1",
            "https://o/#f",
            "mailto:x@y",
            "/relative",
        ] {
            let e = cfg(&[("ORIGIN_URL", o), SECRET]).unwrap_err();
            assert!(matches!(e, ConfigError::InvalidOrigin(_)), "{o}: {e:?}");
        }
    }

    #[test]
    fn origin_host_is_ascii_lower_case_and_the_default_port_is_dropped() {
        let base = |o: &str| cfg(&[("ORIGIN_URL", o), SECRET]).map(|c| c.origin);
        assert_eq!(
            base("HTTPS://API.Example:443/V1/")
                .unwrap()
                .authority_prefix(),
            "https://api.example"
        );
        assert_eq!(
            base("HTTPS://API.Example:443/V1/").unwrap().base_path(),
            "/V1"
        );
        assert_eq!(
            base("http://127.0.0.1:8788").unwrap().authority_prefix(),
            "http://127.0.0.1:8788"
        );
        assert_eq!(
            base("http://[::1]:80/").unwrap().authority_prefix(),
            "http://[::1]"
        );
        // Internationalised hosts must be given in punycode.
        assert!(matches!(
            base("https://bücher.example"),
            Err(ConfigError::InvalidOrigin(_))
        ));
        assert!(base("https://xn--bcher-kva.example").is_ok());
    }

    #[test]
    fn config_errors_never_echo_the_secret_value() {
        let secret = "tiny";
        let e = cfg(&[("ORIGIN_URL", "http://o"), ("SHARED_SECRET", secret)]).unwrap_err();
        assert!(!e.to_string().contains(secret));
        assert!(!format!("{e:?}").contains(secret));
    }

    #[test]
    fn secret_header_name_is_configurable_but_not_to_a_managed_header() {
        let base = [("ORIGIN_URL", "http://o"), SECRET];
        let ok = cfg(&[base[0], base[1], ("SHARED_SECRET_HEADER", "X-Origin-Auth")]).unwrap();
        assert_eq!(ok.secret_header.as_str(), "x-origin-auth");
        for bad in [
            "Authorization",
            "Host",
            "Connection",
            "X-Consumer-Id",
            "bad header",
            "",
        ] {
            let e = cfg(&[base[0], base[1], ("SHARED_SECRET_HEADER", bad)]).unwrap_err();
            assert_eq!(e, ConfigError::InvalidSecretHeader, "{bad}");
        }
    }

    #[test]
    fn policy_vars_default_off_and_parse_strictly() {
        let base = [("ORIGIN_URL", "http://o"), SECRET];
        let c = cfg(&base).unwrap();
        assert!(
            !c.allow_anonymous
                && !c.cors_preflight
                && !c.api_key_header
                && c.consumer_meta.is_empty()
        );
        let c = cfg(&[
            base[0],
            base[1],
            ("ALLOW_ANONYMOUS", "true"),
            ("CORS_PREFLIGHT", "true"),
            ("KEY_SOURCES", "Authorization, X-API-Key"),
            ("CONSUMER_META_HEADERS", "plan, region"),
        ])
        .unwrap();
        assert!(c.allow_anonymous && c.cors_preflight && c.api_key_header);
        let metas: Vec<_> = c
            .consumer_meta
            .iter()
            .map(|(k, h)| (k.as_str(), h.as_str()))
            .collect();
        assert_eq!(
            metas,
            vec![("plan", "x-consumer-plan"), ("region", "x-consumer-region")]
        );
        for (k, v, e) in [
            (
                "ALLOW_ANONYMOUS",
                "yes",
                ConfigError::InvalidFlag("ALLOW_ANONYMOUS"),
            ),
            (
                "CORS_PREFLIGHT",
                "1",
                ConfigError::InvalidFlag("CORS_PREFLIGHT"),
            ),
            ("KEY_SOURCES", "x-api-key", ConfigError::InvalidKeySources),
            (
                "KEY_SOURCES",
                "authorization,query",
                ConfigError::InvalidKeySources,
            ),
            (
                "CONSUMER_META_HEADERS",
                "Plan",
                ConfigError::InvalidConsumerMeta,
            ),
            (
                "CONSUMER_META_HEADERS",
                "id",
                ConfigError::InvalidConsumerMeta,
            ),
        ] {
            assert_eq!(cfg(&[base[0], base[1], (k, v)]).unwrap_err(), e, "{k}={v}");
        }
    }

    #[test]
    fn admin_token_is_optional_but_must_be_long_and_differ_from_the_shared_secret() {
        let base = [("ORIGIN_URL", "http://o"), SECRET];
        assert!(cfg(&base).unwrap().admin_token.is_none());
        let c = cfg(&[base[0], base[1], ("ADMIN_TOKEN", "admin-token-0123456789")]).unwrap();
        assert!(c.admin_token.unwrap().matches(b"admin-token-0123456789"));
        for bad in ["", "short", "0123456789abcdef0123"] {
            let e = cfg(&[base[0], base[1], ("ADMIN_TOKEN", bad)]).unwrap_err();
            assert!(matches!(e, ConfigError::InvalidAdminToken(_)), "{bad}");
            assert!(!e.to_string().contains("0123456789abcdef0123"));
        }
    }

    #[test]
    fn cache_ttls_default_to_30_and_5_seconds_and_0_turns_the_cache_off() {
        let base = [("ORIGIN_URL", "http://o"), SECRET];
        let c = cfg(&base).unwrap();
        assert_eq!((c.cache.ttl_ms, c.cache.negative_ttl_ms), (30_000, 5_000));
        let c = cfg(&[base[0], base[1], ("KEY_CACHE_TTL_SECS", "2")]).unwrap();
        assert_eq!((c.cache.ttl_ms, c.cache.negative_ttl_ms), (2_000, 2_000));
        let c = cfg(&[base[0], base[1], ("KEY_CACHE_TTL_SECS", "0")]).unwrap();
        assert_eq!((c.cache.ttl_ms, c.cache.negative_ttl_ms), (0, 0));
        for (name, bad) in [
            ("KEY_CACHE_TTL_SECS", "301"),
            ("KEY_CACHE_TTL_SECS", "-1"),
            ("KEY_CACHE_NEGATIVE_TTL_SECS", "1.5"),
        ] {
            let e = cfg(&[base[0], base[1], (name, bad)]).unwrap_err();
            assert_eq!(e, ConfigError::InvalidCacheTtl(name));
        }
    }

    #[test]
    fn the_change_feed_syncs_every_4_s_by_default_and_goes_on_with_kv_when_the_log_is_down() {
        let base = [("ORIGIN_URL", "http://o"), SECRET];
        let c = cfg(&base).unwrap();
        assert_eq!(c.sync, SyncPolicy::default());
        assert_eq!(
            (c.sync.trust_ms, c.sync.on_fault),
            (4_000, OnLogFault::KvBound)
        );
        let c = cfg(&[
            base[0],
            base[1],
            ("REVOCATION_SYNC_SECS", "0"),
            ("REVOCATION_LOG_FAULT", "closed"),
        ])
        .unwrap();
        assert_eq!(
            (c.sync.trust_ms, c.sync.on_fault),
            (0, OnLogFault::FailClosed)
        );
        let c = cfg(&[base[0], base[1], ("REVOCATION_SYNC_SECS", "60")]).unwrap();
        assert_eq!(c.sync.trust_ms, 60_000);
        for bad in ["61", "-1", "2.5", "soon"] {
            let e = cfg(&[base[0], base[1], ("REVOCATION_SYNC_SECS", bad)]).unwrap_err();
            assert_eq!(e, ConfigError::InvalidSyncSecs);
        }
        for bad in ["open", "KV", "fail"] {
            let e = cfg(&[base[0], base[1], ("REVOCATION_LOG_FAULT", bad)]).unwrap_err();
            assert_eq!(e, ConfigError::InvalidLogFault);
            assert!(!e.to_string().contains(bad));
        }
    }

    #[test]
    fn request_log_is_all_by_default_or_refusals() {
        let base = [("ORIGIN_URL", "http://o"), SECRET];
        assert!(cfg(&base).unwrap().log_accepted);
        assert!(
            !cfg(&[base[0], base[1], ("REQUEST_LOG", "refusals")])
                .unwrap()
                .log_accepted
        );
        let e = cfg(&[base[0], base[1], ("REQUEST_LOG", "none")]).unwrap_err();
        assert_eq!(e, ConfigError::InvalidRequestLog);
    }

    #[test]
    fn tier_vars_are_validated_at_start_up() {
        let base = [("ORIGIN_URL", "http://o"), SECRET];
        let c = cfg(&[
            base[0],
            base[1],
            ("RATE_LIMIT_TIERS", "free=RL_FREE:10/60"),
            ("DEFAULT_TIER", "free"),
        ])
        .unwrap();
        assert_eq!(c.tiers.default_tier.as_deref(), Some("free"));
        let e = cfg(&[base[0], base[1], ("DEFAULT_TIER", "free")]).unwrap_err();
        assert_eq!(e, ConfigError::Tiers(TierConfigError::UnknownDefault));
    }

    #[test]
    fn timeout_must_be_positive_milliseconds_within_five_minutes() {
        let base = [("ORIGIN_URL", "http://o"), SECRET];
        let ok = cfg(&[base[0], base[1], ("ORIGIN_TIMEOUT_MS", "1500")]).unwrap();
        assert_eq!(ok.origin_timeout, Duration::from_millis(1500));
        for bad in ["0", "-1", "abc", "300001", "1.5"] {
            let e = cfg(&[base[0], base[1], ("ORIGIN_TIMEOUT_MS", bad)]).unwrap_err();
            assert_eq!(e, ConfigError::InvalidTimeout, "{bad}");
        }
    }
}
