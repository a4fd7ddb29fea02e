"""One description per neuron model and learning rule, from which every
back-end's code is generated (in the spirit of Brian2's code generation).

A :class:`NodeModel` lists a model's state and its step as an ordered list
of elementwise statements in a small Python subset, exactly in the order and
form of docs/semantics.md (float32 arithmetic, so the order of operations is
part of the definition)::

    v = (v - rest) * decay + rest
    inp = where(refrac_count > 0, 0.0, inp)
    refrac_count = refrac_count - dt
    v = v + inp
    s = v >= thresh
    refrac_count = where(s, refrac, refrac_count)
    v = where(s, reset, v)
    if lbound:
        v = maximum(v, lbound)

Names: the model's state, its parameters (per neuron or scalar), its decay
factors (``exp(-dt / tc)`` of a time-constant parameter), ``dt`` (ms),
``inp`` (this step's input, mV; 0 without input), ``s`` (spikes, bool; the
previous step's until assigned) and ``rand`` (a uniform draw in [0, 1) per
neuron). ``if flag:`` tests a parameter or property that is fixed during a
run (``lbound`` is not None, ``learning``, ``traces_additive``).

Functions: ``where(c, a, b)``, ``maximum(a, b)``, ``exp(a)``; three act
across neurons and get their own pass: ``sum_batch(e)`` (in a statement that
assigns a ``shared`` per-neuron state such as an adaptive threshold, summed
over the batch), ``one_winner(s)`` (keep one random spike per sample) and
``coupling(S)`` (the layer's own recurrent input ``S @ s``).

``window(x, k)`` is a kernel-weighted window over the past of a value:
``sum_d k[d] * x[t - d]`` for ``d = 0 .. len(k) - 1``, where ``x[t]`` is the
value ``x`` has at that statement in this step (``s`` before it is assigned:
the previous step's spikes, so ``k[0]`` weighs them) and ``x[t - d]`` the
value it had there ``d`` steps earlier (0 before the layer's first step or
reset). ``k`` names a 1-D float32 tensor the layer computes from its
parameters and ``dt`` (:meth:`Nodes.window_kernels`). The back-ends keep the
past values in a ring buffer, state ``<x>_window`` of shape
``[len(k), batch, *shape]`` (float64) with the layer's step count ``window_clock``
(both reset with the state). The sum is accumulated in float64 (the
products of float32 numbers are exact there) and rounded to float32 once,
so every back-end gets the same value whatever order it sums in. Each name
is windowed at most once per step, and never inside an ``if``. CSRM's::

    v = v + window(inp, res_kernel)
    v = v + window(fired, ref_kernel)

A :class:`RuleModel` lists a learning rule's statements: weight updates
``w = w + <expression>`` over ``outer(a, b)`` (``sum_b a[b, i] * b[b, j]``
of a pre-synaptic expression ``a`` of ``s_pre``/``x_pre`` and a post-synaptic
``b`` of ``s_post``/``x_post``), ``w`` itself, the rule's and the connection's
parameters; and updates of the rule's own state (declared per pre-synaptic
neuron, per post-synaptic neuron or per synapse, each per sample), which may
read its decay factors, derived scalars (host-computed numbers such as
``1 - dt / tc``), ``dt``, ``reward`` (a number, or one per sample) and the
layers' state it declares (``s_prob_post``: the target's ``s_prob``). In a
per-synapse statement ``outer(a, b)`` is the product of each sample
(``a[b, i] * b[b, j]``); in a weight update ``sum_batch(e)`` sums a
per-synapse expression over the batch. ``where(c, a, b)`` with a condition
of numbers only (``mu == 1.0``) takes one branch; ``x ** e`` rounds as torch
does (``e`` 1, 2 or 0.5 exactly). MSTDP::

    w = w + nu_pre * sum_batch(reward * eligibility)
    p_plus = p_plus * plus_decay + a_plus * s_pre
    p_minus = p_minus * minus_decay + a_minus * s_post
    eligibility = outer(p_plus, s_post) + outer(s_pre, p_minus)

From these, :func:`torch_node_step` and :func:`torch_rule_update` write the
eager torch code; :mod:`snnlab.engine.backends.cpu` writes one numba loop per
network and :mod:`snnlab.engine.backends.triton_kernels` one Triton kernel
per model.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import math
import weakref
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

__all__ = [
    "NodeModel",
    "RuleModel",
    "Statement",
    "Phase",
    "parse_step",
    "phases",
    "flag_value",
    "torch_node_step",
    "torch_rule_update",
    "rule_passes",
    "CROSS_NEURON",
    "WINDOW_CLOCK",
    "window_buffer",
]

#: functions that act across neurons (each gets its own pass over the layer)
CROSS_NEURON = ("sum_batch", "one_winner", "coupling")
_ELEMENTWISE = ("where", "maximum", "exp")
#: the state that counts a layer's steps for its windows (ring-buffer position)
WINDOW_CLOCK = "window_clock"


def window_buffer(name: str) -> str:
    """The state holding the past values of ``name`` for ``window(name, k)``."""
    return f"{name}_window"


@dataclass(frozen=True)
class NodeModel:
    """What a neuron model is: state, decays and the ordered step.

    Attributes
    ----------
    state : tuple of str
        Per-sample float32 state (besides the spikes ``s``), ``[batch, *shape]``.
    init : dict
        Initial value of each state variable: a number or a parameter name.
    shared : tuple of str
        Learned per-neuron state without a batch dimension (kept by resets).
    decays : dict
        Decay factor name -> time-constant parameter: ``exp(-dt / tc)``.
    step : str
        The statements (see the module docstring).
    """

    state: Tuple[str, ...]
    step: str
    init: Dict[str, object] = field(default_factory=dict)
    shared: Tuple[str, ...] = ()
    decays: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.windows  # checks the window() calls

    def statements(self) -> List["Statement"]:
        return parse_step(self.step)

    @functools.cached_property
    def windows(self) -> Tuple[Tuple[str, str], ...]:
        """The step's ``window(x, k)`` calls as ``(x, k)`` names, in order."""
        out = []
        for st in self.statements():
            for node in ast.walk(st.expr):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "window"):
                    continue
                if len(node.args) != 2 or node.keywords or not all(isinstance(a, ast.Name) for a in node.args):
                    raise ValueError(f"window() takes two names (a value and a kernel), got {ast.unparse(node)!r}")
                if st.flags:
                    raise ValueError(f"window() runs every step, not inside an 'if': {st.source!r}")
                x, k = node.args[0].id, node.args[1].id
                if any(x == seen for seen, _ in out):
                    raise ValueError(f"window({x}, ...) appears twice in the step; each name is windowed once")
                if k in self.state or k in self.shared or k in ("inp", "s", "dt", "rand"):
                    raise ValueError(f"window({x}, {k}): the kernel {k!r} names a state or input, not a kernel")
                out.append((x, k))
        return tuple(out)

    @functools.cached_property  # (read by every step of every layer)
    def uses_rand(self) -> bool:
        return any("rand" in st.names for st in self.statements())

    @functools.cached_property
    def uses_winner(self) -> bool:
        return any(st.kind == "one_winner" for st in self.statements())


