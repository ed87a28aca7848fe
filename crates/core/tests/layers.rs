//! The core's layering: every module imports only modules below it, so the crate has no import
//! cycle. The order is the one the crate doc (`src/lib.rs`) gives.

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom to top. A module may name `crate::m` only for an `m` earlier in this list.
const LAYERS: &[&str] = &[
    // Tables and values.
    "secret",
    "keyformat",
    "scope",
    "limits",
    "signing",
    "sealed",
    "integrity",
    "headers",
    "heads",
    "credential",
    "record",
    "telemetry",
    // Configuration.
    "config",
    "path",
    // Stores.
    "store",
    "kv",
    // One load shared by concurrent requests: the cache's reads, the change view's syncs.
    "coalesce",
    "cache",
    // The change feed: each isolate's view of the management API's key writes.
    "changes",
    // The key lifecycle (create, rotate, import, update, list, revoke) over a `kv` store.
    "lifecycle",
    // Root keys, their permissions and the tenant guard.
    "root",
    // The management API's stores: the audit trail, idempotency claims, the log keeping both.
    "audit",
    "idempotency",
    "management_log",
    // The request pipeline.
    "admin",
    "management",
    "forward",
    "pipeline",
    "problem",
    // The management API's request handling: it runs the pipeline's checks for verify.
    "management_api",
];

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules a source file names as `crate::<module>` outside comments.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The modules `lib.rs` declares.
fn declared() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect()
}

/// A module's source: `src/<m>.rs`, or `src/<m>/` with every file under it.
fn module_text(m: &str) -> String {
    let file = src().join(format!("{m}.rs"));
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    if let Ok(dir) = std::fs::read_dir(src().join(m)) {
        for e in dir.flatten() {
            text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    text
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let mut problems = Vec::new();
    for (rank, m) in LAYERS.iter().enumerate() {
        for dep in imports(&module_text(m)) {
            // `common` is the test fixtures (`tests/common`), compiled only under `cfg(test)`.
            if dep == *m || dep == "common" {
                continue;
            }
            match LAYERS.iter().position(|l| *l == dep) {
                Some(r) if r < rank => {}
                Some(_) => problems.push(format!("{m} imports {dep}, which sits above it")),
                None => problems.push(format!("{m} imports {dep}, which is in no layer")),
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_declared_module_has_a_layer() {
    let layered: BTreeSet<String> = LAYERS
        .iter()
        .map(|m| m.to_string())
        .filter(|m| declared().contains(m) || !module_text(m).is_empty())
        .collect();
    let missing: Vec<_> = declared().difference(&layered).cloned().collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

#[test]
fn the_import_scan_sees_an_upward_import() {
    // The check above is only as good as this scan: a path and a `use` both count, comments do not.
    let text =
        "use crate::pipeline::Denial;\n// crate::admin in a comment\nlet x = crate::cache::load;";
    let names: Vec<_> = imports(text).into_iter().collect();
    assert_eq!(names, ["cache", "pipeline"]);
}
