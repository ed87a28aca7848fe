#!/usr/bin/env bash
# The management API against its contract (issue 15):
#   scripts/schemathesis.sh BASE_URL ROOT_KEY
# BASE_URL is a running gateway (http://127.0.0.1:8787), ROOT_KEY a root key (kgr_...) made for
# this run, with every permission and no consumer prefix. In order:
#  1. openapi-spec-validator checks openapi/keygate-management.json, and every example in it is
#     checked against its schema;
#  2. the gateway serves that very document (minified) at /__keygate/v1/openapi.json;
#  3. GET /roots shows ROOT_KEY's record, with every permission and no consumer prefix;
#  4. schemathesis runs every operation of the document against the gateway, in its four phases
#     (examples, coverage, fuzzing, stateful: create -> read -> change -> rotate -> revoke through
#     the document's links), positive and negative data, with the checks not_a_server_error (no
#     5xx), status_code_conformance (no undocumented status), content_type_conformance,
#     response_headers_conformance and response_schema_conformance (every answer as documented),
#     and every_operation_succeeded (scripts/schemathesis_hooks.py: each operation answered 2xx
#     at least once, so its success answer was checked too); it also fails on the warnings
#     scripts/schemathesis.toml lists (a run that tested less than it seems: only 401s, only
#     404s, mostly 429s);
#  5. ROOT_KEY still authenticates.
# Every operation is run; none is excluded. scripts/schemathesis_hooks.py only keeps the run from
# revoking its own root key (DELETE /roots/{its id} is sent with another id instead).
#
# schemathesis creates, changes, rotates and revokes keys and root keys: run it against a
# throw-away gateway (wrangler dev). The gateway's management rate limits (MGMT_IP_LIMIT,
# MGMT_KEY_LIMIT) must let the run through: it fails when most answers are 429s.
#
# Bounded by SCHEMATHESIS_MAX_TIME seconds (default 120) for step 4, on 2 cores; the other steps
# take a few seconds. SCHEMATHESIS_SEED replays a run (schemathesis prints the seed); one failing
# case replays with target/venv-tools/bin/schemathesis --config-file scripts/schemathesis.toml
# replay ID (the ID it prints).
# SCHEMATHESIS_WORKERS (default 1) sets its concurrency: with more than one, schemathesis's
# coverage phase calls ast.parse from several threads at once, which CPython 3.11.7 does not
# survive ("AST constructor recursion depth mismatch"); and its generation is CPU-bound under the
# GIL, so a second worker would gain little on 2 cores that also run the gateway.
# Reports (JUnit XML), failing cases and the examples database that tries earlier failures first
# go to target/schemathesis/. Needs target/venv-tools (make setup, or
# scripts/venv.sh target/venv-tools scripts/requirements-tools.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# != 2 ]]; then
  echo "usage: scripts/schemathesis.sh BASE_URL ROOT_KEY" >&2
  exit 2
fi
BASE_URL=${1%/}
API=$BASE_URL/__keygate/v1
DOC=openapi/keygate-management.json
VENV=target/venv-tools
PY=$VENV/bin/python
OUT=target/schemathesis
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-120}
WORKERS=${SCHEMATHESIS_WORKERS:-1}
# The root key travels in the environment only: scripts/schemathesis.toml reads it from there.
export KEYGATE_SCHEMATHESIS_ROOT_KEY=$2

step() { echo; echo "==> $*"; }

[[ -x $VENV/bin/schemathesis && -x $VENV/bin/openapi-spec-validator ]] || {
  echo "schemathesis is not installed: run make setup" >&2; exit 1; }
mkdir -p "$OUT"

step "openapi-spec-validator $DOC"
"$VENV/bin/openapi-spec-validator" "$DOC"
# A wrong example would be sent as a valid request by the examples phase.
"$PY" - "$DOC" <<'EOF'
import json, sys
import jsonschema

