"""Matplotlib figures for spike rasters, voltages and weights.

Two families live here:

* BindsNET-compatible functions, :func:`plot_spikes`, :func:`plot_voltages`
  and :func:`plot_weights`. They take the same arguments as BindsNET's (plus a
  few keyword-only extras such as ``dt``), draw with ``pyplot`` so that
  ``plt.show()`` in a script shows them, and return the same re-drawing
  handles: ``(ims, axes)`` or ``im``.
* Figure builders for the lab and for export, :func:`raster_figure`,
  :func:`voltage_figure` and :func:`rate_figure`. They build a
  :class:`matplotlib.figure.Figure` without ``pyplot`` (no global state, safe in
  a server or a widget callback, nothing to close) in a publication style:
  labelled axes with units, 8-9 pt fonts, a column-sized figure. Save them with
  :func:`save_figure`, which keeps text as text in SVG/PDF and never rasterizes
  the marks, so vector output stays vector.

Units: times in ms, voltages in mV, rates in Hz. Spike and voltage arrays are
indexed ``[time, neuron]`` or, as :class:`~snnlab.network.monitors.Monitor`
returns them, ``[time, batch, *shape]`` (then one ``sample`` of the batch is
drawn; BindsNET flattens the batch into the neuron axis, which is the same
thing for the usual batch of 1).

This module is the only one in the core that imports matplotlib; ``import
snnlab`` does not load it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = [
    "plot_spikes",
    "plot_voltages",
    "plot_weights",
    "raster_figure",
    "voltage_figure",
    "rate_figure",
    "population_rate",
    "save_figure",
    "publication_style",
    "FIGURE_FORMATS",
    "plot_input",
    "plot_conv2d_weights",
    "plot_locally_connected_weights",
    "plot_local_connection_2d_weights",
    "plot_assignments",
    "plot_performance",
]

#: File formats :func:`save_figure` writes.
FIGURE_FORMATS = ("png", "svg", "pdf")

# Settings for figures meant for a paper: small readable fonts, no top/right
# spines, TrueType fonts in PDF (editable, accepted by journals), text kept as
# text in SVG, and no rasterization of marks.
_PUBLICATION_RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.0,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "figure.dpi": 100,
}

# Width of a two-column figure in a typical journal, inches.
_WIDE = 6.5


def publication_style() -> contextlib.AbstractContextManager:
    """Return a context manager that applies snnlab's publication rcParams.

    Examples
    --------
    >>> from snnlab.analysis.plotting import publication_style
    >>> with publication_style():
    ...     pass
    """
    return matplotlib.rc_context(_PUBLICATION_RC)


# --------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------


def _to_numpy(x: Any, what: str) -> np.ndarray:
    """Return ``x`` (a tensor or array) as a NumPy array on the CPU."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(
        f"{what}: expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}"
    )


def _time_by_neuron(x: Any, what: str, sample: int) -> np.ndarray:
    """Bring a recording to shape ``[time, neuron]``.

    ``[T]`` is one neuron, ``[T, n]`` is used as is, ``[T, B, *shape]`` keeps
    batch element ``sample`` and flattens the layer's shape.
    """
    a = _to_numpy(x, what)
    if a.ndim == 0:
        raise ValueError(f"{what}: expected an array indexed [time, ...], got a scalar")
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim == 2:
        return a
    batch = a.shape[1]
    if not -batch <= sample < batch:
        raise ValueError(
            f"{what}: sample={sample} is out of range for a batch of {batch} "
            f"(shape {tuple(a.shape)}, read as [time, batch, *shape])"
        )
    return a[:, sample].reshape(a.shape[0], -1)


def _check_mapping(data: Any, what: str) -> None:
    if not isinstance(data, Mapping):
        raise TypeError(
            f"{what}: expected a dict mapping layer names to tensors, got {type(data).__name__}"
        )
    if len(data) == 0:
        raise ValueError(f"{what}: the dict is empty; give at least one layer")


