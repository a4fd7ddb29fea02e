"""Model speed benchmark (issue 9): snnlab against BindsNET 0.3.4, side by side, in one run.

Times three networks built with BindsNET's API in both packages
(``runners/run_models.py``: the same file, ``--package snnlab`` here and
``--package bindsnet`` in BindsNET's venv, in its own process), on the same
inputs and weights:

* ``dc``: Diehl & Cook (784 Poisson inputs -> 400 DiehlAndCookNodes <-> 400
  inhibitory LIF, PostPre STDP on the input weights, 350 steps per sample);
* ``seed_postpre``: the seed network (100 -> 1000 LIF) with PostPre on the
  forward connection;
* ``seed_izh``: the seed network with IzhikevichNodes;
* ``dc_rule`` and ``seed_rmax`` (with ``--models``): Diehl & Cook with its own
  learning rule (DiehlAndCook), the seed network of SRM0 neurons with Rmax;
  ``seed_csrm`` (with ``--models``): the seed network of CSRMNodes.

Prints the medians, the ratio BindsNET / snnlab measured in this run, the
issue's target (>= 10x), and whether the two simulators agree where they are
deterministic:

* ``seed_postpre``: both are deterministic: rasters and learned weights must
  be identical;
* ``dc``: DiehlAndCookNodes(one_spike=True) draws a random winner, so the
  timed runs cannot agree spike for spike; the same network with
  ``one_spike=False`` (deterministic) is run once in both and compared;
* ``seed_csrm`` (the seed network with CSRMNodes): deterministic in both,
  with the same kernels (a spike k steps back weighs ``refractory((k - 1) dt)``);
  snnlab sums each window in float64 and BindsNET in float32, so a rounding
  difference could flip a spike (the first such step is reported); on this
  network the rasters and weights are identical;
* ``seed_izh``: deterministic in both, but the Izhikevich half-steps amplify
  float32 rounding about 1000x near a spike and the two packages sum the
  coupling in a different order: the rasters are identical up to the first
  step where a rounding difference flips a spike (reported), and the spike
  counts stay close.

Writes the table to ``results/bench_models.txt`` (and the records as JSON
with ``--json``). ``--snnlab-eager`` also times snnlab's eager back-end in the
same run (``use_backend("eager")``) and prints eager / the back-end chosen.

Usage::

    .venv/bin/python benchmarks/bench_models.py                  # 5 repeats, 3 D&C samples
    .venv/bin/python benchmarks/bench_models.py --quick          # 3 repeats, 2 samples
    .venv/bin/python benchmarks/bench_models.py --bindsnet-python PATH/TO/bindsnet/venv/bin/python
    .venv/bin/python benchmarks/bench_models.py --models dc_rule seed_rmax --snnlab-eager --out results/bench_rules.txt
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "runners"))

import common as C  # noqa: E402
import run_models  # noqa: E402

DEFAULT_BINDSNET_PY = HERE / "peers" / ".venvs" / "bindsnet" / "bin" / "python"
TARGET_X_BINDSNET = 10.0
LABELS = {
    "dc": "Diehl & Cook 784 -> 400 exc <-> 400 inh, STDP",
    "seed_postpre": "seed 100 -> 1000 LIF + PostPre",
    "seed_csrm": "seed 100 -> 1000 CSRM",
    "seed_izh": "seed 100 -> 1000 Izhikevich",
    "dc_rule": "Diehl & Cook, DiehlAndCook rule",
    "seed_rmax": "seed 100 -> 1000 SRM0 + Rmax",
}
DEFAULT_MODELS = ("dc", "seed_postpre", "seed_izh")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def bindsnet_python(arg: Path | None) -> Path | None:
    """BindsNET's interpreter: ``--bindsnet-python``, ``$SNNLAB_BINDSNET_PYTHON`` or the peers venv."""
    for candidate in (arg, os.environ.get("SNNLAB_BINDSNET_PYTHON"), DEFAULT_BINDSNET_PY):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def peer_record(python: Path, model: str, *, samples: int, repeats: int, warmup: int, data_dir: Path,
                threads: int, one_spike: bool = True, save: Path | None = None, timeout: float = 1800) -> dict:
    """Run ``run_models.py --package bindsnet`` in BindsNET's interpreter; its result record."""
    cmd = [str(python), str(HERE / "runners" / "run_models.py"), "--package", "bindsnet", "--model", model,
           "--samples", str(samples), "--repeats", str(repeats), "--warmup", str(warmup), "--data", str(data_dir),
           "--threads", str(threads), "--one-spike", str(int(one_spike))]
    if save is not None:
        cmd += ["--save", str(save)]
    env = dict(os.environ, **thread_env(threads))
    env.pop("PYTHONPATH", None)  # BindsNET's venv must not import this checkout's snnlab
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    recs = C.parse_results(out.stdout)
    if out.returncode != 0 or not recs:
        tail = out.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"BindsNET run of {model} failed (exit {out.returncode}): {tail}")
    return recs[0]


