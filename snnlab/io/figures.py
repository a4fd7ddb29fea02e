"""Figures of a recording that stay readable and light at any run length.

Three figures, each built from a :class:`snnlab.recording.Recording` without
``pyplot`` (no global state; safe in a worker thread):

* :func:`raster_figure`: one panel per layer. Where spikes are few enough to
  be told apart, one tick per spike (vector marks up to
  :data:`VECTOR_DOTS_MAX` spikes, a rasterized layer above that); where they
  would pile onto the same pixels, a density image (spikes per bin, with a
  colour bar). Axes, ticks and text stay vector in SVG and PDF either way.
* :func:`voltage_figure`: the traced neurons' voltages, decimated to the
  extremes of each pixel column (:func:`minmax_decimate`), so a spike is
  never lost between two drawn points; the threshold is marked.
* :func:`rate_figure`: each layer's population rate, Hz, in bins that grow
  with the run so the curve stays legible.

Legends sit outside the axes (they never cover data); every axis has its
unit; times switch from ms to s for runs of 10 s or more. Sizes follow
journal columns (``width="one"``: 3.5 in, ``"two"``: 7 in, or inches), and
any matplotlib style sheet can be applied on top of snnlab's publication
settings (``style="seaborn-v0_8-paper"``, a path, or a dict of rcParams).

Files stay small however long the run: the marks whose count grows with the
run (spike ticks, voltage points, rate bins) are capped by the figure's pixel
size, not by the number of steps.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import matplotlib
import matplotlib.style
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from snnlab.recording import Recording

__all__ = [
    "FIGURE_NAMES",
    "FIGURE_FORMATS",
    "COLUMN_WIDTHS",
    "RASTER_MODES",
    "figure_style",
    "raster_figure",
    "voltage_figure",
    "rate_figure",
    "recording_figures",
    "save_figure",
    "minmax_decimate",
    "spike_density",
]

#: The figures written for a run, in order.
FIGURE_NAMES = ("raster", "voltage", "rate")

#: File formats figures are written in.
FIGURE_FORMATS = ("png", "svg", "pdf")

#: Journal column widths, inches.
COLUMN_WIDTHS = {"one": 3.5, "two": 7.0}

#: How a raster draws spikes: chosen per panel, ticks, or a density image.
RASTER_MODES = ("auto", "dots", "density")

#: Above this many spikes in a panel, ticks are drawn into a rasterized layer.
VECTOR_DOTS_MAX = 5_000

#: Above this many spikes in a panel, "auto" draws a density image.
DOTS_MAX = 100_000

#: "auto" draws a density image when more than this fraction of a panel's
#: spikes would share their pixel with another spike.
OVERLAP_MAX = 0.2

#: Resolution of density images and of the voltage decimation, bins per inch.
BINS_PER_INCH = 200

#: Resolution of PNG files (and of rasterized layers in SVG/PDF), dots per inch.
DPI = 300

# Publication settings: small readable fonts, no top/right spines, TrueType
# fonts in PDF (editable; journals accept them), text as text in SVG.
_PUBLICATION_RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 0.8,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "image.interpolation": "nearest",
    "figure.dpi": 100,
}

# Below this duration (ms), times are in ms; above, in s.
_SECONDS_FROM_MS = 10_000.0

Style = Union[None, str, os.PathLike, Mapping[str, Any], Sequence[Union[str, Mapping[str, Any]]]]
Progress = Optional[Callable[[int, int, str], None]]


# ---------------------------------------------------------------- settings
def _check_recording(recording: Any) -> Recording:
    if not isinstance(recording, Recording):
        raise TypeError(f"recording: expected a snnlab.recording.Recording, got {type(recording).__name__}")
    return recording


def _width_inches(width: Union[str, float]) -> float:
    if isinstance(width, str):
        if width not in COLUMN_WIDTHS:
            raise ValueError(f"width: {width!r}; expected 'one', 'two' (journal columns) or a number of inches")
        return COLUMN_WIDTHS[width]
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not (1.0 <= float(width) <= 20.0):
        raise ValueError(f"width: {width!r}; expected 'one', 'two' or a number of inches in [1, 20]")
    return float(width)


#: Held while snnlab's style is applied: matplotlib's rcParams are global, and two
#: exports drawing at once (the lab's export thread and a notebook cell) would
#: otherwise restore each other's settings on the way out.
_STYLE_LOCK = threading.RLock()


@contextlib.contextmanager
def _holding_style_lock(context: contextlib.AbstractContextManager):
    with _STYLE_LOCK, context:
        yield


def figure_style(style: Style = None) -> contextlib.AbstractContextManager:
    """A context manager applying snnlab's publication settings, then ``style``.

    One thread at a time draws in snnlab's style (the others wait): the
    settings are matplotlib's global ``rcParams``.

    Parameters
    ----------
    style : str, path, dict or list of those, optional
        A matplotlib style sheet (a name from ``matplotlib.style.available``,
        a ``.mplstyle`` file) or a dict of rcParams, applied on top of
        snnlab's settings, so it wins where both set something.

    Examples
    --------
    >>> import matplotlib
    >>> with figure_style({"font.size": 11}):
    ...     matplotlib.rcParams["font.size"], matplotlib.rcParams["pdf.fonttype"]
    (11.0, 42)
    """
    sheets: list = [_PUBLICATION_RC]
    if style is not None:
        extra = list(style) if isinstance(style, (list, tuple)) else [style]
        for s in extra:
            if isinstance(s, os.PathLike):
                s = os.fspath(s)
            if isinstance(s, str):
                if s not in matplotlib.style.available and not Path(s).is_file():
                    raise ValueError(f"style: {s!r} is neither a matplotlib style name nor a style file")
            elif not isinstance(s, Mapping):
                raise TypeError(f"style: expected a style name, a .mplstyle path or a dict of rcParams, got {s!r}")
            sheets.append(s)
    return _holding_style_lock(matplotlib.style.context(sheets))


def _time_unit(recording: Recording) -> tuple[float, str]:
    """``(ms per unit, label)``: ms for short runs, s from 10 s on."""
    end = (recording.start_step + recording.steps) * recording.dt
    return (1000.0, "s") if end >= _SECONDS_FROM_MS else (1.0, "ms")


def _layer_names(recording: Recording, layers: Optional[Iterable[str]]) -> list[str]:
    if layers is None:
        return recording.layer_names
    if isinstance(layers, str):
        layers = [layers]
    names = list(layers)
    unknown = [n for n in names if n not in recording.layers]
    if unknown:
        raise ValueError(f"layers: {unknown} not in the recording; it has {recording.layer_names}")
    return names


def _default_title(recording: Recording) -> str:
    parts = [f"{name}: {layer.model} x {layer.n}" for name, layer in recording.layers.items()]
    return "; ".join(parts)


def _empty_note(ax, text: str = "no steps recorded") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _time_limits(recording: Recording, scale: float) -> tuple[float, float]:
    t0 = recording.start_step * recording.dt
    t1 = t0 + max(recording.steps, 1) * recording.dt
    return t0 / scale, t1 / scale


# ---------------------------------------------------------------- arrays
def spike_density(spikes: np.ndarray, time_bins: int, neuron_bins: int) -> tuple[np.ndarray, int, int]:
    """Spike counts on a grid of at most ``time_bins`` x ``neuron_bins`` bins.

    Parameters
    ----------
    spikes : numpy.ndarray of bool, shape (steps, n)
    time_bins, neuron_bins : int
        Most bins along time and along neurons.

    Returns
    -------
    counts : numpy.ndarray of int32, shape (neuron bins, time bins)
        Spikes per bin (neurons along rows, for an image).
    steps_per_bin, neurons_per_bin : int
        Bin size; the last bin of each axis may be smaller.

    Examples
    --------
    >>> s = np.zeros((10, 4), bool); s[0, 0] = s[1, 1] = s[9, 3] = True
    >>> counts, k_t, k_n = spike_density(s, 5, 2)
    >>> counts.tolist(), k_t, k_n
    ([[2, 0, 0, 0, 0], [0, 0, 0, 0, 1]], 2, 2)
    """
    steps, n = spikes.shape
    k_t = max(1, math.ceil(steps / max(1, int(time_bins))))
    k_n = max(1, math.ceil(n / max(1, int(neuron_bins))))
    if steps == 0 or n == 0:
        return np.zeros((math.ceil(n / k_n), math.ceil(steps / k_t)), np.int32), k_t, k_n
    # Sum whole bins through a reshape of the uint8 view: ~30x faster than np.add.reduceat on bools.
    u = spikes.view(np.uint8) if spikes.dtype == bool else spikes.astype(np.uint8)
    full = steps // k_t
    parts = [u[: full * k_t].reshape(full, k_t, n).sum(axis=1, dtype=np.int32)] if full else []
    if steps % k_t:
        parts.append(u[full * k_t:].sum(axis=0, dtype=np.int32)[None])
    by_time = np.concatenate(parts) if len(parts) > 1 else parts[0]
    grid = np.add.reduceat(by_time, np.arange(0, n, k_n), axis=1) if k_n > 1 else by_time
    return np.ascontiguousarray(grid.T), k_t, k_n


def minmax_decimate(t: np.ndarray, v: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Decimate a trace to at most ``2 * bins`` points, keeping each bin's extremes.

    Within each bin the minimum and the maximum are kept, in the order they
    occur, so the drawn line reaches every peak (a spike's top, a reset's
    bottom) that plain subsampling would skip.

    Parameters
    ----------
    t : numpy.ndarray, shape (steps,)
        Times.
    v : numpy.ndarray, shape (steps,)
        Values.
    bins : int
        Number of bins (about the pixel columns of the plot).

    Returns
    -------
    (t, v) : the kept points; unchanged if there are at most ``2 * bins``.

    Examples
    --------
    >>> t = np.arange(8.0); v = np.array([0, 5, 1, 1, -3, 0, 0, 2.0])
    >>> minmax_decimate(t, v, 2)[1].tolist()
    [0.0, 5.0, -3.0, 2.0]
    """
    t = np.asarray(t)
    v = np.asarray(v)
    if v.ndim != 1 or t.shape != v.shape:
        raise ValueError(f"minmax_decimate: t {t.shape} and v {v.shape}; expected two 1-D arrays of one length")
    steps = t.shape[0]
    if bins < 1 or steps <= 2 * bins:
        return t, v
    k = math.ceil(steps / bins)
    starts = np.arange(0, steps, k)
    pad = (-steps) % k
    # Pad with the last value so that reshaping into bins keeps the extremes.
    block = np.concatenate([v, np.repeat(v[-1:], pad)]) if pad else v
    block = block.reshape(len(starts), k)
    i_min = block.argmin(axis=1)
    i_max = block.argmax(axis=1)
    rows = np.stack([starts + np.minimum(i_min, i_max), starts + np.maximum(i_min, i_max)], axis=1).reshape(-1)
    rows = np.minimum(rows, steps - 1)
    return t[rows], v[rows]


