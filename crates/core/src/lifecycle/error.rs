//! Why a lifecycle operation failed, typed so that callers map it without reading text: the
//! management API to an HTTP status ([`LifecycleError::http_status`]), the CLI to an exit code.
//! No message holds a key or a full key hash.

use crate::kv::KvError;
use crate::limits::MAX_QUOTA_LIMIT;
use crate::record::CorruptRecord;
use std::fmt;

/// A lifecycle operation's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleError {
    /// The input breaks a rule; nothing was written. HTTP 422.
    Invalid(Invalid),
    /// No stored key matches. HTTP 404.
    NotFound(NotFound),
    /// The request conflicts with what is stored; nothing was written. HTTP 409.
    Conflict(Conflict),
    /// A stored record cannot be decoded. HTTP 500.
    Corrupt { id: String, reason: CorruptRecord },
    /// The store failed, and what was done about writes made before the failure. HTTP 503.
    Store { error: KvError, rollback: Rollback },
    /// The random generator failed; no key was made. HTTP 500.
    Random(String),
}

impl LifecycleError {
    /// The status the management API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            LifecycleError::Invalid(_) => 422,
            LifecycleError::NotFound(_) => 404,
            LifecycleError::Conflict(_) => 409,
            LifecycleError::Store { .. } => 503,
            LifecycleError::Corrupt { .. } | LifecycleError::Random(_) => 500,
        }
    }

    /// The error, with each invalid field named by `subject` (the CLI passes its flag names).
    pub fn render(&self, subject: impl Fn(&Field) -> String) -> String {
        match self {
            LifecycleError::Invalid(i) => i.render(&subject(&i.field)),
            other => other.to_string(),
        }
    }
}

impl From<KvError> for LifecycleError {
    fn from(error: KvError) -> Self {
        LifecycleError::Store {
            error,
            rollback: Rollback::NotNeeded,
        }
    }
}

impl From<Invalid> for LifecycleError {
    fn from(i: Invalid) -> Self {
        LifecycleError::Invalid(i)
    }
}

impl From<Conflict> for LifecycleError {
    fn from(c: Conflict) -> Self {
        LifecycleError::Conflict(c)
    }
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleError::Invalid(i) => f.write_str(&i.render(&i.field.name())),
            LifecycleError::NotFound(n) => n.fmt(f),
            LifecycleError::Conflict(c) => c.fmt(f),
            LifecycleError::Corrupt { id, reason } => {
                write!(f, "the record of key {id} is corrupt ({reason:?})")
            }
            LifecycleError::Store { error, rollback } => write!(f, "{error}{rollback}"),
            LifecycleError::Random(e) => write!(f, "the OS random generator failed: {e}"),
        }
    }
}

impl std::error::Error for LifecycleError {}

/// The input a rule refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A key id or key naming an existing key.
    Key,
    Name,
    ConsumerId,
    ConsumerName,
    Description,
    ExpiresAt,
    Scopes,
    Meta,
    Tier,
    Quota,
    /// The keys to import, as a whole.
    Keys,
    /// One key to import: its 1-based line (or position).
    ImportLine(usize),
    /// A root key's permissions.
    Permissions,
    /// A root key's consumer prefix.
    ConsumerPrefix,
}

impl Field {
    /// The field's name in the management API.
    pub fn name(&self) -> String {
        match self {
            Field::Key => "key".into(),
            Field::Name => "name".into(),
            Field::ConsumerId => "consumer_id".into(),
            Field::ConsumerName => "consumer_name".into(),
            Field::Description => "description".into(),
            Field::ExpiresAt => "expires_at".into(),
            Field::Scopes => "scopes".into(),
            Field::Meta => "meta".into(),
            Field::Tier => "tier".into(),
            Field::Quota => "quota".into(),
            Field::Keys => "keys".into(),
            Field::ImportLine(n) => format!("line {n}"),
            Field::Permissions => "permissions".into(),
            Field::ConsumerPrefix => "consumer_prefix".into(),
        }
    }
}

/// Which rule an input broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Neither a key id (12 hex characters) nor a well-formed key.
    NotKeyOrId,
    /// A label: 1 to 128 printable ASCII characters, no leading or trailing space.
    Label,
    /// A consumer id: 1 to 128 of `A-Z a-z 0-9 . _ : @ -`.
    ConsumerId,
    /// At most 1024 characters, no control characters.
    Description,
    /// An expiry at or before now.
    NotInFuture,
    /// An expiry after [`super::rules::MAX_EXPIRES_AT`].
    TooLate,
    /// A scope that does not parse, with the parser's reason.
    Scope(String),
    /// Metadata that is not a JSON object.
    MetaNotObject,
    /// Metadata larger than [`super::rules::MAX_META_LEN`].
    MetaTooLarge,
    /// A tier name outside `a-z 0-9 _ -`, 1 to 32 characters.
    TierName(String),
    /// Quota text that is not `LIMIT/PERIOD`.
    QuotaSyntax(String),
    /// A quota limit outside 1 to [`MAX_QUOTA_LIMIT`].
    QuotaLimit(String),
    /// A quota period that is not month, day, hour or `Ns`.
    QuotaPeriod(String),
    /// A quota scope other than key or consumer.
    QuotaScope(String),
    /// A key to import that is no RFC 6750 b64token of at most 4096 bytes.
    NotAKey,
    /// A key to import with the keygate prefix and a wrong checksum.
    BadChecksum,
    /// Nothing to import.
    NoKeys,
    /// A permission name that is not one of `crate::root::Permission`'s.
    Permission(String),
    /// A root key with no permission at all.
    NoPermissions,
}

