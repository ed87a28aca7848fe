//! The options `create` and `import` share, and their reading into a `NewKey`: `--expires` as
//! RFC 3339 or a duration, `--scopes` split at commas, `--meta` pairs over `--meta-json`.
//! The rules (future expiry, scope grammar, sizes) are core's.

use crate::error::CliError;
use keygate_core::lifecycle::rules::{
    canonical_scopes, check_consumer_id, check_expiry, check_meta, check_tier, parse_quota,
    parse_quota_scope,
};
use keygate_core::lifecycle::NewKey;
use keygate_core::limits::QuotaScope;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Options shared by `create` and `import`.
#[derive(clap::Args)]
pub struct KeyOpts {
    /// A label for the key (need not be unique).
    #[arg(long)]
    name: String,
    /// The consumer the key belongs to (A-Z a-z 0-9 . _ : @ -).
    #[arg(long, value_name = "ID", default_value = "default")]
    consumer: String,
    /// A display name for the consumer, sent to the origin as X-Consumer-Name.
    #[arg(long, value_name = "NAME")]
    consumer_name: Option<String>,
    /// Expiry: an RFC 3339 time (2027-01-31T00:00:00Z) or a duration from now (30d, 12h).
    #[arg(long, value_name = "RFC3339|DURATION")]
    expires: Option<String>,
    /// Limit the key to 'METHOD /pattern' rules (repeatable, or comma-separated), e.g. 'GET /v1/*'.
    #[arg(long, value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Metadata key=value (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Metadata as a JSON object (--meta pairs are merged over it).
    #[arg(long, value_name = "JSON")]
    meta_json: Option<String>,
    /// A note for operators; never sent to the origin.
    #[arg(long)]
    description: Option<String>,
    /// Rate-limit tier, a name from the gateway's RATE_LIMIT_TIERS (default: its DEFAULT_TIER).
    #[arg(long, value_name = "TIER")]
    tier: Option<String>,
    /// Exact request quota: LIMIT per month, day or hour (UTC) or per N seconds, e.g.
    /// 10000/month, 500/day, 100/hour, 20/30s.
    #[arg(long, value_name = "LIMIT/PERIOD")]
    quota: Option<String>,
    /// Count the quota per key (the default) or across all keys of the consumer.
    #[arg(long, value_name = "SCOPE", requires = "quota", value_parser = ["key", "consumer"])]
    quota_per: Option<String>,
}

impl KeyOpts {
    /// The key's fields, every flag read and checked before any store call.
    pub fn build(self, now: u64) -> Result<NewKey, CliError> {
        check_consumer_id(&self.consumer)?;
        let tier = self.tier.map(|t| check_tier(&t).map(|()| t)).transpose()?;
        let per = scope_arg(self.quota_per.as_deref())?;
        Ok(NewKey {
            name: self.name,
            consumer_id: self.consumer,
            consumer_name: self.consumer_name,
            expires_at: self.expires.map(|e| parse_expiry(&e, now)).transpose()?,
            scopes: parse_scopes(&self.scopes)?,
            meta: parse_meta(&self.meta, self.meta_json.as_deref())?,
            description: self.description,
            tier,
            quota: self.quota.map(|q| parse_quota(&q, per)).transpose()?,
        })
    }
}

/// The quota scope of `--per` / `--quota-per`; `key` when not given.
pub fn scope_arg(s: Option<&str>) -> Result<QuotaScope, CliError> {
    Ok(s.map_or(Ok(QuotaScope::default()), parse_quota_scope)?)
}

/// Reads `--expires`: an RFC 3339 time, or a duration from now such as `30d` or `12h`. The
/// result must lie in the future.
pub fn parse_expiry(s: &str, now: u64) -> Result<u64, CliError> {
    let s = s.trim();
    let bad = |why: &str| CliError::usage("--expires", format!("--expires '{s}' {why}"));
    let at = if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        u64::try_from(t.unix_timestamp()).map_err(|_| bad("is before 1970"))?
    } else if let Ok(d) = humantime::parse_duration(s) {
        now.checked_add(d.as_secs())
            .ok_or_else(|| bad("is too far away"))?
    } else {
        return Err(bad(
            "is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a duration (30d, 12h)",
        ));
    };
    check_expiry(at, now).map_err(|_| bad("is not in the future"))?;
    Ok(at)
}

/// Reads `--scopes` values: each may hold several scopes separated by commas.
pub fn parse_scopes(values: &[String]) -> Result<Vec<String>, CliError> {
    let scopes: Vec<String> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(canonical_scopes(&scopes)?)
}

