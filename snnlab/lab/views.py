"""The lab's live views (bqplot), fed from a run's ring buffers; every mark is made
once and updated in place.

- ``RasterView``: one layer's spikes as an image (a sliding window for long
  runs): spikes are counted into at most ``max_rows`` x ``max_cols`` pixels
  held in a ring of time columns, so a frame costs the new spikes and one
  small PNG, not the window.
- ``VoltageView``: traced neurons' voltages (mV) of one layer, threshold dashed;
  the axis follows the data.
- ``RateView``: population rate (Hz) of each layer.
- ``WeightView``: a connection's weights as a heatmap, or as receptive fields
  (one image per target neuron) where the source layer is image-shaped.
- ``DiagramView``: the network as a graph (bqplot ``Graph``): layers sized by
  neuron count, connections as arrows, learning ones in red; clicking a layer
  selects it.

bqplot's ``Image`` mark redraws when its ``image`` trait changes, not when the
``ipywidgets.Image``'s bytes do, so image views swap two image widgets.
"""

from __future__ import annotations

import html
import io
import math
from typing import Optional, Sequence

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from PIL import Image as PILImage

__all__ = ["RasterView", "VoltageView", "RateView", "WeightView", "DiagramView", "encode_png", "nice_ticks"]

LAYER_COLORS = ["#1f77b4", "#141414", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
TRACE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def _rgb(hex_color: str) -> tuple:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


def palette(rgb) -> bytes:
    """A 256-entry PNG palette from white (index 0) to ``rgb`` (index 255)."""
    ramp = np.arange(256, dtype=np.float64)[:, None] / 255.0
    pal = np.round(255.0 + ramp * (np.asarray(rgb, dtype=np.float64)[None, :] - 255.0))
    return pal.astype(np.uint8).tobytes()


def diverging_palette() -> bytes:
    """Blue (index 0: most negative) - white (128: zero) - red (255: most positive)."""
    x = np.arange(256, dtype=np.float64) / 255.0
    r = np.where(x < 0.5, 2 * x, 1.0)
    g = np.where(x < 0.5, 2 * x, 2 * (1 - x))
    b = np.where(x < 0.5, 1.0, 2 * (1 - x))
    return (np.stack([r, g, b], 1) * 255).round().astype(np.uint8).tobytes()


def encode_png(levels: np.ndarray, pal: bytes, transparent: bool = True) -> bytes:
    """PNG bytes of an ``[H, W]`` uint8 image of palette indices (index 0 transparent)."""
    img = PILImage.fromarray(np.ascontiguousarray(levels), "P")
    img.putpalette(pal)
    buf = io.BytesIO()
    if transparent:
        img.save(buf, format="PNG", compress_level=1, transparency=0)
    else:
        img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def nice_ticks(lo: float, hi: float, most: int = 6) -> np.ndarray:
    """Round, distinct tick values in ``[lo, hi]``: steps of 1, 2 or 5 x 10^k."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([lo], dtype=np.float64)
    raw = (hi - lo) / max(most - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = np.arange(first, hi + step * 1e-9, step)
    return np.round(ticks, 10)


def _tick_format(ticks: np.ndarray) -> str:
    step = float(np.min(np.diff(ticks))) if len(ticks) > 1 else 1.0
    if step >= 1 and np.all(np.abs(ticks) < 1e4):
        return ".0f"
    if step >= 1:
        return "~s"  # 10k, not 10000 crowding the label
    return f".{min(6, max(1, -int(math.floor(math.log10(step)))))}f"


class TimeAxis:
    """One time scale and axis (ms) shared by every time plot of a lab: a frame
    then moves all of them with one message, not one per plot.

    A sliding window is drawn relative to a moving origin (the axis reads
    ``-1000 .. 0`` ms), so the scale and its ticks stay put while the data move:
    a moving scale made the page re-lay out every axis and re-place every mark
    of four figures each frame (about half of the page's time per frame).
    """

    LABEL = "time (ms)"

    def __init__(self) -> None:
        self.scale = bq.LinearScale(min=0.0, max=1.0)
        self.axis = bq.Axis(scale=self.scale, label=self.LABEL, tick_format=".0f")

    def set(self, x0: float, x1: float, label: Optional[str] = None) -> None:
        """Show ``[x0, x1]`` (axis units, ms); ``label`` replaces the default one."""
        if (self.scale.min, self.scale.max) != (float(x0), float(x1)):
            with self.scale.hold_sync():
                self.scale.min, self.scale.max = float(x0), float(x1)
        _set_axis(self.axis, float(x0), float(x1))
        label = label or self.LABEL
        if self.axis.label != label:
            self.axis.label = label


def window_columns(window_steps: int, max_cols: int) -> tuple:
    """``(col_steps, cols)``: the steps per pixel column and the columns of a raster
    showing ``window_steps`` steps in at most ``max_cols`` columns."""
    col_steps = max(1, -(-int(window_steps) // int(max_cols)))
    return col_steps, max(1, -(-int(window_steps) // col_steps))


def _figure(marks, scales, x_label, y_label, title, height, x_axis=None):
    ax_x = x_axis if x_axis is not None else bq.Axis(scale=scales["x"], label=x_label, tick_format=".0f")
    ax_y = bq.Axis(scale=scales["y"], label=y_label, side="left", tick_format=".0f",
                   label_offset="48px")
    return bq.Figure(
        marks=marks, axes=[ax_x, ax_y], title=title, padding_x=0.0, padding_y=0.0, animation_duration=0,
        # room on the right so the last x tick label is never cut; on the left for "10k" ticks and the label
        fig_margin=dict(top=30, bottom=40, left=68, right=30),
        layout=widgets.Layout(width="100%", height=height),
    )


def _set_axis(axis, lo: float, hi: float, most: int = 6) -> None:
    ticks = nice_ticks(lo, hi, most)
    fmt = _tick_format(ticks)
    last = getattr(axis, "_snnlab_ticks", None)
    if last is not None and last[1] == fmt and np.array_equal(last[0], ticks):
        return  # unchanged: no message to the page
    axis._snnlab_ticks = (ticks, fmt)
    with axis.hold_sync():
        axis.tick_values = ticks
        axis.tick_format = fmt


class _ImageMark:
    """A bqplot Image mark fed with PNG bytes, double-buffered."""

    def __init__(self, scales):
        self._buffers = [widgets.Image(value=_empty_png(), format="png") for _ in range(2)]
        self._front = 0
        self.mark = bq.Image(image=self._buffers[0], x=np.array([0.0, 1.0]), y=np.array([0.0, 1.0]),
                             scales=scales)

    def show(self, png: bytes) -> None:
        back = 1 - self._front
        self._buffers[back].value = png
        self.mark.image = self._buffers[back]
        self._front = back

    @property
    def png(self) -> bytes:
        return self._buffers[self._front].value


_EMPTY = None


def _empty_png() -> bytes:
    global _EMPTY
    if _EMPTY is None:
        _EMPTY = encode_png(np.zeros((1, 1), dtype=np.uint8), palette((0, 0, 0)))
    return _EMPTY


class RasterView:
    """Spike raster of one layer over a window of ``window_steps`` steps.

    Pixels: at most ``max_rows`` rows (neurons share a row beyond that) by
    ``max_cols`` columns of ``col_steps`` steps each, kept as a ring of
    columns. While the run is shorter than the window the axis is fixed at
    ``[0, window]``; then it slides with the run.
    """

    #: Pixel columns of a window, at most.
    MAX_COLS = 500

    def __init__(self, name: str, color: str = "#141414", *, max_rows: int = 256, max_cols: int = MAX_COLS,
                 height: str = "200px", time: Optional[TimeAxis] = None) -> None:
        self.name = name
        self._palette = palette(_rgb(color))
        self.max_rows, self.max_cols = int(max_rows), int(max_cols)
        self._own_time = time is None  # a shared time axis is moved by its owner
        self.time = time or TimeAxis()
        self.x_scale = self.time.scale
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self.image = _ImageMark({"x": self.x_scale, "y": self.y_scale})
        self.figure = _figure([self.image.mark], {"x": self.x_scale, "y": self.y_scale}, "time (ms)", "neuron",
                              f"{name}: spikes", height, x_axis=self.time.axis)
        self.figure.add_class("snnlab-raster")
        self.frames = 0
        self.reset(1, 1.0, 1)

    def reset(self, n_neurons: int, dt: float, window_steps: int) -> None:
        """Clear for a layer of ``n_neurons`` at ``dt`` ms, showing ``window_steps`` steps."""
        self.n, self.dt = int(n_neurons), float(dt)
        self.rows = min(self.n, self.max_rows)
        self.col_steps, self.cols = window_columns(window_steps, self.max_cols)
        self._row_of = (np.arange(self.n, dtype=np.int64) * self.rows) // self.n
        per_row = np.bincount(self._row_of, minlength=self.rows).astype(np.float32)
        self._inv_capacity = (1.0 / (per_row * self.col_steps))[:, None]
        self.counts = np.zeros((self.rows, self.cols), dtype=np.int32)
        self._levels = np.zeros((self.rows, self.cols), dtype=np.uint8)  # ring, like counts
        self._dirty: set = set()  # ring columns whose counts changed since the last levels()
        self.latest_col = -1  # newest absolute column written
        self.drawn_steps = 0
        self.spikes_added = 0
        self._x_range = None
        with self.y_scale.hold_sync():
            self.y_scale.min, self.y_scale.max = 0.0, float(self.n)
        _set_axis(self.figure.axes[1], 0.0, float(self.n), 5)
        self.figure.axes[1].tick_format = "~s" if self.n >= 10_000 else ".0f"
        self.image.show(_empty_png())
        self._set_x(0)

    def _set_x(self, oldest_col: int, origin: float = 0.0) -> None:
        x0 = oldest_col * self.col_steps * self.dt - origin
        x1 = x0 + self.cols * self.col_steps * self.dt
        if self._x_range == (x0, x1):
            return  # a window drawn relative to its newest column: constant while it slides
        self._x_range = (x0, x1)
        with self.image.mark.hold_sync():
            self.image.mark.x = np.array([x0, x1], dtype=np.float64)
            self.image.mark.y = np.array([0.0, self.n], dtype=np.float64)
        if self._own_time:
            self.time.set(x0, x1)

    def add(self, spikes: np.ndarray, start: int) -> None:
        """Count ``spikes`` (bool ``[k, n]``) of steps ``start .. start + k - 1``."""
        k = spikes.shape[0]
        if k == 0:
            return
        last_col = (start + k - 1) // self.col_steps
        if last_col > self.latest_col:  # columns entering the ring start empty
            new = np.arange(max(self.latest_col + 1, last_col - self.cols + 1), last_col + 1) % self.cols
            self.counts[:, new] = 0
            self._dirty.update(new.tolist())
            self.latest_col = last_col
        t, i = np.nonzero(spikes)
        if len(t):
            cols = ((start + t) // self.col_steps)
            keep = cols > self.latest_col - self.cols
            ring = cols[keep] % self.cols
            np.add.at(self.counts, (self._row_of[i[keep]], ring), 1)
            self._dirty.update(np.unique(ring).tolist())
            self.spikes_added += int(keep.sum())
        self.drawn_steps = start + k

    def levels(self) -> np.ndarray:
        """The window as ``[rows, cols]`` uint8 (0: no spike; 255: every neuron-step spiked),
        oldest column first, neuron 0 at the bottom row."""
        if self._dirty:  # only the columns that changed: a frame costs its new steps
            d = np.fromiter(self._dirty, dtype=np.int64)
            frac = self.counts[:, d].astype(np.float32) * self._inv_capacity
            # sqrt: a lone spike in a crowded pixel stays visible; >= 1 for any spike
            self._levels[:, d] = np.ceil(np.sqrt(np.minimum(frac, 1.0)) * 255.0)
            self._dirty.clear()
        oldest = max(0, self.latest_col - self.cols + 1)
        order = (oldest + np.arange(self.cols)) % self.cols
        return self._levels[::-1][:, order]

    def draw(self, origin: float = 0.0) -> None:
        """Send the window to the page, its x axis shifted by ``origin`` ms (the lab's
        sliding windows pass their newest column's end, so the image's place stays)."""
        self._set_x(max(0, self.latest_col - self.cols + 1), origin)
        self.image.show(encode_png(self.levels(), self._palette))
        self.frames += 1


class VoltageView:
    """Voltage traces (mV) of one layer's traced neurons; the threshold dashed."""

    #: Keep the voltage axis while the data fill more than half of it.
    stable_axis = True

    def __init__(self, *, max_points: int = 800, height: str = "200px", time: Optional[TimeAxis] = None) -> None:
        self.max_points = int(max_points)
        self._own_time = time is None
        self.time = time or TimeAxis()
        self.x_scale = self.time.scale
        self.y_scale = bq.LinearScale(min=-70.0, max=-50.0)
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.traces = bq.Lines(x=np.zeros(0), y=np.zeros((1, 0)), scales=scales, colors=TRACE_COLORS,
                               stroke_width=1.2)
        self.threshold = bq.Lines(x=np.zeros(2), y=np.zeros(2), scales=scales, colors=["#d62728"],
                                  line_style="dashed", stroke_width=1.5)
        self.figure = _figure([self.traces, self.threshold], scales, "time (ms)", "voltage (mV)", "Voltages", height,
                              x_axis=self.time.axis)
        self.figure.add_class("snnlab-voltage")

    def update(self, layer: str, times: np.ndarray, volts: Optional[np.ndarray], traced: Sequence[int],
               thresh: Optional[float], x_range: tuple) -> None:
        """Draw ``volts`` (``[steps, k]`` mV at ``times`` ms) over ``x_range`` (ms)."""
        x0, x1 = float(x_range[0]), float(x_range[1])
        if volts is None or volts.size == 0:
            x, y = np.zeros(0), np.zeros((1, 0))
        else:
            stride = max(1, -(-len(times) // self.max_points))
            x = np.asarray(times[::stride], dtype=np.float32)
            y = np.ascontiguousarray(volts[::stride].T, dtype=np.float32)
        if y.size:
            lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
        elif thresh is not None:
            lo, hi = thresh - 15.0, thresh
        else:
            lo, hi = -70.0, -50.0
        if thresh is not None:
            lo, hi = min(lo, thresh), max(hi, thresh)
        margin = max(1.0, 0.05 * (hi - lo))
        lo, hi = lo - margin, hi + margin
        # The axis stays while the data fill more than half of it: no rescale (and
        # no new ticks for the page to lay out) every frame.
        old_lo, old_hi = self.y_scale.min, self.y_scale.max
        if (self.stable_axis and old_lo is not None and old_hi is not None and old_lo <= lo and hi <= old_hi
                and hi - lo > 0.5 * (old_hi - old_lo)):
            lo, hi = old_lo, old_hi
        shown = ", ".join(str(i) for i in list(traced)[:6]) + (", ..." if len(traced) > 6 else "")
        title = f"{layer}: voltages of neurons {shown} (dashed: threshold)" if len(traced) else f"{layer}: no traced neurons"
        # The threshold line spans far beyond the window: it need not move each frame.
        th_x = getattr(self, "_th_x", None)
        if th_x is None or x0 < th_x[0] or x1 > th_x[1]:
            th_x = self._th_x = (x0 - 10 * (x1 - x0 + 1), x1 + 100 * (x1 - x0 + 1))
        with self.traces.hold_sync(), self.threshold.hold_sync(), self.y_scale.hold_sync():
            self.traces.x, self.traces.y = x, y
            self.threshold.x = np.array(th_x)
            self.threshold.y = np.full(2, np.nan if thresh is None else thresh)
            # The axis follows the data every frame (models differ by 100 mV).
            self.y_scale.min, self.y_scale.max = lo, hi
        if self._own_time:
            self.time.set(x0, x1)
        _set_axis(self.figure.axes[1], lo, hi, 5)
        if self.figure.title != title:
            self.figure.title = title


class RateView:
    """Population rate (Hz) of each shown layer, one line each.

    The key (layer names in their colours) is an HTML line above the plot,
    outside the data: bqplot's legend sat over the first bins, and was drawn
    again with every frame. ``widget`` is the key and the figure together.
    """

    def __init__(self, *, max_bins: int = 200, height: str = "170px", time: Optional[TimeAxis] = None) -> None:
        self.max_bins = int(max_bins)
        self._own_time = time is None
        self.time = time or TimeAxis()
        self.x_scale = self.time.scale
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self.lines = bq.Lines(x=np.zeros(0), y=np.zeros((1, 0)), scales={"x": self.x_scale, "y": self.y_scale},
                              colors=LAYER_COLORS, stroke_width=1.5, labels=[])
        self.figure = _figure([self.lines], {"x": self.x_scale, "y": self.y_scale}, "time (ms)", "rate (Hz)",
                              "Population rate", height, x_axis=self.time.axis)
        self.figure.add_class("snnlab-rate")
        self.key = widgets.HTML(layout=widgets.Layout(margin="0 0 -8px 68px", height="20px"))
        self.key.add_class("snnlab-rate-key")
        self.widget = widgets.VBox([self.key, self.figure], layout=widgets.Layout(width="100%"))

    @staticmethod
    def key_html(names: Sequence[str], colors: Sequence[str]) -> str:
        """The key: each layer's name after a bar of its line's colour."""
        items = [f"<span style='white-space:nowrap; margin-right:14px'><span style='display:inline-block; "
                 f"width:18px; height:3px; background:{html.escape(c)}; vertical-align:middle; margin-right:4px'>"
                 f"</span>{html.escape(str(n))}</span>" for n, c in zip(names, colors)]
        return f"<div style='font-size:12px; line-height:20px'>{''.join(items)}</div>"

    @staticmethod
    def binned(counts: np.ndarray, n: int, dt: float, first_step: int, bin_steps: int):
        """Bin starts (ms) and rates (Hz) of ``counts`` (spikes per step, from ``first_step``);
        bins aligned to multiples of ``bin_steps``; a partial last bin is over its own length."""
        if len(counts) == 0:
            return np.zeros(0), np.zeros(0)
        steps = first_step + np.arange(len(counts))
        b = steps // bin_steps
        starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
        sums = np.add.reduceat(counts.astype(np.int64), starts)
        widths = np.diff(np.r_[starts, len(counts)])
        return steps[starts] * dt, sums / (n * widths * dt / 1000.0)

    def update(self, series: dict, x_range: tuple, colors: Sequence[str]) -> None:
        """``series``: layer name -> (bin starts ms, Hz)."""
        names = list(series)
        if names:
            length = max(len(series[n][0]) for n in names)
            # float32: half the bytes to send and decode, and ample for ms and Hz
            x = np.full((len(names), length), np.nan, dtype=np.float32)
            y = np.full((len(names), length), np.nan, dtype=np.float32)
            for k, n in enumerate(names):
                xs, ys = series[n]
                x[k, :len(xs)], y[k, :len(ys)] = xs, ys
        else:
            x, y = np.zeros((1, 0)), np.zeros((1, 0))
        top = float(np.nanmax(y)) if y.size and np.isfinite(y).any() else 0.0
        top = max(1.0, top * 1.1)
        # the top stays while the data fit in its upper half: no rescale every frame
        old_top = self.y_scale.max
        if old_top is not None and top <= old_top and top > 0.5 * old_top:
            top = old_top
        with self.lines.hold_sync(), self.y_scale.hold_sync():
            self.lines.x, self.lines.y = x, y
            if list(self.lines.labels) != names or list(self.lines.colors[:len(names)]) != list(colors):
                self.lines.labels = names
                self.lines.colors = list(colors)
                self.key.value = self.key_html(names, colors)
            if self.y_scale.max != top:
                self.y_scale.min, self.y_scale.max = 0.0, top
        if self._own_time:
            self.time.set(*x_range)
        # distinct, round ticks: never "2, 2, 1, 1, 0"
        _set_axis(self.figure.axes[1], 0.0, top, 5)


class WeightView:
    """A connection's weights: heatmap ``[source, target]`` (downsampled to at most
    ``max_side`` pixels a side), or receptive fields (one tile per target neuron,
    at most ``max_fields``) where the source layer is image-shaped."""

    def __init__(self, *, max_side: int = 200, max_fields: int = 100, height: str = "260px") -> None:
        self.max_side, self.max_fields = int(max_side), int(max_fields)
        self._height = height
        self.x_scale = bq.LinearScale(min=0.0, max=1.0)
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self.image = _ImageMark({"x": self.x_scale, "y": self.y_scale})
        self.figure = _figure([self.image.mark], {"x": self.x_scale, "y": self.y_scale}, "target neuron",
                              "source neuron", "Weights", height)
        self.figure.add_class("snnlab-weights")
        self._pal = diverging_palette()
        self.frames = 0
        self.last_levels = None

    def levels(self, w: np.ndarray, image_shape: Optional[tuple]) -> np.ndarray:
        """The image (uint8, 128 = zero weight) of ``w`` ``[n_source, n_target]``."""
        peak = float(np.abs(w).max()) if w.size else 0.0
        scale = 127.0 / peak if peak > 0 else 0.0
        if image_shape is not None:
            h, wd = image_shape
            k = min(w.shape[1], self.max_fields)
            side = math.ceil(math.sqrt(k))
            out = np.full((side * (h + 1) - 1, side * (wd + 1) - 1), 128, dtype=np.uint8)
            tiles = np.clip(np.round(128 + w[:, :k] * scale), 0, 255).astype(np.uint8)
            for j in range(k):
                r, c = divmod(j, side)
                out[r * (h + 1):r * (h + 1) + h, c * (wd + 1):c * (wd + 1) + wd] = tiles[:, j].reshape(h, wd)
            return out
        return np.clip(np.round(128 + w * scale), 0, 255).astype(np.uint8)[::-1]

    def update(self, title: str, w, image_shape: Optional[tuple]) -> None:
        """Draw weights ``w`` (a torch tensor or array ``[n_source, n_target]``)."""
        if image_shape is None:
            # Strided view first: a 10,000 x 10,000 matrix is never copied whole.
            rs = max(1, -(-w.shape[0] // self.max_side))
            cs = max(1, -(-w.shape[1] // self.max_side))
            w = w[::rs, ::cs]
        else:
            w = w[:, :self.max_fields]
        w = w.detach().cpu().numpy() if hasattr(w, "detach") else np.asarray(w)
        lev = self.levels(np.asarray(w, dtype=np.float32), image_shape)
        self.last_levels = lev
        with self.image.mark.hold_sync(), self.x_scale.hold_sync(), self.y_scale.hold_sync():
            self.x_scale.min, self.x_scale.max = 0.0, float(lev.shape[1])
            self.y_scale.min, self.y_scale.max = 0.0, float(lev.shape[0])
            self.image.mark.x = np.array([0.0, lev.shape[1]])
            self.image.mark.y = np.array([0.0, lev.shape[0]])
        mode = ("fields", lev.shape) if image_shape else ("heatmap",)
        if getattr(self, "_mode", None) != mode:
            self._mode = mode
            self.figure.axes[0].label = "receptive fields (one per target neuron)" if image_shape else "target neuron"
            self.figure.axes[1].label = "" if image_shape else "source neuron"
            if image_shape:  # square pixels: fields are images
                side = 440
                w = int(side * lev.shape[1] / max(lev.shape)) + 100
                h = int(side * lev.shape[0] / max(lev.shape)) + 70
                self.figure.layout.width, self.figure.layout.height = f"{w}px", f"{h}px"
            else:
                self.figure.layout.width, self.figure.layout.height = "100%", self._height
        self.image.show(encode_png(lev, self._pal, transparent=False))
        if self.figure.title != title:
            self.figure.title = title
        self.frames += 1


class DiagramView:
    """The network as a graph: layers (circles sized by neuron count), connections
    (arrows; learning ones red). ``on_select(layer_name)`` is called on a click."""

    def __init__(self, on_select=None, height: str = "260px") -> None:
        self.on_select = on_select
        self.link_scale = bq.ColorScale(colors=["#999999", "#d62728"], min=0.0, max=1.0)
        self.graph = self._new_graph()
        self.figure = bq.Figure(marks=[self.graph], title="Network (click a layer to view it)",
                                fig_margin=dict(top=30, bottom=10, left=10, right=10),
                                layout=widgets.Layout(width="100%", height=height), animation_duration=0)
        self.figure.add_class("snnlab-diagram")
        self.names: list = []

    def _new_graph(self):
        graph = bq.Graph(node_data=[], link_data=[], link_type="arc", directed=True, charge=-400,
                         preserve_domain={"link_color": True},
                         link_distance=110, colors=LAYER_COLORS, scales={"link_color": self.link_scale},
                         interactions={"click": "select"}, selected_style={"stroke": "orange", "stroke-width": "4"})
        graph.observe(self._clicked, names="selected")
        return graph

    def set_network(self, layers: Sequence[tuple], connections: Sequence[tuple]) -> None:
        """``layers``: (name, n, model); ``connections``: (source, target, learning: bool)."""
        self.names = [name for name, _, _ in layers]
        biggest = max([n for _, n, _ in layers] or [1])
        recurrent = {s for s, t, _ in connections if s == t}  # self-links are not drawn: marked in the label
        nodes = [{"label": f"{name} \u21ba" if name in recurrent else name, "shape": "circle",
                  "label_display": "outside", "shape_attrs": {"r": 10 + 20 * math.sqrt(n / biggest)},
                  "tooltip": f"{name}: {n} {model}"} for name, n, model in layers]
        index = {name: i for i, name in enumerate(self.names)}
        # A link's value picks its colour: 1 learning (red), 0 fixed (grey).
        links = [{"source": index[s], "target": index[t], "value": 1.0 if learn else 0.0}
                 for s, t, learn in connections if s != t]
        # A new mark for a new network: the page keeps a Graph's old labels otherwise.
        self.graph = self._new_graph()
        with self.graph.hold_sync():
            self.graph.node_data = nodes
            self.graph.link_data = links
            self.graph.colors = [LAYER_COLORS[i % len(LAYER_COLORS)] for i in range(len(nodes))]
            self.graph.selected = None
        self.figure.marks = [self.graph]
        self.learning_links = [(s, t) for s, t, learn in connections if learn]

    def _clicked(self, change) -> None:
        sel = change["new"]
        if sel is None or len(sel) == 0 or self.on_select is None:
            return
        i = int(sel[0])
        if 0 <= i < len(self.names):
            self.on_select(self.names[i])