#: what each name a rule reads varies over: b (sample), i (pre-synaptic
#: neuron), j (post-synaptic neuron); other names are numbers
_RULE_AXES = {
    "s_pre": "bi", "x_pre": "bi", "s_post": "bj", "x_post": "bj",
    "w": "ij", "wmin": "ij", "wmax": "ij", "reward": "b",
}
#: the axes of a rule's own state, by where it is declared
STATE_AXES = {"pre": "bi", "post": "bj", "synapse": "bij"}


@dataclass(frozen=True)
class RuleModel:
    """What a learning rule does each step: weight updates and its own state.

    Attributes
    ----------
    updates : str
        Statements, applied in order (see the module docstring): weight
        updates ``w = w + <expression>`` and updates of the rule's state.
    needs_traces : bool
        Whether the layers must keep spike traces (``x_pre``, ``x_post``).
    state : dict
        The rule's own state, name -> ``"pre"`` (``[batch, source.n]``),
        ``"post"`` (``[batch, target.n]``) or ``"synapse"`` (``[batch, *w.shape]``);
        zero at the start and after ``reset_state_variables``.
    decays : dict
        Decay factor name -> time-constant parameter (ms): ``exp(-dt / tc)``.
    layer_state : tuple of str
        State variables of the layers the rule reads, named ``<var>_pre`` (the
        source's ``var``) or ``<var>_post`` (the target's): ``s_prob_post`` is
        an SRM0 target's spike probability, ``[batch, n]``.
    derived : dict
        Scalar name -> expression of the rule's number parameters and ``dt``
        (``+ - * / **``, ``exp``), evaluated in double precision on the host
        whenever ``dt`` or a parameter changes (as the decays are), then read
        as a float32 number: ``{"e_keep": "1 - dt / tc_e_trace"}``.
    """

    updates: str
    needs_traces: bool = True
    state: Dict[str, str] = field(default_factory=dict)
    decays: Dict[str, str] = field(default_factory=dict)
    layer_state: Tuple[str, ...] = ()
    derived: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        taken = set(_RULE_AXES) | {"dt", "nu_pre", "nu_post"}
        for name, where in self.state.items():
            if where not in STATE_AXES:
                raise ValueError(f"rule state {name!r} is declared {where!r}; expected 'pre', 'post' or 'synapse'")
            if name in taken or name in self.decays:
                raise ValueError(f"rule state {name!r} takes the name of something a rule reads; choose another")
        for name in self.layer_state:
            if not (name.endswith("_pre") or name.endswith("_post")) or name in taken or name in self.state:
                raise ValueError(f"layer state {name!r}: expected '<variable>_pre' or '<variable>_post', "
                                 "not a name a rule reads otherwise")
        for name, expr in self.derived.items():
            if name in taken or name in self.state or name in self.decays or name in self.layer_state:
                raise ValueError(f"derived scalar {name!r} takes the name of something a rule reads; choose another")
            derived_code(name, expr)
        for st in self.statements():
            self.check(st)

    def statements(self) -> List["Statement"]:
        return parse_step(self.updates)

    @functools.cached_property
    def general(self) -> bool:
        """Whether the rule has state or reads a reward (else every statement is a
        ``w = w + k * outer(...)`` update of the first kind)."""
        return bool(self.state) or any(
            st.target != "w" or "reward" in st.names or "sum_batch" in _calls(st.expr) for st in self.statements()
        )

    @functools.cached_property
    def uses_reward(self) -> bool:
        return any("reward" in st.names for st in self.statements())

    @functools.cached_property
    def uses_dt(self) -> bool:
        return any("dt" in st.names for st in self.statements())

    def axes(self, name: str) -> str:
        """What ``name`` varies over (a subset of ``"bij"``; ``""`` for a number)."""
        if name in self.state:
            return STATE_AXES[self.state[name]]
        if name in self.layer_state:
            return "bi" if name.endswith("_pre") else "bj"
        return _RULE_AXES.get(name, "")

    @staticmethod
    def layer_variable(name: str) -> Tuple[str, str]:
        """``("pre" | "post", variable)`` of a ``layer_state`` name (``s_prob_post`` -> ``("post", "s_prob")``)."""
        side = "pre" if name.endswith("_pre") else "post"
        return side, name[: -len(side) - 1]

    def domain(self, st: "Statement") -> str:
        """Where a statement acts: ``"w"``, or the kind of the state it assigns."""
        return "w" if st.target == "w" else self.state[st.target]

    def check(self, st: "Statement") -> None:
        """A statement assigns ``w`` or declared state, from what that state varies over."""
        if st.flags:
            raise ValueError(f"a rule's statements take no 'if' blocks, got {st.source!r}")
        if st.target != "w" and st.target not in self.state:
            raise ValueError(f"a rule assigns w or its declared state, got {st.source!r} (declare it in state=)")
        if st.target == "w":
            rule_update_parts(st)
        for call in _calls(st.expr):
            if call in ("one_winner", "coupling", "window"):
                raise ValueError(f"{call}() acts on a layer, not in a rule: {st.source!r}")
            if call == "sum_batch" and st.target != "w":
                raise ValueError(f"sum_batch() belongs in a weight update, got {st.source!r}")
        target = "ij" if st.target == "w" else STATE_AXES[self.state[st.target]]
        got = self._expr_axes(st.expr, st)
        if not set(got) <= set(target):
            raise ValueError(
                f"{st.source!r} reads values over {''.join(sorted(got))!r} (b sample, i pre, j post) "
                f"but its target varies over {target!r}" + ("; sum over the batch with sum_batch() or outer()"
                                                             if "b" in got and st.target == "w" else "")
            )

    def _expr_axes(self, node, st, neuron: bool = False) -> str:
        """What ``node`` varies over; ``neuron``: inside an argument of ``outer()``."""
        if isinstance(node, ast.Name):
            return self.axes(node.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "outer":
            if len(node.args) != 2 or neuron:
                raise ValueError(f"outer() takes two per-neuron expressions, got {ast.unparse(node)!r}")
            a, b = (self._expr_axes(arg, st, neuron=True) for arg in node.args)
            if set(a) != set("bi") or set(b) != set("bj"):
                raise ValueError(f"outer(a, b) takes a pre-synaptic a and a post-synaptic b, got {ast.unparse(node)!r}")
            return "ij" if st.target == "w" else "bij"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sum_batch":
            return "".join(sorted(set(self._expr_axes(node.args[0], st)) - {"b"}))
        out = set()
        for child in ast.iter_child_nodes(node):
            out |= set(self._expr_axes(child, st, neuron))
        if (st.target == "w" or self.state.get(st.target) == "synapse") and not neuron:
            # pre- or post-synaptic values reach a synapse only through outer() (any connection kind has it)
            if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call, ast.BoolOp)):
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.Name) and set(self.axes(child.id)) in (set("bi"), set("bj")):
                        raise ValueError(
                            f"in {st.source!r}, {child.id} varies per neuron: a synapse reads it through outer()"
                        )
        return "".join(sorted(out))


