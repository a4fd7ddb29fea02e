"""The experiment protocol: what the lab runs, and the parameters it may change.

An experiment builds a ``snnlab.network.Network``, streams the inputs of its
``Input`` layers chunk by chunk, and declares its parameters (units, ranges,
live or not). The lab's controller, views and controls read only this
protocol: no module outside an experiment knows a layer's name.

API
---
``Experiment``
    Base class. A subclass gives ``build()`` (a new Network), ``input_specs(network)``
    (layer name -> rate in Hz, tensor ``[time, *shape]`` or callable
    ``(start_step, n_steps) -> tensor``), optionally ``settings()`` (its own
    parameters, e.g. sizes, which act at the next run) and ``traced(network)``.
    Every experiment also gets the parameters generated from its network
    (``network_parameters``): each layer's model parameters, each connection's
    weight scale and learning switch, each rate input's rate.
``NetworkExperiment(network, inputs)``
    Any user-built Network, as is (what ``Lab(net, inputs=...)`` wraps).
``Parameter``
    One declared parameter: ``path`` (``"L1.thresh"``, ``"X->L1.weight_scale"``,
    ``"X->L1.learning"``, ``"X.rate"``, or an experiment setting such as
    ``"n_output"``), label, unit, range, current value, ``live``.
``RateSource``, ``TensorSource``, ``CallableSource``
    The three kinds of input stream; ``make_source`` picks one.

Units: ms, mV, Hz.
"""

from __future__ import annotations

import math
import numbers
import weakref
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np
import torch

__all__ = [
    "Experiment", "NetworkExperiment", "Parameter", "RateSource", "TensorSource", "CallableSource", "CurrentSource",
    "make_source", "network_parameters", "connection_key", "MAX_ABS_VALUE",
]

#: Largest magnitude a live value may reach in the engine's float32 state:
#: far below float32's 3.4e38, so sums over many inputs stay finite.
MAX_ABS_VALUE = 1e9

#: Model parameters the lab offers as controls when the engine has no
#: parameter record for a class: (unit, low, high, doc).
_FALLBACK_LAYER_PARAMS = {
    "thresh": ("mV", -1000.0, 1000.0, "spike threshold"),
    "rest": ("mV", -1000.0, 1000.0, "resting voltage"),
    "reset": ("mV", -1000.0, 1000.0, "voltage after a spike"),
    "tc_decay": ("ms", 1e-3, 1e6, "membrane time constant"),
    "refrac": ("ms", 0.0, 1e4, "refractory period"),
    "theta_plus": ("mV", 0.0, 100.0, "threshold increase per spike"),
    "tc_theta_decay": ("ms", 1e-3, 1e9, "time constant of the adaptive threshold"),
}


def connection_key(source: str, target: str) -> str:
    """The name of a connection in parameter paths: ``"SOURCE->TARGET"``."""
    return f"{source}->{target}"


