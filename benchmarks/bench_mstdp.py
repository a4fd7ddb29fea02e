"""Reward-modulated STDP, eager against the compiled cpu loop, side by side in one run.

The seed network (100 Bernoulli(0.1) inputs -> 1000 LIF, recurrent
``0.025 (I - 1)``, spikes of A and B and v of B recorded) with MSTDP or
MSTDPET on the forward connection (``nu = 1e-4``, weights in [0, 1]) and one
reward per run (+1 and -1 alternating; one per sample with ``--batch``);
``Rmax`` runs the same network with stochastic SRM0 neurons in B and additive
traces on A (torch is seeded before each run, so both back-ends draw alike). Each repeat runs the same network
state on both back-ends, in alternating order, and the script prints the
medians, the ratio eager / cpu (wall clock, and process CPU time, steadier
on a shared machine), and whether the two agree (spikes exactly,
weights within 1e-5). The cpu loop is compiled (or loaded from the disk
cache) before the timed runs; the compile time is printed apart.

Usage::

    .venv/bin/python benchmarks/bench_mstdp.py                # MSTDP, MSTDPET and Rmax, 500 steps, 5 repeats
    .venv/bin/python benchmarks/bench_mstdp.py --rules MSTDP --repeats 3 --batch 4
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common as C  # noqa: E402

from snnlab import learning  # noqa: E402
from snnlab.engine import use_backend  # noqa: E402
from snnlab.engine.backends import cpu  # noqa: E402
from snnlab.network import Network  # noqa: E402
from snnlab.network.monitors import Monitor  # noqa: E402
from snnlab.network.nodes import Input, LIFNodes, SRM0Nodes  # noqa: E402
from snnlab.network.topology import Connection  # noqa: E402


def build(rule, w_fwd: np.ndarray, batch: int) -> Network:
    n_in, n_out = w_fwd.shape
    net = Network(dt=C.DT, batch_size=batch)
    rmax = rule is learning.Rmax  # stochastic SRM0 targets, additive traces on the source
    A, B = Input(n=n_in, traces=rmax, traces_additive=rmax), (SRM0Nodes if rmax else LIFNodes)(n=n_out)
    net.add_layer(A, name="A")
    net.add_layer(B, name="B")
    net.add_connection(Connection(A, B, w=torch.from_numpy(w_fwd).clone(), update_rule=rule, nu=(1e-4, 1e-4),
                                  wmin=0.0, wmax=1.0), source="A", target="B")
    net.add_connection(Connection(B, B, w=torch.from_numpy(C.recurrent_weights(n_out))), source="B", target="B")
    net.add_monitor(Monitor(A, state_vars=("s",)), name="A")
    net.add_monitor(Monitor(B, state_vars=("s", "v")), name="B")
    return net


def run(net: Network, backend: str, x: torch.Tensor, reward) -> tuple:
    """(wall, process CPU) seconds of one ``run()`` from reset state."""
    net.reset_state_variables()
    torch.manual_seed(0)  # SRM0's draws: the same on both back-ends
    with use_backend(backend):
        t0, c0 = time.perf_counter(), time.process_time()
        net.run({"A": x}, time=x.shape[0], reward=reward)
        elapsed = (time.perf_counter() - t0, time.process_time() - c0)
    assert net.last_backend == backend, net.last_backend
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", nargs="+", default=["MSTDP", "MSTDPET", "Rmax"])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    if not cpu.available():
        sys.exit("the cpu back-end needs numba (pip install snnlab[fast])")
    torch.set_num_threads(1)
    wl = C.get_workload("seed", args.steps)
    inputs, w_fwd = C.load_data(wl)
    x = torch.from_numpy(np.ascontiguousarray(inputs[: args.steps])) != 0
    x = x.reshape(args.steps, 1, -1).expand(args.steps, args.batch, x.shape[-1]).contiguous()
    # one reward per run (per sample with a batch), alternating in sign
    rewards = [1.0, -1.0] if args.batch == 1 else [torch.linspace(1.0, 0.25, args.batch), torch.linspace(-0.25, -1.0, args.batch)]
    print(f"seed network 100 -> 1000 LIF (SRM0 for Rmax), {args.steps} steps, batch {args.batch}, {args.repeats} repeats "
          f"(torch threads 1; medians of the run() calls)")
    for rule_name in args.rules:
        rule = getattr(learning, rule_name)
        start = build(rule, w_fwd, args.batch)
        t0 = time.perf_counter()
        run(copy.deepcopy(start), "cpu", x[:2], rewards[0])  # compile or load the loop
        compile_s = time.perf_counter() - t0
        nets = {b: copy.deepcopy(start) for b in ("eager", "cpu")}
        times = {"eager": [], "cpu": []}
        for k in range(args.repeats):
            order = ("eager", "cpu") if k % 2 == 0 else ("cpu", "eager")
            for backend in order:
                times[backend].append(run(nets[backend], backend, x, rewards[k % 2]))
        e, c = nets["eager"], nets["cpu"]
        same_spikes = torch.equal(e.monitors["B"].get("s"), c.monitors["B"].get("s"))
        dw = (e.connections[("A", "B")].w - c.connections[("A", "B")].w).abs().max().item()
        moved = (e.connections[("A", "B")].w - start.connections[("A", "B")].w).abs().max().item()
        med = {b: statistics.median(t[0] for t in v) for b, v in times.items()}
        busy = {b: statistics.median(t[1] for t in v) for b, v in times.items()}
        print(f"{rule_name:8s} eager {med['eager'] * 1e3:8.1f} ms   cpu {med['cpu'] * 1e3:7.1f} ms   "
              f"eager/cpu {med['eager'] / med['cpu']:5.1f}x (process CPU time {busy['eager'] / busy['cpu']:5.1f}x)   "
              f"(first cpu call {compile_s:.2f} s)   "
              f"spikes equal {same_spikes}, max |dw| {dw:.1e} (weights moved {moved:.1e}), "
              f"{int(e.monitors['B'].get('s').sum())} spikes")


if __name__ == "__main__":
    main()
