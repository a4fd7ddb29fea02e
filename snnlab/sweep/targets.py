"""What a sweep varies: a *target* with named parameters that runs one point.

The sweep knows a target only through this small interface
(``SweepTarget``), so the lab's ``LabConfig`` (``LabConfigTarget``), a plain
function (``FunctionTarget``) and, later, the lab's experiments all plug in
the same way:

``parameter_names()``
    The names a design may vary.
``check(parameters)``
    Raise ``ValueError``/``TypeError`` naming the fault if a point cannot run
    (called for every point before anything runs).
``run(parameters, seed)``
    Build and run one point; return its recording (what
    ``snnlab.sweep.metrics.spike_layers`` reads).
``memory_bytes(parameters)``
    Rough peak memory of one run, bytes (for the spec check).
``describe()``
    JSON-able description (stored with the results; a resumed sweep must have
    the same one).

Targets that the lab can show also give ``experiment_for(parameters, seed)``
-> ``(experiment, values)``: what ``Lab.load_experiment(experiment, values)``
needs to load one point (the Sweep view's click).

Targets are pickled to the workers (Dask), so they hold plain data.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["SweepTarget", "LabConfigTarget", "ExperimentTarget", "FunctionTarget", "as_target"]


@runtime_checkable
class SweepTarget(Protocol):
    """The interface a sweep needs from what it varies (see the module docstring)."""

    def parameter_names(self) -> Sequence[str]: ...

    def check(self, parameters: Mapping[str, float]) -> None: ...

    def run(self, parameters: Mapping[str, float], seed: int) -> Any: ...

    def memory_bytes(self, parameters: Mapping[str, float]) -> int: ...

    def describe(self) -> dict: ...


def _config_fields():
    from snnlab.config import LabConfig

    return {f.name: f for f in dataclasses.fields(LabConfig)}


class LabConfigTarget:
    """Sweeps the fields of a ``LabConfig``; each point runs with the lab's own headless loop.

    Parameters
    ----------
    config : LabConfig
        The base config; a point replaces the varied fields and ``seed``.

    Notes
    -----
    Numeric fields may vary (``input_rate``, ``weight_scale``, ``inhibition``,
    ``time``, ``dt``, ``thresh``, ``rest``, ``reset``, ``tc_decay``,
    ``refrac``, and the integer ``n_input``, ``n_output``); ``seed`` is set by
    the sweep (one per point and replicate). ``run`` returns the recording of
    the config's network run in one go: the same spikes and traced voltages as
    the lab's run of it (``snnlab.lab.controller.run_config``).
    """

    #: Fields a sweep may vary.
    FLOAT_FIELDS = (
        "input_rate", "weight_scale", "inhibition", "time", "dt",
        "thresh", "rest", "reset", "tc_decay", "refrac",
    )
    INT_FIELDS = ("n_input", "n_output")

    def __init__(self, config=None) -> None:
        from snnlab.config import LabConfig

        if config is None:
            config = LabConfig()
        if not isinstance(config, LabConfig):
            raise TypeError(f"LabConfigTarget: expected a LabConfig, got {type(config).__name__}")
        self.config = config

    def parameter_names(self) -> tuple:
        return self.FLOAT_FIELDS + self.INT_FIELDS

    def config_for(self, parameters: Mapping[str, float], seed: Optional[int] = None):
        """The ``LabConfig`` of one point (validated; raises naming the fault)."""
        changes = {}
        for name, value in parameters.items():
            if name not in self.parameter_names():
                raise ValueError(
                    f"sweep parameter {name!r} is not a parameter of LabConfig; expected one of "
                    f"{', '.join(self.parameter_names())}"
                )
            if name in self.INT_FIELDS:
                if float(value) != round(float(value)):
                    raise ValueError(
                        f"sweep parameter {name!r}: {value!r} is not a whole number; expected an int (neurons)"
                    )
                value = int(round(float(value)))
            else:
                value = float(value)
            changes[name] = value
        if seed is not None:
            changes["seed"] = int(seed)
        if "n_output" in changes:
            # The traced neurons must exist in the new layer size.
            changes["traced"] = tuple(i for i in self.config.traced if i < changes["n_output"])
        try:
            return self.config.replace(**changes)
        except (ValueError, TypeError) as ex:
            point = ", ".join(f"{k}={v:g}" for k, v in parameters.items())
            raise type(ex)(f"sweep point ({point}): {ex}") from ex

    def check(self, parameters: Mapping[str, float]) -> None:
        self.config_for(parameters)

    def run(self, parameters: Mapping[str, float], seed: int):
        # One network build and one engine run (the batch path with one point):
        # the spikes and voltages of the lab's run of the config
        # (snnlab.lab.controller.run_config; tested), without its chunked loop,
        # which costs a sweep of the seed network about 40 % more time.
        return self.run_batch([(parameters, seed)])[0]

    def experiment_for(self, parameters: Mapping[str, float], seed: int):
        """``(LabConfig, {})``: the point as the lab loads it (``Lab.load_experiment``)."""
        return self.config_for(parameters, seed), {}

    # -- batch packing --------------------------------------------------------------
    #
    # Connections hold one weight matrix for the whole batch, so points can share
    # one simulation only where they share the network: the same config apart
    # from what reaches the input layer alone (input_rate), and the same seed
    # (weights and input stream both come from it). With per-point seeds (the
    # default) no two points share a seed; Sweep(seed_from=...) without
    # input_rate gives points that differ only in input_rate one seed.

    #: Fields that differ per batch element (they only change the input spikes).
    PACKABLE_FIELDS = ("input_rate",)

    def pack_key(self, parameters: Mapping[str, float], seed: int):
        """Points with equal keys can run as one batch (see ``run_batch``)."""
        c = self.config_for(parameters, seed)
        return c.replace(**{f: 0.0 for f in self.PACKABLE_FIELDS}).to_json()

    def run_batch(self, items) -> list:
        """Run points ``[(parameters, seed), ...]`` with equal ``pack_key`` as one batch.

        Returns one ``snnlab.recording.Recording`` per point with the spikes of
        every layer and the traced output voltages, the same as ``run`` gives
        (the engine's batch elements do not interact).
        """
        import torch

        from snnlab.config import build_network
        from snnlab.lab.experiment import RateSource
        from snnlab.network.monitors import Monitor
        from snnlab.recording import LayerRecording, Recording

        configs = [self.config_for(p, s) for p, s in items]
        keys = {self.pack_key(p, s) for p, s in items}
        if len(keys) != 1:
            raise ValueError("run_batch: the points differ in more than input_rate or in seed; expected one pack_key")
        base = configs[0]
        T = base.n_steps
        net = build_network(base, monitors=False)
        a, b = net.layers["A"], net.layers["B"]
        net.add_monitor(Monitor(a, ("s",), time=T), name="A")
        net.add_monitor(Monitor(b, ("s", "v"), time=T), name="B")
        # The lab's input stream for each point: PCG64 from SeedSequence([seed, 1]).
        x = torch.stack([RateSource((c.n_input,), c.input_rate, c.dt, c.seed)(0, T) for c in configs], dim=1)
        t0 = time.perf_counter()
        net.run(inputs={"A": x}, time=base.time)
        wall = (time.perf_counter() - t0) / len(configs)
        s_a = net.monitors["A"].get("s").reshape(T, len(configs), -1).numpy()
        s_b = net.monitors["B"].get("s").reshape(T, len(configs), -1).numpy()
        v_b = net.monitors["B"].get("v").reshape(T, len(configs), -1).numpy()
        traced = np.asarray(base.traced, dtype=np.int64)
        model = type(b).__name__
        out = []
        for i, c in enumerate(configs):
            layers = {
                "A": LayerRecording("A", (c.n_input,), type(a).__name__, np.ascontiguousarray(s_a[:, i])),
                "B": LayerRecording("B", (c.n_output,), model, np.ascontiguousarray(s_b[:, i]),
                                    voltages=np.ascontiguousarray(v_b[:, i][:, traced]), traced=traced,
                                    threshold=c.thresh),
            }
            out.append(Recording(dt=c.dt, layers=layers, completed=True, wall_time=wall, experiment=c.to_dict()))
        return out

    def memory_bytes(self, parameters: Mapping[str, float]) -> int:
        from snnlab.config import estimate_memory_bytes

        c = self.config_for(parameters)
        # The engine's estimate, plus the run's full-size voltage array (RunData).
        return estimate_memory_bytes(c.n_input, c.n_output, c.n_steps, c.neuron_model) + 4 * c.n_steps * c.n_output

    def describe(self) -> dict:
        return {"kind": "LabConfig", "config": self.config.to_dict()}

    @classmethod
    def from_description(cls, data: Mapping) -> "LabConfigTarget":
        from snnlab.config import LabConfig

        return cls(LabConfig.from_dict(data["config"]))


class ExperimentTarget:
    """Sweeps the parameters of a lab experiment (``snnlab.lab.experiment.Experiment``).

    Parameters
    ----------
    experiment : Experiment
        The base experiment (e.g. ``BrunelExperiment(n_exc=400)``); each point
        runs a deep copy of it, so it is never changed.
    time : float, optional
        Simulated time of each point, ms (default: the experiment's own; an
        experiment that runs until Stop needs one).
    values : dict, optional
        Parameter values (path -> value) every point starts from, e.g. what
        the lab's controls are set to; the point's own values win.

    Notes
    -----
    The parameters are the lab's: the experiment's settings (``"g"``,
    ``"n_exc"``) and the paths generated from its network (``"ext.rate"``,
    ``"I->E.weight_scale"``, ``"E.thresh"``); numeric ones may vary. A point
    runs with the lab's own headless loop (``Controller``), so loading it into
    the lab (``experiment_for``) shows the same spikes. The point's seed goes
    into the experiment's ``seed`` setting (reduced modulo its range) or, for
    an experiment without one, its ``seed`` attribute.
    """

    def __init__(self, experiment, *, time: Optional[float] = None, values: Optional[Mapping[str, float]] = None) -> None:
        from snnlab.lab.experiment import Experiment

        if not isinstance(experiment, Experiment):
            raise TypeError(f"ExperimentTarget: expected an Experiment, got {type(experiment).__name__}")
        self.experiment = experiment
        t = experiment.time if time is None else time
        if t is None:
            raise ValueError(
                f"ExperimentTarget: {experiment.name!r} runs until Stop; expected time= (ms) for each point"
            )
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
            raise ValueError(f"ExperimentTarget: time={t!r}; expected a time > 0 ms")
        self.time = float(t)
        from snnlab.lab.controller import Controller

        import copy

        ctl = Controller(copy.deepcopy(experiment), torch_threads=None)
        params = ctl.parameters()
        #: Numeric parameters: path -> (kind, low, high, unit).
        self.specs = {
            p.path: (p.kind, p.low, p.high, p.unit) for p in params.values() if p.kind in ("float", "int")
        }
        #: Values every point starts from (path -> value), e.g. the lab's current ones; a point's own win.
        self.values = {}
        for path, value in dict(values or {}).items():
            if path == "seed":
                continue
            self.check({path: value})
            self.values[path] = value
        net = ctl.preview_network()
        if net is None:
            raise ValueError(f"ExperimentTarget: {experiment.name!r} does not build a network")
        steps = int(round(self.time / net.dt))
        neurons = sum(layer.n for layer in net.layers.values())
        weights = sum(c.w.numel() for c in net.connections.values() if hasattr(c, "w"))
        # Weights (float32), and the recording's spikes and a few voltages per step.
        self._memory = 4 * weights + steps * neurons * 2 + 8 * steps * 20

    def parameter_names(self) -> tuple:
        return tuple(p for p in self.specs if p != "seed")

    def check(self, parameters: Mapping[str, float]) -> None:
        for path, value in parameters.items():
            if path not in self.specs or path == "seed":
                raise ValueError(
                    f"sweep parameter {path!r} is not a parameter of {self.experiment.name!r}; expected one of "
                    f"{', '.join(self.parameter_names())}"
                )
            kind, lo, hi, unit = self.specs[path]
            v = float(value)
            if kind == "int" and v != round(v):
                raise ValueError(f"sweep parameter {path!r}: {value!r} is not a whole number; expected an int")
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                lo_t = "-inf" if lo is None else f"{lo:g}"
                hi_t = "inf" if hi is None else f"{hi:g}"
                raise ValueError(
                    f"sweep parameter {path!r}: {v:g}{' ' + unit if unit else ''} is outside [{lo_t}, {hi_t}]"
                )

    def values_for(self, parameters: Mapping[str, float], seed: Optional[int] = None) -> dict:
        """The lab's values (path -> value) of one point, with its seed if the experiment has one."""
        values = {}
        for path, value in {**self.values, **dict(parameters)}.items():
            kind = self.specs[path][0]
            values[path] = int(round(float(value))) if kind == "int" else float(value)
        if seed is not None and "seed" in self.specs:
            hi = self.specs["seed"][2]
            values["seed"] = int(seed) % (int(hi) + 1) if hi is not None else int(seed)
        return values

    def experiment_for(self, parameters: Mapping[str, float], seed: int):
        """``(experiment, values)`` of one point, for ``Lab.load_experiment`` (a fresh copy)."""
        import copy

        exp = copy.deepcopy(self.experiment)
        if "seed" not in self.specs:
            exp.seed = int(seed)
        return exp, self.values_for(parameters, seed)

    def run(self, parameters: Mapping[str, float], seed: int):
        from snnlab.lab.controller import ERROR, Controller

        exp, values = self.experiment_for(parameters, seed)
        ctl = Controller(exp, torch_threads=None, frame_interval=1e9)
        try:
            ctl.update_paths(values)
        except KeyError as ex:
            raise ValueError(str(ex.args[0])) from None
        ctl.start(self.time)
        ctl.join()
        if ctl.state == ERROR:
            raise RuntimeError(ctl.message)
        return ctl.recording

    def memory_bytes(self, parameters: Mapping[str, float]) -> int:
        return int(self._memory)

    def describe(self) -> dict:
        import json

        desc = self.experiment.to_dict()
        try:
            json.dumps(desc)
        except (TypeError, ValueError):
            desc = {"experiment": self.experiment.name}
        return {"kind": "experiment", "name": self.experiment.name, "time": self.time, "experiment": desc,
                "values": {k: float(v) for k, v in sorted(self.values.items())}}


class FunctionTarget:
    """A target from a function: ``fn(seed=..., **parameters) -> recording``.

    Parameters
    ----------
    fn : callable
        Runs one point; must be picklable (cloudpickle, for Dask) and must
        derive every random draw from ``seed``.
    parameters : dict of str to (low, high)
        The parameters it takes and their allowed ranges (inclusive).
    name : str
        Stored with the results.
    memory_bytes : int or callable, optional
        Peak memory of one run, bytes (a number, or ``f(parameters)``).
    """

    def __init__(
        self,
        fn: Callable,
        parameters: Mapping[str, tuple],
        *,
        name: str,
        memory_bytes=0,
        description: Optional[Mapping] = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"FunctionTarget: fn must be callable, got {type(fn).__name__}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"FunctionTarget: name must be a non-empty str, got {name!r}")
        self.fn = fn
        self.ranges = {str(k): (float(v[0]), float(v[1])) for k, v in parameters.items()}
        for k, (lo, hi) in self.ranges.items():
            if not lo <= hi:
                raise ValueError(f"FunctionTarget: parameter {k!r} range ({lo:g}, {hi:g}); expected low <= high")
        self.name = name
        self._memory = memory_bytes
        self.description = dict(description or {})

    def parameter_names(self) -> tuple:
        return tuple(self.ranges)

    def check(self, parameters: Mapping[str, float]) -> None:
        for k, v in parameters.items():
            if k not in self.ranges:
                raise ValueError(
                    f"sweep parameter {k!r} is not a parameter of {self.name}; expected one of "
                    f"{', '.join(self.ranges)}"
                )
            lo, hi = self.ranges[k]
            if not lo <= float(v) <= hi:
                raise ValueError(f"sweep parameter {k!r}: {v:g} is outside {self.name}'s range [{lo:g}, {hi:g}]")

    def run(self, parameters: Mapping[str, float], seed: int):
        return self.fn(seed=int(seed), **dict(parameters))

    def memory_bytes(self, parameters: Mapping[str, float]) -> int:
        m = self._memory(parameters) if callable(self._memory) else self._memory
        return int(m)

    def describe(self) -> dict:
        return {"kind": "function", "name": self.name, "ranges": {k: list(v) for k, v in self.ranges.items()}, **self.description}


def as_target(target) -> SweepTarget:
    """A ``LabConfig`` becomes a ``LabConfigTarget``, an ``Experiment`` an
    ``ExperimentTarget``; a target is returned as is."""
    from snnlab.config import LabConfig
    from snnlab.lab.experiment import Experiment

    if isinstance(target, LabConfig):
        return LabConfigTarget(target)
    if isinstance(target, Experiment):
        return ExperimentTarget(target)
    missing = [m for m in ("parameter_names", "check", "run", "memory_bytes", "describe") if not callable(getattr(target, m, None))]
    if missing:
        raise TypeError(
            f"sweep target: {type(target).__name__} lacks {', '.join(missing)}; expected a LabConfig or a "
            "SweepTarget (see snnlab.sweep.targets)"
        )
    return target
