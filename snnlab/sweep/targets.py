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

Targets are pickled to the workers (Dask), so they hold plain data.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence, runtime_checkable

__all__ = ["SweepTarget", "LabConfigTarget", "FunctionTarget", "as_target"]


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
    the sweep (one per point and replicate). ``run`` returns the lab's
    recording of ``snnlab.lab.controller.run_config(config)``: the spikes the
    lab shows for the same config.
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
        from snnlab.lab.controller import run_config

        return run_config(self.config_for(parameters, seed))

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
    """A ``LabConfig`` becomes a ``LabConfigTarget``; a target is returned as is."""
    from snnlab.config import LabConfig

    if isinstance(target, LabConfig):
        return LabConfigTarget(target)
    missing = [m for m in ("parameter_names", "check", "run", "memory_bytes", "describe") if not callable(getattr(target, m, None))]
    if missing:
        raise TypeError(
            f"sweep target: {type(target).__name__} lacks {', '.join(missing)}; expected a LabConfig or a "
            "SweepTarget (see snnlab.sweep.targets)"
        )
    return target
