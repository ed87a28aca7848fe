#!/usr/bin/env bash
# Creates the example's virtual environment, target/venv-cherrypy, with the pinned requirements
# (requirements.txt). Does nothing (in a few milliseconds) when it exists with exactly these
# requirements. Run by scripts/setup.sh; the end-to-end test binary origin_cherrypy uses its python.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/venv.sh target/venv-cherrypy examples/origin-cherrypy/requirements.txt
