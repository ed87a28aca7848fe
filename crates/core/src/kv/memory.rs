//! [`MemoryKv`]: a KV namespace in memory, for the tests of core and of the CLI. It records
//! every call, pages its lists like KV (with a page size tests can lower), and fails on
//! request: every call, every call of one kind, or one call after a number of successes.

use super::{KvError, KvStore, ListPage, Listed, PutOptions, MAX_LIST_PAGE};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The kinds of KV call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Put,
    Delete,
    List,
}

/// One stored entry: the value, its list metadata, its KV expiration.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryEntry {
    pub value: String,
    pub metadata: Option<serde_json::Value>,
    pub expiration: Option<u64>,
}

/// A planned failure: calls of `op` (any call when `None`) fail with `message` once `skip`
/// matching calls have succeeded, `times` times (for ever when `None`).
#[derive(Debug, Clone)]
struct Failure {
    op: Option<Op>,
    skip: usize,
    times: Option<usize>,
    message: String,
}

/// An in-memory namespace. Expired entries are kept: tests control time themselves.
#[derive(Debug)]
pub struct MemoryKv {
    entries: RefCell<BTreeMap<String, MemoryEntry>>,
    failures: RefCell<Vec<Failure>>,
    calls: RefCell<Vec<(Op, String)>>,
    page_size: usize,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::with_page_size(MAX_LIST_PAGE)
    }
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    /// A namespace whose lists return at most `n` names a page (at least 1).
    pub fn with_page_size(n: usize) -> Self {
        Self {
            entries: RefCell::default(),
            failures: RefCell::default(),
            calls: RefCell::default(),
            page_size: n.max(1),
        }
    }

    /// Every call of `op` (every call at all with `None`) fails with `message` from now on.
    pub fn fail(&self, op: Option<Op>, message: &str) {
        self.failures.borrow_mut().push(Failure {
            op,
            skip: 0,
            times: None,
            message: message.to_owned(),
        });
    }

    /// The call of `op` after the next `skip` successful ones fails with `message`, once.
    pub fn fail_once_after(&self, op: Op, skip: usize, message: &str) {
        self.failures.borrow_mut().push(Failure {
            op: Some(op),
            skip,
            times: Some(1),
            message: message.to_owned(),
        });
    }

    /// No call fails any more.
    pub fn heal(&self) {
        self.failures.borrow_mut().clear();
    }

    /// A copy of everything stored, by name.
    pub fn entries(&self) -> BTreeMap<String, MemoryEntry> {
        self.entries.borrow().clone()
    }

    /// A copy of the entry under `name`.
    pub fn entry(&self, name: &str) -> Option<MemoryEntry> {
        self.entries.borrow().get(name).cloned()
    }

    /// Changes a stored entry in place (to plant a corrupt record, drop metadata, …), without
    /// counting as a call. Panics when there is no such entry.
    pub fn edit(&self, name: &str, change: impl FnOnce(&mut MemoryEntry)) {
        change(
            self.entries
                .borrow_mut()
                .get_mut(name)
                .expect("MemoryKv::edit: no such entry"),
        );
    }

    /// Stores an entry directly, without counting as a call.
    pub fn insert(&self, name: &str, entry: MemoryEntry) {
        self.entries.borrow_mut().insert(name.to_owned(), entry);
    }

    /// Every call made so far, with its name (or prefix), including calls that failed.
    pub fn calls(&self) -> Vec<(Op, String)> {
        self.calls.borrow().clone()
    }

    /// The names of the calls of one kind.
    pub fn calls_of(&self, op: Op) -> Vec<String> {
        self.calls
            .borrow()
            .iter()
            .filter(|(o, _)| *o == op)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// Records a call and decides whether it fails.
    fn call(&self, op: Op, name: &str) -> Result<(), KvError> {
        self.calls.borrow_mut().push((op, name.to_owned()));
        let mut failures = self.failures.borrow_mut();
        let Some(i) = failures
            .iter()
            .position(|f| f.op.is_none_or(|o| o == op) && f.times != Some(0))
        else {
            return Ok(());
        };
        let f = &mut failures[i];
        if f.skip > 0 {
            f.skip -= 1;
            return Ok(());
        }
        if let Some(t) = &mut f.times {
            *t -= 1;
        }
        Err(KvError::new(f.message.clone()))
    }
}

