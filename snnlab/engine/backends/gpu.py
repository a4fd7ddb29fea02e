"""The GPU back-ends: CUDA-graph replay of blocks of steps, Triton kernels.

Back-ends (see :mod:`snnlab.engine.backends.base`):

* ``"cuda-graphs"``: blocks captured as CUDA graphs and replayed (CUDA only);
* ``"triton"``: the same step code without capture, with the Triton kernels
  for propagation and the LIF/IF step; runs on a CUDA GPU or, with
  ``TRITON_INTERPRET=1``, on the CPU in Triton's interpreter (for tests);
* ``"graph-emulate"``: the captured code without capture and with the
  portable compact propagator, on any device (``network.cuda_graphs = "emulate"``).

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
kernels of :mod:`snnlab.engine.backends.triton_kernels` instead: they loop over the spike
count read on the device, so nothing can overflow.

Eligible runs: CUDA tensors; learning by rules written as descriptions
(PostPre, WeightDependentPostPre, Hebbian, MSTDP, MSTDPET, DiehlAndCook, Rmax, ... and NoOp's decay
and bounds; their updates run inside the block, after the layers, with dense
outer products, then the masks; a rule's own state is written in place and the
run's reward read from a static buffer); clamp, unclamp and injects_v (read from static buffers; such layers
run the eager step, not the generated Triton kernel); dense and sparse connections, and the
structured kinds that declare a capture-safe ``graph_propagation`` (convolution, max-pooling,
local, mean-field, multicompartment: their own ``compute``; max-pooling's running rates
are made before capture and restored with the state); monitors recording
every step with a window of at least ``BLOCK`` rows. Random draws inside a step
(SRM0's escape noise, Diehl & Cook's one winner) come from torch's CUDA
generator, which a captured graph advances on every replay (fresh numbers each
block; the stream is not the eager path's, the distribution is).
A captured graph holds the values of scalar parameters, so the graph key
includes them: a changed parameter means a new capture.

The same code runs without capture on any device (``capture=False``), which is
how its logic is tested on machines without a GPU.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

import os

from ...dynamics import parameters_of
from ...dynamics.model import static_shapes
from ..monitors import Monitor
from ...dynamics.rules import NoOp, reward_values
from ...dynamics.topology import Connection
from .base import Backend, cache_for
from .eager import drive, external_block, fixed_inputs

try:  # optional: Triton ships with PyTorch's CUDA builds
    from . import triton_kernels
except ImportError:
    triton_kernels = None

BLOCK = 64
MAX_GRAPHS = 4  # block lengths kept captured (a run's full blocks, its tail, a lab chunk)


def _capacity(n: int) -> int:
    """Spikes per step and sample that the compacted path can hold."""
    return min(n, max(64, n // 8))


def _have_triton() -> bool:
    return triton_kernels is not None


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


def why_not(plan, capture: bool = True):
    """None if the graph code can run this plan, else why not."""
    for u in plan.updates:
        rule = u.conn.update_rule
        if u.learn and not (type(rule).described() or type(rule) is NoOp):
            return f"the learning rule {type(rule).__name__} of connection {u.key} is written by hand (eager only)"
        if u.learn and _uses_reward(rule) and plan.reward is None:
            return f"the learning rule {type(rule).__name__} of connection {u.key} needs a reward (none given)"
    for key, conn in plan.connections:
        if graph_propagation(conn) is None:
            return (f"connection {key} is a {type(conn).__name__}, which declares no capture-safe "
                    f"propagation (graph_propagation)")
    for m in plan.monitors:
        if m.every != 1 or (m.time is not None and m.time < BLOCK):
            return f"a monitor records every {m.every} steps or keeps a window shorter than {BLOCK} steps"
    return None


def graph_propagation(conn) -> Optional[str]:
    """How the graph path propagates ``conn`` ("rows", "compute"), None if it does not:
    the class's own declaration only (a subclass may compute otherwise)."""
    return type(conn).__dict__.get("graph_propagation")


class _ComputePropagator:
    """A connection's own ``compute``, declared capture-safe: SparseConnection (every
    synapse's pre-spike times weight, summed into the targets: shapes fixed by the
    synapse count), convolution, pooling, local, mean-field, multicompartment."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def __call__(self, s: torch.Tensor, overflow: torch.Tensor) -> torch.Tensor:
        return self.conn.compute(s)


def _general(rule) -> bool:
    """Whether a described rule keeps its own state or reads a reward."""
    return rule.model is not None and rule.model.general


def _uses_reward(rule) -> bool:
    return rule.needs_reward or (rule.model is not None and rule.model.uses_reward)


def _forcing(lp) -> dict:
    """A layer's ``{"clamp"|"unclamp"|"inject": (tensor, per_step)}`` in this plan."""
    return {kind: value for kind, value in (("inject", lp.inject), ("clamp", lp.clamp), ("unclamp", lp.unclamp))
            if value is not None}


