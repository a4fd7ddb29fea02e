"""The lab's network configuration: validated, JSON in and out, builds the Network.

API (stable; the lab, the CLI and ``snnlab.export`` rely on it)
--------------------------------------------------------------
``LabConfig``
    Frozen dataclass of every setting of the lab's network (units: ms, mV, Hz).
    Constructing one validates it: a bad value raises ``ValueError`` or
    ``TypeError`` naming the field, the value and what is expected, so every
    ``LabConfig`` that exists is runnable. ``cfg.validate()`` re-checks and
    returns ``cfg``; ``cfg.replace(**changes)`` returns a new, validated config.
``LabConfig.to_json()`` / ``LabConfig.from_json(text)``
    JSON only (``json`` module; never ``eval`` or ``pickle``). Unknown keys,
    repeated keys, wrong types and non-finite numbers are rejected; so is any
    value the engine's float32 step cannot represent (``snnlab._limits``). ``to_dict``/``from_dict``
    are the same without the text step.
``LabConfig.for_model(name, **changes)``
    A config with the neuron parameters of ``MODEL_DEFAULTS[name]``.
``build_network(config)``
    The ``snnlab.network.Network`` the config describes, built deterministically
    from ``config.seed``: layer ``"A"`` (``Input``, ``n_input``) -> layer ``"B"``
    (the neuron model, ``n_output``) with recurrent inhibition ``("B", "B")``;
    monitors ``"A"`` (``s``), ``"B"`` (``s``, ``v``) sized for the whole run.
``BernoulliInput(config)``
    The input spikes: a callable ``inputs(start, stop)`` for
    ``Network.run_chunks``; its ``rate`` (Hz) may change between chunks. The
    spikes do not depend on how a run is cut into chunks.
``apply_live_parameters(network, inputs, config)``
    Puts ``input_rate``, ``weight_scale`` and ``inhibition`` (``LIVE_FIELDS``)
    into a built network mid-run; the other fields need a new network.
``Recording``
    ``snnlab.recording.Recording``, re-exported: what a run recorded, layer by
    layer (here ``"A"`` and ``"B"``), with the config in ``experiment``.

The default config is the seed's network: 100 Bernoulli inputs at 100 Hz
(p = 0.1 per 1 ms step) -> 1000 LIF neurons, forward weights
``0.05 + 0.1 * N(0, 1)``, recurrent weights ``-0.025`` between all distinct
pairs, 500 ms.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from snnlab import _limits
from snnlab._json import loads_strict

__all__ = [
    "LabConfig",
    "Recording",
    "BernoulliInput",
    "build_network",
    "apply_live_parameters",
    "forward_weights",
    "NEURON_MODELS",
    "MODEL_DEFAULTS",
    "LIVE_FIELDS",
    "MAX_TRACED",
    "MAX_NETWORK_BYTES",
    "estimate_memory_bytes",
]

#: Neuron models the lab offers, by the name used in configs.
NEURON_MODELS = ("LIF", "IF", "AdaptiveLIF", "Izhikevich")

#: Neuron parameters per model (mV, ms): the engine's defaults (BindsNET's).
#: For Izhikevich, ``reset`` is the after-spike voltage ``c`` and
#: ``tc_decay``/``refrac`` are not used; IF has no leak, so ``rest`` and
#: ``tc_decay`` are not used.
MODEL_DEFAULTS: dict[str, dict[str, float]] = {
    "LIF": dict(thresh=-52.0, rest=-65.0, reset=-65.0, tc_decay=100.0, refrac=5.0),
    "IF": dict(thresh=-52.0, rest=-65.0, reset=-65.0, tc_decay=100.0, refrac=5.0),
    "AdaptiveLIF": dict(thresh=-52.0, rest=-65.0, reset=-65.0, tc_decay=100.0, refrac=5.0),
    "Izhikevich": dict(thresh=45.0, rest=-65.0, reset=-65.0, tc_decay=100.0, refrac=5.0),
}

#: Parameters used by each model (the rest are ignored by that model).
MODEL_PARAMETERS: dict[str, tuple[str, ...]] = {
    "LIF": ("thresh", "rest", "reset", "tc_decay", "refrac"),
    "IF": ("thresh", "reset", "refrac"),
    "AdaptiveLIF": ("thresh", "rest", "reset", "tc_decay", "refrac"),
    "Izhikevich": ("thresh", "rest", "reset"),
}

#: Fields that may change during a run (they take effect at the next chunk).
LIVE_FIELDS = ("input_rate", "weight_scale", "inhibition")

#: Neurons traced by default (the first ones).
DEFAULT_TRACED = 5

#: At most this many neurons get their voltage traced.
MAX_TRACED = 20

#: Largest estimated memory (bytes) a lab network may need: weights, monitors
#: and the recording. 2 GiB leaves room on a 24 GiB machine shared by others.
MAX_NETWORK_BYTES = 2 * 1024**3

_INT_FIELDS = ("n_input", "n_output", "seed")
_FLOAT_FIELDS = (
    "input_rate", "weight_scale", "inhibition", "time", "dt",
    "thresh", "rest", "reset", "tc_decay", "refrac",
)


def estimate_memory_bytes(n_input: int, n_output: int, n_steps: int, neuron_model: str = "LIF") -> int:
    """Rough upper bound of the memory (bytes) one lab network and its run need.

    Dense float32 weights (forward and recurrent; for Izhikevich also the
    layer's own coupling matrix), the lab's monitors (a window of 512 steps)
    and its ring buffers (whole run or a sliding window, at most
    ``snnlab.lab.controller.BUFFER_BYTES``): memory no longer grows with the
    run's length. The compiled cpu loop's code (numba/LLVM, about 150 MB once
    per process) is not counted.
    """
    weights = 4 * (n_input * n_output + n_output * n_output)
    if neuron_model == "Izhikevich":
        weights += 4 * n_output * n_output
    monitors = 512 * (n_input + n_output) + 4 * 512 * n_output
    per_step = n_input + n_output + 8 + 4 * DEFAULT_TRACED
    buffers = min(n_steps * per_step, 256 * 1024**2)
    return weights + monitors + buffers


@dataclass(frozen=True)
class LabConfig:
    """Settings of the lab's two-layer network (times in ms, voltages in mV, rates in Hz).

    Parameters
    ----------
    n_input : int
        Size of the input layer ``"A"`` (Bernoulli spike sources), >= 1.
    n_output : int
        Size of the output layer ``"B"``, >= 1.
    input_rate : float
        Firing rate of each input, Hz. Each step an input spikes with
        probability ``input_rate * dt / 1000``, which must be <= 1. Live.
    weight_scale : float
        Forward weights are ``weight_scale * (0.05 + 0.1 * N(0, 1))`` (mV jump
        per input spike). Live.
    inhibition : float
        Recurrent weights are ``-inhibition`` between every two distinct output
        neurons (mV), >= 0. Live.
    time : float
        Simulated time of a run, ms; a whole number of steps of ``dt``.
    dt : float
        Time step, ms, > 0.
    seed : int
        Seed of the weights and the input spikes, 0 <= seed < 2**63.
    neuron_model : str
        One of ``NEURON_MODELS``.
    thresh, rest, reset : float
        Spike threshold, resting and reset voltage, mV (see ``MODEL_PARAMETERS``
        for which model uses which).
    tc_decay : float
        Membrane time constant, ms, > 0.
    refrac : float
        Refractory period, ms, >= 0.
    traced : tuple of int, optional
        Indices of output neurons whose voltage is plotted and recorded
        (at most ``MAX_TRACED``, each < ``n_output``, no repeats). Default:
        the first ``DEFAULT_TRACED`` (5) neurons.

    Examples
    --------
    >>> cfg = LabConfig()
    >>> cfg.n_steps, cfg.input_probability
    (500, 0.1)
    >>> LabConfig.from_json(cfg.to_json()) == cfg
    True
    >>> LabConfig(dt=0.3, time=1.0)
    Traceback (most recent call last):
    ...
    ValueError: LabConfig.time: 1.0 ms is not a whole number of steps of dt=0.3 ms (3.333... steps); expected a multiple of dt
    """

    n_input: int = 100
    n_output: int = 1000
    input_rate: float = 100.0
    weight_scale: float = 1.0
    inhibition: float = 0.025
    time: float = 500.0
    dt: float = 1.0
    seed: int = 0
    neuron_model: str = "LIF"
    thresh: float = -52.0
    rest: float = -65.0
    reset: float = -65.0
    tc_decay: float = 100.0
    refrac: float = 5.0
    traced: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        # Types first (coercing int -> float and list -> tuple), then values.
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(
                    f"LabConfig.{name}: expected an int, got {_limits.short(value)} ({type(value).__name__})"
                )
            if not -(2**63) <= value < 2**63:
                raise ValueError(f"LabConfig.{name}: {_limits.short(value)}; expected an int64 (|value| < 2**63)")
            object.__setattr__(self, name, int(value))
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(
                    f"LabConfig.{name}: expected a number, got {_limits.short(value)} ({type(value).__name__})"
                )
            object.__setattr__(self, name, _limits.as_float("LabConfig", name, value))
        if not isinstance(self.neuron_model, str):
            raise TypeError(
                f"LabConfig.neuron_model: expected a str, got {self.neuron_model!r} "
                f"({type(self.neuron_model).__name__})"
            )
        traced = self.traced
        if traced is None:
            traced = tuple(range(min(DEFAULT_TRACED, self.n_output if isinstance(self.n_output, int) else 0)))
        if isinstance(traced, (str, bytes)) or not isinstance(traced, (list, tuple, np.ndarray)):
            raise TypeError(
                f"LabConfig.traced: expected a list of neuron indices, got {traced!r}"
            )
        for i in traced:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise TypeError(
                    f"LabConfig.traced: expected int neuron indices, got {i!r} in {list(traced)!r}"
                )
        object.__setattr__(self, "traced", tuple(int(i) for i in traced))
        self.validate()

    # -- checks ---------------------------------------------------------------

    def validate(self) -> "LabConfig":
        """Check every value; return ``self`` or raise ``ValueError``.

        The message names the field, the value received and what is expected.
        """
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"LabConfig.{name}: {value!r} is not finite; expected a finite number")
            _limits.check_float32("LabConfig", name, value, positive=name in ("dt", "tc_decay"))
        for name in ("n_input", "n_output"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(
                    f"LabConfig.{name}: {value} neurons; expected at least 1 (a layer cannot be empty)"
                )
        if self.dt <= 0:
            raise ValueError(f"LabConfig.dt: {self.dt} ms; expected a time step > 0 ms")
        if self.time <= 0:
            raise ValueError(f"LabConfig.time: {self.time} ms; expected a simulated time > 0 ms")
        # Representable by the engine (snnlab/_limits.py says why each bound).
        _limits.check_steps("LabConfig", self.time, self.dt)
        _limits.check_dt("LabConfig", self.dt, self.refrac)
        steps = self.time / self.dt
        if abs(steps - round(steps)) > 1e-9 * max(1.0, steps) or round(steps) < 1:
            raise ValueError(
                f"LabConfig.time: {self.time} ms is not a whole number of steps of dt={self.dt} ms "
                f"({steps:.3f}... steps); expected a multiple of dt"
            )
        if self.input_rate < 0:
            raise ValueError(f"LabConfig.input_rate: {self.input_rate} Hz; expected a rate >= 0 Hz")
        p = self.input_probability
        if p > 1:
            raise ValueError(
                f"LabConfig.input_rate: {self.input_rate} Hz at dt={self.dt} ms is a spike "
                f"probability of {p:g} per step; expected at most 1 "
                f"(input_rate <= {1000.0 / self.dt:g} Hz)"
            )
        if self.inhibition < 0:
            raise ValueError(
                f"LabConfig.inhibition: {self.inhibition}; expected a strength >= 0 "
                "(recurrent weights are -inhibition)"
            )
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"LabConfig.seed: {self.seed}; expected 0 <= seed < 2**63")
        if self.neuron_model not in NEURON_MODELS:
            raise ValueError(
                f"LabConfig.neuron_model: {self.neuron_model!r}; expected one of {', '.join(NEURON_MODELS)}"
            )
        if self.tc_decay <= 0:
            raise ValueError(f"LabConfig.tc_decay: {self.tc_decay} ms; expected a time constant > 0 ms")
        if self.refrac < 0:
            raise ValueError(f"LabConfig.refrac: {self.refrac} ms; expected a refractory period >= 0 ms")
        if len(self.traced) > MAX_TRACED:
            raise ValueError(
                f"LabConfig.traced: {len(self.traced)} neurons; expected at most {MAX_TRACED}"
            )
        if len(set(self.traced)) != len(self.traced):
            raise ValueError(f"LabConfig.traced: {list(self.traced)} has repeats; expected distinct indices")
        for i in self.traced:
            if not 0 <= i < self.n_output:
                raise ValueError(
                    f"LabConfig.traced: neuron {i} is not in the output layer; "
                    f"expected indices 0..{self.n_output - 1}"
                )
        _limits.check_voltage_range(
            "LabConfig", neuron_model=self.neuron_model, n_steps=self.n_steps,
            voltages={name: getattr(self, name) for name in ("thresh", "rest", "reset")},
            n_input=self.n_input, n_output=self.n_output,
            weight_scale=self.weight_scale, inhibition=self.inhibition,
        )
        if self.neuron_model == "Izhikevich":
            w = forward_weights(self) if self.n_input * self.n_output <= 2**26 else None
            if w is not None:  # the real weights: every input spiking at once
                excitation = float(w.clamp(min=0).sum(0).max())
                negative = float(w.clamp(max=0).sum(0).min())
            else:  # too many to draw here: |weight| < |weight_scale| (snnlab/_limits.py)
                excitation, negative = self.n_input * abs(self.weight_scale), -self.n_input * abs(self.weight_scale)
            _limits.check_izhikevich_probe(
                "LabConfig", dt=self.dt, thresh=self.thresh, rest=self.rest, reset=self.reset,
                n_steps=self.n_steps, excitation=excitation,
                inhibition_sum=negative - (self.n_output - 1) * self.inhibition,
                weight_scale=self.weight_scale, inhibition=self.inhibition,
            )
        need = estimate_memory_bytes(self.n_input, self.n_output, self.n_steps, self.neuron_model)
        if need > MAX_NETWORK_BYTES:
            raise ValueError(
                f"LabConfig: n_input={self.n_input}, n_output={self.n_output}, "
                f"{self.n_steps} steps need about {need / 1024**3:.1f} GiB; expected at most "
                f"{MAX_NETWORK_BYTES / 1024**3:.1f} GiB (use fewer neurons or a shorter time)"
            )
        return self

    # -- derived values -------------------------------------------------------

    @property
    def n_steps(self) -> int:
        """Number of time steps of a run (``time / dt``)."""
        return int(round(self.time / self.dt))

    @property
    def input_probability(self) -> float:
        """Spike probability of one input in one step (``input_rate * dt / 1000``)."""
        return self.input_rate * self.dt / 1000.0

    def replace(self, **changes: Any) -> "LabConfig":
        """A new validated config with ``changes``; unknown names raise ``TypeError``."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"LabConfig has no field(s) {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def for_model(cls, neuron_model: str, **changes: Any) -> "LabConfig":
        """A config with the default neuron parameters of ``neuron_model``."""
        if neuron_model not in MODEL_DEFAULTS:
            raise ValueError(
                f"LabConfig.neuron_model: {neuron_model!r}; expected one of {', '.join(NEURON_MODELS)}"
            )
        return cls(**{"neuron_model": neuron_model, **MODEL_DEFAULTS[neuron_model], **changes})

    # -- JSON -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The config as a dict of JSON types (``traced`` as a list)."""
        d = dataclasses.asdict(self)
        d["traced"] = list(self.traced)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LabConfig":
        """A validated config from a mapping; missing keys take the defaults.

        Raises ``ValueError`` on unknown keys, ``TypeError`` on wrong types.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"LabConfig: expected a JSON object, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(
                f"LabConfig: unknown key(s) {', '.join(map(repr, unknown))}; expected only {', '.join(names)}"
            )
        values = dict(data)
        for name in _FLOAT_FIELDS:
            # JSON ints are fine for float fields; strings are not.
            if name in values and isinstance(values[name], str):
                raise TypeError(f"LabConfig.{name}: expected a number, got {values[name]!r} (str)")
        if "traced" in values and not isinstance(values["traced"], (list, tuple)):
            raise TypeError(f"LabConfig.traced: expected a list of neuron indices, got {values['traced']!r}")
        return cls(**values)

    def to_json(self) -> str:
        """The config as JSON text (sorted keys, indented)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "LabConfig":
        """A validated config from JSON text (``snnlab._json.loads_strict``: ``json`` only;
        NaN/Infinity, repeated keys, deep nesting and 40-digit integers rejected)."""

        # Strict: depth-limited, duplicate keys and 400-digit integers refused.
        return cls.from_dict(loads_strict(text, what="LabConfig"))


# -- building the network -----------------------------------------------------


def _weight_generator(config: LabConfig) -> torch.Generator:
    return torch.Generator().manual_seed(config.seed)


def forward_weights(config: LabConfig) -> torch.Tensor:
    """Forward weights ``A -> B``: ``weight_scale * (0.05 + 0.1 * N(0, 1))``, float32.

    Drawn from ``torch.Generator().manual_seed(config.seed)``, so the same seed
    gives the same weights; ``weight_scale`` only scales them.
    """
    g = _weight_generator(config)
    base = 0.05 + 0.1 * torch.randn(config.n_input, config.n_output, generator=g, dtype=torch.float32)
    return base * config.weight_scale


def _fill_inhibition(w: torch.Tensor, inhibition: float) -> None:
    # In place: a 10,000-neuron recurrent matrix is 400 MB, not to be copied.
    w.fill_(-inhibition)
    w.fill_diagonal_(0.0)


def _make_output_layer(config: LabConfig):
    from snnlab.network import nodes

    n = config.n_output
    if config.neuron_model == "LIF":
        return nodes.LIFNodes(
            n=n, thresh=config.thresh, rest=config.rest, reset=config.reset,
            tc_decay=config.tc_decay, refrac=config.refrac,
        )
    if config.neuron_model == "IF":
        return nodes.IFNodes(n=n, thresh=config.thresh, reset=config.reset, refrac=config.refrac)
    if config.neuron_model == "AdaptiveLIF":
        return nodes.AdaptiveLIFNodes(
            n=n, thresh=config.thresh, rest=config.rest, reset=config.reset,
            tc_decay=config.tc_decay, refrac=config.refrac,
        )
    if config.neuron_model == "Izhikevich":
        layer = nodes.IzhikevichNodes(n=n, thresh=config.thresh, rest=config.rest, excitatory=1.0)
        # Regular-spiking cells, set here rather than drawn at random by the
        # constructor, so the network depends on the seed alone; the layer's
        # own coupling S is off (the lab's coupling is the inhibition).
        layer.a = torch.full((n,), 0.02)
        layer.b = torch.full((n,), 0.2)
        layer.c = torch.full((n,), config.reset)
        layer.d = torch.full((n,), 8.0)
        layer.S = torch.zeros(n, n)
        return layer
    raise ValueError(f"LabConfig.neuron_model: {config.neuron_model!r}; expected one of {NEURON_MODELS}")


def build_network(config: LabConfig, monitors: bool = True):
    """Build the network ``config`` describes (deterministic in ``config.seed``).

    Layers ``"A"`` (``Input``, ``n_input``) and ``"B"`` (``config.neuron_model``,
    ``n_output``); connections ``("A", "B")`` (``forward_weights``) and
    ``("B", "B")`` (``-inhibition`` off the diagonal); monitors ``"A"``
    recording ``s`` and ``"B"`` recording ``s`` and ``v``, each sized for
    ``config.n_steps`` rows (none with ``monitors=False``: the lab adds its own).

    Returns
    -------
    snnlab.network.Network
    """
    from snnlab.network import Network
    from snnlab.network.monitors import Monitor
    from snnlab.network.nodes import Input
    from snnlab.network.topology import Connection

    config.validate()
    net = Network(dt=config.dt)
    source = Input(n=config.n_input)
    target = _make_output_layer(config)
    net.add_layer(source, name="A")
    net.add_layer(target, name="B")
    net.add_connection(
        Connection(source=source, target=target, w=forward_weights(config)), source="A", target="B"
    )
    w_rec = torch.empty(config.n_output, config.n_output)
    _fill_inhibition(w_rec, config.inhibition)
    net.add_connection(Connection(source=target, target=target, w=w_rec), source="B", target="B")
    if monitors:
        net.add_monitor(Monitor(source, ("s",), time=config.n_steps), name="A")
        net.add_monitor(Monitor(target, ("s", "v"), time=config.n_steps), name="B")
    return net


class BernoulliInput:
    """Input spikes of layer ``"A"``: each input spikes with probability ``rate * dt / 1000`` per step.

    A callable for ``Network.run_chunks(inputs=...)``: ``inputs(start, stop)``
    returns ``{"A": bool tensor [stop - start, 1, n_input]}``. One uniform
    number per input and step is drawn in order from a NumPy ``PCG64`` stream
    seeded by ``config.seed``, so the spikes are the same however a run is cut
    into chunks; ``rate`` (Hz) may be changed between chunks.

    Parameters
    ----------
    config : LabConfig
    """

    def __init__(self, config: LabConfig) -> None:
        self.n = config.n_input
        self.dt = config.dt
        self.rate = config.input_rate
        # A stream of its own, apart from the weights' torch generator.
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([config.seed, 1])))
        self._next = 0

    @property
    def probability(self) -> float:
        """Spike probability per input and step at the current rate."""
        return self.rate * self.dt / 1000.0

    def __call__(self, start: int, stop: int) -> dict[str, torch.Tensor]:
        if start != self._next:
            raise ValueError(
                f"BernoulliInput: asked for steps [{start}, {stop}) but the stream is at step "
                f"{self._next}; expected consecutive chunks from step 0"
            )
        p = self.probability
        if not 0 <= p <= 1:
            raise ValueError(
                f"BernoulliInput.rate: {self.rate} Hz at dt={self.dt} ms is a probability of {p:g}; "
                "expected 0..1"
            )
        u = self._rng.random((stop - start, self.n))
        self._next = stop
        return {"A": torch.from_numpy(u < p).unsqueeze(1)}


def apply_live_parameters(network, inputs: BernoulliInput, config: LabConfig) -> None:
    """Put the live fields of ``config`` (``LIVE_FIELDS``) into a built network.

    Sets ``inputs.rate``, the forward weights (``forward_weights(config)``, the
    same draws rescaled) and the recurrent weights, in place. Call it between
    chunks; it takes effect from the next step on.
    """
    inputs.rate = config.input_rate
    fwd = network.connections[("A", "B")]
    fwd.w.copy_(forward_weights(config).to(fwd.w.dtype))
    _fill_inhibition(network.connections[("B", "B")].w, config.inhibition)


# -- what a run recorded: snnlab.recording.Recording (kept importable from here)
from snnlab.recording import Recording  # noqa: E402
