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

from .checks import as_shape, describe
from .model import (WINDOW_CLOCK, NodeModel, active, decay_factor, flag_value, in_static_shapes, parse_step,
                    torch_node_step, window_buffer)
from .params import Param, make_init, merge
from .registry import register

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


#: what every layer does before its model's step (the input sum) and after it (traces)
PRE_STEP = """
if sum_input:
    summed = summed + inp
"""
TRACE_STEP = """
if traces:
    x = x * trace_decay
if traces and traces_additive:
    x = x + where(s, trace_scale, 0.0)
if traces and not traces_additive:
    x = where(s, trace_scale, x)
"""


def one_winner(s: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Keep one spike per sample: the ``floor(u * count)``-th (in index order)
    of the ``count`` neurons that spiked; ``u`` uniform in [0, 1), one per sample."""
    batch = s.shape[0]
    flat = s.reshape(batch, -1)
    count = flat.sum(1)
    k = torch.minimum(torch.floor(u * count.to(torch.float32)).to(torch.int64), (count - 1).clamp(min=0))
    chosen = flat & (flat.cumsum(1) == (k + 1).unsqueeze(1))
    return chosen.view_as(s)


def random_need(layer) -> int:
    """Uniform draws a layer's step takes (per step): ``rand`` or one_winner's."""
    stmts = active(parse_step(layer.model.step), layer)
    need = 0
    if any("rand" in st.names for st in stmts):
        need += layer.batch_size * layer.n
    if any(st.kind == "one_winner" for st in stmts):
        need += layer.batch_size
    return need


def _shaped(value: Value, shape: tuple) -> Value:
    """A per-neuron parameter viewed in the layer's shape (a flat ``[n]`` one too)."""
    if isinstance(value, torch.Tensor) and value.dim() == 1 and len(shape) > 1 and value.numel() == math.prod(shape):
        return value.view(shape)
    return value


def _set_where(t: torch.Tensor, mask: torch.Tensor, value: Value) -> None:
    """``t[mask] = value`` in place, for a scalar or per-neuron ``value`` (for models written by hand)."""
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        torch.where(mask, value, t, out=t)
    else:
        t.masked_fill_(mask, value)


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

    #: the model: state and step (see snnlab.dynamics.model); every back-end's code comes from it
    model: NodeModel = NodeModel(state=(), step="s = inp != 0")

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
        for name in self.model.shared:
            # learned per-neuron state (adaptive thresholds): persistent, kept by resets
            self.register_buffer(name, torch.zeros(self.shape, dtype=torch.float32))
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
        """(Re)allocate the state for the current batch size, at rest (the model's ``init``)."""
        self._set_state("s", self._full(False, torch.bool))
        env = self.values()
        for name in self.model.state:
            init = self.model.init.get(name, 0.0)
            if isinstance(init, str):
                value = eval(compile(init, f"<{type(self).__name__} init {name}>", "eval"), {}, env)
            else:
                value = init
            if isinstance(value, torch.Tensor):
                value = value.to(self._device())
            self._set_state(name, self._full(value))
            env[name] = self.__dict__[name]
        if self.traces:
            self._set_state("x", self._full(0.0))
        if self.sum_input:
            self._set_state("summed", self._full(0.0))
        if self.model.windows and "_window_kernels" in self.__dict__:  # (made by compute_decays at construction)
            self._make_windows()

    def _make_windows(self) -> None:
        """The windows' ring buffers ``[len(kernel), batch, *shape]`` at zero, and their clock at 0.
        (float64: the window's sum is taken in float64, so a step converts one value, not the window.)"""
        device = self._device()
        for x, k in self.model.windows:
            length = self.__dict__[k].shape[0]
            shape = (length, self.batch_size, *self.shape)
            self._set_state(window_buffer(x), torch.zeros(shape, dtype=torch.float64, device=device))
        self._set_state(WINDOW_CLOCK, torch.zeros(1, dtype=torch.int64, device=device))

    def values(self) -> dict:
        """Parameters (per-neuron ones in the layer's shape), decays and ``dt``, by name."""
        shape = self.shape
        if len(shape) == 1:  # a flat layer's per-neuron parameters are in its shape already (_shaped: no-op)
            env = {p.name: getattr(self, p.name) for p in self.params}
        else:
            env = {p.name: _shaped(getattr(self, p.name), shape) for p in self.params}
        env.update(self.__dict__.get("_decays", {}))
        env["dt"] = self.dt
        return env

    def set_batch_size(self, batch_size: int) -> None:
        """Re-make the state for a new batch size (the state is reset)."""
        self.batch_size = int(batch_size)
        self._make_state()

    def reset_state_variables(self) -> None:
        """Return every state variable to its initial value (learned
        quantities such as an adaptive threshold are kept)."""
        self._make_state()

    def compute_decays(self, dt: float) -> None:
        """Recompute the decay factors (and the windows' kernels) for time step ``dt`` (ms)."""
        if self.model.windows:
            self._place_kernels(float(dt))  # first: a refused window changes nothing
        self.dt = float(dt)
        decays = {name: decay_factor(self.dt, _shaped(getattr(self, tc), self.shape))
                  for name, tc in self.model.decays.items()}
        if self.traces:
            decays["trace_decay"] = decay_factor(self.dt, _shaped(self.tc_trace, self.shape))
        self._decays = decays

    def window_kernels(self, dt: float) -> dict:
        """The kernels of the step's ``window(x, k)`` calls for time step ``dt``
        (ms): name -> 1-D float32 tensor, entry ``d`` weighing the value ``d``
        steps back. A model with windows computes them from its parameters;
        a ``ValueError`` refuses a window too large to keep."""
        return {}

    def _place_kernels(self, dt: float) -> None:
        kernels = self.window_kernels(dt)
        for _, k in self.model.windows:
            kernel = kernels.get(k)
            if not (isinstance(kernel, torch.Tensor) and kernel.dim() == 1 and kernel.numel() > 0):
                raise ValueError(f"{type(self).__name__}.window_kernels() gives no 1-D kernel {k!r} for its step's window()")
        device = self._device()
        resized = False
        for k, kernel in kernels.items():
            kernel = kernel.to(device=device, dtype=torch.float32)
            old = self.__dict__.get(k)
            if isinstance(old, torch.Tensor) and old.shape == kernel.shape and old.device == kernel.device:
                old.copy_(kernel)  # in place: the address stays (captured CUDA graphs read it)
            else:
                self.__dict__[k] = kernel
                resized = True
        self.__dict__["_window_kernels"] = tuple(kernels)
        if resized or WINDOW_CLOCK not in self.__dict__:
            self._make_windows()

    def tensors(self) -> list:
        """Every tensor the layer's step reads or writes (state, learned
        buffers, per-neuron parameters, coupling), for back-ends that hold
        them by address."""
        out = list(self.state_tensors().values())
        out.extend(v for _, v in sorted(self.__dict__.items()) if isinstance(v, torch.Tensor))
        return out

    @property
    def decays(self) -> dict:
        """The decay factors of the current ``dt`` (``exp(-dt / tc)`` in float32),
        by the model's names (``"decay"``, ...) and ``"trace_decay"``."""
        return dict(self.__dict__.get("_decays", {}))

    def flags(self) -> tuple:
        """The values of the flags the step tests (fixed during a run)."""
        return tuple((f, flag_value(self, f)) for f in _flag_names(type(self)))

    def steps(self) -> tuple:
        """(main statements, trace statements) active now: the layer's whole step."""
        return self._active_steps((type(self), self.flags()))

    def _active_steps(self, key: tuple) -> tuple:
        """:meth:`steps` for ``key = (type(self), self.flags())`` (a step computes the key once)."""
        cached = _ACTIVE.get(key)
        if cached is None:
            main = active(parse_step(PRE_STEP) + parse_step(self.model.step), self)
            trace = active(parse_step(TRACE_STEP), self)
            cached = _ACTIVE[key] = (main, trace)
        return cached

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
        rand: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Advance one step with input ``x`` (mV, ``[batch, *shape]`` or None).

        ``clamp`` / ``unclamp`` (bool, broadcastable to the state) force spikes
        on / off after the model's own spike check and before the traces:
        clamped spikes propagate and are learned from, but do not reset ``v``.
        ``rand``: the step's uniform draws (:func:`random_need` of them) for
        stochastic models; drawn from torch's global generator when None.

        The step is the model's description (``model``) run by the torch code
        generated from it (:func:`snnlab.dynamics.model.torch_node_step`).
        """
        if type(self)._step is not Nodes._step:  # a model written by hand (eager back-end only)
            return self._forward_by_hand(x, clamp, unclamp)
        key = (type(self), self.flags())
        main, trace = self._active_steps(key)
        env = self.values()
        d = self.__dict__
        for name in self.model.state:
            env[name] = d[name]
        for name in self.model.shared:
            env[name] = self._buffers[name]
        env["s"] = d["s"]
        env["inp"] = 0.0 if x is None else x
        if self.sum_input:
            env["summed"] = d["summed"]
        if self.model.uses_rand or self.model.uses_winner:
            draws = torch.rand(random_need(self), device=self._device()) if rand is None else rand
            if self.model.uses_winner and self.one_spike:
                env["one_winner"] = lambda s, u=draws[-self.batch_size:]: one_winner(s, u)
            if self.model.uses_rand:
                env["rand"] = draws[: self.batch_size * self.n].view(self.batch_size, *self.shape)
        if "coupling" in self.model.step:
            env["coupling"] = lambda _S, s=d["s"]: self._coupling(s)
        if self.model.windows:
            env[WINDOW_CLOCK] = d[WINDOW_CLOCK]
            for x, k in self.model.windows:
                env[window_buffer(x)] = d[window_buffer(x)]
                env[k] = d[k]
        self._write(torch_node_step(self.model, main, ("main",) + key)(env))
        s = d["s"]
        if clamp is not None:
            s.logical_or_(clamp)
        if unclamp is not None:
            s.logical_and_(~unclamp)
        if trace:
            env["x"] = d["x"]
            self._write(torch_node_step(self.model, trace, ("trace",) + key)(env))
        return s

    @classmethod
    def described(cls) -> bool:
        """Whether the step is the model's description (not written by hand in
        ``_step`` or ``forward``): then every back-end can generate its code."""
        return cls._step is Nodes._step and cls.forward is Nodes.forward

    def _step(self, x: Optional[torch.Tensor]) -> None:
        """A model may write its step by hand instead of describing it (``model``):
        then it runs on the eager back-end only (the others need the description)."""
        raise NotImplementedError

    def _forward_by_hand(self, x, clamp, unclamp) -> torch.Tensor:
        if self.sum_input and x is not None:
            self.summed.add_(x)
        self._step(x)
        s = self.s
        if clamp is not None:
            s.logical_or_(clamp)
        if unclamp is not None:
            s.logical_and_(~unclamp)
        trace = self.steps()[1]
        if trace:
            env = self.values()
            env.update(s=s, x=self.x)
            self._write(torch_node_step(self.model, trace, ("trace", type(self), self.flags()))(env))
        return s

    def _write(self, new: dict) -> None:
        """Store a step's results into the state tensors, in place (their addresses stay fixed)."""
        d = self.__dict__
        keys = d.get("_state_keys", ())
        for name, value in new.items():
            target = d.get(name) if name in keys else self._buffers.get(name)
            if target is None:
                continue  # a temporary of the step
            if isinstance(value, torch.Tensor):
                if value is not target:
                    target.copy_(value)
            else:
                target.fill_(value)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, batch_size={self.batch_size}"


