"""Sweep rows summarised for plots: a heatmap over two parameters, a curve over one.

Pure pandas/NumPy (no widgets), so the lab's Sweep view
(``snnlab.lab.sweep_view``) and notebooks share it and it is tested without
a browser. Rows with an error or a NaN metric are left out of the means.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["metric_columns", "heatmap", "curve"]

_NOT_METRICS = {"point", "replicate", "seed", "error", "wall_time_s", "worker"}


def metric_columns(table, parameters: Sequence[str]) -> list:
    """The numeric columns of ``table`` that are metrics (not parameters or bookkeeping)."""
    import pandas as pd

    return [
        c for c in table.columns
        if c not in _NOT_METRICS and c not in parameters and pd.api.types.is_numeric_dtype(table[c])
    ]


def _ok(table, metric: str):
    if metric not in table:
        return table.iloc[0:0]
    ok = table[metric].notna()
    if "error" in table:
        ok &= table["error"].isna()
    return table[ok]


def heatmap(table, x: str, y: str, metric: str, xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
    """Mean of ``metric`` per (``y``, ``x``) cell: float array ``[len(ys), len(xs)]``, NaN where no row yet.

    Rows are averaged over replicates and over any other varied parameter.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"a": [1, 1, 2], "b": [5, 5, 6], "m": [1.0, 3.0, 4.0], "error": [None] * 3})
    >>> heatmap(t, "a", "b", "m", [1, 2], [5, 6]).tolist()
    [[2.0, nan], [nan, 4.0]]
    """
    z = np.full((len(ys), len(xs)), np.nan)
    t = _ok(table, metric)
    if t.empty:
        return z
    means = t.groupby([y, x])[metric].mean()
    xi = {float(v): i for i, v in enumerate(xs)}
    yi = {float(v): i for i, v in enumerate(ys)}
    for (yv, xv), m in means.items():
        if float(xv) in xi and float(yv) in yi:
            z[yi[float(yv)], xi[float(xv)]] = m
    return z


def curve(table, x: str, metric: str, xs: Sequence[float]) -> tuple:
    """``(mean, std, count)`` of ``metric`` at each of ``xs`` (arrays; NaN / 0 where no row yet).

    ``std`` is the sample standard deviation over the replicates (and other
    parameters); 0 where only one row.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"a": [1, 1, 2], "m": [1.0, 3.0, 4.0]})
    >>> [v.tolist() for v in curve(t, "a", "m", [1, 2, 3])]
    [[2.0, 4.0, nan], [1.4142135623730951, 0.0, nan], [2, 1, 0]]
    """
    mean = np.full(len(xs), np.nan)
    std = np.full(len(xs), np.nan)
    count = np.zeros(len(xs), dtype=int)
    t = _ok(table, metric)
    if t.empty:
        return mean, std, count
    g = t.groupby(x)[metric]
    stats = {float(k): (m, s, n) for k, m, s, n in zip(g.mean().index, g.mean().values, g.std(ddof=1).fillna(0.0).values, g.count().values)}
    for i, v in enumerate(xs):
        if float(v) in stats:
            mean[i], std[i], count[i] = stats[float(v)]
    return mean, std, count
