"""The compiled CPU back-end ("cpu"): many steps in one numba call (needs numba).

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

from ...dynamics import parameters_of
from ..monitors import Monitor
from ...dynamics.nodes import IFNodes, Input, LIFNodes
from ...dynamics.topology import Connection
from .base import Backend, cache_for
from .eager import external_block

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


def _per_neuron(value, shape) -> np.ndarray:
    """A scalar or per-neuron parameter as a flat float32 array of the layer's size."""
    t = torch.as_tensor(value, dtype=torch.float32).detach()
    return np.ascontiguousarray(t.expand(shape).reshape(-1).numpy())


class CpuBackend(Backend):
    """Blocks of steps in one compiled loop (see the module docstring)."""

    name = "cpu"
    block_steps = 256

    def unavailable_reason(self):
        return None if available() else "numba is not installed or SNNLAB_NUMBA=0"

    def enabled_for(self, network, plan) -> bool:
        return bool(network.cpu_kernels)

    def why_not(self, plan):
        if plan.device.type != "cpu":
            return f"it runs on the CPU, the network is on {plan.device}"
        if plan.batch != 1:
            return f"batch size {plan.batch} (it runs batch 1)"
        if plan.has_forcing:
            return "clamp, unclamp or injects_v"
        if plan.updates:
            return "weights change during the run (learning or masks)"
        for lp in plan.layers:
            if type(lp.layer) not in _KINDS:
                return f"layer {lp.name!r} is a {type(lp.layer).__name__} (it runs Input, LIFNodes, IFNodes)"
            if lp.layer.sum_input:
                return f"layer {lp.name!r} has sum_input=True"
        for key, conn in plan.connections:
            if type(conn) is not Connection:
                return f"connection {key} is a {type(conn).__name__} (it runs dense Connection)"
        for m in plan.monitors:
            if m.every != 1 or any(v not in RECORDABLE for v in m.state_vars):
                return f"a monitor records every {m.every} steps or a variable other than {RECORDABLE}"
            if not isinstance(m.obj, tuple(_KINDS)):
                return "a monitor records a connection"
        return None

    def run_block(self, network, plan, ext, start, b0, b1) -> bool:
        cache = cache_for(network, self.name)
        if "kernel" not in cache:
            cache["kernel"] = _compile()
        self.kernel = cache["kernel"]
        self._run(network, plan, external_block(plan, ext, start, b0, b1), b1 - b0)
        return True

    def _run(self, net, plan, ext_block: Dict[str, Optional[torch.Tensor]], steps: int) -> None:
        layers = [lp.layer for lp in plan.layers]
        names = list(plan.layer_names)
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
            p = {name: value for name, (_, value) in parameters_of(layer).items()}
            decays = layer.decays
            s[a:b] = layer.s.reshape(-1).numpy()
            if kind != INPUT:
                v[a:b] = layer.v.reshape(-1).numpy()
                refrac[a:b] = layer.refrac_count.reshape(-1).numpy()
                thresh[a:b] = _per_neuron(p["thresh"], layer.shape)
                rest[a:b] = _per_neuron(p["rest"] if kind == LIF else p["reset"], layer.shape)
                reset[a:b] = _per_neuron(p["reset"], layer.shape)
                refrac_p[a:b] = _per_neuron(p["refrac"], layer.shape)
                if kind == LIF:
                    decay[a:b] = _per_neuron(decays["decay"], layer.shape)
                if p["lbound"] is not None:
                    has_lbound[l] = True
                    lbound[a:b] = _per_neuron(p["lbound"], layer.shape)
            if layer.traces:
                traces[l] = True
                additive[l] = layer.traces_additive
                xtr[a:b] = layer.x.reshape(-1).numpy()
                trace_decay[a:b] = _per_neuron(decays["trace_decay"], layer.shape)
                trace_scale[a:b] = _per_neuron(p["trace_scale"], layer.shape)
        index = {name: l for l, name in enumerate(names)}
        # Every connection is event-driven here, those from Input layers too
        # (at the usual input densities that is less work than the block product).
        conns = [(index[src], index[tgt], c) for (src, tgt), c in plan.connections]
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
        monitors = plan.monitors
        wanted = {var for m in monitors for var in m.state_vars}
        hist = {
            var: np.zeros((steps, N) if var in wanted else (1, 1), np.bool_ if var == "s" else f32)
            for var in RECORDABLE
        }
        self.kernel(
            steps, bool(plan.one_step), kinds, off, v, refrac, s, np.zeros(N, np.bool_), thresh, rest, reset,
            refrac_p, decay, lbound, has_lbound, f32(plan.dt), traces, additive, xtr, trace_decay, trace_scale,
            conn_src, conn_tgt, conn_w, conn_b, has_b, np.zeros(N, f32), np.zeros(max(sizes, default=1), f32), fixed_in, ext_in,
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
            l = index[plan.name_of(m.obj)]
            a, b = off[l], off[l + 1]
            for var in m.state_vars:
                value = getattr(m.obj, var)
                m.record_rows(var, torch.from_numpy(hist[var][:, a:b]).view(steps, *value.shape))
            m.advance(steps)
