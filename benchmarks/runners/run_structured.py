"""Structured-connection benchmarks built with BindsNET's API, for BindsNET *or* snnlab (issue 9).

Like ``run_models.py``, one file runs both packages (``--package bindsnet``
in BindsNET's venv, ``--package snnlab`` in snnlab's): the same layers,
connections, monitors and ``Network.run`` calls, on inputs and weights drawn
once with NumPy and saved as ``.npy``.

Models (``--model``):

``conv``
    A 1 x 28 x 28 Input ``X`` (MNIST-like Poisson spikes: ~19 % of the pixels
    on, at most 63.75 Hz, as ``run_models.py``'s Diehl & Cook inputs) ->
    ``Conv2dConnection`` (8 channels, 5 x 5 kernels, fixed weights U(0, 3))
    -> 8 x 24 x 24 ``LIFNodes`` ``Y``; 250 steps per sample, spikes of Y
    recorded. snnlab's cpu loop propagates it through the connection's
    propagation map.
``conv_postpre``
    ``conv`` with traces and PostPre (nu (1e-4, 1e-2), w in [0, 3]) on the
    convolution's shared weights. (BindsNET 0.3.4's PostPre on a
    ``Conv2dConnection`` raises in ``_conv2d_connection_update``; snnlab only.)
``conv_mstdp``
    ``conv`` with MSTDP (nu 1e-4, w in [0, 3], reward 1 every step) on the
    shared weights: per-neuron traces and an eligibility per shared weight
    (snnlab's cpu loop: each sample's outer summed over the propagation map).

``--backend NAME`` (snnlab only) forces snnlab's back-end (``eager``,
``cpu``). ``--save PATH`` writes the last repeat's rasters and final weights
(``.npz``, the format ``bench_models.agreement`` compares).

Prints one ``RESULT {json}`` line (see ``common.summarize``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

import common as C  # noqa: E402

MODELS = ("conv", "conv_postpre", "conv_mstdp")
REWARD = {"conv_mstdp": 1.0}  # passed to every Network.run
SHAPE, CHANNELS, KERNEL, STEPS = (1, 28, 28), 8, 5, 250
SIDE = SHAPE[1] - KERNEL + 1


def load_api(package: str) -> dict:
    nodes = importlib.import_module(f"{package}.network.nodes")
    topo = importlib.import_module(f"{package}.network.topology")
    return {
        "Network": importlib.import_module(f"{package}.network").Network, "Input": nodes.Input,
        "LIFNodes": nodes.LIFNodes, "Conv2dConnection": topo.Conv2dConnection,
        "Monitor": importlib.import_module(f"{package}.network.monitors").Monitor,
        "PostPre": importlib.import_module(f"{package}.learning").PostPre,
        "MSTDP": importlib.import_module(f"{package}.learning").MSTDP,
    }


def model_data(samples: int, data_dir: Path) -> dict:
    """Inputs ``[samples, STEPS, *SHAPE]`` (uint8) and the kernels, drawn once and cached as .npy."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    stem = data_dir / f"conv_{samples}x{STEPS}_s{C.SEED}"
    files = {k: Path(f"{stem}_{k}.npy") for k in ("inputs", "w_conv")}
    if not all(p.exists() for p in files.values()):
        rng = np.random.default_rng(C.SEED + 2)
        n = int(np.prod(SHAPE))
        on = rng.random((samples, n)) < 0.19
        p = np.where(on, rng.uniform(0.5, 1.0, (samples, n)), 0.0) * 63.75 * C.DT / 1000.0
        spikes = rng.random((samples, STEPS, n)) < p[:, None, :]
        arrays = {"inputs": spikes.reshape(samples, STEPS, *SHAPE).astype(np.uint8),
                  "w_conv": (3.0 * rng.random((CHANNELS, SHAPE[0], KERNEL, KERNEL))).astype(np.float32)}
        for key, path in files.items():
            tmp = path.with_suffix(f".tmp{id(arrays)}.npy")
            np.save(tmp, arrays[key])
            tmp.replace(path)
    return {k: np.load(p) for k, p in files.items()}


