"""CUDA-graph replay of blocks of steps (the GPU fast path).

On a GPU a step of a small network is a few dozen tiny kernels, and launching
them from Python costs far more than running them. So, where a run allows it,
the network captures a block of ``BLOCK`` steps once as a CUDA graph and
replays it: one launch per block.

A graph cannot depend on data known only on the device, such as how many
neurons spiked. Propagation therefore uses a fixed capacity: the indices of
up to ``capacity`` spiking neurons are compacted on the device (cumsum +
scatter) and their weight rows summed with ``embedding_bag`` (padding slots
weigh 0). A step with more spikes than that sets an overflow flag; after the
block the flag is read (the only host sync of a block) and, if set, the state
is restored from a snapshot and the block is run again by the exact eager
path, with dense products. Results are those of the eager path up to
float32 summation order.

With Triton installed (as with PyTorch's CUDA builds), propagation uses the
kernels of :mod:`snnlab.network.kernels` instead: they loop over the spike
count read on the device, so nothing can overflow.

Eligible runs: CUDA tensors; no weight changes during the block (no learning
rule that changes weights, no masks); no clamp, unclamp or injects_v; dense
connections; deterministic node models; monitors recording every step with a
window of at least ``BLOCK`` rows.

The same code runs without capture on any device (``capture=False``), which is
how its logic is tested on machines without a GPU.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from .nodes import DiehlAndCookNodes, IFNodes, LIFNodes, SRM0Nodes
from .monitors import Monitor, NetworkMonitor
from .topology import Connection

BLOCK = 64
MAX_GRAPHS = 4  # block lengths kept captured (a run's full blocks, its tail, a lab chunk)


def _capacity(n: int) -> int:
    """Spikes per step and sample that the compacted path can hold."""
    return min(n, max(64, n // 8))


def _have_triton() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


class _Propagator:
    """Fixed-shape event-driven ``s @ w`` for one connection."""

    def __init__(self, conn: Connection, batch: int) -> None:
        self.conn = conn
        n = conn.source.n
        self.n = n
        self.k = _capacity(n)
        dev = conn.w.device
        self.arange = torch.arange(n, device=dev).expand(batch, n)
        self.slots = torch.zeros(batch, self.k + 1, dtype=torch.long, device=dev)
        self.slot_range = torch.arange(self.k, device=dev)

    def __call__(self, s: torch.Tensor, overflow: torch.Tensor) -> torch.Tensor:
        batch = s.shape[0]
        flat = s.view(batch, -1)
        count = flat.sum(1, keepdim=True)  # [B, 1]
        overflow.logical_or_((count > self.k).any())
        pos = flat.cumsum(1) - 1
        # Spiking neuron j goes to slot pos[j] (< k); everything else to slot k (discarded).
        pos = torch.where(flat & (pos < self.k), pos, self.k)
        self.slots.zero_()
        self.slots.scatter_(1, pos, self.arange)
        idx = self.slots[:, : self.k]
        weights = (self.slot_range < count).to(self.conn.w.dtype)  # padding slots weigh 0
        out = F.embedding_bag(idx, self.conn.w, per_sample_weights=weights, mode="sum")
        return out if self.conn.b is None else out + self.conn.b


def eligible(network, plan, updates) -> bool:
    """Whether this run's blocks can be replayed from a graph."""
    if any(st.clamp is not None or st.unclamp is not None or st.inject is not None for st in plan["steppers"]):
        return False
    if updates:  # weights change (learning or masks)
        return False
    for layer in network.layers.values():
        if isinstance(layer, SRM0Nodes) or (isinstance(layer, DiehlAndCookNodes) and layer.one_spike):
            return False  # random draws inside a step
    for conn in network.connections.values():
        if type(conn) is not Connection:
            return False
    for monitor in network.monitors.values():
        for m in monitor.monitors.values() if isinstance(monitor, NetworkMonitor) else [monitor]:
            if not isinstance(m, Monitor) or m.every != 1 or (m.time is not None and m.time < BLOCK):
                return False
    return True