def rule_passes(model: RuleModel) -> List[Tuple[str, Tuple[Statement, ...]]]:
    """A rule's statements as passes for a compiled loop: ``("pre", ...)``,
    ``("post", ...)`` (over neurons) and ``("synapse", ...)`` (weight updates and
    per-synapse state, one pass over the weights).

    A per-neuron statement moves before the per-synapse statements ahead of it
    that do not read what it assigns (they cannot write what it reads), so
    MSTDP's four statements make one pass over the weights, not two. The
    result equals running the statements in order.
    """
    order: List[Statement] = []
    for st in model.statements():
        pos = len(order)
        if model.domain(st) in ("pre", "post"):
            while pos > 0 and model.domain(order[pos - 1]) in ("w", "synapse") and st.target not in order[pos - 1].names:
                pos -= 1
        order.insert(pos, st)
    out: List[Tuple[str, Tuple[Statement, ...]]] = []
    for st in order:
        kind = model.domain(st)
        kind = "synapse" if kind == "w" else kind
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + (st,))
        else:
            out.append((kind, (st,)))
    return out


# --------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Statement:
    """One assignment ``target = expr`` (``expr`` as an ast node), with the
    flags it depends on (all must hold) and its kind: "sample" (elementwise),
    "shared" (assigns shared state), "one_winner" or "coupling"."""

    target: str
    expr: ast.expr
    source: str
    flags: Tuple[Tuple[str, bool], ...]
    kind: str
    names: frozenset