def _check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: expected a positive number of ms, got {dt!r}")
    return float(dt)


def _range(
    value: Optional[Sequence[int]], size: int, what: str
) -> tuple[int, int]:
    """Validate a ``(start, stop)`` index range against ``size``."""
    if value is None:
        return 0, size
    try:
        start, stop = (int(v) for v in value)
    except (TypeError, ValueError) as ex:
        raise TypeError(f"{what}: expected a (start, stop) pair of integers, got {value!r}") from ex
    if not 0 <= start < stop <= size:
        raise ValueError(
            f"{what}: range {value!r} must satisfy 0 <= start < stop <= {size}"
        )
    return start, stop


def _select(
    data: Mapping[str, Any],
    what: str,
    time: Optional[Sequence[int]],
    n_neurons: Optional[Mapping[str, Sequence[int]]],
    sample: int,
) -> dict[str, tuple[np.ndarray, tuple[int, int], tuple[int, int]]]:
    """Cut each layer's recording to the requested time and neuron ranges."""
    _check_mapping(data, what)
    if n_neurons is not None and not isinstance(n_neurons, Mapping):
        raise TypeError(f"n_neurons: expected a dict of (start, stop) per layer, got {n_neurons!r}")
    n_neurons = dict(n_neurons or {})
    unknown = set(n_neurons) - set(data)
    if unknown:
        raise ValueError(f"n_neurons: unknown layer(s) {sorted(unknown)}; layers given: {list(data)}")
    out = {}
    for name, x in data.items():
        a = _time_by_neuron(x, f"{what}[{name!r}]", sample)
        t_range = _range(time, a.shape[0], f"time (for layer {name!r})")
        n_range = _range(n_neurons.get(name), a.shape[1], f"n_neurons[{name!r}]")
        out[name] = (a[t_range[0]:t_range[1], n_range[0]:n_range[1]], t_range, n_range)
    return out


def _axes_list(axes: Union[Axes, Sequence[Axes]]) -> list[Axes]:
    if isinstance(axes, Axes):
        return [axes]
    return list(np.ravel(axes))


def _new_axes(n: int, figsize: Sequence[float]) -> list[Axes]:
    import matplotlib.pyplot as plt  # pyplot so that plt.show() shows the figure

    fig, axes = plt.subplots(n, 1, figsize=figsize, squeeze=False, sharex=True)
    return list(axes[:, 0])


# --------------------------------------------------------------------------
# BindsNET-compatible plots
# --------------------------------------------------------------------------


