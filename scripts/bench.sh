#!/usr/bin/env bash
# `make bench`: benchmarks, never tests. Run through `make bench`, which installs the toolchain and
# builds both workers first. Figures are for comparison within one run: report the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

OHA_VERSION=1.16.0
if [[ "$(oha --version 2>/dev/null || true)" != "oha $OHA_VERSION" ]]; then
  echo "bench: installing oha $OHA_VERSION (the load generator; takes a few minutes once)" >&2
  cargo install oha --version "$OHA_VERSION" --locked
fi

cleanup() { pkill -f "$(pwd)/target/e2e/bench-" 2>/dev/null || true; }
trap cleanup EXIT

echo "==> building the release origin, CLI and bench drivers"
cargo build -q --release -p keygate-origin -p keygate-e2e --bins
cargo build -q -p keygate-cli --bin keygate

echo
echo "==> 1. keygate vs JavaScript floors and a workers-rs passthrough (oha, wrangler dev; req/s, latency, workerd CPU per request)"
target/release/bench-gateway

echo
echo "==> 2. the native decision path (Criterion, ns per request)"
cargo bench -q -p keygate-core --bench decide -- --warm-up-time 1 --measurement-time 3 2>&1 |
  grep -E '^decide/|time:' | paste - - | sed -E 's/ +/ /g'

echo
echo "==> 3. what rate limits and quotas add (wrangler dev, sequential)"
target/release/bench-limits

echo
echo "==> 4. managing keys: create, disable, list through the management API, the CLI in API mode and the wrangler path"
MGMT_LATENCY_NO_BUILD=1 scripts/mgmt-latency.sh

echo
echo "==> 5. what the change feed costs a busy isolate (wrangler dev, sequential)"
target/release/bench-feed

echo
echo "==> 6. where the CPU goes: a V8 CPU profile of keygate under load (wrangler dev's inspector)"
PROFILE_NO_BUILD=1 scripts/profile.sh

echo
echo "==> 7. what the worker's size costs at a cold start (a bare workerd, spawn to first answer)"
target/release/bench-cold
