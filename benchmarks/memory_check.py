"""Memory check (issue 5): a 1,000,000-step run of 1000 neurons with spikes recorded stays under 500 MB.

Runs the seed network (100 Bernoulli(0.1) inputs -> 1000 LIF with recurrent
inhibition) for ``--steps`` steps (default 1,000,000 = 1000 s of simulated
time) with a ``Monitor`` recording the spikes of all 1000 LIF neurons at every
step, and reports this process's peak resident set size (``ru_maxrss``, MB),
which includes the Python interpreter, torch and the recording. The input is
generated chunk by chunk (``run_chunks`` with a callable input), as the lab
does, so no [steps, 100] input tensor is ever held; the spikes of each chunk
are counted from the chunk's records.

Usage::

    .venv/bin/python benchmarks/memory_check.py              # 1e6 steps, limit 500 MB
    .venv/bin/python benchmarks/memory_check.py --steps 100000

Prints one ``RESULT {json}`` line; exits 1 if the peak exceeds ``--limit-mb``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--chunk", type=int, default=1_000, help="steps per chunk of generated input")
    p.add_argument("--limit-mb", type=float, default=500.0)
    args = p.parse_args(argv)
    if args.steps <= 0 or args.chunk <= 0:
        raise ValueError(f"--steps and --chunk must be positive, got {args.steps} and {args.chunk}")

    import torch

    from snnlab.network import Network
    from snnlab.network.monitors import Monitor
    from snnlab.network.nodes import Input, LIFNodes
    from snnlab.network.topology import Connection

    base = C.rss_mb()
    torch.manual_seed(C.SEED)
    net = Network()
    a, b = Input(n=100), LIFNodes(n=1000)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    net.add_connection(Connection(a, b, w=0.05 + 0.1 * torch.randn(100, 1000)), source="A", target="B")
    net.add_connection(Connection(b, b, w=C.REC_W * (torch.eye(1000) - 1)), source="B", target="B")
    mon = Monitor(b, ("s",))  # time=None: keep every row of the run
    net.add_monitor(mon, name="B")

    gen = torch.Generator().manual_seed(C.SEED)
    probs = torch.full((args.chunk, 100), 0.1)

    def inputs(start: int, stop: int) -> dict:
        return {"A": torch.bernoulli(probs[: stop - start], generator=gen).to(torch.uint8)}

    spikes = 0
    t0 = time.perf_counter()
    for chunk in net.run_chunks(inputs, time=args.steps * C.DT, chunk_steps=args.chunk):
        spikes += int(chunk.records["B"]["s"].sum())
    run_s = time.perf_counter() - t0
    peak = C.peak_rss_mb()
    rec = {
        "check": "memory",
        "steps": args.steps,
        "neurons": 1000,
        "rows_recorded": mon.rows,
        "spikes": spikes,
        "recording_mb": round(mon.memory_bytes() / 2**20, 1),
        "base_rss_mb": round(base, 1),
        "peak_rss_mb": round(peak, 1),
        "limit_mb": args.limit_mb,
        "run_s": round(run_s, 1),
        "us_per_step": round(run_s / args.steps * 1e6, 1),
        "passed": peak < args.limit_mb and mon.rows == args.steps,
    }
    C.emit(rec)
    print(f"{args.steps} steps x 1000 neurons, spikes recorded ({rec['recording_mb']} MB of recording): "
          f"peak RSS {peak:.0f} MB (limit {args.limit_mb:.0f} MB) -> {'PASS' if rec['passed'] else 'FAIL'}; "
          f"{run_s:.1f} s ({rec['us_per_step']} us/step)")
    return 0 if rec["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
