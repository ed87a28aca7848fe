//! `keygate hash`: the KV key name (hex SHA-256) a key's record is stored under. Reads no store.

use super::Ctx;
use crate::error::CliError;
use keygate_core::lifecycle::KeyRef;
use keygate_core::ApiKey;

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_name = "KEY|-")]
    key: String,
}

pub fn run(args: Args, ctx: &mut Ctx) -> Result<(), CliError> {
    let raw = ctx.io.key_arg(&args.key)?;
    let hash = match KeyRef::parse(&raw)? {
        KeyRef::Key(k) => k.hash(),
        // 12 hex characters are also a valid key; hash them as given.
        KeyRef::Id(_) => ApiKey::new(raw).hash(),
    };
    ctx.io.print(&format!("{}\n", hash.as_kv_key()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::with_ctx;

    #[test]
    fn hash_prints_the_sha256_of_a_key_or_of_twelve_hex_characters_as_given() {
        let (cap, r) = with_ctx("abc\n", |ctx| run(Args { key: "-".into() }, ctx));
        r.unwrap();
        assert_eq!(
            cap.out(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
        );
        let (cap, r) = with_ctx("", |ctx| {
            run(
                Args {
                    key: "0123456789ab".into(),
                },
                ctx,
            )
        });
        r.unwrap();
        assert_eq!(
            cap.out().trim_end(),
            ApiKey::new("0123456789ab").hash().as_kv_key()
        );
    }
}
