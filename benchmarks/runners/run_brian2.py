"""The seed network in Brian2 (runtime mode, cython target), step for step as snnlab/BindsNET.

Mapping (see benchmarks/README.md):

* LIF ``B``: ``dv/dt = -(v - rest) / tau : volt (unless refractory)``,
  integrated ``exact`` (``v <- rest + (v - rest) exp(-dt / tau)``),
  threshold ``v >= thresh``, reset ``v = reset``.
* Refractoriness: Brian2 counts the spike's own step, BindsNET does not.
  After a spike at step ``s`` BindsNET drops input at steps ``s+1 .. s+5`` and
  integrates from ``s+6``; Brian2 with ``refractory = 6 ms`` has
  ``not_refractory`` false for ``s .. s+5``. Synapses add
  ``w * int(not_refractory_post)``, so input to a refractory neuron is
  dropped as in BindsNET.
* Order within a step: Brian2's default schedule runs state updates
  (``groups``), ``thresholds``, ``synapses``, ``resets``. BindsNET adds the
  previous step's spikes *after* the decay and *before* the threshold, so both
  pathways run in the ``before_thresholds`` slot with no delay: there they see
  the spikes of the previous step (the thresholder of this step has not run
  yet) -- BindsNET's one-step delay per connection.
* Input ``A``: a ``SpikeGeneratorGroup`` with BindsNET step ``k`` at ``k`` ms.
* Monitors: ``SpikeMonitor`` on A and B, ``StateMonitor(B, "v",
  record=True, when="end")`` (after the reset, as BindsNET records).

Brian2 computes in float64, BindsNET in float32: rare threshold ties can go
the other way, so spike counts may differ slightly (they are reported).
Build time includes creating the objects; run time is the wall time of
``Network.run`` (Brian2 generates and, on its first use, compiles code inside
``run``; the compiled code is cached across runs and processes).
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

import common as C  # noqa: E402


def build(b2, wl, inputs, w_fwd):
    ms, mV = b2.ms, b2.mV
    b2.start_scope()
    b2.defaultclock.dt = C.DT * ms
    ns = {"rest": C.REST * mV, "thresh": C.THRESH * mV, "reset_v": C.RESET * mV, "tau": C.TC_DECAY * ms}
    lif = b2.NeuronGroup(wl.n_out, "dv/dt = -(v - rest) / tau : volt (unless refractory)",
                         threshold="v >= thresh", reset="v = reset_v",
                         refractory=(C.REFRAC + C.DT) * ms, method="exact", namespace=ns, name="B")
    lif.v = C.REST * mV
    t_idx, n_idx = np.nonzero(inputs)
    gen = b2.SpikeGeneratorGroup(wl.n_in, n_idx, t_idx * ms, name="A")
    fwd = b2.Synapses(gen, lif, "w : volt", on_pre="v_post += w * int(not_refractory_post)", name="AB")
    pre, post = np.nonzero(np.ones((wl.n_in, wl.n_out), dtype=bool))
    fwd.connect(i=pre, j=post)
    fwd.w = w_fwd.ravel().astype(float) * mV  # row-major: (i, j) order of connect
    fwd.pre.when = "before_thresholds"
    objs = [lif, gen, fwd]
    if wl.recurrent:
        rec = b2.Synapses(lif, lif, on_pre="v_post += w_rec * int(not_refractory_post)",
                          namespace={"w_rec": -C.REC_W * mV}, name="BB")
        rec.connect(condition="i != j")
        rec.pre.when = "before_thresholds"
        objs.append(rec)
    mons = {"B": b2.SpikeMonitor(lif)}
    if wl.monitor == "full":
        mons["A"] = b2.SpikeMonitor(gen)
        mons["v"] = b2.StateMonitor(lif, "v", record=True, when="end")
    net = b2.Network(*objs, *mons.values())
    return net, mons


def main(argv=None):
    p = C.common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--target", default="cython", choices=["cython", "numpy"])
    args = p.parse_args(argv)
    wl = C.get_workload(args.workload, args.steps)
    base = C.rss_mb()
    import brian2 as b2

    b2.prefs.codegen.target = args.target
    b2.prefs.logging.console_log_level = "WARNING"
    inputs, w_fwd = C.load_data(wl, args.data)
    builds, runs, so, si = [], [], [], []
    first_run = None
    for _ in range(args.repeats + 1):
        with C.Timer() as tb:
            net, mons = build(b2, wl, inputs, w_fwd)
        with C.Timer() as tr:
            net.run(wl.steps * b2.ms)
        if first_run is None:  # compiles on a cold cache: reported apart, not in the median
            first_run = tr.s
            del net, mons
            gc.collect()
            continue
        builds.append(tb.s)
        runs.append(tr.s)
        so.append(int(mons["B"].num_spikes))
        si.append(int(mons["A"].num_spikes) if "A" in mons else int(inputs.sum()))
        if "v" in mons:
            assert mons["v"].v.shape == (wl.n_out, wl.steps), mons["v"].v.shape
        spikes_t, spikes_i = np.asarray(mons["B"].t / b2.ms), np.asarray(mons["B"].i)
        del net, mons  # free this network before the next is built: peak RSS is one network's
        gc.collect()
    if args.save_spikes:
        raster = np.zeros((wl.steps, wl.n_out), dtype=np.uint8)
        raster[np.rint(spikes_t).astype(int), spikes_i] = 1
        np.save(args.save_spikes, raster)
    C.emit(C.summarize(f"brian2-{args.target}", wl, builds, runs, so, si, base,
                       version=b2.__version__, first_run_s=first_run))


if __name__ == "__main__":
    main()
