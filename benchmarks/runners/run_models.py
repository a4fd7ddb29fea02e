"""Model benchmarks built with BindsNET's API, for BindsNET *or* snnlab (issue 9).

Like ``run_bindsnet_api.py``, one file runs both packages (``--package
bindsnet`` in BindsNET's venv, ``--package snnlab`` in snnlab's): the same
layers, connections, learning rules, monitors and ``Network.run`` calls, on
inputs and weights drawn once with NumPy and saved as ``.npy``.

Models (``--model``):

``dc``
    Diehl & Cook (2015) as BindsNET's ``DiehlAndCook2015`` builds it: 784
    Poisson inputs ``X`` -> 400 ``DiehlAndCookNodes`` ``Ae`` (adaptive
    thresholds, one spike per step) <-> 400 inhibitory ``LIFNodes`` ``Ai``;
    PostPre STDP on X -> Ae (nu (1e-4, 1e-2), w in [0, 1], norm 78.4);
    Ae -> Ai 22.5 one-to-one, Ai -> Ae -17.5 to all others. Each sample is
    350 steps of Poisson spikes from a synthetic 28 x 28 "image" (MNIST-like
    sparsity, rates up to 63.75 Hz), then ``reset_state_variables()`` (the
    BindsNET example's loop). Monitors: spikes of Ae and Ai.
``seed_postpre``
    The seed network (100 Bernoulli(0.1) inputs -> 1000 LIF, recurrent
    ``0.025 (I - 1)``, 500 steps, spikes of A and B and v of B recorded) with
    traces on and PostPre (nu (1e-4, 1e-2)) on the forward connection.
``seed_csrm``
    The seed network with ``CSRMNodes`` (BindsNET's defaults: exponential
    response kernel over 20 ms, eta refractory kernel over 10 ms, adaptive
    threshold). BindsNET computes the input window in its dense
    connections (both connections here are dense); snnlab in the layer.
``seed_izh``
    The seed network with ``IzhikevichNodes`` (80 % regular spiking, 20 %
    fast spiking; a, b, c, d and the coupling S drawn once with NumPy and
    assigned before the layer is added) and forward weights 10x the seed's.
``dc_rule``
    ``dc`` with Diehl & Cook's own learning rule (``DiehlAndCook``, nu (0,
    1e-2), x_tar 0.4) on X -> Ae instead of PostPre, X with additive traces.
``seed_rmax``
    The seed network with stochastic ``SRM0Nodes`` (defaults) and ``Rmax``
    (nu 1e-4, weights in [0, 1]) on the forward connection, A with additive
    traces, ``reward=1.0`` passed to every run.

``--one-spike 0`` makes ``dc`` deterministic (DiehlAndCookNodes draw the
winning neuron at random otherwise), so the two packages can be compared
spike for spike; ``--save PATH`` writes the last repeat's rasters and final
weights (``.npz``) for that comparison.

Prints one ``RESULT {json}`` line (see ``common.summarize``): build and run
times (medians), spike counts, memory.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

import common as C  # noqa: E402

MODELS = ("dc", "seed_postpre", "seed_izh", "dc_rule", "seed_rmax", "seed_csrm")
DC_MODELS = ("dc", "dc_rule")
DC_IN, DC_EXC, DC_STEPS = 784, 400, 350
SEED_STEPS = 500
IZH_W_SCALE = 10.0


def load_api(package: str) -> dict:
    """BindsNET's names from ``package`` (``bindsnet`` or ``snnlab``)."""
    net_mod = importlib.import_module(f"{package}.network")
    nodes = importlib.import_module(f"{package}.network.nodes")
    topo = importlib.import_module(f"{package}.network.topology")
    mons = importlib.import_module(f"{package}.network.monitors")
    learning = importlib.import_module(f"{package}.learning")
    return {
        "Network": net_mod.Network, "Input": nodes.Input, "LIFNodes": nodes.LIFNodes,
        "DiehlAndCookNodes": nodes.DiehlAndCookNodes, "IzhikevichNodes": nodes.IzhikevichNodes,
        "CSRMNodes": nodes.CSRMNodes,
        "Connection": topo.Connection, "Monitor": mons.Monitor, "PostPre": learning.PostPre,
        "SRM0Nodes": nodes.SRM0Nodes, "DiehlAndCook": learning.DiehlAndCook, "Rmax": learning.Rmax,
    }


