//! `keygate show`: one key's record, by id or by the key itself, as text or JSON (with its
//! state). The record holds no key and no full hash.

use super::{print_json, rfc3339, tier_text, Ctx};
use crate::backend::Backend;
use crate::error::CliError;
use keygate_core::lifecycle::{rules::quota_text, state_name};
use keygate_core::KeyRecord;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "ID|KEY|-")]
    key: String,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let r = ctx.io.key_ref(&args.key)?;
    let rec = b.show(&r)?;
    let state = state_name(rec.state(ctx.now));
    if args.json {
        let mut v = serde_json::to_value(&rec).map_err(|e| CliError::Failed(e.to_string()))?;
        v["state"] = state.into();
        return print_json(&mut ctx.io, &v);
    }
    ctx.io.print(&text(&rec, state))
}

fn text(r: &KeyRecord, state: &str) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: &str| out.push_str(&format!("{label:<15}{value}\n"));
    line("id:", &r.id);
    line("name:", &r.name);
    line("consumer:", &r.consumer_id);
    if let Some(n) = &r.consumer_name {
        line("consumer name:", n);
    }
    line("created:", &rfc3339(r.created_at));
    line(
        "expires:",
        &r.expires_at.map(rfc3339).unwrap_or_else(|| "never".into()),
    );
    line("state:", state);
    line("tier:", &tier_text(r.tier.as_deref()));
    line(
        "quota:",
        &r.quota
            .as_ref()
            .map_or_else(|| "none".to_owned(), quota_text),
    );
    if !r.scopes.is_empty() {
        line("scopes:", &r.scopes.join(", "));
    }
    if let Some(d) = &r.description {
        line("description:", d);
    }
    if !r.meta.is_empty() {
        line(
            "meta:",
            &serde_json::Value::Object(r.meta.clone()).to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::block_on;
    use crate::commands::testing::{store_with_a_key, with_ctx, NOW};
    use keygate_core::kv::memory::MemoryKv;
    use keygate_core::lifecycle;
    use keygate_core::lifecycle::NewKey;

    #[test]
    fn show_by_key_on_stdin_prints_the_record_without_the_key() {
        let kv = MemoryKv::new();
        let new = NewKey {
            scopes: vec!["GET /v1/*".into()],
            ..NewKey::new("svc", "acme")
        };
        let (key, rec) = block_on(lifecycle::create(&kv, &new, NOW)).unwrap();
        let args = Args {
            key: "-".into(),
            json: false,
        };
        let (cap, r) = with_ctx(&format!("{}\n", key.expose()), |ctx| run(args, &kv, ctx));
        r.unwrap();
        let out = cap.out();
        assert!(
            out.starts_with(&format!("id:            {}\n", rec.id)),
            "{out}"
        );
        assert!(out.contains("name:          svc\n"));
        assert!(out.contains("tier:          default (the gateway's DEFAULT_TIER)\n"));
        assert!(out.contains("quota:         none\n"));
        assert!(out.contains("scopes:        GET /v1/*\n"));
        assert!(!out.contains(key.expose()) && !out.contains(key.hash().as_kv_key()));
    }

    #[test]
    fn show_json_adds_the_state_and_an_unknown_id_exits_3() {
        let (kv, _, rec) = store_with_a_key();
        let args = Args {
            key: rec.id.clone(),
            json: true,
        };
        let (cap, r) = with_ctx("", |ctx| run(args, &kv, ctx));
        r.unwrap();
        let v: serde_json::Value = serde_json::from_str(&cap.out()).unwrap();
        assert_eq!(
            (v["id"].as_str(), v["state"].as_str()),
            (Some(rec.id.as_str()), Some("active"))
        );
        let args = Args {
            key: "ffffffffffff".into(),
            json: true,
        };
        let (cap, r) = with_ctx("", |ctx| run(args, &kv, ctx));
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().starts_with("no key with id ffffffffffff"));
        assert!(cap.out.is_empty());
    }
}
