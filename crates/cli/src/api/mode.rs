//! Which path a command takes: the management API (API mode) or wrangler. A plain function of
//! the flags and the environment, so every rule is tested without a process:
//!
//! - API mode: `--url URL`, or `$KEYGATE_URL` together with `$KEYGATE_ROOT_KEY`, or
//!   `--root-key-file PATH` (with a URL from either). The root key comes from
//!   `--root-key-file` (`-`: the first line of stdin; the command reads the rest), else
//!   `$KEYGATE_ROOT_KEY`. Never from a flag value: flags show in `ps`.
//! - A wrangler flag (`--local`, `--remote`, `--env`, `--persist-to`, `--config`, `--binding`)
//!   in API mode is a usage error: the two choices contradict each other.
//! - `keygate usage ID --url URL` without any root key keeps its meaning from before API mode:
//!   the record from KV through wrangler, the count from the gateway's admin endpoint.
//! - `stats` and `hash` use neither path.

use crate::error::CliError;
use crate::http::check_base_url;
use keygate_core::keyformat::{self, KeyShape};
use keygate_core::root::RootKey;

/// Environment variable holding the root key of API mode.
pub const ROOT_KEY_ENV: &str = "KEYGATE_ROOT_KEY";
/// Environment variable naming the gateway's base URL (also the admin endpoint's).
pub use crate::admin::URL_ENV;

/// What kind of command runs, as far as the choice of path goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// create, import, list, show, disable, enable, rotate, revoke, set-tier, set-quota.
    Keys,
    /// `usage`: API mode like the key commands, with its older `--url` meaning kept.
    Usage,
    /// `root …` and `audit`.
    Management,
    /// `stats`, `hash`: they reach no key store.
    Neither,
}

/// The flags and environment the choice reads.
#[derive(Debug, Clone, Default)]
pub struct Inputs<'a> {
    pub url_flag: Option<&'a str>,
    /// `--root-key-file`, as given (`-` is stdin).
    pub root_key_file: Option<&'a str>,
    pub env_url: Option<&'a str>,
    pub env_root_key: Option<&'a str>,
    /// The wrangler flags given, by name (`--local`, …).
    pub wrangler_flags: Vec<&'static str>,
}

/// Where the command goes.
#[derive(Debug)]
pub enum Mode {
    /// KV through wrangler; `note` is a remark for stderr (a root key without a URL).
    Wrangler { note: Option<String> },
    /// The management API at `base` (checked, no trailing slash), with this root key.
    Api { base: String, root_key: RootKey },
}

/// A value that is set and not blank.
fn set(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.trim().is_empty())
}

fn usage(flag: &'static str, message: impl Into<String>) -> CliError {
    CliError::usage(flag, message)
}