def plot_spikes(
    spikes: Mapping[str, Any],
    time: Optional[tuple[int, int]] = None,
    n_neurons: Optional[Mapping[str, tuple[int, int]]] = None,
    ims: Optional[list] = None,
    axes: Optional[Union[Axes, Sequence[Axes]]] = None,
    figsize: tuple[float, float] = (8.0, 4.5),
    *,
    dt: float = 1.0,
    sample: int = 0,
    marker_size: float = 2.0,
    color: str = "k",
) -> tuple[list, list[Axes]]:
    """Draw a spike raster for each layer, one panel per layer.

    Parameters
    ----------
    spikes : dict of str to Tensor
        Layer name -> spikes, ``[time, n]`` or ``[time, batch, *shape]``
        (as :meth:`Monitor.get` returns them; 0/1 or bool).
    time : (int, int), optional
        Range of time steps ``[start, stop)`` to draw. Default: all.
    n_neurons : dict of str to (int, int), optional
        Per layer, the range of neuron indices to draw. Default: all.
    ims, axes : optional
        Handles returned by an earlier call: the same panels are re-drawn in
        place (for an animation), instead of making a new figure.
    figsize : (float, float)
        Figure size in inches (new figures only).
    dt : float
        Simulation step in ms; the time axis is in ms.
    sample : int
        Which element of the batch to draw, for ``[time, batch, ...]`` data.
    marker_size : float
        Marker area in points^2.
    color : str
        Marker colour.

    Returns
    -------
    ims : list of PathCollection
        One scatter per layer.
    axes : list of Axes
        One panel per layer; ``axes[0].figure`` is the figure.

    Examples
    --------
    >>> import torch
    >>> from snnlab.analysis.plotting import plot_spikes
    >>> ims, axes = plot_spikes({"A": torch.rand(100, 10) < 0.1})
    >>> axes[-1].get_xlabel()
    'Time (ms)'
    """
    dt = _check_dt(dt)
    selected = _select(spikes, "spikes", time, n_neurons, sample)
    redraw = ims is not None
    if redraw:
        if axes is None:
            raise ValueError("plot_spikes: ims was given without axes; pass both from the earlier call")
        axes = _axes_list(axes)
        if len(ims) != len(selected) or len(axes) != len(selected):
            raise ValueError(
                f"plot_spikes: got {len(ims)} ims and {len(axes)} axes for {len(selected)} layers"
            )
    else:
        axes = _new_axes(len(selected), figsize)
        ims = []

    for i, (name, (s, (t0, t1), (n0, n1))) in enumerate(selected.items()):
        ax = axes[i]
        steps, neurons = np.nonzero(s)
        xy = np.column_stack([(steps + t0) * dt, neurons + n0]).astype(float)
        if redraw:
            ims[i].set_offsets(xy)
        else:
            ims.append(
                ax.scatter(xy[:, 0], xy[:, 1], s=marker_size, c=color, marker="|", linewidths=0.8)
            )
            ax.set_ylabel(f"{name}: neuron index")
        ax.set_xlim(t0 * dt, t1 * dt)
        ax.set_ylim(n0 - 0.5, n1 - 0.5)
        ax.set_title(f"{name} spikes, neurons {n0}-{n1 - 1}, t = {t0 * dt:g}-{t1 * dt:g} ms")
    axes[-1].set_xlabel("Time (ms)")
    if not redraw:
        axes[0].figure.tight_layout()
    return ims, axes


