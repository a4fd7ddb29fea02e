"""The seed network in NEST 3 (``iaf_psc_delta``), step for step as snnlab/BindsNET.

Mapping (see benchmarks/README.md):

* LIF ``B``: ``iaf_psc_delta`` with E_L = V_reset = V_m(0) = -65 mV,
  V_th = -52 mV, tau_m = 100 ms, t_ref = 5 ms, I_e = 0. Its exact update
  ``V <- E_L + (V - E_L) exp(-h / tau_m) + sum of arriving weights`` is
  BindsNET's decay-then-jump; inputs arriving while refractory are dropped
  (NEST's default ``refractory_input=False``), as BindsNET zeroes them; the
  threshold test is ``V >= V_th``.
* Input ``A``: one ``spike_generator`` per input neuron feeding a
  ``parrot_neuron`` (so that A's spikes can be recorded like BindsNET's
  monitor), delay 1 ms. ``A -> B`` and ``B -> B`` are ``static_synapse``
  with delay 1 ms: BindsNET's one-step delay per connection.
* Time: NEST stamps a spike emitted in the step (t, t + h] with t + h. BindsNET
  step ``k`` is NEST's step ending at ``k + 2`` ms (one extra leading step
  lets the generators emit at ``k + 1`` ms > 0); the run simulates
  ``steps + 1`` ms.
* Monitors: ``spike_recorder`` on A (parrots) and B, a ``multimeter`` of
  ``V_m`` every 1 ms on B.

NEST computes in float64, BindsNET in float32: rare threshold ties can go the
other way, so spike counts may differ slightly (they are reported).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

import common as C  # noqa: E402


def build(nest, wl, inputs, w_fwd, threads):
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus({"resolution": C.DT, "local_num_threads": threads, "rng_seed": C.SEED})
    lif = nest.Create("iaf_psc_delta", wl.n_out, params={
        "E_L": C.REST, "V_reset": C.RESET, "V_m": C.REST, "V_th": C.THRESH,
        "tau_m": C.TC_DECAY, "t_ref": C.REFRAC, "I_e": 0.0, "C_m": 250.0,
    })
    gens = nest.Create("spike_generator", wl.n_in)
    steps_of = [np.flatnonzero(inputs[:, i]) for i in range(wl.n_in)]
    gens.set([{"spike_times": (k + 1.0).astype(float)} for k in steps_of])
    parrots = nest.Create("parrot_neuron", wl.n_in)
    nest.Connect(gens, parrots, "one_to_one", {"delay": C.DT})
    # all_to_all with a matrix of weights: shape [n_post, n_pre].
    nest.Connect(parrots, lif, "all_to_all",
                 {"synapse_model": "static_synapse", "weight": np.ascontiguousarray(w_fwd.T, dtype=float),
                  "delay": C.DT})
    if wl.recurrent:
        nest.Connect(lif, lif, {"rule": "all_to_all", "allow_autapses": False},
                     {"synapse_model": "static_synapse", "weight": -C.REC_W, "delay": C.DT})
    rec = {"B": nest.Create("spike_recorder")}
    nest.Connect(lif, rec["B"])
    if wl.monitor == "full":
        rec["A"] = nest.Create("spike_recorder")
        nest.Connect(parrots, rec["A"])
        rec["v"] = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": C.DT})
        nest.Connect(rec["v"], lif)
    return lif, rec


def main(argv=None):
    p = C.common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--threads", type=int, default=1, help="NEST local_num_threads")
    args = p.parse_args(argv)
    wl = C.get_workload(args.workload, args.steps)
    base = C.rss_mb()
    import nest

    inputs, w_fwd = C.load_data(wl, args.data)
    builds, runs, so, si = [], [], [], []
    for _ in range(args.repeats):
        with C.Timer() as tb:
            lif, rec = build(nest, wl, inputs, w_fwd, args.threads)
        with C.Timer() as tr:
            nest.Simulate(wl.steps + C.DT)
        ev = rec["B"].get("events")
        so.append(len(ev["times"]))
        si.append(len(rec["A"].get("events")["times"]) if "A" in rec else int(inputs.sum()))
        if "v" in rec:
            # samples at 1 .. steps ms (NEST does not sample the last stamp); the
            # samples at 2 .. steps + 1 ms are BindsNET's steps 0 .. steps - 1.
            n_v = len(rec["v"].get("events")["times"])
            assert n_v >= wl.n_out * (wl.steps - 1), n_v
        builds.append(tb.s)
        runs.append(tr.s)
    if args.save_spikes:
        raster = np.zeros((wl.steps, wl.n_out), dtype=np.uint8)
        k = np.rint(np.asarray(ev["times"]) - 2.0).astype(int)  # NEST stamp k + 2 ms = step k
        raster[k, np.asarray(ev["senders"]) - lif[0].global_id] = 1
        np.save(args.save_spikes, raster)
    C.emit(C.summarize(f"nest-{args.threads}t", wl, builds, runs, so, si, base,
                       version=nest.__version__, threads=nest.GetKernelStatus("local_num_threads")))


if __name__ == "__main__":
    main()
