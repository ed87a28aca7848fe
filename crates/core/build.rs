//! Build script: the OpenAPI document the worker serves (`management::OPENAPI_JSON`) is the
//! committed, pretty-printed `openapi/keygate-management.json` without the whitespace between
//! tokens (34 KB less in the wasm). Strings, numbers, the members and their order are untouched;
//! `tests/openapi.rs` checks that it parses to the same JSON as the file.

use std::path::Path;

const DOC: &str = "../../openapi/keygate-management.json";

fn main() {
    println!("cargo::rerun-if-changed={DOC}");
    let pretty = std::fs::read_to_string(DOC).expect("openapi/keygate-management.json is readable");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("keygate-management.min.json");
    std::fs::write(out, minify(&pretty)).expect("OUT_DIR is writable");
}

/// `json` without the whitespace outside strings (JSON's whitespace is space, tab, LF and CR;
/// inside a string they are kept, and an escaped quote does not end the string).
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
            in_string = c == '"';
        }
    }
    out
}
