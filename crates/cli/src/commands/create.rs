//! `keygate create`: a new key with the given fields. The key goes to stdout alone, once; the
//! message to stderr names its id, never the key.

use super::key_opts::KeyOpts;
use super::{rfc3339, Ctx};
use crate::backend::Backend;
use crate::error::CliError;
use keygate_core::lifecycle::rules::quota_text;

/// The fields of the new key; `import` takes the same.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub(super) key: KeyOpts,
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let new = args.key.build(ctx.now)?;
    let (key, rec) = b.create(&new, ctx.now)?;
    ctx.io.note(format_args!(
        "created key {} ({}) for consumer {}{}{}{}. Store it now: it is not shown again.",
        rec.id,
        rec.name,
        rec.consumer_id,
        rec.expires_at
            .map(|e| format!(", expires {}", rfc3339(e)))
            .unwrap_or_default(),
        rec.tier
            .as_ref()
            .map(|t| format!(", tier {t}"))
            .unwrap_or_default(),
        rec.quota
            .as_ref()
            .map(|q| format!(", quota {}", quota_text(q)))
            .unwrap_or_default(),
    ));
    ctx.io.print(&format!("{}\n", key.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{parse as args, with_ctx};
    use keygate_core::keyformat::{self, KeyShape};
    use keygate_core::kv::memory::MemoryKv;
    use keygate_core::lifecycle::generate_key;

    #[test]
    fn create_prints_the_key_alone_on_stdout_and_its_id_on_stderr() {
        let kv = MemoryKv::new();
        let a: Args = args(&["--name", "ci", "--tier", "pro", "--quota", "5/day"]);
        let (cap, r) = with_ctx("", |ctx| run(a, &kv, ctx));
        r.unwrap();
        let out = cap.out();
        let key = out.trim_end();
        assert_eq!(out, format!("{key}\n"));
        assert_eq!(keyformat::classify(key), KeyShape::Valid);
        let id = keygate_core::ApiKey::new(key).hash().id().to_owned();
        let err = cap.err();
        assert!(err.contains(&id) && !err.contains(key), "{err}");
        assert!(err.contains("tier pro, quota 5/day per key"), "{err}");
        assert_eq!(kv.entries().len(), 1);
    }

    #[test]
    fn create_refused_by_a_rule_prints_nothing_and_stores_nothing() {
        let kv = MemoryKv::new();
        let (cap, r) = with_ctx("", |ctx| run(args::<Args>(&["--name", ""]), &kv, ctx));
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with("--name must be"), "{e}");
        assert!(cap.out.is_empty() && kv.calls().is_empty());
    }

    /// The rule `id` in `.gitleaks.toml`, as a scanner would apply it.
    fn gitleaks_rule(id: &str) -> regex::Regex {
        let toml = include_str!("../../../../.gitleaks.toml");
        let line = toml
            .lines()
            .skip_while(|l| *l != format!("id = \"{id}\""))
            .find(|l| l.starts_with("regex = "))
            .expect("regex line");
        let pattern = line.trim_start_matches("regex = ").trim_matches('\'');
        regex::Regex::new(pattern).expect("the gitleaks regex compiles")
    }

    #[test]
    fn gitleaks_rule_matches_generated_keys_and_rejects_mutated_ones() {
        let rule = gitleaks_rule("keygate-api-key");
        for _ in 0..50 {
            let key = generate_key().unwrap();
            let text = format!("export TOKEN={} # leaked", key.expose());
            let m = rule.captures(&text).expect("matches a generated key");
            assert_eq!(&m[1], key.expose());
            let k = key.expose();
            for mutated in [
                k[..k.len() - 1].to_owned(),         // checksum cut short
                k.replacen("kg_", "kx_", 1),         // other prefix
                k.replace('_', "-"),                 // separators changed
                format!("{}{}", &k[..10], &k[11..]), // one random character dropped
            ] {
                assert!(!rule.is_match(&mutated), "{mutated}");
            }
        }
        // The published regex and the one in the code agree.
        assert!(rule.as_str().contains(keyformat::KEY_REGEX));
    }

    #[test]
    fn gitleaks_root_key_rule_matches_generated_root_keys_and_no_api_key() {
        let rule = gitleaks_rule("keygate-root-key");
        for _ in 0..50 {
            let root = keygate_core::root::RootKey::generate().unwrap();
            let text = format!("KEYGATE_ROOT_KEY={} # leaked", root.expose());
            assert_eq!(&rule.captures(&text).expect("matches")[1], root.expose());
            assert!(!rule.is_match(generate_key().unwrap().expose()));
            let k = root.expose();
            assert!(!rule.is_match(&k[..k.len() - 1]), "checksum cut short");
        }
        assert!(rule.as_str().contains(keyformat::ROOT_KEY_REGEX));
    }
}
