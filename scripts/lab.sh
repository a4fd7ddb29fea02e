#!/usr/bin/env bash
# Start the snnlab lab: set up (idempotent), then JupyterLab on notebooks/,
# opening the lab notebook. Extra arguments go to `jupyter lab`
# (e.g. --no-browser --port 8899).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
args=()
[ "$(id -u)" = 0 ] && args+=(--allow-root)
exec .venv/bin/jupyter lab --ServerApp.root_dir="$PWD/notebooks" "${args[@]}" "$@" "$PWD/notebooks/02_lab.ipynb"
