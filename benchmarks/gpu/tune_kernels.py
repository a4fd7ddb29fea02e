"""Sweep the Triton propagation kernels' tile sizes on this GPU, then run the GPU benchmark with the best.

Run from the repository root on the GPU machine, after run_gpu.sh's wheel install
(PYTHONPATH=<site>:$PWD): ``python3 benchmarks/gpu/tune_kernels.py``. Prints the
six fastest (COMPACT_BLOCK, ROWS_PER_ITER, COLS) for 200 of 10,000 neurons
spiking, each checked against the dense product, then the benchmark table with
the best; put the winners into snnlab/engine/backends/triton_kernels.py.
"""
import os, sys, time, itertools, json
sys.path.insert(0, os.getcwd())
import torch
import snnlab.engine.backends.triton_kernels as K
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection

def timed(fn, reps=50):
    fn(); torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s): fn()
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(g):
        for _ in range(reps): fn()
    g.replay(); torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5): g.replay()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / (5 * reps) * 1e6  # us per call

conn = Connection(Input(n=10000), LIFNodes(n=10000), w=torch.randn(10000, 10000)).to("cuda")
s = torch.rand(1, 10000, device="cuda") < 0.02
ref = s.float() @ conn.w
results = []
for block in (1024, 2048, 4096, 8192):
    for rows, cols in itertools.product((16, 32, 64), (32, 64, 128)):
        K.COMPACT_BLOCK, K.ROWS_PER_ITER, K.COLS = block, rows, cols
        prop = K.TritonPropagator(conn, 1)
        out = prop(s, None)
        ok = torch.allclose(out, ref, atol=1e-3)
        us = timed(lambda: prop(s, None))
        results.append((us, block, rows, cols, ok))
results.sort()
for r in results[:6]: print("us %.2f block %d rows %d cols %d ok %s" % r)
print("default (4096, 32, 64):", [r for r in results if r[1:4] == (4096, 32, 64)])
best = next(r for r in results if r[4])
K.COMPACT_BLOCK, K.ROWS_PER_ITER, K.COLS = best[1], best[2], best[3]
print("BEST", json.dumps({"COMPACT_BLOCK": best[1], "ROWS_PER_ITER": best[2], "COLS": best[3]}), flush=True)
sys.argv = ["bench_gpu.py", "--repeats", "5"]
sys.path.insert(0, os.path.join(os.getcwd(), "benchmarks", "gpu"))
import runpy
try:
    runpy.run_path("benchmarks/gpu/bench_gpu.py", run_name="__main__")
except SystemExit as e:
    print("bench exit", e.code)
