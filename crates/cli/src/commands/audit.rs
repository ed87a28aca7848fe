//! `keygate audit`: the management API's audit trail (`GET /audit`), oldest first, as a table or
//! JSON: who (a root key's id, or `bootstrap`), what (the action, the key ids, the names of the
//! fields changed), when, and the request id. API mode only: the trail lives in the gateway's
//! Durable Object, which wrangler's KV commands cannot read.

use super::{print_json, rfc3339, Ctx};
use crate::backend::{AuditEntry, AuditPage, Backend};
use crate::error::CliError;
use crate::redact::clean;

#[derive(clap::Args)]
pub struct Args {
    /// Entries per page (1 to 100).
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: u32,
    /// Start where an earlier page ended (its cursor).
    #[arg(long, value_name = "CURSOR")]
    cursor: Option<String>,
    /// Follow the cursors to the end of the trail.
    #[arg(long)]
    all: bool,
    /// Print JSON: `{"entries": [...], "cursor": ...}` as the API answers (times in Unix
    /// seconds); with --all, every entry and a null cursor.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let mut page = b.audit(args.limit, args.cursor.as_deref())?;
    if args.all {
        let mut seen = args.cursor.clone();
        while let Some(c) = page.cursor.take() {
            if seen.as_deref() == Some(c.as_str()) {
                break;
            }
            let next = b.audit(args.limit, Some(&c))?;
            page.entries.extend(next.entries);
            page.cursor = next.cursor;
            seen = Some(c);
        }
    }
    if args.json {
        return print_json(&mut ctx.io, &page);
    }
    ctx.io.print(&table(&page))?;
    ctx.io.note(format_args!(
        "{} audit entr{}",
        page.entries.len(),
        plural(&page)
    ));
    if let Some(c) = &page.cursor {
        ctx.io.note(format_args!(
            "more entries follow: keygate audit --cursor {}",
            clean(c)
        ));
    }
    Ok(())
}

fn plural(p: &AuditPage) -> &'static str {
    if p.entries.len() == 1 {
        "y"
    } else {
        "ies"
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        clean(&items.join(","))
    }
}

fn table(p: &AuditPage) -> String {
    let mut out = format!(
        "{:<6}  {:<20}  {:<12}  {:<11}  {:<12}  {:<20}  {:<24}  REQUEST ID\n",
        "SEQ", "AT", "ACTOR", "ACTION", "KEYS", "CONSUMER", "FIELDS"
    );
    for e in &p.entries {
        out.push_str(&row(e));
    }
    out
}

fn row(e: &AuditEntry) -> String {
    format!(
        "{:<6}  {:<20}  {:<12}  {:<11}  {:<12}  {:<20}  {:<24}  {}\n",
        e.seq,
        rfc3339(e.at),
        clean(&e.actor),
        clean(&e.action),
        list(&e.key_ids),
        e.consumer_id.as_deref().map_or_else(|| "-".into(), clean),
        list(&e.fields),
        e.request_id.as_deref().map_or_else(|| "-".into(), clean),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{parse, try_parse, with_ctx};
    use keygate_core::kv::memory::MemoryKv;

    #[test]
    fn audit_without_api_mode_is_a_usage_error_that_says_so() {
        let kv = MemoryKv::new();
        let (cap, r) = with_ctx("", |ctx| run(parse(&[]), &kv, ctx));
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(
            msg.contains("management API") && msg.contains("KEYGATE_URL"),
            "{msg}"
        );
        assert!(cap.out.is_empty() && kv.calls().is_empty());
    }

    #[test]
    fn the_limit_is_1_to_100() {
        assert!(try_parse::<Args>(&["--limit", "0"]).is_err());
        assert!(try_parse::<Args>(&["--limit", "101"]).is_err());
        assert!(try_parse::<Args>(&["--limit", "abc"]).is_err());
        assert_eq!(parse::<Args>(&[]).limit, 50);
    }

    #[test]
    fn a_row_shows_every_column_and_drops_control_characters() {
        let e = AuditEntry {
            seq: 7,
            at: 1_800_000_000,
            actor: "bootstrap".into(),
            action: "key.update".into(),
            key_ids: vec!["0123456789ab".into()],
            consumer_id: Some("acme\u{1b}[2J".into()),
            fields: vec!["name".into(), "scopes".into()],
            request_id: None,
        };
        assert_eq!(
            row(&e),
            "7       2027-01-15T08:00:00Z  bootstrap     key.update   0123456789ab  \
             acme[2J               name,scopes               -\n"
        );
    }
}
