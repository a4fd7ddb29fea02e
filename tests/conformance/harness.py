"""Runs one network through snnlab's public API on a chosen back-end and
through the NumPy reference, and compares them step by step.

Back-ends: with the engine's back-end API (``snnlab.engine.available_backends()``,
``snnlab.engine.use_backend(name)``, ``network.last_backend``) every back-end
it lists is forced in turn, and the test asserts that the forced back-end
really ran: a fast path that silently fell back to eager fails. A back-end
that refuses a run (the engine's "cannot run this plan" error) makes the cell
an explicit xfail naming the back-end and the reason.

Before that API exists (the engine of today), the back-ends are selected with
the switches the engine has (``Network.cpu_kernels``, ``SNNLAB_NUMBA``,
``Network.cuda_graphs = "emulate"``), and what ran is observed by counting
calls of the fast paths' block runners. There a fall-back to eager is the
engine's documented behaviour, so it shows as an xfail with the reason, except
for the cases the fast paths are documented to take (see ``LEGACY_MUST_RUN``),
where it fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Callable, Dict, List, Optional

import numpy as np
import pytest
import torch

from .reference import ConnSpec, LayerSpec, ReferenceNetwork

NODE_CLASSES = {
    "Input": "Input",
    "McCullochPitts": "McCullochPitts",
    "IF": "IFNodes",
    "LIF": "LIFNodes",
    "CurrentLIF": "CurrentLIFNodes",
    "AdaptiveLIF": "AdaptiveLIFNodes",
    "DiehlAndCook": "DiehlAndCookNodes",
    "Izhikevich": "IzhikevichNodes",
    "SRM0": "SRM0Nodes",
    "BoostedLIF": "BoostedLIFNodes",
    "CSRM": "CSRMNodes",
}
#: the reference's rule names that are not the class's name in snnlab.learning
RULE_CLASSES = {"DiehlAndCookRule": "DiehlAndCook"}
RUN_UP = 3
LAYER_STATE = ("v", "refrac_count", "x", "theta", "u", "i")


class Unsupported(Exception):
    """A back-end does not take this run (yet); the cell becomes an xfail."""


# ----------------------------------------------------------------- back-ends
def engine_api():
    """``snnlab.engine`` when it has the back-end API, else None."""
    try:
        import snnlab.engine as engine
    except ImportError:
        return None
    if all(hasattr(engine, n) for n in ("available_backends", "use_backend")):
        return engine
    return None


def legacy_backends() -> List[str]:
    from snnlab.network import fused

    names = ["eager"]
    if fused.available():
        names.append("numba")
    names.append("graphs-emulate")  # the CUDA-graph path's code, run without capture
    return names


def available_backends() -> List[str]:
    engine = engine_api()
    if engine is not None:
        return list(engine.available_backends())
    return legacy_backends()


def _is_refusal(engine, exc: BaseException) -> bool:
    """Whether ``exc`` is the engine refusing a forced back-end for this run
    (a dedicated class if the engine has one, else its ValueError "cannot run")."""
    for name in ("BackendUnsupported", "UnsupportedPlan", "Unsupported", "UnsupportedError"):
        cls = getattr(engine, name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return True
    return isinstance(exc, ValueError) and "cannot run" in str(exc)


@contextlib.contextmanager
def _count_calls(cls, method: str, counter: list, success=lambda r: True):
    original = getattr(cls, method)

    def spy(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if success(result):
            counter.append(1)
        return result

    setattr(cls, method, spy)
    try:
        yield
    finally:
        setattr(cls, method, original)


def run_on(backend: str, net, **run_kwargs) -> str:
    """``net.run(**run_kwargs)`` on ``backend``; returns the back-end that ran.

    Raises :class:`Unsupported` when the back-end does not take the run.
    """
    engine = engine_api()
    if engine is not None:
        try:
            with engine.use_backend(backend):
                net.run(**run_kwargs)
        except (ValueError, NotImplementedError) as exc:
            if not _is_refusal(engine, exc):
                raise
            raise Unsupported(str(exc)) from exc
        ran = getattr(net, "last_backend", None)
        assert ran == backend, f"forced back-end {backend!r}, but {ran!r} ran"
        return ran
    return _run_legacy(backend, net, **run_kwargs)


def _run_legacy(backend: str, net, **run_kwargs) -> str:
    from snnlab.network import fused, graphs

    net.cpu_kernels = backend == "numba"
    net.cuda_graphs = "emulate" if backend == "graphs-emulate" else False
    calls: list = []
    if backend == "eager":
        net.run(**run_kwargs)
        return "eager"
    if backend == "numba":
        with _count_calls(fused.FusedRunner, "run_block", calls):
            net.run(**run_kwargs)
    elif backend == "graphs-emulate":
        with _count_calls(graphs.GraphRunner, "run_block", calls, success=bool):
            net.run(**run_kwargs)
    else:
        raise ValueError(f"unknown back-end {backend!r}")
    if not calls:
        raise Unsupported(f"{backend}: this engine runs this case on the eager path (no forcing API yet)")
    return backend


# ------------------------------------------------------------------ building
def build_snnlab(layers, conns, dt: float = 1.0):
    """The network of ``layers`` / ``conns`` through snnlab's public API.

    Returns ``(network, monitors)``; the monitors record ``s`` and, where the
    layer has them, ``v`` and the traces ``x`` every step.
    """
    import snnlab.learning as learning
    from snnlab.network import Network, nodes, topology
    from snnlab.network.monitors import Monitor

    net = Network(dt=dt)
    made = {}
    for name, spec in layers:
        cls = getattr(nodes, NODE_CLASSES[spec.model])
        size = {"n": spec.n} if spec.shape is None else {"shape": tuple(spec.shape)}
        kwargs = dict(**size, traces=spec.traces, traces_additive=spec.traces_additive,
                      tc_trace=spec.tc_trace, trace_scale=spec.trace_scale)
        for key, value in spec.params.items():
            if key in ("a", "b", "c", "d", "S"):
                continue
            if isinstance(value, np.ndarray):  # per neuron, in the layer's shape
                value = torch.tensor(np.asarray(value, dtype=np.float32).reshape(spec.shape or (spec.n,)))
            kwargs[key] = value
        layer = cls(**kwargs)
        if spec.model == "Izhikevich":
            for key in ("a", "b", "c", "d", "S"):
                setattr(layer, key, torch.tensor(np.asarray(spec.params[key], dtype=np.float32)))
        net.add_layer(layer, name=name)
        made[name] = layer
    for c in conns:
        kw = dict(nu=c.nu, update_rule=getattr(learning, RULE_CLASSES.get(c.rule, c.rule)), wmin=c.wmin, wmax=c.wmax, norm=c.norm,
                  weight_decay=c.weight_decay)
        if c.rule in ("MSTDP", "MSTDPET"):  # the rule's own parameters, through the connection
            kw.update(tc_plus=c.tc_plus, tc_minus=c.tc_minus, a_plus=c.a_plus, a_minus=c.a_minus)
            if c.rule == "MSTDPET":
                kw["tc_e_trace"] = c.tc_e_trace
        if c.rule == "DiehlAndCookRule":
            kw.update(x_tar=c.x_tar, mu=c.mu)
        if c.rule == "Rmax":
            kw.update(tc_c=c.tc_c, tc_e_trace=c.tc_e_trace)
        w = torch.tensor(np.asarray(c.w, dtype=np.float32))
        if c.kind == "dense":
            b = None if c.b is None else torch.tensor(np.asarray(c.b, dtype=np.float32))
            conn = topology.Connection(made[c.source], made[c.target], w=w, b=b, **kw)
        else:
            conn = topology.SparseConnection(made[c.source], made[c.target], w=w, **kw)
        net.add_connection(conn, source=c.source, target=c.target)
    monitors = {}
    for name, spec in layers:
        layer = made[name]
        names = ["s"] + [v for v in ("v", "x") if isinstance(getattr(layer, v, None), torch.Tensor)]
        monitors[name] = Monitor(layer, tuple(names))
        net.add_monitor(monitors[name], name=name)
    return net, monitors


def _torchify(d, device="cpu"):
    if d is None:
        return None
    out = {}
    for k, v in d.items():
        a = np.asarray(v)
        out[k] = (torch.tensor(a) if a.dtype == bool else torch.tensor(a.astype(np.float32))).to(device)
    return out


def device_for(backend: str) -> torch.device:
    """Where ``backend``'s networks live: the GPU back-ends run on a CUDA device when
    there is one (without one, Triton runs on the CPU through TRITON_INTERPRET=1)."""
    if backend in ("triton", "cuda-graphs") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


# ---------------------------------------------------------------- comparing
@dataclasses.dataclass
class Segment:
    """One ``run`` call: inputs ``[T, B, n]`` per layer and the run options."""

    steps: int
    inputs: Dict[str, np.ndarray]
    # clamp, unclamp, injects_v, masks, reward, one_step (as Network.run), and
    # reset_before (reset_state_variables() first), train (network.train(mode) first)
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Case:
    """A network and the runs to compare."""

    name: str
    layers: list
    conns: list
    segments: List[Segment]
    dt: float = 1.0
    guided: tuple = ()  # layers whose random choices the reference takes from snnlab
    atol: float = 1e-4
    rtol: float = 1e-5
    train: bool = True
    # Izhikevich: v is not compared at a spike's step and the RUN_UP steps before
    # it, where the quadratic run-up to the spike amplifies rounding without bound
    # (the spikes themselves are still compared exactly).
    skip_run_up: bool = False


class _Oracle:
    """Hands the reference snnlab's random choices and checks they were allowed."""

    def __init__(self):
        self.spikes: Dict[str, np.ndarray] = {}
        self.offset = 0
        self.srm0_expected = 0.0
        self.srm0_var = 0.0
        self.srm0_seen = 0

    def __call__(self, kind, layer, step, **info):
        s = self.spikes[layer][step]  # [B, n]
        if kind == "winner":
            row = s[info["sample"]]
            won = np.flatnonzero(row)
            assert len(won) == 1, (
                f"{layer} step {self.offset + step}: one_spike layer reported {len(won)} spikes in sample "
                f"{info['sample']} though neurons {list(info['candidates'])} crossed threshold"
            )
            return int(won[0])
        if kind == "srm0":
            p = info["p"][info["allowed"]]
            self.srm0_expected += float(p.sum())
            self.srm0_var += float((p * (1 - p)).sum())
            self.srm0_seen += int(s[info["allowed"]].sum())
            return s
        raise ValueError(kind)


