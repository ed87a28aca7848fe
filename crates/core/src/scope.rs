//! Per-key scopes: `METHOD PATTERN` rules matched against the normalised path that is forwarded.
//!
//! `METHOD` is an HTTP method or `*`. `PATTERN` is a path of segments where `*` matches exactly
//! one segment and `**` matches any number of segments, including none. A trailing `/` is
//! ignored. A key with no scopes may call everything.

/// A parsed scope rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    method: String,
    segments: Vec<String>,
}

/// Why a scope string is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError(pub String);

impl Scope {
    /// Parses `GET /v1/*`, `* /reports/**`, or the same with `:` instead of the space.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let s = s.trim();
        let (method, pattern) = s
            .split_once(' ')
            .or_else(|| s.split_once(':'))
            .map(|(m, p)| (m.trim(), p.trim()))
            .ok_or_else(|| ScopeError(format!("scope '{s}' must be 'METHOD /path/pattern'")))?;
        let method_ok = method == "*"
            || (!method.is_empty()
                && method.len() <= 16
                && method.bytes().all(|b| b.is_ascii_uppercase()));
        if !method_ok {
            return Err(ScopeError(format!(
                "scope '{s}': method must be * or an upper-case HTTP method"
            )));
        }
        if !pattern.starts_with('/') {
            return Err(ScopeError(format!(
                "scope '{s}': the path pattern must start with '/'"
            )));
        }
        let pattern_ok = pattern.len() <= 512
            && pattern
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'?' | b'#' | b','));
        if !pattern_ok {
            return Err(ScopeError(format!(
                "scope '{s}': the path pattern has characters that are not allowed"
            )));
        }
        let segments: Vec<String> = pattern
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        if segments
            .iter()
            .any(|seg| seg.contains('*') && seg != "*" && seg != "**")
        {
            return Err(ScopeError(format!(
                "scope '{s}': '*' and '**' must be whole path segments"
            )));
        }
        if segments.iter().any(|seg| seg == "." || seg == "..") {
            return Err(ScopeError(format!(
                "scope '{s}': dot segments are not allowed"
            )));
        }
        Ok(Self {
            method: method.to_owned(),
            segments,
        })
    }

    /// The canonical text, `METHOD /pattern`.
    pub fn canonical(&self) -> String {
        format!("{} /{}", self.method, self.segments.join("/"))
    }

    /// The RFC 6750 `scope-token` form: `METHOD:/pattern` (no spaces).
    pub fn token(&self) -> String {
        format!("{}:/{}", self.method, self.segments.join("/"))
    }

    /// True when this rule admits `method` on the normalised `path`.
    pub fn allows(&self, method: &str, path: &str) -> bool {
        if self.method != "*" && self.method != method {
            return false;
        }
        let path: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let pattern: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        glob(&pattern, &path)
    }
}

/// Segment glob with `*` (one segment) and `**` (zero or more), by dynamic programming:
/// linear in pattern × path, so hostile patterns cannot blow up.
fn glob(pattern: &[&str], path: &[&str]) -> bool {
    // ok[j] == pattern[..i] matches path[..j]
    let mut ok = vec![false; path.len() + 1];
    ok[0] = true;
    for p in pattern {
        let mut next = vec![false; path.len() + 1];
        for j in 0..=path.len() {
            next[j] = match *p {
                "**" => ok[j] || (j > 0 && next[j - 1]),
                "*" => j > 0 && ok[j - 1],
                lit => j > 0 && ok[j - 1] && path[j - 1] == lit,
            };
        }
        ok = next;
    }
    ok[path.len()]
}

/// True when `scopes` (already validated) admit the request. No scopes admit everything.
pub fn admits(scopes: &[Scope], method: &str, path: &str) -> bool {
    scopes.is_empty() || scopes.iter().any(|s| s.allows(method, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(scope: &str, method: &str, path: &str) -> bool {
        Scope::parse(scope).unwrap().allows(method, path)
    }

    #[test]
    fn single_star_matches_exactly_one_segment() {
        assert!(allows("GET /v1/*", "GET", "/v1/items"));
        assert!(allows("GET /v1/*", "GET", "/v1/items/"));
        assert!(!allows("GET /v1/*", "GET", "/v1/items/42"));
        assert!(!allows("GET /v1/*", "GET", "/v1"));
        assert!(!allows("GET /v1/*", "GET", "/v2/items"));
    }

    #[test]
    fn double_star_matches_any_depth_including_none() {
        for p in ["/reports", "/reports/", "/reports/a", "/reports/a/b/c"] {
            assert!(allows("* /reports/**", "DELETE", p), "{p}");
        }
        assert!(!allows("* /reports/**", "GET", "/reportsx"));
        assert!(allows("GET /**/export", "GET", "/a/b/export"));
        assert!(allows("GET /**/export", "GET", "/export"));
    }

    #[test]
    fn method_must_match_unless_star() {
        assert!(!allows("GET /v1/*", "POST", "/v1/items"));
        assert!(allows("* /v1/*", "POST", "/v1/items"));
    }

    #[test]
    fn colon_form_and_space_form_are_the_same_scope() {
        assert_eq!(
            Scope::parse("GET:/v1/*").unwrap(),
            Scope::parse("GET /v1/*").unwrap()
        );
        assert_eq!(Scope::parse("GET /v1/*/").unwrap().canonical(), "GET /v1/*");
        assert_eq!(
            Scope::parse("* /reports/**").unwrap().token(),
            "*:/reports/**"
        );
    }

    #[test]
    fn bad_scopes_are_refused() {
        for s in [
            "",
            "GET",
            "get /v1",
            "GET v1/*",
            "GET /v1/x*",
            "GET /a/../b",
            "GET /a\"b",
            "GET /a,b",
        ] {
            assert!(Scope::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn encoded_path_segments_do_not_match_their_decoded_pattern() {
        // Scopes are allow-lists over the path as forwarded: an encoded form can only fail closed.
        assert!(!allows("GET /admin", "GET", "/%61dmin"));
    }

    #[test]
    fn no_scopes_admit_everything_and_any_matching_scope_admits() {
        assert!(admits(&[], "PATCH", "/anything"));
        let s = vec![
            Scope::parse("GET /a").unwrap(),
            Scope::parse("POST /b/**").unwrap(),
        ];
        assert!(admits(&s, "POST", "/b/c"));
        assert!(!admits(&s, "GET", "/b/c"));
    }

    #[test]
    fn many_double_stars_stay_cheap() {
        let pattern = format!("GET /{}", vec!["**"; 60].join("/"));
        let path = format!("/{}", vec!["x"; 200].join("/"));
        assert!(allows(&pattern, "GET", &path));
    }
}
