#!/usr/bin/env bash
# `make test`: formatting, the workflow lint, `make deploy`'s refusals, lints on host and wasm32,
# native tests, the end-to-end suite against wrangler dev, and deploy dry runs of every
# wrangler.toml environment. Run through `make test`, which installs tools first.
set -euo pipefail
cd "$(dirname "$0")/.."

# End-to-end instances are stopped by the suite; this catches any left by a crash.
cleanup() { pkill -f "$(pwd)/target/e2e/" 2>/dev/null || true; }
trap cleanup EXIT

step() { echo; echo "==> $*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

# actionlint from target/venv-tools (setup: scripts/requirements-tools.txt). It also runs
# shellcheck on `run:` scripts when shellcheck is on PATH. Any finding fails the run.
ACTIONLINT=target/venv-tools/bin/actionlint
step "lint .github/workflows (actionlint $("$ACTIONLINT" --version | head -n1 | awk '{print $NF}'))"
"$ACTIONLINT" -no-color
# wrangler-action installs its wranglerVersion unless the same one is already in node_modules.
wrangler_pin=$(sed -n 's/^ *"wrangler": "\([^"]*\)",\{0,1\}$/\1/p' package.json)
for pin in $(sed -n 's/^ *wranglerVersion: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' .github/workflows/*.yml); do
  [[ $pin == "$wrangler_pin" ]] || {
    echo "a workflow pins wranglerVersion $pin; package.json has wrangler $wrangler_pin" >&2; exit 1; }
done
echo "no findings; every wranglerVersion is package.json's $wrangler_pin"

# `make deploy` without ENV=staging|production stops while make reads the Makefile: its refusal
# is the only output, and even `make -n` refuses, so no recipe (setup, build, wrangler) runs.
# Should that ever break, the `wrangler` make finds (NODE_BIN first on its PATH) is a stand-in
# that only fails, so this step can never deploy anything.
step "make deploy refuses anything but ENV=staging|production"
fake_bin=target/test-fake-bin
mkdir -p "$fake_bin"
printf '#!/bin/sh\necho "test.sh: make deploy ran wrangler $*" >&2\nexit 99\n' > "$fake_bin/wrangler"
chmod +x "$fake_bin/wrangler"
clean_make() {
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u ENV -u CLOUDFLARE_API_TOKEN \
    make --no-print-directory NODE_BIN="$PWD/$fake_bin" "$@"
}
refuses() { # MAKE-ARGS…: make fails, and the refusal is all it prints
  local out
  if out=$(clean_make "$@" 2>&1); then
    echo "make $* did not fail:"$'\n'"$out" >&2; exit 1
  fi
  if [[ $(wc -l <<<"$out") != 1 || $out != *"make deploy needs ENV=staging or ENV=production"* ]]; then
    echo "make $*: expected the refusal alone, got:"$'\n'"$out" >&2; exit 1
  fi
}
refuses deploy
refuses deploy ENV=
refuses deploy ENV=bogus
refuses deploy "ENV=staging production"
refuses -n deploy
refuses -n deploy ENV=bogus
for env in staging production; do
  plan=$(clean_make -n deploy ENV=$env)
  grep -qx "wrangler deploy --env $env" <<<"$plan" || {
    echo "make -n deploy ENV=$env does not plan wrangler deploy --env $env:"$'\n'"$plan" >&2; exit 1; }
done
echo "refused: no ENV, ENV=, ENV=bogus, two environments (also under -n); staging and production plan wrangler deploy --env"

step "cargo clippy (host, -D warnings)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo clippy (wasm32, -D warnings)"
cargo clippy -p keygate-core -p keygate-worker --target wasm32-unknown-unknown --quiet -- -D warnings

mkdir -p target
step "Python unit tests: examples/origin-cherrypy (target/venv-cherrypy)"
(cd examples/origin-cherrypy && ../../target/venv-cherrypy/bin/python -B -m unittest 2>&1) |
    tee target/test-output-python.log

step "cargo test (unit, native integration, end-to-end against wrangler dev)"
# The management API's end-to-end binary (five instances and a schemathesis run of 90 s) runs
# beside the rest, at a lower priority, instead of after them: every test binary is built first,
# and that one is started directly, since `cargo test` holds cargo's lock until it ends.
cargo test --workspace --no-run --quiet
mgmt_bin=$(cargo test -p keygate-e2e --test management --no-run --message-format=json 2>/dev/null |
  grep '"kind":\["test"\]' | grep '"name":"management"' |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1)
[[ -x $mgmt_bin ]] || { echo "test.sh: the management test binary was not found" >&2; exit 1; }
(cd tests/e2e && KEYGATE_E2E_CLI_PREBUILT="$PWD/../../target/debug/keygate" \
  nice -n 10 "$mgmt_bin" > ../../target/test-output-management.log 2>&1) &
mgmt_pid=$!
KEYGATE_E2E_MANAGEMENT_SEPARATELY=1 cargo test --workspace 2>&1 | tee target/test-output.log
mgmt_status=0
wait "$mgmt_pid" || mgmt_status=$?
echo; echo "==> the management API's end-to-end binary (run beside the above)"
cat target/test-output-management.log
[[ $mgmt_status == 0 ]] || { echo "test.sh: the management end-to-end tests failed" >&2; exit 1; }

# Every environment bundles with its own bindings, and wrangler warns about none of them (a
# non-inherited binding missing from an environment is only a warning to wrangler: here it fails).
dry_run() { # NAME WRANGLER-ARGS…
  local name=$1 out=target/deploy-dry-run/$1
  shift
  mkdir -p "$out"
  wrangler deploy --dry-run "$@" --outdir "$out" 2>&1 | tee "$out.log"
  if grep -q 'WARNING' "$out.log"; then
    echo "wrangler warned about the $name configuration (above)" >&2; exit 1
  fi
}
step "wrangler deploy --dry-run: top level (local dev), --env staging, --env production"
rm -rf target/deploy-dry-run
dry_run top-level --env ""
dry_run staging --env staging
dry_run production --env production

# The wasm's size ceiling, gzipped. Issue 17 set 150 KB when the worker had no management plane;
# the management API, its Durable Object, the OpenAPI document and the change feed (issues 15 and
# 16) took it to about 300 KB, and a gateway without them measured 180 KB. Until the product side
# chooses between this single worker and a split one, the ceiling is the single worker's size plus
# about 3%, so that growth is a decision and never a surprise. The check runs after the summary.
WASM_GZIP_CEILING=310000
wasm=build/index_bg.wasm
wasm_gzip=$(gzip -9c "$wasm" | wc -c)
echo
echo "worker wasm: $(wc -c < "$wasm") bytes raw, $wasm_gzip bytes gzip -9 (ceiling $WASM_GZIP_CEILING)"

# One closing line for the whole run, summed over every test binary above and the Python tests
# (unittest prints "Ran N tests", then "OK", or "FAILED (failures=F, errors=E)").
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^Ran [0-9]+ tests? in/ { ran = $2 }
     /^FAILED \(/ { n = split($0, parts, /[=,)]/); for (i = 2; i <= n; i += 2) bad += parts[i] }
     END { printf "tests: %d passed, %d failed\n", p + ran - bad, f + bad }' \
    target/test-output-python.log target/test-output.log target/test-output-management.log

if (( wasm_gzip > WASM_GZIP_CEILING )); then
  echo "test.sh: the worker wasm is $wasm_gzip bytes gzipped, over the ceiling of $WASM_GZIP_CEILING" >&2
  exit 1
fi
