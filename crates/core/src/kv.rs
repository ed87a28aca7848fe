//! The storage the key lifecycle ([`crate::lifecycle`]) runs on: a Workers KV namespace's
//! semantics as an async trait ([`KvStore`]), and [`memory::MemoryKv`], an in-memory namespace
//! with injectable failures for tests.
//!
//! Implementations: the CLI's `wrangler kv key …` backend (crates/cli), the in-memory fake, and
//! the worker's KV binding. The trait follows KV: values are text, metadata is a JSON value,
//! an expiration is an absolute time in Unix seconds, and `list` returns pages of names (at most
//! [`MAX_LIST_PAGE`] at the edge) with a cursor for the next page.

pub mod memory;

use crate::secret::KEY_ID_LEN;
use serde::Deserialize;
use std::fmt;

/// The most names one page of a KV list holds at the edge.
pub const MAX_LIST_PAGE: usize = 1000;

/// One name of a list page, with what KV keeps beside it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Listed {
    pub name: String,
    /// When KV removes the entry, Unix seconds.
    #[serde(default)]
    pub expiration: Option<u64>,
    /// The metadata written with the entry.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// One page of a list: names in lexicographic order, and the cursor of the next page (`None`
/// on the last page).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPage {
    pub keys: Vec<Listed>,
    pub cursor: Option<String>,
}

/// The store could not do what was asked. The message is for an operator; it never holds a
/// key or a full key hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError(pub String);

impl KvError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// An error from a store's own message, which may quote the names it was given: every run
    /// of 64 or more hex digits (a full key hash, alone or in `root:<hash>`) is cut to its first
    /// [`KEY_ID_LEN`] digits, the public id, followed by `…`.
    pub fn scrubbed(message: &str) -> Self {
        fn flush(run: &mut String, out: &mut String) {
            if run.len() >= 64 {
                out.push_str(&run[..KEY_ID_LEN]);
                out.push('…');
            } else {
                out.push_str(run);
            }
            run.clear();
        }
        let mut out = String::with_capacity(message.len());
        let mut run = String::new();
        for c in message.chars() {
            if c.is_ascii_hexdigit() {
                run.push(c);
            } else {
                flush(&mut run, &mut out);
                out.push(c);
            }
        }
        flush(&mut run, &mut out);
        Self(out)
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KvError {}

/// What KV keeps beside a value that is put.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PutOptions<'a> {
    /// Returned by `list` with the name (KV: at most 1024 bytes of JSON).
    pub metadata: Option<&'a serde_json::Value>,
    /// When KV removes the entry: absolute Unix seconds, at least 60 s ahead.
    pub expiration: Option<u64>,
}

/// A KV namespace.
#[allow(async_fn_in_trait)] // Workers futures are single-threaded; no Send bound is wanted.
pub trait KvStore {
    /// The value stored under `name`; `Ok(None)` when there is none.
    async fn get(&self, name: &str) -> Result<Option<String>, KvError>;
    /// Stores `value` under `name`, with list metadata and an expiration. Replaces what was there.
    async fn put(&self, name: &str, value: &str, opts: PutOptions<'_>) -> Result<(), KvError>;
    /// Removes `name`; removing a name that is not there succeeds.
    async fn delete(&self, name: &str) -> Result<(), KvError>;
    /// One page of the names starting with `prefix`, from `cursor` (`None`: the first page).
    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<ListPage, KvError>;
}

/// Every name starting with `prefix`, following cursors to the last page; stops early once
/// `limit` names are collected.
pub async fn list_all(
    kv: &impl KvStore,
    prefix: &str,
    limit: Option<usize>,
) -> Result<Vec<Listed>, KvError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = kv.list(prefix, cursor.as_deref()).await?;
        out.extend(page.keys);
        if limit.is_some_and(|l| out.len() >= l) {
            return Ok(out);
        }
        match page.cursor {
            Some(c) if cursor.as_deref() != Some(c.as_str()) => cursor = Some(c),
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KvError;

    #[test]
    fn scrubbed_errors_keep_only_the_id_of_a_full_hash() {
        let hash = "0123456789abcdef".repeat(4);
        let msg = format!("get {hash} failed; root:{hash}: 503");
        let KvError(text) = KvError::scrubbed(&msg);
        assert!(!text.contains(&hash), "{text}");
        assert_eq!(text, "get 0123456789ab… failed; root:0123456789ab…: 503");
    }

    #[test]
    fn scrubbed_errors_keep_short_hex_and_other_text_as_is() {
        let msg = "KV GET failed: 503 Service Unavailable, ref deadbeef, é";
        assert_eq!(KvError::scrubbed(msg).0, msg);
        let long = "a".repeat(80);
        assert_eq!(KvError::scrubbed(&long).0, format!("{}…", &long[..12]));
    }
}