# -- parameters --------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One parameter an experiment declares.

    Attributes
    ----------
    path : str
        ``"LAYER.name"``, ``"SRC->DST.name"`` or a setting's own name.
    label : str
        Short text for a control.
    value : object
        Current value.
    unit : str
        "mV", "ms", "Hz", "" ...
    low, high : float, optional
        Valid range (closed); None: unbounded.
    kind : str
        "float", "int", "bool" or "choice".
    live : bool
        True: a change during a run acts at the next chunk. False: at the next run.
    choices : tuple
        The options of a "choice".
    doc : str
        One line.
    group : str
        Where a control goes: a layer's or connection's name, "inputs" or "experiment".
    """

    path: str
    label: str
    value: Any
    unit: str = ""
    low: Optional[float] = None
    high: Optional[float] = None
    kind: str = "float"
    live: bool = True
    choices: tuple = ()
    doc: str = ""
    group: str = "experiment"
    #: A further check ``validator(value) -> value`` (e.g. the engine's own
    #: ``Param.check``, which knows open ranges), raising ValueError/TypeError.
    validator: Optional[Callable] = field(default=None, compare=False, repr=False)

    def check(self, value: Any) -> Any:
        """``value`` checked and converted, or ``TypeError``/``ValueError`` naming the path,
        the value and what is expected."""
        what = self.expected()
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise TypeError(f"{self.path}: {value!r} is not True or False; expected {what}")
        if self.kind == "choice":
            if value in self.choices:
                return value
            raise ValueError(f"{self.path}: {value!r}; expected {what}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{self.path}: {value!r} ({type(value).__name__}) is not a number; expected {what}")
        if self.kind == "int":
            if not isinstance(value, numbers.Integral):
                if not (math.isfinite(float(value)) and float(value) == int(value)):
                    raise TypeError(f"{self.path}: {value!r} is not a whole number; expected {what}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{self.path}: {value!r} is not finite; expected {what}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(f"{self.path}: {value!r}{' ' + self.unit if self.unit else ''} is out of range; "
                             f"expected {what}")
        if self.validator is not None:
            value = self.validator(value)
        return value

    def expected(self) -> str:
        if self.kind == "bool":
            return "True or False"
        if self.kind == "choice":
            return "one of " + ", ".join(map(repr, self.choices))
        what = "a whole number" if self.kind == "int" else "a finite number"
        if self.low is not None or self.high is not None:
            lo = "-inf" if self.low is None else f"{self.low:g}"
            hi = "inf" if self.high is None else f"{self.high:g}"
            what += f" in [{lo}, {hi}]"
        return what + (f" ({self.unit})" if self.unit else "")

    def to_dict(self) -> dict:
        return {"path": self.path, "label": self.label, "value": self.value, "unit": self.unit,
                "low": self.low, "high": self.high, "kind": self.kind, "live": self.live}


def _engine_params(obj):
    """The engine's parameter record of ``obj`` (``{name: (Param, value)}``), or None."""
    try:
        from snnlab.dynamics import parameters_of
    except ImportError:
        return None
    try:
        return parameters_of(obj)
    except (TypeError, ValueError, AttributeError):
        return None


def _scalar(value) -> Optional[float]:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            return None
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def layer_parameters(name: str, layer) -> list:
    """The model parameters of ``layer`` (scalars only) as live ``Parameter``s."""
    from snnlab.network.nodes import Input

    if isinstance(layer, Input):
        return []
    out = []
    record = _engine_params(layer)
    if record is not None:
        for pname, (param, value) in record.items():
            v = _scalar(value)
            if v is None or param.kind not in (float, int) or getattr(param, "length", None):
                continue
            if pname in ("tc_trace", "trace_scale") or pname.startswith("traces"):
                continue  # traces serve learning rules, not the neuron model
            out.append(Parameter(
                path=f"{name}.{pname}", label=pname, value=v, unit=param.unit, low=param.low, high=param.high,
                kind="int" if param.kind is int else "float", live=bool(param.live), doc=param.doc, group=name,
                validator=lambda value, param=param, path=f"{name}.{pname}": param.check(path, value,
                                                                                          tuple(layer.shape)),
            ))
        return out
    for pname, (unit, lo, hi, doc) in _FALLBACK_LAYER_PARAMS.items():
        v = _scalar(getattr(layer, pname, None))
        if v is None:
            continue
        out.append(Parameter(path=f"{name}.{pname}", label=pname, value=v, unit=unit, low=lo, high=hi,
                             live=True, doc=doc, group=name))
    return out


def network_parameters(network, sources: Mapping[str, "Source"], scales: Mapping, learning: Mapping) -> list:
    """Every parameter generated from ``network``: layers, connections, rate inputs.

    ``scales`` / ``learning``: the current weight scale and learning switch of
    each connection (by connection object; missing: 1.0 and on).
    """
    out = []
    for name, src in sources.items():
        if isinstance(src, RateSource):
            out.append(Parameter(path=f"{name}.rate", label="rate", value=src.rate, unit="Hz", low=0.0,
                                 high=1000.0 / network.dt, live=True, doc="spike rate of each input",
                                 group=name))
        elif isinstance(src, CurrentSource):
            out.append(Parameter(path=f"{name}.current", label="injected current", value=src.amplitude,
                                 unit="mV/step", low=-1000.0, high=1000.0, live=True,
                                 doc="input added to each neuron's voltage every step (times its profile)",
                                 group=name))
    for name, layer in network.layers.items():
        out.extend(layer_parameters(name, layer))
    for (s, t), conn in network.connections.items():
        key = connection_key(s, t)
        out.append(Parameter(path=f"{key}.weight_scale", label="weight scale", value=scales.get(conn, 1.0),
                             low=0.0, high=100.0, live=True, group=key,
                             doc="multiplies the weights (relative to the run's start)"))
        from snnlab.learning import NoOp

        rule = learning_rule(conn)
        if rule is not None and not isinstance(rule, NoOp):
            out.append(Parameter(path=f"{key}.learning", label=f"learning ({type(rule).__name__})",
                                 value=learning.get(conn, True), kind="bool", live=True, group=key,
                                 doc="weight updates by the connection's rule"))
    return out


