#!/usr/bin/env bash
# Creates the example's virtual environment, target/venv-cherrypy, with the pinned requirements.
# Does nothing (in a few milliseconds) when it exists with exactly these requirements.
# Run by scripts/setup.sh; the end-to-end test binary origin_cherrypy uses its python.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=target/venv-cherrypy
REQ=examples/origin-cherrypy/requirements.txt
STAMP=$VENV/.requirements.sha256

say() { echo "setup: $*" >&2; }

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$want" ]] && "$VENV/bin/python" -c '' 2>/dev/null; then
  exit 0
fi

command -v python3 >/dev/null || { say "python3 is missing (apt-get install python3)"; exit 1; }
say "creating $VENV with CherryPy (pinned in $REQ)"
rm -rf "$VENV"
mkdir -p target
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
say "$VENV: $("$VENV/bin/python" -c 'import cherrypy, sys; print("CherryPy", cherrypy.__version__, "on Python", sys.version.split()[0])')"