impl KvStore for MemoryKv {
    async fn get(&self, name: &str) -> Result<Option<String>, KvError> {
        self.call(Op::Get, name)?;
        Ok(self.entries.borrow().get(name).map(|e| e.value.clone()))
    }

    async fn put(&self, name: &str, value: &str, opts: PutOptions<'_>) -> Result<(), KvError> {
        self.call(Op::Put, name)?;
        self.insert(
            name,
            MemoryEntry {
                value: value.to_owned(),
                metadata: opts.metadata.cloned(),
                expiration: opts.expiration,
            },
        );
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), KvError> {
        self.call(Op::Delete, name)?;
        self.entries.borrow_mut().remove(name);
        Ok(())
    }

    /// The cursor is the last name of the page: the next page starts after it.
    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<ListPage, KvError> {
        self.call(Op::List, prefix)?;
        let entries = self.entries.borrow();
        let mut names = entries
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && cursor.is_none_or(|c| k.as_str() > c));
        let keys: Vec<Listed> = names
            .by_ref()
            .take(self.page_size)
            .map(|(k, e)| Listed {
                name: k.clone(),
                expiration: e.expiration,
                metadata: e.metadata.clone(),
            })
            .collect();
        let more = names.next().is_some();
        let cursor = more.then(|| keys.last().map(|l| l.name.clone())).flatten();
        Ok(ListPage { keys, cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::list_all;
    use pollster::block_on;

    fn filled(n: usize, page: usize) -> MemoryKv {
        let kv = MemoryKv::with_page_size(page);
        for i in 0..n {
            block_on(kv.put(&format!("k{i:02}"), "v", PutOptions::default())).unwrap();
        }
        kv
    }

    #[test]
    fn lists_come_in_pages_joined_by_cursors() {
        let kv = filled(5, 2);
        let first = block_on(kv.list("k", None)).unwrap();
        assert_eq!(first.keys.len(), 2);
        assert_eq!(first.cursor.as_deref(), Some("k01"));
        let last = block_on(kv.list("k", Some("k03"))).unwrap();
        assert_eq!(last.keys.len(), 1);
        assert_eq!(last.cursor, None, "the last page has no cursor");
        let all = block_on(list_all(&kv, "k", None)).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(
            kv.calls_of(Op::List).len(),
            2 + 3,
            "two single pages, then three"
        );
    }

    #[test]
    fn list_all_stops_once_it_has_enough() {
        let kv = filled(5, 2);
        assert_eq!(block_on(list_all(&kv, "k", Some(2))).unwrap().len(), 2);
        assert_eq!(kv.calls_of(Op::List).len(), 1);
    }

    #[test]
    fn a_planned_failure_hits_only_its_kind_and_turn() {
        let kv = MemoryKv::new();
        kv.fail_once_after(Op::Put, 1, "KV PUT failed: 500");
        assert!(block_on(kv.put("a", "1", PutOptions::default())).is_ok());
        assert_eq!(
            block_on(kv.put("b", "2", PutOptions::default())),
            Err(KvError::new("KV PUT failed: 500"))
        );
        assert!(
            block_on(kv.put("c", "3", PutOptions::default())).is_ok(),
            "only once"
        );
        assert!(block_on(kv.get("b")).unwrap().is_none());
        kv.fail(None, "down");
        assert!(block_on(kv.get("a")).is_err());
        assert!(block_on(kv.delete("a")).is_err());
        kv.heal();
        assert_eq!(block_on(kv.get("a")).unwrap().as_deref(), Some("1"));
    }
}