_RULES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def learning_rule(conn):
    """The connection's own learning rule (also while the lab has switched it off)."""
    return _RULES.get(conn, getattr(conn, "update_rule", None))


def set_learning(conn, on: bool) -> None:
    """Switch a connection's learning on or off (its rule and eligibility kept)."""
    from snnlab.learning import NoOp

    rule = learning_rule(conn)
    if rule is None or isinstance(rule, NoOp):
        return
    if on:
        conn.update_rule = rule
        _RULES.pop(conn, None)
    else:
        _RULES[conn] = rule
        conn.update_rule = NoOp(connection=conn)


# -- input streams -------------------------------------------------------------


class Source:
    """An input stream for one ``Input`` layer: ``source(start_step, n_steps)`` -> tensor
    ``[n_steps, *shape]``. Called for consecutive chunks from step 0; ``restart()``
    goes back to step 0."""

    def __init__(self, shape) -> None:
        self.shape = tuple(int(d) for d in shape)

    def restart(self) -> None:
        pass

    def __call__(self, start: int, n_steps: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class RateSource(Source):
    """Independent Bernoulli spikes at ``rate`` Hz: probability ``rate * dt / 1000`` per step.

    One uniform number per neuron and step is drawn in order from a NumPy
    ``PCG64`` stream seeded by ``seed``, so the spikes do not depend on how a
    run is cut into chunks. ``rate`` may change between chunks.
    """

    def __init__(self, shape, rate: float, dt: float, seed: int = 0, profile=None) -> None:
        super().__init__(shape)
        self.dt = float(dt)
        self.seed = int(seed)
        self.rate = self.check_rate(rate)
        #: Per-neuron multipliers in [0, 1] of the rate: None (all 1), an array
        #: ``[n]``, or a callable ``(start_step, n_steps) -> [n_steps, n]``.
        self.profile = profile
        self.restart()

    def check_rate(self, rate) -> float:
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not math.isfinite(float(rate)):
            raise TypeError(f"rate input: {rate!r}; expected a finite rate in Hz")
        p = float(rate) * self.dt / 1000.0
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"rate input: {float(rate):g} Hz at dt={self.dt:g} ms is a spike probability of "
                             f"{p:g} per step; expected 0 <= rate <= {1000.0 / self.dt:g} Hz")
        return float(rate)

    def restart(self) -> None:
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, 1])))
        self._next = 0

    def __call__(self, start: int, n_steps: int) -> torch.Tensor:
        if start != self._next:
            raise ValueError(f"rate input: asked for step {start}, the stream is at step {self._next}; "
                             "expected consecutive chunks")
        u = self._rng.random((n_steps, math.prod(self.shape)))
        self._next = start + n_steps
        p = self.rate * self.dt / 1000.0
        if self.profile is not None:
            prof = self.profile(start, n_steps) if callable(self.profile) else self.profile
            p = p * np.asarray(prof, dtype=np.float64)
        return torch.from_numpy(u < p).reshape(n_steps, *self.shape)


class CurrentSource(Source):
    """A constant input current into a (non-Input) layer: ``amplitude * profile`` mV per
    step for each neuron (``profile``: an array ``[n]``, default all 1). ``amplitude``
    may change between chunks."""

    def __init__(self, shape, amplitude: float, profile=None) -> None:
        super().__init__(shape)
        self.amplitude = float(amplitude)
        n = math.prod(self.shape)
        self.profile = torch.ones(n) if profile is None else torch.as_tensor(profile, dtype=torch.float32).reshape(n)

    def __call__(self, start: int, n_steps: int) -> torch.Tensor:
        row = (self.amplitude * self.profile).reshape(self.shape)
        return row.expand(n_steps, *self.shape).clone()