# ---------------------------------------------------------------- figures
def _raster_panel(ax, fig, recording: Recording, name: str, scale: float, mode: str, panel_height: float):
    layer = recording.layers[name]
    spikes = layer.spikes
    steps, n = spikes.shape
    dt = recording.dt
    t0 = recording.start_step * dt
    ax_width = fig.get_figwidth() * 0.82
    time_bins = max(1, int(ax_width * BINS_PER_INCH))
    neuron_bins = max(1, int(panel_height * 0.8 * BINS_PER_INCH))
    counts, k_t, k_n = spike_density(spikes, time_bins, neuron_bins)
    total = int(counts.sum())
    occupied = int(np.count_nonzero(counts))
    overlap = 1.0 - occupied / total if total else 0.0
    if mode == "auto":
        mode = "density" if (total > DOTS_MAX or overlap > OVERLAP_MAX) else "dots"
    ax.set_ylim(-0.5, n - 0.5)
    if mode == "density" and total:
        t_edges = (t0 + np.array([0, steps]) * dt) / scale
        im = ax.imshow(
            counts, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=max(1, int(counts.max())),
            extent=(t_edges[0], t_edges[1], -0.5, n - 0.5), interpolation="nearest",
        )
        cbar = fig.colorbar(im, ax=ax, pad=0.01, fraction=0.05, aspect=12)
        bin_ms = k_t * dt
        cbar.set_label(f"Spikes / bin\n({bin_ms:g} ms x {k_n} neuron{'s' if k_n > 1 else ''})")
        cbar.ax.tick_params(labelsize=6)
        return "density"
    rows, cols = np.nonzero(spikes)
    if total:
        # A tick no taller than a neuron's row, so large populations do not smear.
        row_pt = panel_height * 72 * 0.8 / max(1, n)
        length = float(np.clip(row_pt, 1.0, 4.0))
        ax.scatter(
            (t0 + rows * dt) / scale, cols, s=length**2, c="k", marker="|", linewidths=0.5,
            rasterized=total > VECTOR_DOTS_MAX,
        )
    return "dots"


