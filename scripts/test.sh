#!/usr/bin/env bash
# `make test`: formatting, lints on host and wasm32, native tests, the end-to-end suite against
# wrangler dev, and a deploy dry run. Run through `make test`, which installs tools first.
set -euo pipefail
cd "$(dirname "$0")/.."

# End-to-end instances are stopped by the suite; this catches any left by a crash.
cleanup() { pkill -f "$(pwd)/target/e2e/" 2>/dev/null || true; }
trap cleanup EXIT

step() { echo; echo "==> $*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (host, -D warnings)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo clippy (wasm32, -D warnings)"
cargo clippy -p keygate-core -p keygate-worker --target wasm32-unknown-unknown --quiet -- -D warnings

mkdir -p target
step "Python unit tests: examples/origin-cherrypy (target/venv-cherrypy)"
(cd examples/origin-cherrypy && ../../target/venv-cherrypy/bin/python -B -m unittest 2>&1) |
    tee target/test-output-python.log

step "cargo test (unit, native integration, end-to-end against wrangler dev)"
cargo test --workspace 2>&1 | tee target/test-output.log

step "wrangler deploy --dry-run"
wrangler deploy --dry-run --outdir target/deploy-dry-run

wasm=crates/worker/build/index_bg.wasm
echo
echo "worker wasm: $(wc -c < "$wasm") bytes raw, $(gzip -9c "$wasm" | wc -c) bytes gzip -9"

# One closing line for the whole run, summed over every test binary above and the Python tests
# (unittest prints "Ran N tests", then "OK", or "FAILED (failures=F, errors=E)").
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^Ran [0-9]+ tests? in/ { ran = $2 }
     /^FAILED \(/ { n = split($0, parts, /[=,)]/); for (i = 2; i <= n; i += 2) bad += parts[i] }
     END { printf "tests: %d passed, %d failed\n", p + ran - bad, f + bad }' \
    target/test-output-python.log target/test-output.log
