"""The lab's live plots: spike rasters, voltage traces and population rate (bqplot).

Built from bqplot's object model; every mark is made once per ``LabPlots`` and
updated in place under ``hold_sync`` with float32/int32 arrays (they travel as
binary buffers).

Rasters are images, not one SVG element per spike: a run of 10,000 neurons
over 1,000 ms at ~20 Hz has 200,000 spikes, far more than an SVG (or a
screen) can show. Spikes are counted into at most ``max_rows`` x
``max_cols`` pixels (neurons x time bins, about the plot's size on screen), a
pixel's opacity grows with the fraction of its neuron-steps that spiked, and
each frame sends one small PNG. The cost of a frame is fixed by the image
size, not by the number of spikes, and where a pixel holds one neuron and one
step the raster is exact. (``bqplot-gl``'s ScatterGL would resend every spike's
coordinates each frame and needs WebGL in the browser.)

bqplot's ``Image`` mark redraws when its ``image`` trait changes, not when the
``ipywidgets.Image``'s bytes do, so each raster has two image widgets and
swaps them: fill the hidden one, then point the mark at it.
"""

from __future__ import annotations

import io
from typing import Sequence

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from PIL import Image as PILImage

__all__ = ["RasterImage", "VoltagePlot", "RatePlot", "LabPlots", "encode_png"]

#: Colours (RGB) of the layers and traces.
INPUT_RGB = (31, 119, 180)
OUTPUT_RGB = (20, 20, 20)
TRACE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

# A 1x1 transparent PNG for empty rasters.
_EMPTY_PNG = None


def palette(rgb) -> bytes:
    """A 256-entry PNG palette from white (index 0) to ``rgb`` (index 255)."""
    ramp = np.arange(256, dtype=np.float64)[:, None] / 255.0
    pal = np.round(255.0 + ramp * (np.asarray(rgb, dtype=np.float64)[None, :] - 255.0))
    return pal.astype(np.uint8).tobytes()


def encode_png(levels: np.ndarray, pal: bytes) -> bytes:
    """PNG bytes of an ``[H, W]`` uint8 image of palette indices; index 0 is transparent.

    One byte per pixel and zlib level 1: four times faster than RGBA, and
    frames are many.
    """
    img = PILImage.fromarray(levels, "P")
    img.putpalette(pal)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1, transparency=0)
    return buf.getvalue()


def _empty_png() -> bytes:
    global _EMPTY_PNG
    if _EMPTY_PNG is None:
        _EMPTY_PNG = encode_png(np.zeros((1, 1), dtype=np.uint8), palette((0, 0, 0)))
    return _EMPTY_PNG