def plot_voltages(
    voltages: Mapping[str, Any],
    ims: Optional[list] = None,
    axes: Optional[Union[Axes, Sequence[Axes]]] = None,
    time: Optional[tuple[int, int]] = None,
    n_neurons: Optional[Mapping[str, tuple[int, int]]] = None,
    cmap: Optional[str] = "jet",
    plot_type: str = "color",
    thresholds: Optional[Mapping[str, Any]] = None,
    figsize: tuple[float, float] = (8.0, 4.5),
    *,
    dt: float = 1.0,
    sample: int = 0,
) -> tuple[list, list[Axes]]:
    """Draw membrane voltages for each layer, one panel per layer.

    Parameters
    ----------
    voltages : dict of str to Tensor
        Layer name -> voltages in mV, ``[time, n]`` or ``[time, batch, *shape]``.
    ims, axes : optional
        Handles from an earlier call, to re-draw in place.
    time : (int, int), optional
        Range of time steps ``[start, stop)`` to draw. Default: all.
    n_neurons : dict of str to (int, int), optional
        Per layer, the range of neuron indices to draw. Default: all.
    cmap : str
        Colormap for ``plot_type="color"``.
    plot_type : {"color", "line"}
        ``"color"``: a neuron x time image coloured by voltage.
        ``"line"``: one voltage trace per neuron.
    thresholds : dict of str to float or Tensor, optional
        Per layer, the spike threshold in mV, drawn as a dashed line in
        ``"line"`` plots (a per-neuron tensor draws its distinct values).
        Recorded voltages never exceed it: the reset has already happened.
    figsize : (float, float)
        Figure size in inches (new figures only).
    dt : float
        Simulation step in ms; the time axis is in ms.
    sample : int
        Which element of the batch to draw.

    Returns
    -------
    ims : list
        Per layer, an ``AxesImage`` ("color") or the list of ``Line2D``
        ("line"); threshold lines follow their layer's entry, as in BindsNET.
    axes : list of Axes
        One panel per layer.

    Examples
    --------
    >>> import torch
    >>> from snnlab.analysis.plotting import plot_voltages
    >>> v = -65 + 10 * torch.rand(50, 3)
    >>> ims, axes = plot_voltages({"B": v}, plot_type="line", thresholds={"B": -52.0})
    >>> axes[0].get_ylabel()
    'B: voltage (mV)'
    """
    if plot_type not in ("color", "line"):
        raise ValueError(f"plot_type: expected 'color' or 'line', got {plot_type!r}")
    dt = _check_dt(dt)
    selected = _select(voltages, "voltages", time, n_neurons, sample)
    if thresholds is not None:
        if not isinstance(thresholds, Mapping):
            raise TypeError(f"thresholds: expected a dict of layer -> threshold (mV), got {type(thresholds).__name__}")
        unknown = set(thresholds) - set(selected)
        if unknown:
            raise ValueError(f"thresholds: unknown layer(s) {sorted(unknown)}; layers given: {list(selected)}")
    redraw = ims is not None
    if redraw:
        if axes is None:
            raise ValueError("plot_voltages: ims was given without axes; pass both from the earlier call")
        axes = _axes_list(axes)
        if len(axes) != len(selected):
            raise ValueError(f"plot_voltages: got {len(axes)} axes for {len(selected)} layers")
        old_ims = list(ims)
    else:
        axes = _new_axes(len(selected), figsize)
    ims = []

    for i, (name, (v, (t0, t1), (n0, n1))) in enumerate(selected.items()):
        ax = axes[i]
        v = v.astype(np.float32, copy=False)
        t_ms = (np.arange(t0, t1) * dt).astype(float)
        if plot_type == "color":
            extent = (t0 * dt, t1 * dt, n1 - 0.5, n0 - 0.5)
            if redraw and i < len(old_ims) and hasattr(old_ims[i], "set_data"):
                im = old_ims[i]
                im.set_data(v.T)
                im.set_extent(extent)
                im.set_clim(float(np.nanmin(v)), float(np.nanmax(v)))
            else:
                im = ax.imshow(v.T, aspect="auto", cmap=cmap, interpolation="nearest", extent=extent)
                cbar = ax.figure.colorbar(im, ax=ax, pad=0.01)
                cbar.set_label("Voltage (mV)")
                ax.set_ylabel(f"{name}: neuron index")
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ims.append(im)
        else:
            if redraw:
                ax.clear()
            ims.append(ax.plot(t_ms, v, linewidth=0.6))
            ax.set_ylabel(f"{name}: voltage (mV)")
            ax.set_xlim(t0 * dt, max(t1 - 1, t0 + 1) * dt)
            if thresholds is not None and name in thresholds:
                raw = thresholds[name]
                th = np.asarray(
                    float(raw) if isinstance(raw, (int, float)) else _to_numpy(raw, f"thresholds[{name!r}]"),
                    dtype=float,
                ).ravel()
                if th.size > 1:
                    if th.size < n1:
                        raise ValueError(
                            f"thresholds[{name!r}]: {th.size} values, expected 1 or one per neuron "
                            f"(at least {n1})"
                        )
                    th = th[n0:n1]
                values = np.unique(th)[:10]  # a handful of distinct lines at most
                for k, value in enumerate(values):
                    ims.append(
                        ax.axhline(value, color="r", linestyle="--", linewidth=0.8,
                                   label="threshold" if k == 0 else None)
                    )
        ax.set_title(f"{name} voltages, neurons {n0}-{n1 - 1}, t = {t0 * dt:g}-{t1 * dt:g} ms")
    axes[-1].set_xlabel("Time (ms)")
    if not redraw:
        axes[0].figure.tight_layout()
    return ims, axes


