#!/usr/bin/env bash
# Run snnlab's whole test suite, setting everything up first (idempotent):
# the virtual environment, snnlab with its extras, and Chromium for the
# browser tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
export MPLBACKEND=Agg
exec .venv/bin/python -m pytest "$@"
