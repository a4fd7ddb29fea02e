#!/usr/bin/env bash
# One prepared GPU benchmark: snnlab (device="cuda") against BindsNET on the same card.
# Run from the repository root on a machine with an NVIDIA GPU and a python3 that
# has torch with CUDA (see benchmarks/gpu/README.md). Needs no network: BindsNET
# and the few packages its import needs come as wheels from .whl/ (made here with
# benchmarks/gpu/fetch_wheels.sh); snnlab itself is used from this checkout.
#   bash benchmarks/gpu/run_gpu.sh [extra args for bench_gpu.py]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY="${PYTHON:-python3}"
SITE="${SNNLAB_GPU_SITE:-/tmp/snnlab_gpu_site}"
if compgen -G ".whl/*.whl" > /dev/null; then
    # --no-deps: BindsNET's metadata asks for torch>=2.14; the torch already on the
    # machine is used instead (BindsNET's network code runs on it).
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl || echo "warning: wheel install failed; BindsNET may be missing"
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv || true
timeout 230 "$PY" benchmarks/gpu/bench_gpu.py "$@"
rc=$?
[ $rc = 124 ] && echo "bench_gpu.py stopped after 230 s"
exit $rc
