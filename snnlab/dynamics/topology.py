"""Connections between layers.

A connection turns the source layer's spikes of one step into a voltage
input to the target layer: ``s.float().view(B, -1) @ w (+ b)``. Where few
neurons spike (the usual case in a spiking network), :class:`Connection`
sums only the weight rows of the neurons that spiked, which costs a few per
cent of a dense matrix product; where many spike it uses the dense product.
:class:`SparseConnection` keeps only the existing synapses (CSR).

Learning rules act on a connection through three primitives that both kinds
implement: :meth:`outer_sum` / :meth:`outer` (pre x post products in the shape
of the stored weights) and :meth:`add_to_weights`.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

from .params import Param, make_init
from .registry import register
from .rules import LearningRule, NoOp
from .checks import check_finite_tensor, check_real, describe
from .model import in_static_shapes
from .nodes import Nodes

__all__ = ["AbstractConnection", "Connection", "SparseConnection", "PropagationMap"]

# Fraction of the source layer spiking below which only the spiking rows are summed.
EVENT_DRIVEN_MAX_FRACTION = 0.125
_ZERO_OFFSET = torch.zeros(1, dtype=torch.long)


class PropagationMap(NamedTuple):
    """Which weight each spike of a pre-synaptic neuron adds to which target, for
    connections whose weights are shared or stored in their own shape (convolution,
    local): when neuron ``i`` spikes, for every ``k`` in ``row_ptr[i]:row_ptr[i + 1]``,
    target ``targets[k]`` gets ``weights().reshape(-1)[weight_index[k]]``.
    int64 tensors on the CPU; a row's entries sorted by target."""

    row_ptr: torch.Tensor  # [source.n + 1]
    targets: torch.Tensor  # [entries]
    weight_index: torch.Tensor  # [entries]

    @classmethod
    def from_entries(cls, pre: torch.Tensor, post: torch.Tensor, weight_index: torch.Tensor, n_pre: int, n_post: int):
        """The map of the entries ``(pre[k], post[k], weight_index[k])``, in any order."""
        pre, post, weight_index = (t.reshape(-1).to(torch.int64).cpu() for t in (pre, post, weight_index))
        order = torch.argsort(pre * n_post + post, stable=True)
        pre, post, weight_index = pre[order], post[order], weight_index[order]
        counts = torch.bincount(pre, minlength=n_pre)
        row_ptr = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
        return cls(row_ptr.contiguous(), post.contiguous(), weight_index.contiguous())


def _make_connection_init(cls) -> None:
    make_init(
        cls,
        positional=(("source", make_init.REQUIRED), ("target", make_init.REQUIRED), ("nu", None), ("reduction", None)),
        positional_params=("weight_decay",),
        extra=(("update_rule", None),) + tuple(cls.arguments),
        var_keyword="rule_params",
    )


def _check_layer(name: str, layer) -> None:
    if not isinstance(layer, Nodes):
        raise TypeError(f"{name} must be a layer (an snnlab Nodes object), got {describe(layer)}")