doc = json.load(open(sys.argv[1]))
checked = 0
for path, item in doc["paths"].items():
    for method, op in item.items():
        if method == "parameters":
            continue
        for media, m in op.get("requestBody", {}).get("content", {}).items():
            if "example" in m:
                schema = dict(m["schema"], components=doc["components"])
                jsonschema.Draft202012Validator(schema).validate(m["example"])
                checked += 1
print(f"{checked} request examples fit their schemas")
EOF

step "the gateway serves $DOC at $API/openapi.json"
"$PY" - "$API/openapi.json" "$DOC" <<'EOF'
import json, sys, urllib.request

url, path = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=30) as r:
    served, ctype = r.read(), r.headers.get("Content-Type", "")
if not ctype.startswith("application/json"):
    sys.exit(f"{url} is {ctype!r}, not application/json")
# The worker serves the file without its indentation (crates/core/build.rs): the same JSON.
if json.loads(served) != json.load(open(path, "rb")):
    sys.exit(f"{url} is not {path}: is the worker built from this tree?")
print(f"{len(served)} bytes, the same JSON")
EOF

step "the root key has every permission and no consumer prefix"
ROOT_ID=$("$PY" - "$API/roots" "$DOC" <<'EOF'
import hashlib, json, os, sys, urllib.error, urllib.request

url, path = sys.argv[1], sys.argv[2]
key = os.environ["KEYGATE_SCHEMATHESIS_ROOT_KEY"]
own = hashlib.sha256(key.encode()).hexdigest()[:12]
every = set(json.load(open(path))["components"]["schemas"]["Permission"]["enum"])
req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        roots = json.load(r)["roots"]
except urllib.error.HTTPError as e:
    sys.exit(f"GET {url} with the root key: {e.code} {e.read()[:300]!r}")
mine = [r for r in roots if r["id"] == own]
if not mine:
    sys.exit(f"GET {url} does not list the root key ({own}): is it a root key?")
if set(mine[0]["permissions"]) != every or mine[0].get("consumer_prefix"):
    sys.exit(f"root key {own} has {mine[0]['permissions']} and prefix "
             f"{mine[0].get('consumer_prefix')!r}: the run needs every permission and no prefix")
print(own)
EOF
)
echo "root key $ROOT_ID"

step "schemathesis against $API (at most ${MAX_TIME}s, $WORKERS workers)"
seed=()
[[ -n ${SCHEMATHESIS_SEED:-} ]] && seed=(--seed "$SCHEMATHESIS_SEED")
start=$SECONDS
status=0
# The hooks keep the run off its own root key and add the check every_operation_succeeded.
SCHEMATHESIS_HOOKS=scripts/schemathesis_hooks.py KEYGATE_SCHEMATHESIS_ROOT_ID=$ROOT_ID \
  "$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "$DOC" \
  --url "$API" \
  --phases examples,coverage,fuzzing,stateful \
  --mode all \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,every_operation_succeeded \
  --max-time "$MAX_TIME" \
  --max-examples 30 \
  --workers "$WORKERS" \
  --request-timeout 15 \
  --generation-database "$OUT/examples" \
  --report junit --report-junit-path "$OUT/junit.xml" \
  --no-color \
  "${seed[@]}" || status=$?
echo "schemathesis: exit $status after $((SECONDS - start))s"

step "the root key still authenticates"
"$PY" - "$API/roots" "$ROOT_ID" <<'EOF' || status=1
import json, os, sys, urllib.error, urllib.request

url, own = sys.argv[1], sys.argv[2]
req = urllib.request.Request(
    url, headers={"Authorization": f"Bearer {os.environ['KEYGATE_SCHEMATHESIS_ROOT_KEY']}"})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        ids = [r["id"] for r in json.load(r)["roots"]]
except urllib.error.HTTPError as e:
    sys.exit(f"GET {url}: {e.code}: the run lost its root key, so its later results mean nothing")
if own not in ids:
    sys.exit(f"root key {own} is gone from GET {url}")
print(f"yes; {len(ids)} root keys now")
EOF
exit "$status"
