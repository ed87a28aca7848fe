#!/usr/bin/env bash
# The latency of create, disable and list through the management API (HTTP), the CLI in API mode
# and the CLI's wrangler path (`keygate --local`), measured in the same run against the same
# `wrangler dev` (issue 15). `make bench` runs it as its last section; on its own:
#   scripts/mgmt-latency.sh            (BENCH_MGMT_RUNS=N rounds, default 10, at most 15)
# It builds the worker when its sources changed. A benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export WRANGLER_SEND_METRICS=false

if [[ ${MGMT_LATENCY_NO_BUILD:-} != 1 ]]; then
  make -s worker
  cargo build -q --release -p keygate-e2e --bin bench-mgmt
  cargo build -q -p keygate-cli --bin keygate
fi
target/release/bench-mgmt
