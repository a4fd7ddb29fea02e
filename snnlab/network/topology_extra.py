"""BindsNET's structured connections: convolution, max-pooling, local and mean-field.

Defined on the engine's parameter records (:mod:`snnlab.dynamics`, registered
by name) and on the same primitives as :class:`~snnlab.network.topology.Connection`,
so every learning rule that works through those primitives (``PostPre``,
``WeightDependentPostPre``, ``Hebbian``, ``MSTDP``, ``MSTDPET``,
``DiehlAndCook``) trains them. They run on any device and with a batch
dimension: a layer's state is ``[batch, *shape]``.

Shapes (as BindsNET):

* ``Conv{1,2,3}dConnection``: source ``(in_channels, *spatial)``, target
  ``(out_channels, *spatial_out)``; ``w`` is ``(out_channels, in_channels, *kernel_size)``.
* ``MaxPool{1,2,3}dConnection``: no weights; each target neuron passes on the
  spike of the source neuron with the highest running firing rate in its window.
* ``LocalConnection``: a dense ``(source.n, target.n)`` matrix, zero (masked)
  outside each target neuron's ``kernel_size`` patch of a 2-D input.
* ``LocalConnection{1,2,3}D``: source ``(in_channels, *spatial)``; ``w`` is
  ``(in_channels, n_filters * conv_prod, kernel_prod)``: its own kernel for every
  filter and output position. Target neuron ``f * conv_prod + p`` is filter ``f``
  at output position ``p``.
* ``MeanFieldConnection``: the mean of the source's spikes times a weight per target neuron.

Each declares how the graph path (CUDA graphs, ``graph-emulate``) propagates it
(``graph_propagation``: its own capture-safe ``compute``; ``LocalConnection`` the
dense rows), so a network with them and described learning rules runs there; and
how the compiled CPU loop does (``loop_propagation``): ``LocalConnection`` as a dense
connection whose ``structural_mask`` stays zero, convolution and ``LocalConnection{1,2,3}D``
through their ``propagation_map`` (learning by described rules without state of their
own), max-pooling through its ``pooling_windows``, mean-field; multicompartment runs
eagerly on the CPU.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..dynamics import Param, make_init, register
from ..dynamics.rules import NoOp
from ..dynamics.checks import check_finite_tensor, describe
from ..dynamics.topology import AbstractConnection, Connection, PropagationMap
from .topology_features import AbstractFeature, Weight

__all__ = [
    "Conv1dConnection",
    "Conv2dConnection",
    "Conv3dConnection",
    "MaxPool1dConnection",
    "MaxPool2dConnection",
    "MaxPool3dConnection",
    "LocalConnection",
    "LocalConnection1D",
    "LocalConnection2D",
    "LocalConnection3D",
    "MeanFieldConnection",
    "MulticompartmentConnection",
]


def _tuple(value, nd: int, name: str, minimum: int = 1) -> Tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * nd
    try:
        out = tuple(int(v) for v in value)
        ok = all(float(v) == int(v) for v in value)
    except (TypeError, ValueError):
        out, ok = (), False
    if not ok or len(out) != nd or any(v < minimum for v in out):
        raise ValueError(f"{name} must be an int >= {minimum} or {nd} such ints, got {describe(value)}")
    return out


def _weights_arg(w, shape: tuple, name: str = "w") -> torch.Tensor:
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape {shape}, got {describe(w)}")
    if w.is_complex() or w.dtype == torch.bool:
        raise TypeError(f"{name} must be a real tensor, got dtype {w.dtype}")
    if tuple(w.shape) != tuple(shape):
        if w.numel() != math.prod(shape):
            raise ValueError(f"{name} has shape {tuple(w.shape)}, expected {tuple(shape)}")
    w = w.detach().to(torch.float32).reshape(shape).clone()
    check_finite_tensor(name, w)
    return w


def _grid(sizes: Sequence[int], axes: Sequence[int], ndim: int) -> list:
    """``arange(sizes[d])`` shaped to broadcast along axis ``axes[d]`` of ``ndim`` axes."""
    out = []
    for size, axis in zip(sizes, axes):
        shape = [1] * ndim
        shape[axis] = size
        out.append(torch.arange(size).view(shape))
    return out


def _flat(indices: Sequence[torch.Tensor], sizes: Sequence[int]):
    """The row-major flat index of per-dimension ``indices`` into ``sizes``."""
    flat = 0
    for index, size in zip(indices, sizes):
        flat = flat * size + index
    return flat


def _window_taps(conn, ps: list, ks: list, size_in: Sequence[int]):
    """For output positions ``ps`` and kernel taps ``ks`` (broadcast grids) of a sliding
    window with ``conn``'s stride, padding and dilation: the flat input position each tap
    reads (clamped into the input) and whether it lies inside the input (not padding)."""
    pos = [ps[d] * conn.stride[d] - conn.padding[d] + ks[d] * conn.dilation[d] for d in range(len(ps))]
    inside = torch.ones((1,) * ps[0].dim(), dtype=torch.bool)
    for d in range(len(ps)):
        inside = inside & (pos[d] >= 0) & (pos[d] < size_in[d])
    return _flat([p.clamp(0, n - 1) for p, n in zip(pos, size_in)], size_in), inside


def _initial(self, shape: tuple) -> torch.Tensor:
    """BindsNET's default weights: U(wmin, wmax) with finite bounds, else U(0, 1) clamped."""
    if self.finite_bounds():
        return self.wmin + torch.rand(shape) * (self.wmax - self.wmin)
    w = torch.rand(shape)
    return w.clamp(*self.clamp_bounds(w))