def time_ticks(t_end: float, most: int = 7) -> np.ndarray:
    """Round tick positions (ms) from 0 to ``t_end``: steps of 1, 2 or 5 x 10^k."""
    if t_end <= 0:
        return np.zeros(1, np.float32)
    raw = t_end / (most - 1)
    mag = 10.0 ** np.floor(np.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return (np.arange(0.0, t_end + step * 1e-6, step)).astype(np.float32)


def _set_time_axis(figure, t_end: float) -> None:
    # Explicit ticks: the page's own pick may sit off the round numbers.
    figure.axes[0].tick_values = time_ticks(t_end)


def _figure(marks, x_scale, y_scale, x_label, y_label, title, height="220px", y_format=".0f"):
    ax_x = bq.Axis(scale=x_scale, label=x_label, num_ticks=6, tick_format="d")
    ax_y = bq.Axis(scale=y_scale, label=y_label, side="left", num_ticks=5, tick_format=y_format)
    return bq.Figure(
        padding_x=0.0,
        padding_y=0.0,
        marks=marks,
        axes=[ax_x, ax_y],
        title=title,
        fig_margin=dict(top=30, bottom=40, left=60, right=15),
        layout=widgets.Layout(width="100%", height=height),
        animation_duration=0,
        legend_location="top-right",
    )


class RasterImage:
    """A spike raster drawn as an image, filled in as the run goes.

    Parameters
    ----------
    title : str
    rgb : tuple of 3 int
        Colour of the spikes.
    max_rows, max_cols : int
        Largest image size, pixels: neurons beyond ``max_rows`` share a row,
        steps beyond ``max_cols`` share a column. 256 rows is more than the
        plot's height on screen; encoding the PNG is most of a frame's cost.
    """

    def __init__(self, title: str, rgb=OUTPUT_RGB, *, max_rows: int = 256, max_cols: int = 1000,
                 height: str = "220px") -> None:
        self.rgb = tuple(int(c) for c in rgb)
        self._palette = palette(self.rgb)
        self.max_rows = int(max_rows)
        self.max_cols = int(max_cols)
        self.x_scale = bq.LinearScale(min=0.0, max=1.0)
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self._buffers = [widgets.Image(value=_empty_png(), format="png") for _ in range(2)]
        self._front = 0
        self.mark = bq.Image(
            image=self._buffers[0], x=np.array([0.0, 1.0], dtype=np.float32),
            y=np.array([0.0, 1.0], dtype=np.float32),
            scales={"x": self.x_scale, "y": self.y_scale},
        )
        self.figure = _figure([self.mark], self.x_scale, self.y_scale, "time (ms)", "neuron", title, height,
                              y_format="d")
        self.frames = 0
        self.reset(1, 1, 1.0)

    def reset(self, n_neurons: int, n_steps: int, dt: float) -> None:
        """Clear the raster for a run of ``n_steps`` steps of ``dt`` ms over ``n_neurons``."""
        self.n_neurons, self.n_steps, self.dt = int(n_neurons), int(n_steps), float(dt)
        self.rows = min(self.n_neurons, self.max_rows)
        self.cols = min(self.n_steps, self.max_cols)
        self._row_of = (np.arange(self.n_neurons, dtype=np.int64) * self.rows) // self.n_neurons
        self._col_of = (np.arange(self.n_steps, dtype=np.int64) * self.cols) // self.n_steps
        # Neuron-steps per pixel, to turn counts into a fraction.
        cap = np.outer(np.bincount(self._row_of, minlength=self.rows),
                       np.bincount(self._col_of, minlength=self.cols))
        self._inv_capacity = (1.0 / cap).astype(np.float32)
        self.counts = np.zeros((self.rows, self.cols), dtype=np.int32)
        self._levels = np.zeros((self.rows, self.cols), dtype=np.uint8)
        self._dirty = None  # (first, last) column changed since the last levels()
        self.drawn_steps = 0
        self.spikes_added = 0
        t_end = self.n_steps * self.dt
        with self.mark.hold_sync(), self.x_scale.hold_sync(), self.y_scale.hold_sync():
            self.x_scale.min, self.x_scale.max = 0.0, float(t_end)
            # Row i spans [i, i + 1): the axis reads 0 .. n, like a neuron count.
            self.y_scale.min, self.y_scale.max = 0.0, float(self.n_neurons)
            self.mark.x = np.array([0.0, t_end], dtype=np.float32)
            self.mark.y = np.array([0.0, self.n_neurons], dtype=np.float32)
        _set_time_axis(self.figure, t_end)
        self._show(_empty_png())

    def add(self, spikes: np.ndarray, start: int) -> None:
        """Count ``spikes`` (bool ``[k, n_neurons]``, steps ``start .. start+k-1``)."""
        t, i = np.nonzero(spikes)
        k = spikes.shape[0]
        if len(t):
            # In place: a frame costs its new spikes, not the whole image.
            np.add.at(self.counts.reshape(-1), self._row_of[i] * self.cols + self._col_of[t + start], 1)
            self.spikes_added += len(t)
        if k:
            first = self._col_of[start]
            last = self._col_of[start + k - 1]
            self._dirty = (first if self._dirty is None else min(self._dirty[0], first),
                           last if self._dirty is None else max(self._dirty[1], last))
        self.drawn_steps = max(self.drawn_steps, start + k)

    def levels(self) -> np.ndarray:
        """The raster as ``[rows, cols]`` uint8 palette indices (0: no spike, 255: all
        neuron-steps of the pixel spiked), neuron 0 at the bottom."""
        if self._dirty is not None:
            a, b = self._dirty[0], self._dirty[1] + 1  # only the columns that changed
            frac = self.counts[:, a:b].astype(np.float32) * self._inv_capacity[:, a:b]
            # sqrt: a lone spike in a crowded pixel stays visible; >= 1 for any spike.
            self._levels[:, a:b] = np.ceil(np.sqrt(np.minimum(frac, 1.0)) * 255.0)
            self._dirty = None
        return self._levels[::-1]

    def draw(self) -> None:
        """Send the current raster to the page (one PNG)."""
        self._show(encode_png(self.levels(), self._palette))
        self.frames += 1

    def _show(self, png: bytes) -> None:
        back = 1 - self._front
        self._buffers[back].value = png
        self.mark.image = self._buffers[back]
        self._front = back


class VoltagePlot:
    """Voltage traces (mV) of chosen neurons, with the threshold as a dashed line."""

    def __init__(self, *, max_points: int = 1000, height: str = "220px") -> None:
        self.max_points = int(max_points)
        self.x_scale = bq.LinearScale(min=0.0, max=1.0)
        # Limits set from the data here: steadier than the page's autoscale.
        self.y_scale = bq.LinearScale(min=-70.0, max=-50.0)
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.thresh = -52.0
        self.traces = bq.Lines(x=np.zeros(0, np.float32), y=np.zeros((1, 0), np.float32),
                               scales=scales, colors=TRACE_COLORS, stroke_width=1.2, labels=[])
        self.threshold = bq.Lines(x=np.zeros(2, np.float32), y=np.zeros(2, np.float32), scales=scales,
                                  colors=["#d62728"], line_style="dashed", stroke_width=1.5,
                                  labels=["threshold"])
        # The neurons are named in the title: a legend would cover the traces.
        self.figure = _figure([self.traces, self.threshold], self.x_scale, self.y_scale,
                              "time (ms)", "voltage (mV)", "Output voltages", height)

    def reset(self, n_steps: int, dt: float, thresh: float) -> None:
        t_end = float(n_steps * dt)
        self.thresh = float(thresh)
        with self.threshold.hold_sync():
            self.threshold.x = np.array([0.0, t_end], dtype=np.float32)
            self.threshold.y = np.array([thresh, thresh], dtype=np.float32)
        with self.traces.hold_sync():
            self.x_scale.min, self.x_scale.max = 0.0, t_end
            self.traces.x = np.zeros(0, np.float32)
            self.traces.y = np.zeros((1, 0), np.float32)
        _set_time_axis(self.figure, t_end)

    @staticmethod
    def title(traced: Sequence[int]) -> str:
        shown = ", ".join(str(i) for i in list(traced)[:8]) + (", ..." if len(traced) > 8 else "")
        return f"Output voltages of neurons {shown} (dashed: threshold)" if traced else "Output voltages"

    def update(self, voltages: np.ndarray, steps_done: int, dt: float, traced: Sequence[int]) -> None:
        """Show ``voltages[:steps_done, traced]`` (``voltages``: ``[n_steps, n]`` mV)."""
        traced = list(traced)
        stride = max(1, -(-steps_done // self.max_points))
        x = (np.arange(0, steps_done, stride) * dt).astype(np.float32)
        if traced:
            # Rows by a slice (a view), then the few traced columns: never a
            # copy of every neuron's voltage (40 MB at 10,000 x 1,000).
            y = np.ascontiguousarray(voltages[0:steps_done:stride][:, traced].T, dtype=np.float32)
        else:
            y = np.zeros((1, 0), np.float32)
            x = np.zeros(0, np.float32)
        lo, hi = self.thresh, self.thresh
        if y.size:
            lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))
        margin = max(1.0, 0.05 * (hi - lo))
        # One message per widget: the mark's and the scale's changes each batched.
        with self.traces.hold_sync(), self.y_scale.hold_sync():
            self.traces.x = x
            self.traces.y = y
            self.traces.labels = [f"neuron {i}" for i in traced]
        title = self.title(traced)
        if self.figure.title != title:
            self.figure.title = title
            self.y_scale.min, self.y_scale.max = lo - margin, hi + margin


class RatePlot:
    """Population firing rate of the output layer (Hz) in time bins."""

    def __init__(self, *, max_bins: int = 250, height: str = "180px") -> None:
        self.max_bins = int(max_bins)
        self.x_scale = bq.LinearScale(min=0.0, max=1.0)
        self.y_scale = bq.LinearScale(min=0.0, max=1.0)
        self.line = bq.Lines(x=np.zeros(0, np.float32), y=np.zeros(0, np.float32),
                             scales={"x": self.x_scale, "y": self.y_scale}, colors=["#2ca02c"],
                             stroke_width=1.5)
        self.figure = _figure([self.line], self.x_scale, self.y_scale, "time (ms)", "rate (Hz)",
                              "Output population rate", height)
        self.bin_steps = 1

    def reset(self, n_steps: int, dt: float) -> None:
        self.bin_steps = max(1, -(-n_steps // self.max_bins))
        with self.line.hold_sync():
            self.x_scale.min, self.x_scale.max = 0.0, float(n_steps * dt)
            self.y_scale.max = 1.0
            self.line.x = np.zeros(0, np.float32)
            self.line.y = np.zeros(0, np.float32)
        _set_time_axis(self.figure, n_steps * dt)

    def rate(self, spike_counts: np.ndarray, steps_done: int, n_neurons: int, dt: float):
        """Bin centres (ms) and rates (Hz) of the complete bins so far (and the partial last one)."""
        b = self.bin_steps
        n_bins = -(-steps_done // b)
        counts = spike_counts[:steps_done].astype(np.float64)
        padded = np.zeros(n_bins * b)
        padded[:steps_done] = counts
        sums = padded.reshape(n_bins, b).sum(axis=1)
        widths = np.full(n_bins, b, dtype=np.float64)
        if n_bins:
            widths[-1] = steps_done - (n_bins - 1) * b
        hz = sums / (n_neurons * widths * dt / 1000.0)
        centres = (np.arange(n_bins) * b + widths / 2.0) * dt
        return centres.astype(np.float32), hz.astype(np.float32)

    def update(self, spike_counts: np.ndarray, steps_done: int, n_neurons: int, dt: float) -> None:
        x, y = self.rate(spike_counts, steps_done, n_neurons, dt)
        with self.line.hold_sync(), self.y_scale.hold_sync():
            self.line.x = x
            self.line.y = y
            self.y_scale.max = max(1.0, float(y.max()) * 1.1) if y.size else 1.0


class LabPlots:
    """All the lab's plots, fed from a run's data (``snnlab.lab.controller.RunData``)."""

    def __init__(self, *, max_rows: int = 256, max_cols: int = 1000) -> None:
        self.input_raster = RasterImage("Input layer A: spikes", INPUT_RGB, max_rows=max_rows,
                                        max_cols=max_cols, height="170px")
        self.output_raster = RasterImage("Output layer B: spikes", OUTPUT_RGB, max_rows=max_rows,
                                         max_cols=max_cols, height="260px")
        self.voltage = VoltagePlot()
        self.rate = RatePlot()
        # Classes for pages and tests to find each plot.
        for view, cls in ((self.input_raster, "input-raster"), (self.output_raster, "output-raster"),
                          (self.voltage, "voltage"), (self.rate, "rate")):
            view.figure.add_class(f"snnlab-{cls}")
        self.frames = 0
        self.traced: list[int] = []
        self._data = None

    @property
    def figures(self) -> list:
        return [self.input_raster.figure, self.output_raster.figure, self.voltage.figure, self.rate.figure]

    def reset(self, config) -> None:
        """Clear every plot for a run of ``config`` (a ``LabConfig``)."""
        self._data = None
        self.input_raster.reset(config.n_input, config.n_steps, config.dt)
        self.output_raster.reset(config.n_output, config.n_steps, config.dt)
        self.voltage.reset(config.n_steps, config.dt, config.thresh)
        self.rate.reset(config.n_steps, config.dt)
        self.traced = list(config.traced)

    def update(self, data) -> None:
        """Draw one frame: the new spikes since the last frame, and the lines up to now."""
        if self._data is not data:
            self.reset(data.config)
            self._data = data
        k = data.steps_done
        for raster, spikes in ((self.input_raster, data.input_spikes), (self.output_raster, data.output_spikes)):
            start = raster.drawn_steps
            if k > start:
                raster.add(spikes[start:k], start)
            raster.draw()
        cfg = data.config
        self.voltage.update(data.voltages, k, cfg.dt, [i for i in self.traced if i < cfg.n_output])
        self.rate.update(data.spike_counts, k, cfg.n_output, cfg.dt)
        self.frames += 1

    def set_traced(self, traced: Sequence[int]) -> None:
        """Choose the traced neurons; redraws the traces if a run's data is shown."""
        self.traced = list(traced)
        data = self._data
        if data is not None:
            self.voltage.update(data.voltages, data.steps_done, data.config.dt,
                                [i for i in self.traced if i < data.config.n_output])
