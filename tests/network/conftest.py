"""Shared helpers for the engine tests.

The reference step functions below are written from ``docs/semantics.md``
(the shared semantics document), NOT from snnlab's implementation: plain NumPy
float32, in the spec's arithmetic order, one neuron model per function. They
produce the golden traces that the tests compare the engine against; the most
important cases are also pinned as literal numbers in the tests themselves.

Units: voltages in mV, times in ms.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

F32 = np.float32


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global torch RNG state."""
    torch.manual_seed(0)
    np.random.seed(0)
    yield


def decay_of(dt, tc):
    """``exp(-dt / tc)`` as a float32 scalar (the spec: decays come from dt)."""
    return F32(np.exp(-float(dt) / float(tc)))


def _as_steps(x, n):
    """External input ``x`` as a float32 array ``[T, n]``."""
    x = np.asarray(x, dtype=F32)
    if x.ndim == 1:
        x = np.repeat(x[:, None], n, axis=1)
    return x


def ref_lif(x, n=1, *, thresh=-52.0, rest=-65.0, reset=-65.0, refrac=5.0, tc_decay=100.0,
            dt=1.0, lbound=None, v0=None):
    """Golden LIF trace: returns (v [T, n], s [T, n] bool) after each step.

    Order (semantics.md): decay toward rest; zero input where refractory;
    refrac_count -= dt; v += x; spike; reset + refractory; lbound.
    """
    x = _as_steps(x, n)
    d = decay_of(dt, tc_decay)
    rest, reset, thresh = F32(rest), F32(reset), F32(thresh)
    v = np.full(n, rest if v0 is None else v0, dtype=F32)
    rc = np.zeros(n, dtype=F32)
    vs, ss = [], []
    for xt in x:
        v = d * (v - rest) + rest
        xt = np.where(rc > 0, F32(0), xt).astype(F32)
        rc = (rc - F32(dt)).astype(F32)
        v = (v + xt).astype(F32)
        s = v >= thresh
        rc = np.where(s, F32(refrac), rc).astype(F32)
        v = np.where(s, reset, v).astype(F32)
        if lbound is not None:
            v = np.maximum(v, F32(lbound)).astype(F32)
        vs.append(v.copy())
        ss.append(s.copy())
    return np.array(vs, dtype=F32), np.array(ss)


def ref_if(x, n=1, *, thresh=-52.0, reset=-65.0, refrac=5.0, dt=1.0, lbound=None):
    """Golden IF trace: ``v += (refrac_count <= 0) * x``; refrac -= dt; spike; reset."""
    x = _as_steps(x, n)
    v = np.full(n, F32(reset), dtype=F32)
    rc = np.zeros(n, dtype=F32)
    vs, ss = [], []
    for xt in x:
        v = (v + (rc <= 0).astype(F32) * xt).astype(F32)
        rc = (rc - F32(dt)).astype(F32)
        s = v >= F32(thresh)
        rc = np.where(s, F32(refrac), rc).astype(F32)
        v = np.where(s, F32(reset), v).astype(F32)
        if lbound is not None:
            v = np.maximum(v, F32(lbound)).astype(F32)
        vs.append(v.copy())
        ss.append(s.copy())
    return np.array(vs, dtype=F32), np.array(ss)