def _scalar_values(objects) -> tuple:
    """The non-tensor parameter values and decay factors of ``objects`` (a captured
    graph holds them as constants; tensors are read by address instead)."""
    out = []
    for obj in objects:
        try:
            record = {name: value for name, (_, value) in parameters_of(obj).items()}
        except TypeError:  # an object without a parameter record: its plain number attributes
            record = {k: v for k, v in vars(obj).items() if isinstance(v, (bool, int, float, tuple))}
        values = [(name, value) for name, value in record.items() if not isinstance(value, torch.Tensor)]
        decays = getattr(obj, "decays", None)
        if isinstance(decays, dict):
            values.extend((name, value) for name, value in sorted(decays.items()) if not isinstance(value, torch.Tensor))
        out.append(repr(values))
    return tuple(out)


class GraphRunner:
    """Captures and replays blocks of ``BLOCK`` steps for one network."""

    def __init__(self, capture: bool = True, propagator: str = "auto") -> None:
        self.capture = capture
        self.propagator = propagator  # "auto" (Triton on a GPU if installed), "triton" or "compact"
        self._key = None
        self._graph = None
        self.failed: Optional[str] = None  # why the graph path was given up, if it was
        self._lengths_seen: Dict[int, int] = {}

    # ------------------------------------------------------------- structure
    def _state_tensors(self) -> List[torch.Tensor]:
        """What a block changes: every layer's state (and adaptive theta), and learnt weights."""
        tensors = []
        for lp in self.plan.layers:
            tensors.extend(lp.layer.state_tensors().values())
        tensors.extend(u.conn.weights() for u in self.plan.updates)
        tensors.extend(self.rule_states)
        tensors.extend(self.conn_states)
        return tensors

    def _read_tensors(self, plan) -> List[torch.Tensor]:
        """Everything a captured graph reads by address (state, per-neuron parameters, coupling)."""
        tensors = []
        for lp in plan.layers:
            tensors.extend(lp.layer.tensors())
        return tensors

    def _setup(self, plan, ext_block: Dict[str, torch.Tensor]) -> None:
        """(Re)build static buffers and the graph when anything they read moved."""
        # Recorders must exist (with their staging buffers) before capture.
        records = [(m, var, m.recorder(var)) for m in plan.monitors for var in m.state_vars]
        ext_specs = tuple((k, tuple(v.shape[1:]), v.dtype) for k, v in sorted(ext_block.items()) if v is not None)
        # clamp / unclamp / injects_v: read from static buffers, a row per step or one for the run
        forcing_specs = tuple(
            (lp.name, kind, per_step, tuple(t.shape[1:] if per_step else t.shape), t.dtype)
            for lp in plan.layers
            for kind, (t, per_step) in _forcing(lp).items()
        )
        structure = tuple(
            (lp.name, id(lp.layer), tuple(id(c) for _, c in lp.step_conns), tuple(id(c) for _, c in lp.block_conns))
            for lp in plan.layers
        )
        # Monitors are re-made by resets: always write into the current recorders.
        self.records = records
        # Rules with state: their tensors made (outside capture) for this batch, written in place.
        self.rule_states = [t for u in plan.updates if u.learn and _general(u.conn.update_rule)
                            for t in u.conn.update_rule.ensure_state(plan.batch, plan.device).values()]
        # What connections update as they propagate (max-pooling's rates): made outside capture, in place.
        self.conn_states = [t for _, c in plan.connections for t in c.propagation_state(plan.batch, plan.device).values()]
        rewarded = any(u.learn and _uses_reward(u.conn.update_rule) for u in plan.updates)
        reward = reward_values("reward", plan.reward, plan.batch, plan.device) if rewarded else None
        key = (
            structure,
            plan.one_step,
            plan.batch,
            plan.dt,
            ext_specs,
            forcing_specs,
            tuple((u.key, tuple(u.mask.shape)) for u in plan.updates if u.mask is not None),
            tuple(t.data_ptr() for t in self._read_tensors(plan)),
            tuple(c.weights().data_ptr() for _, c in plan.connections),
            tuple(rec.stage.data_ptr() for _, _, rec in records),
            # the flags a step tests (lbound set, S nonzero, ...): a captured graph holds their values
            tuple(lp.layer.flags() for lp in plan.layers if hasattr(lp.layer, "flags")),
            # so do the scalar parameters (thresh, nu, bounds, ...) and which weights learn
            _scalar_values([lp.layer for lp in plan.layers] + [c for _, c in plan.connections]
                           + [u.conn.update_rule for u in plan.updates]),
            tuple((u.key, u.learn) for u in plan.updates),
            tuple(t.data_ptr() for t in self.rule_states),
            tuple(t.data_ptr() for t in self.conn_states),
            None if reward is None else tuple(reward.shape),
        )
        self.reward_now = reward
        self.plan = plan
        if key == self._key:
            return
        self._key = key
        device = plan.device
        self.ext_static = {
            name: torch.zeros((BLOCK, *shape), dtype=dtype, device=device) for name, shape, dtype in ext_specs
        }
        self.mask_static = {u.key: torch.zeros(u.mask.shape, dtype=torch.bool, device=device)
                            for u in plan.updates if u.mask is not None}
        self.reward_static = None if reward is None else torch.zeros(reward.shape, dtype=torch.float32, device=device)
        self.forcing_static: Dict[str, Dict[str, tuple]] = {}
        for name, kind, per_step, shape, dtype in forcing_specs:
            buf = torch.zeros((BLOCK, *shape) if per_step else shape, dtype=dtype, device=device)
            self.forcing_static.setdefault(name, {})[kind] = (buf, per_step)
        self.overflow = torch.zeros((), dtype=torch.bool, device=device)
        make = self._propagator_class()
        self.props = {
            id(conn): make(conn, plan.batch) if graph_propagation(conn) == "rows" else _ComputePropagator(conn)
            for lp in plan.layers
            for _, conn in lp.step_conns
        }
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
        """Layers whose step is elementwise get one generated Triton kernel per step
        (with Triton's propagation only); the others run their eager step."""
        self.fused_steps, self.fused_outs = {}, {}
        # (Triton steps where the propagation is Triton's too: the dense connections' kernel is chosen)
        use = self._propagator_class() is not _Propagator
        wanted = {}
        for m, var, rec in self.records:
            wanted.setdefault(id(m.obj), []).append(var)
        if use:
            for lp in plan.layers:
                layer = lp.layer
                if _forcing(lp):  # the generated kernel has no clamp or injection
                    continue
                if layer.described() and triton_kernels.step_supported(layer):
                    step = triton_kernels.ModelStep(layer, recorded=tuple(dict.fromkeys(wanted.get(id(layer), ()))))
                    self.fused_steps[lp.name] = step
                    self.fused_outs[lp.name] = {}
        self.copied_records = []
        for m, var, rec in self.records:
            name = next((lp.name for lp in plan.layers if lp.layer is m.obj), None)
            step = self.fused_steps.get(name)
            if step is not None and var in step.recorded and var not in self.fused_outs[name]:
                self.fused_outs[name][var] = rec
            else:
                self.copied_records.append((m, var, rec))

    def _propagator_class(self):
        want = self.propagator
        if want == "auto":
            want = "triton" if self.plan.device.type == "cuda" and _have_triton() else "compact"
        if want == "triton":
            return triton_kernels.TritonPropagator
        return _Propagator

    def _snapshot(self) -> List[torch.Tensor]:
        return [t.clone() for t in self._state_tensors()]

    def _restore(self, snapshot: List[torch.Tensor]) -> None:
        for t, saved in zip(self._state_tensors(), snapshot):
            t.copy_(saved)

    # ------------------------------------------------------------------ body
    def _body(self, steps: int) -> None:
        """``steps`` steps reading the static inputs, writing the monitors' staging rows."""
        plan = self.plan
        ext = self.ext_static
        fixed = fixed_inputs(plan, ext, 0, 0, steps)
        self.overflow.zero_()
        with static_shapes():
            self._steps(plan, ext, fixed, steps)

    def _steps(self, plan, ext, fixed, steps: int) -> None:
        layers = plan.layers
        one_step = plan.one_step
        batch = plan.batch
        for j in range(steps):
            if not one_step:
                drives = [self._inputs(lp, ext, fixed, j, batch) for lp in layers]
            for i, lp in enumerate(layers):
                x = drives[i] if not one_step else self._inputs(lp, ext, fixed, j, batch)
                step = self.fused_steps.get(lp.name)
                forced = self.forcing_static.get(lp.name)
                if forced is not None:
                    lp.layer.forward(x, *self._forcing_rows(lp.layer, forced, j))
                elif step is None:
                    lp.layer.forward(x, None, None)
                else:  # one kernel: input sum, update, and the monitors' rows
                    step(*x, outs={k: rec.stage[j] for k, rec in self.fused_outs[lp.name].items()})
            for u in plan.updates:
                u.conn.update(learning=u.learn, mask=self.mask_static.get(u.key), reward=self.reward_static)
            for m, var, rec in self.copied_records:
                rec.stage[j].copy_(getattr(m.obj, var))

    @staticmethod
    def _forcing_rows(layer, forced: dict, j: int):
        """Step ``j``'s clamp and unclamp (None where absent), after adding injects_v to ``v``."""
        rows = {kind: buf[j] if per_step else buf for kind, (buf, per_step) in forced.items()}
        if "inject" in rows:
            layer.v.add_(rows["inject"])
        return rows.get("clamp"), rows.get("unclamp")

    def _inputs(self, lp, ext, fixed, j: int, batch: int):
        """A layer's input: a tensor, or for a fused step its (connections, block product, external) parts."""
        if lp.name not in self.fused_steps:
            return drive(lp, ext, fixed, j, batch, propagate=self._propagate)
        c = None
        for _, conn in lp.step_conns:
            out = self._propagate(conn)
            c = out if c is None else c + out
        f = fixed.get(lp.name)
        e = ext.get(lp.name)
        return c, None if f is None else f[j], None if e is None else e[j]

    def _propagate(self, conn) -> torch.Tensor:
        return self.props[id(conn)](conn.source.s, self.overflow)

    # ------------------------------------------------------------------- run
    def run_block(self, plan, ext_block: Dict[str, torch.Tensor], steps: int, first_step: int = 0) -> bool:
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
        capture = self.capture and (steps == BLOCK or seen > 0)
        for m in plan.monitors:
            for var in m.state_vars:
                m.recorder(var).flush()  # staging rows start at 0 in the graph
        try:
            self._setup(plan, ext_block)
            graph = self._graph_for(steps) if capture else None
        except Exception as ex:  # capture is best-effort: the eager path is always right
            self.failed = f"{type(ex).__name__}: {ex}"
            self._key = None
            return False
        for name, buf in self.ext_static.items():
            buf[:steps].copy_(ext_block[name])
        for u in plan.updates:
            if u.mask is not None:
                self.mask_static[u.key].copy_(u.mask)
        if self.reward_static is not None:
            self.reward_static.copy_(self.reward_now)
        for lp in plan.layers:
            for kind, (t, per_step) in _forcing(lp).items():
                buf = self.forcing_static[lp.name][kind][0]
                (buf[:steps] if per_step else buf).copy_(t[first_step:first_step + steps] if per_step else t)
        snapshot = self._snapshot() if self.can_overflow else None
        if graph is not None:
            graph.replay()
        else:
            self._body(steps)
        if self.can_overflow and bool(self.overflow):  # the block's one host sync
            self._restore(snapshot)
            return False
        for m in plan.monitors:
            m.advance(steps)
        for _, _, rec in self.records:
            rec.commit_staged(steps)
        return True