/// Picks the path for a command of `kind`. `read_root_key_file` reads `--root-key-file`'s
/// value (a path, or `-` for stdin's first line); it is called only in API mode. No error
/// message holds the root key.
pub fn choose(
    kind: Kind,
    inputs: &Inputs,
    read_root_key_file: impl FnOnce(&str) -> Result<String, String>,
) -> Result<Mode, CliError> {
    let (env_url, env_root_key) = (set(inputs.env_url), set(inputs.env_root_key));
    if kind == Kind::Neither {
        if inputs.url_flag.is_some() || inputs.root_key_file.is_some() {
            let flag = if inputs.url_flag.is_some() {
                "--url"
            } else {
                "--root-key-file"
            };
            return Err(usage(
                flag,
                format!("{flag} selects the management API, which this command does not use"),
            ));
        }
        return Ok(Mode::Wrangler { note: None });
    }
    let key_given = inputs.root_key_file.is_some() || env_root_key.is_some();
    if kind == Kind::Usage && inputs.url_flag.is_some() && !key_given {
        // `keygate usage ID --url URL` before API mode: KV through wrangler, and the count
        // from the admin endpoint at URL with $KEYGATE_ADMIN_TOKEN.
        return Ok(Mode::Wrangler { note: None });
    }
    let why = if inputs.url_flag.is_some() {
        "--url"
    } else if inputs.root_key_file.is_some() {
        "--root-key-file"
    } else if env_url.is_some() && env_root_key.is_some() {
        "KEYGATE_URL with KEYGATE_ROOT_KEY"
    } else {
        let note = (env_root_key.is_some()).then(|| {
            format!(
                "{ROOT_KEY_ENV} is set but {URL_ENV} is not: using wrangler. Set {URL_ENV} (or \
                 pass --url) to go through the management API"
            )
        });
        return Ok(Mode::Wrangler { note });
    };
    if let Some(flag) = inputs.wrangler_flags.first() {
        return Err(usage(
            flag,
            format!(
                "{flag} picks a KV namespace for the wrangler path; it cannot be used in API mode \
                 ({why} selects the management API). Leave {flag} out, or leave API mode (drop \
                 --url and --root-key-file, unset {ROOT_KEY_ENV})"
            ),
        ));
    }
    let (url, from) = match (inputs.url_flag, env_url) {
        (Some(u), _) => (u, "--url"),
        (None, Some(u)) => (u, URL_ENV),
        (None, None) => {
            return Err(usage(
                "--root-key-file",
                format!("API mode needs the gateway's URL: pass --url https://… or set {URL_ENV}"),
            ))
        }
    };
    let base = check_base_url(url, "the gateway URL", "root key")
        .map_err(|e| usage("--url", format!("{from}: {e}")))?;
    let (raw, source) = match (inputs.root_key_file, env_root_key) {
        (Some(path), _) => {
            let raw = read_root_key_file(path).map_err(|e| usage("--root-key-file", e))?;
            let source = if path == "-" {
                "the first line of stdin (--root-key-file -)".to_owned()
            } else {
                format!("the root key file {path}")
            };
            (raw, source)
        }
        (None, Some(k)) => (k.to_owned(), ROOT_KEY_ENV.to_owned()),
        (None, None) => {
            return Err(usage(
                "--url",
                format!(
                    "API mode ({why}) needs a root key: set {ROOT_KEY_ENV}, or pass \
                     --root-key-file PATH ('-' reads it from the first line of stdin). Never \
                     put it in a flag: flags show in `ps`"
                ),
            ))
        }
    };
    let raw = raw.trim();
    let root_key = RootKey::parse(raw).ok_or_else(|| {
        let what = if keyformat::classify(raw) == KeyShape::Valid {
            "holds an API key (kg_…), not a root key (kgr_…); API keys never open the \
             management API"
        } else if raw.is_empty() {
            "is empty"
        } else {
            "does not hold a root key (kgr_… with a valid checksum)"
        };
        usage("--root-key-file", format!("{source} {what}"))
    })?;
    Ok(Mode::Api { base, root_key })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_key() -> String {
        RootKey::generate().unwrap().expose().to_owned()
    }

    fn no_file(_: &str) -> Result<String, String> {
        panic!("the root key file is not read")
    }

    fn api(m: Mode) -> (String, RootKey) {
        match m {
            Mode::Api { base, root_key } => (base, root_key),
            other => panic!("not API mode: {other:?}"),
        }
    }

    fn message(e: CliError) -> String {
        assert_eq!(e.exit_code(), 2, "{e}");
        e.to_string()
    }

    #[test]
    fn with_neither_url_nor_root_key_every_command_uses_wrangler() {
        for kind in [Kind::Keys, Kind::Usage, Kind::Management, Kind::Neither] {
            let m = choose(kind, &Inputs::default(), no_file).unwrap();
            assert!(matches!(m, Mode::Wrangler { note: None }), "{kind:?}");
        }
        // KEYGATE_URL alone is the admin endpoint's URL for `usage`, as before.
        let env_url_only = Inputs {
            env_url: Some("https://gw.example"),
            ..Inputs::default()
        };
        let m = choose(Kind::Keys, &env_url_only, no_file).unwrap();
        assert!(matches!(m, Mode::Wrangler { note: None }));
    }

    #[test]
    fn both_environment_variables_select_api_mode() {
        let k = root_key();
        let inputs = Inputs {
            env_url: Some("https://gw.example/"),
            env_root_key: Some(&k),
            ..Inputs::default()
        };
        for kind in [Kind::Keys, Kind::Usage, Kind::Management] {
            let (base, key) = api(choose(kind, &inputs, no_file).unwrap());
            assert_eq!(base, "https://gw.example");
            assert_eq!(key.expose(), k);
        }
        let m = choose(Kind::Neither, &inputs, no_file).unwrap();
        assert!(matches!(m, Mode::Wrangler { note: None }));
    }

    #[test]
    fn a_root_key_without_a_url_uses_wrangler_and_says_why() {
        let k = root_key();
        let inputs = Inputs {
            env_root_key: Some(&k),
            ..Inputs::default()
        };
        let Mode::Wrangler { note: Some(note) } = choose(Kind::Keys, &inputs, no_file).unwrap()
        else {
            panic!("wrangler with a note")
        };
        assert!(note.contains(URL_ENV) && !note.contains(&k), "{note}");
    }

    #[test]
    fn the_url_flag_wins_over_the_environment_and_needs_a_root_key() {
        let k = root_key();
        let inputs = Inputs {
            url_flag: Some("https://flag.example"),
            env_url: Some("https://env.example"),
            env_root_key: Some(&k),
            ..Inputs::default()
        };
        assert_eq!(
            api(choose(Kind::Keys, &inputs, no_file).unwrap()).0,
            "https://flag.example"
        );
        let without_key = Inputs {
            url_flag: Some("https://flag.example"),
            ..Inputs::default()
        };
        let e = message(choose(Kind::Keys, &without_key, no_file).unwrap_err());
        assert!(
            e.contains(ROOT_KEY_ENV) && e.contains("--root-key-file"),
            "{e}"
        );
    }

    #[test]
    fn usage_with_url_but_no_root_key_keeps_the_admin_endpoint_path() {
        let inputs = Inputs {
            url_flag: Some("http://127.0.0.1:8787"),
            wrangler_flags: vec!["--config", "--persist-to"],
            ..Inputs::default()
        };
        let m = choose(Kind::Usage, &inputs, no_file).unwrap();
        assert!(matches!(m, Mode::Wrangler { note: None }));
        let k = root_key();
        let with_key = Inputs {
            url_flag: Some("http://127.0.0.1:8787"),
            env_root_key: Some(&k),
            ..Inputs::default()
        };
        api(choose(Kind::Usage, &with_key, no_file).unwrap());
    }

    #[test]
    fn a_wrangler_flag_in_api_mode_is_a_usage_error() {
        let k = root_key();
        for flag in [
            "--local",
            "--remote",
            "--env",
            "--persist-to",
            "--config",
            "--binding",
        ] {
            let inputs = Inputs {
                env_url: Some("https://gw.example"),
                env_root_key: Some(&k),
                wrangler_flags: vec![flag],
                ..Inputs::default()
            };
            let e = choose(Kind::Keys, &inputs, no_file).unwrap_err();
            assert!(matches!(e, CliError::Usage { flag: f, .. } if f == flag));
            let e = message(e);
            assert!(
                e.starts_with(&format!("{flag} picks a KV namespace")),
                "{e}"
            );
            assert!(!e.contains(&k));
        }
    }

    #[test]
    fn the_root_key_file_is_read_and_trimmed_and_names_its_source_in_errors() {
        let k = root_key();
        let inputs = Inputs {
            url_flag: Some("https://gw.example"),
            root_key_file: Some("/run/secrets/kgr"),
            env_root_key: Some("kgr_not_this_one"),
            ..Inputs::default()
        };
        let (_, key) = api(choose(Kind::Management, &inputs, |p| {
            assert_eq!(p, "/run/secrets/kgr");
            Ok(format!("{k}\n"))
        })
        .unwrap());
        assert_eq!(key.expose(), k);
        let e = message(
            choose(Kind::Keys, &inputs, |_| {
                Err("could not read /run/secrets/kgr: no such file".into())
            })
            .unwrap_err(),
        );
        assert_eq!(e, "could not read /run/secrets/kgr: no such file");
        // A file without a URL anywhere.
        let no_url = Inputs {
            root_key_file: Some("-"),
            ..Inputs::default()
        };
        let e = message(choose(Kind::Keys, &no_url, no_file).unwrap_err());
        assert!(e.contains("--url") && e.contains(URL_ENV), "{e}");
    }

    #[test]
    fn something_that_is_not_a_root_key_is_refused_without_being_echoed() {
        let api_key = keygate_core::lifecycle::generate_key().unwrap();
        let mut broken = root_key();
        broken.pop();
        broken.push(if broken.ends_with('a') { 'b' } else { 'a' });
        for (value, want) in [
            (api_key.expose().to_owned(), "holds an API key (kg_…)"),
            (broken.clone(), "does not hold a root key"),
            ("hunter2".to_owned(), "does not hold a root key"),
        ] {
            let inputs = Inputs {
                env_url: Some("https://gw.example"),
                env_root_key: Some(&value),
                ..Inputs::default()
            };
            let e = message(choose(Kind::Keys, &inputs, no_file).unwrap_err());
            assert!(e.starts_with(ROOT_KEY_ENV) && e.contains(want), "{e}");
            assert!(!e.contains(&value), "{e}");
        }
    }

    #[test]
    fn plain_http_is_refused_except_to_loopback_so_the_root_key_stays_encrypted() {
        let k = root_key();
        let inputs = |url| Inputs {
            url_flag: Some(url),
            env_root_key: Some(&k),
            ..Inputs::default()
        };
        let e = message(choose(Kind::Keys, &inputs("http://gw.example.com"), no_file).unwrap_err());
        assert!(e.contains("plain http") && e.contains("root key"), "{e}");
        api(choose(Kind::Keys, &inputs("http://localhost:8787"), no_file).unwrap());
        let e =
            message(choose(Kind::Keys, &inputs("https://u:pw@gw.example"), no_file).unwrap_err());
        assert!(!e.contains("pw@"), "{e}");
    }

    #[test]
    fn stats_and_hash_refuse_the_api_flags_and_ignore_the_environment() {
        let e = choose(
            Kind::Neither,
            &Inputs {
                url_flag: Some("https://gw.example"),
                ..Inputs::default()
            },
            no_file,
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = choose(
            Kind::Neither,
            &Inputs {
                root_key_file: Some("-"),
                ..Inputs::default()
            },
            no_file,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("--root-key-file"), "{e}");
    }
}
