#!/usr/bin/env bash
# Where the CPU goes: a V8 CPU profile of keygate under oha load, taken through `wrangler dev`'s
# inspector (scripts/profile.mjs), its top frames printed (tests/e2e/src/bin/bench-profile.rs).
# `make profile` runs it after building the named wasm (`make worker-profile`); `make bench` runs
# it as part 6 with PROFILE_NO_BUILD=1. Knobs: PROFILE_REQUESTS (4000), PROFILE_CONCURRENCY (32),
# PROFILE_INTERVAL_US (100), PROFILE_TOP (20), PROFILE_QUIET=0 (skip the REQUEST_LOG=refusals
# profile), PROFILE_ENTRY (another checkout's src/entry-profile.js, built there). A benchmark,
# not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export WRANGLER_SEND_METRICS=false

if [[ ${PROFILE_NO_BUILD:-} != 1 ]]; then
  OHA_VERSION=1.16.0
  if [[ "$(oha --version 2>/dev/null || true)" != "oha $OHA_VERSION" ]]; then
    echo "profile: installing oha $OHA_VERSION (the load generator; takes a few minutes once)" >&2
    cargo install oha --version "$OHA_VERSION" --locked
  fi
  make -s worker-profile
  cargo build -q --release -p keygate-origin -p keygate-e2e --bin keygate-demo-origin --bin bench-profile
  cargo build -q -p keygate-cli --bin keygate
fi
target/release/bench-profile
