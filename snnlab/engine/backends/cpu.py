"""The compiled CPU back-end ("cpu"): a block of steps in one numba loop,
written for each network from the models' descriptions (needs numba).

On a CPU a step of a small network is dozens of tensor operations, each
costing microseconds of dispatch. This back-end instead writes the source of
one loop for the network (Brian2's approach): the layers in order, each
model's statements (:mod:`snnlab.dynamics.model`) translated line by line
into float32 scalar code in the same order of operations, event-driven
propagation over dense and sparse connections, the learning rules'
updates, and the rows the monitors record. numba compiles it once per
network structure and caches it on disk (``~/.cache/snnlab``, or
``SNNLAB_CACHE_DIR``); the first run of a new structure waits for the
compiler (seconds), later ones do not.

Results equal the eager back-end's: spikes and voltages bit for bit where
the float32 sums run in the same order (a connection from an Input layer is
summed event by event here, a block matrix product there, so the last bit of
a sum can differ, as can a batch > 1 learning update summed in another order).

Runs it takes: CPU tensors; any registered layer (every one has a
description); dense ``Connection`` and ``SparseConnection``, and ``LocalConnection`` as a
dense one whose masked weights are zeroed after each learning step (as eager); convolution
and local connections (``Conv{1,2,3}dConnection``, ``LocalConnection{1,2,3}D``) through
their ``propagation_map`` (each pre neuron's (target, shared weight) entries), learning
by described rules (PostPre, WeightDependentPostPre, Hebbian: each ``outer`` summed per
shared weight over the map; rules with state, a reward or the layers' state, MSTDP, MSTDPET,
Rmax: per-synapse state per sample and shared weight, each sample's ``outer`` summed over
the map as ``conn.outer``), then masks in the weights' own shape; max-pooling (``MaxPool{1,2,3}dConnection``: running rates in place, each target's
``pooling_windows``) and ``MeanFieldConnection``; learning rules
with a description (``model``), with their own per-neuron and per-synapse
state, the layers' state they read and a reward (a number or one per sample:
MSTDP, MSTDPET, Rmax; DiehlAndCook); masks; clamp,
unclamp and injects_v; any batch size; monitors of layer variables recording
every step. Not (the eager back-end runs them): rules written by hand in
``_update``, a rule's custom ``reduction`` or per-synapse bounds,
monitors of connections, ``every`` > 1.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import os
import re
import sys
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from ...dynamics.model import SquareAsProduct, outer_terms, parse_step, phases, rule_passes, rule_update_parts
from ...dynamics.model import outer_key
from ...dynamics.nodes import random_need
from ...dynamics.topology import Connection, SparseConnection
from ...dynamics.model import WINDOW_CLOCK, window_buffer  # noqa: I001 (a line of its own: a separate hunk)
from ..validate import value_stamp
from .base import Backend, cache_for

__all__ = ["CpuBackend", "available", "source_for", "generate_source", "structure_key", "wait_for_compiles"]

#: a structure run for less than this (steps x neurons, in all) starts no background compilation
BACKGROUND_WORK = 200_000
#: source key -> steps x neurons run without the compiled loop in this process
_EAGER_WORK: Dict[str, int] = {}
_COMPILED: Dict[str, object] = {}
_PENDING: Dict[str, object] = {}
_LOCK = threading.Lock()
_EXECUTOR = None
_F32 = np.float32


def available() -> bool:
    """Whether numba is installed and not turned off with SNNLAB_NUMBA=0."""
    if os.environ.get("SNNLAB_NUMBA", "1") == "0":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------ translation
class _Names:
    """How a description's names read in the generated loop, for one layer or rule."""

    def __init__(self, mapping: Dict[str, str]):
        self.mapping = mapping


def _lit(value) -> str:
    return f"f32({float(value)!r})"


class _Scalar(SquareAsProduct):
    """A description's expression -> numba float32 scalar code."""

    def __init__(self, names: Dict[str, str], outers: Optional[Dict[Tuple[str, str], str]] = None):
        self.names = names
        self.outers = outers or {}

    def visit_Name(self, node):
        if node.id not in self.names:
            raise KeyError(node.id)
        return ast.parse(self.names[node.id], mode="eval").body

    def visit_Constant(self, node):
        if isinstance(node.value, bool):
            return node
        return ast.parse(_lit(node.value), mode="eval").body

    def visit_BinOp(self, node):
        if isinstance(node.op, ast.Pow) and not (isinstance(node.right, ast.Constant) and node.right.value == 2):
            # torch's pow special cases, so both round alike: x ** 1 is x, x ** 2 is x * x, x ** 0.5 is sqrt(x)
            x, e = (ast.unparse(self.visit(side)) for side in (node.left, node.right))
            return ast.parse(f"(({x}) if ({e}) == f32(1.0) else (({x}) * ({x}) if ({e}) == f32(2.0) else "
                             f"(np.sqrt({x}) if ({e}) == f32(0.5) else ({x}) ** ({e}))))", mode="eval").body
        return super().visit_BinOp(node)

    def visit_Call(self, node):
        fn = node.func.id
        if fn == "outer":
            return ast.parse(self.outers[outer_key(node)], mode="eval").body
        args = [self.visit(a) for a in node.args]
        if fn == "where":
            return ast.IfExp(test=args[0], body=args[1], orelse=args[2])
        if fn == "maximum":
            return ast.Call(ast.Name("max", ast.Load()), args, [])
        if fn == "exp":
            return ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "exp", ast.Load()), args, [])
        raise ValueError(f"{fn}() cannot be written as scalar code")


def _windows_in(expr: ast.expr) -> set:
    """The names an expression's ``window(x, k)`` calls window."""
    return {n.args[0].id for n in ast.walk(expr)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "window"}


def _scalar(expr: ast.expr, names: Dict[str, str], outers=None) -> str:
    return ast.unparse(_Scalar(names, outers).visit(ast.parse(ast.unparse(expr), mode="eval").body))


def _per_sample_outers(st, names) -> Dict[Tuple[str, str], str]:
    """In a per-synapse statement ``outer(a, b)`` is one sample's product."""
    return {(a, b): f"({names[a]} * {names[b]})" for a, b in outer_terms(st.expr)}


def _outer_calls(expr) -> List[ast.Call]:
    return [n for n in ast.walk(expr) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "outer"]


