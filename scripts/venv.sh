#!/usr/bin/env bash
# Creates a Python virtual environment with exactly the pinned requirements of a file:
#   scripts/venv.sh VENV REQUIREMENTS
# Does nothing (in a few milliseconds) when VENV exists and was made from these very requirements
# (a SHA-256 stamp of the file inside it). Used by scripts/setup.sh for target/venv-tools and by
# examples/origin-cherrypy/venv.sh for target/venv-cherrypy. Paths are relative to the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# == 2 ]] || { echo "usage: scripts/venv.sh VENV REQUIREMENTS" >&2; exit 2; }
VENV=$1
REQ=$2
STAMP=$VENV/.requirements.sha256

say() { echo "setup: $*" >&2; }

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$want" ]] && "$VENV/bin/python" -c '' 2>/dev/null; then
  exit 0
fi

command -v python3 >/dev/null || { say "python3 is missing (apt-get install python3)"; exit 1; }
say "creating $VENV (pinned in $REQ)"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
# The standard venv module; Debian splits it (and ensurepip) into python3-venv. Without it, the
# virtualenv package from PyPI does the same job; as root, python3-venv itself is installed.
if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
  rm -rf "$VENV"
  if python3 -m virtualenv --version >/dev/null 2>&1 \
    || { python3 -m pip --version >/dev/null 2>&1 \
      && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --user --quiet virtualenv; }; then
    say "no venv module: using virtualenv"
    python3 -m virtualenv --quiet "$VENV"
  elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    say "no venv module and no pip: installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    python3 -m venv "$VENV"
  else
    say "python3 has no venv module: install python3-venv (Debian) or virtualenv"; exit 1
  fi
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQ"
echo "$want" > "$STAMP"
# The first pinned requirement names what the environment is for.
say "$VENV: $(grep -m1 -v '^\s*\(#\|$\)' "$REQ") on Python $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')"
