"""Per-point metrics of a recording: rate, CV of ISIs, Fano factor, synchrony chi.

Every metric takes one layer's spikes, a bool array ``[steps, n]`` (row =
time step of ``dt`` ms, column = neuron), and returns one float (NaN where
it is undefined, e.g. the CV of a layer whose neurons spike fewer than 3
times). ``point_metrics(recording)`` applies them to every layer and adds
any user callables.

Definitions
-----------
rate (Hz)
    Spikes per neuron per second, averaged over the layer's neurons.
CV of ISIs
    For each neuron with at least 3 spikes (2 intervals),
    ``std(ISI) / mean(ISI)``; averaged over those neurons. 1 for a Poisson
    train, 0 for a regular one.
Fano factor
    Spike counts in consecutive windows of ``window_ms``; for each neuron that
    spiked, ``var(count) / mean(count)`` over the windows; averaged over
    those neurons. 1 for a Poisson train.
chi (Golomb 2007)
    ``chi**2 = var_t(mean_i x_i(t)) / mean_i var_t(x_i(t))`` with ``x_i`` the
    spike counts of neuron ``i`` in bins of ``bin_ms``: the spike-train form
    of Golomb's voltage measure (snnlab records voltages of a few traced
    neurons only). 1 when all neurons fire together, about ``1/sqrt(n)`` when
    they fire independently.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Optional

import numpy as np

__all__ = [
    "spike_layers",
    "mean_rate",
    "cv_isi",
    "fano_factor",
    "chi_synchrony",
    "layer_metrics",
    "point_metrics",
    "METRICS",
]

#: Built-in metrics, per layer; columns are named ``{metric}_{layer}``.
METRICS = ("rate", "cv", "fano", "chi")

#: Fano factor window (ms) and chi bin (ms) by default.
FANO_WINDOW_MS = 50.0
CHI_BIN_MS = 2.0


def _check_spikes(spikes) -> np.ndarray:
    s = np.asarray(spikes)
    if s.ndim != 2:
        raise ValueError(f"spikes: shape {s.shape}; expected [steps, neurons]")
    return s.astype(bool, copy=False)


def _check_dt(dt) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating, np.integer)) or not dt > 0:
        raise ValueError(f"dt: {dt!r}; expected a time step > 0 ms")
    return float(dt)


def spike_layers(recording) -> tuple:
    """``(dt_ms, {layer: bool [steps, n]})`` of a recording.

    Accepts ``snnlab.recording.Recording`` (every layer) or a mapping
    ``{"dt": ms, "spikes": {layer: array}}``.
    """
    if isinstance(recording, Mapping):
        return _check_dt(recording["dt"]), {k: _check_spikes(v) for k, v in recording["spikes"].items()}
    layers = getattr(recording, "layers", None)
    if isinstance(layers, Mapping):
        return _check_dt(recording.dt), {name: _check_spikes(layer.spikes) for name, layer in layers.items()}
    raise TypeError(
        f"recording: expected an snnlab Recording or {{'dt': ms, 'spikes': {{layer: array}}}}, "
        f"got {type(recording).__name__}"
    )


def mean_rate(spikes, dt: float) -> float:
    """Mean firing rate of the layer, Hz (spikes per neuron per second).

    Examples
    --------
    >>> s = np.zeros((1000, 2), bool); s[::10] = True   # every 10 ms at dt=1
    >>> mean_rate(s, 1.0)
    100.0
    """
    s = _check_spikes(spikes)
    dt = _check_dt(dt)
    steps, n = s.shape
    if steps == 0 or n == 0:
        return math.nan
    return float(s.sum(dtype=np.int64) / (n * steps * dt / 1000.0))


def cv_isi(spikes, dt: float = 1.0) -> float:
    """Mean coefficient of variation of the inter-spike intervals (NaN if no neuron has 3 spikes).

    Examples
    --------
    >>> s = np.zeros((100, 1), bool); s[::7] = True
    >>> cv_isi(s)
    0.0
    """
    s = _check_spikes(spikes)
    _check_dt(dt)  # the CV is dimensionless; dt only has to be valid
    neuron, step = np.nonzero(s.T)  # sorted by neuron, then by step
    if step.size < 3:
        return math.nan
    same = neuron[1:] == neuron[:-1]
    isi = np.diff(step)[same].astype(np.float64)
    owner = neuron[1:][same]
    n = s.shape[1]
    k = np.bincount(owner, minlength=n)
    total = np.bincount(owner, weights=isi, minlength=n)
    total_sq = np.bincount(owner, weights=isi * isi, minlength=n)
    ok = k >= 2
    if not ok.any():
        return math.nan
    mean = total[ok] / k[ok]
    var = np.maximum(total_sq[ok] / k[ok] - mean * mean, 0.0)
    return float(np.mean(np.sqrt(var) / mean))


def fano_factor(spikes, dt: float, window_ms: float = FANO_WINDOW_MS) -> float:
    """Mean Fano factor of the spike counts in windows of ``window_ms`` (NaN if undefined).

    Needs at least 2 whole windows; the steps after the last whole window
    are left out. Neurons that never spike are left out.
    """
    s = _check_spikes(spikes)
    dt = _check_dt(dt)
    if not (isinstance(window_ms, (int, float)) and window_ms > 0):
        raise ValueError(f"fano_factor: window_ms={window_ms!r}; expected a window > 0 ms")
    per = max(1, int(round(window_ms / dt)))
    windows = s.shape[0] // per
    if windows < 2 or s.shape[1] == 0:
        return math.nan
    counts = s[: windows * per].reshape(windows, per, -1).sum(axis=1, dtype=np.int64).astype(np.float64)
    mean = counts.mean(axis=0)
    ok = mean > 0
    if not ok.any():
        return math.nan
    return float(np.mean(counts[:, ok].var(axis=0) / mean[ok]))


def chi_synchrony(spikes, dt: float, bin_ms: float = CHI_BIN_MS) -> float:
    """Golomb's synchrony measure chi from spike counts in bins of ``bin_ms``.

    ``chi = sqrt(var_t(population mean) / mean over neurons of var_t(neuron))``;
    NaN when no neuron's count varies (or fewer than 2 bins).

    Examples
    --------
    >>> s = np.zeros((100, 3), bool); s[::10] = True      # all three together
    >>> round(chi_synchrony(s, 1.0), 6)
    1.0
    """
    s = _check_spikes(spikes)
    dt = _check_dt(dt)
    if not (isinstance(bin_ms, (int, float)) and bin_ms > 0):
        raise ValueError(f"chi_synchrony: bin_ms={bin_ms!r}; expected a bin > 0 ms")
    per = max(1, int(round(bin_ms / dt)))
    bins = s.shape[0] // per
    if bins < 2 or s.shape[1] == 0:
        return math.nan
    x = s[: bins * per].reshape(bins, per, -1).sum(axis=1, dtype=np.int64).astype(np.float64)
    individual = x.var(axis=0).mean()
    if individual <= 0:
        return math.nan
    return float(math.sqrt(x.mean(axis=1).var() / individual))


def layer_metrics(spikes, dt: float, *, fano_window_ms: float = FANO_WINDOW_MS, chi_bin_ms: float = CHI_BIN_MS) -> dict:
    """``{"rate": Hz, "cv": ..., "fano": ..., "chi": ...}`` of one layer."""
    return {
        "rate": mean_rate(spikes, dt),
        "cv": cv_isi(spikes, dt),
        "fano": fano_factor(spikes, dt, fano_window_ms),
        "chi": chi_synchrony(spikes, dt, chi_bin_ms),
    }


def point_metrics(
    recording,
    extra: Optional[Mapping[str, Callable]] = None,
    *,
    layers=None,
    fano_window_ms: float = FANO_WINDOW_MS,
    chi_bin_ms: float = CHI_BIN_MS,
) -> dict:
    """Every built-in metric of every layer, plus the user's.

    Parameters
    ----------
    recording
        What ``spike_layers`` accepts.
    extra : dict of str to callable, optional
        ``name -> f(recording)``; ``f`` returns a number (column ``name``) or a
        dict of numbers (columns ``name_key``).
    layers : sequence of str, optional
        Layers to measure (default: all).

    Returns
    -------
    dict
        ``{"rate_B": ..., "cv_B": ..., ..., name: ...}`` (floats).
    """
    dt, spikes = spike_layers(recording)
    names = list(spikes) if layers is None else list(layers)
    out = {}
    for name in names:
        if name not in spikes:
            raise ValueError(f"metrics: layer {name!r} is not in the recording; it has {', '.join(spikes)}")
        for key, value in layer_metrics(spikes[name], dt, fano_window_ms=fano_window_ms, chi_bin_ms=chi_bin_ms).items():
            out[f"{key}_{name}"] = value
    for name, fn in (extra or {}).items():
        value = fn(recording)
        if isinstance(value, Mapping):
            for key, v in value.items():
                out[f"{name}_{key}"] = float(v)
        else:
            out[name] = float(value)
    return out
