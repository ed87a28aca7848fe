//! `keygate root create|list|revoke`: the management API's root keys. Without API mode they are
//! written to and read from KV directly (`root:<hash>` records, through core's `root` module):
//! that is how the first root key is made, before any exists. In API mode they go through
//! `/roots`. A new root key goes to stdout alone, once; nothing else ever prints it.

use super::{print_json, rfc3339, Ctx};
use crate::backend::Backend;
use crate::error::CliError;
use keygate_core::root::{Permission, Permissions, RootRecord};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a root key. Prints the key alone on stdout, once; it cannot be shown again.
    Create(CreateArgs),
    /// List root keys: id, name, permissions, consumer prefix, created. Never keys or hashes.
    List(ListArgs),
    /// Revoke a root key by its id: it no longer opens the management API.
    Revoke(RevokeArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// A label for the root key, e.g. the service that uses it.
    #[arg(long)]
    name: String,
    /// What it may do, comma-separated or repeated: keys:read, keys:write, keys:revoke,
    /// keys:verify, usage:read, audit:read, roots:manage.
    #[arg(long, value_name = "PERMISSION", required = true)]
    permissions: Vec<String>,
    /// Confine it to consumers whose id starts with this prefix (the tenant guard).
    #[arg(long, value_name = "PREFIX")]
    consumer_prefix: Option<String>,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct RevokeArgs {
    /// The root key's id (12 hex characters, as `keygate root list` shows).
    #[arg(value_name = "ID")]
    id: String,
}

pub fn run(cmd: Cmd, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    match cmd {
        Cmd::Create(a) => create(a, b, ctx),
        Cmd::List(a) => list(a, b, ctx),
        Cmd::Revoke(a) => revoke(a, b, ctx),
    }
}

fn names(p: Permissions) -> String {
    p.iter()
        .map(Permission::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn create(a: CreateArgs, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let permissions = Permissions::parse_list(&a.permissions)?;
    let prefix = a.consumer_prefix.as_deref();
    let (key, rec) = b.create_root(&a.name, permissions, prefix, ctx.now)?;
    ctx.io.note(format_args!(
        "created root key {} ({}) with {}{}. Store it now: it is not shown again.",
        rec.id,
        rec.name,
        names(rec.permissions),
        rec.consumer_prefix
            .as_ref()
            .map(|p| format!(", confined to consumers starting with {p}"))
            .unwrap_or_default(),
    ));
    ctx.io.print(&format!("{}\n", key.expose()))
}

fn json_row(r: &RootRecord) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "name": r.name, "permissions": r.permissions,
        "consumer_prefix": r.consumer_prefix,
        "created_at": rfc3339(r.created_at),
    })
}

fn table(roots: &[RootRecord]) -> String {
    let mut out = format!(
        "{:<12}  {:<24}  {:<40}  {:<16}  CREATED\n",
        "ID", "NAME", "PERMISSIONS", "CONSUMER PREFIX"
    );
    for r in roots {
        out.push_str(&format!(
            "{:<12}  {:<24}  {:<40}  {:<16}  {}\n",
            r.id,
            r.name,
            names(r.permissions),
            r.consumer_prefix.as_deref().unwrap_or("-"),
            rfc3339(r.created_at),
        ));
    }
    out
}

fn list(a: ListArgs, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let l = b.list_roots()?;
    for (id, reason) in &l.corrupt {
        ctx.io.note(format_args!(
            "skipping corrupt root record {id} ({reason:?})"
        ));
    }
    if a.json {
        let rows: Vec<_> = l.roots.iter().map(json_row).collect();
        return print_json(&mut ctx.io, &rows);
    }
    ctx.io.print(&table(&l.roots))?;
    ctx.io.note(format_args!("{} root key(s)", l.roots.len()));
    Ok(())
}

