#!/usr/bin/env bash
# Installs what keygate needs, skipping anything already at the right version:
# the wasm32 target, worker-build, wasm-bindgen-cli (the Cargo.lock version), npm packages, and
# two Python virtual environments (scripts/venv.sh): the CherryPy example's and the tools one.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"
WORKER_BUILD_VERSION=0.8.7

say() { echo "setup: $*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
if ! rustup component list --installed 2>/dev/null | grep -q '^clippy'; then
  rustup component add clippy rustfmt
fi

if [[ "$("$CARGO_BIN/worker-build" --version 2>/dev/null || true)" != *"$WORKER_BUILD_VERSION"* ]]; then
  say "installing worker-build $WORKER_BUILD_VERSION (takes a few minutes)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

WBG=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;q;}' Cargo.lock)
if [[ -z "$WBG" ]]; then
  say "cannot find the wasm-bindgen version in Cargo.lock"; exit 1
fi
if [[ "$("$CARGO_BIN/wasm-bindgen" --version 2>/dev/null || true)" != "wasm-bindgen $WBG" ]]; then
  say "installing wasm-bindgen-cli $WBG (takes a few minutes)"
  cargo install wasm-bindgen-cli --version "$WBG" --locked --force \
    || cargo install wasm-bindgen-cli --version "$WBG" --force
fi

# npm ci when node_modules is missing or older than the lockfile.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm packages (wrangler, node 22, esbuild, binaryen)"
  npm ci --no-audit --no-fund --loglevel=error
fi
for bin in wrangler node esbuild wasm-opt; do
  [[ -x node_modules/.bin/$bin ]] || { say "node_modules/.bin/$bin is missing after npm ci"; exit 1; }
done

# The CherryPy example origin's virtual environment, target/venv-cherrypy (make test uses it).
examples/origin-cherrypy/venv.sh
# Tools that make test runs (actionlint for .github/workflows; openapi-spec-validator and
# schemathesis for the management API's contract, scripts/schemathesis.sh), pinned in
# scripts/requirements-tools.txt, in target/venv-tools.
scripts/venv.sh target/venv-tools scripts/requirements-tools.txt