def thread_env(threads: int) -> dict:
    return {k: str(threads) for k in THREAD_VARS} if threads else {}


def agreement(a_path: Path, b_path: Path) -> dict:
    """Compare two ``run_models.py --save`` files (snnlab's, BindsNET's).

    Returns ``{"identical": bool, "first_diff_step": {layer: step or None},
    "spikes": {layer: (a, b)}, "max_dw": {conn: float}}``; a step counts
    across samples (sample k's step t is ``k * T + t``).
    """
    with np.load(a_path) as a, np.load(b_path) as b:
        if sorted(a.files) != sorted(b.files):
            raise ValueError(f"the two runs saved different things: {sorted(a.files)} vs {sorted(b.files)}")
        first, spikes, dw = {}, {}, {}
        for key in a.files:
            x, y = a[key], b[key]
            if x.shape != y.shape:
                raise ValueError(f"{key}: shapes differ, {x.shape} vs {y.shape}")
            if key.startswith("s_"):
                rows = (x != y).reshape(-1, x.shape[-1]).any(1)
                first[key[2:]] = int(np.argmax(rows)) if rows.any() else None
                spikes[key[2:]] = (int(x.sum()), int(y.sum()))
            else:
                dw[key[2:]] = float(np.abs(x.astype(np.float64) - y).max())
    identical = all(v is None for v in first.values()) and all(v == 0.0 for v in dw.values())
    return {"identical": identical, "first_diff_step": first, "spikes": spikes, "max_dw": dw}