def _structure_params(nd: int, names: tuple) -> tuple:
    """The structural constructor arguments as parameters (saved and loaded by name; fixed once built)."""
    table = {
        "kernel_size": Param("kernel_size", None, length=nd, low=1, live=False, doc="kernel (patch) size per spatial dimension"),
        "stride": Param("stride", (1.0,) * nd, length=nd, low=1, live=False, doc="step between kernel positions"),
        "padding": Param("padding", (0.0,) * nd, length=nd, low=0, live=False, doc="zero padding per side"),
        "dilation": Param("dilation", (1.0,) * nd, length=nd, low=1, live=False, doc="spacing of the kernel's elements"),
        "n_filters": Param("n_filters", None, kind=int, low=1, live=False, doc="filters per position"),
        "input_shape": Param("input_shape", None, length=2, low=1, live=False, doc="height and width of the input"),
    }
    return tuple(table[n] for n in names)


def _bindsnet_init(cls, leading: tuple) -> type:
    """Give ``cls`` BindsNET's positional order: ``(source, target, <leading>, nu,
    reduction, weight_decay)``, e.g. ``Conv2dConnection(a, b, 3)`` for ``kernel_size=3``;
    everything else by keyword (``wmin``, ``w``, a rule's own parameters ...)."""
    order = [n for n, _ in leading] + ["nu", "reduction", "weight_decay"]
    required = make_init.REQUIRED

    def __init__(self, source, target, *args, **kwargs):
        name = cls.__name__
        if len(args) > len(order):
            raise TypeError(f"{name}() takes at most {len(order) + 2} positional arguments ({len(args) + 2} given)")
        given = dict(zip(order, args))
        for key in given:
            if key in kwargs:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
        given.update(kwargs)
        head = {"source": source, "target": target}
        for key, default in leading:
            if key not in given and default is required:
                raise TypeError(f"{name}() missing required argument {key!r}")
            head[key] = given.pop(key, default)
        for key in ("nu", "reduction", "update_rule"):
            head[key] = given.pop(key, None)
        for key, default in cls.arguments:
            if key not in head:
                head[key] = given.pop(key, default)
        values = {p.name: head[p.name] if p.name in head else given.pop(p.name, p.default) for p in cls.params}
        self._construct(head, values, given)  # what is left: the rule's own parameters (unknown ones raise)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__doc__ = (f"{cls.__name__}(source, target, {', '.join(order)}, *, wmin, wmax, norm, update_rule, "
                        f"w, ...): BindsNET's order; see the class docstring.")
    cls.__init__ = __init__
    return cls


class _Weighted(AbstractConnection):
    """Shared learning primitives for connections whose weights have their own shape.

    ``own_weight_shape``: persistence leaves checking a loaded ``w`` to the constructor.

    Subclasses give ``outer(pre, post) -> [B, *w.shape]`` (the per-sample
    weight change of ``pre`` before ``post``) and, where a faster batch sum
    exists, ``outer_sum``.
    """

    own_weight_shape = True

    def _spatial(self, s: torch.Tensor, layer) -> torch.Tensor:
        return s.reshape(s.shape[0], *layer.shape).to(self.w.dtype)

    def outer_sum(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.outer(pre, post))

    def add_outer(self, pre: torch.Tensor, post: torch.Tensor, scale: float) -> None:
        self.w.add_(scale * self.outer_sum(pre, post))

    def apply_mask(self, mask: torch.Tensor) -> None:
        self.w.masked_fill_(mask.reshape(self.w.shape), 0.0)

    def compute_many(self, s_seq: torch.Tensor) -> torch.Tensor:
        T, B = s_seq.shape[0], s_seq.shape[1]
        out = self.compute(s_seq.reshape(T * B, *s_seq.shape[2:]))
        if out is None:
            return torch.zeros(T, B, self.target.n, device=s_seq.device)
        return out.reshape(T, B, self.target.n)

    def dense_weights(self) -> torch.Tensor:
        """The equivalent ``(source.n, target.n)`` matrix (each source neuron's
        effect on every target neuron; built by propagating unit inputs)."""
        eye = torch.eye(self.source.n, device=self.w.device)
        out = self.compute(eye)
        if getattr(self, "b", None) is not None:
            out = out - self.b.reshape(1, -1)
        return out