# --------------------------------------------------------------------- data
def _save_atomic(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_suffix(f".tmp{id(arr)}.npy")
    np.save(tmp, arr)
    tmp.replace(path)


def model_data(model: str, samples: int, data_dir: Path) -> dict:
    """The inputs and weights of ``model``, drawn once (seed ``common.SEED``) and cached as .npy."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if model in DC_MODELS:
        stem = data_dir / f"dc_{samples}x{DC_STEPS}_s{C.SEED}"
        files = {k: Path(f"{stem}_{k}.npy") for k in ("inputs", "w_in")}
        if not all(p.exists() for p in files.values()):
            rng = np.random.default_rng(C.SEED)
            # MNIST-like images: ~19 % of pixels on; BindsNET's example encodes
            # intensity * 128 / 255 / 4 Hz -> at most 63.75 Hz per pixel.
            on = rng.random((samples, DC_IN)) < 0.19
            rates = np.where(on, rng.uniform(0.5, 1.0, (samples, DC_IN)), 0.0) * 63.75  # Hz
            p = rates * C.DT / 1000.0
            spikes = (rng.random((samples, DC_STEPS, DC_IN)) < p[:, None, :]).astype(np.uint8)
            w_in = (0.3 * rng.random((DC_IN, DC_EXC))).astype(np.float32)
            _save_atomic(files["inputs"], spikes)
            _save_atomic(files["w_in"], w_in)
        return {k: np.load(p) for k, p in files.items()}
    wl = C.get_workload("seed", SEED_STEPS)
    inputs, w_fwd = C.load_data(wl, data_dir)
    out = {"inputs": inputs[None], "w_fwd": w_fwd, "w_rec": C.recurrent_weights(wl.n_out)}
    if model == "seed_izh":
        path = data_dir / f"izh_{wl.n_out}_s{C.SEED}.npz"
        if not path.exists():
            rng = np.random.default_rng(C.SEED + 1)
            n = wl.n_out
            ex = np.arange(n) < int(0.8 * n)
            r = rng.random(n)
            params = {
                "a": np.where(ex, 0.02, 0.02 + 0.08 * r), "b": np.where(ex, 0.2, 0.25 - 0.05 * r),
                "c": np.where(ex, -65.0 + 15.0 * r ** 2, -65.0), "d": np.where(ex, 8.0 - 6.0 * r ** 2, 2.0),
                # S[i, j]: neuron j's effect on neuron i (excitatory columns positive).
                "S": rng.random((n, n)) * np.where(ex[None, :], 0.05, -0.1),
            }
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **{k: v.astype(np.float32) for k, v in params.items()})
            tmp.replace(path)
        with np.load(path) as z:
            out["izh"] = {k: z[k] for k in z.files}
        out["w_fwd"] = (w_fwd * IZH_W_SCALE).astype(np.float32)
    return out


# ------------------------------------------------------------------ building
def build(api: dict, model: str, data: dict, one_spike: bool = True, device: str = "cpu"):
    """The network of ``model`` with ``api``'s classes, on ``device``. Returns (network, monitors)."""
    import torch

    Network, Input, Connection, Monitor = api["Network"], api["Input"], api["Connection"], api["Monitor"]
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).clone()  # noqa: E731
    mkw = {} if device == "cpu" else {"device": device}  # recordings stay on the GPU (both Monitors take device=)
    net = Network(dt=C.DT)
    monitors = {}
    if model in DC_MODELS:
        X = Input(n=DC_IN, traces=True, tc_trace=20.0, traces_additive=model == "dc_rule")
        Ae = api["DiehlAndCookNodes"](n=DC_EXC, traces=True, rest=-65.0, reset=-60.0, thresh=-52.0, refrac=5,
                                      tc_decay=100.0, tc_trace=20.0, theta_plus=0.05, tc_theta_decay=1e7,
                                      one_spike=one_spike)
        Ai = api["LIFNodes"](n=DC_EXC, traces=False, rest=-60.0, reset=-45.0, thresh=-40.0, tc_decay=10.0,
                             refrac=2, tc_trace=20.0)
        for name, layer in (("X", X), ("Ae", Ae), ("Ai", Ai)):
            net.add_layer(layer, name=name)
        eye = np.eye(DC_EXC, dtype=np.float32)
        rule = (dict(update_rule=api["DiehlAndCook"], nu=(0.0, 1e-2), x_tar=0.4) if model == "dc_rule"
                else dict(update_rule=api["PostPre"], nu=(1e-4, 1e-2)))
        net.add_connection(Connection(source=X, target=Ae, w=t(data["w_in"]), wmin=0.0, wmax=1.0, norm=78.4, **rule),
                           source="X", target="Ae")
        net.add_connection(Connection(source=Ae, target=Ai, w=t(22.5 * eye), wmin=0.0, wmax=22.5),
                           source="Ae", target="Ai")
        net.add_connection(Connection(source=Ai, target=Ae, w=t(-17.5 * (1 - eye)), wmin=-17.5, wmax=0.0),
                           source="Ai", target="Ae")
        for name, layer in (("Ae", Ae), ("Ai", Ai)):
            monitors[name] = Monitor(layer, state_vars=("s",), time=DC_STEPS, **mkw)
    else:
        n_in, n_out = data["w_fwd"].shape
        A = Input(n=n_in, traces=model in ("seed_postpre", "seed_rmax"), traces_additive=model == "seed_rmax")
        if model == "seed_csrm":
            B = api["CSRMNodes"](n=n_out)
            rule = {}
        elif model == "seed_postpre":
            B = api["LIFNodes"](n=n_out, traces=True)
            rule = {"update_rule": api["PostPre"], "nu": (1e-4, 1e-2)}
        elif model == "seed_rmax":
            B = api["SRM0Nodes"](n=n_out)
            rule = {"update_rule": api["Rmax"], "nu": (1e-4, 0.0), "wmin": 0.0, "wmax": 1.0}
        else:
            B = api["IzhikevichNodes"](n=n_out, excitatory=0.8)
            for key, value in data["izh"].items():
                setattr(B, key, t(value))  # before add_layer, which sets u = b * v
            rule = {}
        net.add_layer(A, name="A")
        net.add_layer(B, name="B")
        net.add_connection(Connection(source=A, target=B, w=t(data["w_fwd"]), **rule), source="A", target="B")
        net.add_connection(Connection(source=B, target=B, w=t(data["w_rec"])), source="B", target="B")
        monitors["A"] = Monitor(A, state_vars=("s",), time=SEED_STEPS, **mkw)
        monitors["B"] = Monitor(B, state_vars=("s", "v"), time=SEED_STEPS, **mkw)
    for name, m in monitors.items():
        net.add_monitor(m, name=name)
    if device != "cpu":
        net.to(device)
    return net, monitors