def raster_figure(
    recording: Recording,
    *,
    layers: Optional[Iterable[str]] = None,
    mode: str = "auto",
    width: Union[str, float] = "two",
    style: Style = None,
    title: Optional[str] = None,
) -> Figure:
    """Spike raster, one panel per layer.

    Parameters
    ----------
    recording : snnlab.recording.Recording
        What to draw (use :meth:`Recording.window` for a time window or a
        subset of neurons).
    layers : iterable of str, optional
        Layers to draw, in order (default all).
    mode : {"auto", "dots", "density"}
        ``"dots"``: a tick per spike; ``"density"``: spikes per bin as an
        image; ``"auto"`` picks per panel: density when more than 20 % of the
        spikes would share a pixel, or above 100,000 spikes.
    width : "one", "two" or float
        Journal column width, or inches.
    style : matplotlib style (see :func:`figure_style`), optional
    title : str, optional
        Figure title (default: the layers' models and sizes).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.snnlab_modes`` lists the mode each panel used.

    Examples
    --------
    >>> from snnlab.recording import LayerRecording, Recording
    >>> s = np.random.default_rng(0).random((200, 50)) < 0.02
    >>> rec = Recording(dt=1.0, layers={"B": LayerRecording("B", (50,), "LIFNodes", s)})
    >>> fig = raster_figure(rec)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel(), fig.snnlab_modes
    ('Time (ms)', 'B neuron (index)', ['dots'])
    """
    rec = _check_recording(recording)
    if mode not in RASTER_MODES:
        raise ValueError(f"mode: {mode!r}; expected one of {RASTER_MODES}")
    names = _layer_names(rec, layers)
    w = _width_inches(width)
    scale, unit = _time_unit(rec)
    panel_h = 1.5 if len(names) > 1 else 2.0
    with figure_style(style):
        fig = Figure(figsize=(w, 0.6 + panel_h * max(1, len(names))), layout="constrained")
        axes = fig.subplots(max(1, len(names)), 1, squeeze=False, sharex=True)[:, 0]
        modes = []
        for ax, name in zip(axes, names):
            modes.append(_raster_panel(ax, fig, rec, name, scale, mode, panel_h))
            ax.set_ylabel(f"{name} neuron (index)")
            if rec.steps == 0:
                _empty_note(ax)
        if not names:
            _empty_note(axes[0], "no layers selected")
        axes[0].set_xlim(*_time_limits(rec, scale))
        axes[-1].set_xlabel(f"Time ({unit})")
        fig.suptitle(title if title is not None else _default_title(rec))
    fig.snnlab_modes = modes
    fig.snnlab_style = style
    return fig


