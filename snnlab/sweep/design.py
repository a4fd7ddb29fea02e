"""Sweep designs: which parameter values a sweep runs, and each point's seed.

A design is a ``Design``: the parameter names and an array of points
(``values[i, j]`` is parameter ``names[j]`` at point ``i``). Three ways to
make one:

``grid(input_rate=[...], weight_scale=[...])``
    Every combination; the first parameter varies slowest.
``random_design(n, seed=..., input_rate=(0, 200), ...)``
    ``n`` points drawn uniformly in the given ranges.
``latin_hypercube(n, seed=..., input_rate=(0, 200), ...)``
    ``n`` points of a Latin hypercube (``scipy.stats.qmc.LatinHypercube``):
    each parameter's range cut into ``n`` strata, one point in each.

``parse_vary("input_rate=0:200:21")`` reads the command line's
``NAME=START:STOP:COUNT`` (``COUNT`` values from ``START`` to ``STOP``
inclusive, as ``numpy.linspace``) or ``NAME=V1,V2,...``.

``point_seed(sweep_seed, parameters, replicate)`` is a point's seed: a
SHA-256 of the sweep's seed, the point's parameter values and the replicate
number, so the same point gets the same seed (and spikes) whichever worker,
order or machine runs it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

__all__ = [
    "Design",
    "grid",
    "random_design",
    "latin_hypercube",
    "parse_vary",
    "point_seed",
    "canonical_parameters",
]


@dataclass(frozen=True)
class Design:
    """Points of a sweep.

    Attributes
    ----------
    names : tuple of str
        Parameter names, in column order.
    values : numpy.ndarray of float64, shape (n_points, len(names))
        ``values[i, j]``: parameter ``names[j]`` at point ``i``.
    kind : str
        ``"grid"``, ``"random"`` or ``"latin_hypercube"``.
    axes : dict of str to tuple of float
        For a grid, each parameter's values; empty otherwise.
    """

    names: tuple
    values: np.ndarray
    kind: str = "grid"
    axes: Mapping = None

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.names):
            raise ValueError(
                f"Design.values: shape {values.shape}; expected (n_points, {len(self.names)})"
            )
        if not np.isfinite(values).all():
            raise ValueError("Design.values: not every value is finite; expected finite numbers")
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "axes", dict(self.axes or {}))

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def point(self, i: int) -> dict:
        """Point ``i`` as ``{name: value}`` (Python floats)."""
        return {name: float(v) for name, v in zip(self.names, self.values[i])}

    def points(self) -> list:
        """Every point as ``{name: value}``."""
        return [self.point(i) for i in range(len(self))]

    def to_dict(self) -> dict:
        """JSON-able description (names, kind, values, axes)."""
        return {
            "kind": self.kind,
            "names": list(self.names),
            "values": self.values.tolist(),
            "axes": {k: list(v) for k, v in self.axes.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "Design":
        return cls(
            names=tuple(data["names"]),
            values=np.asarray(data["values"], dtype=np.float64).reshape(-1, len(data["names"])),
            kind=data.get("kind", "grid"),
            axes={k: tuple(v) for k, v in data.get("axes", {}).items()},
        )


def _check_name(name) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"sweep parameter name: expected a non-empty str, got {name!r}")
    return name


def _as_values(name: str, values) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"sweep parameter {name!r}: expected a sequence of numbers, got {values!r}")
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as ex:
        raise TypeError(
            f"sweep parameter {name!r}: expected a sequence of numbers, got {values!r}"
        ) from ex
    if arr.size == 0:
        raise ValueError(f"sweep parameter {name!r}: the range is empty; expected at least one value")
    if not np.isfinite(arr).all():
        raise ValueError(f"sweep parameter {name!r}: {arr.tolist()} has a non-finite value; expected finite numbers")
    return arr


def grid(**axes: Sequence[float]) -> Design:
    """Every combination of the given values (the first parameter varies slowest).

    Parameters
    ----------
    **axes : sequence of float
        Each parameter's values, e.g. ``input_rate=np.linspace(0, 200, 21)``.

    Examples
    --------
    >>> d = grid(input_rate=[10, 20], weight_scale=[1, 2, 3])
    >>> len(d), d.point(1)
    (6, {'input_rate': 10.0, 'weight_scale': 2.0})
    """
    if not axes:
        raise ValueError("grid: no parameter to vary; expected at least one NAME=values")
    names = tuple(_check_name(n) for n in axes)
    cols = [_as_values(n, v) for n, v in axes.items()]
    for n, c in zip(names, cols):
        if len(np.unique(c)) != len(c):
            raise ValueError(f"grid: parameter {n!r} has repeated values {c.tolist()}; expected distinct values")
    values = np.array(list(itertools.product(*cols)), dtype=np.float64).reshape(-1, len(names))
    return Design(names, values, "grid", {n: tuple(c.tolist()) for n, c in zip(names, cols)})


def _ranges(ranges: Mapping) -> tuple:
    if not ranges:
        raise ValueError("design: no parameter to vary; expected at least one NAME=(low, high)")
    names, lows, highs = [], [], []
    for name, r in ranges.items():
        _check_name(name)
        arr = _as_values(name, r)
        if arr.size != 2:
            raise ValueError(f"design: parameter {name!r} range {r!r}; expected (low, high)")
        lo, hi = float(arr[0]), float(arr[1])
        if not lo < hi:
            raise ValueError(f"design: parameter {name!r} range ({lo:g}, {hi:g}) is empty; expected low < high")
        names.append(name), lows.append(lo), highs.append(hi)
    return tuple(names), np.array(lows), np.array(highs)


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"design: number of points n={n!r}; expected an int")
    if n < 1:
        raise ValueError(f"design: number of points n={n}; expected at least 1")
    return int(n)


def random_design(n: int, /, *, seed: int = 0, **ranges) -> Design:
    """``n`` points drawn uniformly from ``low <= value < high`` for each parameter.

    Examples
    --------
    >>> d = random_design(4, seed=1, input_rate=(0, 200))
    >>> len(d), bool((d.values >= 0).all() and (d.values < 200).all())
    (4, True)
    """
    n = _check_n(n)
    names, lo, hi = _ranges(ranges)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    u = rng.random((n, len(names)))
    return Design(names, lo + u * (hi - lo), "random")


def latin_hypercube(n: int, /, *, seed: int = 0, **ranges) -> Design:
    """``n`` points of a Latin hypercube over the given ``(low, high)`` ranges.

    Each parameter's range is cut into ``n`` equal strata and every stratum
    holds exactly one point (``scipy.stats.qmc.LatinHypercube``).

    Examples
    --------
    >>> d = latin_hypercube(5, seed=0, input_rate=(0, 100))
    >>> sorted((d.values[:, 0] // 20).astype(int).tolist())
    [0, 1, 2, 3, 4]
    """
    from scipy.stats import qmc

    n = _check_n(n)
    names, lo, hi = _ranges(ranges)
    sampler = qmc.LatinHypercube(d=len(names), rng=np.random.default_rng(np.random.SeedSequence([int(seed), 0x1A7])))
    u = sampler.random(n)
    return Design(names, qmc.scale(u, lo, hi), "latin_hypercube")


def parse_vary(text: str) -> tuple:
    """Read ``NAME=START:STOP:COUNT`` or ``NAME=V1,V2,...``; return ``(name, values)``.

    ``START:STOP:COUNT`` is ``numpy.linspace(START, STOP, COUNT)``: ``COUNT``
    values from ``START`` to ``STOP`` inclusive.

    Examples
    --------
    >>> parse_vary("input_rate=0:200:5")
    ('input_rate', [0.0, 50.0, 100.0, 150.0, 200.0])
    >>> parse_vary("weight_scale=1,2.5")
    ('weight_scale', [1.0, 2.5])
    """
    if not isinstance(text, str) or "=" not in text:
        raise ValueError(f"--vary {text!r}: expected NAME=START:STOP:COUNT or NAME=V1,V2,...")
    name, _, spec = text.partition("=")
    name = name.strip()
    if not name:
        raise ValueError(f"--vary {text!r}: the parameter name is missing; expected NAME=START:STOP:COUNT")
    spec = spec.strip()
    bad = ValueError(
        f"--vary {text!r}: cannot read {spec!r}; expected START:STOP:COUNT (numbers, COUNT an int) or V1,V2,..."
    )
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise bad
        try:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise bad from None
        if count < 1:
            raise ValueError(f"--vary {text!r}: COUNT={count} makes an empty range; expected COUNT >= 1")
        if count == 1 and start != stop:
            raise ValueError(
                f"--vary {text!r}: COUNT=1 between two different values; expected START == STOP or COUNT >= 2"
            )
        values = np.linspace(start, stop, count).tolist()
    else:
        try:
            values = [float(v) for v in spec.split(",") if v.strip()]
        except ValueError:
            raise bad from None
    if not values:
        raise ValueError(f"--vary {text!r}: the range is empty; expected at least one value")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"--vary {text!r}: {values} has a non-finite value; expected finite numbers")
    return name, values


def canonical_parameters(parameters: Mapping) -> str:
    """The parameters as canonical JSON (sorted keys, floats by ``repr``): a point's identity."""
    return json.dumps({str(k): float(v) for k, v in parameters.items()}, sort_keys=True)


def point_seed(sweep_seed: int, parameters: Mapping, replicate: int) -> int:
    """The seed of one point and replicate, ``0 <= seed < 2**63``.

    A hash (SHA-256) of ``sweep_seed``, the parameter values and
    ``replicate``: independent of the worker, the process and the order the
    points run in (Python's ``hash`` is salted per process; this is not).

    Examples
    --------
    >>> point_seed(0, {"input_rate": 10.0}, 0) == point_seed(0, {"input_rate": 10}, 0)
    True
    >>> point_seed(0, {"input_rate": 10.0}, 0) == point_seed(0, {"input_rate": 10.0}, 1)
    False
    """
    text = f"{int(sweep_seed)}|{canonical_parameters(parameters)}|{int(replicate)}"
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)