def _wait_for_background_compiles(package: str):
    """snnlab's cpu back-end may compile a new network's loop in the background and run
    eagerly meanwhile; the timed runs should measure the loop, so wait for it after the
    warm-up. Returns the seconds waited (None where there is nothing to wait for)."""
    if package != "snnlab":
        return None
    try:
        from snnlab.engine.backends.cpu import wait_for_compiles
    except ImportError:
        return None
    with C.Timer() as tw:
        wait_for_compiles()
    return tw.s


def simulate(net, monitors, model: str, data: dict, device: str = "cpu") -> dict:
    """Run every sample; returns the rasters ``{layer: uint8 [samples, T, n]}``."""
    import torch

    rasters = {name: [] for name in monitors}
    steps = DC_STEPS if model in DC_MODELS else SEED_STEPS
    reward = {"reward": 1.0} if model == "seed_rmax" else {}
    for spikes in data["inputs"]:
        # A fresh tensor per sample: BindsNET writes into the caller's inputs.
        net.run(inputs={"X" if model in DC_MODELS else "A": torch.from_numpy(spikes.copy()).to(device)}, time=steps,
                **reward)
        for name, m in monitors.items():  # (.cpu() waits for a GPU's work)
            rasters[name].append(m.get("s").reshape(steps, -1).cpu().numpy().astype(np.uint8))
        if model in DC_MODELS:
            net.reset_state_variables()  # as BindsNET's example does between samples
    return {name: np.stack(r) for name, r in rasters.items()}