def plot_weights(
    weights: Any,
    wmin: Optional[float] = 0,
    wmax: Optional[float] = 1,
    im: Optional[Any] = None,
    figsize: tuple[float, float] = (5, 5),
    cmap: str = "hot_r",
    save: Optional[Union[str, os.PathLike]] = None,
    title: Optional[str] = None,
    *,
    xlabel: str = "Target neuron",
    ylabel: str = "Source neuron",
) -> Any:
    """Draw a weight matrix as a heatmap with a colour bar.

    Parameters
    ----------
    weights : Tensor or ndarray, shape (n_source, n_target)
        A connection's weights (``connection.w``).
    wmin, wmax : float or None
        Colour scale limits. ``None`` uses the data's minimum or maximum.
    im : AxesImage, optional
        The handle from an earlier call: its data is replaced in place.
    figsize : (float, float)
        Figure size in inches.
    cmap : str
        Matplotlib colormap.
    save : str or path, optional
        If given, the figure is also written to this file and to a numbered
        copy (format from the suffix: .png, .svg or .pdf), and
        ``(im, numbered_name)`` is returned, as BindsNET: ``w.png`` gives
        ``w.1.png``; passing that name back gives ``w.2.png``, and so on.
        A saved plot is a new figure each time (``im`` is ignored), closed
        after saving.
    title : str, optional
        Panel title (BindsNET appends " Weights").
    xlabel, ylabel : str
        Axis labels.

    Returns
    -------
    AxesImage
        The heatmap, for re-drawing (with ``save``: ``(im, numbered_name)``).

    Examples
    --------
    >>> import torch
    >>> from snnlab.analysis.plotting import plot_weights
    >>> im = plot_weights(torch.rand(4, 6))
    >>> im.get_array().shape
    (4, 6)
    """
    w = _to_numpy(weights, "weights")
    if w.ndim != 2:
        raise ValueError(f"weights: expected a 2-D (n_source, n_target) matrix, got shape {tuple(w.shape)}")
    w = w.astype(np.float32, copy=False)
    lo = float(np.nanmin(w)) if wmin is None else float(wmin)
    hi = float(np.nanmax(w)) if wmax is None else float(wmax)
    if not lo < hi:
        hi = lo + 1e-12  # a constant matrix still draws
    if save is not None:
        im = None  # as BindsNET: a saved plot is a new figure each time (closed after saving)
    if im is not None:
        im.set_data(w)
        im.set_clim(lo, hi)
    else:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize)
        im = ax.imshow(w, cmap=cmap, vmin=lo, vmax=hi, aspect="auto", interpolation="nearest")
        cbar = fig.colorbar(im, ax=ax, pad=0.02)
        cbar.set_label("Weight")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if title is not None:
            ax.set_title(f"{title} Weights")
        fig.tight_layout()
    if save is not None:
        import matplotlib.pyplot as plt

        numbered = numbered_name(save)
        save_figure(im.axes.figure, numbered)
        save_figure(im.axes.figure, save)
        plt.close(im.axes.figure)
        return im, numbered
    return im


def numbered_name(save: Union[str, os.PathLike]) -> str:
    """BindsNET's numbering of repeated saves: ``w.png`` -> ``w.1.png``, ``w.1.png`` -> ``w.2.png``
    (on the file name only, so dots in folder names are safe)."""
    folder, name = os.path.split(os.fspath(save))
    parts = name.split(".")
    if len(parts) >= 3 and parts[-2].isdigit():
        parts[-2] = str(int(parts[-2]) + 1)
    elif len(parts) >= 2:
        parts.insert(-1, "1")
    else:
        parts.append("1")
    return os.path.join(folder, ".".join(parts))


# --------------------------------------------------------------------------
# Lab and export figures (pyplot-free)
# --------------------------------------------------------------------------


