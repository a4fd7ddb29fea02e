#!/usr/bin/env bash
# Set up everything snnlab needs on a fresh machine: a virtual environment in
# .venv with the CPU build of torch, snnlab and its extras, and (with
# --browser) Debian's Chromium for the browser tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --browser)" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
# torch first, pinned: an open range would pull a multi-GB CUDA build.
$PIP install -q "torch==2.13.0"
$PIP install -q -e ".[lab,figures,fast,io,sweep,bindsnet,test]"
# Compile the CPU back-end once (numba caches it on disk).
.venv/bin/python -c "from snnlab.engine.warmup import warm_up; warm_up()"

if [ "$browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
fi