class TensorSource(Source):
    """Rows of a tensor ``[time, *shape]``; a run longer than it starts over from row 0."""

    def __init__(self, shape, tensor: torch.Tensor) -> None:
        super().__init__(shape)
        t = torch.as_tensor(tensor)
        if t.dim() == 2 and len(self.shape) > 1 and t.shape[1] == math.prod(self.shape):
            t = t.reshape(t.shape[0], *self.shape)  # flat rows for an image-shaped layer
        if tuple(t.shape[1:]) != self.shape or t.shape[0] < 1:
            raise ValueError(f"tensor input: shape {tuple(t.shape)}; expected [time >= 1, {', '.join(map(str, self.shape))}]")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError("tensor input: holds NaN or inf; expected finite values")
        self.tensor = t.detach().clone()  # the caller's tensor is never touched

    def __call__(self, start: int, n_steps: int) -> torch.Tensor:
        T = self.tensor.shape[0]
        idx = torch.arange(start, start + n_steps) % T
        return self.tensor[idx]


class CallableSource(Source):
    """``fn(start_step, n_steps)`` -> tensor ``[n_steps, *shape]`` (checked each call)."""

    def __init__(self, shape, fn: Callable) -> None:
        super().__init__(shape)
        self.fn = fn

    def __call__(self, start: int, n_steps: int) -> torch.Tensor:
        out = torch.as_tensor(self.fn(start, n_steps))
        if out.dim() == 2 and len(self.shape) > 1 and out.shape[1] == math.prod(self.shape):
            out = out.reshape(n_steps, *self.shape)
        if tuple(out.shape) != (n_steps, *self.shape):
            raise ValueError(f"input callable: returned shape {tuple(out.shape)} for ({start}, {n_steps}); "
                             f"expected {(n_steps, *self.shape)}")
        return out


def make_source(name: str, layer, spec, dt: float, seed: int = 0) -> Source:
    """A ``Source`` for Input layer ``name`` from a rate (Hz), a tensor or a callable."""
    shape = tuple(layer.shape)
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        try:
            return RateSource(shape, spec, dt, seed)
        except (TypeError, ValueError) as ex:
            raise type(ex)(f"inputs[{name!r}]: {ex}") from None
    if isinstance(spec, (torch.Tensor, np.ndarray)):
        try:
            return TensorSource(shape, spec)
        except ValueError as ex:
            raise ValueError(f"inputs[{name!r}]: {ex}") from None
    if callable(spec):
        return CallableSource(shape, spec)
    raise TypeError(f"inputs[{name!r}]: {spec!r}; expected a rate in Hz, a tensor [time, *shape] "
                    "or a callable (start_step, n_steps) -> tensor")


# -- experiments ----------------------------------------------------------------