def _times(n_rows: int, dt: float, t: Optional[Any], what: str) -> np.ndarray:
    """Row times in ms: ``t`` if given, else ``0, dt, 2 dt, ...``."""
    if t is None:
        return np.arange(n_rows, dtype=float) * dt
    times = np.asarray(_to_numpy(t, f"{what} times") if not isinstance(t, (list, tuple)) else t, dtype=float)
    if times.shape != (n_rows,):
        raise ValueError(f"{what}: times has shape {times.shape}, expected ({n_rows},), one per recorded row")
    return times


def _layers(data: Any, what: str, sample: int) -> dict[str, np.ndarray]:
    """A single array or a dict of arrays -> dict of ``[time, neuron]`` arrays."""
    if isinstance(data, Mapping):
        _check_mapping(data, what)
        return {str(k): _time_by_neuron(v, f"{what}[{k!r}]", sample) for k, v in data.items()}
    return {"": _time_by_neuron(data, what, sample)}


def _new_figure(n_rows: int, figsize: Optional[Sequence[float]], height_each: float) -> tuple[Figure, list[Axes]]:
    if figsize is None:
        figsize = (_WIDE, max(2.2, height_each * n_rows))
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(n_rows, 1, squeeze=False, sharex=True)[:, 0]
    return fig, list(axes)


def raster_figure(
    spikes: Any,
    *,
    dt: float = 1.0,
    t: Optional[Any] = None,
    sample: int = 0,
    title: Optional[str] = None,
    figsize: Optional[tuple[float, float]] = None,
    marker_size: float = 4.0,
) -> Figure:
    """A spike raster, one panel per layer, in publication style.

    Parameters
    ----------
    spikes : Tensor, ndarray or dict of str to those
        ``[time, n]`` or ``[time, batch, *shape]`` spikes (0/1 or bool); a dict
        gives one panel per layer, labelled with its name.
    dt : float
        Simulation step in ms (used when ``t`` is not given).
    t : array-like, optional
        Time of each recorded row in ms (for windowed or decimated recordings).
    sample : int
        Which element of the batch to draw.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Size in inches; default 6.5 wide, 2.2 high per layer.
    marker_size : float
        Largest tick area in points^2; ticks are made shorter for layers with
        many neurons, so that each stays within its row.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from snnlab.analysis.plotting import raster_figure
    >>> fig = raster_figure({"B": np.random.rand(200, 50) < 0.02}, dt=0.5)
    >>> fig.axes[0].get_xlabel()
    'Time (ms)'
    """
    dt = _check_dt(dt)
    layers = _layers(spikes, "spikes", sample)
    with publication_style():
        fig, axes = _new_figure(len(layers), figsize, 2.2 if len(layers) == 1 else 1.6)
        for ax, (name, s) in zip(axes, layers.items()):
            times = _times(s.shape[0], dt, t, "spikes")
            rows, neurons = np.nonzero(s)
            # A tick no taller than a neuron's row, so large populations do not smear.
            row_pt = fig.get_figheight() * 72 * 0.75 / len(layers) / max(1, s.shape[1])
            length = float(np.clip(row_pt, 0.6, np.sqrt(marker_size)))
            ax.scatter(times[rows], neurons, s=length**2, c="k", marker="|", linewidths=0.6)
            ax.set_ylim(-0.5, s.shape[1] - 0.5)
            if s.shape[0]:
                ax.set_xlim(times[0], times[-1] + dt)
            ax.set_ylabel(f"{name} neuron" if name else "Neuron index")
        axes[-1].set_xlabel("Time (ms)")
        if title:
            fig.suptitle(title)
    return fig