/// Builds metadata from `--meta k=v` pairs over an optional `--meta-json` object.
pub fn parse_meta(
    pairs: &[String],
    json: Option<&str>,
) -> Result<serde_json::Map<String, serde_json::Value>, CliError> {
    let mut meta = match json {
        None => serde_json::Map::new(),
        Some(j) => match serde_json::from_str(j) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => {
                return Err(CliError::usage(
                    "--meta-json",
                    "--meta-json must be a JSON object",
                ))
            }
        },
    };
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            CliError::usage("--meta", format!("--meta '{pair}' must be key=value"))
        })?;
        if k.is_empty() {
            return Err(CliError::usage(
                "--meta",
                format!("--meta '{pair}' has an empty key"),
            ));
        }
        meta.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
    }
    check_meta(&meta)?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::NOW;
    use keygate_core::lifecycle::rules::quota_text;
    use keygate_core::lifecycle::{Field, Invalid, LifecycleError, Problem};

    fn flag(e: CliError) -> &'static str {
        match e {
            CliError::Usage { flag, .. } => flag,
            other => panic!("not a usage error: {other:?}"),
        }
    }

    #[test]
    fn expiry_accepts_rfc3339_and_durations_and_refuses_the_past() {
        assert_eq!(parse_expiry("30d", NOW).unwrap(), NOW + 30 * 86_400);
        assert_eq!(
            parse_expiry("2030-01-01T00:00:00Z", NOW).unwrap(),
            1_893_456_000
        );
        assert_eq!(
            parse_expiry("2030-01-01T01:00:00+01:00", NOW).unwrap(),
            1_893_456_000
        );
        let past = parse_expiry("2020-01-01T00:00:00Z", NOW).unwrap_err();
        assert_eq!(
            past.to_string(),
            "--expires '2020-01-01T00:00:00Z' is not in the future"
        );
        assert_eq!(flag(past), "--expires");
        assert_eq!(flag(parse_expiry("0s", NOW).unwrap_err()), "--expires");
        let e = parse_expiry("tomorrow", NOW).unwrap_err();
        assert!(e.to_string().contains("neither an RFC 3339"), "{e}");
    }

    #[test]
    fn scopes_split_at_commas_into_canonical_form_and_bad_ones_are_refused() {
        assert_eq!(
            parse_scopes(&["GET:/v1/*, * /r/**".into()]).unwrap(),
            vec!["GET /v1/*", "* /r/**"]
        );
        let e = parse_scopes(&["GET v1".into()]).unwrap_err();
        assert!(
            matches!(&e, CliError::Lifecycle(LifecycleError::Invalid(i)) if i.field == Field::Scopes),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("--scopes: "), "{e}");
    }

    #[test]
    fn metadata_pairs_merge_over_the_json_object_and_malformed_ones_are_refused() {
        let m = parse_meta(&["plan=pro".into()], Some(r#"{"plan":"free","seats":5}"#)).unwrap();
        assert_eq!(
            serde_json::Value::Object(m),
            serde_json::json!({"plan":"pro","seats":5})
        );
        assert_eq!(
            flag(parse_meta(&["novalue".into()], None).unwrap_err()),
            "--meta"
        );
        assert_eq!(
            flag(parse_meta(&["=v".into()], None).unwrap_err()),
            "--meta"
        );
        assert_eq!(
            flag(parse_meta(&[], Some("[1]")).unwrap_err()),
            "--meta-json"
        );
        let big = parse_meta(&[format!("k={}", "x".repeat(9000))], None).unwrap_err();
        assert!(matches!(
            big,
            CliError::Lifecycle(LifecycleError::Invalid(Invalid {
                field: Field::Meta,
                problem: Problem::MetaTooLarge
            }))
        ));
    }

    fn opts(args: &[&str]) -> Result<KeyOpts, clap::Error> {
        crate::commands::testing::try_parse(args)
    }

    #[test]
    fn quota_per_needs_a_quota_and_a_known_scope() {
        assert!(opts(&["--name", "x", "--quota-per", "consumer"]).is_err());
        assert!(opts(&["--name", "x", "--quota", "5/day", "--quota-per", "team"]).is_err());
        let o = opts(&[
            "--name",
            "x",
            "--tier",
            "pro",
            "--quota",
            "5/day",
            "--quota-per",
            "consumer",
        ])
        .unwrap()
        .build(NOW)
        .unwrap();
        assert_eq!(o.tier.as_deref(), Some("pro"));
        assert_eq!(
            o.quota.map(|q| quota_text(&q)).as_deref(),
            Some("5/day per consumer")
        );
    }

    #[test]
    fn a_bad_tier_quota_or_consumer_is_refused_while_reading_the_flags() {
        for (args, field) in [
            (&["--name", "x", "--tier", "Pro"][..], Field::Tier),
            (&["--name", "x", "--quota", "0/day"], Field::Quota),
            (&["--name", "x", "--quota", "10/week"], Field::Quota),
            (&["--name", "x", "--consumer", "a b"], Field::ConsumerId),
        ] {
            let e = opts(args).unwrap().build(NOW).unwrap_err();
            assert!(
                matches!(&e, CliError::Lifecycle(LifecycleError::Invalid(i)) if i.field == field),
                "{args:?}: {e:?}"
            );
            assert_eq!(e.exit_code(), 2);
        }
    }
}