def measure(package: str, model: str, samples: int = 3, repeats: int = 3, warmup: int = 1,
            data_dir: Path = C.DEFAULT_DATA_DIR, one_spike: bool = True, save: Path | None = None,
            device: str = "cpu") -> dict:
    """Build and run ``model`` with ``package`` ``warmup + repeats`` times; the result record."""
    import torch

    base = C.rss_mb()
    api = load_api(package)
    data = model_data(model, samples, data_dir)
    if model in DC_MODELS:
        data["inputs"] = data["inputs"][:samples]
    builds, runs, spikes_out, spikes_in, warm = [], [], [], [], []
    waited = None
    for rep in range(warmup + repeats):
        with C.Timer() as tb:
            net, monitors = build(api, model, data, one_spike, device)
        with C.Timer() as tr:
            rasters = simulate(net, monitors, model, data, device)
        if rep < warmup:
            warm.append(tr.s)
            if rep == warmup - 1:
                waited = _wait_for_background_compiles(package)
        else:
            builds.append(tb.s)
            runs.append(tr.s)
            out_layer = "Ae" if model in DC_MODELS else "B"
            spikes_out.append(int(rasters[out_layer].sum()))
            spikes_in.append(int(data["inputs"].sum()))
        backend = getattr(net, "last_backend", None)  # snnlab: the back-end that ran the last block
        if save is not None and rep == warmup + repeats - 1:
            weights = {f"w_{s}_{t}": c.w.detach().cpu().numpy().copy() for (s, t), c in net.connections.items()}
            np.savez(save, **{f"s_{k}": v for k, v in rasters.items()}, **weights)
        del net, monitors
        gc.collect()
    steps = DC_STEPS if model in DC_MODELS else SEED_STEPS
    wl = C.Workload(model, *(data["inputs"].shape[2], DC_EXC if model in DC_MODELS else data["w_fwd"].shape[1]),
                    steps * len(data["inputs"]))
    extra = {"torch": torch.__version__, "threads": torch.get_num_threads(), "model": model,
             "samples": len(data["inputs"]), "one_spike": one_spike, "device": device,
             **C.present(first_run_s=warm[0] if warm else None, backend=backend, compile_wait_s=waited)}
    return C.summarize(package, wl, builds, runs, spikes_out, spikes_in, base, **extra)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_model_run_arguments(p, MODELS, 3, "dc: samples of 350 steps per run")
    p.add_argument("--one-spike", type=int, default=1, choices=[0, 1], help="dc: DiehlAndCookNodes(one_spike=...)")
    p.add_argument("--device", default="cpu", help="torch device of the network, inputs and monitors (cpu, cuda)")
    args = p.parse_args(argv)
    C.check_model_run_arguments(p, args)
    C.emit(measure(args.package, args.model, args.samples, args.repeats, args.warmup, args.data,
                   bool(args.one_spike), args.save, args.device))


if __name__ == "__main__":
    main()