def _names(node) -> frozenset:
    return frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))


def _calls(node) -> List[str]:
    return [n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]


def _flags_of(test) -> Tuple[Tuple[str, bool], ...]:
    if isinstance(test, ast.Name):
        return ((test.id, True),)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Name):
        return ((test.operand.id, False),)
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        out = ()
        for v in test.values:
            out += _flags_of(v)
        return out
    raise ValueError(f"a step's 'if' tests flags (names, not, and), got {ast.unparse(test)!r}")


_PARSED: Dict[str, List[Statement]] = {}


def parse_step(text: str, shared: Sequence[str] = ()) -> List[Statement]:
    """The statements of a step description, in order."""
    key = text
    if key in _PARSED:
        return _PARSED[key]
    tree = ast.parse(_dedent(text))
    out: List[Statement] = []

    def visit(body, flags):
        for node in body:
            if isinstance(node, ast.If):
                if node.orelse:
                    raise ValueError("a step's 'if' has no 'else'; write the opposite test")
                visit(node.body, flags + _flags_of(node.test))
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                calls = _calls(node.value)
                for c in calls:
                    if c not in _ELEMENTWISE + CROSS_NEURON + ("outer", "window"):
                        raise ValueError(f"unknown function {c!r} in {ast.unparse(node)!r}")
                kind = "sample"
                if "one_winner" in calls:
                    kind = "one_winner"
                elif "coupling" in calls:
                    kind = "coupling"
                elif "sum_batch" in calls:
                    kind = "shared"
                out.append(Statement(
                    target=node.targets[0].id, expr=node.value, source=ast.unparse(node), flags=flags,
                    kind=kind, names=_names(node.value),
                ))
            else:
                raise ValueError(f"a step holds assignments and 'if flag:' blocks, got {ast.unparse(node)!r}")

    visit(tree.body, ())
    _PARSED[key] = out
    return out


def _dedent(text: str) -> str:
    """Statements at any indentation; an ``if flag:`` line's body is the lines indented under it."""
    out, if_indent = [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if if_indent is not None and indent > if_indent:
            out.append("    " + line.strip())
            continue
        if_indent = indent if line.rstrip().endswith(":") else None
        out.append(line.strip())
    return "\n".join(out) + "\n"


_STATIC_SHAPES = contextvars.ContextVar("snnlab_static_shapes", default=False)


@contextlib.contextmanager
def static_shapes():
    """Inside, cross-neuron steps use code whose shapes do not depend on the data
    (no host sync), as a block captured into a CUDA graph needs. Per thread."""
    token = _STATIC_SHAPES.set(True)
    try:
        yield
    finally:
        _STATIC_SHAPES.reset(token)


def in_static_shapes() -> bool:
    """Whether the caller runs inside :func:`static_shapes`."""
    return _STATIC_SHAPES.get()


def flag_value(obj, name: str) -> bool:
    """A flag of a layer or connection: a value that is not None and not False."""
    value = getattr(obj, name)
    if isinstance(value, torch.Tensor):
        return True
    return value is not None and value is not False


def active(statements: Sequence[Statement], obj) -> List[Statement]:
    """The statements whose flags hold for ``obj`` now."""
    return [st for st in statements if all(flag_value(obj, f) == want for f, want in st.flags)]


@dataclass(frozen=True)
class Phase:
    """Consecutive statements of one kind (one pass over the layer)."""

    kind: str
    statements: Tuple[Statement, ...]


def phases(statements: Sequence[Statement], shared: Sequence[str]) -> List[Phase]:
    out: List[Phase] = []
    for st in statements:
        kind = "shared" if st.target in shared else st.kind
        if out and out[-1].kind == kind and kind in ("sample", "shared"):
            out[-1] = Phase(kind, out[-1].statements + (st,))
        else:
            out.append(Phase(kind, (st,)))
    return out


# ------------------------------------------------- generated code, shared
class SquareAsProduct(ast.NodeTransformer):
    """Base of the back-ends' expression translators: ``x ** 2`` is written
    ``x * x``, which is what torch computes for it (so every back-end rounds alike)."""

    def visit_BinOp(self, node):
        if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) and node.right.value == 2:
            left = self.visit(node.left)
            return ast.BinOp(left, ast.Mult(), left)
        self.generic_visit(node)
        return node