class AbstractConnection(torch.nn.Module):
    """What every connection shares: endpoints, bounds, learning rule, norm.

    Parameters
    ----------
    source, target : Nodes
        The layers it connects.
    nu : float or (float, float), optional
        Learning rates (pre-synaptic, post-synaptic).
    reduction : callable, optional
        How a rule combines per-sample updates over the batch (``torch.sum``
        when None; ``torch.mean`` is the other common choice).
    weight_decay : float
        After each learning step ``w *= 1 - weight_decay``.
    update_rule : class, optional
        A learning rule class from :mod:`snnlab.learning` (NoOp when None).
    wmin, wmax : float
        Bounds the weights are clamped to after each learning step.
    norm : float, optional
        If set, after each run the columns are rescaled so that the sum of
        ``|w|`` into every target neuron equals ``norm``.
    """

    params: tuple[Param, ...] = (
        Param("weight_decay", 0.0, low=0.0, high=1.0, high_open=True, doc="after each learning step w *= 1 - weight_decay"),
        Param("wmin", -math.inf, finite=False, per_neuron=True,
              doc="lower bound of the weights (clamped after each learning step); a tensor: per synapse"),
        Param("wmax", math.inf, finite=False, per_neuron=True,
              doc="upper bound of the weights (clamped after each learning step); a tensor: per synapse"),
        Param("norm", None, low=0.0, low_open=True, doc="after each run, sum of |w| into every target neuron (None: off)"),
    )
    #: keyword-only constructor arguments that are not parameters: (name, default)
    arguments: tuple = ()
    #: How the graph path (CUDA graphs; ``graph-emulate`` on any device) propagates
    #: this kind: ``"rows"`` (``s @ w + b`` from the rows of a dense
    #: ``(source.n, target.n)`` ``w``), ``"compute"`` (its own :meth:`compute`) or
    #: None (it does not: the network runs eagerly). A kind that declares one
    #: promises that its propagation and learning primitives never wait on the
    #: device (no ``bool(tensor)``, ``.item()``, ``.nonzero()``) and make shapes that
    #: do not depend on the spikes. Only a class's own declaration counts: a
    #: subclass that does not restate it runs eagerly (it may compute otherwise).
    graph_propagation: Optional[str] = None
    #: How the compiled CPU loop propagates this kind: ``"rows"`` (as ``"rows"``
    #: above), ``"csr"`` (SparseConnection's rows), ``"map"`` (shared weights through
    #: :meth:`propagation_map`), ``"pool"`` (max-pooling: running rates, ``pooling_windows``),
    #: ``"mean"`` (mean-field) or None (eager). Only a class's own declaration counts.
    loop_propagation: Optional[str] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            _make_connection_init(cls)

    def _construct(self, head: dict, values: dict, rule_params: dict) -> None:
        torch.nn.Module.__init__(self)
        source, target = head["source"], head["target"]
        _check_layer("source", source)
        _check_layer("target", target)
        self.source = source
        self.target = target
        owner = type(self).__name__
        checked = {p.name: p.check(owner, values[p.name]) for p in self.params}
        self.check_parameters(owner, checked)
        for name, value in checked.items():
            setattr(self, name, value)
        reduction = head["reduction"]
        if reduction is not None and not callable(reduction):
            raise TypeError(f"reduction must be callable (e.g. torch.sum), got {describe(reduction)}")
        self.reduction = reduction
        update_rule = head["update_rule"]
        rule_cls = NoOp if update_rule is None else update_rule
        if not (isinstance(rule_cls, type) and issubclass(rule_cls, LearningRule)):
            raise TypeError(
                f"update_rule must be a learning rule class from snnlab.learning (e.g. PostPre), got {describe(update_rule)}"
            )
        own = {p.name for p in rule_cls.params} - {"nu"}
        unknown = sorted(set(rule_params) - own)
        if unknown:
            raise TypeError(
                f"{owner}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                f"its learning rule {rule_cls.__name__} takes {', '.join(sorted(own)) or 'no parameters of its own'}"
            )
        self._rule_cls = rule_cls
        self._rule_params = dict(rule_params)
        self._nu = (0.0, 0.0) if head["nu"] is None else head["nu"]
        self.update_rule = None  # made once the weights exist
        self.dt = 1.0
        self._setup(head)
        self._make_rule()

    def _setup(self, head: dict) -> None:  # pragma: no cover - abstract
        """Make the weights from the constructor's arguments."""
        raise NotImplementedError

    def check_parameters(self, owner: str, values: dict) -> None:
        if bool((torch.as_tensor(values["wmin"]) > torch.as_tensor(values["wmax"])).any()):
            raise ValueError(f"{owner}: wmin ({values['wmin']}) must not exceed wmax ({values['wmax']})")

    def parameters_changed(self, names: tuple) -> None:
        self.compute_decays(self.dt)

    @property
    def nu(self) -> tuple:
        """Learning rates (pre, post), held by the learning rule."""
        rule = self.__dict__.get("update_rule")
        return rule.nu if rule is not None else self._nu

    @property
    def bounded(self) -> bool:
        lo, hi = self.wmin, self.wmax
        if not isinstance(lo, torch.Tensor) and not isinstance(hi, torch.Tensor):
            return lo != -math.inf or hi != math.inf
        return bool(torch.isfinite(torch.as_tensor(lo)).any() or torch.isfinite(torch.as_tensor(hi)).any())

    def finite_bounds(self) -> bool:
        """Whether every bound is finite (then default weights are drawn in [wmin, wmax])."""
        lo, hi = self.wmin, self.wmax
        if not isinstance(lo, torch.Tensor) and not isinstance(hi, torch.Tensor):
            return math.isfinite(lo) and math.isfinite(hi)
        return bool(torch.isfinite(torch.as_tensor(lo)).all() and torch.isfinite(torch.as_tensor(hi)).all())

    def clamp_bounds(self, like: torch.Tensor):
        """``(wmin, wmax)`` for ``like.clamp``: numbers, or tensors on ``like``'s device
        when the bounds are per synapse (BindsNET's tensor ``wmin`` / ``wmax``)."""
        lo, hi = self.wmin, self.wmax
        if isinstance(lo, torch.Tensor) or isinstance(hi, torch.Tensor):
            lo = torch.as_tensor(lo, dtype=like.dtype, device=like.device).expand_as(like)
            hi = torch.as_tensor(hi, dtype=like.dtype, device=like.device).expand_as(like)
        return lo, hi

    # Learning primitives on a stored weight tensor ``w`` (SparseConnection
    # overrides them for its CSR values).
    def reduce(self, per_sample: torch.Tensor) -> torch.Tensor:
        """The batch sum (or the connection's ``reduction``) of per-sample weight changes."""
        return per_sample.sum(0) if self.reduction is None else self.reduction(per_sample, dim=0)

    def weights(self) -> torch.Tensor:
        """The stored weights."""
        return self.w

    def add_to_weights(self, delta: torch.Tensor) -> None:
        self.w.add_(delta)

    def decay_and_clamp(self) -> None:
        if self.weight_decay:
            self.w.mul_(1.0 - self.weight_decay)
        if self.bounded:
            self.w.clamp_(*self.clamp_bounds(self.w))

    def _apply(self, fn, *args, **kwargs):
        # Per-synapse bounds are plain tensor attributes: move them with the weights.
        super()._apply(fn, *args, **kwargs)
        for name in ("wmin", "wmax"):
            value = self.__dict__.get(name)
            if isinstance(value, torch.Tensor):
                self.__dict__[name] = fn(value)
        return self

    def _make_rule(self) -> None:
        self.update_rule = self._rule_cls(
            self, self._nu, reduction=self.reduction, weight_decay=self.weight_decay, **self._rule_params
        )

    def update(self, *, learning: bool = True, mask: Optional[torch.Tensor] = None, reward=None) -> None:
        """One learning step (rule, decay, bounds), then the mask."""
        if learning:
            self.update_rule.update(reward=reward)
        if mask is not None:
            self.apply_mask(mask)

    def reset_state_variables(self) -> None:
        self.update_rule.reset_state_variables()

    def structural_mask(self) -> Optional[torch.Tensor]:
        """Where weights stay zero whatever the learning (True: no synapse), in the
        shape of :meth:`weights`, applied after every learning step; None: nowhere."""
        return None

    def propagation_map(self) -> PropagationMap:
        """The :class:`PropagationMap` of this connection's geometry (kinds with
        ``loop_propagation = "map"``; built once, the geometry is fixed)."""
        raise TypeError(f"{type(self).__name__} has no propagation map")

    def target_bias(self) -> Optional[torch.Tensor]:
        """The bias each target neuron gets every step, ``[target.n]``, or None."""
        return getattr(self, "b", None)

    def propagation_state(self, batch: int, device) -> dict:
        """The tensors :meth:`compute` updates in place from step to step (none for
        most kinds), made for ``batch`` samples on ``device`` where missing, so a
        compiled or captured block can read and restore them by address."""
        return {}

    def compute_decays(self, dt: float) -> None:
        self.dt = float(dt)
        self.update_rule.compute_decays(self.dt)