class Experiment:
    """What the lab runs. Subclasses give ``build`` and ``input_specs``.

    Attributes
    ----------
    name : str
        Shown in the lab.
    time : float or None
        Default run length, ms (None: until Stop).
    seed : int
        Seed of the rate inputs (and of anything random the experiment builds).
    """

    name = "experiment"
    time: Optional[float] = 1000.0
    seed: int = 0
    #: What the experiment shows and what to try, as plain text (the lab shows it
    #: above the controls; empty: nothing shown).
    description: str = ""
    #: Whether the lab adds the parameters generated from the network
    #: (an experiment whose own settings cover them says False).
    network_controls = True

    def build(self):  # pragma: no cover - abstract
        """A Network (new for a built-in experiment, or the user's own)."""
        raise NotImplementedError

    def input_specs(self, network) -> Mapping[str, Any]:
        """Input layer name -> rate (Hz), tensor ``[time, *shape]`` or callable."""
        return {}

    def settings(self) -> list:
        """The experiment's own parameters (acting at the next run unless marked live)."""
        return []

    def set_setting(self, path: str, value) -> None:
        """Store a checked setting (``settings()`` lists them)."""
        raise KeyError(path)

    def apply_setting(self, run, path: str, value) -> bool:
        """Put a live setting into a running network; True if this experiment handled it."""
        return False

    def after_chunk(self, run, start: int, stop: int) -> None:
        """Called in the run's thread after steps ``[start, stop)`` (e.g. to draw a statistic).

        Chunk edges depend on the machine's speed: nothing that changes the
        network may happen here (see ``run_steps``).
        """

    def run_steps(self, network) -> Optional[int]:
        """Steps of each engine run (``network.run_chunks`` call) the lab's run is made of, or
        None (one call).

        The engine does at the end of each of its runs what the semantics say
        (``docs/semantics.md``: each connection with ``norm`` is normalised
        after the last step). An experiment made of short runs, as Diehl &
        Cook's of one digit each, returns their length: the lab then runs it as
        such runs back to back (state and inputs carry on), and the results do
        not depend on how a run is cut into chunks.
        """
        return None

    def traced(self, network) -> Dict[str, list]:
        """Neurons whose voltage is recorded, by layer (default: the first 5 of each non-Input layer)."""
        from snnlab.network.nodes import Input

        return {name: list(range(min(5, layer.n))) for name, layer in network.layers.items()
                if not isinstance(layer, Input) and isinstance(getattr(layer, "v", None), torch.Tensor)}

    def image_shape(self, network, layer: str) -> Optional[tuple]:
        """The 2-D image shape of a layer (receptive fields are drawn as images), or None."""
        shape = tuple(network.layers[layer].shape)
        if len(shape) == 2:
            return shape
        if len(shape) == 3 and shape[0] == 1:
            return shape[1:]
        return None

    def check_network(self, network) -> None:
        """Raise ``ValueError`` if ``network`` cannot be run by the lab."""
        from snnlab.network import Network
        from snnlab.network.nodes import Input

        if not isinstance(network, Network):
            raise TypeError(f"expected a snnlab.network.Network, got {type(network).__name__}")
        if not network.layers:
            raise ValueError("the network has no layers; add at least one with add_layer")
        specs = self.input_specs(network)
        for name, spec in specs.items():
            if name not in network.layers:
                raise ValueError(f"inputs: no layer {name!r} in the network; it has {list(network.layers)}")
            # Input layers take spikes; other layers a current (tensor, callable or CurrentSource).
            if not isinstance(network.layers[name], Input) and isinstance(spec, (numbers.Real, RateSource)):
                raise ValueError(f"inputs: layer {name!r} is a {type(network.layers[name]).__name__}; "
                                 "expected an Input layer for a rate (other layers take a current: "
                                 "a tensor or a callable)")

    def to_dict(self) -> dict:
        """JSON-able description of what runs (for recordings and saved files)."""
        return {"experiment": self.name, "time": self.time, "seed": self.seed}


class NetworkExperiment(Experiment):
    """A user-built Network run as is, with ``inputs`` for its Input layers.

    The lab runs this very network (its weights learn across runs, as with
    ``network.run``); at the start of each run the state variables are reset
    and the rate inputs start over from their seed.

    Parameters
    ----------
    network : snnlab.network.Network
    inputs : dict, optional
        Input layer name -> rate in Hz, tensor ``[time, *shape]`` or callable
        ``(start_step, n_steps) -> tensor``. Input layers not named get no input.
    time : float, optional
        Default run length, ms (None: until Stop).
    seed : int
        Seed of the rate inputs.
    name : str
    """

    def __init__(self, network, inputs: Optional[Mapping[str, Any]] = None, *, time: Optional[float] = 1000.0,
                 seed: int = 0, name: str = "my network") -> None:
        self.network = network
        if inputs is not None and not isinstance(inputs, Mapping):
            raise TypeError(f"inputs: expected a dict of Input layer name -> rate/tensor/callable, got "
                            f"{type(inputs).__name__}")
        self.inputs = dict(inputs or {})
        self.time = time
        self.seed = int(seed)
        self.name = name
        self.check_network(network)
        for lname, spec in self.inputs.items():  # checked now, not at the first run
            make_source(lname, network.layers[lname], spec, network.dt, self.seed)

    def build(self):
        return self.network

    def input_specs(self, network) -> Mapping[str, Any]:
        return self.inputs

    def to_dict(self) -> dict:
        from snnlab.recording import describe_network

        return {"experiment": self.name, "time": self.time, "seed": self.seed,
                "inputs": {k: (v if isinstance(v, (int, float)) else type(v).__name__) for k, v in self.inputs.items()},
                "network": describe_network(self.network)}
