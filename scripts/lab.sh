#!/usr/bin/env bash
# Start the snnlab lab: set up (idempotent), then JupyterLab on notebooks/,
# opening the lab notebook (not the Launcher). Saves of the notebooks keep
# them as stored (scripts/jupyter_server_config.py), so `git status` stays
# clean. Extra arguments go to `jupyter lab` (e.g. --no-browser --port 8899).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
args=()
[ "$(id -u)" = 0 ] && args+=(--allow-root)
exec .venv/bin/jupyter lab --config="$PWD/scripts/jupyter_server_config.py" \
    --ServerApp.root_dir="$PWD/notebooks" --ServerApp.default_url=/lab/tree/02_lab.ipynb "${args[@]}" "$@" "$PWD/notebooks/02_lab.ipynb"
