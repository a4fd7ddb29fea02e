"""The seed script's network, built with BindsNET's API, for BindsNET *or* snnlab.

snnlab keeps BindsNET's module paths and keywords, so this one file runs both:
``--package bindsnet`` (in BindsNET's venv) or ``--package snnlab`` (in
snnlab's venv). Nothing else differs: the same layers, connections, monitors
and ``Network.run`` call as ``shared/seed/running-simulations.md``, with the
inputs and weights loaded from the shared ``.npy`` files.

Usage: ``python run_bindsnet_api.py --package snnlab --workload seed [--device cuda]``;
prints one ``RESULT {json}`` line.
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


def load_api(package: str):
    """Import ``Network, Input, LIFNodes, Connection, Monitor`` from ``package``."""
    net_mod = importlib.import_module(f"{package}.network")
    nodes = importlib.import_module(f"{package}.network.nodes")
    topo = importlib.import_module(f"{package}.network.topology")
    mons = importlib.import_module(f"{package}.network.monitors")
    return net_mod.Network, nodes.Input, nodes.LIFNodes, topo.Connection, mons.Monitor


def build(api, wl, w_fwd, device):
    """Build the network exactly as the seed script does (weights given)."""
    import torch

    Network, Input, LIFNodes, Connection, Monitor = api
    network = Network()
    source_layer = Input(n=wl.n_in)
    target_layer = LIFNodes(n=wl.n_out)
    network.add_layer(layer=source_layer, name="A")
    network.add_layer(layer=target_layer, name="B")
    network.add_connection(
        connection=Connection(source=source_layer, target=target_layer, w=torch.from_numpy(w_fwd).clone()),
        source="A", target="B")
    if wl.recurrent:
        network.add_connection(
            # 0.025 * (I - 1), made without the seed script's three n x n temporaries
            # (bit-identical values) so that peak memory is the simulator's.
            connection=Connection(source=target_layer, target=target_layer,
                                  w=torch.from_numpy(C.recurrent_weights(wl.n_out))),
            source="B", target="B")
    # On a GPU the recordings stay on the GPU (both packages' Monitor takes device=).
    mkw = {} if device == "cpu" else {"device": device}
    monitors = {}
    if wl.monitor == "full":
        monitors["A"] = Monitor(obj=source_layer, state_vars=("s",), time=wl.steps, **mkw)
        monitors["B"] = Monitor(obj=target_layer, state_vars=("s", "v"), time=wl.steps, **mkw)
    else:
        monitors["B"] = Monitor(obj=target_layer, state_vars=("s",), time=wl.steps, **mkw)
    for name, m in monitors.items():
        network.add_monitor(monitor=m, name=name)
    if device != "cpu":
        network.to(device)
    return network, monitors


def sync(device):
    if device.startswith("cuda"):
        import torch
        torch.cuda.synchronize()


def measure(package, wl, data_dir=C.DEFAULT_DATA_DIR, repeats=3, warmup=0, device="cpu",
            save_spikes=None):
    """Build and run ``wl`` with ``package``'s API ``warmup + repeats`` times.

    Returns the result record (see ``common.summarize``): medians of the timed
    repeats, spike counts, memory.
    """
    import torch

    base = C.rss_mb()
    api = load_api(package)
    inputs_np, w_fwd = C.load_data(wl, data_dir)
    builds, runs, so, si, warm = [], [], [], [], []
    for rep in range(warmup + repeats):
        # A fresh copy every time: BindsNET writes into the caller's input tensor.
        inputs = {"A": torch.from_numpy(inputs_np).clone().to(device)}
        with C.Timer() as tb:
            network, monitors = build(api, wl, w_fwd, device)
            sync(device)
        with C.Timer() as tr:
            network.run(inputs=inputs, time=wl.steps)
            sync(device)
        spikes_b = monitors["B"].get("s")
        if rep < warmup:
            warm.append(tr.s)
            del network, monitors, inputs
            gc.collect()
            continue
        builds.append(tb.s)
        runs.append(tr.s)
        so.append(int(spikes_b.sum()))
        si.append(int(monitors["A"].get("s").sum()) if "A" in monitors else int(inputs_np.sum()))
        if wl.monitor == "full":
            v = monitors["B"].get("v")
            if v.shape[0] != wl.steps or v.shape[-1] != wl.n_out:
                raise RuntimeError(f"{package}: voltage record has shape {tuple(v.shape)}, "
                                   f"expected [{wl.steps}, 1, {wl.n_out}]")
            del v
        # Free this network before the next is built, so the peak RSS is one network's.
        del network, monitors, inputs
        gc.collect()
    if save_spikes:
        np.save(save_spikes, spikes_b.reshape(wl.steps, -1).to("cpu").numpy().astype(np.uint8))
    pkg = importlib.import_module(package)
    extra = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": device,
             "version": getattr(pkg, "__version__", "0.3.4" if package == "bindsnet" else "?")}
    if device.startswith("cuda"):
        extra["gpu"] = torch.cuda.get_device_name()
        extra["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if warm:  # the untimed first run: JIT compilation, CUDA graph capture, allocator warm-up
        extra["first_run_s"] = warm[0]
    name = package if device == "cpu" else f"{package}-{device}"
    return C.summarize(name, wl, builds, runs, so, si, base, **extra)


def main(argv=None):
    p = C.common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--package", required=True, choices=["bindsnet", "snnlab"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=int, default=0, help="untimed runs first (GPU: kernels, graphs)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    wl = C.get_workload(args.workload, args.steps)
    C.emit(measure(args.package, wl, args.data, args.repeats, args.warmup, args.device, args.save_spikes))


if __name__ == "__main__":
    main()