class GraphRunner:
    """Captures and replays blocks of ``BLOCK`` steps for one network."""

    def __init__(self, network, capture: bool = True, propagator: str = "auto") -> None:
        self.network = network
        self.capture = capture
        self.propagator = propagator  # "auto" (Triton on a GPU if installed), "triton" or "compact"
        self._key = None
        self._graph = None
        self.failed: Optional[str] = None  # why the graph path was given up, if it was
        self._lengths_seen: Dict[int, int] = {}

    # ------------------------------------------------------------- structure
    def _monitors(self) -> List[Monitor]:
        out = []
        for monitor in self.network.monitors.values():
            out.extend(monitor.monitors.values() if isinstance(monitor, NetworkMonitor) else [monitor])
        return out

    def _state_tensors(self) -> List[torch.Tensor]:
        """What a block changes: every layer's state (and adaptive theta)."""
        tensors = []
        for layer in self.network.layers.values():
            tensors.extend(layer.__dict__[k] for k in sorted(layer.__dict__.get("_state_keys", ())))
            if "theta" in layer._buffers:
                tensors.append(layer._buffers["theta"])
        return tensors

    def _read_tensors(self) -> List[torch.Tensor]:
        """Everything a captured graph reads by address (state and per-neuron parameters)."""
        tensors = self._state_tensors()
        for layer in self.network.layers.values():
            tensors.extend(v for _, v in sorted(layer.__dict__.items()) if isinstance(v, torch.Tensor))
        return tensors

    def _setup(self, plan, ext_block: Dict[str, torch.Tensor]) -> None:
        """(Re)build static buffers and the graph when anything they read moved."""
        net = self.network
        # Recorders must exist (with their staging buffers) before capture.
        records = []
        for m in self._monitors():
            for var in m.state_vars:
                value = getattr(m.obj, var)
                rec = m._recorders.get(var)
                if rec is None or rec.shape != tuple(value.shape):
                    from .monitors import _Recorder

                    device = m.device if m.device is not None else value.device
                    rec = m._recorders[var] = _Recorder(value, m.time, device, m._stages.get(var))
                records.append((m, var, rec))
        ext_specs = tuple((k, tuple(v.shape[1:]), v.dtype) for k, v in sorted(ext_block.items()) if v is not None)
        structure = tuple(
            (st.name, id(st.layer), tuple(id(c) for _, c in st.step_conns), tuple(id(c) for _, c in st.block_conns))
            for st in plan["steppers"]
        )
        # Monitors are re-made by resets: always write into the current recorders.
        self.records = records
        key = (
            structure,
            plan["one_step"],
            net.batch_size,
            ext_specs,
            tuple(t.data_ptr() for t in self._read_tensors()),
            tuple(c.w.data_ptr() for c in net.connections.values()),
            tuple(rec.stage.data_ptr() for _, _, rec in records),
        )
        if key == self._key:
            return
        self._key = key
        self.ext_static = {
            name: torch.zeros((BLOCK, *shape), dtype=dtype, device=net._device()) for name, shape, dtype in ext_specs
        }
        self.overflow = torch.zeros((), dtype=torch.bool, device=net._device())
        make = self._propagator_class()
        self.props = {
            id(conn): make(conn, net.batch_size)
            for st in plan["steppers"]
            for _, conn in st.step_conns
        }
        self.plan = plan
        self.can_overflow = any(isinstance(p, _Propagator) for p in self.props.values())
        self._plan_fused_steps(plan)
        self._graphs: Dict[int, "torch.cuda.CUDAGraph"] = {}

    def _graph_for(self, steps: int):
        """The captured graph of a block of ``steps`` steps (captured on first use)."""
        graph = self._graphs.get(steps)
        if graph is None:
            if len(self._graphs) >= MAX_GRAPHS:
                self._graphs.pop(next(iter(self._graphs)))
            snapshot = self._snapshot()
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                self._body(1)  # warm-up (kernel compilation, library handles) outside capture
            torch.cuda.current_stream().wait_stream(stream)
            self._restore(snapshot)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._body(steps)
            self._graphs[steps] = graph
        return graph

    def _plan_fused_steps(self, plan) -> None:
        """LIF/IF layers get one Triton kernel per step (with Triton's propagation only)."""
        self.fused_steps, self.fused_outs = {}, {}
        triton_props = bool(self.props) and all(not isinstance(p, _Propagator) for p in self.props.values())
        use = (triton_props or (not self.props and self._propagator_class() is not _Propagator))
        if use:
            from .kernels import SpikingStep

            for st in plan["steppers"]:
                layer = st.layer
                if type(layer) in (LIFNodes, IFNodes) and not layer.traces and not layer.sum_input:
                    self.fused_steps[st.name] = SpikingStep(layer, leak=type(layer) is LIFNodes)
                    self.fused_outs[st.name] = {}
        self.copied_records = []
        outs = {"v": "out_v", "s": "out_s", "refrac_count": "out_r"}
        for m, var, rec in self.records:
            name = next((n for n, l in self.network.layers.items() if l is m.obj), None)
            if name in self.fused_steps and var in outs and outs[var] not in self.fused_outs[name]:
                self.fused_outs[name][outs[var]] = rec
            else:
                self.copied_records.append((m, var, rec))

    def _propagator_class(self):
        want = self.propagator
        if want == "auto":
            want = "triton" if self.network._device().type == "cuda" and _have_triton() else "compact"
        if want == "triton":
            from .kernels import TritonPropagator

            return TritonPropagator
        return _Propagator

    def _snapshot(self) -> List[torch.Tensor]:
        return [t.clone() for t in self._state_tensors()]

    def _restore(self, snapshot: List[torch.Tensor]) -> None:
        for t, saved in zip(self._state_tensors(), snapshot):
            t.copy_(saved)

    # ------------------------------------------------------------------ body
    def _body(self, steps: int) -> None:
        """``steps`` steps reading the static inputs, writing the monitors' staging rows."""
        net = self.network
        plan = self.plan
        steppers = plan["steppers"]
        one_step = plan["one_step"]
        batch = net.batch_size
        ext = self.ext_static
        fixed = net._fixed_inputs(plan, ext, 0, 0, steps)
        self.overflow.zero_()
        for j in range(steps):
            if not one_step:
                drives = [self._inputs(st, ext, fixed, j, batch) for st in steppers]
            for i, st in enumerate(steppers):
                x = drives[i] if not one_step else self._inputs(st, ext, fixed, j, batch)
                step = self.fused_steps.get(st.name)
                if step is None:
                    st.layer.forward(x, None, None)
                else:  # one kernel: input sum, update, and the monitors' rows
                    outs = {k: rec.stage[j] for k, rec in self.fused_outs[st.name].items()}
                    step(*x, **outs)
            for m, var, rec in self.copied_records:
                rec.stage[j].copy_(getattr(m.obj, var))

    def _inputs(self, st, ext, fixed, j: int, batch: int):
        """A layer's input: a tensor, or for a fused step its (connections, block product, external) parts."""
        if st.name not in self.fused_steps:
            return self._drive(st, ext, fixed, j, batch)
        c = None
        for _, conn in st.step_conns:
            out = self._propagate(conn)
            c = out if c is None else c + out
        f = fixed.get(st.name)
        e = ext.get(st.name)
        return c, None if f is None else f[j], None if e is None else e[j]

    def _drive(self, st, ext, fixed, j: int, batch: int) -> Optional[torch.Tensor]:
        return self.network._drive(st, ext, fixed, j, batch, propagate=self._propagate)

    def _propagate(self, conn) -> torch.Tensor:
        return self.props[id(conn)](conn.source.s, self.overflow)

    # ------------------------------------------------------------------- run
    def run_block(self, plan, ext_block: Dict[str, torch.Tensor], steps: int) -> bool:
        """Simulate one block of ``steps`` (<= BLOCK) steps.

        Returns False, with the state as before, if the block must be run by
        the eager path instead (a step overflowed the capacity, or capture
        failed: then the runner stays off for this network).
        """
        if self.failed or steps > BLOCK:
            return False
        # A length other than a full block (a run's tail) is captured once it recurs
        # (lab chunks, repeated runs); the first time, the eager path is cheaper.
        seen = self._lengths_seen.get(steps, 0)
        self._lengths_seen[steps] = seen + 1
        if steps != BLOCK and seen == 0 and self.capture:
            return False
        for m in self._monitors():
            for rec in m._recorders.values():
                rec.flush()  # staging rows start at 0 in the graph
        try:
            self._setup(plan, ext_block)
            graph = self._graph_for(steps) if self.capture else None
        except Exception as ex:  # capture is best-effort: the eager path is always right
            self.failed = f"{type(ex).__name__}: {ex}"
            self._key = None
            return False
        for name, buf in self.ext_static.items():
            buf[:steps].copy_(ext_block[name])
        snapshot = self._snapshot() if self.can_overflow else None
        if graph is not None:
            graph.replay()
        else:
            self._body(steps)
        if self.can_overflow and bool(self.overflow):  # the block's one host sync
            self._restore(snapshot)
            return False
        for m in self._monitors():
            m._tick += steps
        for _, _, rec in self.records:
            rec.stage_n = steps
            rec.total += steps
            rec.flush()
        return True
