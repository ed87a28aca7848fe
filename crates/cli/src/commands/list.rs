//! `keygate list`: every key (or those of one consumer, or in one state) as a table or JSON:
//! id, name, consumer, tier, created, expires, state. Never keys or hashes.

use super::{print_json, rfc3339, Ctx};
use crate::backend::Backend;
use crate::error::CliError;
use keygate_core::lifecycle::{parse_state, state_name, Filter, Summary};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
    /// Only keys of this consumer.
    #[arg(long, value_name = "ID")]
    consumer: Option<String>,
    /// Only keys in this state.
    #[arg(long, value_parser = ["active", "disabled", "expired"])]
    state: Option<String>,
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let filter = Filter {
        consumer_id: args.consumer,
        state: args.state.as_deref().and_then(parse_state),
    };
    let page = b.list(&filter, ctx.now)?;
    for (id, reason) in &page.corrupt {
        ctx.io
            .note(format_args!("skipping corrupt record {id} ({reason:?})"));
    }
    let now = ctx.now;
    if args.json {
        let rows: Vec<_> = page.keys.iter().map(|k| json_row(k, now)).collect();
        return print_json(&mut ctx.io, &rows);
    }
    ctx.io.print(&table(&page.keys, now))?;
    ctx.io.note(format_args!("{} key(s)", page.keys.len()));
    Ok(())
}

fn json_row(k: &Summary, now: u64) -> serde_json::Value {
    serde_json::json!({
        "id": k.id, "name": k.name, "consumer_id": k.consumer_id,
        "tier": k.tier,
        "created_at": rfc3339(k.created_at),
        "expires_at": k.expires_at.map(rfc3339),
        "state": state_name(k.state(now)),
    })
}

fn table(keys: &[Summary], now: u64) -> String {
    let mut out = format!(
        "{:<12}  {:<24}  {:<20}  {:<12}  {:<20}  {:<20}  STATE\n",
        "ID", "NAME", "CONSUMER", "TIER", "CREATED", "EXPIRES"
    );
    for k in keys {
        out.push_str(&format!(
            "{:<12}  {:<24}  {:<20}  {:<12}  {:<20}  {:<20}  {}\n",
            k.id,
            k.name,
            k.consumer_id,
            k.tier.as_deref().unwrap_or("-"),
            rfc3339(k.created_at),
            k.expires_at.map(rfc3339).unwrap_or_else(|| "never".into()),
            state_name(k.state(now))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::block_on;
    use crate::commands::testing::{with_ctx, NOW};
    use keygate_core::kv::memory::MemoryKv;
    use keygate_core::lifecycle;
    use keygate_core::lifecycle::{KeyRef, NewKey};

    fn args(json: bool, consumer: Option<&str>, state: Option<&str>) -> Args {
        Args {
            json,
            consumer: consumer.map(str::to_owned),
            state: state.map(str::to_owned),
        }
    }

    fn two_keys() -> (MemoryKv, String, String) {
        let kv = MemoryKv::new();
        let (_, a) = block_on(lifecycle::create(&kv, &NewKey::new("a", "acme"), NOW)).unwrap();
        let (_, b) = block_on(lifecycle::create(&kv, &NewKey::new("b", "globex"), NOW)).unwrap();
        block_on(lifecycle::set_disabled(
            &kv,
            &KeyRef::Id(b.id.clone()),
            true,
            NOW,
        ))
        .unwrap();
        (kv, a.id, b.id)
    }

    #[test]
    fn the_table_has_a_header_and_one_row_a_key_and_the_count_goes_to_stderr() {
        let (kv, a, b) = two_keys();
        let (cap, r) = with_ctx("", |ctx| run(args(false, None, None), &kv, ctx));
        r.unwrap();
        let out = cap.out();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("ID ") && lines[0].ends_with("STATE"));
        assert_eq!(lines.len(), 3);
        let row = |id: &str| *lines.iter().find(|l| l.starts_with(id)).unwrap();
        assert!(row(&a).ends_with("active") && row(&b).ends_with("disabled"));
        assert_eq!(cap.err(), "keygate: 2 key(s)\n");
    }

    #[test]
    fn json_rows_honour_the_consumer_and_state_filters() {
        let (kv, a, _) = two_keys();
        let (cap, r) = with_ctx("", |ctx| {
            run(args(true, Some("acme"), Some("active")), &kv, ctx)
        });
        r.unwrap();
        let v: serde_json::Value = serde_json::from_str(&cap.out()).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0]["id"], a.as_str());
        assert_eq!(v[0]["state"], "active");
        assert_eq!(v[0]["created_at"], "2027-01-15T08:00:00Z");
        assert!(v[0]["expires_at"].is_null());
        let (cap, _) = with_ctx("", |ctx| {
            run(args(true, Some("acme"), Some("disabled")), &kv, ctx)
        });
        assert_eq!(cap.out(), "[]\n");
    }
}