def _hoist_outer_arguments(stmts, prefix: str):
    """The statements with each ``outer()`` argument that is an expression, not a
    name, replaced by a name ``<prefix><k>``; and ``(name, "pre" | "post", expression)``
    of each (an argument reads only per-neuron values: it is computed once per neuron
    and sample before the pass over the synapses, not once per synapse)."""
    found: Dict[Tuple[str, str], Tuple[str, str, ast.expr]] = {}

    class Hoist(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id == "outer":
                args = []
                for side, arg in zip(("pre", "post"), node.args):
                    if not isinstance(arg, ast.Name):
                        key = (side, ast.unparse(arg))
                        name = found.setdefault(key, (f"{prefix}{len(found)}", side, arg))[0]
                        arg = ast.Name(name, ast.Load())
                    args.append(arg)
                node.args = args
            return node

    out = []
    for st in stmts:
        if not _outer_calls(st.expr):
            out.append(st)
            continue
        expr = Hoist().visit(ast.parse(ast.unparse(st.expr), mode="eval").body)
        out.append(dataclasses.replace(st, expr=expr, names=frozenset(
            n.id for n in ast.walk(expr) if isinstance(n, ast.Name))))
    return tuple(out), list(found.values())


def _batch_sums(st, m: int):
    """A weight update's increment with each ``outer(a, b)`` / ``sum_batch(e)``
    replaced by a name ``acc<m>_<n>``, and what each name sums over the batch."""
    sums = {}

    class Sums(ast.NodeTransformer):
        def visit_Call(self, node):
            if isinstance(node.func, ast.Name) and node.func.id in ("outer", "sum_batch"):
                name = f"acc{m}_{len(sums)}"
                sums[name] = node.args[0] if node.func.id == "sum_batch" else ast.BinOp(node.args[0], ast.Mult(), node.args[1])
                return ast.Name(name, ast.Load())
            self.generic_visit(node)
            return node

    inc = Sums().visit(ast.parse(ast.unparse(rule_update_parts(st)), mode="eval").body)
    return inc, sums


def _rule_scalars(rule) -> set:
    """The numbers a rule's statements read (parameters, decays, derived values), passed as arguments."""
    return set(rule.values()) - {"s_pre", "x_pre", "s_post", "x_post", "w", "wmin", "wmax"} - set(rule.model.layer_state)


def _rule_why_not(u, plan) -> Optional[str]:
    """Why the loop cannot run a connection's learning rule (None if it can)."""
    rule = u.conn.update_rule
    if not u.learn or rule.model is None:
        return None
    if rule.model.uses_reward and plan.reward is None:
        return f"the learning rule {type(rule).__name__} of {u.key} needs a reward (the eager back-end says so)"
    if u.conn.reduction is not None and u.conn.reduction is not torch.sum:
        return f"connection {u.key} sums its learning over the batch with its own reduction"
    for name in ("wmin", "wmax"):
        if isinstance(getattr(u.conn, name), torch.Tensor):
            return f"connection {u.key} has a {name} per synapse"
    return None


def rule_argument_types(plan) -> Dict[str, np.ndarray]:
    """Arrays of the right types for the rules' state arguments (compiling a loop)."""
    out = {}
    for c, (_, conn) in enumerate(plan.connections):
        rule = conn.update_rule
        if rule.model is None or not rule.model.general:
            continue
        for name, where in rule.model.state.items():
            dims = 3 if where == "synapse" and not isinstance(conn, SparseConnection) else 2
            dims = 2 if loop_propagation(conn) == "map" else dims  # [batch, shared weight]
            out[f"RS{c}_{name}"] = np.zeros((1,) * dims, np.float32)
    return out


def rule_arguments(plan, names, out: dict) -> None:
    """The rules' state (their own tensors, written in place) and rewards (``[batch]``)."""
    B = plan.batch
    for c, (_, conn) in enumerate(plan.connections):
        rule = conn.update_rule
        if rule.model is None or not rule.model.general:
            continue
        if any(n.startswith(f"RS{c}_") for n in names):
            for name, t in rule.ensure_state(B, torch.device("cpu")).items():
                out[f"RS{c}_{name}"] = t.numpy()
                if loop_propagation(conn) == "map":  # [batch, *w.shape] as [batch, shared weight]: a view
                    out[f"RS{c}_{name}"] = t.numpy().reshape(B, -1)
        if f"RW{c}" in names:
            r = torch.as_tensor(plan.reward, dtype=torch.float32).reshape(-1)
            out[f"RW{c}"] = np.ascontiguousarray(r.expand(B).numpy() if r.numel() == 1 else r.numpy())


def _forcing_rows(forcing: tuple, b0: int, b1: int, B: int, n: int, dtype) -> np.ndarray:
    """A clamp, unclamp or injects_v of steps [b0, b1) as ``[steps, B, n]`` (rows per
    step, or one for the run; one per sample or one for all)."""
    value, per_step = forcing  # [T, 1 or B, *shape] per step, else [1, *shape] (a number: [1, 1, ...])
    rows = value[b0:b1] if per_step else value.unsqueeze(0)
    rows = rows.reshape(rows.shape[0], rows.shape[1], -1).to(dtype)
    return np.ascontiguousarray(rows.expand(b1 - b0, B, n).numpy())


def _map_rule_why_not(u) -> Optional[str]:
    """Why the loop cannot update a connection's shared weights (propagation map), None if it can."""
    conn, name = u.conn, type(u.conn).__name__
    if u.mask is not None and loop_propagation(conn) in ("pool", "mean"):
        return f"connection {u.key} is a {name} with a mask (the loop keeps its weights fixed)"
    if loop_propagation(conn) in ("pool", "mean") and u.learn:
        return f"connection {u.key} is a {name} whose weights decay or are clamped (the loop keeps them fixed)"
    # any described rule (map_rule_code; RuleModel.check lets per-neuron values reach a synapse only through outer())
    if u.learn and not conn.weights().is_contiguous():
        return f"connection {u.key} has weights that are not contiguous"
    return None


# --------------------------------------------------------------- the plan
def loop_propagation(conn) -> Optional[str]:
    """How the loop propagates ``conn`` ("rows", "csr", "map", "pool", "mean"), None if it does not:
    the class's own declaration only (a subclass may compute otherwise)."""
    return type(conn).__dict__.get("loop_propagation")


def why_not(plan) -> Optional[str]:
    if plan.device.type != "cpu":
        return f"it runs on the CPU, the network is on {plan.device}"
    for key, conn in plan.connections:
        if loop_propagation(conn) is None:
            return (f"connection {key} is a {type(conn).__name__}, which declares no propagation "
                    f"the loop runs (loop_propagation)")
    for u in plan.updates:
        reason = _map_rule_why_not(u) if loop_propagation(u.conn) in ("map", "pool", "mean") else None
        if reason is not None:
            return reason
    for u in plan.updates:
        rule = u.conn.update_rule
        if u.learn and not rule.described():
            return f"the learning rule {type(rule).__name__} of {u.key} is written by hand, not described (model)"
        reason = _rule_why_not(u, plan)
        if reason is not None:
            return reason
    for lp in plan.layers:
        if not lp.layer.described():
            return f"layer {lp.name!r} ({type(lp.layer).__name__}) has a hand-written step (forward), not a description"
    layer_ids = {id(lp.layer) for lp in plan.layers}
    for m in plan.monitors:
        if id(m.obj) not in layer_ids:
            return "a monitor records a connection"
        if m.every != 1:
            return f"a monitor records every {m.every} steps"
    for lp in plan.layers:
        for st in lp.layer.steps()[0]:
            if st.kind == "coupling" and not isinstance(getattr(lp.layer, "S", None), torch.Tensor):
                return f"layer {lp.name!r} has no coupling matrix S"
    return None


class _Gen:
    """Writes the source of one block loop for a plan."""

    def __init__(self, plan):
        self.plan = plan
        self.args: List[str] = []
        self.lines: List[str] = []
        self.ind = 0

    def arg(self, name: str) -> str:
        if name not in self.args:
            self.args.append(name)
        return name

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.ind + line)

    # -------------------------------------------------------------- layers
    def layer_names(self, l: int, lp) -> Dict[str, str]:
        layer = lp.layer
        model = layer.model
        names = {"inp": f"A{l}[b, i]", "s": f"S{l}[b, i]", "dt": "DT"}
        for v in model.state + (("x",) if layer.traces else ()) + (("summed",) if layer.sum_input else ()):
            names[v] = f"{self.arg(f'V{l}_{v}')}[b, i]"
        for v in model.shared:
            names[v] = f"{self.arg(f'H{l}_{v}')}[i]"
        for name in layer.values():
            if name != "dt":
                names[name] = f"P{l}_{name}[i]"
        names["rand"] = f"R{l}[t, b, i]"
        return names

    def layer_code(self, l: int, lp, sources) -> None:
        layer = lp.layer
        n = layer.n
        self.arg(f"S{l}")
        self.arg(f"A{l}")
        self.arg(f"T{l}")
        # 1. input: each connection's sum, in network order, then the external input
        self.emit(f"for b in range(B):")
        self.ind += 1
        first = True
        for src_name, conn in lp.step_conns + lp.block_conns:
            c = self.conn_index[id(conn)]
            src = self.plan.order[src_name]
            # one_step: the source's current spikes (this step's if it came earlier); else last step's
            spikes = f"S{src}" if self.plan.one_step else f"SP{src}"
            if not self.plan.one_step:
                sources.add(src)
            self.emit(f"for j in range({n}):")
            self.emit(f"    T{l}[j] = f32(0.0)")
            if isinstance(conn, SparseConnection):
                self.emit(f"for i in range({conn.source.n}):")
                self.emit(f"    if {spikes}[b, i]:")
                self.emit(f"        for k in range({self.arg(f'WR{c}')}[i], WR{c}[i + 1]):")
                self.emit(f"            T{l}[{self.arg(f'WC{c}')}[k]] += {self.arg(f'WV{c}')}[k]")
            elif loop_propagation(conn) == "map":  # shared weights: (target, weight index) per pre neuron
                self.emit(f"for i in range({conn.source.n}):")
                self.emit(f"    if {spikes}[b, i]:")
                self.emit(f"        for k in range({self.arg(f'MR{c}')}[i], MR{c}[i + 1]):")
                self.emit(f"            T{l}[{self.arg(f'MT{c}')}[k]] += {self.arg(f'WF{c}')}[{self.arg(f'MI{c}')}[k]]")
                if conn.target_bias() is not None:
                    self.emit(f"for j in range({n}):")
                    self.emit(f"    T{l}[j] = T{l}[j] + {self.arg(f'BB{c}')}[j]")
            elif loop_propagation(conn) == "pool":  # each window passes the spike of its highest running rate
                rt, ps = self.arg(f"RT{c}"), self.arg(f"PS{c}")
                self.emit(f"for i in range({conn.source.n}):")
                self.emit(f"    {rt}[b, i] = {rt}[b, i] * {self.arg(f'RD{c}')} + f32({spikes}[b, i])")
                self.emit(f"for j in range({n}):")
                self.emit("    best = f32(-np.inf)")
                self.emit("    at = 0")
                self.emit(f"    for k in range({self.arg(f'PW{c}')}[j], PW{c}[j + 1]):")
                self.emit(f"        if {rt}[b, {ps}[k]] > best:  # the first of equal rates, as max-pooling")
                self.emit(f"            best = {rt}[b, {ps}[k]]")
                self.emit(f"            at = {ps}[k]")
                self.emit(f"    T{l}[j] = f32({spikes}[b, at])")
            elif loop_propagation(conn) == "mean":  # w[j] times the mean of the source's spikes
                self.emit("count = 0")
                self.emit(f"for i in range({conn.source.n}):")
                self.emit(f"    if {spikes}[b, i]:")
                self.emit("        count += 1")
                self.emit(f"mean = f32(count) / f32({conn.source.n})")
                self.emit(f"for j in range({n}):")
                self.emit(f"    T{l}[j] = mean * {self.arg(f'WF{c}')}[j]")
            else:
                self.emit(f"for i in range({conn.source.n}):")
                self.emit(f"    if {spikes}[b, i]:")
                self.emit(f"        for j in range({n}):")
                self.emit(f"            T{l}[j] += {self.arg(f'W{c}')}[i, j]")
                if conn.b is not None:
                    self.emit(f"for j in range({n}):")
                    self.emit(f"    T{l}[j] = T{l}[j] + {self.arg(f'BB{c}')}[j]")
            self.emit(f"for j in range({n}):")
            self.emit(f"    A{l}[b, j] = T{l}[j]" if first else f"    A{l}[b, j] = A{l}[b, j] + T{l}[j]")
            first = False
        if first:
            self.emit(f"for j in range({n}):")
            self.emit(f"    A{l}[b, j] = f32(0.0)")
        if lp.name in self.ext_layers:
            self.emit(f"for j in range({n}):")
            self.emit(f"    A{l}[b, j] = A{l}[b, j] + {self.arg(f'E{l}')}[t, b, j]")
        self.ind -= 1
        # 2. the model's step and 3. the traces, phase by phase; injects_v before
        # the step, clamp and unclamp on its spikes before the traces (as eager)
        main, trace = layer.steps()
        names = self.layer_names(l, lp)
        if lp.inject is not None:
            self.emit("for b in range(B):")
            self.emit(f"    for i in range({n}):")
            self.emit(f"        {names['v']} = {names['v']} + {self.arg(f'IJ{l}')}[t, b, i]")
        for ph in phases(main, layer.model.shared):
            self.phase_code(l, lp, ph, names)
        if layer.model.windows:  # the step is done: the windows' next slot
            self.emit(f"{self.arg(f'WCLK{l}')}[0] += 1")
        if lp.clamp is not None or lp.unclamp is not None:
            on = f" or {self.arg(f'CL{l}')}[t, b, i]" if lp.clamp is not None else ""
            off = f" and not {self.arg(f'UC{l}')}[t, b, i]" if lp.unclamp is not None else ""
            self.emit("for b in range(B):")
            self.emit(f"    for i in range({n}):")
            self.emit(f"        S{l}[b, i] = (S{l}[b, i]{on}){off}")
        for ph in phases(trace, layer.model.shared):
            self.phase_code(l, lp, ph, names)

    def phase_code(self, l, lp, ph, names) -> None:
        layer = lp.layer
        n = layer.n
        used = set()
        for st in ph.statements:
            used |= st.names
        for name in sorted(used):  # a fixed order: the source is the disk cache key
            if names.get(name, "").startswith(f"P{l}_"):
                self.arg(f"P{l}_{name}")
            if name == "rand":
                self.arg(f"R{l}")
        if ph.kind == "sample":
            temps = {}
            windows = [(x, k) for x, k in layer.model.windows if any(_windows_in(st.expr) & {x} for st in ph.statements)]
            for x, k in windows:  # the ring buffer's length and this step's slot
                self.emit(f"wn_{x} = {self.arg(f'WK{l}_{k}')}.shape[0]")
                self.emit(f"ws_{x} = {self.arg(f'WCLK{l}')}[0] % wn_{x}")
                # the past values' part of the sum (d >= 1: slots this step does not write), a
                # loop over neurons per d (contiguous, vectorized); this step's value is added in place
                buf, kern, part = f"WB{l}_{x}", f"WK{l}_{k}", self.arg(f"WS{l}_{x}")
                self.arg(buf)
                self.emit("for b in range(B):")
                self.emit(f"    for i in range({n}):")
                self.emit(f"        {part}[b, i] = 0.0")
                self.emit(f"    for wd in range(1, wn_{x}):")
                self.emit(f"        wp = ws_{x} - wd if wd <= ws_{x} else ws_{x} - wd + wn_{x}")
                self.emit(f"        wkern = np.float64({kern}[wd])")
                self.emit(f"        for i in range({n}):")
                self.emit(f"            {part}[b, i] += wkern * {buf}[wp, b, i]")
            self.emit("for b in range(B):")
            self.emit(f"    for i in range({n}):")
            self.ind += 2
            for st in ph.statements:
                local = dict(names, **temps)
                expr_node = st.expr
                if _windows_in(st.expr):
                    expr_node = self.window_code(l, st.expr, local)
                expr = _scalar(expr_node, local)
                if st.target in names:
                    self.emit(f"{names[st.target]} = {expr}")
                else:
                    temps[st.target] = f"q_{st.target}"
                    self.emit(f"q_{st.target} = {expr}")
            self.ind -= 2
        elif ph.kind == "shared":
            self.emit(f"for i in range({n}):")
            self.ind += 1
            for st in ph.statements:
                sums = {}
                for node in ast.walk(st.expr):
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sum_batch":
                        name = f"sb{len(sums)}"
                        self.emit(f"{name} = f32(0.0)")
                        self.emit("for b in range(B):")
                        self.emit(f"    {name} += f32({_scalar(node.args[0], names)})")
                        sums[ast.unparse(node)] = name
                src = ast.unparse(st.expr)
                for call, name in sums.items():
                    src = src.replace(call, f"__{name}")
                expr = _scalar(ast.parse(src, mode="eval").body, dict(names, **{f"__{v}": v for v in sums.values()}))
                self.emit(f"{names[st.target]} = {expr}")
            self.ind -= 1
        elif ph.kind == "one_winner":
            self.arg(f"U{l}")
            self.emit("for b in range(B):")
            self.emit("    count = 0")
            self.emit(f"    for i in range({n}):")
            self.emit(f"        if S{l}[b, i]:")
            self.emit("            count += 1")
            self.emit("    if count > 0:")
            self.emit(f"        k = int(np.floor(U{l}[t, b] * f32(count)))")
            self.emit("        if k > count - 1:")
            self.emit("            k = count - 1")
            self.emit("        c = 0")
            self.emit(f"        for i in range({n}):")
            self.emit(f"            if S{l}[b, i]:")
            self.emit("                if c != k:")
            self.emit(f"                    S{l}[b, i] = False")
            self.emit("                c += 1")
        elif ph.kind == "coupling":
            self.arg(f"C{l}")
            self.emit("for b in range(B):")
            self.emit(f"    for i in range({n}):")
            self.emit(f"        T{l}[i] = f32(0.0)")
            self.emit(f"    for j in range({n}):")
            self.emit(f"        if S{l}[b, j]:")
            self.emit(f"            for i in range({n}):")
            self.emit(f"                T{l}[i] += C{l}[j, i]")
            self.emit(f"    for i in range({n}):")
            self.emit(f"        A{l}[b, i] = A{l}[b, i] + T{l}[i]")

    def window_code(self, l: int, expr: ast.expr, local: Dict[str, str]) -> ast.expr:
        """Lines (inside the neuron loop) writing each ``window(x, k)`` of ``expr``:
        ``x`` into its slot, then ``k[0] * x`` added to the past values' part
        (``WS``, summed before the loop) in float64, rounded once into
        ``q_window_x``; the expression reads that."""
        calls = {}

        class Calls(ast.NodeTransformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                if isinstance(node.func, ast.Name) and node.func.id == "window":
                    calls[node.args[0].id] = node.args[1].id
                    return ast.Name(f"__window_{node.args[0].id}", ast.Load())
                return node

        out = Calls().visit(ast.parse(ast.unparse(expr), mode="eval").body)
        for x, k in calls.items():
            buf, kern = self.arg(f"WB{l}_{x}"), self.arg(f"WK{l}_{k}")
            self.emit(f"wx = f32({_scalar(ast.Name(x, ast.Load()), local)})")
            self.emit(f"{buf}[ws_{x}, b, i] = np.float64(wx)")
            self.emit(f"q_window_{x} = f32({self.arg(f'WS{l}_{x}')}[b, i] + np.float64({kern}[0]) * np.float64(wx))")
            local[f"__window_{x}"] = f"q_window_{x}"
        return out

    # --------------------------------------------------------------- rules
    def rule_code(self, u) -> None:
        conn = u.conn
        if loop_propagation(conn) == "map":
            self.map_rule_code(u)
            return
        c = self.conn_index[id(conn)]
        p = self.plan.order[self.plan.name_of(conn.source)]
        q = self.plan.order[self.plan.name_of(conn.target)]
        n_pre, n_post = conn.source.n, conn.target.n
        sparse = isinstance(conn, SparseConnection)
        wref = f"{self.arg(f'WV{c}')}[k]" if sparse else f"{self.arg(f'W{c}')}[i, j]"
        if u.learn and conn.update_rule.model.general:
            self.general_rule_code(u, c, p, q, sparse, wref)
        elif u.learn:
            rule = conn.update_rule
            side = {"s_pre": (f"S{p}", "i"), "x_pre": (f"V{p}_x", "i"), "s_post": (f"S{q}", "j"), "x_post": (f"V{q}_x", "j")}
            for name, (arr, _) in side.items():
                if name.startswith("x") and any(name in st.names for st in rule.model.statements()):
                    self.arg(arr)
            names = {"w": wref}
            for name in rule.values():
                if name not in side and name not in rule.model.layer_state:
                    names[name] = self.arg(f"RP{c}_{name}")
            neuron = dict(names, **self.neuron_names(rule.model, p, q, "0" if self.plan.batch == 1 else "b"))
            for st in rule.model.statements():
                inc = rule_update_parts(st)
                terms = outer_terms(inc)
                args_of = {outer_key(call): call.args for call in _outer_calls(inc)}
                outers = {}
                for k_, (a, b_) in enumerate(dict.fromkeys(terms)):
                    outers[(a, b_)] = f"o{k_}"
                pre_ev = bool(terms) and all("s_pre" in t for t in terms)
                post_ev = bool(terms) and all("s_post" in t for t in terms)
                any_ev = bool(terms) and all("s_pre" in t or "s_post" in t for t in terms)
                self.emit(f"for i in range({n_pre}):")
                self.emit(f"    RA{c}[i] = False")
                self.emit("    for b in range(B):")
                self.emit(f"        if S{p}[b, i]:")
                self.emit(f"            RA{c}[i] = True")
                self.emit("nc = 0")
                self.emit(f"for j in range({n_post}):")
                self.emit(f"    hit = False")
                self.emit("    for b in range(B):")
                self.emit(f"        if S{q}[b, j]:")
                self.emit("            hit = True")
                self.emit("    if hit:")
                self.emit(f"        CJ{c}[nc] = j")
                self.emit("        nc += 1")
                self.arg(f"RA{c}")
                self.arg(f"CJ{c}")
                self.arg(f"CA{c}")
                body = []
                for (a, b_), o in outers.items():
                    # (a spike as f32(S[b, i]); an expression in parentheses)
                    fa, fb = (_scalar(arg, neuron) if isinstance(arg, ast.Name) else f"({_scalar(arg, neuron)})"
                              for arg in args_of[(a, b_)])
                    if self.plan.batch == 1:  # one product (0 + a * b is a * b): a loop LLVM can vectorize
                        outers[(a, b_)] = f"({fa} * {fb})"
                        continue
                    body.append(f"{o} = f32(0.0)")
                    body.append("for b in range(B):")
                    body.append(f"    {o} += {fa} * {fb}")
                body.append(f"{wref} = {wref} + {_scalar(inc, names, outers)}")
                if sparse:
                    self.arg(f"WR{c}")
                    self.arg(f"WC{c}")
                    self.arg(f"WI{c}")
                    if pre_ev:
                        self.emit(f"for i in range({n_pre}):")
                        self.emit(f"    if RA{c}[i]:")
                        self.emit(f"        for k in range(WR{c}[i], WR{c}[i + 1]):")
                        self.emit(f"            j = WC{c}[k]")
                        self._block(body, 3)
                    else:
                        self.emit(f"for j in range({n_post}):")
                        self.emit(f"    CA{c}[j] = False")
                        self.emit("for jj in range(nc):")
                        self.emit(f"    CA{c}[CJ{c}[jj]] = True")
                        self.emit(f"for k in range(WC{c}.shape[0]):")
                        self.emit(f"    i = WI{c}[k]")
                        self.emit(f"    j = WC{c}[k]")
                        cond = f"CA{c}[j]" if post_ev else (f"RA{c}[i] or CA{c}[j]" if any_ev else "True")
                        self.emit(f"    if {cond}:")
                        self._block(body, 2)
                else:
                    if pre_ev:
                        self.emit(f"for i in range({n_pre}):")
                        self.emit(f"    if RA{c}[i]:")
                        self.emit(f"        for j in range({n_post}):")
                        self._block(body, 3)
                    elif post_ev or any_ev:
                        self.emit(f"for i in range({n_pre}):")
                        if any_ev and not post_ev:
                            self.emit(f"    if RA{c}[i]:")
                            self.emit(f"        for j in range({n_post}):")
                            self._block(body, 3)
                            self.emit("    else:")
                            self.emit("        for jj in range(nc):")
                            self.emit(f"            j = CJ{c}[jj]")
                            self._block(body, 3)
                        else:
                            self.emit("    for jj in range(nc):")
                            self.emit(f"        j = CJ{c}[jj]")
                            self._block(body, 2)
                    else:
                        self.emit(f"for i in range({n_pre}):")
                        self.emit(f"    for j in range({n_post}):")
                        self._block(body, 2)
            # after the rule: weight decay, then the bounds. Without decay, only the
            # weights this step touched can leave the bounds (the rows of spiking
            # pre-synaptic and columns of spiking post-synaptic neurons; after a full
            # pass at a block's first step): clamping the others changes nothing.
            stmts = rule.model.statements()
            event_only = all(
                outer_terms(rule_update_parts(st))
                and all("s_pre" in t or "s_post" in t for t in outer_terms(rule_update_parts(st)))
                for st in stmts
            )
            if conn.bounded and not conn.weight_decay and event_only and stmts and not sparse:
                clamp = [f"wk = {wref}",
                         f"if wk < {self.arg(f'WMIN{c}')}:", f"    {wref} = WMIN{c}",
                         f"elif wk > {self.arg(f'WMAX{c}')}:", f"    {wref} = WMAX{c}"]
                self.emit("if t == 0:")
                self.ind += 1
                self._each_weight(c, sparse, n_pre, n_post, clamp)
                self.ind -= 1
                self.emit("else:")
                self.emit(f"    for i in range({n_pre}):")
                self.emit(f"        if RA{c}[i]:")
                self.emit(f"            for j in range({n_post}):")
                self._block(clamp, 4)
                self.emit("    for jj in range(nc):")
                self.emit(f"        j = CJ{c}[jj]")
                self.emit(f"        for i in range({n_pre}):")
                self._block(clamp, 3)
            elif conn.weight_decay or conn.bounded:
                body = [f"wk = {wref}"]
                if conn.weight_decay:
                    body.append(f"wk = wk * {self.arg(f'WD{c}')}")
                if conn.bounded:
                    body += [f"if wk < {self.arg(f'WMIN{c}')}:", f"    wk = WMIN{c}",
                             f"if wk > {self.arg(f'WMAX{c}')}:", f"    wk = WMAX{c}"]
                body.append(f"{wref} = wk")
                self._each_weight(c, sparse, n_pre, n_post, body)
        if u.learn and conn.structural_mask() is not None:  # after decay and bounds, as eager (LocalConnection)
            self._each_weight(c, sparse, n_pre, n_post, [f"if {self.arg(f'SM{c}')}[i, j]:", f"    {wref} = f32(0.0)"])
        if u.mask is not None:
            mk = f"{self.arg(f'MK{c}')}[k]" if sparse else f"{self.arg(f'MK{c}')}[i, j]"
            self._each_weight(c, sparse, n_pre, n_post, [f"if {mk}:", f"    {wref} = f32(0.0)"])

    def neuron_names(self, model, p, q, bi: str) -> Dict[str, str]:
        """How a rule's per-neuron names read: spikes, traces and the layer state it
        reads, of sample ``bi``, pre-synaptic neuron ``i`` and post-synaptic ``j``."""
        out = {"s_pre": f"f32(S{p}[{bi}, i])", "s_post": f"f32(S{q}[{bi}, j])",
               "x_pre": f"V{p}_x[{bi}, i]", "x_post": f"V{q}_x[{bi}, j]"}
        for name in model.layer_state:
            side, var = model.layer_variable(name)
            layer, idx = (p, "i") if side == "pre" else (q, "j")
            out[name] = f"{self.arg(f'V{layer}_{var}')}[{bi}, {idx}]"
        return out

    def rule_names(self, u, c, p, q, bi: str, wref: str, synapse: str) -> Dict[str, str]:
        """How a general rule's names read in the loop, of sample ``bi``: ``w`` is
        ``wref``, per-synapse state is indexed by ``synapse``; also its scalars."""
        rule = u.conn.update_rule
        model = rule.model
        out = {"w": wref, "wmin": self.arg(f"WMIN{c}"), "wmax": self.arg(f"WMAX{c}")}
        out.update(self.neuron_names(model, p, q, bi), reward=f"RW{c}[{bi}]")
        for name, where in model.state.items():
            out[name] = f"RS{c}_{name}[{bi}, {dict(pre='i', post='j', synapse=synapse)[where]}]"
        for name in _rule_scalars(rule):
            out[name] = f"RP{c}_{name}"
        return out

    def declare_rule_arguments(self, u, c, p, q, names) -> None:
        """The loop's arguments a rule's ``names`` read, in a fixed order (the source is the disk cache key)."""
        model = u.conn.update_rule.model
        scalars = _rule_scalars(u.conn.update_rule)
        for name in sorted(names):
            if name in ("x_pre", "x_post"):
                self.arg(f"V{p if name == 'x_pre' else q}_x")
            elif name == "reward":
                self.arg(f"RW{c}")
            elif name in model.state:
                self.arg(f"RS{c}_{name}")
            elif name in scalars:
                self.arg(f"RP{c}_{name}")

    def general_rule_code(self, u, c, p, q, sparse, wref) -> None:
        """A rule with its own state or a reward (``RuleModel.general``): its
        passes (:func:`rule_passes`) over the neurons and one over the weights,
        then weight decay and bounds, folded into that pass when nothing after
        the last weight update there reads ``w``."""
        conn = u.conn
        rule = conn.update_rule
        model = rule.model
        n_pre, n_post = conn.source.n, conn.target.n
        one = self.plan.batch == 1
        bi = "0" if one else "b"  # batch index (a batch of one: no batch loop, a loop LLVM can vectorize)

        names = self.rule_names(u, c, p, q, bi, wref, "k" if sparse else "i, j")
        passes = rule_passes(model)
        last_synapse = max((k for k, (kind, _) in enumerate(passes) if kind == "synapse"), default=None)
        folded = False
        for k, (kind, stmts) in enumerate(passes):
            self.declare_rule_arguments(u, c, p, q, set().union(*(st.names | {st.target} for st in stmts)))
            if kind in ("pre", "post"):
                idx, n = ("i", n_pre) if kind == "pre" else ("j", n_post)
                body = [f"{names[st.target]} = {_scalar(st.expr, names)}" for st in stmts]
                if one:
                    self.emit(f"for {idx} in range({n}):")
                    self._block(body, 1)
                else:
                    self.emit("for b in range(B):")
                    self.emit(f"    for {idx} in range({n}):")
                    self._block(body, 2)
                continue
            stmts, hoisted = _hoist_outer_arguments(stmts, f"__outer{k}_")
            for m, (name, side, arg) in enumerate(hoisted):  # per neuron and sample, before the pass
                idx, n = ("i", n_pre) if side == "pre" else ("j", n_post)
                array = f"OX{c}_{k}_{m}"
                self.emit(f"{array} = np.empty((B, {n}), np.float32)")
                line = f"{array}[{bi}, {idx}] = {_scalar(arg, names)}"
                self._block(([f"for {idx} in range({n}):"] if one else ["for b in range(B):", f"    for {idx} in range({n}):"])
                            + ["    " * (1 if one else 2) + line], 0)
                names[name] = f"{array}[{bi}, {idx}]"
            last_w = max((m for m, st in enumerate(stmts) if st.target == "w"), default=None)
            fold_at = last_w if k == last_synapse and last_w is not None and not any(
                "w" in later.names for later in stmts[last_w + 1:]) else None
            folded = folded or fold_at is not None
            if sparse:
                self.arg(f"WI{c}")
                self.arg(f"WC{c}")
                self.arg(f"WR{c}")
                self.arg(f"WV{c}")
            if one:
                self._synapse_pass_one(c, conn, stmts, names, sparse, n_pre, n_post, fold_at)
            else:
                self._synapse_pass_batched(c, conn, stmts, names, sparse, n_pre, n_post, fold_at)
        if not folded and (conn.weight_decay or conn.bounded):
            self._each_weight(c, sparse, n_pre, n_post, [f"wk = {wref}"] + self._decay_and_bounds(c, conn, "wk", assign=False) + [f"{wref} = wk"])

    def _synapse_pass_one(self, c, conn, stmts, names, sparse, n_pre, n_post, fold_at) -> None:
        """A batch of one: every statement at one synapse after the other, in one
        loop over the weights (a loop LLVM can vectorize)."""
        wref = names["w"]
        body = []
        for m, st in enumerate(stmts):
            if st.target == "w":
                inc, sums = _batch_sums(st, m)
                local = dict(names, **{name: f"({_scalar(inner, names)})" for name, inner in sums.items()})
                body.append(f"{wref} = {wref} + {_scalar(inc, local)}")
            else:
                body.append(f"{names[st.target]} = {_scalar(st.expr, names, _per_sample_outers(st, names))}")
            if m == fold_at:
                body += self._decay_and_bounds(c, conn, wref)
        if sparse:
            self.emit(f"for k in range(WV{c}.shape[0]):")
            self.emit(f"    i = WI{c}[k]")
            self.emit(f"    j = WC{c}[k]")
            self._block(body, 1)
        else:
            self.emit(f"for i in range({n_pre}):")
            self.emit(f"    for j in range({n_post}):")
            self._block(body, 2)

    def _synapse_pass_batched(self, c, conn, stmts, names, sparse, n_pre, n_post, fold_at) -> None:
        """A batch > 1: row by row (pre-synaptic neuron i), each statement a loop
        over the row's synapses per sample, so the inner loops run over contiguous
        memory; a weight update first sums each ``outer`` / ``sum_batch`` over the
        samples (in sample order) into a scratch row."""
        wref = names["w"]
        at = "k" if sparse else "j"
        if sparse:
            row = [f"for k in range(WR{c}[i], WR{c}[i + 1]):", f"    j = WC{c}[k]"]
        else:
            row = [f"for j in range({n_post}):"]
        sums_of = {m: _batch_sums(st, m) for m, st in enumerate(stmts) if st.target == "w"}
        size = f"WV{c}.shape[0]" if sparse else str(n_post)
        for m, (_, sums) in sums_of.items():
            for name in sums:
                self.emit(f"{name} = np.empty({size}, np.float32)")
        self.emit(f"for i in range({n_pre}):")
        self.ind += 1
        for m, st in enumerate(stmts):
            if st.target == "w":
                inc, sums = sums_of[m]
                for name, inner in sums.items():
                    self._block(row + [f"    {name}[{at}] = f32(0.0)"], 0)
                    self.emit("for b in range(B):")
                    self._block(row + [f"    {name}[{at}] += {_scalar(inner, names)}"], 1)
                local = dict(names, **{name: f"{name}[{at}]" for name in sums})
                body = [f"{wref} = {wref} + {_scalar(inc, local)}"]
                if m == fold_at:
                    body += self._decay_and_bounds(c, conn, wref)
                self._block(row + ["    " + line for line in body], 0)
            else:
                self.emit("for b in range(B):")
                self._block(row + [f"    {names[st.target]} = {_scalar(st.expr, names, _per_sample_outers(st, names))}"], 1)
        self.ind -= 1

    def _decay_and_bounds(self, c, conn, wref, assign: bool = True) -> List[str]:
        """``w *= 1 - weight_decay``, then the bounds, as lines on ``wref``."""
        if not (conn.weight_decay or conn.bounded):
            return []
        body = [f"wk = {wref}"] if assign else []
        if conn.weight_decay:
            body.append(f"wk = wk * {self.arg(f'WD{c}')}")
        if conn.bounded:
            body += [f"if wk < {self.arg(f'WMIN{c}')}:", f"    wk = WMIN{c}",
                     f"if wk > {self.arg(f'WMAX{c}')}:", f"    wk = WMAX{c}"]
        if assign:
            body.append(f"{wref} = wk")
        return body

    def _each_weight(self, c, sparse, n_pre, n_post, body) -> None:
        """``body`` for every weight (``k`` for a sparse connection, ``i, j`` for a dense one)."""
        if sparse:
            self.emit(f"for k in range({self.arg(f'WV{c}')}.shape[0]):")
            self._block(body, 1)
        else:
            self.emit(f"for i in range({n_pre}):")
            self.emit(f"    for j in range({n_post}):")
            self._block(body, 2)

    def _block(self, body, depth):
        for line in body:
            self.emit("    " * depth + line)

    def map_rule_code(self, u) -> None:
        """A described rule without state on shared weights (convolution, local):
        each ``outer(a, b)`` of a statement is summed over the map's entries and the
        samples into one value per weight (``conn.outer_sum``: the entries of the
        spiking pre rows, or of the spiking post neurons through the map by target,
        where one side is a spike), then every weight takes its increment, then
        weight decay and bounds."""
        conn = u.conn
        c = self.conn_index[id(conn)]
        p = self.plan.order[self.plan.name_of(conn.source)]
        q = self.plan.order[self.plan.name_of(conn.target)]
        rule = conn.update_rule
        n_pre, n_post = conn.source.n, conn.target.n
        wf = self.arg(f"WF{c}")  # (its size is read at run time: the source serves every kernel of these sizes)
        if u.learn and (rule.model.general or rule.model.layer_state):  # state, a reward or the layers' state
            self.map_general_rule_code(u, c, p, q, wf)
        names = {"w": f"{wf}[m]", "s_pre": f"f32(S{p}[b, i])", "s_post": f"f32(S{q}[b, j])",
                 "x_pre": f"V{p}_x[b, i]", "x_post": f"V{q}_x[b, j]"}
        for name in rule.values():
            if name not in names:
                names[name] = self.arg(f"RP{c}_{name}")
        for m, st in enumerate(rule.model.statements() if u.learn and not (rule.model.general or rule.model.layer_state) else ()):
            inc, sums = _batch_sums(st, m)
            for name, inner in sums.items():
                used = {n.id for n in ast.walk(inner) if isinstance(n, ast.Name)}
                for side, layer in (("x_pre", p), ("x_post", q)):
                    if side in used:
                        self.arg(f"V{layer}_x")
                self.emit(f"{name} = np.zeros({wf}.shape[0], np.float32)")
                self.emit("for b in range(B):")
                term = f"{name}[m] += {_scalar(inner, names)}"
                if "s_post" in used and "s_pre" not in used:  # the spiking targets' entries
                    self.emit(f"    for j in range({n_post}):")
                    self.emit(f"        if S{q}[b, j]:")
                    self.emit(f"            for k in range({self.arg(f'TR{c}')}[j], TR{c}[j + 1]):")
                    self.emit(f"                i = {self.arg(f'TP{c}')}[k]")
                    self.emit(f"                m = {self.arg(f'TI{c}')}[k]")
                    self.emit(f"                {term}")
                else:  # the spiking sources' entries (every source's without a pre spike in the term)
                    self.emit(f"    for i in range({n_pre}):")
                    self.emit(f"        if S{p}[b, i]:" if "s_pre" in used else "        if True:")
                    self.emit(f"            for k in range({self.arg(f'MR{c}')}[i], MR{c}[i + 1]):")
                    self.emit(f"                j = {self.arg(f'MT{c}')}[k]")
                    self.emit(f"                m = {self.arg(f'MI{c}')}[k]")
                    self.emit(f"                {term}")
            local = dict(names, **{name: f"{name}[m]" for name in sums})
            self.emit(f"for m in range({wf}.shape[0]):")
            self.emit(f"    {wf}[m] = {wf}[m] + {_scalar(inc, local)}")
        if u.learn and (conn.weight_decay or conn.bounded):
            self.emit(f"for m in range({wf}.shape[0]):")
            self._block(self._decay_and_bounds(c, conn, f"{wf}[m]"), 1)
        if u.mask is not None:  # after decay and bounds, as eager: a mask in the weights' own shape
            self.emit(f"for m in range({wf}.shape[0]):")
            self.emit(f"    if {self.arg(f'MK{c}')}[m]:")
            self.emit(f"        {wf}[m] = f32(0.0)")

    def map_outer_sums(self, c, p, q, outers, names, array: str) -> None:
        """Each sample's ``outer(a, b)`` summed per shared weight over the map's entries
        (``conn.outer``), into ``array[b, m]``: the spiking sources' entries where ``a`` is
        ``s_pre``, the spiking targets' where ``b`` is ``s_post``, else every entry."""
        conn = self.plan.connections[c][1]
        a, b_ = outers
        term = f"{array}[b, m] += f32({_scalar(a, names)}) * f32({_scalar(b_, names)})"
        self.emit(f"{array} = np.zeros((B, {self.arg(f'WF{c}')}.shape[0]), np.float32)")
        self.emit("for b in range(B):")
        if isinstance(b_, ast.Name) and b_.id == "s_post" and not (isinstance(a, ast.Name) and a.id == "s_pre"):
            self.emit(f"    for j in range({conn.target.n}):")
            self.emit(f"        if S{q}[b, j]:")
            self.emit(f"            for k in range({self.arg(f'TR{c}')}[j], TR{c}[j + 1]):")
            self.emit(f"                i = {self.arg(f'TP{c}')}[k]")
            self.emit(f"                m = {self.arg(f'TI{c}')}[k]")
            self.emit(f"                {term}")
        else:
            self.emit(f"    for i in range({conn.source.n}):")
            self.emit(f"        if S{p}[b, i]:" if isinstance(a, ast.Name) and a.id == "s_pre" else "        if True:")
            self.emit(f"            for k in range({self.arg(f'MR{c}')}[i], MR{c}[i + 1]):")
            self.emit(f"                j = {self.arg(f'MT{c}')}[k]")
            self.emit(f"                m = {self.arg(f'MI{c}')}[k]")
            self.emit(f"                {term}")

    def map_general_rule_code(self, u, c, p, q, wf) -> None:
        """A rule with its own state or a reward on shared weights, statement by
        statement as eager: per-neuron state per sample and neuron; per-synapse state
        ``[batch, shared weight]`` (``rule.state_shapes``), its ``outer(a, b)`` each
        sample's sum over the map's entries of that weight (``conn.outer``); a weight
        update's ``outer`` and ``sum_batch`` those summed over the samples in order
        (``conn.reduce``). Weight decay, bounds and the mask follow in map_rule_code."""
        conn = u.conn
        rule = conn.update_rule
        model = rule.model
        names = self.rule_names(u, c, p, q, "b", f"{wf}[m]", "m")
        for n, st in enumerate(model.statements()):
            self.declare_rule_arguments(u, c, p, q, st.names)
            domain = model.domain(st)
            if domain in ("pre", "post"):
                idx, n_neurons = ("i", conn.source.n) if domain == "pre" else ("j", conn.target.n)
                self.emit("for b in range(B):")
                self.emit(f"    for {idx} in range({n_neurons}):")
                self.emit(f"        {names[st.target]} = {_scalar(st.expr, names)}")
                continue
            outers = {}
            for call in _outer_calls(st.expr):  # each sample's sums, before the statement
                key = outer_key(call)
                if key not in outers:
                    outers[key] = f"OM{c}_{n}_{len(outers)}"
                    self.map_outer_sums(c, p, q, call.args, names, outers[key])
            if domain == "synapse":
                self.emit("for b in range(B):")
                self.emit(f"    for m in range({wf}.shape[0]):")
                self.emit(f"        {names[st.target]} = {_scalar(st.expr, names, {k: f'{v}[b, m]' for k, v in outers.items()})}")
                continue
            sums = {}  # a weight update: each outer / sum_batch summed over the samples in order

            class Sums(ast.NodeTransformer):
                def visit_Call(self, node):
                    if isinstance(node.func, ast.Name) and node.func.id in ("outer", "sum_batch"):
                        name = f"acc{n}_{len(sums)}"
                        sums[name] = (f"{outers[outer_key(node)]}[b, m]" if node.func.id == "outer"
                                      else _scalar(node.args[0], names, {k: f"{v}[b, m]" for k, v in outers.items()}))
                        return ast.Name(name, ast.Load())
                    self.generic_visit(node)
                    return node

            inc = Sums().visit(ast.parse(ast.unparse(rule_update_parts(st)), mode="eval").body)
            for name in sums:
                self.emit(f"{name} = np.zeros({wf}.shape[0], np.float32)")
            self.emit("for b in range(B):")
            self.emit(f"    for m in range({wf}.shape[0]):")
            for name, inner in sums.items():
                self.emit(f"        {name}[m] += {inner}")
            self.emit(f"for m in range({wf}.shape[0]):")
            self.emit(f"    {wf}[m] = {wf}[m] + {_scalar(inc, dict(names, **{k: f'{k}[m]' for k in sums}))}")

    # ------------------------------------------------------------- network
    def source(self, ext_layers) -> str:
        plan = self.plan
        self.ext_layers = ext_layers
        self.conn_index = {id(conn): c for c, (_, conn) in enumerate(plan.connections)}
        sources: set = set()
        self.ind = 2
        body_start = len(self.lines)
        for l, lp in enumerate(plan.layers):
            self.emit(f"# layer {lp.name!r}: {type(lp.layer).__name__}")
            self.layer_code(l, lp, sources)
        for u in plan.updates:
            self.emit(f"# connection {u.key}: {type(u.conn.update_rule).__name__ if u.learn else 'mask'}")
            self.rule_code(u)
        for k, (m, var, l) in enumerate(self.records):
            shared = var in self.plan.layers[l].layer.model.shared
            self.emit(f"{self.arg(f'HR{k}')}[t, :{'' if shared else ', :'}] = {self.record_source(l, var)}")
        body = self.lines[body_start:]
        self.lines = self.lines[:body_start]
        self.ind = 1
        self.emit("f32 = np.float32")
        self.emit("for t in range(steps):")
        for src in sorted(sources):
            self.emit(f"    {self.arg(f'SP{src}')}[:, :] = S{src}")
        self.lines.extend(body)
        args = ", ".join(["steps", "B", "DT"] + self.args)
        return "import numpy as np\n\n\ndef block(" + args + "):\n" + "\n".join(self.lines) + "\n"

    def record_source(self, l, var) -> str:
        layer = self.plan.layers[l].layer
        if var == "s":
            return f"S{l}"
        if var in layer.model.shared:
            return self.arg(f"H{l}_{var}")
        return self.arg(f"V{l}_{var}")


#: structure key -> (source, argument names, records as (monitor index, var, layer index))
_SOURCES: Dict[tuple, tuple] = {}
_SOURCES_KEPT = 256


def structure_key(plan, ext_layers=()) -> tuple:
    """Everything the source :func:`generate_source` writes for a plan depends on.

    Writing the source takes about half a millisecond (the expressions'
    translation); a short run (the seed network's 500 steps take 3 ms) would
    pay it every time. The key holds what the generator reads: the layers'
    names, classes (their model), sizes, flags and parameter names, which
    connection feeds which layer and how, each connection's kind and bias,
    each update's rule, bounds and decay, the monitors' variables, the batch
    and ``one_step``. Not values (weights, parameters, state): the loop
    takes those as arguments, so a run sees their current values.
    """
    index = {id(lp.layer): l for l, lp in enumerate(plan.layers)}
    conn_index = {id(conn): c for c, (_, conn) in enumerate(plan.connections)}
    layers = tuple(
        (
            lp.name, type(lp.layer), lp.layer.n, lp.layer.flags(), bool(lp.layer.traces),
            bool(lp.layer.sum_input), tuple(lp.layer.values()), lp.name in ext_layers,
            tuple((src, conn_index[id(conn)]) for src, conn in lp.step_conns),
            tuple((src, conn_index[id(conn)]) for src, conn in lp.block_conns),
            (lp.inject is not None, lp.clamp is not None, lp.unclamp is not None),
        )
        for lp in plan.layers
    )
    conns = tuple(
        (key, type(conn), index[id(conn.source)], index[id(conn.target)], conn.source.n, conn.target.n,
         getattr(conn, "b", None) is not None)
        for key, conn in plan.connections
    )
    updates = []
    for u in plan.updates:
        rule, conn = u.conn.update_rule, u.conn
        # (the model's repr: a RuleModel holds dicts of its state and decays, so it is not hashable)
        learn = (type(rule), repr(rule.model), tuple(rule.values()), bool(conn.bounded), bool(conn.weight_decay),
                 plan.reward is not None) if u.learn else None
        updates.append((conn_index[id(conn)], u.mask is not None, learn))
    monitors = tuple((index[id(m.obj)], m.state_vars) for m in plan.monitors)
    return (layers, conns, tuple(updates), monitors, plan.one_step, plan.batch)


def generate_source(plan, ext_layers=()) -> Tuple[str, list, list]:
    """(source, argument names, recorded (monitor, var, layer index)) of the block loop for a plan, written anew."""
    gen = _Gen(plan)
    gen.records = []
    index = {id(lp.layer): l for l, lp in enumerate(plan.layers)}
    for m in plan.monitors:
        for var in m.state_vars:
            gen.records.append((m, var, index[id(m.obj)]))
    src = gen.source(set(ext_layers))
    return src, gen.args, gen.records


def source_for(plan, ext_layers=()) -> Tuple[str, list, list]:
    """(source, argument names, recorded (monitor, var, layer index)) of the block
    loop for a plan: written once per structure (:func:`structure_key`)."""
    key = structure_key(plan, ext_layers)
    hit = _SOURCES.get(key)
    if hit is None:
        src, names, records = generate_source(plan, ext_layers)
        slot = {id(m): k for k, m in enumerate(plan.monitors)}
        hit = (src, tuple(names), tuple((slot[id(m)], var, l) for m, var, l in records))
        with _LOCK:  # runs of several networks may share this cache from threads (lab, sweeps)
            if len(_SOURCES) >= _SOURCES_KEPT:  # a long sweep of sizes: forget the oldest
                del _SOURCES[next(iter(_SOURCES))]
            _SOURCES[key] = hit
    src, names, layout = hit
    return src, list(names), [(plan.monitors[k], var, l) for k, var, l in layout]


def _cache_dir() -> Optional[Path]:
    root = Path(os.environ.get("SNNLAB_CACHE_DIR") or Path.home() / ".cache" / "snnlab") / "cpu"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:
        return None


def _key(src: str) -> str:
    return hashlib.sha256(src.encode()).hexdigest()[:24]


def ready(src: str) -> bool:
    """Whether the loop of this source is compiled in this process or in the disk cache."""
    key = _key(src)
    if key in _COMPILED:
        return True
    folder = _cache_dir()
    return folder is not None and any(folder.glob(f"__pycache__/block_{key}.*.nbi"))


def compile_in_background(src: str, dummy) -> None:
    """Start compiling a loop (once); runs keep to the eager back-end until it is ready."""
    key = _key(src)
    with _LOCK:
        if key in _COMPILED or key in _PENDING:
            return
        _PENDING[key] = _POOL().submit(_compile_quietly, src, key, dummy)


def _compile_quietly(src: str, key: str, dummy) -> None:
    try:
        compile_source(src, dummy)
    finally:
        with _LOCK:
            _PENDING.pop(key, None)


def wait_for_compiles(timeout: Optional[float] = None) -> None:
    """Block until the loops being compiled in the background are ready (tests, benchmarks)."""
    with _LOCK:
        pending = list(_PENDING.values())
    for future in pending:
        future.result(timeout)


def _POOL():
    global _EXECUTOR
    if _EXECUTOR is None:
        from concurrent.futures import ThreadPoolExecutor

        _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snnlab-compile")
    return _EXECUTOR


def compile_source(src: str, dummy=None):
    """The numba-compiled ``block`` of a source (memory, then disk cache, then the compiler)."""
    key = _key(src)
    fn = _COMPILED.get(key)
    if fn is not None:
        return fn
    import numba

    folder = _cache_dir()
    if folder is not None:
        path = folder / f"block_{key}.py"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(src)
            os.replace(tmp, path)
        name = f"snnlab_cpu_block_{key}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # numba's disk cache finds the function's globals through it
        spec.loader.exec_module(module)
        py = module.block
    else:  # no writable cache: compile in memory every process
        env: dict = {}
        exec(compile(src, f"<snnlab cpu block {key}>", "exec"), env)
        py = env["block"]
    fn = numba.njit(cache=folder is not None, nogil=True)(py)
    if dummy is not None:
        fn(*dummy)  # compile (or load) now: zero steps run nothing
    _COMPILED[key] = fn
    return fn


def dummy_arguments(names, hr_types) -> tuple:
    """Arguments of the right types for a call of zero steps (it compiles the loop)."""
    one = np.zeros(1, np.float32)
    out = [0, 1, _F32(1.0)]
    for name in names:
        head = re.match(r"[A-Z]+", name).group()
        if head in ("S", "SP"):
            out.append(np.zeros((1, 1), np.bool_))
        elif head in ("A", "V", "C", "W", "U"):
            out.append(np.zeros((1, 1), np.float32))
        elif head in ("T", "P", "H", "BB", "WV", "RW"):
            out.append(one)
        elif head in ("E", "R"):
            out.append(np.zeros((1, 1, 1), np.float32))
        elif head == "WB":
            out.append(np.zeros((1, 1, 1), np.float64))
        elif head == "WK":
            out.append(one)
        elif head == "WS":
            out.append(np.zeros((1, 1), np.float64))
        elif head in ("WR", "WC", "WI", "CJ", "WCLK"):
            out.append(np.zeros(1, np.int64))
        elif head in ("RA", "CA"):
            out.append(np.zeros(1, np.bool_))
        elif head == "SM":
            out.append(np.zeros((1, 1), np.bool_))
        elif head == "IJ":
            out.append(np.zeros((1, 1, 1), np.float32))
        elif head in ("CL", "UC"):
            out.append(np.zeros((1, 1, 1), np.bool_))
        elif head in ("MR", "MT", "MI", "TR", "TP", "TI", "PW", "PS"):
            out.append(np.zeros(1, np.int64))
        elif head == "WF":
            out.append(one)
        elif head in ("MK", "RS"):
            out.append(hr_types[name])
        elif head == "RT":
            out.append(np.zeros((1, 1), np.float32))
        elif head in ("RP", "WD", "WMIN", "WMAX", "RD"):
            out.append(_F32(0.0))
        elif head == "HR":
            out.append(hr_types[name])
        else:  # pragma: no cover - a new argument kind must be listed here
            raise KeyError(name)
    return tuple(out)


# ------------------------------------------------------------- arguments
def _flat(t: torch.Tensor, batch_dim: bool, layer) -> np.ndarray:
    return t.reshape(layer.batch_size if batch_dim else 1, layer.n).numpy() if batch_dim else t.reshape(layer.n).numpy()


def _per_neuron(value, layer) -> np.ndarray:
    t = torch.as_tensor(value, dtype=torch.float32).detach()
    return np.ascontiguousarray(t.expand(layer.shape).reshape(layer.n).numpy())


def _coupling_rows(S, layer) -> np.ndarray:
    """A coupling matrix ``S[i, j]`` (j -> i) as rows of targets: ``[j, i]``."""
    return np.ascontiguousarray(S.detach().to(torch.float32).t().numpy())


def _derived(cache: dict, key: str, layer, value, make) -> np.ndarray:
    """``make(value, layer)``, made again when ``value`` is another number, or
    a tensor at another address or written in place since (its version).
    The entry holds the tensor, so no other one can take its address."""
    stamp = value_stamp(value)
    hit = cache.get(key)
    if hit is not None and hit[0] is layer and hit[2] == stamp:
        return hit[3]
    array = make(value, layer)
    cache[key] = (layer, value, stamp, array)
    return array


def _by_target(_row_ptr, conn) -> tuple:
    """A connection's propagation map ordered by target: (row_ptr by target, sources, weight
    indices); ``_row_ptr``, the map's own, only stamps the cache entry."""
    row_ptr, targets, weight_index = conn.propagation_map()
    sources = torch.repeat_interleave(torch.arange(conn.source.n), row_ptr[1:] - row_ptr[:-1])
    order = torch.argsort(targets, stable=True)
    counts = torch.bincount(targets, minlength=conn.target.n)
    by_target = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
    return by_target.numpy(), sources[order].contiguous().numpy(), weight_index[order].contiguous().numpy()


def _scratch(cache: dict, key: str, shape: tuple, dtype) -> np.ndarray:
    """A work array the loop writes before it reads (kept between blocks and runs)."""
    array = cache.get(key)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = cache[key] = np.empty(shape, dtype)
    return array


class CpuBackend(Backend):
    """Blocks of steps in one generated, compiled loop (see the module docstring)."""

    name = "cpu"
    block_steps = 256

    def unavailable_reason(self):
        return None if available() else "numba is not installed or SNNLAB_NUMBA=0"

    def enabled_for(self, network, plan) -> bool:
        return bool(network.cpu_kernels)

    def why_not(self, plan):
        return why_not(plan)

    def prepare(self, network, plan, ext, wait: bool) -> bool:
        """Whether the loop for this plan is compiled; unless ``wait``, a loop
        not compiled yet is compiled in the background and False returned
        (the engine runs eagerly meanwhile: a lab user never waits for the compiler).
        ``SNNLAB_COMPILE=wait`` compiles first instead (benchmarks). A run
        shorter than ``BACKGROUND_WORK`` steps x neurons starts no compilation,
        unless the runs of its structure in this process add up to that much:
        a training loop of one short sample per run (BindsNET's Diehl & Cook)
        would otherwise run eagerly for ever."""
        src, names, records = self._source(network, plan, ext)
        if wait or ready(src) or os.environ.get("SNNLAB_COMPILE") == "wait":
            return True
        neurons = sum(lp.layer.n for lp in plan.layers)
        # this chunk's steps: the rows of its inputs (the whole run's if it has none)
        steps = next((int(v.shape[0]) for v in ext.values()), plan.run_steps)
        key = _key(src)
        with _LOCK:
            done = _EAGER_WORK[key] = _EAGER_WORK.get(key, 0) + steps * neurons
        if plan.run_steps * neurons < BACKGROUND_WORK and done < BACKGROUND_WORK:
            return False  # short runs, so far: not worth a compiler's seconds
        types = {}
        for k, (m, var, l) in enumerate(records):
            layer = plan.layers[l].layer
            dtype = np.bool_ if var == "s" else np.float32
            types[f"HR{k}"] = np.zeros((1,) * (2 if var in layer.model.shared else 3), dtype)
        for c, (_, conn) in enumerate(plan.connections):
            flat = isinstance(conn, SparseConnection) or loop_propagation(conn) == "map"
            types[f"MK{c}"] = np.zeros((1,) if flat else (1, 1), np.bool_)
        types.update(rule_argument_types(plan))
        compile_in_background(src, dummy_arguments(names, types))
        return False

    def _source(self, network, plan, ext) -> tuple:
        """source_for(plan, ...), once per plan (a chunk's blocks share it)."""
        ext_layers = tuple(lp.name for lp in plan.layers if lp.name in ext)
        cache = cache_for(network, self.name)
        last = cache.get("plan_source")
        if last is not None and last[0] is plan and last[1] == ext_layers:
            return last[2]
        made = source_for(plan, ext_layers)
        cache["plan_source"] = (plan, ext_layers, made)
        cache["source"] = made[0]
        return made

    def run_block(self, network, plan, ext, start, b0, b1) -> bool:
        steps = b1 - b0
        src, names, records = self._source(network, plan, ext)
        fn = compile_source(src)
        values = self._arguments(plan, names, ext, start, b0, b1, cache_for(network, self.name).setdefault("arrays", {}))
        hist = {}
        for k, (m, var, l) in enumerate(records):
            layer = plan.layers[l].layer
            value = getattr(layer, var)
            shape = (steps, layer.n) if var in layer.model.shared else (steps, plan.batch, layer.n)
            # every row is written by the loop
            hist[k] = values[f"HR{k}"] = np.empty(shape, dtype=np.bool_ if value.dtype == torch.bool else np.float32)
        fn(steps, plan.batch, _F32(plan.dt), *[values[n] for n in names])
        for k, (m, var, l) in enumerate(records):
            value = getattr(plan.layers[l].layer, var)
            m.record_rows(var, torch.from_numpy(hist[k]).view(steps, *value.shape))
        for m in plan.monitors:
            m.advance(steps)
        return True

    def _arguments(self, plan, names, ext, start, b0, b1, cache) -> dict:
        steps = b1 - b0
        B = plan.batch
        out: Dict[str, object] = {}
        wanted = set(names)
        rule_args = {int(arg[2 : arg.index("_")]) for arg in names if arg.startswith("RP")}  # connections
        # the step's random draws, in the eager order (layer by layer, each step)
        needs = [random_need(lp.layer) for lp in plan.layers]
        draws = torch.rand(steps, sum(needs)) if sum(needs) else None
        offset = 0
        for l, lp in enumerate(plan.layers):
            layer = lp.layer
            n = layer.n
            out[f"S{l}"] = layer.s.reshape(B, n).numpy()
            for arg, forcing, dtype in ((f"IJ{l}", lp.inject, torch.float32), (f"CL{l}", lp.clamp, torch.bool),
                                        (f"UC{l}", lp.unclamp, torch.bool)):
                if forcing is not None and arg in wanted:
                    out[arg] = _forcing_rows(forcing, b0, b1, B, n, dtype)
            out[f"SP{l}"] = _scratch(cache, f"SP{l}", (B, n), np.bool_)
            out[f"A{l}"] = _scratch(cache, f"A{l}", (B, n), np.float32)
            out[f"T{l}"] = _scratch(cache, f"T{l}", (n,), np.float32)
            for v in layer.model.state + ("x", "summed"):
                t = layer.__dict__.get(v)
                if isinstance(t, torch.Tensor):
                    out[f"V{l}_{v}"] = t.reshape(B, n).numpy()
            if layer.model.windows:  # ring buffers and clock, written in place
                out[f"WCLK{l}"] = layer.__dict__[WINDOW_CLOCK].numpy()
                for x, k in layer.model.windows:
                    buf = layer.__dict__[window_buffer(x)]
                    out[f"WB{l}_{x}"] = buf.reshape(buf.shape[0], B, n).numpy()
                    out[f"WK{l}_{k}"] = layer.__dict__[k].numpy()
                    out[f"WS{l}_{x}"] = _scratch(cache, f"WS{l}_{x}", (B, n), np.float64)
            if layer.model.shared:
                state = layer.state_tensors()
                for v in layer.model.shared:
                    out[f"H{l}_{v}"] = state[v].reshape(n).numpy()
            for name, value in layer.values().items():
                arg = f"P{l}_{name}"
                if arg in wanted:
                    out[arg] = _derived(cache, arg, layer, value, _per_neuron)
            e = ext.get(lp.name)
            if e is not None:
                out[f"E{l}"] = np.ascontiguousarray(e[b0 - start : b1 - start].reshape(steps, B, n).to(torch.float32).numpy())
            if needs[l]:
                part = draws[:, offset : offset + needs[l]]
                if f"R{l}" in wanted:
                    out[f"R{l}"] = np.ascontiguousarray(part[:, : B * n].reshape(steps, B, n).numpy())
                if f"U{l}" in wanted:
                    out[f"U{l}"] = np.ascontiguousarray(part[:, needs[l] - B :].numpy())
                offset += needs[l]
            if f"C{l}" in wanted:
                out[f"C{l}"] = _derived(cache, f"C{l}", layer, layer.S, _coupling_rows)
        for c, (key, conn) in enumerate(plan.connections):
            if isinstance(conn, SparseConnection):
                out[f"WV{c}"] = conn.values.detach().numpy()
                out[f"WR{c}"] = conn.row_ptr.numpy()
                out[f"WC{c}"] = conn.cols.numpy()
                out[f"WI{c}"] = conn.rows.numpy()
            elif loop_propagation(conn) == "map":
                out[f"MR{c}"], out[f"MT{c}"], out[f"MI{c}"] = (t.numpy() for t in conn.propagation_map())
                if f"TR{c}" in wanted:
                    out[f"TR{c}"], out[f"TP{c}"], out[f"TI{c}"] = _derived(cache, f"TR{c}", conn, conn.propagation_map().row_ptr, _by_target)
                out[f"WF{c}"] = conn.weights().detach().numpy().reshape(-1)  # a view: learning writes the weights
                if conn.target_bias() is not None:
                    out[f"BB{c}"] = np.ascontiguousarray(conn.target_bias().detach().numpy())
            elif loop_propagation(conn) == "pool":
                (rates,) = conn.propagation_state(B, torch.device("cpu")).values()  # its running rates
                out[f"RT{c}"] = rates.reshape(B, conn.source.n).numpy()  # written in place
                out[f"RD{c}"] = _F32(1.0 - conn.decay)
                out[f"PW{c}"], out[f"PS{c}"] = (t.numpy() for t in conn.pooling_windows())
            elif loop_propagation(conn) == "mean":
                out[f"WF{c}"] = np.ascontiguousarray(conn.weights().detach().numpy())
            else:
                out[f"W{c}"] = conn.w.detach().numpy()
                if conn.b is not None:
                    out[f"BB{c}"] = conn.b.detach().numpy()
            if f"SM{c}" in wanted:
                out[f"SM{c}"] = np.ascontiguousarray(conn.structural_mask().numpy())
            out[f"RA{c}"] = _scratch(cache, f"RA{c}", (conn.source.n,), np.bool_)
            out[f"CA{c}"] = _scratch(cache, f"CA{c}", (conn.target.n,), np.bool_)
            out[f"CJ{c}"] = _scratch(cache, f"CJ{c}", (conn.target.n,), np.int64)
            out[f"WD{c}"] = _F32(1.0 - conn.weight_decay)
            out[f"WMIN{c}"] = _F32(conn.wmin)
            out[f"WMAX{c}"] = _F32(conn.wmax)
            if c in rule_args:
                for name, value in conn.update_rule.values().items():
                    if f"RP{c}_{name}" in wanted:
                        out[f"RP{c}_{name}"] = _F32(value)
        rule_arguments(plan, names, out)
        for u in plan.updates:
            if u.mask is not None:
                c = [i for i, (_, conn) in enumerate(plan.connections) if conn is u.conn][0]
                m = u.mask
                if isinstance(u.conn, SparseConnection):
                    m = m[u.conn.rows, u.conn.cols]
                elif loop_propagation(u.conn) == "map":  # the shared weights' mask, as WF
                    m = m.reshape(-1)
                out[f"MK{c}"] = np.ascontiguousarray(m.numpy())
        return out