def voltage_figure(
    recording: Recording,
    *,
    layers: Optional[Iterable[str]] = None,
    max_traces: int = 5,
    width: Union[str, float] = "two",
    style: Style = None,
    title: Optional[str] = None,
) -> Figure:
    """Voltages of the traced neurons, one panel per neuron, sharing the time axis.

    One neuron per panel, so that traces never hide one another however long
    the run. Long traces are decimated to each pixel column's extremes
    (:func:`minmax_decimate`). The layer's threshold is a dashed line. A
    recorded voltage is after reset, so it never reaches the threshold itself.

    Parameters
    ----------
    recording : snnlab.recording.Recording
    layers : iterable of str, optional
        Layers to draw (default: every layer with traced voltages).
    max_traces : int
        Most neurons drawn per layer (the first traced ones).
    width, style, title
        As :func:`raster_figure`.

    Examples
    --------
    >>> from snnlab.recording import LayerRecording, Recording
    >>> v = np.full((100, 2), -65.0, np.float32); v[50, 0] = -53.0
    >>> layer = LayerRecording("B", (4,), "LIFNodes", np.zeros((100, 4), bool), v, [0, 3], -52.0)
    >>> fig = voltage_figure(Recording(dt=1.0, layers={"B": layer}))
    >>> [ax.get_ylabel() for ax in fig.axes], [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    (['B[0] (mV)', 'B[3] (mV)'], ['threshold'])
    """
    rec = _check_recording(recording)
    if isinstance(max_traces, bool) or not isinstance(max_traces, int) or max_traces < 1:
        raise ValueError(f"max_traces: {max_traces!r}; expected an int >= 1")
    names = [n for n in _layer_names(rec, layers) if rec.layers[n].voltages is not None and rec.layers[n].traced.size]
    panels = [(name, j) for name in names for j in range(min(max_traces, rec.layers[name].traced.size))]
    w = _width_inches(width)
    scale, unit = _time_unit(rec)
    panel_h = 0.8 if len(panels) > 2 else 1.4
    bins = max(1, int(w * 0.8 * BINS_PER_INCH))
    times = rec.times / scale
    with figure_style(style):
        fig = Figure(figsize=(w, 0.7 + panel_h * max(1, len(panels))), layout="constrained")
        axes = fig.subplots(max(1, len(panels)), 1, squeeze=False, sharex=True)[:, 0]
        threshold = None
        for i, (ax, (name, j)) in enumerate(zip(axes, panels)):
            layer = rec.layers[name]
            t_d, v_d = minmax_decimate(times, layer.voltages[:, j], bins)
            ax.plot(t_d, v_d, linewidth=0.6, color=f"C{names.index(name)}")
            if layer.threshold is not None:
                threshold = ax.axhline(layer.threshold, color="r", linestyle="--", linewidth=0.6)
            ax.set_ylabel(f"{name}[{int(layer.traced[j])}] (mV)")
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
            if rec.steps == 0:
                _empty_note(ax)
        if not panels:
            axes[0].set_ylabel("Voltage (mV)")
            _empty_note(axes[0], "no traced voltages in this recording")
        axes[0].set_xlim(*_time_limits(rec, scale))
        axes[-1].set_xlabel(f"Time ({unit})")
        if threshold is not None:
            # Above the top panel, outside the axes: it never covers a trace.
            axes[0].legend([threshold], ["threshold"], loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.1)
        fig.suptitle(title if title is not None else _default_title(rec))
    fig.snnlab_style = style
    return fig