/// An input refused by a rule: which input, and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: Field,
    pub problem: Problem,
}

impl Invalid {
    pub fn new(field: Field, problem: Problem) -> Self {
        Self { field, problem }
    }

    /// The message, with the input called `subject` (`name`, `--name`, `line 3`).
    pub fn render(&self, subject: &str) -> String {
        match &self.problem {
            Problem::NotKeyOrId => "expected a key id (12 hex characters) or an API key".into(),
            Problem::Label => format!(
                "{subject} must be 1 to 128 printable ASCII characters, without leading or \
                 trailing spaces"
            ),
            Problem::ConsumerId => {
                format!("{subject} must be 1 to 128 characters from A-Z a-z 0-9 . _ : @ -")
            }
            Problem::Description => {
                format!("{subject} must be at most 1024 characters, without control characters")
            }
            Problem::NotInFuture => format!("{subject} is not in the future"),
            Problem::TooLate => format!("{subject} is after 9999-12-31T23:59:59Z"),
            Problem::Scope(e) => format!("{subject}: {e}"),
            Problem::MetaNotObject => format!("{subject} must be a JSON object"),
            Problem::MetaTooLarge => format!("{subject} is larger than 8 KiB"),
            Problem::TierName(t) => format!(
                "{subject} '{t}' must be 1 to 32 characters from a-z 0-9 _ - (a name from the \
                 gateway's RATE_LIMIT_TIERS)"
            ),
            Problem::QuotaSyntax(q) => format!(
                "{subject} '{q}' must be LIMIT/PERIOD, e.g. 10000/month, 500/day, 100/hour or \
                 20/30s"
            ),
            Problem::QuotaLimit(l) => {
                format!("{subject} limit '{l}' must be a whole number from 1 to {MAX_QUOTA_LIMIT}")
            }
            Problem::QuotaPeriod(p) => format!(
                "{subject} period '{p}' must be month, day or hour (UTC), or a number of \
                 seconds such as 30s (1s to 31622400s)"
            ),
            Problem::QuotaScope(s) => format!("{subject} scope '{s}' must be key or consumer"),
            Problem::NotAKey => {
                format!("{subject}: not a valid key (RFC 6750 b64token, at most 4096 bytes)")
            }
            Problem::BadChecksum => {
                format!("{subject}: starts with kg_ but fails the keygate checksum")
            }
            Problem::NoKeys => format!("no {subject} to import"),
            Problem::Permission(p) => format!(
                "{subject}: '{p}' is not a permission (keys:read, keys:write, keys:revoke, \
                 keys:verify, usage:read, audit:read, roots:manage)"
            ),
            Problem::NoPermissions => format!("{subject}: name at least one permission"),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&self.field.name()))
    }
}

/// How the missing key was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskedBy {
    Id,
    Key,
    /// The key was there a moment ago and is gone now (revoked concurrently).
    Vanished,
}

/// No stored key matches: it was revoked, or never stored here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// The id asked for, or the id of the key asked for.
    pub id: String,
    pub by: AskedBy,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.id;
        match self.by {
            AskedBy::Id => write!(
                f,
                "no key with id {id}: it was revoked, or never stored here"
            ),
            AskedBy::Key => write!(
                f,
                "no key matches the given key (id {id}): it was revoked, or never stored here"
            ),
            AskedBy::Vanished => write!(f, "key {id} vanished while reading"),
        }
    }
}

/// What is stored stands in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The key is stored already (on import: at this line).
    AlreadyStored {
        id: String,
        line: Option<usize>,
    },
    /// The same key appears twice in one import, the second time at this line.
    Repeated {
        line: usize,
    },
    /// More than one stored key has this id.
    AmbiguousId {
        id: String,
    },
    /// Only an active key can be rotated.
    Disabled {
        id: String,
    },
    Expired {
        id: String,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::AlreadyStored { id, line: None } => {
                write!(f, "key {id} is already stored; nothing was written")
            }
            Conflict::AlreadyStored { id, line: Some(n) } => {
                write!(f, "line {n}: key {id} is already stored")
            }
            Conflict::Repeated { line } => write!(f, "line {line}: the same key appears twice"),
            Conflict::AmbiguousId { id } => write!(f, "id {id} is ambiguous; use the key itself"),
            Conflict::Disabled { id } => {
                write!(f, "key {id} is disabled; enable it before rotating")
            }
            Conflict::Expired { id } => {
                write!(f, "key {id} has expired; create a new key instead")
            }
        }
    }
}

/// What happened to the writes an operation made before the store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// Nothing had been written.
    NotNeeded,
    /// The keys written before (these ids) were removed again: nothing changed.
    Done { ids: Vec<String> },
    /// Removing them failed: these ids are still stored.
    Failed { ids: Vec<String>, error: KvError },
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rollback::NotNeeded => Ok(()),
            Rollback::Done { ids } => write!(
                f,
                "; the {} key(s) written before were removed again, nothing changed",
                ids.len()
            ),
            Rollback::Failed { ids, error } => write!(
                f,
                "; removing the key(s) written before ({}) also failed: {error}",
                ids.join(", ")
            ),
        }
    }
}
