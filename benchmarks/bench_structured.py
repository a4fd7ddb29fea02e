"""Structured connections' speed (issue 9): snnlab's chosen back-end against its own
eager path and BindsNET 0.3.4, side by side, in one run.

Times the networks of ``runners/run_structured.py`` (the same file in both
packages, BindsNET's in its own venv and process), on the same inputs and
weights:

* ``conv``: 1 x 28 x 28 Input -> Conv2dConnection 8 x 5 x 5 -> 8 x 24 x 24 LIF,
  fixed weights (snnlab's cpu loop: the connection's propagation map);
* ``conv_postpre``: the same with PostPre on the shared weights (snnlab only:
  BindsNET 0.3.4's PostPre on a Conv2dConnection raises);
* ``conv_mstdp``: the same with MSTDP (reward 1) on the shared weights, a rule
  with its own state (snnlab only: BindsNET 0.3.4's MSTDP on a Conv2dConnection
  raises).

Prints the medians and the ratios measured in this run (eager / snnlab,
BindsNET / snnlab), and whether the rasters and weights agree: snnlab's
chosen back-end against its eager path, and against BindsNET where it runs.
Writes the table to ``results/bench_structured.txt``.

Usage::

    .venv/bin/python benchmarks/bench_structured.py                 # 5 repeats, 3 samples x 250 steps
    .venv/bin/python benchmarks/bench_structured.py --bindsnet-python PATH/TO/bindsnet/venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "runners"))

import bench_models  # noqa: E402
import common as C  # noqa: E402
import run_structured  # noqa: E402

LABELS = {"conv": "1x28x28 -> Conv2d 8x5x5 -> 8x24x24 LIF", "conv_postpre": "the same + PostPre on the kernels",
          "conv_mstdp": "the same + MSTDP on the kernels"}
PEER_RUNS = ("conv",)  # BindsNET 0.3.4 runs these (its PostPre and MSTDP on a Conv2dConnection raise)
NOT_IN_PEER = {
    "conv_postpre": "its PostPre on a Conv2dConnection raises: permute(sparse_coo) in _conv2d_connection_update",
    "conv_mstdp": "its MSTDP on a Conv2dConnection raises: conv2d_weight gets a 3-d input in _conv_point_eligibility",
}


def peer_record(python: Path, model: str, *, samples: int, repeats: int, data_dir: Path, threads: int,
                save: Path, timeout: float = 1800) -> dict:
    """``run_structured.py --package bindsnet`` in BindsNET's interpreter; its result record."""
    cmd = [str(python), str(HERE / "runners" / "run_structured.py"), "--package", "bindsnet", "--model", model,
           "--samples", str(samples), "--repeats", str(repeats), "--data", str(data_dir), "--threads", str(threads),
           "--save", str(save)]
    env = dict(os.environ, **bench_models.thread_env(threads))
    env.pop("PYTHONPATH", None)  # BindsNET's venv must not import this checkout's snnlab
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    recs = C.parse_results(out.stdout)
    if out.returncode != 0 or not recs:
        raise RuntimeError(f"BindsNET run of {model} failed (exit {out.returncode}): {out.stderr.strip()[-400:]}")
    return recs[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="snnlab (chosen back-end, eager) vs BindsNET 0.3.4 on structured connections")
    p.add_argument("--models", nargs="+", default=list(run_structured.MODELS), choices=run_structured.MODELS)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--samples", type=int, default=3, help="samples (250 steps each) per timed run")
    p.add_argument("--threads", type=int, default=1, help="torch/BLAS threads in both (default 1)")
    p.add_argument("--bindsnet-python", type=Path, default=None,
                   help="BindsNET's interpreter (default $SNNLAB_BINDSNET_PYTHON or the peers venv)")
    p.add_argument("--no-bindsnet", action="store_true", help="time snnlab only")
    p.add_argument("--data", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--out", type=Path, default=HERE / "results" / "bench_structured.txt")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.samples < 1 or args.threads < 1:
        p.error("--repeats, --samples and --threads must be >= 1")
    bn_py = None if args.no_bindsnet else bench_models.bindsnet_python(args.bindsnet_python)
    import torch

    torch.set_num_threads(args.threads)
    os.environ.update(bench_models.thread_env(args.threads))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for model in args.models:
            runs = {}
            for name, backend in (("snnlab", None), ("eager", "eager")):
                print(f"[{model}] snnlab {backend or ''}...", flush=True)
                runs[name] = run_structured.measure("snnlab", model, args.samples, args.repeats, 1, args.data,
                                                    save=tmp / f"{name}.npz", backend=backend)
            agree = {"eager": bench_models.agreement(tmp / "snnlab.npz", tmp / "eager.npz")}
            if bn_py is not None and model in PEER_RUNS:
                print(f"[{model}] BindsNET ...", flush=True)
                runs["bindsnet"] = peer_record(bn_py, model, samples=args.samples, repeats=args.repeats,
                                               data_dir=args.data, threads=args.threads, save=tmp / "bn.npz")
                agree["BindsNET"] = bench_models.agreement(tmp / "snnlab.npz", tmp / "bn.npz")
            rows.append((model, runs, agree))

    lines = C.results_header("snnlab structured-connection benchmark (issue 9)", "benchmarks/bench_structured.py",
                             argv if argv is not None else sys.argv[1:], args.threads,
                             f"medians of {args.repeats} timed runs after 1 untimed warm-up; {args.samples} samples "
                             f"x {run_structured.STEPS} steps per run")
    hdr = (f"{'network':38s} {'snnlab s':>9s} {'ran':>5s} {'eager s':>8s} {'eager/snnlab':>12s} "
           f"{'BindsNET s':>10s} {'BN/snnlab':>9s}  agreement")
    lines += [hdr, "-" * (len(hdr) + 30)]
    for model, runs, agree in rows:
        sn, eager, bn = runs["snnlab"], runs["eager"], runs.get("bindsnet")
        bn_s, bn_x = (f"{bn['run_s']:.4f}", f"{bn['run_s'] / sn['run_s']:.2f}x") if bn else ("-", "-")
        said = "; ".join(f"{who}: {bench_models.describe_agreement(model, a)}" for who, a in agree.items())
        lines.append(f"{LABELS[model]:38s} {sn['run_s']:9.4f} {sn.get('backend', '?'):>5s} {eager['run_s']:8.4f} "
                     f"{eager['run_s'] / sn['run_s']:11.2f}x {bn_s:>10s} {bn_x:>9s}  {said}")
    lines += ["", "first (untimed) run, s: " + ", ".join(
        f"{m} snnlab {r['snnlab'].get('first_run_s', float('nan')):.3f}"
        + (f" (+{r['snnlab']['compile_wait_s']:.1f} s waiting for its compiled loop)"
           if r["snnlab"].get("compile_wait_s", 0) > 0.05 else "")
        for m, r, _ in rows)]
    if bn_py is not None:
        lines += [f"{m}: not run in BindsNET 0.3.4 ({NOT_IN_PEER[m]})." for m, *_ in rows if m in NOT_IN_PEER]
    C.write_results(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
