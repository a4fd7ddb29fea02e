"""Neuron models (layers of nodes), clock-driven.

Units: time in ms, voltage in mV. Every layer holds its state as tensors of
shape ``[batch, *shape]`` and advances one step of ``dt`` per call to
:meth:`Nodes.forward`. The input ``x`` of a step is a voltage jump (mV) added
to ``v`` (no dt/tau factor), as in BindsNET.

The step of every model follows ``docs/semantics.md`` in its exact order and in
float32, so rasters match BindsNET's where BindsNET is right. Decays are
computed from the current ``dt`` and time constants at the start of every run
(BindsNET computes them once, when a layer is added).

A recorded ``v`` is after reset: it never exceeds the threshold of a model that
resets in the same step (all but Izhikevich, which resets on the next step).
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch

from .params import Param, make_init, merge
from .registry import register
from .checks import as_shape, describe

__all__ = [
    "Nodes",
    "Input",
    "McCullochPitts",
    "IFNodes",
    "LIFNodes",
    "CurrentLIFNodes",
    "AdaptiveLIFNodes",
    "DiehlAndCookNodes",
    "IzhikevichNodes",
    "SRM0Nodes",
]

Number = Union[float, int]
Value = Union[float, torch.Tensor]


def _decay(dt: float, tc: Value) -> Value:
    """``exp(-dt / tc)`` in float32 (a float for a scalar tc)."""
    if isinstance(tc, torch.Tensor):
        return torch.exp(-dt / tc)
    return torch.exp(torch.tensor(-dt, dtype=torch.float32) / torch.tensor(tc, dtype=torch.float32)).item()


def _set_where(t: torch.Tensor, mask: torch.Tensor, value: Value) -> None:
    """``t[mask] = value`` in place, for a scalar or per-neuron ``value``."""
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        torch.where(mask, value, t, out=t)
    else:
        t.masked_fill_(mask, value)


def _shaped(value: Value, shape: tuple) -> Value:
    """A per-neuron parameter viewed in the layer's shape (a flat ``[n]`` one too)."""
    if isinstance(value, torch.Tensor) and value.dim() == 1 and len(shape) > 1 and value.numel() == math.prod(shape):
        return value.view(shape)
    return value