# ------------------------------------------------------------ torch code
class _TorchExpr(ast.NodeTransformer):
    """Elementwise functions -> torch; names stay names (tensors or floats)."""

    MAP = {"where": "_where", "maximum": "_maximum", "exp": "_exp", "sum_batch": "_sum_batch", "window": "_window"}

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "window":  # + its ring buffer and the clock
            x = node.args[0].id
            node.args = [ast.Name(window_buffer(x), ast.Load()), ast.Name(WINDOW_CLOCK, ast.Load())] + node.args
        if isinstance(node.func, ast.Name) and node.func.id in self.MAP:
            node.func = ast.Name(self.MAP[node.func.id], ast.Load())
        return node


def _where(c, a, b):
    # where(c, a, b) with numbers or tensors (a number where a tensor is expected is filled)
    if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
        if a == 1 and b == 0:  # where(s, 1.0, 0.0): the condition as numbers, in one op
            return c.to(torch.float32)
        # (made on c's device: no host-to-device copy, which a captured CUDA graph refuses)
        return torch.full(c.shape, b, dtype=torch.float32, device=c.device).masked_fill_(c, a)
    if not isinstance(a, torch.Tensor):
        return b.masked_fill(c, a) if a == a else torch.where(c, a, b)
    if not isinstance(b, torch.Tensor):
        return a.masked_fill(~c, b)
    if a.shape != c.shape or b.shape != c.shape:
        a, b = torch.broadcast_tensors(a, b)
        a, b = a.expand(c.shape), b.expand(c.shape)
    return torch.where(c, a, b)


def _maximum(a, b):
    if isinstance(b, torch.Tensor):
        return torch.maximum(a, b)
    return a.clamp(min=b)


def _exp(a):
    return torch.exp(a)


def _sum_batch(e):
    return e.sum(0, dtype=torch.float32)  # (e cast to float32, then summed: one op)


def _window(buffer: torch.Tensor, clock: torch.Tensor, x, kernel: torch.Tensor) -> torch.Tensor:
    """``window(x, kernel)``: write ``x`` into its ring buffer's (float64) slot
    ``clock mod len(kernel)``, then ``sum_d kernel[d] * x[t - d]``, summed in
    float64 and rounded once. On the CPU outside a captured block the slot is
    read as a number and the weights are a row made once of the kernel
    reversed twice over (:func:`_weight_rows`); otherwise the slot stays on
    the device (no host sync)."""
    length = buffer.shape[0]
    if buffer.device.type == "cpu" and not in_static_shapes():
        slot = int(clock) % length
        row = buffer[slot]
        if isinstance(x, torch.Tensor):
            row.copy_(x)
        else:
            row.fill_(float(x))
        # the value in slot p is (slot - p) mod length steps old: weight kernel[(slot - p) mod length]
        weights = _weight_rows(kernel)[length - 1 - slot]
        return torch.mm(weights, buffer.view(length, -1)).float().view_as(row)  # (view_as: faster than view(shape))
    slot = torch.remainder(clock, length)
    if isinstance(x, torch.Tensor):
        buffer.index_copy_(0, slot, x.to(buffer.dtype).expand(buffer.shape[1:]).unsqueeze(0))
    else:
        buffer.index_fill_(0, slot, float(x))
    age = torch.remainder(slot - torch.arange(length, device=buffer.device), length)
    weights = kernel.to(device=buffer.device, dtype=torch.float64)[age]
    return (weights @ buffer.view(length, -1)).view(buffer.shape[1:]).to(torch.float32)


_WEIGHT_ROWS: Dict[int, tuple] = {}
#: longer kernels get their weight rows sliced each step (len + 1 views of
#: each would hold more memory than they save time)
_MADE_ROWS_UP_TO = 1024


class _SlicedRows:
    """``rows[j]``: ``doubled[j : j + length]`` as a ``[1, length]`` view, sliced when asked."""

    __slots__ = ("doubled", "length")

    def __init__(self, doubled: torch.Tensor, length: int) -> None:
        self.doubled, self.length = doubled, length

    def __getitem__(self, j: int) -> torch.Tensor:
        return self.doubled[j: j + self.length].unsqueeze(0)


