"""snnlab against BindsNET on one NVIDIA GPU (issue 5, GPU part).

Times, on the same card in one run, the 1000 -> 10000 network (seed shape:
Bernoulli(0.1) inputs, recurrent inhibition, monitors on spikes of both layers
and v of the LIF layer) for 1000 steps, and the seed network (100 -> 1000,
500 steps), in

* snnlab with ``device="cuda"`` (network, inputs and monitors on the GPU),
* BindsNET 0.3.4 on the same card (``network.to("cuda")``, monitors with
  ``device="cuda"``), if it imports,
* a plain dense torch loop on the GPU with the same step semantics.

Each is warmed up (untimed runs: kernel loading, CUDA graph capture) and then
timed over ``--repeats`` runs of ``Network.run`` with a synchronize after it;
medians are reported. Target: the 10k network in <= 50 ms and >= 20x
BindsNET. Prints a table and writes ``gpu_results.json`` and
``gpu_results.md`` to ``--out`` (``$OUT`` on the device machine).

Run it through ``run_gpu.sh`` (see README.md beside this file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "runners"))

import common as C  # noqa: E402
import run_bindsnet_api  # noqa: E402
import run_loops  # noqa: E402

TARGET_MS = 50.0
TARGET_X = 20.0


def measure_reused(package, wl, data_dir, repeats, warmup, device):
    """One network, ``reset_state_variables()`` between runs (the usual BindsNET
    pattern for many samples): what a run costs once the network exists."""
    import statistics
    import time as _t

    import torch

    api = run_bindsnet_api.load_api(package)
    inputs_np, w_fwd = C.load_data(wl, data_dir)
    inputs = {"A": torch.from_numpy(inputs_np).clone().to(device)}
    network, monitors = run_bindsnet_api.build(api, wl, w_fwd, device)
    runs, spikes = [], []
    for rep in range(warmup + repeats):
        network.reset_state_variables()
        run_bindsnet_api.sync(device)
        t0 = _t.perf_counter()
        network.run(inputs=inputs, time=wl.steps)
        run_bindsnet_api.sync(device)
        if rep >= warmup:
            runs.append(_t.perf_counter() - t0)
            spikes.append(int(monitors["B"].get("s").sum()))
    return {"simulator": f"{package}-{device}-reused", "run_s": statistics.median(runs), "run_s_all": runs,
            "repeats": len(runs), "build_s": 0.0, "spikes_out": spikes[-1]}


def try_measure(label, fn):
    print(f"-- {label} ...", flush=True)
    try:
        rec = fn()
        print(f"   run {rec['run_s'] * 1e3:.2f} ms (median of {rec['repeats']}), build {rec['build_s']:.3f} s, "
              f"spikes {rec['spikes_out']}", flush=True)
        return rec
    except Exception as exc:  # report and go on: one failing simulator must not hide the others
        traceback.print_exc()
        return {"simulator": label, "error": f"{type(exc).__name__}: {exc}"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=1000, help="steps of the 10k network")
    p.add_argument("--data", type=Path, default=Path("/tmp/snnlab_bench_data"))
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    p.add_argument("--skip-bindsnet", action="store_true")
    p.add_argument("--device", default="cuda", help="'cpu' only to dry-run this script without a GPU")
    args = p.parse_args(argv)

    import torch

    dev = args.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: this script needs an NVIDIA GPU (or --device cpu for a dry run)", file=sys.stderr)
        return 2
    info = C.machine_info()
    info.update(gpu=torch.cuda.get_device_name() if dev.startswith("cuda") else "none (CPU dry run)",
                torch=torch.__version__, cuda=torch.version.cuda)
    try:
        info["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    print(json.dumps(info, indent=1), flush=True)
    try:
        import bindsnet  # noqa: F401
        have_bn = not args.skip_bindsnet
    except Exception as exc:
        print(f"BindsNET does not import here ({type(exc).__name__}: {exc}); timing snnlab and the loop only")
        have_bn = False

    results = []
    for wl in (C.get_workload("large", args.steps), C.get_workload("seed")):
        C.prepare_data(wl, args.data)
        row = {"workload": wl.label}
        row["snnlab"] = try_measure(f"snnlab {dev}, {wl.label}", lambda: run_bindsnet_api.measure(
            "snnlab", wl, args.data, repeats=args.repeats, warmup=args.warmup, device=dev))
        row["snnlab_reused"] = try_measure(f"snnlab {dev}, {wl.label}, one network reset between runs",
                                           lambda: measure_reused("snnlab", wl, args.data, args.repeats, args.warmup, dev))
        if have_bn:
            # BindsNET is slow per step: fewer repeats keep the script short.
            row["bindsnet"] = try_measure(f"BindsNET {dev}, {wl.label}", lambda: run_bindsnet_api.measure(
                "bindsnet", wl, args.data, repeats=3, warmup=1, device=dev))
            row["bindsnet_reused"] = try_measure(f"BindsNET {dev}, {wl.label}, one network reset between runs",
                                                 lambda: measure_reused("bindsnet", wl, args.data, 3, 1, dev))

        def loop():
            import statistics
            import time as _t

            inputs, w_fwd = C.load_data(wl, args.data)
            w_rec = C.recurrent_weights(wl.n_out) if wl.recurrent else None
            tensors = run_loops.torch_setup(inputs, w_fwd, w_rec, device=dev)
            runs = []
            for i in range(args.warmup + args.repeats):
                t0 = _t.perf_counter()
                rs, ra = run_loops.torch_loop(tensors, wl)
                if i >= args.warmup:
                    runs.append(_t.perf_counter() - t0)
            # The loop's time includes copying its spike records back to the host.
            return {"simulator": f"torch-loop-{dev}", "run_s": statistics.median(runs), "run_s_all": runs,
                    "repeats": len(runs), "build_s": 0.0, "spikes_out": int(rs.sum())}
        row["torch_loop"] = try_measure(f"dense torch loop {dev}, {wl.label}", loop)
        results.append(row)

    lines = [f"# snnlab vs BindsNET on {info['gpu']}", "",
             f"{info['date_utc']}; torch {info['torch']} (CUDA {info['cuda']}); host {info['cpu']}; "
             f"medians of {args.repeats} timed runs after {args.warmup} warm-up runs (BindsNET: 3 after 1).", "",
             "Fresh: a new network for every timed run (build excluded, CUDA-graph capture included).",
             "Reused: one network, `reset_state_variables()` between runs.", "",
             "| network | snnlab fresh (ms) | snnlab reused (ms) | BindsNET fresh (ms) | BindsNET reused (ms) "
             "| BindsNET / snnlab (fresh, reused) | dense torch loop (ms) | spikes snnlab / BindsNET / loop |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    ok = True
    for i, row in enumerate(results):
        sn, bn, tl = row.get("snnlab", {}), row.get("bindsnet", {}), row.get("torch_loop", {})
        snr, bnr = row.get("snnlab_reused", {}), row.get("bindsnet_reused", {})
        f = lambda r: f"{r['run_s'] * 1e3:.2f}" if "run_s" in r else ("error" if r else "n/a")  # noqa: E731
        q = lambda a, b: f"{a['run_s'] / b['run_s']:.1f}x" if "run_s" in a and "run_s" in b else "n/a"  # noqa: E731
        lines.append(f"| {row['workload']} | {f(sn)} | {f(snr)} | {f(bn)} | {f(bnr)} | {q(bn, sn)}, {q(bnr, snr)} | {f(tl)} | "
                     f"{sn.get('spikes_out', '-')} / {bn.get('spikes_out', '-')} / {tl.get('spikes_out', '-')} |")
        if i == 0:
            best = snr if "run_s" in snr else sn
            t_ok = "run_s" in best and best["run_s"] * 1e3 <= TARGET_MS
            x_ok = "run_s" in snr and "run_s" in bnr and bnr["run_s"] / snr["run_s"] >= TARGET_X
            ok &= t_ok and x_ok
            target = (f"Target, 10k network, {args.steps} steps (reused network): <= {TARGET_MS:.0f} ms: "
                      f"{'MET' if t_ok else 'MISSED'}; >= {TARGET_X:.0f}x BindsNET: "
                      f"{'MET' if x_ok else ('MISSED' if 'run_s' in bn else 'not measured')}.")
    lines += ["", target]
    errors = [f"- {k}, {row['workload']}: {r['error']}" for row in results for k, r in row.items()
              if isinstance(r, dict) and "error" in r]
    if errors:
        lines += ["", "Errors:"] + errors
    table = "\n".join(lines)
    print("\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_results.md").write_text(table + "\n")
    (args.out / "gpu_results.json").write_text(json.dumps({"machine": info, "results": results}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