def _first_difference(a, b) -> str:
    idx = np.argwhere(a != b)[0]
    return f"first at [step, sample, neuron] = {tuple(int(i) for i in idx)}: snnlab {a[tuple(idx)]}, reference {b[tuple(idx)]}"


def compare_case(case: Case, backend: str) -> dict:
    """Run ``case`` on ``backend`` and on the reference; assert they agree.

    Spikes must agree exactly at every step; ``v`` and traces ``x`` at every
    step, and every other state (refrac_count, theta, u, i) and the weights
    after every run, within ``atol``/``rtol``. Returns a summary (spike counts).
    """
    net, monitors = build_snnlab(case.layers, case.conns, case.dt)
    if backend in ("triton", "cuda-graphs") and any(spec.model == "Izhikevich" for _, spec in case.layers):
        # The GPU kernels sum a step's input in another float32 order; Izhikevich's
        # v**2 term grows that rounding to ~1 mV over a run. Spikes must still agree.
        case = dataclasses.replace(case, atol=max(case.atol, 2.0))
    device = device_for(backend)
    net.to(device)
    ref = ReferenceNetwork(case.layers, case.conns, case.dt)
    net.train(case.train)
    ref.learning = case.train
    oracle = _Oracle()
    total_spikes = {name: 0 for name, _ in case.layers}
    for k, seg in enumerate(case.segments):
        opts = dict(seg.options)
        if opts.pop("reset_before", False):
            net.reset_state_variables()
            ref.reset_state_variables()
        if "train" in opts:
            mode = bool(opts.pop("train"))
            net.train(mode)
            ref.learning = mode
        kwargs = dict(inputs=_torchify(seg.inputs, device), time=seg.steps * case.dt)
        for key in ("clamp", "unclamp", "injects_v"):
            if key in opts:
                kwargs[key] = _torchify(opts[key], device)
        if "masks" in opts:
            kwargs["masks"] = {key: torch.tensor(np.asarray(m, dtype=bool), device=device)
                               for key, m in opts["masks"].items()}
        if "reward" in opts:
            r = opts["reward"]
            kwargs["reward"] = torch.tensor(np.asarray(r, dtype=np.float32), device=device) if np.ndim(r) else float(r)
        if opts.get("one_step"):
            kwargs["one_step"] = True
        for m in monitors.values():
            m.reset_state_variables()
        ran = run_on(backend, net, **kwargs)
        # [T, B, *shape] -> [T, B, n], the reference's flat layout (C order)
        got = {name: {var: m.get(var).cpu().numpy().reshape(seg.steps, -1, net.layers[name].n) for var in m.state_vars}
               for name, m in monitors.items()}
        oracle.spikes = {name: got[name]["s"] for name in case.guided}
        want = ref.run(seg.inputs, seg.steps, one_step=bool(opts.get("one_step")), clamp=opts.get("clamp"),
                       unclamp=opts.get("unclamp"), injects_v=opts.get("injects_v"), masks=opts.get("masks"),
                       reward=opts.get("reward"), oracle=oracle if case.guided else None)
        oracle.offset += seg.steps
        where = f"{case.name} on {ran}, run {k}"
        for name, m in monitors.items():
            s_got, s_want = got[name]["s"], want[name]["s"]
            assert s_got.shape == s_want.shape, f"{where}: {name}.s shape {s_got.shape} vs {s_want.shape}"
            if not np.array_equal(s_got, s_want):
                raise AssertionError(f"{where}: {name} spikes differ, {_first_difference(s_got, s_want)}")
            total_spikes[name] += int(s_want.sum())
            for var in m.state_vars:
                if var == "s":
                    continue
                a, b = got[name][var], want[name][var]
                if var == "v" and case.skip_run_up:
                    near = s_want.copy()
                    for k in range(1, RUN_UP + 1):
                        near[:-k] |= s_want[k:]
                    a, b = a[~near], b[~near]
                np.testing.assert_allclose(a, b, rtol=case.rtol, atol=case.atol,
                                           err_msg=f"{where}: {name}.{var} per step")
            layer = net.layers[name]
            final = {name2: val[-1] for name2, val in want[name].items()}
            for var in LAYER_STATE:
                if var in final and var not in m.state_vars:  # (the monitored ones were compared per step)
                    value = getattr(layer, var).detach().cpu().numpy().reshape(final[var].shape)
                    np.testing.assert_allclose(value, final[var], rtol=case.rtol, atol=case.atol,
                                               err_msg=f"{where}: {name}.{var} after the run")
        for c in case.conns:
            conn = net.connections[(c.source, c.target)]
            w_want = ref.weights(c.source, c.target)
            if c.kind == "sparse":
                present = np.asarray(c.w) != 0
                w_got = conn.values.detach().cpu().numpy()
                w_want = w_want[present]  # CSR order: row-major
            else:
                w_got = conn.w.detach().cpu().numpy()
            np.testing.assert_allclose(w_got, w_want, rtol=case.rtol, atol=case.atol,
                                       err_msg=f"{where}: weights {c.source}->{c.target}")
    if oracle.srm0_var:
        # The guided SRM0 spikes must also be as frequent as the firing probabilities say.
        z = (oracle.srm0_seen - oracle.srm0_expected) / np.sqrt(oracle.srm0_var)
        assert abs(z) < 5, f"{case.name}: SRM0 spiked {oracle.srm0_seen} times, expected {oracle.srm0_expected:.1f} (z={z:.1f})"
    return total_spikes
