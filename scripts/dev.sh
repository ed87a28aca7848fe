#!/usr/bin/env bash
# `make dev`: demo origin on 127.0.0.1:8788, a demo key in local KV, `wrangler dev` on :8787.
# Run through `make dev`, which installs tools and builds the worker first.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8787}"
ORIGIN_ADDR="127.0.0.1:8788"
# `keygate stats` reads this by default (crates/cli/src/stats/local.rs, DEFAULT_LOG_FILE).
GATEWAY_LOG="target/dev/gateway.log"
mkdir -p "$(dirname "$GATEWAY_LOG")"

# A random local secret, once. `.dev.vars` is git-ignored; `.dev.vars.example` shows the format.
if [[ ! -f .dev.vars ]]; then
  secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  printf 'SHARED_SECRET="%s"\n' "$secret" > .dev.vars
  chmod 600 .dev.vars
  echo "dev: created .dev.vars with a random SHARED_SECRET" >&2
fi
# An operator token for `keygate usage` (README, "Rate limits and quotas"), once.
if ! grep -q '^ADMIN_TOKEN=' .dev.vars; then
  printf 'ADMIN_TOKEN="%s"\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >> .dev.vars
  echo "dev: added a random ADMIN_TOKEN to .dev.vars" >&2
fi
SHARED_SECRET=$(sed -n 's/^SHARED_SECRET="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' .dev.vars | head -n1)
[[ -n "$SHARED_SECRET" ]] || { echo "dev: .dev.vars has no SHARED_SECRET" >&2; exit 1; }

cargo build -q --release -p keygate-origin -p keygate-cli
keygate() { target/release/keygate "$@"; }

SHARED_SECRET="$SHARED_SECRET" target/release/keygate-demo-origin "$ORIGIN_ADDR" &
origin_pid=$!
trap 'kill $origin_pid 2>/dev/null || true' EXIT

# One demo key per run: revoke the previous run's, then create a fresh one.
for id in $(keygate list --json | sed -n 's/^ *"id": "\([0-9a-f]\{12\}\)",$/\1/p'); do
  if keygate show "$id" --json | grep -q '"name": "make-dev-demo"'; then
    keygate revoke "$id" 2>/dev/null || true
  fi
done
KEY=$(keygate create --name make-dev-demo --consumer demo --consumer-name "Demo Consumer" --expires 24h --quota 1000/day)

cat >&2 <<MSG

  keygate is starting on http://localhost:$PORT (origin: http://$ORIGIN_ADDR).
  Once wrangler says "Ready", call the protected API through the gateway:

    curl -i http://localhost:$PORT/hello -H "Authorization: Bearer $KEY"

  Manage keys:  cargo run -q --bin keygate -- list     (see README, "The keygate CLI")
  Quota usage:  cargo run -q --bin keygate -- usage <id>   (reads ADMIN_TOKEN from .dev.vars)
  Traffic:      cargo run -q --bin keygate -- stats        (reads $GATEWAY_LOG)
  Management API (README, "Management API"), with ADMIN_TOKEN from .dev.vars as the credential:
                curl -s http://localhost:$PORT/__keygate/v1/keys -H "Authorization: Bearer \$ADMIN_TOKEN"

MSG
# The gateway's output, its request lines included, also goes to $GATEWAY_LOG (appended across
# runs) for `keygate stats`. Through the pipe wrangler sees no terminal, so it shows no hotkeys.
wrangler dev --port "$PORT" --ip 127.0.0.1 2>&1 | tee -a "$GATEWAY_LOG"
