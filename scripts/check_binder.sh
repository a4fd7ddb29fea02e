#!/usr/bin/env bash
# Check binder/ the way repo2docker uses it, without Docker: build a fresh
# virtual environment from exactly binder/requirements.txt, run binder/postBuild
# in it, then execute every notebook in notebooks/ on a fresh kernel of that
# environment (full-length, as a student would run them).
#
# Usage: scripts/check_binder.sh            (KEEP=1 keeps the environment)
#
# Where PyTorch's CPU index cannot be reached (a machine that reaches only
# PyPI), its --extra-index-url line is left out and the same pinned wheel
# (torch==2.13.0+cpu) must come from pip's own configuration (a local wheel
# folder); every other line of the file is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}
start=$(date +%s)

work=$(mktemp -d /tmp/snnlab-binder-check.XXXXXX)
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

echo "== fresh venv in $work/venv ($($PYTHON --version); binder/runtime.txt asks for $(cat binder/runtime.txt))"
"$PYTHON" -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH"
export JUPYTER_PLATFORM_DIRS=1 JUPYTER_DATA_DIR="$work/jupyter-data" JUPYTER_CONFIG_DIR="$work/jupyter-config"
export JUPYTER_RUNTIME_DIR="$work/jupyter-runtime" PIP_DISABLE_PIP_VERSION_CHECK=1

requirements=binder/requirements.txt
index_host=download.pytorch.org
if ! getent hosts "$index_host" >/dev/null 2>&1; then
  echo "== $index_host is not reachable here: using binder/requirements.txt without its index line(s);"
  echo "   torch==2.13.0+cpu must come from pip's configured wheel folder or index"
  grep -v -E '^\s*--(extra-)?index-url' binder/requirements.txt >"$work/requirements.txt"
  requirements="$work/requirements.txt"
fi

echo "== pip install -r $requirements"
t0=$(date +%s)
python -m pip install -q --no-cache-dir -r "$requirements"
echo "   installed in $(( $(date +%s) - t0 )) s"

echo "== binder/postBuild"
bash binder/postBuild

echo "== checks of the environment"
python - <<'PY'
from importlib.metadata import version

import torch
import snnlab

assert torch.__version__.startswith("2.13.0"), torch.__version__
assert torch.version.cuda is None, f"a CUDA build of torch was installed: {torch.__version__}"
major, minor = (int(x) for x in version("ipykernel").split(".")[:2])
assert (major, minor) >= (7, 1), f"ipykernel {version('ipykernel')} < 7.1"
for pkg in ("torch", "numpy", "matplotlib", "ipywidgets", "bqplot", "jupyterlab", "ipykernel", "voila", "nbconvert"):
    print(f"   {pkg:12s} {version(pkg)}")
print("   snnlab from", snnlab.__file__)
PY
python -m jupyter kernelspec list

echo "== executing every notebook in a fresh kernel of this environment"
mkdir -p "$work/run"
status=0
for nb in notebooks/*.ipynb; do
  t0=$(date +%s%N)
  # Run from a scratch folder: a notebook that writes files (an export) writes them there.
  cp "$nb" "$work/run/"
  if (cd "$work/run" && python -m jupyter nbconvert --to notebook --execute --inplace \
        --ExecutePreprocessor.timeout=300 --ExecutePreprocessor.kernel_name=python3 \
        "$(basename "$nb")" >"$work/run/$(basename "$nb").log" 2>&1); then
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    printf '   %-40s ok   %d.%01d s\n' "$nb" $((ms / 1000)) $((ms % 1000 / 100))
  else
    printf '   %-40s FAILED\n' "$nb"
    tail -40 "$work/run/$(basename "$nb").log"
    status=1
  fi
done

echo "== binder check $( [ $status = 0 ] && echo passed || echo FAILED ) in $(( $(date +%s) - start )) s"
exit $status