fn revoke(a: RevokeArgs, b: &dyn Backend, ctx: &mut Ctx) -> Result<(), CliError> {
    let r = b.revoke_root(a.id.trim())?;
    let name = r.name.map(|n| format!(" ({n})")).unwrap_or_default();
    ctx.io.note(format_args!(
        "revoked root key {}{name}. Gateways refuse it within the revocation bound (see README).",
        r.id
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::block_on;
    use crate::commands::testing::{parse, try_parse, with_ctx, NOW};
    use keygate_core::kv::memory::MemoryKv;
    use keygate_core::root::{self, RootKey, ROOT_RECORD_PREFIX};

    fn create_args(a: &[&str]) -> CreateArgs {
        parse(a)
    }

    #[test]
    fn root_create_prints_the_root_key_alone_and_stores_only_its_hash() {
        let kv = MemoryKv::new();
        let a = create_args(&[
            "--name",
            "billing backend",
            "--permissions",
            "keys:read,usage:read",
            "--permissions",
            "keys:write",
            "--consumer-prefix",
            "acme-",
        ]);
        let (cap, r) = with_ctx("", |ctx| create(a, &kv, ctx));
        r.unwrap();
        let out = cap.out();
        let key = out.trim_end();
        assert_eq!(out, format!("{key}\n"));
        let root_key = RootKey::parse(key).expect("a root key");
        let rec = block_on(root::find_root(&kv, &root_key)).unwrap().unwrap();
        assert_eq!(rec.name, "billing backend");
        assert_eq!(names(rec.permissions), "keys:read,keys:write,usage:read");
        assert_eq!(rec.consumer_prefix.as_deref(), Some("acme-"));
        assert_eq!(rec.created_at, NOW);
        let err = cap.err();
        assert_eq!(
            err,
            format!(
                "keygate: created root key {} (billing backend) with keys:read,keys:write,\
                 usage:read, confined to consumers starting with acme-. Store it now: it is not \
                 shown again.\n",
                rec.id
            )
        );
        for (name, e) in kv.entries() {
            assert!(name.starts_with(ROOT_RECORD_PREFIX));
            assert!(!e.value.contains(key) && !name.contains(key));
        }
    }

    #[test]
    fn root_create_refuses_unknown_permissions_and_bad_prefixes_before_any_write() {
        let kv = MemoryKv::new();
        for (args, want) in [
            (
                &["--name", "x", "--permissions", "keys:nuke"][..],
                "--permissions: 'keys:nuke' is not a permission",
            ),
            (
                &["--name", "x", "--permissions", ","],
                "--permissions: name at least one permission",
            ),
            (
                &[
                    "--name",
                    "x",
                    "--permissions",
                    "keys:read",
                    "--consumer-prefix",
                    "acme/",
                ],
                "--consumer-prefix must be 1 to 128 characters",
            ),
            (
                &["--name", "", "--permissions", "keys:read"],
                "--name must be 1 to 128",
            ),
        ] {
            let (cap, r) = with_ctx("", |ctx| create(create_args(args), &kv, ctx));
            let e = r.unwrap_err();
            assert_eq!(e.exit_code(), 2, "{e}");
            assert!(e.to_string().starts_with(want), "{e}");
            assert!(cap.out.is_empty());
        }
        assert!(kv.calls().is_empty());
        assert!(
            try_parse::<CreateArgs>(&["--name", "x"]).is_err(),
            "--permissions is required"
        );
    }

    #[test]
    fn root_list_shows_records_without_keys_and_json_rows() {
        let kv = MemoryKv::new();
        let (k1, r1) =
            block_on(root::create_root(&kv, "ops", Permissions::all(), None, NOW)).unwrap();
        let (k2, r2) = block_on(root::create_root(
            &kv,
            "acme support",
            Permissions::parse_list(&["keys:read"]).unwrap(),
            Some("acme-"),
            NOW + 1,
        ))
        .unwrap();
        let (cap, r) = with_ctx("", |ctx| list(ListArgs { json: false }, &kv, ctx));
        r.unwrap();
        let out = cap.out();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("ID ") && lines[0].ends_with("CREATED"));
        assert!(lines[1].starts_with(&r1.id) && lines[2].starts_with(&r2.id));
        assert!(lines[2].contains("keys:read") && lines[2].contains("acme-"));
        assert!(lines[1].contains("roots:manage"));
        assert_eq!(cap.err(), "keygate: 2 root key(s)\n");
        for k in [&k1, &k2] {
            assert!(!out.contains(k.expose()) && !out.contains(k.hash().as_kv_key()));
        }
        let (cap, r) = with_ctx("", |ctx| list(ListArgs { json: true }, &kv, ctx));
        r.unwrap();
        let v: serde_json::Value = serde_json::from_str(&cap.out()).unwrap();
        assert_eq!(v[1]["id"], r2.id.as_str());
        assert_eq!(v[1]["permissions"], serde_json::json!(["keys:read"]));
        assert_eq!(v[1]["consumer_prefix"], "acme-");
        assert_eq!(v[0]["consumer_prefix"], serde_json::Value::Null);
        assert_eq!(v[0]["created_at"], "2027-01-15T08:00:00Z");
    }

    #[test]
    fn root_revoke_deletes_by_id_and_an_unknown_id_exits_3() {
        let kv = MemoryKv::new();
        let (key, rec) =
            block_on(root::create_root(&kv, "ops", Permissions::all(), None, NOW)).unwrap();
        let a = RevokeArgs { id: rec.id.clone() };
        let (cap, r) = with_ctx("", |ctx| revoke(a, &kv, ctx));
        r.unwrap();
        assert!(
            cap.err()
                .starts_with(&format!("keygate: revoked root key {} (ops).", rec.id)),
            "{}",
            cap.err()
        );
        assert_eq!(block_on(root::find_root(&kv, &key)).unwrap(), None);
        for id in [rec.id.as_str(), "not-an-id"] {
            let a = RevokeArgs { id: id.into() };
            let (_, r) = with_ctx("", |ctx| revoke(a, &kv, ctx));
            let e = r.unwrap_err();
            assert_eq!(e.exit_code(), 3);
            assert_eq!(
                e.to_string(),
                format!("no root key with id {id}: it was revoked, or never created here")
            );
        }
    }
}