def ref_current_lif(x, n=1, *, thresh=-52.0, rest=-65.0, reset=-65.0, refrac=5.0,
                    tc_decay=100.0, tc_i_decay=2.0, dt=1.0):
    """Golden CurrentLIF trace: returns (v, i, s).

    Order: v decays; i *= i_decay; refrac -= dt; i += x;
    v += (refrac_count <= 0) * i; spike and reset as LIF.
    """
    x = _as_steps(x, n)
    d, di = decay_of(dt, tc_decay), decay_of(dt, tc_i_decay)
    rest = F32(rest)
    v = np.full(n, rest, dtype=F32)
    i = np.zeros(n, dtype=F32)
    rc = np.zeros(n, dtype=F32)
    vs, is_, ss = [], [], []
    for xt in x:
        v = d * (v - rest) + rest
        i = (i * di).astype(F32)
        rc = (rc - F32(dt)).astype(F32)
        i = (i + xt).astype(F32)
        v = (v + (rc <= 0).astype(F32) * i).astype(F32)
        s = v >= F32(thresh)
        rc = np.where(s, F32(refrac), rc).astype(F32)
        v = np.where(s, F32(reset), v).astype(F32)
        vs.append(v.copy())
        is_.append(i.copy())
        ss.append(s.copy())
    return np.array(vs, dtype=F32), np.array(is_, dtype=F32), np.array(ss)


def ref_adaptive_lif(x, n=1, *, thresh=-52.0, rest=-65.0, reset=-65.0, refrac=5.0,
                     tc_decay=100.0, theta_plus=0.05, tc_theta_decay=1e7, dt=1.0,
                     learning=True):
    """Golden AdaptiveLIF trace (batch 1): returns (v, s, theta).

    The threshold is ``thresh + theta``; while learning, theta decays every
    step and grows by ``theta_plus`` at each spike.
    """
    x = _as_steps(x, n)
    d, dth = decay_of(dt, tc_decay), decay_of(dt, tc_theta_decay)
    rest = F32(rest)
    v = np.full(n, rest, dtype=F32)
    rc = np.zeros(n, dtype=F32)
    theta = np.zeros(n, dtype=F32)
    vs, ss, ths = [], [], []
    for xt in x:
        v = d * (v - rest) + rest
        if learning:
            theta = (theta * dth).astype(F32)
        xt = np.where(rc > 0, F32(0), xt).astype(F32)
        rc = (rc - F32(dt)).astype(F32)
        v = (v + xt).astype(F32)
        s = v >= (F32(thresh) + theta)
        rc = np.where(s, F32(refrac), rc).astype(F32)
        v = np.where(s, F32(reset), v).astype(F32)
        if learning:
            theta = (theta + F32(theta_plus) * s.astype(F32)).astype(F32)
        vs.append(v.copy())
        ss.append(s.copy())
        ths.append(theta.copy())
    return np.array(vs, dtype=F32), np.array(ss), np.array(ths, dtype=F32)


def ref_izhikevich(x, *, a, b, c, d, S, thresh=45.0, rest=-65.0, dt=1.0):
    """Golden Izhikevich trace: returns (v, u, s).

    Per step: reset from the previous step's spikes (v = c, u += d); add the
    recurrent input ``S @ s_prev``; two half-steps of v; u update; spike check.
    """
    a, b, c, d = (np.asarray(q, dtype=F32) for q in (a, b, c, d))
    S = np.asarray(S, dtype=F32)
    n = a.shape[0]
    x = _as_steps(x, n)
    v = np.full(n, F32(rest), dtype=F32)
    u = (b * v).astype(F32)
    s = np.zeros(n, dtype=bool)
    vs, us, ss = [], [], []
    half = F32(dt * 0.5)
    for xt in x:
        v = np.where(s, c, v).astype(F32)
        u = np.where(s, u + d, u).astype(F32)
        xt = (xt + S @ s.astype(F32)).astype(F32)
        for _ in range(2):
            v = (v + half * ((((F32(0.04) * v ** 2 + F32(5) * v) + F32(140)) - u) + xt)).astype(F32)
        u = (u + (F32(dt) * a) * (b * v - u)).astype(F32)
        s = v >= F32(thresh)
        vs.append(v.copy())
        us.append(u.copy())
        ss.append(s.copy())
    return np.array(vs, dtype=F32), np.array(us, dtype=F32), np.array(ss)


def spike_steps(s):
    """Step indices where a 1-D boolean/0-1 sequence is true."""
    return [int(i) for i in np.flatnonzero(np.asarray(s))]