def describe_agreement(model: str, agree: dict | None) -> str:
    if agree is None:
        return "not checked (no BindsNET)"
    if agree == "stochastic":
        return "not compared (SRM0 draws its spikes at random in each package)"
    if agree["identical"]:
        what = "one_spike=False variant: " if model in run_models.DC_MODELS else ""
        return f"{what}identical rasters and weights"
    diffs = {k: v for k, v in agree["first_diff_step"].items() if v is not None}
    counts = ", ".join(f"{k} {a}/{b}" for k, (a, b) in agree["spikes"].items())
    return f"rasters identical up to step {min(diffs.values())} ({', '.join(diffs)}); spikes sn/BN {counts}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="snnlab vs BindsNET 0.3.4 on model networks (issue 9)")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=run_models.MODELS)
    p.add_argument("--snnlab-eager", action="store_true", help="also time snnlab's eager back-end (ratio eager / chosen)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--samples", type=int, default=3, help="D&C samples (350 steps each) per timed run")
    p.add_argument("--quick", action="store_true", help="3 repeats, 2 D&C samples")
    p.add_argument("--threads", type=int, default=1, help="torch/BLAS threads in both (default 1; 0 = default)")
    p.add_argument("--bindsnet-python", type=Path, default=None,
                   help=f"BindsNET's interpreter (default $SNNLAB_BINDSNET_PYTHON or {DEFAULT_BINDSNET_PY})")
    p.add_argument("--no-bindsnet", action="store_true", help="time snnlab only")
    p.add_argument("--data", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--out", type=Path, default=HERE / "results" / "bench_models.txt")
    p.add_argument("--json", type=Path, default=None, help="also write the records here")
    args = p.parse_args(argv)
    repeats, samples = (3, 2) if args.quick else (args.repeats, args.samples)
    if repeats < 1 or samples < 1 or args.threads < 0:
        p.error("--repeats and --samples must be >= 1, --threads >= 0")
    bn_py = None if args.no_bindsnet else bindsnet_python(args.bindsnet_python)
    if not args.no_bindsnet and bn_py is None:
        print("BindsNET's venv not found (benchmarks/peers/setup_venvs.sh, or --bindsnet-python): snnlab only")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ.update(thread_env(args.threads))

    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for model in args.models:
            print(f"[{model}] snnlab ...", flush=True)
            sn = run_models.measure("snnlab", model, samples, repeats, 1, args.data, True,
                                    save=tmp / f"sn_{model}.npz")
            if args.snnlab_eager:
                from snnlab.engine import use_backend

                print(f"[{model}] snnlab eager ...", flush=True)
                with use_backend("eager"):
                    sn["eager"] = run_models.measure("snnlab", model, samples, repeats, 1, args.data, True)
            bn = agree = None
            if bn_py is not None:
                print(f"[{model}] BindsNET ...", flush=True)
                bn = peer_record(bn_py, model, samples=samples, repeats=repeats, warmup=1, data_dir=args.data,
                                 threads=args.threads, save=tmp / f"bn_{model}.npz")
                if model in run_models.DC_MODELS:  # the deterministic variant, one sample, in both
                    run_models.measure("snnlab", model, 1, 1, 0, args.data, False, save=tmp / f"sn_{model}_det.npz")
                    peer_record(bn_py, model, samples=1, repeats=1, warmup=0, data_dir=args.data,
                                threads=args.threads, one_spike=False, save=tmp / f"bn_{model}_det.npz")
                    agree = agreement(tmp / f"sn_{model}_det.npz", tmp / f"bn_{model}_det.npz")
                elif model == "seed_rmax":
                    agree = "stochastic"  # SRM0 draws its spikes: the packages draw differently
                else:
                    agree = agreement(tmp / f"sn_{model}.npz", tmp / f"bn_{model}.npz")
                bn["agreement"] = agree
            records += [r for r in (sn, bn) if r]
            rows.append((model, sn, bn, agree))

    lines = C.results_header("snnlab model benchmark (issue 9)", "benchmarks/bench_models.py",
                             argv if argv is not None else sys.argv[1:], args.threads or "default",
                             f"medians of {repeats} timed runs after 1 untimed warm-up; D&C: {samples} samples "
                             f"x 350 steps per run; seed networks: 500 steps")
    hdr = (f"{'network':46s} {'snnlab s':>9s} {'BindsNET s':>10s} {'BN/snnlab':>9s} {'target >=10x':>12s}  "
           f"{'snnlab ran':>13s}  agreement")
    lines += [hdr, "-" * (len(hdr) + 40)]
    for model, sn, bn, agree in rows:
        if bn:
            ratio = bn["run_s"] / sn["run_s"]
            bn_s, ratio_s, met = f"{bn['run_s']:.4f}", f"{ratio:.2f}x", "MET" if ratio >= TARGET_X_BINDSNET else "MISSED"
        else:
            bn_s = ratio_s = met = "-"
        lines.append(f"{LABELS[model]:46s} {sn['run_s']:9.4f} {bn_s:>10s} {ratio_s:>9s} {met:>12s}  "
                     f"{sn.get('backend', '?'):>13s}  {describe_agreement(model, agree)}")
        if "eager" in sn:
            lines.append(f"{'  snnlab eager':46s} {sn['eager']['run_s']:9.4f}   eager / {sn.get('backend', '?')} "
                         f"{sn['eager']['run_s'] / sn['run_s']:.2f}x (same run)")
    lines += ["", "first (untimed) run, s: " + ", ".join(
        f"{m} snnlab {sn.get('first_run_s', float('nan')):.3f}"
        + (f" (+{sn['compile_wait_s']:.1f} s waiting for its compiled loop)" if sn.get("compile_wait_s", 0) > 0.05 else "")
        + (f" / BindsNET {bn['first_run_s']:.3f}" if bn else "")
        for m, sn, bn, _ in rows)]
    if any(m in run_models.DC_MODELS for m, *_ in rows):
        lines.append("D&C timed runs use one_spike=True (a random winner per step: the packages draw differently, and "
                     "BindsNET resets every neuron that crossed); the agreement column is for one_spike=False.")
    C.write_results(lines, args.out)
    if args.json:
        args.json.write_text(json.dumps({"machine": C.machine_info(), "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