_ACTIVE: dict = {}
_FLAG_NAMES: dict = {}


def _flag_names(cls) -> tuple:
    names = _FLAG_NAMES.get(cls)
    if names is None:
        stmts = parse_step(PRE_STEP) + parse_step(cls.model.step) + parse_step(TRACE_STEP)
        names = _FLAG_NAMES[cls] = tuple(sorted({f for st in stmts for f, _ in st.flags}))
    return names


class Input(Nodes):
    """A layer whose spikes are its input: ``s = (x != 0)``.

    Examples
    --------
    >>> layer = Input(n=3)
    >>> layer(torch.tensor([[1, 0, 1]])).tolist()
    [[True, False, True]]
    """

    model = NodeModel(state=(), step="s = inp != 0")


class McCullochPitts(Nodes):
    """Threshold units: ``v = x``; ``s = v >= thresh``.

    Parameters
    ----------
    thresh : float or Tensor
        Threshold (same units as the input). Default 1.
    """

    state_names = ("s", "v")

    params = merge(Nodes.params, Param("thresh", 1.0, per_neuron=True, doc="threshold (units of the input)"))
    model = NodeModel(state=("v",), init={"v": 0.0}, step="""
        v = inp
        s = v >= thresh
    """)


#: the end of every integrate-and-fire step (docs/semantics.md, LIF steps 5-7)
_FIRE = """
    s = v >= thresh
    refrac_count = where(s, refrac, refrac_count)
    v = where(s, reset, v)
    if lbound:
        v = maximum(v, lbound)
"""


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
    model = NodeModel(state=("v", "refrac_count"), init={"v": "reset", "refrac_count": 0.0}, step="""
        inp = where(refrac_count > 0, 0.0, inp)
        v = v + inp
        refrac_count = refrac_count - dt
    """ + _FIRE)

    @property
    def rest(self) -> Value:
        """IF neurons rest (and start) at ``reset``."""
        return self.reset


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

    model = NodeModel(
        state=("v", "refrac_count"), init={"v": "rest", "refrac_count": 0.0}, decays={"decay": "tc_decay"},
        step="""
            v = (v - rest) * decay + rest
            inp = where(refrac_count > 0, 0.0, inp)
            refrac_count = refrac_count - dt
            v = v + inp
        """ + _FIRE,
    )


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

    model = NodeModel(
        state=("v", "i", "refrac_count"), init={"v": "rest", "i": 0.0, "refrac_count": 0.0},
        decays={"decay": "tc_decay", "i_decay": "tc_i_decay"},
        step="""
            v = (v - rest) * decay + rest
            i = i * i_decay
            refrac_count = refrac_count - dt
            i = i + inp
            v = v + where(refrac_count > 0, 0.0, i)
        """ + _FIRE,
    )


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

    #: theta (shared: one per neuron, no batch dimension) is learned and kept by resets
    model = NodeModel(
        state=("v", "refrac_count"), init={"v": "rest", "refrac_count": 0.0}, shared=("theta",),
        decays={"decay": "tc_decay", "theta_decay": "tc_theta_decay"},
        step="""
            v = (v - rest) * decay + rest
            inp = where(refrac_count > 0, 0.0, inp)
            refrac_count = refrac_count - dt
            v = v + inp
            if learning:
                theta = theta * theta_decay
            s = v >= thresh + theta
            if learning:
                theta = theta + theta_plus * sum_batch(s)
            refrac_count = where(s, refrac, refrac_count)
            v = where(s, reset, v)
            if lbound:
                v = maximum(v, lbound)
        """,
    )


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

    model = NodeModel(
        state=("v", "refrac_count"), init={"v": "rest", "refrac_count": 0.0}, shared=("theta",),
        decays={"decay": "tc_decay", "theta_decay": "tc_theta_decay"},
        step="""
            v = (v - rest) * decay + rest
            inp = where(refrac_count > 0, 0.0, inp)
            refrac_count = refrac_count - dt
            v = v + inp
            if learning:
                theta = theta * theta_decay
            s = v >= thresh + theta
            if one_spike:
                s = one_winner(s)
            if learning:
                theta = theta + theta_plus * sum_batch(s)
            refrac_count = where(s, refrac, refrac_count)
            v = where(s, reset, v)
            if lbound:
                v = maximum(v, lbound)
        """,
    )


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

    model = NodeModel(
        state=("v", "u"), init={"v": "rest", "u": "b * v"},
        step="""
            v = where(s, c, v)
            u = u + where(s, d, 0.0)
            if coupled:
                inp = inp + coupling(S)
            v = v + dt * 0.5 * (0.04 * v ** 2 + 5 * v + 140 - u + inp)
            v = v + dt * 0.5 * (0.04 * v ** 2 + 5 * v + 140 - u + inp)
            u = u + dt * a * (b * v - u)
            s = v >= thresh
            if lbound:
                v = maximum(v, lbound)
        """,
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

    def _coupling(self, s: torch.Tensor) -> torch.Tensor:
        """``S @ s`` per sample, summing the columns of the neurons that spiked
        in index order (the order every back-end uses, so results agree bit for bit)."""
        S = self.S
        key = (S.data_ptr(), S._version, S.device)
        cached = self.__dict__.get("_coupling_cache")  # (key, S transposed): not a tensor attribute, not saved
        if cached is None or cached[0] != key:
            cached = self.__dict__["_coupling_cache"] = (key, S.detach().to(torch.float32).t().contiguous())
        rows = cached[1]
        batch = s.shape[0]
        flat = s.reshape(batch, -1)
        if in_static_shapes():  # a captured block: no data-dependent shapes
            return _sum_rows_of_spikes(flat, rows).view_as(s)
        out = torch.zeros(batch, self.n, dtype=torch.float32, device=s.device)
        for b in range(batch):
            idx = flat[b].nonzero().view(-1)
            if idx.numel():
                out[b] = torch.nn.functional.embedding_bag(idx.view(1, -1), rows, mode="sum")[0]
        return out.view_as(s)

    @property
    def coupled(self) -> bool:
        """Whether the coupling ``S`` has a nonzero entry (an all-zero one costs no product).
        Cached per version of ``S``, so that steps after the first do not wait on the device."""
        S = self.__dict__.get("S")
        if S is None:
            return False
        key = (S.data_ptr(), S._version, S.device)
        cached = self.__dict__.get("_coupled_cache")
        if cached is None or cached[0] != key:
            cached = self.__dict__["_coupled_cache"] = (key, bool(S.any()))
        return cached[1]


def _sum_rows_of_spikes(flat: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``sum(rows[j] for spiking j)`` per sample, in index order like the eager
    path, with shapes fixed by ``n``: the spiking indices are compacted to the
    front (cumsum + scatter) and the padding slots weigh 0."""
    batch, n = flat.shape
    arange = torch.arange(n, device=flat.device)
    pos = torch.where(flat, flat.cumsum(1) - 1, n)
    slots = torch.zeros(batch, n + 1, dtype=torch.long, device=flat.device)
    slots.scatter_(1, pos, arange.expand(batch, n))
    weights = (arange < flat.sum(1, keepdim=True)).to(rows.dtype)
    return torch.nn.functional.embedding_bag(slots[:, :n], rows, per_sample_weights=weights, mode="sum")


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

    model = NodeModel(
        # s_prob: this step's spike probability (state, so the Rmax rule can read it)
        state=("v", "refrac_count", "s_prob"), init={"v": "rest", "refrac_count": 0.0, "s_prob": 0.0},
        decays={"decay": "tc_decay"},
        step="""
            v = (v - rest) * decay + rest
            v = v + eps_0 * where(refrac_count > 0, 0.0, inp)
            refrac_count = refrac_count - dt
            rho = rho_0 * exp((v - thresh) / d_thresh)
            s_prob = 1.0 - exp(-rho * dt)
            s = (rand < s_prob) & (refrac_count <= 0)
            refrac_count = where(s, refrac, refrac_count)
            v = where(s, reset, v)
            if lbound:
                v = maximum(v, lbound)
        """,
    )


make_init(Nodes, positional=(("n", None), ("shape", None)))
for _cls in (Input, McCullochPitts, IFNodes, LIFNodes, CurrentLIFNodes, AdaptiveLIFNodes,
             DiehlAndCookNodes, IzhikevichNodes, SRM0Nodes):
    register(_cls)