def _rate_bin_ms(recording: Recording, bin_ms: Optional[float]) -> float:
    if bin_ms is not None:
        if isinstance(bin_ms, bool) or not isinstance(bin_ms, (int, float)) or not (math.isfinite(bin_ms) and bin_ms > 0):
            raise ValueError(f"bin_ms: {bin_ms!r}; expected a positive number of ms")
        return max(float(bin_ms), recording.dt)
    # 10 ms, growing for long runs so that there are at most ~1000 bins.
    target = max(10.0, recording.duration / 1000.0)
    nice = 10 ** math.floor(math.log10(target))
    for m in (1, 2, 5, 10):
        if m * nice >= target:
            return max(float(m * nice), recording.dt)
    return max(target, recording.dt)  # pragma: no cover


def rate_figure(
    recording: Recording,
    *,
    layers: Optional[Iterable[str]] = None,
    bin_ms: Optional[float] = None,
    width: Union[str, float] = "two",
    style: Style = None,
    title: Optional[str] = None,
) -> Figure:
    """Population rate of each layer (mean Hz per neuron) over time.

    Parameters
    ----------
    recording : snnlab.recording.Recording
    layers : iterable of str, optional
        Layers to draw (default all).
    bin_ms : float, optional
        Bin width (ms). Default 10 ms, growing (1-2-5 steps) for long runs so
        there are at most about 1000 bins. A run shorter than one bin gives one
        bin over the whole run.
    width, style, title
        As :func:`raster_figure`.

    Examples
    --------
    >>> from snnlab.recording import LayerRecording, Recording
    >>> s = np.zeros((100, 4), bool); s[::10] = True    # every neuron every 10 ms
    >>> rec = Recording(dt=1.0, layers={"B": LayerRecording("B", (4,), "LIFNodes", s)})
    >>> fig = rate_figure(rec)
    >>> fig.axes[0].get_ylabel(), fig.snnlab_bin_ms
    ('Population rate (Hz)', 10.0)
    """
    rec = _check_recording(recording)
    names = _layer_names(rec, layers)
    width_in = _width_inches(width)
    scale, unit = _time_unit(rec)
    bin_w = _rate_bin_ms(rec, bin_ms)
    with figure_style(style):
        fig = Figure(figsize=(width_in, 2.2), layout="constrained")
        ax = fig.subplots()
        t_end = (rec.start_step + rec.steps) * rec.dt
        for name in names:
            starts, hz = rec.rate(name, bin_w)
            if len(starts):
                edges = np.append(starts, t_end) / scale
                ax.stairs(hz, edges, label=name, linewidth=0.9, baseline=None)
        ax.set_xlim(*_time_limits(rec, scale))
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"Time ({unit})")
        ax.set_ylabel("Population rate (Hz)")
        ax.set_title(f"{bin_w:g} ms bins", loc="left", fontsize="small")
        if rec.steps == 0:
            _empty_note(ax)
        if names and rec.steps:
            # Above the axes, outside them: it never covers the curves.
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=min(len(names), 4), borderaxespad=0.1)
        fig.suptitle(title if title is not None else _default_title(rec))
    fig.snnlab_bin_ms = bin_w
    fig.snnlab_style = style
    return fig