def _weight_rows(kernel: torch.Tensor) -> tuple:
    """The rows ``cat(flip(k), flip(k))[j : j + len(k)]`` (float64, ``[1, len(k)]``
    views) for ``j = 0 .. len(k)``, made once and kept until ``kernel`` is
    written (its version): a step indexes a tuple instead of slicing (a kernel
    longer than ``_MADE_ROWS_UP_TO`` is sliced when asked). (Rows of ``[1, len]``:
    ``mm`` is what ``matmul`` of a vector and a matrix runs.)"""
    hit = _WEIGHT_ROWS.get(id(kernel))
    if hit is not None and hit[0]() is kernel and hit[1] == kernel._version:
        return hit[2]
    flipped = kernel.to(torch.float64).flip(0)
    doubled = torch.cat((flipped, flipped))
    if len(flipped) > _MADE_ROWS_UP_TO:
        rows = _SlicedRows(doubled, len(flipped))
    else:
        rows = doubled.unfold(0, len(flipped), 1).unsqueeze(1).unbind(0)
    if len(_WEIGHT_ROWS) > 256:  # kernels of layers gone since
        _WEIGHT_ROWS.clear()
    _WEIGHT_ROWS[id(kernel)] = (weakref.ref(kernel), kernel._version, rows)
    return rows


_TORCH_ENV = {"_where": _where, "_maximum": _maximum, "_exp": _exp, "_sum_batch": _sum_batch, "_window": _window,
              "torch": torch}
_TORCH_CACHE: Dict[tuple, Callable] = {}


def torch_node_step(model: NodeModel, statements: Sequence[Statement], key: tuple) -> Callable:
    """A Python function ``step(env) -> env`` running ``statements`` with torch
    on the tensors and numbers in ``env`` (a dict of names), out of place.

    Cross-neuron statements call ``env["one_winner"]`` / ``env["coupling"]``.
    """
    fn = _TORCH_CACHE.get(key)
    if fn is not None:
        return fn
    lines = ["def step(env):"]
    exprs = [_TorchExpr().visit(ast.parse(ast.unparse(st.expr), mode="eval")).body for st in statements]
    for name in sorted(set().union(*(_names(e) for e in exprs)) | {st.target for st in statements}):
        if name in ("one_winner", "coupling") or name in _TorchExpr.MAP.values():
            continue
        lines.append(f"    {name} = env.get({name!r})")
    lines.append("    one_winner = env.get('one_winner')")
    lines.append("    coupling = env.get('coupling')")
    for st, expr in zip(statements, exprs):
        lines.append(f"    {st.target} = {ast.unparse(expr)}")
    if any(WINDOW_CLOCK in _names(e) for e in exprs):
        lines.append(f"    {WINDOW_CLOCK}.add_(1)  # the step is done: the windows' next slot")
    assigned = sorted({st.target for st in statements})
    lines.append("    return {" + ", ".join(f"{n!r}: {n}" for n in assigned) + "}")
    src = "\n".join(lines) + "\n"
    env = dict(_TORCH_ENV)
    exec(compile(src, f"<snnlab.dynamics.model torch step {key[0]}>", "exec"), env)
    fn = env["step"]
    fn.source = src
    _TORCH_CACHE[key] = fn
    return fn


# ------------------------------------------------------------ rule code
def outer_key(call: ast.Call) -> Tuple[str, str]:
    """An ``outer(a, b)`` call as (a, b): a name, or an expression's source."""
    return tuple(arg.id if isinstance(arg, ast.Name) else ast.unparse(arg) for arg in call.args)


def outer_terms(expr: ast.expr) -> List[Tuple[str, str]]:
    """The ``outer(a, b)`` calls of an expression, as (a, b) (see :func:`outer_key`):
    a term is event-driven on a side whose argument is ``s_pre`` or ``s_post`` itself."""
    return [outer_key(n) for n in ast.walk(expr)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "outer"]


