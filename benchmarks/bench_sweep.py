"""Sweep throughput: points/s with 1 and 2 local Dask workers, batch packing, a 400-point sweep end to end.

Usage::

    python benchmarks/bench_sweep.py [--points 40] [--pack 1 4 16] [--full-points 400] [--out benchmarks/results]

Every figure is for the seed network (``LabConfig()``: 100 Bernoulli inputs
-> 1000 LIF, 500 ms at dt = 1 ms) with its metrics (rate, CV, Fano, chi of
both layers). Absolute times depend on the machine and its load; read the
ratios, which compare runs made in the same process minutes apart.

1. ``workers``: the same ``--points``-point sweep in this process (inline,
   the baseline), then on a LocalCluster of 1 and of 2 worker processes (one
   torch thread each), in turn, ``--rounds`` times (medians; the ratio is the
   median of the per-round ratios). The clusters are started and warmed up
   (imports, the numba loop) before the clock starts: this is the steady
   throughput; the start-up is reported apart.
2. ``packing``: ``--points`` input rates of one network and seed
   (``seed_from=()``) in this process, ``pack=1`` against each ``--pack``:
   the same rows (checked), as separate simulations or as batches. Then the
   batched code path alone, batches of 1 against batches of ``--pack``, to
   separate the batching from the lab loop's per-point cost.
3. ``end to end``: ``snnlab sweep`` on a 20 x 20 grid of input_rate x
   weight_scale (``--full-points`` points), 1 seed, ``--workers 2``:
   the command's wall time, cluster start-up included.

Results go to ``OUT/bench_sweep.txt`` and ``OUT/bench_sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from snnlab.config import LabConfig  # noqa: E402
from snnlab.sweep import Sweep, grid  # noqa: E402

VOLATILE = ["wall_time_s", "worker"]


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _median(xs):
    return float(np.median(xs))


def bench_workers(n_points: int, rounds: int) -> dict:
    """Inline, 1 and 2 workers measured in turn, ``rounds`` times (medians):
    the load of a shared machine changes from minute to minute, and a ratio
    of runs made seconds apart is what survives it."""
    from dask.distributed import Client

    from snnlab.sweep.runner import _default_malloc

    rates = np.linspace(10.0, 200.0, n_points)
    design = grid(input_rate=rates)
    cfg = LabConfig()
    Sweep(cfg, grid(input_rate=[50.0]), seed=99).run(scheduler="inline")  # warm this process
    from dask.distributed import LocalCluster

    clusters, clients, start = {}, {}, {}
    for n in (1, 2):
        t0 = time.perf_counter()
        with _default_malloc():  # as Sweep.run's own LocalCluster
            clusters[n] = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=40)
        clients[n] = Client(clusters[n])
        start[n] = time.perf_counter() - t0
        # Warm every worker (imports, the numba loop).
        Sweep(cfg, grid(input_rate=list(np.linspace(60.0, 70.0, 2 * n))), seed=98).run(client=clients[n])
    times = {"inline": [], 1: [], 2: []}
    same = {1: True, 2: True}
    try:
        for _ in range(rounds):
            inline, t = _timed(lambda: Sweep(cfg, design, seed=1).run(scheduler="inline"))
            times["inline"].append(t)
            for n in (1, 2):
                table, t = _timed(lambda: Sweep(cfg, design, seed=1).run(client=clients[n]))
                times[n].append(t)
                same[n] &= bool(table.drop(columns=VOLATILE).equals(inline.drop(columns=VOLATILE)))
    finally:
        for n in (1, 2):
            clients[n].close()
            clusters[n].close()
    out = {"points": n_points, "rounds": rounds, "inline_s": times["inline"],
           "inline_points_per_s": n_points / _median(times["inline"])}
    for n in (1, 2):
        out[f"workers{n}"] = {"start_s": start[n], "sweep_s": times[n], "points_per_s": n_points / _median(times[n]),
                              "same_rows": same[n]}
    ratios = [a / b for a, b in zip(times[1], times[2])]
    out["speedup_2_vs_1"] = _median(ratios)
    out["speedup_2_vs_1_rounds"] = ratios
    return out


def bench_packing(n_points: int, packs, rounds: int) -> dict:
    from snnlab.sweep.targets import LabConfigTarget

    cfg = LabConfig()
    design = grid(input_rate=np.linspace(10.0, 200.0, n_points))
    Sweep(cfg, grid(input_rate=[50.0, 60.0]), seed_from=(), pack=2).run(scheduler="inline")  # warm both paths
    Sweep(cfg, grid(input_rate=[50.0]), seed=97).run(scheduler="inline")
    target = LabConfigTarget(cfg)
    items = [({"input_rate": float(r)}, 0) for r in np.linspace(10.0, 200.0, n_points)]
    sweep_t = {p: [] for p in [1] + list(packs)}
    batch_t = {p: [] for p in [1] + list(packs)}
    same = {p: True for p in packs}
    for _ in range(rounds):
        base, t = _timed(lambda: Sweep(cfg, design, seed_from=(), pack=1).run(scheduler="inline"))
        sweep_t[1].append(t)
        for p in packs:
            table, t = _timed(lambda: Sweep(cfg, design, seed_from=(), pack=p).run(scheduler="inline"))
            sweep_t[p].append(t)
            same[p] &= bool(table.drop(columns=VOLATILE).equals(base.drop(columns=VOLATILE)))
        # The batched code path alone (one build and one engine run per batch, no
        # metrics): batches of 1 use the compiled batch-1 loop, larger ones the eager one.
        for p in [1] + list(packs):
            _, t = _timed(lambda: [target.run_batch(items[i:i + p]) for i in range(0, n_points, p)])
            batch_t[p].append(t)
    out = {"points": n_points, "rounds": rounds, "pack1_s": sweep_t[1],
           "pack1_points_per_s": n_points / _median(sweep_t[1]), "packs": {},
           "batch_path": {"batch1_points_per_s": n_points / _median(batch_t[1]), "batches": {}}}
    for p in packs:
        out["packs"][str(p)] = {"s": sweep_t[p], "points_per_s": n_points / _median(sweep_t[p]),
                                "speedup": _median([a / b for a, b in zip(sweep_t[1], sweep_t[p])]),
                                "same_rows": same[p]}
        out["batch_path"]["batches"][str(p)] = {
            "points_per_s": n_points / _median(batch_t[p]),
            "speedup": _median([a / b for a, b in zip(batch_t[1], batch_t[p])])}
    return out


def bench_end_to_end(n_points: int) -> dict:
    side = int(round(math.sqrt(n_points)))
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "seed.json"
        cfg_path.write_text(LabConfig().to_json())
        cmd = [sys.executable, "-m", "snnlab.cli", "sweep", str(cfg_path),
               "--vary", f"input_rate=0:200:{side}", "--vary", f"weight_scale=0:4:{side}",
               "--seeds", "1", "--out", str(Path(tmp) / "out"), "--workers", "2", "--quiet"]
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc, t = _timed(lambda: subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600))
        if proc.returncode != 0:
            raise RuntimeError(f"snnlab sweep failed ({proc.returncode}): {proc.stderr[-2000:]}")
        import pandas as pd

        table = pd.read_parquet(Path(tmp) / "out" / "results.parquet")
    return {"points": side * side, "rows": len(table), "failed": int(table["error"].notna().sum()),
            "wall_s": t, "points_per_s": side * side / t, "command": " ".join(["snnlab"] + cmd[3:])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=40, help="points of the worker and packing sweeps")
    ap.add_argument("--pack", type=int, nargs="+", default=[4, 16], help="batch sizes to compare with 1")
    ap.add_argument("--rounds", type=int, default=3, help="measurements of each setting, taken in turn (medians)")
    ap.add_argument("--full-points", type=int, default=400, help="points of the end-to-end sweep (a square grid)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the results")
    ap.add_argument("--skip", nargs="*", default=[], choices=["workers", "packing", "end_to_end"])
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # the inline baseline on one thread, as each worker
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
               "command": "python benchmarks/bench_sweep.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    lines = [f"bench_sweep: {results['command']}", f"machine: {os.cpu_count()} CPUs (shared), torch {torch.__version__}"]
    if "workers" not in args.skip:
        w = bench_workers(args.points, args.rounds)
        results["workers"] = w
        lines += [
            f"[workers] {w['points']} points of the seed network; medians of {w['rounds']} rounds taken in turn",
            f"  inline (this process)  {w['inline_points_per_s']:7.2f} points/s",
            f"  1 local worker         {w['workers1']['points_per_s']:7.2f} points/s  (cluster start {w['workers1']['start_s']:.1f} s; same rows: {w['workers1']['same_rows']})",
            f"  2 local workers        {w['workers2']['points_per_s']:7.2f} points/s  (cluster start {w['workers2']['start_s']:.1f} s; same rows: {w['workers2']['same_rows']})",
            f"  2 workers / 1 worker   {w['speedup_2_vs_1']:7.2f}x  (rounds: {', '.join(f'{r:.2f}' for r in w['speedup_2_vs_1_rounds'])})",
        ]
    if "packing" not in args.skip:
        p = bench_packing(args.points, args.pack, args.rounds)
        results["packing"] = p
        lines += [f"[packing] {p['points']} input rates, one network and seed, in this process; medians of {p['rounds']} rounds",
                  f"  pack=1                 {p['pack1_points_per_s']:7.2f} points/s"]
        for k, v in p["packs"].items():
            lines.append(f"  pack={k:<3}               {v['points_per_s']:7.2f} points/s  {v['speedup']:5.2f}x  (same rows: {v['same_rows']})")
        b = p["batch_path"]
        lines += ["  the batched path alone (network build + engine run, no metrics):",
                  f"  batch of 1             {b['batch1_points_per_s']:7.2f} points/s"]
        for k, v in b["batches"].items():
            lines.append(f"  batch of {k:<3}           {v['points_per_s']:7.2f} points/s  {v['speedup']:5.2f}x")
    if "end_to_end" not in args.skip:
        e = bench_end_to_end(args.full_points)
        results["end_to_end"] = e
        lines += [f"[end to end] {e['command']}",
                  f"  {e['rows']} points in {e['wall_s']:.1f} s = {e['points_per_s']:.2f} points/s "
                  f"(cluster start-up included; {e['failed']} failed)"]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_sweep.txt").write_text(text)
    (out / "bench_sweep.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