def recording_figures(
    recording: Recording,
    *,
    layers: Optional[Iterable[str]] = None,
    raster_mode: str = "auto",
    width: Union[str, float] = "two",
    style: Style = None,
    title: Optional[str] = None,
) -> dict[str, Figure]:
    """The raster, voltage and rate figures of a recording (not saved).

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        ``{"raster": ..., "voltage": ..., "rate": ...}``.
    """
    common = dict(layers=layers, width=width, style=style, title=title)
    return {
        "raster": raster_figure(recording, mode=raster_mode, **common),
        "voltage": voltage_figure(recording, **common),
        "rate": rate_figure(recording, **common),
    }


def _metadata(fmt: str) -> dict:
    # Fixed metadata, no creation date: the same figure gives the same bytes.
    if fmt == "pdf":
        return {"Creator": "snnlab", "CreationDate": None}
    if fmt == "svg":
        return {"Creator": "snnlab", "Date": None}
    return {"Software": "snnlab"}


def save_figure(fig: Figure, path: Union[str, os.PathLike], *, format: Optional[str] = None, dpi: int = DPI) -> str:
    """Write a figure (PNG at ``dpi``; SVG/PDF with text as text).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or path
        File (or a binary file object with ``format`` given).
    format : {"png", "svg", "pdf"}, optional
        Default: the path's suffix.
    dpi : int
        PNG resolution, and that of rasterized layers in SVG/PDF.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig: expected a matplotlib Figure, got {type(fig).__name__}")
    fmt = (format or os.path.splitext(os.fspath(path))[1].lstrip(".")).lower()
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"format: {fmt!r}; expected one of {FIGURE_FORMATS}")
    with figure_style(getattr(fig, "snnlab_style", None)):
        if fig.get_layout_engine() is not None and not getattr(fig, "_snnlab_laid_out", False):
            # Lay out once, then keep the positions: saving in three formats
            # would otherwise redo the constrained layout three times.
            fig.draw_without_rendering()
            fig.set_layout_engine("none")
            fig._snnlab_laid_out = True
        # The constrained layout already fits everything in the figure: no
        # "tight" bounding box, which would draw the figure twice.
        fig.savefig(path, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    return os.fspath(path) if not hasattr(path, "write") else fmt