def derived_code(name: str, expr: str):
    """A ``derived`` scalar's expression, compiled (numbers, names, ``+ - * / **``, ``exp``)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"derived scalar {name!r}: {expr!r} is not an expression") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id == "exp"):
            raise ValueError(f"derived scalar {name!r}: only exp() may be called, got {expr!r}")
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Lambda, ast.Compare, ast.BoolOp)):
            raise ValueError(f"derived scalar {name!r}: arithmetic of numbers and names only, got {expr!r}")
    return compile(tree, f"<derived {name}>", "eval")


def derived_values(model: "RuleModel", numbers: dict) -> dict:
    """The ``derived`` scalars of ``model`` from ``numbers`` (parameters and ``dt``), in double precision."""
    env = {"__builtins__": {}, "exp": math.exp, "inf": math.inf}
    out = {}
    for name, expr in model.derived.items():
        try:
            out[name] = float(eval(derived_code(name, expr), env, numbers))
        except NameError as exc:
            raise ValueError(f"derived scalar {name!r} = {expr!r} reads {exc.name!r}, which is neither a number "
                             f"parameter of the rule ({', '.join(sorted(numbers))}) nor dt") from exc
    return out


class _LazyScalarWhere(ast.NodeTransformer):
    """``where(c, a, b)`` with ``c`` of numbers only -> ``(a if c else b)``: torch then
    computes only the branch taken (``where(mu == 1.0, ...)``)."""

    def __init__(self, model: Optional["RuleModel"]):
        self.model = model

    def visit_Call(self, node):
        self.generic_visit(node)
        if (self.model is not None and isinstance(node.func, ast.Name) and node.func.id == "where"
                and not any(self.model.axes(n) for n in _names(node.args[0]))):
            c, a, b = node.args
            return ast.IfExp(test=c, body=a, orelse=b)
        return node


class _SpikesSubtracted(ast.NodeTransformer):
    """``s_post - e`` and ``-s_pre``: torch subtracts no bool tensors, so the spikes
    become 0.0 / 1.0 there (elsewhere they stay bool: ``where(s_post, ...)``)."""

    @staticmethod
    def _number(node):
        if isinstance(node, ast.Name) and node.id in ("s_pre", "s_post"):
            return ast.Call(ast.Name("_spikes_as_float", ast.Load()), [node], [])
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Sub):
            node.left, node.right = self._number(node.left), self._number(node.right)
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub):
            node.operand = self._number(node.operand)
        return node


def _spikes_as_float(s):
    return s.to(torch.float32) if isinstance(s, torch.Tensor) and s.dtype == torch.bool else s


#: the globals of a rule's compiled torch expressions
_RULE_GLOBALS = {"_spikes_as_float": _spikes_as_float}


def _torch_rule_expr(expr: ast.expr, model: Optional["RuleModel"]) -> ast.expr:
    """A rule expression for torch: where() on numbers lazy, spikes subtracted as numbers."""
    tree = ast.parse(ast.unparse(expr), mode="eval").body
    tree = _SpikesSubtracted().visit(_LazyScalarWhere(model).visit(tree))
    return ast.fix_missing_locations(tree)


def rule_update_parts(st: Statement) -> ast.expr:
    """The increment of ``w = w + <increment>``."""
    e = st.expr
    if st.target != "w" or not (isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add)
                                and isinstance(e.left, ast.Name) and e.left.id == "w"):
        raise ValueError(f"a rule's update is 'w = w + <expression>', got {st.source!r}")
    return e.right


def _simple_outer(inc: ast.expr) -> Optional[Tuple[ast.expr, str, str]]:
    """``k * outer(a, b)`` with ``k`` free of outer and w, ``a`` and ``b`` names: (k, a, b), else None."""
    if isinstance(inc, ast.BinOp) and isinstance(inc.op, ast.Mult) and isinstance(inc.right, ast.Call):
        call = inc.right
        if (isinstance(call.func, ast.Name) and call.func.id == "outer"
                and all(isinstance(arg, ast.Name) for arg in call.args)):
            names = _names(inc.left)
            if "w" not in names and not outer_terms(inc.left):
                return inc.left, call.args[0].id, call.args[1].id
    return None


def torch_rule_update(rule, conn, statements: Sequence[Statement], values: dict, model: Optional[RuleModel] = None) -> None:
    """Apply a rule's updates eagerly through the connection's primitives.

    ``k * outer(spikes, other)`` becomes ``conn.add_outer`` (event-driven on
    the spiking rows or columns, dense and sparse alike); any other increment
    is evaluated with ``outer = conn.outer_sum`` and added with
    ``conn.add_to_weights``. An update whose every ``outer`` has a spike side
    without spikes is skipped (it adds nothing).

    With ``model`` (a rule with state or a reward, :attr:`RuleModel.general`),
    every statement is evaluated in the layout of its target (see
    :func:`_general_statement`); ``values`` then holds the rule's state tensors,
    replaced by their new values (on the rule and in ``values``).
    """
    if model is not None and model.general:
        for st in statements:
            _general_statement(model, rule, conn, st, values)
        return
    static = in_static_shapes()  # a captured block: no skipping on the device's data
    for st in statements:
        terms, simple, code = _rule_parts(st, model)
        if not static and terms and all(any(n in ("s_pre", "s_post") and not values[n].any() for n in t) for t in terms):
            continue
        if simple is not None:
            a, b = simple
            conn.add_outer(values[a], values[b], eval(code, _RULE_GLOBALS, values))
            continue
        env = dict(values, outer=conn.outer_sum, w=conn.weights(), where=_where, maximum=_maximum, exp=_exp)
        conn.add_to_weights(eval(code, _RULE_GLOBALS, env))


def _general_statement(model: RuleModel, rule, conn, st: Statement, values: dict) -> None:
    """One statement of a rule with state, evaluated with torch.

    A per-neuron statement sees ``[batch, n]`` tensors (a per-sample reward as
    ``[batch, 1]``); a per-synapse statement or weight update sees
    ``[batch, *w.shape]`` state, ``w`` itself and ``outer`` as the connection's
    per-sample ``conn.outer`` (a weight update's ``outer`` is summed over the
    batch, ``sum_batch`` is ``conn.reduce``), so it works for every connection kind.
    """
    domain = model.domain(st)
    env = {}
    for name in st.names:
        if name in ("outer", "sum_batch", "where", "maximum", "exp"):
            continue
        value = conn.weights() if name == "w" else values[name]
        if isinstance(value, torch.Tensor) and (name in ("s_pre", "x_pre", "s_post", "x_post") or name in model.layer_state):
            value = value.reshape(value.shape[0], -1)
        elif name == "reward" and isinstance(value, torch.Tensor) and value.dim() == 1:
            wdim = conn.weights().dim()
            value = value.view(-1, 1) if domain in ("pre", "post") else value.view(-1, *([1] * wdim))
        env[name] = value
    env.update(where=_where, maximum=_maximum, exp=_exp)
    if domain == "w":
        env.update(outer=conn.outer_sum, sum_batch=conn.reduce if conn.reduction is not None else _sum_samples)
        conn.add_to_weights(eval(_compiled(st, model, increment=True), _RULE_GLOBALS, env))
        return
    if domain == "synapse":
        env["outer"] = conn.outer
    state = values[st.target]
    decaying = _decaying(st, model)
    if decaying is not None:
        # ``x = x * k + rest``: in place, the same float32 operations without new tensors
        factor, rest = (eval(code, _RULE_GLOBALS, env) for code in decaying)
        state.mul_(factor).add_(rest)
        return
    result = eval(_compiled(st, model), _RULE_GLOBALS, env)
    if not (isinstance(result, torch.Tensor) and result.shape == state.shape and result.dtype == state.dtype):
        result = torch.as_tensor(result, dtype=state.dtype, device=state.device).expand_as(state).contiguous()
    elif any(v is not state and isinstance(v, torch.Tensor) and v.data_ptr() == result.data_ptr() for v in env.values()):
        result = result.clone()  # e.g. ``e = x_pre``: the state must not be the layer's trace itself
    if in_static_shapes():  # a captured block replays on fixed addresses: write the state in place
        state.copy_(result)
        return
    setattr(rule, st.target, result)  # the new value (no copy); later statements read it
    values[st.target] = result


_DECAYING: dict = {}


def _decaying(st: Statement, model: Optional[RuleModel] = None):
    """``(k, rest)`` compiled, when a statement is ``x = x * k + rest`` with ``x``
    in neither ``k`` nor ``rest`` (a decaying trace); else None."""
    cached = _DECAYING.get((id(st), id(model)))  # (a where() on numbers depends on the model's axes)
    if cached is not None and cached[0] is st and cached[2] is model:
        return cached[1]
    e, parts = st.expr, None
    if (isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add) and isinstance(e.left, ast.BinOp)
            and isinstance(e.left.op, ast.Mult) and isinstance(e.left.left, ast.Name) and e.left.left.id == st.target
            and st.target not in _names(e.left.right) | _names(e.right)):
        parts = tuple(compile(ast.Expression(_torch_rule_expr(x, model)), "<rule>", "eval")
                      for x in (e.left.right, e.right))
    _DECAYING[(id(st), id(model))] = (st, parts, model)
    return parts


def _sum_samples(e):
    """``e.sum(0)``; a batch of one is its only sample (summing it costs more than the update)."""
    return e[0] if isinstance(e, torch.Tensor) and e.shape[0] == 1 else e.sum(0)


_COMPILED_RULE: dict = {}


def _compiled(st: Statement, model: Optional[RuleModel] = None, increment: bool = False):
    """A statement's expression (or a weight update's increment), compiled once."""
    cached = _COMPILED_RULE.get((id(st), increment, id(model)))
    if cached is not None and cached[0] is st and cached[2] is model:
        return cached[1]
    expr = rule_update_parts(st) if increment else st.expr
    code = compile(ast.Expression(_torch_rule_expr(expr, model)), "<rule>", "eval")
    _COMPILED_RULE[(id(st), increment, id(model))] = (st, code, model)
    return code


_RULE_PARTS: dict = {}


def _rule_parts(st: Statement, model: Optional[RuleModel] = None):
    """``(outer terms, (a, b) of a simple k * outer(a, b) or None, compiled k or increment)``,
    worked out once per statement (compiling every step cost more than the update)."""
    cached = _RULE_PARTS.get((id(st), id(model)))
    if cached is not None and cached[0] is st and cached[2] is model:
        return cached[1]
    inc = rule_update_parts(st)
    simple = _simple_outer(inc)
    if simple is not None:
        k, a, b = simple
        parts = (outer_terms(inc), (a, b), compile(ast.Expression(_torch_rule_expr(k, model)), "<rule>", "eval"))
    else:
        parts = (outer_terms(inc), None, compile(ast.Expression(_torch_rule_expr(inc, model)), "<rule>", "eval"))
    _RULE_PARTS[(id(st), id(model))] = (st, parts, model)
    return parts


def decay_factor(dt: float, tc):
    """``exp(-dt / tc)`` in float32 (a float for a scalar tc)."""
    if isinstance(tc, torch.Tensor):
        return torch.exp(-dt / tc)
    return torch.exp(torch.tensor(-dt, dtype=torch.float32) / torch.tensor(tc, dtype=torch.float32)).item()


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)) or isinstance(v, float)