def voltage_figure(
    voltages: Any,
    *,
    dt: float = 1.0,
    t: Optional[Any] = None,
    sample: int = 0,
    neurons: Optional[Sequence[int]] = None,
    thresh: Optional[float] = None,
    reset: Optional[float] = None,
    labels: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
    figsize: Optional[tuple[float, float]] = None,
) -> Figure:
    """Voltage traces of a few neurons, with the threshold marked.

    Parameters
    ----------
    voltages : Tensor or ndarray
        ``[time, n]`` or ``[time, batch, *shape]`` voltages in mV.
    dt : float
        Simulation step in ms (used when ``t`` is not given).
    t : array-like, optional
        Time of each recorded row in ms.
    sample : int
        Which element of the batch to draw.
    neurons : sequence of int, optional
        Which neurons to draw (default: up to the first 5).
    thresh, reset : float, optional
        Threshold and reset voltages in mV, drawn as dashed / dotted lines.
    labels : sequence of str, optional
        Legend label of each drawn neuron (default ``"neuron i"``).
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Size in inches; default 6.5 x 2.4.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from snnlab.analysis.plotting import voltage_figure
    >>> fig = voltage_figure(-65 + np.random.rand(100, 3), thresh=-52.0)
    >>> fig.axes[0].get_ylabel()
    'Voltage (mV)'
    """
    dt = _check_dt(dt)
    v = _time_by_neuron(voltages, "voltages", sample).astype(np.float32, copy=False)
    if neurons is None:
        neurons = list(range(min(5, v.shape[1])))
    neurons = [int(i) for i in neurons]
    bad = [i for i in neurons if not 0 <= i < v.shape[1]]
    if bad:
        raise ValueError(f"neurons: indices {bad} out of range for {v.shape[1]} recorded neurons")
    if labels is None:
        labels = [f"neuron {i}" for i in neurons]
    elif len(labels) != len(neurons):
        raise ValueError(f"labels: {len(labels)} labels for {len(neurons)} neurons; expected one per neuron")
    times = _times(v.shape[0], dt, t, "voltages")
    with publication_style():
        fig, (ax,) = _new_figure(1, figsize or (_WIDE, 2.4), 2.4)
        for i, label in zip(neurons, labels):
            ax.plot(times, v[:, i], linewidth=0.8, label=str(label))
        if thresh is not None:
            ax.axhline(float(thresh), color="r", linestyle="--", linewidth=0.8, label="threshold")
        if reset is not None:
            ax.axhline(float(reset), color="0.5", linestyle=":", linewidth=0.8, label="reset")
        if len(times):
            ax.set_xlim(times[0], times[-1])
        ax.set_xlabel("Time (ms)")
        ax.set_ylabel("Voltage (mV)")
        if neurons or thresh is not None:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        if title:
            fig.suptitle(title)
    return fig


