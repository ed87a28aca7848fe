//! The CLI's error and its exit codes, so scripts can tell cases apart without reading text:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | failure: anything not below (a gateway or Analytics Engine error, a corrupt record, …) |
//! | 2 | usage: a flag or argument that clap or a keygate rule refuses; nothing was written |
//! | 3 | not found: no stored key matches the id or key given |
//! | 4 | conflict: the key is stored already, an id is ambiguous, a key cannot be rotated |
//! | 5 | store unavailable: KV (through wrangler) failed or wrangler could not run |
//!
//! In API mode (the management API, [`crate::api`]) the gateway's answer picks the code:
//!
//! | status | code |
//! |--------|------|
//! | 400, 413, 422 (the request breaks a rule; nothing was written) | 2 |
//! | 404 (no such key or root key, or one outside the root key's consumer prefix) | 3 |
//! | 409 (a duplicate on import, rotating a disabled or expired key, an idempotency clash) | 4 |
//! | 429, 502, 503, 504, and no connection at all (try again later) | 5 |
//! | 401, 403 (the root key is refused or lacks a permission), 3xx, 405, 415, 500, others | 1 |
//!
//! Messages never hold a key, a root key or a token.

use keygate_core::lifecycle::{Field, LifecycleError};
use std::fmt;

pub const EXIT_FAILURE: u8 = 1;
/// The code clap exits with on a usage error, used for ours too.
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NOT_FOUND: u8 = 3;
pub const EXIT_CONFLICT: u8 = 4;
pub const EXIT_STORE: u8 = 5;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// A flag value that does not parse, or flags that do not go together. Exit 2.
    Usage { flag: &'static str, message: String },
    /// What the key lifecycle refused or could not do; the exit code follows its kind.
    Lifecycle(LifecycleError),
    /// Anything else that failed (stdin, the gateway, Analytics Engine, a log file). Exit 1.
    Failed(String),
    /// A failure that carries its own exit code: the management API's refusals and faults
    /// (`code` from [`exit_code_of_status`]), an unknown root key (3). `message` says why and
    /// never holds a key or the root key.
    Coded { code: u8, message: String },
}

/// The exit code of a management API answer with HTTP `status` that is not a success.
pub fn exit_code_of_status(status: u16) -> u8 {
    match status {
        400 | 413 | 422 => EXIT_USAGE,
        404 => EXIT_NOT_FOUND,
        409 => EXIT_CONFLICT,
        429 | 502 | 503 | 504 => EXIT_STORE,
        _ => EXIT_FAILURE,
    }
}

impl CliError {
    pub fn usage(flag: &'static str, message: impl Into<String>) -> Self {
        CliError::Usage {
            flag,
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage { .. } => EXIT_USAGE,
            CliError::Lifecycle(e) => match e {
                LifecycleError::Invalid(_) => EXIT_USAGE,
                LifecycleError::NotFound(_) => EXIT_NOT_FOUND,
                LifecycleError::Conflict(_) => EXIT_CONFLICT,
                LifecycleError::Store { .. } => EXIT_STORE,
                LifecycleError::Corrupt { .. } | LifecycleError::Random(_) => EXIT_FAILURE,
            },
            CliError::Failed(_) => EXIT_FAILURE,
            CliError::Coded { code, .. } => *code,
        }
    }
}

/// How the CLI names a field in messages: by the flag that sets it.
pub fn flag_of(field: &Field) -> String {
    match field {
        Field::Key => "key".into(),
        Field::Name => "--name".into(),
        Field::ConsumerId => "--consumer".into(),
        Field::ConsumerName => "--consumer-name".into(),
        Field::Description => "--description".into(),
        Field::ExpiresAt => "--expires".into(),
        Field::Scopes => "--scopes".into(),
        Field::Meta => "metadata".into(),
        Field::Tier => "tier".into(),
        Field::Quota => "quota".into(),
        Field::Keys => "keys on stdin".into(),
        Field::ImportLine(n) => format!("line {n}"),
        Field::Permissions => "--permissions".into(),
        Field::ConsumerPrefix => "--consumer-prefix".into(),
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage { message, .. }
            | CliError::Failed(message)
            | CliError::Coded { message, .. } => f.write_str(message),
            CliError::Lifecycle(e) => f.write_str(&e.render(flag_of)),
        }
    }
}

impl From<LifecycleError> for CliError {
    fn from(e: LifecycleError) -> Self {
        CliError::Lifecycle(e)
    }
}

impl From<keygate_core::lifecycle::Invalid> for CliError {
    fn from(e: keygate_core::lifecycle::Invalid) -> Self {
        CliError::Lifecycle(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_core::kv::KvError;
    use keygate_core::lifecycle::{AskedBy, Conflict, Invalid, NotFound, Problem};

    #[test]
    fn each_kind_of_failure_has_its_exit_code() {
        let nf = NotFound {
            id: "0123456789ab".into(),
            by: AskedBy::Id,
        };
        for (e, code) in [
            (CliError::usage("--since", "bad"), 2),
            (Invalid::new(Field::Name, Problem::Label).into(), 2),
            (LifecycleError::NotFound(nf).into(), 3),
            (
                LifecycleError::from(Conflict::AmbiguousId { id: "x".into() }).into(),
                4,
            ),
            (LifecycleError::from(KvError::new("down")).into(), 5),
            (CliError::Failed("the gateway answered 500".into()), 1),
            (
                CliError::Coded {
                    code: 5,
                    message: "x".into(),
                },
                5,
            ),
        ] {
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }

    #[test]
    fn management_api_statuses_map_to_the_codes_of_the_same_cases_on_the_wrangler_path() {
        for (status, code) in [
            (400, 2),
            (401, 1),
            (403, 1),
            (404, 3),
            (405, 1),
            (409, 4),
            (413, 2),
            (415, 1),
            (422, 2),
            (429, 5),
            (500, 1),
            (502, 5),
            (503, 5),
            (504, 5),
            (302, 1),
            (418, 1),
        ] {
            assert_eq!(exit_code_of_status(status), code, "{status}");
        }
    }

    #[test]
    fn invalid_fields_are_named_by_their_flags() {
        let e: CliError = Invalid::new(Field::ConsumerId, Problem::ConsumerId).into();
        assert!(e.to_string().starts_with("--consumer must be"), "{e}");
        let e: CliError = Invalid::new(Field::Keys, Problem::NoKeys).into();
        assert_eq!(e.to_string(), "no keys on stdin to import");
    }
}