class Nodes(torch.nn.Module):
    """Base class of all layers.

    Parameters
    ----------
    n : int, optional
        Number of neurons. Give ``n`` or ``shape`` (or both, consistent).
    shape : sequence of int, optional
        Shape of the layer, e.g. ``(28, 28)``.
    traces : bool
        Keep a spike trace ``x`` (needed by the learning rules).
    traces_additive : bool
        ``x += trace_scale * s`` on a spike instead of ``x = trace_scale``.
    tc_trace : float
        Trace time constant (ms).
    trace_scale : float
        Trace value set (or added) on a spike.
    sum_input : bool
        Accumulate the total input in ``summed``.
    learning : bool
        Whether plasticity inside the layer (adaptive thresholds) is on.

    The parameters are declared once, in ``params`` (see
    :mod:`snnlab.dynamics`); the constructor's keywords are made from it.
    """

    #: names of the state tensors a Monitor may record
    state_names: tuple[str, ...] = ("s",)

    #: the parameter record (subclasses extend it with :func:`merge`)
    params: tuple[Param, ...] = (
        Param("traces", False, kind=bool, live=False, doc="keep a spike trace x (needed by learning rules)"),
        Param("traces_additive", False, kind=bool, doc="on a spike, x += trace_scale instead of x = trace_scale"),
        Param("tc_trace", 20.0, "ms", low=0.0, low_open=True, per_neuron=True, doc="time constant of the spike trace"),
        Param("trace_scale", 1.0, per_neuron=True, doc="trace value set (or added) on a spike"),
        Param("sum_input", False, kind=bool, live=False, doc="accumulate the total input in summed"),
        Param("learning", True, kind=bool, doc="plasticity inside the layer (adaptive thresholds) is on"),
    )

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:  # a class may still write its own
            make_init(cls, positional=(("n", None), ("shape", None)))

    def _construct(self, head: dict, values: dict) -> None:
        torch.nn.Module.__init__(self)
        self.shape = as_shape(head["n"], head["shape"])
        self.n = math.prod(self.shape)
        owner = type(self).__name__
        checked = {
            p.name: p.check(owner, values[p.name], self.shape if p.per_neuron else None) for p in self.params
        }
        self.check_parameters(owner, checked)
        for name, value in checked.items():
            setattr(self, name, value)
        self.dt = 1.0
        self.batch_size = 1
        self._setup()
        self._make_state()
        self.compute_decays(self.dt)

    def _setup(self) -> None:
        """Hook after the parameters are set and before the state is made
        (learned buffers, random draws)."""

    def check_parameters(self, owner: str, values: dict) -> None:
        """Cross-checks between parameters (each value is already checked alone)."""

    def parameters_changed(self, names: tuple) -> None:
        """After :func:`snnlab.dynamics.set_parameters`: recompute what derives from them."""
        self.compute_decays(self.dt)

    def _place_parameter(self, value: torch.Tensor) -> torch.Tensor:
        return value.to(self._device())

    # ----------------------------------------------------------------- state
    def _full(self, value: Value, dtype=torch.float32) -> torch.Tensor:
        shape = (self.batch_size, *self.shape)
        device = self._device()
        if isinstance(value, torch.Tensor):
            return value.to(device=device, dtype=dtype).expand(shape).clone()
        return torch.full(shape, value, dtype=dtype, device=device)

    def _device(self) -> torch.device:
        s = getattr(self, "s", None)
        return s.device if isinstance(s, torch.Tensor) else torch.device("cpu")

    @property
    def device(self) -> torch.device:
        """Where the layer's state lives."""
        return self._device()

    def state_tensors(self) -> dict:
        """Every state tensor a step may change, by name: the state (``s``,
        ``v``, ...) and learned buffers (an adaptive ``theta``). The tensors
        keep their addresses across resets."""
        out = {k: self.__dict__[k] for k in sorted(self.__dict__.get("_state_keys", ()))}
        out.update((k, b) for k, b in self._buffers.items() if b is not None)
        return out

    def _set_state(self, name: str, value: torch.Tensor) -> None:
        # State lives in the instance dict, not in nn.Module buffers: the step
        # reads it every time and Module.__getattr__ is slow. _apply moves it.
        # Reuse the tensor in place when it fits, so that its address stays
        # fixed across resets (captured CUDA graphs read it).
        self.__dict__.setdefault("_state_keys", set()).add(name)
        old = self.__dict__.get(name)
        if (
            isinstance(old, torch.Tensor)
            and old.shape == value.shape
            and old.dtype == value.dtype
            and old.device == value.device
        ):
            old.copy_(value)
        else:
            self.__dict__[name] = value

    def _make_state(self) -> None:
        """(Re)allocate the state for the current batch size, at rest."""
        self._set_state("s", self._full(False, torch.bool))
        if self.traces:
            self._set_state("x", self._full(0.0))
        if self.sum_input:
            self._set_state("summed", self._full(0.0))

    def set_batch_size(self, batch_size: int) -> None:
        """Re-make the state for a new batch size (the state is reset)."""
        self.batch_size = int(batch_size)
        self._make_state()

    def reset_state_variables(self) -> None:
        """Return every state variable to its initial value (learned
        quantities such as an adaptive threshold are kept)."""
        self._make_state()

    def compute_decays(self, dt: float) -> None:
        """Recompute the decay factors for time step ``dt`` (ms)."""
        self.dt = float(dt)
        if self.traces:
            self._trace_decay = _decay(self.dt, self.tc_trace)

    def tensors(self) -> list:
        """Every tensor the layer's step reads or writes (state, learned
        buffers, per-neuron parameters, coupling), for back-ends that hold
        them by address."""
        out = list(self.state_tensors().values())
        out.extend(v for _, v in sorted(self.__dict__.items()) if isinstance(v, torch.Tensor))
        return out

    @property
    def decays(self) -> dict:
        """The decay factors of the current ``dt`` (``exp(-dt / tc)``, float32
        values): ``"trace"``, and per model ``"v"``, ``"i"``, ``"theta"``."""
        names = {"trace": "_trace_decay", "v": "_decay", "i": "_i_decay", "theta": "_theta_decay"}
        return {k: self.__dict__[a] for k, a in names.items() if a in self.__dict__}

    def _apply(self, fn, *args, **kwargs):
        # Per-neuron parameters (thresh, a, b, S, ...) are plain tensor attributes: move them too.
        super()._apply(fn, *args, **kwargs)
        for name, value in list(self.__dict__.items()):
            if isinstance(value, torch.Tensor):
                self.__dict__[name] = fn(value)
        return self

    def train(self, mode: bool = True) -> "Nodes":
        self.learning = bool(mode)
        return super().train(mode)

    # ------------------------------------------------------------------ step
    def forward(
        self,
        x: Optional[torch.Tensor],
        clamp: Optional[torch.Tensor] = None,
        unclamp: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Advance one step with input ``x`` (mV, ``[batch, *shape]`` or None).

        ``clamp`` / ``unclamp`` (bool, broadcastable to the state) force spikes
        on / off after the model's own spike check and before the traces:
        clamped spikes propagate and are learned from, but do not reset ``v``.
        """
        if self.sum_input and x is not None:
            self.summed.add_(x)
        self._step(x)
        s = self.s
        if clamp is not None:
            s.logical_or_(clamp)
        if unclamp is not None:
            s.logical_and_(~unclamp)
        if self.traces:
            xt = self.x
            xt.mul_(self._trace_decay)
            if self.traces_additive:
                xt.add_(s.to(xt.dtype), alpha=self.trace_scale)
            else:
                xt.masked_fill_(s, self.trace_scale)
        return s

    def _step(self, x: Optional[torch.Tensor]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"shape={self.shape}, batch_size={self.batch_size}"


class Input(Nodes):
    """A layer whose spikes are its input: ``s = (x != 0)``.

    Examples
    --------
    >>> layer = Input(n=3)
    >>> layer(torch.tensor([[1, 0, 1]])).tolist()
    [[True, False, True]]
    """

    def _step(self, x):
        if x is None:
            self.s.zero_()
        elif x.dtype == torch.bool:
            self.s.copy_(x)
        else:
            torch.ne(x, 0, out=self.s)


class McCullochPitts(Nodes):
    """Threshold units: ``v = x``; ``s = v >= thresh``.

    Parameters
    ----------
    thresh : float or Tensor
        Threshold (same units as the input). Default 1.
    """

    state_names = ("s", "v")

    params = merge(Nodes.params, Param("thresh", 1.0, per_neuron=True, doc="threshold (units of the input)"))

    def _make_state(self):
        super()._make_state()
        self._set_state("v", self._full(0.0))

    def _step(self, x):
        if x is None:
            self.v.zero_()
        else:
            self.v.copy_(x)
        torch.ge(self.v, self.thresh, out=self.s)


class _Spiking(Nodes):
    """Shared parameters of the integrate-and-fire family."""

    state_names = ("s", "v", "refrac_count")

    params = merge(
        Nodes.params,
        Param("thresh", -52.0, "mV", per_neuron=True, doc="spike threshold"),
        Param("rest", -65.0, "mV", per_neuron=True, doc="resting voltage (also the initial voltage)"),
        Param("reset", -65.0, "mV", per_neuron=True, doc="voltage after a spike"),
        Param("refrac", 5.0, "ms", low=0.0, per_neuron=True, doc="refractory period"),
        Param("lbound", None, "mV", per_neuron=True, doc="lower bound of v (None: unbounded)"),
    )

    def _make_state(self):
        super()._make_state()
        self._set_state("v", self._full(self._v0()))
        self._set_state("refrac_count", self._full(0.0))

    def _v0(self) -> Value:
        return self.rest

    def _spiked(self, s: torch.Tensor) -> None:
        """Hook between the spike check and the reset (adaptive thresholds)."""

    def _fire(self, v: torch.Tensor, threshold: Value) -> torch.Tensor:
        """Spike check, refractory start, reset, lower bound."""
        s = torch.ge(v, threshold, out=self.s)
        self._spiked(s)
        _set_where(self.refrac_count, s, self.refrac)
        _set_where(v, s, self.reset)
        if self.lbound is not None:
            if isinstance(self.lbound, torch.Tensor):
                torch.maximum(v, self.lbound, out=v)
            else:
                v.clamp_(min=self.lbound)
        return s


class IFNodes(_Spiking):
    """Integrate-and-fire neurons (no leak).

    Step: ``v += (refrac_count <= 0) * x``; ``refrac_count -= dt``; spike where
    ``v >= thresh``; then ``v = reset`` and ``refrac_count = refrac``.

    Parameters
    ----------
    thresh : float or Tensor
        Spike threshold (mV). Default -52.
    reset : float or Tensor
        Post-spike and initial voltage (mV). Default -65.
    refrac : float or Tensor
        Refractory period (ms). Default 5.
    lbound : float, optional
        Lower bound of ``v`` (mV).
    """

    params = tuple(p for p in _Spiking.params if p.name != "rest")

    @property
    def rest(self) -> Value:
        """IF neurons rest (and start) at ``reset``."""
        return self.reset

    def _v0(self):
        return self.reset

    def _step(self, x):
        v = self.v
        if x is not None:
            v.add_(x.masked_fill(self.refrac_count > 0, 0.0))
        self.refrac_count.sub_(self.dt)
        self._fire(v, self.thresh)


class LIFNodes(_Spiking):
    """Leaky integrate-and-fire neurons.

    Step, in this order (float32): ``v = decay * (v - rest) + rest`` with
    ``decay = exp(-dt / tc_decay)``; the input is dropped where the neuron is
    refractory; ``refrac_count -= dt``; ``v += x``; spike where
    ``v >= thresh``; then ``v = reset``, ``refrac_count = refrac``; ``v`` is
    clipped at ``lbound``.

    Parameters
    ----------
    thresh : float or Tensor
        Spike threshold (mV). Default -52.
    rest : float or Tensor
        Resting voltage (mV), also the initial voltage. Default -65.
    reset : float or Tensor
        Post-spike voltage (mV). Default -65.
    refrac : float or Tensor
        Refractory period (ms). Default 5.
    tc_decay : float or Tensor
        Membrane time constant (ms). Default 100.
    lbound : float, optional
        Lower bound of ``v`` (mV).

    Examples
    --------
    A constant input of 20 mV a step makes one neuron fire every 6 steps
    (1 step to fire, 5 refractory):

    >>> lif = LIFNodes(n=1)
    >>> [t for t in range(20) if lif(torch.full((1, 1), 20.0)).item()]
    [0, 6, 12, 18]
    """

    params = merge(
        _Spiking.params,
        Param("tc_decay", 100.0, "ms", low=0.0, low_open=True, per_neuron=True, doc="membrane time constant"),
    )

    def compute_decays(self, dt):
        super().compute_decays(dt)
        self._decay = _decay(self.dt, self.tc_decay)

    def _leak(self, v: torch.Tensor) -> None:
        # decay * (v - rest) + rest, in this order: see docs/semantics.md.
        v.sub_(self.rest).mul_(self._decay).add_(self.rest)

    def _step(self, x):
        v = self.v
        self._leak(v)
        if x is not None:
            x = x.masked_fill(self.refrac_count > 0, 0.0)
        self.refrac_count.sub_(self.dt)
        if x is not None:
            v.add_(x)
        self._fire(v, self._threshold())

    def _threshold(self) -> Value:
        return self.thresh


class CurrentLIFNodes(LIFNodes):
    """LIF neurons driven by an exponentially decaying synaptic current.

    Step: ``v`` leaks; ``i *= exp(-dt / tc_i_decay)``; ``refrac_count -= dt``;
    ``i += x``; ``v += (refrac_count <= 0) * i``; spike and reset as LIF.

    Parameters
    ----------
    tc_i_decay : float or Tensor
        Synaptic current time constant (ms). Default 2.
    (others as :class:`LIFNodes`)
    """

    state_names = ("s", "v", "i", "refrac_count")

    params = merge(
        LIFNodes.params,
        Param("tc_i_decay", 2.0, "ms", low=0.0, low_open=True, per_neuron=True, doc="synaptic current time constant"),
    )

    def _make_state(self):
        super()._make_state()
        self._set_state("i", self._full(0.0))

    def compute_decays(self, dt):
        super().compute_decays(dt)
        self._i_decay = _decay(self.dt, self.tc_i_decay)

    def _step(self, x):
        v = self.v
        self._leak(v)
        self.i.mul_(self._i_decay)
        self.refrac_count.sub_(self.dt)
        if x is not None:
            self.i.add_(x)
        v.add_(self.i.masked_fill(self.refrac_count > 0, 0.0))
        self._fire(v, self.thresh)


class AdaptiveLIFNodes(LIFNodes):
    """LIF neurons with an adaptive threshold ``thresh + theta``.

    While learning, ``theta`` decays with ``tc_theta_decay`` and grows by
    ``theta_plus`` for every spike (summed over the batch). ``theta`` has the
    layer's shape (no batch dimension) and is kept by
    :meth:`reset_state_variables`; it is frozen by ``network.train(False)``.

    Parameters
    ----------
    theta_plus : float or Tensor
        Threshold increase per spike (mV). Default 0.05.
    tc_theta_decay : float or Tensor
        Time constant of theta's decay (ms). Default 1e7.
    (others as :class:`LIFNodes`)
    """

    state_names = ("s", "v", "refrac_count", "theta")

    params = merge(
        LIFNodes.params,
        Param("theta_plus", 0.05, "mV", per_neuron=True, doc="threshold increase per spike"),
        Param("tc_theta_decay", 1e7, "ms", low=0.0, low_open=True, per_neuron=True, doc="time constant of theta's decay"),
    )

    def _setup(self) -> None:
        # theta is learned: persistent, and not reset with the state.
        self.register_buffer("theta", torch.zeros(self.shape, dtype=torch.float32))

    def compute_decays(self, dt):
        super().compute_decays(dt)
        self._theta_decay = _decay(self.dt, self.tc_theta_decay)

    def _threshold(self) -> Value:
        # theta decays each step while learning (before the spike check).
        if self.learning:
            self.theta.mul_(self._theta_decay)
        return self.thresh + self.theta

    def _spiked(self, s: torch.Tensor) -> None:
        if self.learning:
            self.theta.add_(self.theta_plus * s.to(torch.float32).sum(0))


class DiehlAndCookNodes(AdaptiveLIFNodes):
    """Adaptive LIF neurons of Diehl & Cook (2015), optionally one spike a step.

    With ``one_spike=True`` at most one neuron per sample spikes in a step:
    one of those that crossed threshold, drawn at random (torch's global
    generator). Only that neuron is reset and raises its theta. (BindsNET
    resets and raises theta for every neuron that crossed threshold, though
    it reports only one spike; snnlab does not copy that.)

    Parameters
    ----------
    one_spike : bool
        At most one spike per sample and step. Default True.
    (others as :class:`AdaptiveLIFNodes`)
    """

    params = merge(
        AdaptiveLIFNodes.params,
        Param("one_spike", True, kind=bool, doc="at most one spike per sample and step (a random winner)"),
    )

    def _spiked(self, s):
        if self.one_spike:
            flat = s.view(self.batch_size, -1)
            any_spike = flat.any(1)
            if any_spike.any():
                # One winner per sample among those that crossed threshold.
                weights = flat.to(torch.float32)
                weights[~any_spike] = 1.0  # rows without a spike: dummy draw, discarded
                winner = torch.multinomial(weights, 1)
                chosen = torch.zeros_like(flat)
                chosen.scatter_(1, winner, True)
                chosen &= any_spike.unsqueeze(1)
                flat.copy_(chosen)
        super()._spiked(s)


class IzhikevichNodes(Nodes):
    """Izhikevich (2003) neurons with intra-layer coupling ``S``.

    Step: neurons that spiked in the previous step reset (``v = c``,
    ``u += d``); the coupling adds ``S @ s_prev`` to the input; two half-steps
    ``v += dt/2 * (0.04 v^2 + 5 v + 140 - u + x)``; ``u += dt * a * (b v - u)``;
    spike where ``v >= thresh``. The recorded ``v`` of a spiking neuron is
    therefore above threshold (the reset comes on the next step).

    ``a``, ``b``, ``c``, ``d`` (shape ``[n]``) and ``S`` (``[n, n]``) are drawn
    at random as in Izhikevich (2003): a fraction ``excitatory`` of regular-
    spiking neurons, the rest fast-spiking; assign them before adding the
    layer to a network to choose your own. ``u = b * v`` is set whenever the
    state is (re)made.

    Parameters
    ----------
    excitatory : float
        Fraction of excitatory neurons, in [0, 1]. Default 1.
    thresh : float
        Spike threshold (mV). Default 45.
    rest : float
        Initial voltage (mV). Default -65.
    lbound : float, optional
        Lower bound of ``v`` (mV).
    """

    state_names = ("s", "v", "u")

    params = merge(
        Nodes.params,
        Param("excitatory", 1.0, low=0.0, high=1.0, live=False, doc="fraction of excitatory (regular-spiking) neurons"),
        Param("thresh", 45.0, "mV", per_neuron=True, doc="spike threshold"),
        Param("rest", -65.0, "mV", per_neuron=True, doc="initial voltage"),
        Param("lbound", None, "mV", per_neuron=True, doc="lower bound of v (None: unbounded)"),
        Param("a", None, "1/ms", per_neuron=True, doc="recovery time scale (None: drawn by excitatory)"),
        Param("b", None, per_neuron=True, doc="sensitivity of u to v (None: drawn by excitatory)"),
        Param("c", None, "mV", per_neuron=True, doc="voltage after a spike (None: drawn by excitatory)"),
        Param("d", None, "mV", per_neuron=True, doc="increase of u after a spike (None: drawn by excitatory)"),
    )

    def _setup(self) -> None:
        # As Izhikevich (2003): regular-spiking excitatory, fast-spiking inhibitory neurons.
        shape, n = self.shape, self.n
        n_ex = int(round(self.excitatory * n))
        r = torch.rand(n)
        ex = torch.arange(n) < n_ex
        drawn = {
            "a": torch.where(ex, torch.full_like(r, 0.02), 0.02 + 0.08 * r),
            "b": torch.where(ex, torch.full_like(r, 0.2), 0.25 - 0.05 * r),
            "c": torch.where(ex, -65.0 + 15.0 * r ** 2, torch.full_like(r, -65.0)),
            "d": torch.where(ex, 8.0 - 6.0 * r ** 2, torch.full_like(r, 2.0)),
        }
        for name, value in drawn.items():
            if getattr(self, name) is None:
                setattr(self, name, value.view(shape))
        S = torch.rand(n, n)
        self.S = torch.where(ex.unsqueeze(0), 0.5 * S, -S)

    def __setattr__(self, name, value):
        if name == "S" and not isinstance(value, torch.Tensor):
            raise TypeError(f"IzhikevichNodes.S must be a tensor of shape [n, n], got {describe(value)}")
        super().__setattr__(name, value)

    def compute_decays(self, dt):
        super().compute_decays(dt)
        # An all-zero coupling (a common choice) costs no product per step.
        S = self.__dict__.get("S")
        self._coupled = S is not None and bool(S.any())

    def _make_state(self):
        super()._make_state()
        self._set_state("v", self._full(self.rest))
        b = _shaped(self.b, self.shape)
        self._set_state("u", b.to(self.v.device) * self.v if isinstance(b, torch.Tensor) else b * self.v)

    def _step(self, x):
        v, u, s_prev = self.v, self.u, self.s
        shape = self.shape
        a = _shaped(self.a, shape)
        b = _shaped(self.b, shape)
        c = _shaped(self.c, shape)
        # Reset of last step's spikes, without a data-dependent branch (no host sync).
        _set_where(v, s_prev, c.expand_as(v) if isinstance(c, torch.Tensor) else c)
        u.add_(_shaped(self.d, shape) * s_prev)
        if self._coupled:
            coupling = (s_prev.view(self.batch_size, -1).to(torch.float32) @ self.S.t()).view_as(v)
            x = coupling if x is None else x + coupling
        elif x is None:
            x = 0.0
        for _ in range(2):
            v.add_(self.dt * 0.5 * (0.04 * v ** 2 + 5 * v + 140 - u + x))
        u.add_(self.dt * a * (b * v - u))
        torch.ge(v, self.thresh, out=self.s)
        if self.lbound is not None:
            v.clamp_(min=self.lbound)


class SRM0Nodes(_Spiking):
    """Spike response model (SRM0) with an escape-noise (stochastic) threshold.

    ``v`` leaks to ``rest`` like LIF and integrates ``eps_0 * x`` outside the
    refractory period; the firing intensity is
    ``rho = rho_0 * exp((v - thresh) / d_thresh)`` (per ms) and a neuron spikes
    with probability ``1 - exp(-rho * dt)`` (torch's global generator).

    Parameters
    ----------
    thresh, rest, reset : float
        mV; defaults -50, -70, -70.
    refrac, tc_decay : float
        ms; defaults 5 and 10.
    eps_0 : float
        Input scaling. Default 1.
    rho_0 : float
        Intensity at threshold (1/ms). Default 1.
    d_thresh : float
        Width of the soft threshold (mV). Default 5.
    """

    params = merge(
        _Spiking.params,
        Param("thresh", -50.0, "mV", per_neuron=True, doc="threshold (where the intensity is rho_0)"),
        Param("rest", -70.0, "mV", per_neuron=True, doc="resting voltage (also the initial voltage)"),
        Param("reset", -70.0, "mV", per_neuron=True, doc="voltage after a spike"),
        Param("tc_decay", 10.0, "ms", low=0.0, low_open=True, per_neuron=True, doc="membrane time constant"),
        Param("eps_0", 1.0, per_neuron=True, doc="input scaling"),
        Param("rho_0", 1.0, "1/ms", low=0.0, low_open=True, per_neuron=True, doc="firing intensity at threshold"),
        Param("d_thresh", 5.0, "mV", low=0.0, low_open=True, per_neuron=True, doc="width of the soft threshold"),
    )

    def compute_decays(self, dt):
        super().compute_decays(dt)
        self._decay = _decay(self.dt, self.tc_decay)

    def _step(self, x):
        v = self.v
        v.sub_(self.rest).mul_(self._decay).add_(self.rest)
        if x is not None:
            v.add_(self.eps_0 * x.masked_fill(self.refrac_count > 0, 0.0))
        self.refrac_count.sub_(self.dt)
        rho = self.rho_0 * torch.exp((v - self.thresh) / self.d_thresh)
        p = 1.0 - torch.exp(-rho * self.dt)
        s = torch.lt(torch.rand_like(p), p, out=self.s)
        s &= self.refrac_count <= 0
        _set_where(self.refrac_count, s, self.refrac)
        _set_where(v, s, self.reset)
        if self.lbound is not None:
            v.clamp_(min=self.lbound)


make_init(Nodes, positional=(("n", None), ("shape", None)))
for _cls in (Input, McCullochPitts, IFNodes, LIFNodes, CurrentLIFNodes, AdaptiveLIFNodes,
             DiehlAndCookNodes, IzhikevichNodes, SRM0Nodes):
    register(_cls)
