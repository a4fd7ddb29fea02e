#!/usr/bin/env bash
# The one prepared check for a lent GPU machine (issue 9), in one call:
#   1. the CUDA tests and the default conformance matrix (tests/network,
#      tests/conformance, tests/compat/test_structured.py), GPU back-ends on the GPU;
#   2. every conformance cell on the GPU back-ends (SNNLAB_CONFORMANCE=full, -k triton/cuda-graphs);
#   3. bench_gpu.py: snnlab vs BindsNET 0.3.4 and a dense torch loop on the same card;
#   4. run_models.py --device cuda: Diehl & Cook, seed + PostPre, seed Izhikevich, both packages.
# Logs and results go to $OUT (at most 8 files come back from the device tool).
# Wheels for BindsNET come from .whl/ (benchmarks/gpu/fetch_wheels.sh); snnlab is used
# from this checkout. Each step has its own time limit, so one that hangs costs only itself.
#   bash benchmarks/gpu/device_check.sh            (on the GPU machine, carry .whl)
#   PY=.venv/bin/python bash benchmarks/gpu/device_check.sh   (here: a dry run, the CUDA parts skip)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY="${PY:-python3}"
OUT="${OUT:-/tmp/snnlab_device_check}"
SITE="${SNNLAB_GPU_SITE:-/tmp/snnlab_gpu_site}"
T_TESTS="${T_TESTS:-170}" T_MATRIX="${T_MATRIX:-110}" T_BENCH="${T_BENCH:-80}" T_MODEL="${T_MODEL:-35}"
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl || echo "warning: wheel install failed; BindsNET may be missing"
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv 2>&1 || true
    "$PY" -c "import sys, torch, numpy; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__)"
    "$PY" -c "import triton; print('triton', triton.__version__)" 2>&1 | tail -1
    "$PY" -c "import numba; print('numba', numba.__version__)" 2>&1 | tail -1
    "$PY" -c "import snnlab.engine as e; print('back-ends', e.available_backends())"
} 2>&1 | tee "$OUT/env.txt"

XDIST=()
"$PY" -c "import xdist" 2>/dev/null && XDIST=(-n "${WORKERS:-12}")
PYTEST=("$PY" -m pytest -q -p no:cacheprovider -rfE "${XDIST[@]}")

echo "== 1. tests (limit ${T_TESTS} s)"
timeout "$T_TESTS" "${PYTEST[@]}" tests/network tests/conformance tests/compat/test_structured.py \
    2>&1 | tee "$OUT/tests.log" | tail -40
echo "== 2. every conformance cell on the GPU back-ends (limit ${T_MATRIX} s)"
SNNLAB_CONFORMANCE=full timeout "$T_MATRIX" "${PYTEST[@]}" tests/conformance/test_matrix.py \
    tests/conformance/test_features.py -k "triton or cuda-graphs" 2>&1 | tee "$OUT/matrix.log" | tail -40
echo "== 3. bench_gpu.py (limit ${T_BENCH} s)"
if "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then DEV=cuda; else DEV=cpu; fi
BENCH_ARGS=(--repeats 5)
[ "$DEV" = cpu ] && BENCH_ARGS=(--device cpu --steps 30 --repeats 1 --warmup 0)
timeout "$T_BENCH" "$PY" benchmarks/gpu/bench_gpu.py "${BENCH_ARGS[@]}" --out "$OUT" 2>&1 | tee "$OUT/bench_gpu.log" | tail -15
echo "== 4. model networks on $DEV (limit ${T_MODEL} s each)"
for model in dc seed_postpre seed_izh dc_rule seed_rmax seed_csrm; do
    for package in snnlab bindsnet; do
        timeout "$T_MODEL" "$PY" benchmarks/runners/run_models.py --package "$package" --model "$model" \
            --device "$DEV" --repeats 3 --warmup 1 --threads 0 --data /tmp/snnlab_bench_data 2>&1 \
            | grep -E "RESULT|Error|error" | tail -3 || echo "$package $model: no result"
    done
done 2>&1 | tee "$OUT/models.log"
echo "== done"
