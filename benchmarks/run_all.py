"""Run every benchmark of issue 5 and write the results table and plot.

One command::

    .venv/bin/python benchmarks/run_all.py            # ~15 min on 2 cores
    .venv/bin/python benchmarks/run_all.py --quick    # a few minutes: fewer repeats, smaller sweep

Each simulator runs in its own process, with its own virtual environment's
Python (snnlab and the hand loops: snnlab's ``.venv``; BindsNET, Brian2, NEST:
``benchmarks/peers/.venvs/*``, made by ``peers/setup_venvs.sh``). A peer whose
venv is missing is listed as "not set up". Every process is given the same
input spikes and weights (``common.prepare_data``) and prints one JSON record.

Writes ``benchmarks/results/RESULTS.md`` (tables with date and machine),
``benchmarks/results/scaling.png`` (run time against network size) and
``benchmarks/results/results.json`` (every record).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import common as C  # noqa: E402

RESULTS = HERE / "results"
VENVS = HERE / "peers" / ".venvs"
MAIN_PY = Path(os.environ.get("SNNLAB_PYTHON", ROOT / ".venv" / "bin" / "python"))
if not MAIN_PY.exists():
    MAIN_PY = Path(sys.executable)

# simulator -> (python, runner script, extra args, pretty name)
SIMS = {
    "snnlab": (MAIN_PY, "run_bindsnet_api.py", ["--package", "snnlab"], "snnlab"),
    "bindsnet": (VENVS / "bindsnet/bin/python", "run_bindsnet_api.py", ["--package", "bindsnet"], "BindsNET 0.3.4"),
    "brian2-cython": (VENVS / "brian2/bin/python", "run_brian2.py", ["--target", "cython"], "Brian2 2.9 (cython)"),
    "nest-1t": (VENVS / "nest/bin/python", "run_nest.py", ["--threads", "1"], "NEST 3.10, 1 thread"),
    "nest-2t": (VENVS / "nest/bin/python", "run_nest.py", ["--threads", "2"], "NEST 3.10, 2 threads"),
    "numpy": (MAIN_PY, "run_loops.py", ["--impl", "numpy"], "numpy loop (dense)"),
    "numpy-event": (MAIN_PY, "run_loops.py", ["--impl", "numpy-event"], "numpy loop (event-driven)"),
    "torch": (MAIN_PY, "run_loops.py", ["--impl", "torch"], "torch loop (dense)"),
}
SEED_SIMS = list(SIMS)
SWEEP_SIMS = ["snnlab", "bindsnet", "brian2-cython", "nest-1t", "numpy-event", "torch"]
REFERENCE = "numpy"  # exact step semantics in float32: the spike counts are compared with it

# Heavy (simulator, workload) pairs: fewer repeats (or none) to keep the total near 15 min
# on 2 cores. NEST builds 10^8 synapses for the 10k network (~20 s, 5 GB) and
# simulates it in ~50 s; Brian2 builds them in ~10 s.
HEAVY = {("nest-1t", "large"): 1, ("nest-2t", "large"): 0, ("nest-2t", "seed_long"): 0,
         ("brian2-cython", "large"): 1, ("numpy", "large"): 1}

WHY_DIFFER = {
    "brian2-cython": "float64 arithmetic: threshold ties resolve differently, then the network diverges",
    "nest-1t": "float64 arithmetic: threshold ties resolve differently, then the network diverges",
    "nest-2t": "float64 arithmetic: threshold ties resolve differently, then the network diverges",
    "numpy-event": "float32 sums in another order (rows of spiking neurons) than the dense product",
    "snnlab": "float32 sums in another order than the dense product (event-driven propagation)",
    "bindsnet": "float32 sums in another order than numpy's dense product",
    "torch": "float32 sums in another order than numpy's dense product",
}


THREAD_ENV: dict[str, str] = {}  # set from --threads: OMP/BLAS threads of every process


def run_one(sim: str, wl: C.Workload, repeats: int, data: Path, timeout: float, log) -> dict:
    py, script, extra, _ = SIMS[sim]
    rec = {"simulator": sim, "workload": wl.name, "n_in": wl.n_in, "n_out": wl.n_out, "steps": wl.steps}
    if not Path(py).exists():
        return {**rec, "error": "not set up (run benchmarks/peers/setup_venvs.sh)"}
    cmd = [str(py), str(HERE / "runners" / script), *extra, "--workload", wl.name, "--steps", str(wl.steps),
           "--repeats", str(repeats), "--data", str(data)]
    if sim in ("snnlab", "bindsnet") and wl.n_out * wl.steps <= 5_000_000:
        cmd += ["--warmup", "1"]  # both get an untimed first run when it is cheap
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **THREAD_ENV)
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {**rec, "error": f"timed out after {timeout:.0f} s", "timeout": True}
    wall = time.perf_counter() - t0
    log.write(f"$ {' '.join(cmd)}\n{out.stdout}\n{out.stderr[-4000:]}\n")
    log.flush()
    recs = C.parse_results(out.stdout)
    if out.returncode != 0 or not recs:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {**rec, "error": f"exit {out.returncode}: {last[:200]}"}
    return {**recs[0], "process_wall_s": round(wall, 1)}


def fmt_s(x: float) -> str:
    return f"{x:.3f}" if x >= 0.1 else f"{x * 1e3:.1f} ms"


def write_markdown(meta: dict, records: list[dict], memory: dict | None, workloads: list[C.Workload],
                   sweep: list[C.Workload], path: Path) -> str:
    by = {(r["simulator"], r["workload"]): r for r in records}
    L = [f"# snnlab benchmarks against its peers", "",
         f"- Date: {meta['machine']['date_utc']} (git {meta['git']})",
         f"- Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, {meta['machine']['mem_gb']} GB, "
         f"{meta['machine']['os']}; load average {meta['machine']['loadavg']} at the start, "
         f"{meta['end_loadavg']} at the end (the cores are shared: timings are noisy, read the ratios)",
         f"- Command: `{meta['command']}` ({meta['total_min']:.1f} min in all)",
         f"- Versions: {meta['versions']}; torch/BLAS threads per process: {meta['threads']}",
         "- Run time: median wall time of the run call (`Network.run`, `brian2.Network.run`, `nest.Simulate`, "
         "the loop), build excluded; `n` = timed repeats. `first run`: the untimed warm-up run in a fresh "
         "process, where there is one (snnlab: numba compilation of its fused loop; Brian2: code generation; "
         "BindsNET: allocator warm-up). Peak RSS: `ru_maxrss` of that simulator's process "
         "(interpreter and libraries included). `x snnlab`: the simulator's run time / snnlab's "
         "(> 1: snnlab is faster).",
         "- Threads: one per process (torch, numpy/BLAS, NEST 1 thread), except `NEST 3.10, 2 threads`: on "
         "these shared cores a 2-thread run slows down by up to 20x whenever another process holds a core "
         "(OpenMP spin barriers; see benchmarks/README.md).",
         f"- Spikes: total spikes of the LIF layer; `diff` against the numpy loop (exact step semantics, "
         "float32). Every simulator gets the same input spikes and weights.", ""]

    def table(wl):
        sn = by.get(("snnlab", wl.name), {})
        ref = by.get((REFERENCE, wl.name), {})
        rows = ["| simulator | build (s) | first run | run | n | x snnlab | spikes | diff | peak RSS (MB) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        notes = []
        for sim in SIMS:
            r = by.get((sim, wl.name))
            if r is None:
                continue
            name = SIMS[sim][3]
            if "error" in r:
                rows.append(f"| {name} | | | {r['error']} | | | | | |")
                continue
            x = f"{r['run_s'] / sn['run_s']:.1f}" if "run_s" in sn else ""
            diff = ""
            if "spikes_out" in ref and sim != REFERENCE:
                d = (r["spikes_out"] - ref["spikes_out"]) / max(ref["spikes_out"], 1) * 100
                diff = f"{d:+.2f} %" if d else "0"
                if d and sim in WHY_DIFFER:
                    notes.append(f"- {name}: {d:+.2f} %, {WHY_DIFFER[sim]}")
            first = fmt_s(r["first_run_s"]) if "first_run_s" in r else ""
            rows.append(f"| {name} | {r['build_s']:.3f} | {first} | {fmt_s(r['run_s'])} | {r['repeats']} | {x} | "
                        f"{r['spikes_out']} | {diff} | {r['peak_rss_mb']:.0f} |")
        if notes:
            rows += ["", "Why spike counts differ (every simulator gives the same raster, spike for spike, "
                     "until the first threshold tie that rounding decides differently; on the seed network "
                     "all rasters are identical):"] + notes
        return rows

    for wl in workloads:
        L += [f"## {wl.label} ({wl.name})", ""] + table(wl) + [""]

    # Targets
    def ratio(wl_name, other):
        a, b = by.get((other, wl_name), {}), by.get(("snnlab", wl_name), {})
        return a["run_s"] / b["run_s"] if "run_s" in a and "run_s" in b else None

    L += ["## Targets (issue 5; CPU, ratios from this run)", ""]
    r = ratio("seed", "bindsnet")
    if r is not None:
        L.append(f"- Seed network >= 10x faster than BindsNET: **{r:.1f}x** -> {'MET' if r >= 10 else 'MISSED'}")
    peers = [s for s in SIMS if s != "snnlab" and "run_s" in by.get((s, "seed"), {})]
    slower_than = [SIMS[s][3] for s in peers if ratio("seed", s) < 1]
    if peers:
        L.append(f"- Seed network faster than every peer, numpy loop included: "
                 + ("**MET**" if not slower_than else f"**MISSED**: slower than {', '.join(slower_than)} ("
                    + ", ".join(f"{SIMS[s][3]} {ratio('seed', s):.2f}x" for s in peers if ratio('seed', s) < 1)
                    + ")"))
    r = ratio("large", "bindsnet")
    if r is not None:
        L.append(f"- 1000 -> 10000 >= 10x faster than BindsNET: **{r:.1f}x** -> {'MET' if r >= 10 else 'MISSED'}")
    if memory:
        if "error" in memory:
            L.append(f"- Memory check: {memory['error']}")
        else:
            L.append(f"- Memory: {memory['steps']:,} steps of 1000 neurons with spikes recorded: peak RSS "
                     f"**{memory['peak_rss_mb']:.0f} MB** (limit {memory['limit_mb']:.0f} MB; recording "
                     f"{memory['recording_mb']} MB, {memory['spikes']:,} spikes, {memory['run_s']} s) -> "
                     f"{'MET' if memory['passed'] else 'MISSED'}")
    L.append("")

    if sweep:
        L += [f"## BindsNET's benchmark shape: n Poisson inputs (0-60 Hz) -> n LIF, U(0, 1) weights, "
              f"{sweep[0].steps} steps", "",
              "Run time (s), median; `-`: not run (a smaller n timed out or failed).", ""]
        sims = [s for s in SWEEP_SIMS if any((s, w.name) in by for w in sweep)]
        L.append("| n | " + " | ".join(SIMS[s][3] for s in sims) + " | BindsNET / snnlab |")
        L.append("|---:|" + "---:|" * len(sims) + "---:|")
        for w in sweep:
            cells = []
            for s in sims:
                r = by.get((s, w.name))
                cells.append("-" if r is None else (r.get("error", "")[:30] if "error" in r else f"{r['run_s']:.3f}"))
            rr = ratio(w.name, "bindsnet")
            L.append(f"| {w.n_out} | " + " | ".join(cells) + f" | {'' if rr is None else f'{rr:.1f}x'} |")
        L.append("")
    L += ["![run time against network size](scaling.png)", ""]
    text = "\n".join(L)
    path.write_text(text)
    return text


def plot(records: list[dict], sweep: list[C.Workload], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {(r["simulator"], r["workload"]): r for r in records}
    colors = dict(zip(SIMS, plt.get_cmap("tab10").colors))  # one colour per simulator in both panels
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    ax = axes[0]
    for sim in SWEEP_SIMS:
        pts = [(w.n_out, by[(sim, w.name)]["run_s"]) for w in sweep if "run_s" in by.get((sim, w.name), {})]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=SIMS[sim][3], color=colors[sim], lw=2.5 if sim == "snnlab" else 1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n (inputs = LIF neurons)")
    ax.set_ylabel("run time (s)")
    steps = sweep[0].steps if sweep else ""
    ax.set_title(f"BindsNET's benchmark shape, {steps} steps")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[1]
    seeds = [w for w in ("seed", "large") if any((s, w) in by for s in SIMS)]
    for sim in SIMS:
        pts = [(by[(sim, w)]["n_out"], by[(sim, w)]["run_s"]) for w in seeds if "run_s" in by.get((sim, w), {})]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=SIMS[sim][3], color=colors[sim], lw=2.5 if sim == "snnlab" else 1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("LIF neurons (inputs = neurons / 10)")
    ax.set_ylabel("run time (s)")
    ax.set_title("seed network shape, 500 steps, monitors on")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def versions() -> str:
    out = []
    for name, py, code in [
        ("snnlab", MAIN_PY, "import snnlab, torch; print(snnlab.__version__, 'torch', torch.__version__)"),
        ("BindsNET", VENVS / "bindsnet/bin/python", "import torch; print('0.3.4 torch', torch.__version__)"),
        ("Brian2", VENVS / "brian2/bin/python", "import brian2, Cython; print(brian2.__version__, 'Cython', Cython.__version__)"),
        ("NEST", VENVS / "nest/bin/python", "import os,sys; sys.stdout=open(os.devnull,'w'); import nest; sys.stdout=sys.__stdout__; print(nest.__version__)"),
        ("numpy", MAIN_PY, "import numpy; print(numpy.__version__)"),
    ]:
        if not Path(py).exists():
            out.append(f"{name}: not set up")
            continue
        r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        out.append(f"{name} {r.stdout.strip().splitlines()[-1] if r.stdout.strip() else '?'}")
    return "; ".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Run all benchmarks; write results/RESULTS.md and results/scaling.png")
    p.add_argument("--quick", action="store_true",
                   help="3 repeats, no 5000-step seed run, sweep n in (250, 1000, 2500) of 200 steps, "
                        "memory check of 100,000 steps")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per run (default 5, quick 3)")
    p.add_argument("--sweep-steps", type=int, default=None, help="steps of the BindsNET-shape sweep (default 500)")
    p.add_argument("--sweep-sizes", type=int, nargs="*", default=None)
    p.add_argument("--memory-steps", type=int, default=None, help="steps of the memory check (default 1e6)")
    p.add_argument("--sims", nargs="+", default=None, choices=list(SIMS), help="only these simulators")
    p.add_argument("--workloads", nargs="+", default=None, choices=["seed", "seed_long", "large"])
    p.add_argument("--timeout", type=float, default=240, help="seconds per simulator process")
    p.add_argument("--threads", type=int, default=1,
                   help="OMP/BLAS threads for torch and numpy in every process (default 1: on shared cores, "
                        "OpenMP/BLAS spin barriers make 2-thread runs up to 20x slower whenever another "
                        "process holds a core; 0 = the libraries' own default)")
    p.add_argument("--data", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--replot", action="store_true",
                   help="only rewrite RESULTS.md and scaling.png from the results.json in --out")
    args = p.parse_args(argv)
    if args.replot:
        saved = json.loads((args.out / "results.json").read_text())
        names = {r["workload"] for r in saved["records"]}
        steps = {r["workload"]: r["steps"] for r in saved["records"] if "steps" in r}
        wls = [C.get_workload(n) for n in ("seed", "seed_long", "large") if n in names]
        sw = [C.bindsnet_shape(int(n[2:]), steps[n]) for n in sorted(
            (n for n in names if n.startswith("bn")), key=lambda n: int(n[2:]))]
        print(write_markdown(saved["meta"], saved["records"], saved["memory"], wls, sw, args.out / "RESULTS.md"))
        plot(saved["records"], sw, args.out / "scaling.png")
        return 0
    if args.threads < 0:
        raise ValueError(f"--threads must be 0 (library default) or a positive integer, got {args.threads}")
    if args.threads:
        THREAD_ENV.update({k: str(args.threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})

    repeats = args.repeats or (3 if args.quick else 5)
    wl_names = args.workloads or (["seed", "large"] if args.quick else ["seed", "seed_long", "large"])
    sweep_steps = args.sweep_steps or (200 if args.quick else 500)
    sizes = args.sweep_sizes if args.sweep_sizes is not None else ([250, 1000, 2500] if args.quick else list(C.SWEEP_SIZES))
    mem_steps = args.memory_steps or (100_000 if args.quick else 1_000_000)
    sims = args.sims or list(SIMS)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    meta = {"machine": C.machine_info(), "git": C.git_rev(), "versions": versions(),
            "threads": args.threads or f"default ({os.cpu_count()})",
            "command": " ".join(["python benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])])}
    print(f"versions: {meta['versions']}", flush=True)

    workloads = [C.get_workload(n) for n in wl_names]
    sweep = [C.get_workload(f"bn{n}", sweep_steps) if f"bn{n}" in C.WORKLOADS
             else C.bindsnet_shape(n, sweep_steps) for n in sizes]
    for wl in workloads + sweep:
        C.WORKLOADS.setdefault(wl.name, wl)
        C.prepare_data(wl, args.data)

    records = []
    log = open(args.out / "run_all.log", "w")
    for wl in workloads:
        for sim in [s for s in SEED_SIMS if s in sims]:
            n = HEAVY.get((sim, wl.name), repeats if wl.name == "seed" else min(repeats, 3))
            if n == 0:
                records.append({"simulator": sim, "workload": wl.name, "error": "skipped (too slow for the time budget)"})
                continue
            r = run_one(sim, wl, n, args.data, args.timeout, log)
            records.append(r)
            print(f"[{time.perf_counter() - t_start:6.0f} s] {wl.name:10s} {sim:14s} "
                  + (r.get("error") or f"run {r['run_s']:.4f} s  build {r['build_s']:.3f} s  spikes {r['spikes_out']}"),
                  flush=True)
    dead = set()
    for wl in sweep:
        for sim in [s for s in SWEEP_SIMS if s in sims]:
            if sim in dead:
                continue
            r = run_one(sim, wl, min(repeats, 3), args.data, args.timeout, log)
            records.append(r)
            if "error" in r:
                dead.add(sim)  # larger n would only take longer
            print(f"[{time.perf_counter() - t_start:6.0f} s] n={wl.n_out:<6d}   {sim:14s} "
                  + (r.get("error") or f"run {r['run_s']:.4f} s  build {r['build_s']:.3f} s  spikes {r['spikes_out']}"),
                  flush=True)

    memory = None
    if "snnlab" in sims and mem_steps > 0:
        cmd = [str(MAIN_PY), str(HERE / "memory_check.py"), "--steps", str(mem_steps)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=max(args.timeout, 900),
                                 env=dict(os.environ, PYTHONPATH=str(ROOT), **THREAD_ENV), cwd=str(ROOT))
            log.write(f"$ {' '.join(cmd)}\n{out.stdout}\n{out.stderr[-4000:]}\n")
            recs = C.parse_results(out.stdout)
            memory = recs[0] if recs else {"error": f"memory check failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}"}
        except subprocess.TimeoutExpired:
            memory = {"error": "memory check timed out"}
        print(f"[{time.perf_counter() - t_start:6.0f} s] memory check: {memory}", flush=True)
    log.close()

    meta["total_min"] = (time.perf_counter() - t_start) / 60
    meta["end_loadavg"] = [round(x, 2) for x in os.getloadavg()]
    (args.out / "results.json").write_text(json.dumps(
        {"meta": meta, "records": records, "memory": memory}, indent=1))
    text = write_markdown(meta, records, memory, workloads, sweep, args.out / "RESULTS.md")
    plot(records, sweep, args.out / "scaling.png")
    print("\n" + text)
    print(f"\nwrote {args.out / 'RESULTS.md'}, {args.out / 'scaling.png'}, {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