def build(api: dict, model: str, data: dict):
    """The network of ``model`` with ``api``'s classes. Returns (network, monitors)."""
    import torch

    learn = model in ("conv_postpre", "conv_mstdp")
    net = api["Network"](dt=C.DT)
    x = api["Input"](shape=SHAPE, traces=learn)
    y = api["LIFNodes"](shape=(CHANNELS, SIDE, SIDE), traces=learn)
    net.add_layer(x, name="X")
    net.add_layer(y, name="Y")
    rule = {"update_rule": api["PostPre"], "nu": (1e-4, 1e-2), "wmin": 0.0, "wmax": 3.0} if learn else {}
    if model == "conv_mstdp":
        rule = {"update_rule": api["MSTDP"], "nu": 1e-4, "wmin": 0.0, "wmax": 3.0}
    w = torch.from_numpy(np.ascontiguousarray(data["w_conv"])).clone()
    net.add_connection(api["Conv2dConnection"](x, y, kernel_size=KERNEL, w=w, **rule), source="X", target="Y")
    monitors = {"Y": api["Monitor"](y, state_vars=("s",), time=STEPS)}
    net.add_monitor(monitors["Y"], name="Y")
    return net, monitors


def simulate(net, monitors, data: dict, reward=None) -> dict:
    """Run every sample (state carried on); the rasters ``{layer: uint8 [samples, T, n]}``."""
    import torch

    rasters = {name: [] for name in monitors}
    given = {} if reward is None else {"reward": reward}
    for spikes in data["inputs"]:
        net.run(inputs={"X": torch.from_numpy(spikes.copy())}, time=STEPS, **given)  # a fresh tensor: BindsNET writes into it
        for name, m in monitors.items():
            rasters[name].append(m.get("s").reshape(STEPS, -1).cpu().numpy().astype(np.uint8))
    return {name: np.stack(r) for name, r in rasters.items()}


def measure(package: str, model: str, samples: int = 1, repeats: int = 3, warmup: int = 1,
            data_dir: Path = C.DEFAULT_DATA_DIR, save: Path | None = None, backend: str | None = None) -> dict:
    """Build and run ``model`` ``warmup + repeats`` times; the result record (``backend``:
    snnlab's, forced with ``use_backend``; None: the one snnlab chooses)."""
    import torch

    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if backend is not None and package != "snnlab":
        raise ValueError("backend: only for --package snnlab")
    forced = contextlib.nullcontext
    if backend is not None:
        from snnlab.engine import use_backend

        forced = lambda: use_backend(backend)  # noqa: E731
    base = C.rss_mb()
    api = load_api(package)
    data = model_data(samples, data_dir)
    builds, runs, spikes_out, warm = [], [], [], []
    waited = last_backend = None
    for rep in range(warmup + repeats):
        with C.Timer() as tb:
            net, monitors = build(api, model, data)
        with C.Timer() as tr, forced():
            rasters = simulate(net, monitors, data, REWARD.get(model))
        if rep < warmup:
            warm.append(tr.s)
            if rep == warmup - 1 and package == "snnlab":
                from snnlab.engine.backends.cpu import wait_for_compiles

                with C.Timer() as tw:  # the timed runs measure the compiled loop, not a background compilation
                    wait_for_compiles()
                waited = tw.s
        else:
            builds.append(tb.s)
            runs.append(tr.s)
            spikes_out.append(int(rasters["Y"].sum()))
        last_backend = getattr(net, "last_backend", None)
        if save is not None and rep == warmup + repeats - 1:
            weights = {f"w_{s}_{t}": c.w.detach().cpu().numpy().copy() for (s, t), c in net.connections.items()}
            np.savez(save, **{f"s_{k}": v for k, v in rasters.items()}, **weights)
        del net, monitors
        gc.collect()
    wl = C.Workload(model, int(np.prod(SHAPE)), CHANNELS * SIDE * SIDE, STEPS * len(data["inputs"]))
    extra = {"torch": torch.__version__, "threads": torch.get_num_threads(), "model": model,
             "samples": len(data["inputs"]),
             **C.present(first_run_s=warm[0] if warm else None, backend=last_backend, compile_wait_s=waited)}
    return C.summarize(package, wl, builds, runs, spikes_out, [int(data["inputs"].sum())] * len(runs), base, **extra)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_model_run_arguments(p, MODELS, 1, "samples of 250 steps per run")
    p.add_argument("--backend", default=None, help="snnlab only: force this back-end (eager, cpu)")
    args = p.parse_args(argv)
    C.check_model_run_arguments(p, args)
    C.emit(measure(args.package, args.model, args.samples, args.repeats, args.warmup, args.data, args.save,
                   args.backend))


if __name__ == "__main__":
    main()
