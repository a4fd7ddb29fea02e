"""Hand-written loops with exactly snnlab's/BindsNET's step semantics.

They are the lower bound a user gets by writing the simulation by hand, and
the reference the simulators are checked against:

* ``numpy``: dense float32 matrix-vector products every step (what the issue
  quotes as "the numpy loop");
* ``numpy-event``: the same, but each connection sums only the weight rows of
  the neurons that spiked in the previous step;
* ``torch``: the dense loop in torch (float32, in-place, no autograd) -- the
  "plain dense torch loop" of issue 2.

Step ``t`` (semantics.md): each connection's input is computed from the
source's spikes of step ``t - 1``; then A's spikes are ``inputs[t]``; then the
LIF update: ``v = decay * (v - rest) + rest``; input zeroed where refractory;
``refrac -= dt``; ``v += x``; ``s = v >= thresh``; where ``s``: ``refrac =
5``, ``v = reset``. Monitors record after the step.

Usage: ``python run_loops.py --impl numpy --workload seed``; prints one
``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

import common as C  # noqa: E402


def run_numpy(inputs, w_fwd, w_rec, wl, event):
    f32 = np.float32
    T, n_in = inputs.shape
    n = w_fwd.shape[1]
    decay, rest, thresh, reset, refrac_ms, dt = (f32(math.exp(-C.DT / C.TC_DECAY)), f32(C.REST),
                                                 f32(C.THRESH), f32(C.RESET), f32(C.REFRAC), f32(C.DT))
    full = wl.monitor == "full"
    rec_a = np.zeros((T, n_in), dtype=bool) if full else None
    rec_s = np.zeros((T, n), dtype=bool)
    rec_v = np.zeros((T, n), dtype=np.float32) if full else None
    v = np.full(n, rest, dtype=np.float32)
    refrac = np.zeros(n, dtype=np.float32)
    a_prev = np.zeros(n_in, dtype=bool)
    s_prev = np.zeros(n, dtype=bool)
    x = np.empty(n, dtype=np.float32)
    inp = inputs.astype(bool)
    for t in range(T):
        # 1. connections, from the previous step's spikes
        if event:
            idx = np.flatnonzero(a_prev)
            x[:] = w_fwd[idx].sum(axis=0) if idx.size else 0.0
            if w_rec is not None:
                idx = np.flatnonzero(s_prev)
                if idx.size:
                    x += w_rec[idx].sum(axis=0)
        else:
            np.matmul(a_prev.astype(np.float32), w_fwd, out=x)
            if w_rec is not None:
                x += s_prev.astype(np.float32) @ w_rec
        # 2. layers in order: A then B
        a = inp[t]
        v -= rest
        v *= decay
        v += rest
        x[refrac > 0] = 0.0
        refrac -= dt
        v += x
        s = v >= thresh
        refrac[s] = refrac_ms
        v[s] = reset
        # 4. monitors
        rec_s[t] = s
        if full:
            rec_a[t] = a
            rec_v[t] = v
        a_prev, s_prev = a, s
    return rec_s, rec_a


def torch_setup(inputs, w_fwd, w_rec, device="cpu"):
    """Move the inputs and weights to ``device`` as float32 tensors (not timed as run)."""
    import torch

    dev = torch.device(device)
    return {
        "inp": torch.from_numpy(inputs).to(device=dev, dtype=torch.float32),
        "wf": torch.from_numpy(w_fwd).to(dev),
        "wr": torch.from_numpy(w_rec).to(dev) if w_rec is not None else None,
    }


def torch_loop(tensors, wl):
    """The dense loop on the device of ``tensors``; returns B's and A's spikes as numpy."""
    import torch

    inp, wf, wr = tensors["inp"], tensors["wf"], tensors["wr"]
    dev = inp.device
    T, n_in = inp.shape
    n = wf.shape[1]
    decay = float(torch.tensor(math.exp(-C.DT / C.TC_DECAY), dtype=torch.float32))
    full = wl.monitor == "full"
    with torch.no_grad():
        wft = wf.t()  # a view: mv with the transposed BLAS flag, no copy
        wrt = wr.t() if wr is not None else None
        rec_a = torch.zeros((T, n_in), dtype=torch.bool, device=dev) if full else None
        rec_s = torch.zeros((T, n), dtype=torch.bool, device=dev)
        rec_v = torch.zeros((T, n), dtype=torch.float32, device=dev) if full else None
        v = torch.full((n,), C.REST, dtype=torch.float32, device=dev)
        refrac = torch.zeros(n, dtype=torch.float32, device=dev)
        a_prev = torch.zeros(n_in, dtype=torch.float32, device=dev)
        s_prev = torch.zeros(n, dtype=torch.float32, device=dev)
        x = torch.empty(n, dtype=torch.float32, device=dev)
        for t in range(T):
            torch.mv(wft, a_prev, out=x)
            if wrt is not None:
                x.addmv_(wrt, s_prev)
            a = inp[t]
            v.sub_(C.REST).mul_(decay).add_(C.REST)
            x.masked_fill_(refrac > 0, 0.0)
            refrac.sub_(C.DT)
            v.add_(x)
            s = v >= C.THRESH
            refrac.masked_fill_(s, C.REFRAC)
            v.masked_fill_(s, C.RESET)
            rec_s[t] = s
            if full:
                rec_a[t] = a.bool()
                rec_v[t] = v
            a_prev = a
            s_prev = s.to(torch.float32)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    return rec_s.cpu().numpy(), (rec_a.cpu().numpy() if full else None)


def run_torch(inputs, w_fwd, w_rec, wl, device="cpu"):
    return torch_loop(torch_setup(inputs, w_fwd, w_rec, device), wl)


def measure(impl, wl, data_dir=C.DEFAULT_DATA_DIR, repeats=3, save_spikes=None):
    """Run the hand loop ``impl`` on ``wl`` ``repeats`` times; return the result record."""
    if impl not in ("numpy", "numpy-event", "torch"):
        raise ValueError(f"impl must be 'numpy', 'numpy-event' or 'torch', got {impl!r}")
    if impl == "torch":
        import torch
        extra = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    else:
        extra = {"numpy": np.__version__}
    base = C.rss_mb()
    builds, runs, so, si = [], [], [], []
    for _ in range(repeats):
        with C.Timer() as tb:
            inputs, w_fwd = C.load_data(wl, data_dir)
            w_rec = C.recurrent_weights(wl.n_out) if wl.recurrent else None
            if impl == "torch":
                tensors = torch_setup(inputs, w_fwd, w_rec)
        with C.Timer() as tr:
            if impl == "torch":
                rec_s, rec_a = torch_loop(tensors, wl)
            else:
                rec_s, rec_a = run_numpy(inputs, w_fwd, w_rec, wl, event=impl == "numpy-event")
        builds.append(tb.s)
        runs.append(tr.s)
        so.append(int(rec_s.sum()))
        si.append(int(rec_a.sum()) if rec_a is not None else int(inputs.sum()))
    if save_spikes:
        np.save(save_spikes, rec_s.astype(np.uint8))
    return C.summarize(impl, wl, builds, runs, so, si, base, **extra)


def main(argv=None):
    p = C.common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--impl", required=True, choices=["numpy", "numpy-event", "torch"])
    args = p.parse_args(argv)
    wl = C.get_workload(args.workload, args.steps)
    C.emit(measure(args.impl, wl, args.data, args.repeats, args.save_spikes))


if __name__ == "__main__":
    main()
