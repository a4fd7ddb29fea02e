"""Diehl & Cook on the 8x8 digits: BindsNET 0.3.4 and snnlab side by side.

Runs ``runners/run_diehl_cook.py`` (BindsNET's ``eth_mnist.py`` workflow,
identical text for both packages) once per package and seed, each in its own
venv and process, one after the other, and prints the test accuracy of both
and snnlab's speed-up (BindsNET's time / snnlab's, same run, same machine),
in wall time and in the CPU time of the simulating thread (steadier on a
shared machine; both include each package's first-run costs, such as
loading snnlab's compiled loop).
Writes ``results/diehl_cook.json`` and ``results/diehl_cook.md``.

Usage::

    .venv/bin/python benchmarks/bench_diehl_cook.py                 # full: 1438 train, 359 test samples
    .venv/bin/python benchmarks/bench_diehl_cook.py --quick         # 200 train, 100 test
    .venv/bin/python benchmarks/bench_diehl_cook.py --seeds 0 1 2   # accuracy over seeds

BindsNET's venv: ``bash benchmarks/peers/setup_venvs.sh`` (or ``--bindsnet-python``, or the
environment variable ``SNNLAB_BINDSNET_PYTHON``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import common as C  # noqa: E402

RUNNER = BENCH / "runners" / "run_diehl_cook.py"
DEFAULT_BINDSNET = Path(os.environ.get("SNNLAB_BINDSNET_PYTHON", BENCH / "peers" / ".venvs" / "bindsnet" / "bin" / "python"))


def run_one(python: str, package: str, args: list[str], timeout: float) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(BENCH.parent) + os.pathsep + env.get("PYTHONPATH", "")
    if package == "snnlab":
        env.setdefault("SNNLAB_COMPILE", "wait")  # compile the CPU loop first instead of running eagerly meanwhile
    proc = subprocess.run([python, str(RUNNER), "--package", package, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    results = C.parse_results(proc.stdout)
    if proc.returncode != 0 or not results:
        raise RuntimeError(f"{package} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return results[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="200 training and 100 test samples")
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--n-neurons", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--bindsnet-python", default=str(DEFAULT_BINDSNET))
    p.add_argument("--timeout", type=float, default=3600.0, help="per process, s")
    p.add_argument("--out", type=Path, default=BENCH / "results")
    a = p.parse_args(argv)
    n_train = a.n_train or (200 if a.quick else 1438)
    n_test = a.n_test or (100 if a.quick else 359)
    if not Path(a.bindsnet_python).exists():
        print(f"BindsNET's python not found at {a.bindsnet_python}: run benchmarks/peers/setup_venvs.sh", file=sys.stderr)
        return 2

    rows = []
    for seed in a.seeds:
        args = ["--n-train", str(n_train), "--n-test", str(n_test), "--n-neurons", str(a.n_neurons), "--seed", str(seed)]
        for package, python in (("bindsnet", a.bindsnet_python), ("snnlab", sys.executable)):
            r = run_one(python, package, args, a.timeout)
            r["seed"] = seed
            rows.append(r)
            print(f"seed {seed} {package:8s}  accuracy {r['accuracy_all']:5.1f} % (all)  "
                  f"{r['accuracy_proportion']:5.1f} % (proportion)  "
                  f"train {r['ms_per_train_sample']:6.1f} ms/sample  test {r['ms_per_test_sample']:6.1f} ms/sample  "
                  f"(CPU {r['cpu_ms_per_train_sample']:6.1f} / {r['cpu_ms_per_test_sample']:6.1f})",
                  flush=True)

    def col(pkg, key):
        return [r[key] for r in rows if r["package"] == pkg]

    summary = {}
    for key in ("accuracy_all", "accuracy_proportion", "ms_per_train_sample", "ms_per_test_sample",
                "cpu_ms_per_train_sample", "cpu_ms_per_test_sample"):
        summary[key] = {pkg: statistics.mean(col(pkg, key)) for pkg in ("bindsnet", "snnlab")}
    speedup_train = summary["ms_per_train_sample"]["bindsnet"] / summary["ms_per_train_sample"]["snnlab"]
    speedup_test = summary["ms_per_test_sample"]["bindsnet"] / summary["ms_per_test_sample"]["snnlab"]
    cpu_train = summary["cpu_ms_per_train_sample"]["bindsnet"] / summary["cpu_ms_per_train_sample"]["snnlab"]
    cpu_test = summary["cpu_ms_per_test_sample"]["bindsnet"] / summary["cpu_ms_per_test_sample"]["snnlab"]
    # Binomial standard error of one accuracy on n_test samples (the noise a comparison must allow).
    acc = summary["accuracy_all"]["bindsnet"] / 100
    stderr = 100 * (acc * (1 - acc) / n_test) ** 0.5
    print(f"\nmean over seeds {a.seeds}: accuracy BindsNET {summary['accuracy_all']['bindsnet']:.1f} %, "
          f"snnlab {summary['accuracy_all']['snnlab']:.1f} % (one run's standard error ~{stderr:.1f} points)")
    print(f"speed-up of snnlab: training x{speedup_train:.2f}, testing x{speedup_test:.2f} (wall); "
          f"x{cpu_train:.2f}, x{cpu_test:.2f} (CPU time of the simulating thread)")

    a.out.mkdir(parents=True, exist_ok=True)
    record = {"machine": C.machine_info(), "git": C.git_rev(), "command": " ".join(["bench_diehl_cook.py", *(argv or sys.argv[1:])]),
              "rows": rows, "summary": summary, "speedup_train": speedup_train, "speedup_test": speedup_test,
              "cpu_speedup_train": cpu_train, "cpu_speedup_test": cpu_test,
              "accuracy_stderr_points": stderr}
    (a.out / "diehl_cook.json").write_text(json.dumps(record, indent=1))
    m = record["machine"]
    lines = [
        "# Diehl & Cook (2015) on scikit-learn's 8x8 digits: BindsNET 0.3.4 vs snnlab",
        "",
        f"{m['date_utc']}, {m['cpu']}, {m['cores']} cores, load {m['loadavg']}, git {record['git']}.",
        f"Workflow: `benchmarks/runners/run_diehl_cook.py` (eth_mnist.py's), {a.n_neurons} excitatory neurons, "
        f"250 ms per sample, {n_train} training and {n_test} test samples, seeds {a.seeds}, one thread each.",
        "",
        "| package | accuracy all (%) | accuracy proportion (%) | train ms/sample | test ms/sample | train CPU ms/sample | test CPU ms/sample |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for pkg in ("bindsnet", "snnlab"):
        lines.append(f"| {pkg} | {summary['accuracy_all'][pkg]:.1f} | {summary['accuracy_proportion'][pkg]:.1f} | "
                     f"{summary['ms_per_train_sample'][pkg]:.1f} | {summary['ms_per_test_sample'][pkg]:.1f} | "
                     f"{summary['cpu_ms_per_train_sample'][pkg]:.1f} | {summary['cpu_ms_per_test_sample'][pkg]:.1f} |")
    lines += ["", f"snnlab's speed-up: x{speedup_train:.2f} training, x{speedup_test:.2f} testing (wall); "
              f"x{cpu_train:.2f}, x{cpu_test:.2f} in CPU time of the simulating thread. "
              f"Standard error of one accuracy: ~{stderr:.1f} points.", ""]
    (a.out / "diehl_cook.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
