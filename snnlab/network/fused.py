"""Fused CPU blocks: many steps in one compiled call (optional, needs numba).

On a CPU a step of the seed network is a few dozen tensor operations on
vectors of 1000 elements; each costs microseconds of dispatch, far more than
its arithmetic. Where a run allows it, the network hands a block of steps to
one numba-compiled loop instead, which does the same arithmetic in the same
order and float32 precision as the eager path (see ``docs/semantics.md``):

* input from connections: the weight rows of the neurons that spiked are
  summed in index order, each connection into its own sum, the sums added in
  the network's connection order, then the external input (connections from
  Input layers are event-driven here too: where the eager path uses one
  block product, sums can differ in the last bit, as float32 sums in another
  order do);
* LIF and IF updates in the documented order; traces;
* the history of the monitored variables, handed to the monitors afterwards.

Eligible runs: CPU, batch size 1, layers ``Input``, ``LIFNodes`` or
``IFNodes`` (exactly those classes), dense ``Connection``s whose weights do
not change during the run (no learning that changes them, no masks), no
clamp, unclamp or injects_v, monitors that record every step. Anything else
runs on the eager path, which is always available. Without numba installed
(``pip install snnlab[fast]``) or with ``SNNLAB_NUMBA=0``, nothing changes.

Compiled code is cached on disk (numba's ``cache=True``); the first use in a
fresh environment compiles for a few seconds (``warm_up()`` does it ahead).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np
import torch

from .monitors import Monitor, NetworkMonitor
from .nodes import IFNodes, Input, LIFNodes
from .topology import Connection

INPUT, LIF, IF = 0, 1, 2
_KINDS = {Input: INPUT, LIFNodes: LIF, IFNodes: IF}
RECORDABLE = ("s", "v", "refrac_count", "x")

_kernel = None


def available() -> bool:
    """Whether numba is installed and not turned off with SNNLAB_NUMBA=0."""
    if os.environ.get("SNNLAB_NUMBA", "1") == "0":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _run_block(

    steps, one_step, kinds, off, v, refrac, s, s_prev, thresh, rest, reset, refrac_p, decay, lbound,
    has_lbound, dt, traces, additive, xtr, trace_decay, trace_scale,
    conn_src, conn_tgt, conn_w, conn_b, has_b, acc, tmp, fixed, ext, hist_s, hist_v, hist_r, hist_x, rec_s, rec_v, rec_r, rec_x,
):
    n_layers = kinds.shape[0]
    n_conns = conn_src.shape[0]
    zero = np.float32(0.0)
    for t in range(steps):
        if not one_step:
            s_prev[:] = s
        for l in range(n_layers):
            a, b = off[l], off[l + 1]
            src_spikes = s if one_step else s_prev
            # Input from connections into this layer: each connection's rows, then their sum.
            first = True
            for c in range(n_conns):
                if conn_tgt[c] != l:
                    continue
                w = conn_w[c]
                sa, sb = off[conn_src[c]], off[conn_src[c] + 1]
                n_out = b - a
                for i in range(n_out):
                    tmp[i] = zero
                for j in range(sb - sa):
                    if src_spikes[sa + j]:
                        for i in range(n_out):
                            tmp[i] += w[j, i]
                if has_b[c]:
                    bias = conn_b[c]
                    for i in range(n_out):
                        tmp[i] = tmp[i] + bias[i]
                if first:
                    for i in range(n_out):
                        acc[a + i] = tmp[i]
                    first = False
                else:
                    for i in range(n_out):
                        acc[a + i] = acc[a + i] + tmp[i]
            if first:
                for i in range(a, b):
                    acc[i] = zero
            kind = kinds[l]
            for i in range(a, b):
                x = acc[i] + ext[t, i]
                if kind == 0:  # Input: spikes where the input is nonzero
                    s[i] = x != zero
                else:  # LIF (kind 1) and IF (kind 2): IF is LIF without the leak
                    vi = v[i]
                    if kind == 1:
                        vi = (vi - rest[i]) * decay[i] + rest[i]
                    if refrac[i] > zero:
                        x = zero
                    refrac[i] = refrac[i] - dt
                    vi = vi + x
                    spike = vi >= thresh[i]
                    if spike:
                        refrac[i] = refrac_p[i]
                        vi = reset[i]
                    if has_lbound[l] and vi < lbound[i]:
                        vi = lbound[i]
                    v[i] = vi
                    s[i] = spike
                if traces[l]:
                    xi = xtr[i] * trace_decay[i]
                    if s[i]:
                        xi = xi + trace_scale[i] if additive[l] else trace_scale[i]
                    xtr[i] = xi
        if rec_s:
            hist_s[t, :] = s
        if rec_v:
            hist_v[t, :] = v
        if rec_r:
            hist_r[t, :] = refrac
        if rec_x:
            hist_x[t, :] = xtr


def _compile():
    global _kernel
    if _kernel is None:
        import numba

        # cache=True: compiled once per environment, loaded from disk afterwards.
        _kernel = numba.njit(cache=True, nogil=True)(_run_block)
    return _kernel


def eligible(network, plan, updates) -> bool:
    """Whether this run's blocks can go to the fused loop."""
    if not available() or network.batch_size != 1:
        return False
    if any(st.clamp is not None or st.unclamp is not None or st.inject is not None for st in plan["steppers"]):
        return False
    if updates:
        return False
    for layer in network.layers.values():
        if type(layer) not in _KINDS or layer.sum_input:
            return False
    for conn in network.connections.values():
        if type(conn) is not Connection:
            return False
    for m in _monitors(network):
        if not isinstance(m, Monitor) or m.every != 1 or any(v not in RECORDABLE for v in m.state_vars):
            return False
        if isinstance(m.obj, Connection):
            return False
    return True