# ----------------------------------------------------------------- convolution
class _ConvNd(_Weighted):
    nd = 2
    params = AbstractConnection.params + _structure_params(2, ("kernel_size", "stride", "padding", "dilation"))
    arguments = (("w", None), ("b", None))

    def _setup(self, head: dict) -> None:
        nd, name = self.nd, type(self).__name__
        if head["kernel_size"] is None:
            raise TypeError(f"{name}() needs kernel_size")
        self.kernel_size = _tuple(head["kernel_size"], nd, "kernel_size")
        self.stride = _tuple(head["stride"], nd, "stride")
        self.padding = _tuple(head["padding"], nd, "padding", minimum=0)
        self.dilation = _tuple(head["dilation"], nd, "dilation")
        src, tgt = self.source.shape, self.target.shape
        if len(src) != nd + 1 or len(tgt) != nd + 1:
            raise ValueError(
                f"{name}: source and target must have shape (channels, {nd} spatial sizes), "
                f"got source {src} and target {tgt}"
            )
        self.in_channels, self.out_channels = src[0], tgt[0]
        out = tuple(
            (src[1 + i] + 2 * self.padding[i] - self.dilation[i] * (self.kernel_size[i] - 1) - 1) // self.stride[i] + 1
            for i in range(nd)
        )
        if tuple(tgt[1:]) != out:
            raise ValueError(
                f"{name}: the target's spatial shape must be {out} for a source of shape {src}, kernel_size "
                f"{self.kernel_size}, stride {self.stride}, padding {self.padding}, dilation {self.dilation}; got {tgt[1:]}"
            )
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        w = head["w"]
        w = _initial(self, shape) if w is None else _weights_arg(w, shape)
        if self.bounded:
            w = w.clamp(*self.clamp_bounds(w))
        self.w = torch.nn.Parameter(w, requires_grad=False)
        b = head["b"]
        self.b = None if b is None else torch.nn.Parameter(_weights_arg(b, (self.out_channels,), "b"), requires_grad=False)
        self._conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
        self._grad = (torch.nn.grad.conv1d_weight, torch.nn.grad.conv2d_weight, torch.nn.grad.conv3d_weight)[nd - 1]

    def compute(self, s: torch.Tensor) -> Optional[torch.Tensor]:
        x = self._spatial(s, self.source)
        out = self._conv(x, self.w, self.b, self.stride, self.padding, self.dilation)
        return out.reshape(s.shape[0], -1)

    def _post(self, post: torch.Tensor) -> torch.Tensor:
        return post.reshape(post.shape[0], *self.target.shape).to(self.w.dtype)

    def propagation_map(self) -> PropagationMap:
        """For each source neuron (input channel, position), every (output channel,
        output position, kernel element) it reaches: ``in = out * stride - padding +
        k * dilation`` inside the input (built once: the geometry is fixed)."""
        done = self.__dict__.get("_propagation_map")
        if done is not None:
            return done
        nd = self.nd
        size_in, size_out = self.source.shape[1:], self.target.shape[1:]
        # axes: out channel, in channel, kernel elements (nd), output positions (nd)
        ndim = 2 + 2 * nd
        oc, ic = _grid((self.out_channels, self.in_channels), (0, 1), ndim)
        ks = _grid(self.kernel_size, range(2, 2 + nd), ndim)
        ps = _grid(size_out, range(2 + nd, 2 + 2 * nd), ndim)
        tap, inside = _window_taps(self, ps, ks, size_in)
        pre = ic * math.prod(size_in) + tap
        post = oc * math.prod(size_out) + _flat(ps, size_out)
        widx = (oc * self.in_channels + ic) * math.prod(self.kernel_size) + _flat(ks, self.kernel_size)
        shape = torch.broadcast_shapes(pre.shape, post.shape, widx.shape, inside.shape)
        keep = inside.expand(shape)
        entries = [t.expand(shape)[keep] for t in (pre, post, widx)]
        done = PropagationMap.from_entries(*entries, self.source.n, self.target.n)
        self._propagation_map = done
        return done

    def target_bias(self) -> Optional[torch.Tensor]:
        """``b`` of each target neuron's output channel, ``[target.n]`` (None without a bias)."""
        if self.b is None:
            return None
        return self.b.repeat_interleave(math.prod(self.target.shape[1:]))

    def outer(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        x, g = self._spatial(pre, self.source), self._post(post)
        return torch.stack([
            self._grad(x[i : i + 1], self.w.shape, g[i : i + 1], self.stride, self.padding, self.dilation)
            for i in range(x.shape[0])
        ])

    def outer_sum(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        if self.reduction is not None:
            return self.reduce(self.outer(pre, post))
        x, g = self._spatial(pre, self.source), self._post(post)
        return self._grad(x, self.w.shape, g, self.stride, self.padding, self.dilation)

    def normalize(self) -> None:
        """Rescale each (filter, input channel) kernel so its ``sum(|w|)`` equals ``norm`` (as BindsNET)."""
        if self.norm is None:
            return
        flat = self.w.view(self.out_channels * self.in_channels, -1)
        total = flat.abs().sum(1, keepdim=True)
        total[total == 0] = 1.0
        flat.mul_(self.norm / total)


@register
class Conv1dConnection(_ConvNd):
    """1-D convolution: source ``(in_channels, length)``, target ``(out_channels, length_out)``,
    ``w`` ``(out_channels, in_channels, kernel_size)``; ``stride``, ``padding``, ``dilation`` as torch."""

    nd = 1
    graph_propagation = "compute"
    loop_propagation = "map"
    params = AbstractConnection.params + _structure_params(1, ("kernel_size", "stride", "padding", "dilation"))


@register
class Conv2dConnection(_ConvNd):
    """2-D convolution: source ``(in_channels, H, W)``, target ``(out_channels, H_out, W_out)``,
    ``w`` ``(out_channels, in_channels, kh, kw)``; optional bias ``b`` per output channel.

    ``H_out = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1`` (as ``torch.nn.Conv2d``).
    With ``norm``, each kernel's ``sum(|w|)`` is rescaled to ``norm`` after every run.

    Examples
    --------
    >>> from snnlab.network.nodes import Input, LIFNodes
    >>> c = Conv2dConnection(Input(shape=(1, 4, 4)), LIFNodes(shape=(2, 3, 3)), kernel_size=2, w=torch.ones(2, 1, 2, 2))
    >>> c.compute(torch.ones(1, 1, 4, 4)).shape
    torch.Size([1, 18])
    """

    nd = 2
    graph_propagation = "compute"
    loop_propagation = "map"


@register
class Conv3dConnection(_ConvNd):
    """3-D convolution: source ``(in_channels, D, H, W)``, target ``(out_channels, D_out, H_out, W_out)``."""

    nd = 3
    graph_propagation = "compute"
    loop_propagation = "map"
    params = AbstractConnection.params + _structure_params(3, ("kernel_size", "stride", "padding", "dilation"))


# ------------------------------------------------------------------- max-pooling
class _MaxPoolNd(_Weighted):
    nd = 2
    params = AbstractConnection.params + _structure_params(2, ("kernel_size", "stride", "padding", "dilation")) + (
        Param("decay", 1.0, low=0.0, high=1.0, doc="running rate r = (1 - decay) r + s (1: only this step's spikes)"),
    )
    arguments = (("w", None),)

    def _setup(self, head: dict) -> None:
        nd, name = self.nd, type(self).__name__
        if self._rule_cls is not NoOp:
            raise TypeError(f"{name} has no weights to learn; update_rule must be None")
        if head["kernel_size"] is None:
            raise TypeError(f"{name}() needs kernel_size")
        self.kernel_size = _tuple(head["kernel_size"], nd, "kernel_size")
        self.stride = _tuple(head["stride"], nd, "stride")
        self.padding = _tuple(head["padding"], nd, "padding", minimum=0)
        self.dilation = _tuple(head["dilation"], nd, "dilation")
        src, tgt = self.source.shape, self.target.shape
        if len(src) != nd + 1:
            raise ValueError(f"{name}: the source must have shape (channels, {nd} spatial sizes), got {src}")
        out = tuple(
            (src[1 + i] + 2 * self.padding[i] - self.dilation[i] * (self.kernel_size[i] - 1) - 1) // self.stride[i] + 1
            for i in range(nd)
        )
        if self.target.n != src[0] * math.prod(out):
            raise ValueError(f"{name}: the target must have {src[0]} x {out} = {src[0] * math.prod(out)} neurons, got {self.target.n}")
        self.out_shape = (src[0], *out)
        self.w = torch.nn.Parameter(torch.zeros(0), requires_grad=False)  # no weights
        self.b = None
        self._pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
        self.firing_rates = None

    def compute(self, s: torch.Tensor) -> torch.Tensor:
        x = s.reshape(s.shape[0], *self.source.shape).to(torch.float32)
        if self.firing_rates is None or self.firing_rates.shape != x.shape or self.firing_rates.device != x.device:
            self.firing_rates = torch.zeros_like(x)
        self.firing_rates.mul_(1.0 - self.decay).add_(x)
        _, idx = self._pool(self.firing_rates, self.kernel_size, self.stride, self.padding, self.dilation, return_indices=True)
        out = x.flatten(2).gather(2, idx.flatten(2))
        return out.reshape(s.shape[0], -1)

    def compute_many(self, s_seq: torch.Tensor) -> torch.Tensor:
        # Stateful (running rates): one step after the other.
        return torch.stack([self.compute(s) for s in s_seq])

    def pooling_windows(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(row_ptr, sources)``: target ``j``'s window is ``sources[row_ptr[j]:row_ptr[j + 1]]``,
        its source neurons inside the input in the order max-pooling scans them (row-major
        over the kernel: the first of equal rates wins). int64 on the CPU, built once."""
        done = self.__dict__.get("_pooling_windows")
        if done is not None:
            return done
        nd = self.nd
        channels, size_in, size_out = self.source.shape[0], self.source.shape[1:], self.out_shape[1:]
        ndim = 1 + 2 * nd  # axes: channel, output positions (nd), kernel elements (nd)
        (ch,) = _grid((channels,), (0,), ndim)
        ps = _grid(size_out, range(1, 1 + nd), ndim)
        ks = _grid(self.kernel_size, range(1 + nd, 1 + 2 * nd), ndim)
        tap, inside = _window_taps(self, ps, ks, size_in)
        pre = ch * math.prod(size_in) + tap
        post = ch * math.prod(size_out) + _flat(ps, size_out)
        shape = torch.broadcast_shapes(pre.shape, post.shape, inside.shape)
        keep = inside.expand(shape)  # flattened in axis order: by target, then the kernel's scan order
        sources, targets = pre.expand(shape)[keep], post.expand(shape)[keep]
        counts = torch.bincount(targets, minlength=self.target.n)
        done = (torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]), sources.contiguous())
        self._pooling_windows = done
        return done

    def propagation_state(self, batch: int, device) -> dict:
        """``firing_rates`` ``[batch, *source.shape]`` (zeros where missing, as the first step makes them)."""
        shape = (batch, *self.source.shape)
        r = self.firing_rates
        if r is None or tuple(r.shape) != shape or r.device != torch.device(device):
            r = self.firing_rates = torch.zeros(shape, dtype=torch.float32, device=device)
        return {"firing_rates": r}

    def reset_state_variables(self) -> None:
        super().reset_state_variables()
        self.firing_rates = None

    def outer(self, pre, post):
        raise TypeError(f"{type(self).__name__} has no weights to learn")

    def normalize(self) -> None:
        """No weights: nothing to normalize."""

    def dense_weights(self) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} has no weight matrix (its routing depends on the firing rates)")


@register
class MaxPool1dConnection(_MaxPoolNd):
    """1-D max-pooling by running firing rate: each target neuron repeats the
    spike of the source neuron that has fired most (rate ``r = (1 - decay) r + s``)
    in its window. ``stride`` defaults to 1 (as BindsNET; torch's pooling defaults to ``kernel_size``)."""

    nd = 1
    graph_propagation = "compute"
    loop_propagation = "pool"
    params = AbstractConnection.params + _structure_params(1, ("kernel_size", "stride", "padding", "dilation")) + _MaxPoolNd.params[-1:]


@register
class MaxPool2dConnection(_MaxPoolNd):
    """2-D max-pooling by running firing rate (see :class:`MaxPool1dConnection`).

    BindsNET's ``decay`` has no default (a missing one fails at the first
    step); snnlab's default is 1 (only the current step's spikes).

    Examples
    --------
    >>> from snnlab.network.nodes import Input
    >>> c = MaxPool2dConnection(Input(shape=(1, 2, 2)), Input(shape=(1, 1, 1)), kernel_size=2, decay=0.1)
    >>> first, second = torch.tensor([[[[1, 0], [0, 0]]]]), torch.tensor([[[[0, 1], [0, 0]]]])
    >>> c.compute(first).tolist(), c.compute(first).tolist()
    ([[1.0]], [[1.0]])
    >>> c.compute(second).tolist()  # neuron 0 still has the higher rate (1.71 against 1): its silence passes
    [[0.0]]
    """

    nd = 2
    graph_propagation = "compute"
    loop_propagation = "pool"


@register
class MaxPool3dConnection(_MaxPoolNd):
    """3-D max-pooling by running firing rate (see :class:`MaxPool1dConnection`).
    (BindsNET 0.3.4 spells it ``MaxPoo3dConnection``; that name is kept as an alias.)"""

    nd = 3
    graph_propagation = "compute"
    loop_propagation = "pool"
    params = AbstractConnection.params + _structure_params(3, ("kernel_size", "stride", "padding", "dilation")) + _MaxPoolNd.params[-1:]


MaxPoo3dConnection = MaxPool3dConnection


# ----------------------------------------------------------------- local (dense + mask)
@register
class LocalConnection(Connection):
    """Locally connected: each target neuron sees one ``kernel_size`` patch of a
    2-D input, with weights of its own (no sharing), stored as a dense
    ``(source.n, target.n)`` matrix that stays zero outside the patches.

    Target neuron ``f * conv_prod + p`` is filter ``f`` at patch ``p``
    (patches in row-major order, ``stride`` apart). ``locations``
    (``[kernel_prod, conv_prod]``) holds each patch's input indices.

    Parameters
    ----------
    kernel_size, stride : int or (int, int)
        Patch size and step.
    n_filters : int
        Filters per patch.
    input_shape : (int, int), optional
        The input's height and width (default: a square of ``source.n``).
    norm : float, optional
        As BindsNET, per kernel element: after every run the weights into each
        target neuron are rescaled to sum ``norm * kernel_prod``.
    """

    params = Connection.params + _structure_params(2, ("kernel_size", "stride", "n_filters", "input_shape"))
    graph_propagation = "rows"  # a dense Connection whose masked weights stay zero
    loop_propagation = "rows"

    def _setup(self, head: dict) -> None:
        name = type(self).__name__
        for key in ("kernel_size", "stride", "n_filters"):
            if head[key] is None:
                raise TypeError(f"{name}() needs {key}")
        k = _tuple(head["kernel_size"], 2, "kernel_size")
        st = _tuple(head["stride"], 2, "stride")
        n_filters = head["n_filters"]
        if isinstance(n_filters, bool) or not isinstance(n_filters, int) or n_filters < 1:
            raise ValueError(f"n_filters must be a positive int, got {n_filters!r}")
        shape = self.input_shape
        if shape is None:
            side = int(math.isqrt(self.source.n))
            if side * side != self.source.n:
                raise ValueError(f"{name}: give input_shape; the source's {self.source.n} neurons are not a square")
            shape = (side, side)
        shape = _tuple(shape, 2, "input_shape")
        if shape[0] * shape[1] != self.source.n:
            raise ValueError(f"{name}: input_shape {shape} has {shape[0] * shape[1]} elements, the source {self.source.n}")
        conv = (1, 1) if k == shape else tuple((shape[i] - k[i]) // st[i] + 1 for i in range(2))
        self.kernel_size, self.stride, self.n_filters, self.input_shape, self.conv_size = k, st, n_filters, shape, conv
        conv_prod, kernel_prod = conv[0] * conv[1], k[0] * k[1]
        if self.target.n != n_filters * conv_prod:
            raise ValueError(f"{name}: the target must have n_filters * conv_prod = {n_filters * conv_prod} neurons, got {self.target.n}")
        rows = torch.arange(conv[0]).view(-1, 1, 1, 1) * st[0] + torch.arange(k[0]).view(1, 1, -1, 1)
        cols = torch.arange(conv[1]).view(1, -1, 1, 1) * st[1] + torch.arange(k[1]).view(1, 1, 1, -1)
        locations = (rows * shape[1] + cols).reshape(conv_prod, kernel_prod).t().contiguous()  # [kernel_prod, conv_prod]
        self.register_buffer("locations", locations)
        inside = torch.zeros(self.source.n, conv_prod, dtype=torch.bool)
        inside[locations, torch.arange(conv_prod).view(1, -1).expand(kernel_prod, -1)] = True
        self.register_buffer("mask", ~inside.repeat(1, n_filters))  # True where no synapse
        if head["w"] is None:
            head = dict(head, w=_initial(self, (self.source.n, self.target.n)).masked_fill(self.mask, 0.0))
        super()._setup(head)
        self.w.data.masked_fill_(self.mask, 0.0)

    def decay_and_clamp(self) -> None:
        super().decay_and_clamp()
        self.w.masked_fill_(self.mask, 0.0)

    def structural_mask(self) -> torch.Tensor:
        """``mask``: True outside each target neuron's patches (those weights stay zero)."""
        return self.mask

    def normalize(self) -> None:
        if self.norm is None:
            return
        col = self.w.abs().sum(0)
        col[col == 0] = 1.0
        self.w.mul_(self.norm * self.kernel_size[0] * self.kernel_size[1] / col)


# ----------------------------------------------------------------- local (kernels per position)
class _LocalNd(_Weighted):
    nd = 2
    params = AbstractConnection.params + _structure_params(2, ("kernel_size", "stride", "n_filters"))
    arguments = (("w", None), ("b", None))

    def _setup(self, head: dict) -> None:
        nd, name = self.nd, type(self).__name__
        for key in ("kernel_size", "stride", "n_filters"):
            if head[key] is None:
                raise TypeError(f"{name}() needs {key}")
        self.kernel_size = _tuple(head["kernel_size"], nd, "kernel_size")
        self.stride = _tuple(head["stride"], nd, "stride")
        n_filters = head["n_filters"]
        if isinstance(n_filters, bool) or not isinstance(n_filters, int) or n_filters < 1:
            raise ValueError(f"n_filters must be a positive int, got {n_filters!r}")
        self.n_filters = n_filters
        src = self.source.shape
        if len(src) != nd + 1:
            raise ValueError(f"{name}: the source must have shape (in_channels, {nd} spatial sizes), got {src}")
        self.in_channels = src[0]
        self.conv_size = tuple((src[1 + i] - self.kernel_size[i]) // self.stride[i] + 1 for i in range(nd))
        if any(c < 1 for c in self.conv_size):
            raise ValueError(f"{name}: kernel_size {self.kernel_size} is larger than the input {src[1:]}")
        self.conv_prod = math.prod(self.conv_size)
        self.kernel_prod = math.prod(self.kernel_size)
        if self.target.n != n_filters * self.conv_prod:
            raise ValueError(
                f"{name}: the target must have n_filters * conv_prod = {n_filters * self.conv_prod} neurons, got {self.target.n}"
            )
        shape = (self.in_channels, n_filters * self.conv_prod, self.kernel_prod)
        w = head["w"]
        w = _initial(self, shape) if w is None else _weights_arg(w, shape)
        if self.bounded:
            w = w.clamp(*self.clamp_bounds(w))
        self.w = torch.nn.Parameter(w, requires_grad=False)
        b = head["b"]
        self.b = None if b is None else torch.nn.Parameter(_weights_arg(b, (self.target.n,), "b"), requires_grad=False)

    def _patches(self, s: torch.Tensor) -> torch.Tensor:
        """``[B, in_channels, conv_prod, kernel_prod]`` patches of the source."""
        x = self._spatial(s, self.source)
        for i in range(self.nd):
            x = x.unfold(2 + i, self.kernel_size[i], self.stride[i])
        # now [B, C, *conv_size, *kernel_size]
        return x.reshape(x.shape[0], self.in_channels, self.conv_prod, self.kernel_prod)

    def compute(self, s: torch.Tensor) -> Optional[torch.Tensor]:
        p = self._patches(s)
        w = self.w.view(self.in_channels, self.n_filters, self.conv_prod, self.kernel_prod)
        out = torch.einsum("bcpk,cfpk->bfp", p, w).reshape(s.shape[0], -1)
        return out if self.b is None else out + self.b

    def propagation_map(self) -> PropagationMap:
        """For each source neuron (channel, position), every (filter, output position,
        kernel element) whose patch holds it: ``in = out * stride + k`` (built once)."""
        done = self.__dict__.get("_propagation_map")
        if done is not None:
            return done
        nd = self.nd
        size_in = self.source.shape[1:]
        # axes: in channel, filter, output positions (nd), kernel elements (nd)
        ndim = 2 + 2 * nd
        c, f = _grid((self.in_channels, self.n_filters), (0, 1), ndim)
        ps = _grid(self.conv_size, range(2, 2 + nd), ndim)
        ks = _grid(self.kernel_size, range(2 + nd, 2 + 2 * nd), ndim)
        pre = c * math.prod(size_in) + _flat([ps[d] * self.stride[d] + ks[d] for d in range(nd)], size_in)
        post = f * self.conv_prod + _flat(ps, self.conv_size)
        widx = (c * self.target.n + post) * self.kernel_prod + _flat(ks, self.kernel_size)
        shape = torch.broadcast_shapes(pre.shape, post.shape, widx.shape)
        entries = [t.expand(shape).reshape(-1) for t in (pre, post, widx)]
        done = PropagationMap.from_entries(*entries, self.source.n, self.target.n)
        self._propagation_map = done
        return done

    def outer(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        p = self._patches(pre)  # [B, C, P, K]
        g = post.reshape(post.shape[0], self.n_filters, self.conv_prod).to(p.dtype)
        out = torch.einsum("bcpk,bfp->bcfpk", p, g)
        return out.reshape(pre.shape[0], *self.w.shape)

    def outer_sum(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        if self.reduction is not None:
            return self.reduce(self.outer(pre, post))
        p = self._patches(pre)
        g = post.reshape(post.shape[0], self.n_filters, self.conv_prod).to(p.dtype)
        return torch.einsum("bcpk,bfp->cfpk", p, g).reshape(self.w.shape)

    def normalize(self) -> None:
        """Rescale each (input channel, target neuron) kernel so its ``sum(|w|)`` equals ``norm`` (as BindsNET)."""
        if self.norm is None:
            return
        total = self.w.abs().sum(-1, keepdim=True)
        total[total == 0] = 1.0
        self.w.mul_(self.norm / total)


@register
class LocalConnection1D(_LocalNd):
    """Locally connected 1-D: source ``(in_channels, length)``; each of
    ``n_filters`` filters has its own kernel at every output position.
    ``w``: ``(in_channels, n_filters * conv_prod, kernel_size)``."""

    nd = 1
    graph_propagation = "compute"
    loop_propagation = "map"
    params = AbstractConnection.params + _structure_params(1, ("kernel_size", "stride", "n_filters"))


@register
class LocalConnection2D(_LocalNd):
    """Locally connected 2-D: source ``(in_channels, H, W)``; ``w``:
    ``(in_channels, n_filters * conv_prod, kh * kw)``, no padding.

    Examples
    --------
    >>> from snnlab.network.nodes import Input
    >>> c = LocalConnection2D(Input(shape=(1, 3, 3)), Input(n=8), kernel_size=2, stride=1, n_filters=2, w=torch.ones(1, 8, 4))
    >>> c.compute(torch.ones(1, 1, 3, 3)).tolist()
    [[4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]]
    """

    nd = 2
    graph_propagation = "compute"
    loop_propagation = "map"


@register
class LocalConnection3D(_LocalNd):
    """Locally connected 3-D: source ``(in_channels, D, H, W)``; ``w``:
    ``(in_channels, n_filters * conv_prod, kd * kh * kw)``."""

    nd = 3
    graph_propagation = "compute"
    loop_propagation = "map"
    params = AbstractConnection.params + _structure_params(3, ("kernel_size", "stride", "n_filters"))


# ----------------------------------------------------------------- mean field
@register
class MeanFieldConnection(_Weighted):
    """Each target neuron gets ``w[j] * mean(source spikes)`` (the mean over the
    source layer, per sample; BindsNET also averages over the batch).

    ``w``: a number or ``target.n`` weights; default one random weight
    ``(N(0, 1) + 1) / 10`` shared by all, as BindsNET (within ``[wmin, wmax]``).
    Learning rules do not apply (``update_rule`` must be None).
    """

    arguments = (("w", None),)
    graph_propagation = "compute"
    loop_propagation = "mean"

    def _setup(self, head: dict) -> None:
        if self._rule_cls is not NoOp:
            raise TypeError("MeanFieldConnection takes no learning rule; update_rule must be None")
        w = head["w"]
        if w is None:
            value = (torch.randn(1) + 1) / 10
            if self.finite_bounds():
                value = self.wmin + value * (self.wmax - self.wmin)
            w = value.expand(self.target.n).clone()
        elif isinstance(w, (int, float)) and not isinstance(w, bool):
            w = torch.full((self.target.n,), float(w))
        elif isinstance(w, torch.Tensor) and w.numel() == 1:
            w = w.detach().float().reshape(1).expand(self.target.n).clone()
        else:
            w = _weights_arg(w, (self.target.n,))
        if self.bounded:
            w = w.clamp(*self.clamp_bounds(w))
        self.w = torch.nn.Parameter(w, requires_grad=False)
        self.b = None

    def compute(self, s: torch.Tensor) -> torch.Tensor:
        mean = s.reshape(s.shape[0], -1).to(torch.float32).mean(1, keepdim=True)
        return mean * self.w

    def outer(self, pre, post):
        raise TypeError("MeanFieldConnection takes no learning rule")

    def normalize(self) -> None:
        """Rescale so that the weights sum to ``norm``."""
        if self.norm is None:
            return
        total = self.w.abs().sum()
        if total > 0:
            self.w.mul_(self.norm / total)


# BindsNET's positional orders.
_CONV = (("kernel_size", make_init.REQUIRED), ("stride", 1), ("padding", 0), ("dilation", 1))
_LOCAL = (("kernel_size", make_init.REQUIRED), ("stride", make_init.REQUIRED), ("n_filters", make_init.REQUIRED))
for _cls in (Conv1dConnection, Conv2dConnection, Conv3dConnection, MaxPool1dConnection, MaxPool2dConnection, MaxPool3dConnection):
    _bindsnet_init(_cls, _CONV)
for _cls in (LocalConnection, LocalConnection1D, LocalConnection2D, LocalConnection3D):
    _bindsnet_init(_cls, _LOCAL)
make_init(  # BindsNET: MeanFieldConnection(source, target, nu, weight_decay, ...)
    MeanFieldConnection,
    positional=(("source", make_init.REQUIRED), ("target", make_init.REQUIRED), ("nu", None)),
    positional_params=("weight_decay",),
    extra=(("reduction", None), ("update_rule", None), ("w", None)),
    var_keyword="rule_params",
)


# ----------------------------------------------------------------- multicompartment
@register
class MulticompartmentConnection(Connection):
    """A connection whose synapses are a pipeline of features
    (:mod:`snnlab.network.topology_features`): e.g.
    ``pipeline=[Probability("p", 0.2), Weight("w", w, learning_rule=PostPre, nu=(1e-4, 1e-2))]``.

    The features fold in order into a multiplicative ``A`` and an additive
    ``B`` (see that module); the target's input is ``s @ A + sum_sources(B)``.
    The ``Weight`` feature's value is this connection's ``w`` (so every
    learning rule trains it as a dense connection), its ``range`` the
    bounds, its ``norm``, ``nu``, ``reduction``, ``decay`` and
    ``learning_rule`` the connection's. Without a ``Weight`` feature, ``w`` is
    all ones and fixed.

    ``device`` moves it there; ``manual_update``, ``traces`` and
    ``sparse_compute`` are accepted for BindsNET's signature (updates happen
    every step; ``sparse_compute`` is what snnlab's event-driven propagation
    does anyway).

    A network holding one saves and loads (``Network.save``,
    :func:`snnlab.network.load`) with every feature's parameters and current
    value and the ``Weight``'s rule and its state, as long as the pipeline
    holds only the features of :mod:`snnlab.network.topology_features` (a
    subclass of one is refused at save time).
    """

    graph_propagation = "compute"  # s @ A + B folded from the features (Probability draws on the device)

    def __init__(self, source, target, device="cpu", pipeline: Sequence = (), manual_update: bool = False,
                 traces: bool = False, sparse_compute: bool = False, **kwargs) -> None:
        if kwargs:
            raise TypeError(f"MulticompartmentConnection() got unexpected keyword arguments {sorted(kwargs)}")
        pipeline = list(pipeline)
        if not all(isinstance(f, AbstractFeature) for f in pipeline):
            raise TypeError("pipeline must be a list of features from snnlab.network.topology_features")
        names = [f.name for f in pipeline]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline feature names must be unique, got {names}")
        weights = [f for f in pipeline if isinstance(f, Weight)]
        if len(weights) > 1:
            raise ValueError("a MulticompartmentConnection takes at most one Weight feature")
        shape = (source.n, target.n)
        wf = weights[0] if weights else None
        if wf is not None:
            w = wf.initial_weights(shape)
            head = {"source": source, "target": target, "nu": wf.nu, "reduction": wf.reduction,
                    "update_rule": wf.learning_rule, "w": w, "b": None}
            values = {"weight_decay": float(wf.decay), "wmin": wf.range[0], "wmax": wf.range[1], "norm": wf.norm}
        else:
            head = {"source": source, "target": target, "nu": None, "reduction": None, "update_rule": None,
                    "w": torch.ones(shape), "b": None}
            values = {"weight_decay": 0.0, "wmin": -math.inf, "wmax": math.inf, "norm": None}
        self._construct(head, values, {} if wf is None else wf.rule_params())
        self.pipeline = pipeline
        for i, feature in enumerate(pipeline):
            feature._attach(self, i)
        self.manual_update, self.traces, self.sparse_compute = bool(manual_update), bool(traces), bool(sparse_compute)
        self.to(device)

    @property
    def feature_index(self) -> dict:
        """Features by name."""
        return {f.name: f for f in self.pipeline}

    def _fold(self):
        a = b = None
        for feature in self.pipeline:
            factor = feature.factor()
            if feature.op == "mul":
                a = factor if a is None else a * factor
                if b is not None:
                    b = b * factor
            else:
                b = factor if b is None else b + factor
        if a is None:
            a = self.w
        return a, (None if b is None else b.sum(0))

    def compute(self, s: torch.Tensor) -> Optional[torch.Tensor]:
        a, b = self._fold()
        out = s.reshape(s.shape[0], -1).to(a.dtype) @ a
        return out if b is None else out + b

    def compute_many(self, s_seq: torch.Tensor) -> torch.Tensor:
        # Probability features draw anew every step: one step after the other.
        return torch.stack([self.compute(s) for s in s_seq])
