"""Where snnlab's run time goes: cProfile (Python) and torch.profiler (ops) of one run.

Builds a workload's network exactly as the benchmark does, runs it once to
warm up, then profiles one ``Network.run``:

* cProfile, sorted by own time: which engine functions cost what;
* torch.profiler's op table: how many torch ops a step issues and what each
  costs (on 2 CPU cores the fixed cost per op, a few microseconds, is what
  limits a 1000-neuron network).

Usage::

    .venv/bin/python benchmarks/profile_snnlab.py --workload seed [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "runners"))

import common as C  # noqa: E402
import run_bindsnet_api  # noqa: E402


def _fresh(wl, data_dir):
    import torch

    api = run_bindsnet_api.load_api("snnlab")
    inputs_np, w_fwd = C.load_data(wl, data_dir)
    network, _ = run_bindsnet_api.build(api, wl, w_fwd, "cpu")
    return network, {"A": torch.from_numpy(inputs_np).clone()}


def profile(wl, data_dir=C.DEFAULT_DATA_DIR, top: int = 25, ops: bool = True) -> str:
    """Profile one snnlab run of ``wl``; returns the report as text."""
    import torch

    out = io.StringIO()
    net, inp = _fresh(wl, data_dir)
    net.run(inputs=inp, time=wl.steps)  # warm-up
    net, inp = _fresh(wl, data_dir)
    t0 = time.perf_counter()
    net.run(inputs=inp, time=wl.steps)
    plain = time.perf_counter() - t0
    out.write(f"{wl.label}: one run {plain * 1e3:.1f} ms = {plain / wl.steps * 1e6:.1f} us/step "
              f"(torch {torch.__version__}, {torch.get_num_threads()} threads)\n\n")

    net, inp = _fresh(wl, data_dir)
    prof = cProfile.Profile()
    prof.enable()
    net.run(inputs=inp, time=wl.steps)
    prof.disable()
    out.write("cProfile, by own time (profiling overhead inflates the Python share):\n")
    st = pstats.Stats(prof, stream=out)
    st.sort_stats("tottime").print_stats(top)

    if ops:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as tprofile

        net, inp = _fresh(wl, data_dir)
        with tprofile(activities=[ProfilerActivity.CPU]) as p:
            net.run(inputs=inp, time=wl.steps)
        ka = p.key_averages()
        n_ops = sum(e.count for e in ka if e.key.startswith("aten::") and not any(
            e.key == k for k in ()))
        out.write(f"\ntorch ops issued: {n_ops} aten calls (incl. nested) = {n_ops / wl.steps:.1f} per step\n")
        out.write(ka.table(sort_by="self_cpu_time_total", row_limit=top))
    return out.getvalue()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="seed", choices=sorted(C.WORKLOADS))
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--no-ops", action="store_true", help="skip the torch.profiler table")
    p.add_argument("--data", type=Path, default=C.DEFAULT_DATA_DIR)
    args = p.parse_args(argv)
    print(profile(C.get_workload(args.workload, args.steps), args.data, args.top, not args.no_ops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