def population_rate(
    spikes: Any, *, dt: float = 1.0, bin_ms: float = 10.0, sample: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Population firing rate: mean spikes per neuron per second, in time bins.

    Parameters
    ----------
    spikes : Tensor or ndarray
        ``[time, n]`` or ``[time, batch, *shape]`` spikes, one row per step.
    dt : float
        Simulation step in ms.
    bin_ms : float
        Bin width in ms; rounded to a whole number of steps (at least one).
        A last, partial bin is dropped.
    sample : int
        Which element of the batch to use.

    Returns
    -------
    t_ms : ndarray
        Centre of each bin, ms.
    rate_hz : ndarray
        Population rate in each bin, Hz.

    Examples
    --------
    >>> import numpy as np
    >>> from snnlab.analysis.plotting import population_rate
    >>> s = np.zeros((100, 4)); s[::10] = 1          # every neuron every 10 ms
    >>> t, r = population_rate(s, dt=1.0, bin_ms=20.0)
    >>> r.tolist()
    [100.0, 100.0, 100.0, 100.0, 100.0]
    """
    dt = _check_dt(dt)
    if isinstance(bin_ms, bool) or not isinstance(bin_ms, (int, float)) or not bin_ms > 0:
        raise ValueError(f"bin_ms: expected a positive bin width in ms, got {bin_ms!r}")
    s = _time_by_neuron(spikes, "spikes", sample).astype(np.float64)
    k = max(1, int(round(bin_ms / dt)))
    n_bins = s.shape[0] // k
    counts = s[: n_bins * k].reshape(n_bins, k, -1).sum(axis=(1, 2))
    rate = counts / (s.shape[1] * k * dt * 1e-3)
    t_ms = (np.arange(n_bins) + 0.5) * k * dt
    return t_ms, rate


def rate_figure(
    spikes: Any,
    *,
    dt: float = 1.0,
    bin_ms: float = 10.0,
    t0: float = 0.0,
    sample: int = 0,
    title: Optional[str] = None,
    figsize: Optional[tuple[float, float]] = None,
) -> Figure:
    """Population rate over time, one line per layer.

    Parameters
    ----------
    spikes : Tensor, ndarray or dict of str to those
        ``[time, n]`` or ``[time, batch, *shape]`` spikes, one row per step.
    dt : float
        Simulation step in ms.
    bin_ms : float
        Bin width in ms.
    t0 : float
        Time of the first row in ms.
    sample : int
        Which element of the batch to use.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Size in inches; default 6.5 x 2.2.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from snnlab.analysis.plotting import rate_figure
    >>> fig = rate_figure({"B": np.random.rand(500, 100) < 0.01})
    >>> fig.axes[0].get_ylabel()
    'Population rate (Hz)'
    """
    layers = _layers(spikes, "spikes", sample)
    with publication_style():
        fig, (ax,) = _new_figure(1, figsize or (_WIDE, 2.2), 2.2)
        for name, s in layers.items():
            t_ms, rate = population_rate(s, dt=dt, bin_ms=bin_ms)
            width = 2 * t_ms[0] if len(t_ms) else 0.0  # t_ms are bin centres
            edges = t0 + np.arange(len(rate) + 1) * width
            ax.stairs(rate, edges, label=name or None, linewidth=1.0)
        ax.set_xlabel("Time (ms)")
        ax.set_ylabel("Population rate (Hz)")
        ax.set_ylim(bottom=0)
        if any(layers):
            ax.legend(loc="upper right")
        if title:
            fig.suptitle(title)
    return fig


def save_figure(
    fig: Figure,
    path: Union[str, os.PathLike],
    *,
    format: Optional[str] = None,
    dpi: int = 300,
) -> str:
    """Write a figure to PNG, SVG or PDF in publication settings.

    Text stays text (TrueType in PDF, ``<text>`` in SVG) and no mark is
    rasterized, so SVG and PDF stay vector; PNG is written at ``dpi``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (from this module or anywhere else).
    path : str or path
        Output file. Its folder must exist.
    format : {"png", "svg", "pdf"}, optional
        Default: taken from the suffix of ``path``.
    dpi : int
        Resolution for PNG, dots per inch.

    Returns
    -------
    str
        The path written.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig: expected a matplotlib Figure, got {type(fig).__name__}")
    path = os.fspath(path)
    fmt = (format or os.path.splitext(path)[1].lstrip(".")).lower()
    if fmt not in FIGURE_FORMATS:
        raise ValueError(
            f"format: expected one of {FIGURE_FORMATS} (or a path ending in one), got {fmt!r} for {path!r}"
        )
    with publication_style():
        # a Figure made without pyplot has no canvas manager; savefig attaches one
        fig.savefig(path, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    return path


def _metadata(fmt: str) -> dict:
    # Fixed metadata: no creation date, so the same figure gives the same bytes.
    if fmt == "pdf":
        return {"Creator": "snnlab", "CreationDate": None}
    if fmt == "svg":
        return {"Creator": "snnlab", "Date": None}
    return {"Software": "snnlab"}


# BindsNET's other plots, defined in their own module (imported last: they use save_figure).
from .bindsnet_plots import (  # noqa: E402
    plot_assignments,
    plot_conv2d_weights,
    plot_input,
    plot_local_connection_2d_weights,
    plot_locally_connected_weights,
    plot_performance,
)