class GraphBackend(Backend):
    """Blocks of ``BLOCK`` steps through :class:`GraphRunner` (see the module docstring)."""

    block_steps = BLOCK

    def __init__(self, name: str, capture: bool, propagator: str) -> None:
        self.name = name
        self.capture = capture
        self.propagator = propagator

    def unavailable_reason(self):
        if self.capture and not torch.cuda.is_available():
            return "no CUDA device"
        if self.propagator == "triton":
            if not _have_triton():
                return "Triton is not installed"
            if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
                return "no CUDA device (set TRITON_INTERPRET=1 to run the kernels on the CPU, slowly)"
        return None

    def enabled_for(self, network, plan) -> bool:
        mode = network.cuda_graphs
        if self.name == "graph-emulate":
            return mode == "emulate"
        if self.name == "triton":
            return False  # only when asked for (use_backend): on a GPU, cuda-graphs is faster
        return mode is not False and mode != "emulate" and plan.device.type == "cuda"

    def why_not(self, plan):
        if self.capture and plan.device.type != "cuda":
            return f"it runs on a CUDA device, the network is on {plan.device}"
        if self.propagator == "triton" and plan.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            return f"Triton kernels need a CUDA device or TRITON_INTERPRET=1; the network is on {plan.device}"
        return why_not(plan, capture=self.capture)

    def runner(self, network) -> "GraphRunner":
        cache = cache_for(network, self.name)
        runner = cache.get("runner")
        if runner is None:
            runner = cache["runner"] = GraphRunner(capture=self.capture, propagator=self.propagator)
        return runner

    def run_block(self, network, plan, ext, start, b0, b1) -> bool:
        runner = self.runner(network)
        if runner.failed:
            cache_for(network, self.name)["failed"] = runner.failed
            return False
        ok = runner.run_block(plan, external_block(plan, ext, start, b0, b1), b1 - b0, first_step=b0)
        if not ok:
            cache_for(network, self.name)["failed"] = runner.failed or "a step had more spikes than the propagator holds"
        return ok