class Connection(AbstractConnection):
    """Dense, all-to-all connection with weights ``w`` of shape ``(source.n, target.n)``.

    Parameters
    ----------
    w : Tensor, optional
        Initial weights (copied; the caller's tensor is never changed). When
        None: ``U(0, 1)``, or ``wmin + U(0, 1) * (wmax - wmin)`` when both bounds
        are finite. Clamped to ``[wmin, wmax]``.
    b : Tensor, optional
        Bias added to the target's input, shape ``(target.n,)``.
    (others as :class:`AbstractConnection`)

    Examples
    --------
    >>> from snnlab.network.nodes import Input, LIFNodes
    >>> c = Connection(Input(n=2), LIFNodes(n=3), w=torch.ones(2, 3))
    >>> c.compute(torch.tensor([[True, False]])).tolist()
    [[1.0, 1.0, 1.0]]
    """

    arguments = (("w", None), ("b", None))
    graph_propagation = "rows"
    loop_propagation = "rows"

    def _setup(self, head: dict) -> None:
        source, target, w, b = self.source, self.target, head["w"], head["b"]
        expected = (source.n, target.n)
        if w is None:
            if self.finite_bounds():
                w = self.wmin + torch.rand(*expected) * (self.wmax - self.wmin)
            else:
                w = torch.rand(*expected)
        else:
            w = self._checked_weights(w, "w")
        if self.bounded:
            w = w.clamp(*self.clamp_bounds(w))
        self.w = torch.nn.Parameter(w, requires_grad=False)
        if b is not None:
            if not isinstance(b, torch.Tensor):
                raise TypeError(f"b must be a tensor of shape ({target.n},), got {describe(b)}")
            if b.numel() != target.n:
                raise ValueError(f"b has shape {tuple(b.shape)}, expected ({target.n},) for a target of {target.n} neurons")
            b = b.detach().to(torch.float32).reshape(target.n).clone()
            check_finite_tensor("b", b)
            self.b = torch.nn.Parameter(b, requires_grad=False)
        else:
            self.b = None

    def __setattr__(self, name, value):
        # `conn.w = tensor` is checked and copied, like the constructor's w.
        if name == "w" and "w" in self._parameters and not isinstance(value, torch.nn.Parameter):
            w = self._checked_weights(value, "w")
            value = torch.nn.Parameter(w.to(self._parameters["w"].device), requires_grad=False)
        super().__setattr__(name, value)

    def _checked_weights(self, w, name: str) -> torch.Tensor:
        expected = (self.source.n, self.target.n)
        if not isinstance(w, torch.Tensor):
            raise TypeError(f"{name} must be a tensor of shape {expected}, got {describe(w)}")
        if w.is_complex() or w.dtype == torch.bool:
            raise TypeError(f"{name} must be a real tensor, got dtype {w.dtype}")
        if tuple(w.shape) != expected:
            raise ValueError(
                f"{name} has shape {tuple(w.shape)}, expected {expected} (source.n, target.n)"
            )
        w = w.detach().to(torch.float32).clone(memory_format=torch.contiguous_format)
        check_finite_tensor(name, w)
        return w

    # ----------------------------------------------------------- propagation
    def compute(self, s: torch.Tensor) -> Optional[torch.Tensor]:
        """Input to the target, ``[B, target.n]``, from source spikes ``s``.

        Returns None when nothing spiked and there is no bias (no input).
        """
        w = self.w
        batch = s.shape[0]
        flat = s.view(batch, -1)
        if not w.is_cuda:
            # Event-driven: sum the weight rows of the neurons that spiked
            # (embedding_bag sums rows without copying them out).
            nz = flat.nonzero()
            k = nz.shape[0]
            if k == 0:
                return None if self.b is None else self.b.expand(batch, -1)
            if k <= EVENT_DRIVEN_MAX_FRACTION * flat.numel():
                if batch == 1:
                    offsets = _ZERO_OFFSET
                else:
                    counts = torch.bincount(nz[:, 0], minlength=batch)
                    offsets = torch.cat([_ZERO_OFFSET, counts.cumsum(0)[:-1]])
                out = torch.nn.functional.embedding_bag(nz[:, 1], w, offsets, mode="sum")
                return out if self.b is None else out + self.b
        out = flat.to(w.dtype) @ w
        return out if self.b is None else out + self.b

    def compute_many(self, s_seq: torch.Tensor) -> torch.Tensor:
        """Inputs for a sequence of spike tensors ``[T, B, *shape]`` in one product."""
        T, B = s_seq.shape[0], s_seq.shape[1]
        out = torch.matmul(s_seq.reshape(T, B, -1).to(self.w.dtype), self.w)
        return out if self.b is None else out + self.b

    # ------------------------------------------------------ learning support
    def outer_sum(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        """``sum_b outer(pre[b], post[b])`` in the weights' shape (or with
        ``reduction`` when one was given)."""
        pre = pre.reshape(pre.shape[0], -1).to(torch.float32)
        post = post.reshape(post.shape[0], -1).to(torch.float32)
        if self.reduction is not None:
            return self.reduction(torch.bmm(pre.unsqueeze(2), post.unsqueeze(1)), dim=0)
        return pre.t() @ post

    def add_outer(self, pre: torch.Tensor, post: torch.Tensor, scale: float) -> None:
        """``w += scale * sum_b outer(pre[b], post[b])``.

        When one side is a spike tensor of one sample, only the rows (or
        columns) of the neurons that spiked change, and only those are touched.
        """
        # (inside a captured block the product is dense: its shapes may not depend on the spikes)
        if self.reduction is None and pre.shape[0] == 1 and not in_static_shapes():
            for spikes, other, dim in ((pre, post, 0), (post, pre, 1)):
                if spikes.dtype == torch.bool:
                    idx = spikes.reshape(-1).nonzero().view(-1)
                    if idx.numel() <= EVENT_DRIVEN_MAX_FRACTION * spikes.numel():
                        row = scale * other.reshape(-1).to(self.w.dtype)
                        k = idx.numel()
                        src = row.expand(k, -1) if dim == 0 else row.view(-1, 1).expand(-1, k)
                        self.w.index_add_(dim, idx, src)
                        return
        self.w.add_(scale * self.outer_sum(pre, post))

    def outer(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        """Per-sample ``outer(pre[b], post[b])``: ``[B, n_in, n_out]``."""
        pre = pre.reshape(pre.shape[0], -1).to(torch.float32)
        post = post.reshape(post.shape[0], -1).to(torch.float32)
        return torch.bmm(pre.unsqueeze(2), post.unsqueeze(1))

    def apply_mask(self, mask: torch.Tensor) -> None:
        self.w.masked_fill_(mask, 0.0)

    def normalize(self) -> None:
        """Rescale columns so that ``sum(|w|)`` into each target equals ``norm``."""
        if self.norm is None:
            return
        col = self.w.abs().sum(0)
        col[col == 0] = 1.0
        self.w.mul_(self.norm / col)

    def dense_weights(self) -> torch.Tensor:
        return self.w


class SparseConnection(AbstractConnection):
    """Connection that stores only existing synapses (CSR, float32).

    For large, sparsely connected networks: memory and propagation cost grow
    with the number of synapses, not with ``source.n * target.n``.

    Parameters
    ----------
    w : Tensor, optional
        Weights as a dense ``(source.n, target.n)`` tensor (zeros are absent
        synapses) or a torch sparse tensor of that shape.
    sparsity : float, optional
        With ``w=None``: fraction of absent synapses, in [0, 1) (default 0:
        all present, as BindsNET); present
        synapses get ``U(wmin, wmax)`` weights (``U(0, 1)`` with infinite bounds).
    (others as :class:`AbstractConnection`)
    """

    arguments = (("w", None), ("sparsity", None))
    graph_propagation = "compute"
    loop_propagation = "csr"

    def _setup(self, head: dict) -> None:
        source, w, sparsity = self.source, head["w"], head["sparsity"]
        target = self.target
        if isinstance(self.wmin, torch.Tensor) or isinstance(self.wmax, torch.Tensor):
            raise ValueError("SparseConnection: wmin and wmax must be numbers (per-synapse bounds are for dense connections)")
        shape = (source.n, target.n)
        if w is None:
            if sparsity is None:
                sparsity = 0.0  # as BindsNET: every synapse present, random weights
            sparsity = check_real("sparsity", sparsity, allow_tensor=False)
            if not 0.0 <= sparsity < 1.0:
                raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
            present = torch.rand(shape) >= sparsity
            lo = 0.0 if self.wmin == -math.inf else self.wmin
            hi = 1.0 if self.wmax == math.inf else self.wmax
            dense = torch.where(present, lo + torch.rand(shape) * (hi - lo), torch.zeros(shape))
            coo = dense.to_sparse_coo()
        else:
            if sparsity is not None:
                raise ValueError("give SparseConnection either w or sparsity, not both")
            if not isinstance(w, torch.Tensor):
                raise TypeError(f"w must be a tensor of shape {shape}, got {describe(w)}")
            if tuple(w.shape) != shape:
                raise ValueError(f"w has shape {tuple(w.shape)}, expected {shape} (source.n, target.n)")
            coo = (w.detach().to_sparse_coo() if not w.is_sparse else w.detach()).coalesce()
            coo = torch.sparse_coo_tensor(
                coo.indices(), coo.values().to(torch.float32).clone(), shape, check_invariants=True
            ).coalesce()
            check_finite_tensor("w", coo.values())
        coo = coo.coalesce()
        rows, cols = coo.indices()
        values = coo.values().clone()
        if self.bounded:
            values.clamp_(self.wmin, self.wmax)
        # Kept sorted by (row, col): rows give CSR offsets for event-driven propagation.
        self.register_buffer("rows", rows.clone())
        self.register_buffer("cols", cols.clone())
        self.values = torch.nn.Parameter(values, requires_grad=False)
        counts = torch.bincount(rows, minlength=source.n)
        self.register_buffer("row_ptr", torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]))

    @property
    def w(self) -> torch.Tensor:
        """The weights as a torch sparse COO tensor (a new tensor each time)."""
        return torch.sparse_coo_tensor(
            torch.stack([self.rows, self.cols]), self.values.detach(), (self.source.n, self.target.n),
            check_invariants=False, is_coalesced=True,
        )

    def compute(self, s: torch.Tensor) -> Optional[torch.Tensor]:
        batch = s.shape[0]
        flat = s.view(batch, -1).to(torch.float32)
        n_out = self.target.n
        if not in_static_shapes() and not flat.any():  # (a captured block computes the zeros)
            return None
        # Contribution of every synapse: pre spike (0/1) times weight.
        contrib = flat[:, self.rows] * self.values
        out = torch.zeros(batch, n_out, dtype=torch.float32, device=flat.device)
        out.index_add_(1, self.cols, contrib)
        return out

    def compute_many(self, s_seq: torch.Tensor) -> torch.Tensor:
        T, B = s_seq.shape[0], s_seq.shape[1]
        flat = s_seq.reshape(T * B, -1)
        out = [self.compute(flat[i : i + 1]) for i in range(T * B)]
        zeros = torch.zeros(1, self.target.n, device=flat.device)
        return torch.cat([zeros if o is None else o for o in out]).view(T, B, -1)

    def outer(self, pre, post):
        pre = pre.reshape(pre.shape[0], -1).to(torch.float32)
        post = post.reshape(post.shape[0], -1).to(torch.float32)
        return pre[:, self.rows] * post[:, self.cols]

    def outer_sum(self, pre, post):
        return self.reduce(self.outer(pre, post))

    def add_outer(self, pre, post, scale: float) -> None:
        self.values.add_(scale * self.outer_sum(pre, post))

    def weights(self) -> torch.Tensor:
        return self.values

    def add_to_weights(self, delta: torch.Tensor) -> None:
        self.values.add_(delta)

    def decay_and_clamp(self) -> None:
        if self.weight_decay:
            self.values.mul_(1.0 - self.weight_decay)
        if self.bounded:
            self.values.clamp_(self.wmin, self.wmax)

    def apply_mask(self, mask: torch.Tensor) -> None:
        self.values.masked_fill_(mask[self.rows, self.cols], 0.0)

    def normalize(self) -> None:
        if self.norm is None:
            return
        col = torch.zeros(self.target.n, device=self.values.device)
        col.index_add_(0, self.cols, self.values.abs())
        col[col == 0] = 1.0
        self.values.mul_(self.norm / col[self.cols])

    def dense_weights(self) -> torch.Tensor:
        return self.w.to_dense()


for _cls in (Connection, SparseConnection):
    register(_cls)