def _monitors(network) -> List[Monitor]:
    out = []
    for monitor in network.monitors.values():
        out.extend(monitor.monitors.values() if isinstance(monitor, NetworkMonitor) else [monitor])
    return out


def _per_neuron(value, shape) -> np.ndarray:
    """A scalar or per-neuron parameter as a flat float32 array of the layer's size."""
    t = torch.as_tensor(value, dtype=torch.float32).detach()
    return np.ascontiguousarray(t.expand(shape).reshape(-1).numpy())


class FusedRunner:
    """Runs blocks of steps of one network in the compiled loop."""

    def __init__(self, network) -> None:
        self.network = network
        self.kernel = _compile()

    def run_block(self, plan, ext_block: Dict[str, Optional[torch.Tensor]], steps: int) -> None:
        net = self.network
        layers = list(net.layers.values())
        names = list(net.layers)
        sizes = [layer.n for layer in layers]
        off = np.zeros(len(layers) + 1, dtype=np.int64)
        off[1:] = np.cumsum(sizes)
        N = int(off[-1])
        f32 = np.float32
        # State: gathered into flat arrays, written back after the block.
        v = np.zeros(N, f32)
        refrac = np.zeros(N, f32)
        s = np.zeros(N, np.bool_)
        xtr = np.zeros(N, f32)
        thresh, rest, reset, refrac_p, decay, lbound = (np.zeros(N, f32) for _ in range(6))
        trace_decay = np.ones(N, f32)
        trace_scale = np.zeros(N, f32)
        kinds = np.zeros(len(layers), np.int64)
        has_lbound = np.zeros(len(layers), np.bool_)
        traces = np.zeros(len(layers), np.bool_)
        additive = np.zeros(len(layers), np.bool_)
        for l, layer in enumerate(layers):
            a, b = off[l], off[l + 1]
            kind = kinds[l] = _KINDS[type(layer)]
            s[a:b] = layer.s.reshape(-1).numpy()
            if kind != INPUT:
                v[a:b] = layer.v.reshape(-1).numpy()
                refrac[a:b] = layer.refrac_count.reshape(-1).numpy()
                thresh[a:b] = _per_neuron(layer.thresh, layer.shape)
                rest[a:b] = _per_neuron(layer.rest if kind == LIF else layer.reset, layer.shape)
                reset[a:b] = _per_neuron(layer.reset, layer.shape)
                refrac_p[a:b] = _per_neuron(layer.refrac, layer.shape)
                if kind == LIF:
                    decay[a:b] = _per_neuron(layer._decay, layer.shape)
                if layer.lbound is not None:
                    has_lbound[l] = True
                    lbound[a:b] = _per_neuron(layer.lbound, layer.shape)
            if layer.traces:
                traces[l] = True
                additive[l] = layer.traces_additive
                xtr[a:b] = layer.x.reshape(-1).numpy()
                trace_decay[a:b] = _per_neuron(layer._trace_decay, layer.shape)
                trace_scale[a:b] = _per_neuron(layer.trace_scale, layer.shape)
        index = {name: l for l, name in enumerate(names)}
        # Every connection is event-driven here, those from Input layers too
        # (at the usual input densities that is less work than the block product).
        conns = [(index[src], index[tgt], c) for (src, tgt), c in net.connections.items()]
        conn_src = np.array([c[0] for c in conns], dtype=np.int64)
        conn_tgt = np.array([c[1] for c in conns], dtype=np.int64)
        # A tuple of same-typed arrays (a numba UniTuple); never empty.
        conn_w = tuple(c.w.detach().numpy() for _, _, c in conns) or (np.zeros((1, 1), f32),)
        has_b = np.array([c.b is not None for _, _, c in conns] or [False], dtype=np.bool_)
        conn_b = tuple(
            c.b.detach().numpy() if c.b is not None else np.zeros(1, f32) for _, _, c in conns
        ) or (np.zeros(1, f32),)
        fixed_in = np.zeros((1, 1), f32)  # unused: no block products here
        ext_in = np.zeros((steps, N), f32)
        for l, name in enumerate(names):
            a, b = off[l], off[l + 1]
            e = ext_block.get(name)
            if e is not None:
                ext_in[:, a:b] = e.reshape(steps, -1).to(torch.float32).numpy()
        monitors = _monitors(net)
        wanted = {var for m in monitors for var in m.state_vars}
        hist = {
            var: np.zeros((steps, N) if var in wanted else (1, 1), np.bool_ if var == "s" else f32)
            for var in RECORDABLE
        }
        self.kernel(
            steps, bool(plan["one_step"]), kinds, off, v, refrac, s, np.zeros(N, np.bool_), thresh, rest, reset,
            refrac_p, decay, lbound, has_lbound, f32(net.dt), traces, additive, xtr, trace_decay, trace_scale,
            conn_src, conn_tgt, conn_w, conn_b, has_b, np.zeros(N, f32), np.zeros(max(sizes), f32), fixed_in, ext_in,
            hist["s"], hist["v"], hist["refrac_count"], hist["x"],
            "s" in wanted, "v" in wanted, "refrac_count" in wanted, "x" in wanted,
        )
        # Write the state back into the layers' own tensors (in place).
        for l, layer in enumerate(layers):
            a, b = off[l], off[l + 1]
            layer.s.copy_(torch.from_numpy(s[a:b]).view_as(layer.s))
            if kinds[l] != INPUT:
                layer.v.copy_(torch.from_numpy(v[a:b]).view_as(layer.v))
                layer.refrac_count.copy_(torch.from_numpy(refrac[a:b]).view_as(layer.refrac_count))
            if layer.traces:
                layer.x.copy_(torch.from_numpy(xtr[a:b]).view_as(layer.x))
        for m in monitors:
            l = index[_name_of(net, m.obj)]
            a, b = off[l], off[l + 1]
            for var in m.state_vars:
                value = getattr(m.obj, var)
                rows = torch.from_numpy(hist[var][:, a:b]).view(steps, *value.shape)
                m._record_rows(var, value, rows)
            m._tick += steps


def _name_of(network, layer) -> str:
    for name, l in network.layers.items():
        if l is layer:
            return name
    raise KeyError("monitored layer not in the network")


def warm_up() -> None:
    """Compile (or load from numba's cache) the fused loop on a tiny network."""
    if not available():
        return
    from .network import Network

    net = Network()
    net.add_layer(Input(n=2, traces=True), "A")
    net.add_layer(LIFNodes(n=2, traces=True), "B")
    net.add_layer(IFNodes(n=2), "C")
    net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.ones(2, 2)), "A", "B")
    net.add_connection(Connection(net.layers["B"], net.layers["C"], w=torch.ones(2, 2)), "B", "C")
    net.add_monitor(Monitor(net.layers["B"], ("s", "v")), "B")
    net.run(inputs={"A": torch.ones(4, 2)}, time=4)