def np_(t):
    """A torch tensor as a NumPy array on the CPU."""
    return t.detach().cpu().numpy()


def run_layer(layer, x, *, dt=1.0, state_vars=("v", "s"), name="L", **run_kwargs):
    """Run a one-layer network on external input ``x`` ([T, n] or [T, B, *shape]).

    External input may go to any layer (semantics.md), so a node model can be
    driven directly. Returns ``{var: np.ndarray [T, B, *shape]}``.
    """
    from snnlab.network import Network
    from snnlab.network.monitors import Monitor

    x = torch.as_tensor(x, dtype=torch.float32)
    steps = x.shape[0]
    net = Network(dt=dt)
    net.add_layer(layer, name=name)
    mon = Monitor(layer, state_vars=state_vars)
    net.add_monitor(mon, name="mon")
    net.run(inputs={name: x}, time=steps * dt, **run_kwargs)
    return {v: np_(mon.get(v)) for v in state_vars}


def exact_weights(shape, seed, lo=-2, hi=6):
    """Weights that are multiples of 1/8 mV, so every sum of them is exact in float32.

    With such weights any summation order (dense matmul, event-driven row sums,
    GPU reductions) gives bit-identical input, and a network run can be compared
    spike for spike with a plain reference loop.
    """
    g = np.random.default_rng(seed)
    return (g.integers(lo * 8, hi * 8 + 1, size=shape) / 8.0).astype(F32)


def ref_input_lif_net(x, w_in, w_rec, *, thresh=-52.0, rest=-65.0, reset=-65.0, refrac=5.0,
                      tc_decay=100.0, dt=1.0):
    """Plain reference loop: Input -> LIF with a recurrent LIF -> LIF connection.

    ``x``: [T, B, n_in] 0/1. Synchronous mode: step t sees the spikes of step t-1
    of both sources. Returns the LIF spikes [T, B, n_out] and voltages.
    """
    x = np.asarray(x, dtype=F32)
    T, B, _ = x.shape
    n = w_in.shape[1]
    d = decay_of(dt, tc_decay)
    rest, reset, thresh = F32(rest), F32(reset), F32(thresh)
    v = np.full((B, n), rest, F32)
    rc = np.zeros((B, n), F32)
    s_in_prev = np.zeros((B, w_in.shape[0]), F32)
    s_prev = np.zeros((B, n), F32)
    S = np.zeros((T, B, n), bool)
    V = np.zeros((T, B, n), F32)
    for t in range(T):
        inp = (s_in_prev @ w_in + s_prev @ w_rec).astype(F32)
        v = d * (v - rest) + rest
        inp = np.where(rc > 0, F32(0), inp).astype(F32)
        rc = (rc - F32(dt)).astype(F32)
        v = (v + inp).astype(F32)
        s = v >= thresh
        rc = np.where(s, F32(refrac), rc).astype(F32)
        v = np.where(s, reset, v).astype(F32)
        S[t], V[t] = s, v
        s_in_prev = x[t]
        s_prev = s.astype(F32)
    return S, V


def build_input_lif_net(w_in, w_rec, *, batch_window=None, every=1, device="cpu"):
    """The snnlab network matching ``ref_input_lif_net``, with a monitor "B" on (s, v)."""
    from snnlab.network import Network
    from snnlab.network.monitors import Monitor
    from snnlab.network.nodes import Input, LIFNodes
    from snnlab.network.topology import Connection

    net = Network()
    a, b = Input(n=w_in.shape[0]), LIFNodes(n=w_in.shape[1])
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    net.add_connection(Connection(a, b, w=torch.tensor(w_in)), source="A", target="B")
    net.add_connection(Connection(b, b, w=torch.tensor(w_rec)), source="B", target="B")
    mon = Monitor(b, state_vars=("s", "v"), time=batch_window, every=every)
    net.add_monitor(mon, name="B")
    if device != "cpu":
        net.to(device)
    return net, mon
