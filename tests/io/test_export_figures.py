"""Figures that stay readable and light at any run length (snnlab.io.figures)."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from snnlab.io.figures import (  # noqa: E402
    COLUMN_WIDTHS,
    minmax_decimate,
    rate_figure,
    raster_figure,
    recording_figures,
    save_figure,
    spike_density,
    voltage_figure,
)
from snnlab.recording import LayerRecording, Recording  # noqa: E402


def _recording(steps: int, n_in: int = 100, n_out: int = 1000, p_in: float = 0.1, p_out: float = 0.011,
               dt: float = 1.0, traced: int = 5, seed: int = 0) -> Recording:
    rng = np.random.default_rng(seed)
    a = rng.random((steps, n_in), dtype=np.float32) < p_in
    b = rng.random((steps, n_out), dtype=np.float32) < p_out
    v = (-65.0 + 12.0 * rng.random((steps, traced), dtype=np.float32)).astype(np.float32)
    return Recording(dt=dt, layers={
        "A": LayerRecording("A", (n_in,), "Input", a),
        "B": LayerRecording("B", (n_out,), "LIFNodes", b, v, np.arange(traced), -52.0),
    })


def _size(fig, fmt: str) -> int:
    buf = io.BytesIO()
    save_figure(fig, buf, format=fmt)
    return buf.tell()


def test_spike_density_counts_every_spike_in_its_bin():
    rng = np.random.default_rng(1)
    s = rng.random((1003, 37)) < 0.05
    counts, k_t, k_n = spike_density(s, 100, 10)
    assert (k_t, k_n) == (11, 4)
    assert counts.shape == (10, 92)
    assert counts.sum() == s.sum()
    assert counts[2, 5] == s[55:66, 8:12].sum()
    assert counts[-1, -1] == s[1001:, 36:].sum()  # the smaller last bins


def test_minmax_decimation_keeps_a_one_step_spike_and_the_reset():
    t = np.arange(200_000, dtype=float)
    v = np.full(200_000, -60.0)
    v[123_457] = -40.0  # one step at the top
    v[123_458] = -70.0  # and the reset right after
    t_d, v_d = minmax_decimate(t, v, 500)
    assert len(v_d) <= 1000
    assert v_d.max() == -40.0 and v_d.min() == -70.0
    assert t_d[np.argmax(v_d)] == 123_457.0
    assert np.all(np.diff(t_d) >= 0)  # still in time order
    # plain subsampling to the same number of points would lose the spike
    assert v[:: len(v) // 1000].max() == -60.0


def test_sparse_raster_draws_ticks_dense_raster_switches_to_density_with_a_colour_bar():
    sparse = _recording(500, p_in=0.01, p_out=0.002)
    fig = raster_figure(sparse)
    assert fig.snnlab_modes == ["dots", "dots"]
    dense = _recording(60_000, n_out=1000)  # a minute of the seed network's rates
    fig = raster_figure(dense)
    assert fig.snnlab_modes == ["density", "density"]
    images = [ax.images for ax in fig.axes if ax.images]
    assert len(images) == 2
    colorbars = [ax for ax in fig.axes if ax.get_ylabel().startswith("Spikes / bin")]
    assert len(colorbars) == 2 and "ms x" in colorbars[1].get_ylabel()
    # density counts equal the spikes drawn
    assert images[1][0].get_array().sum() == dense.layers["B"].spikes.sum()
    assert raster_figure(dense, mode="dots").snnlab_modes == ["dots", "dots"]


def test_every_figure_file_stays_under_5_mb_for_a_long_run():
    rec = _recording(200_000, n_in=100, n_out=500, p_out=0.02, traced=5)
    for name, fig in recording_figures(rec).items():
        for fmt in ("png", "svg", "pdf"):
            size = _size(fig, fmt)
            assert size < 5 * 1024**2, (name, fmt, size)


def test_svg_of_many_ticks_keeps_axes_and_text_vector_and_ticks_rasterized():
    rec = _recording(2_000, n_in=50, n_out=200, p_in=0.05, p_out=0.02)
    fig = raster_figure(rec, mode="dots")
    buf = io.BytesIO()
    save_figure(fig, buf, format="svg")
    svg = buf.getvalue().decode()
    assert "<image" in svg  # the ticks, as one embedded image per panel
    assert "<text" in svg and "Time (ms)" in svg  # text stays text
    assert svg.count("<path") < 500  # not one element per spike
    assert len(svg) < 2 * 1024**2


def test_units_on_every_axis_and_seconds_for_long_runs():
    short, long = _recording(2_000), _recording(12_000)
    for rec, unit in ((short, "ms"), (long, "s")):
        for name, fig in recording_figures(rec).items():
            labelled = [ax for ax in fig.axes if ax.get_ylabel()]
            assert labelled, name
            for ax in labelled:
                label = ax.get_ylabel()
                assert "(" in label and ")" in label, (name, label)
            bottom = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
            assert f"Time ({unit})" in bottom, (name, bottom)
    assert rate_figure(long).axes[0].get_xlim()[1] == pytest.approx(12.0)


@pytest.mark.parametrize("make", [voltage_figure, rate_figure])
@pytest.mark.parametrize("width", ["one", "two"])
def test_legends_never_cover_data(make, width):
    fig = make(_recording(1_000, traced=3), width=width)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), (make.__name__, width)


def test_column_widths_and_style_sheets_apply():
    rec = _recording(500)
    assert raster_figure(rec, width="one").get_figwidth() == COLUMN_WIDTHS["one"] == 3.5
    assert rate_figure(rec, width=5.0).get_figwidth() == 5.0
    fig = rate_figure(rec, style={"font.size": 11, "axes.labelsize": 11})
    assert fig.axes[0].yaxis.label.get_fontsize() == 11
    fig = rate_figure(rec, style="ggplot")
    assert fig.axes[0].get_facecolor()[:3] != (1.0, 1.0, 1.0)
    assert _size(fig, "pdf") > 0  # the style is used when saving too


def test_voltage_figure_of_a_long_run_keeps_every_spike_peak():
    rec = _recording(100_000, traced=2)
    v = rec.layers["B"].voltages
    v[:, 0] = -60.0
    v[77_777, 0] = -52.5
    fig = voltage_figure(rec)
    line = fig.axes[0].lines[0]
    assert len(line.get_ydata()) <= 4000
    assert max(line.get_ydata()) == pytest.approx(-52.5)


def test_a_window_and_a_neuron_subset_draw_only_that():
    rec = _recording(3_000)
    sub = rec.window(1000, 2000, layers=["B"], neurons={"B": range(100, 300)})
    fig = raster_figure(sub)
    assert len([ax for ax in fig.axes if ax.get_ylabel().endswith("(index)")]) == 1
    assert fig.axes[0].get_xlim() == pytest.approx((1000.0, 2000.0))
    assert fig.axes[0].get_ylim() == pytest.approx((-0.5, 199.5))


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_recordings_shorter_than_a_rate_bin_still_draw(steps):
    rec = _recording(steps)
    figs = recording_figures(rec)
    for fig in figs.values():
        assert _size(fig, "png") > 0
    assert rate_figure(rec).snnlab_bin_ms == 10.0


def test_bad_arguments_are_named():
    rec = _recording(100)
    with pytest.raises(ValueError, match="width: 'three'"):
        raster_figure(rec, width="three")
    with pytest.raises(ValueError, match="mode: 'pixels'"):
        raster_figure(rec, mode="pixels")
    with pytest.raises(ValueError, match=r"layers: \['Z'\]"):
        rate_figure(rec, layers=["Z"])
    with pytest.raises(ValueError, match="style: 'no-such-style'"):
        rate_figure(rec, style="no-such-style")
    with pytest.raises(ValueError, match="max_traces: 0"):
        voltage_figure(rec, max_traces=0)
    with pytest.raises(ValueError, match="bin_ms: -1"):
        rate_figure(rec, bin_ms=-1)
    with pytest.raises(TypeError, match="snnlab.recording.Recording"):
        raster_figure({"A": np.zeros((3, 3), bool)})


def test_one_thread_at_a_time_draws_in_snnlab_style():
    """rcParams are global: a second thread waits while one draws in the style."""
    import threading

    import matplotlib

    from snnlab.io import figures

    inside, leave = threading.Event(), threading.Event()

    def draw():
        with figures.figure_style({"font.size": 17}):
            inside.set()
            assert leave.wait(30)

    t = threading.Thread(target=draw)
    t.start()
    assert inside.wait(30)
    try:
        assert matplotlib.rcParams["font.size"] == 17
        assert not figures._STYLE_LOCK.acquire(blocking=False)  # another thread would wait here
    finally:
        leave.set()
        t.join(30)
    assert figures._STYLE_LOCK.acquire(blocking=False)
    figures._STYLE_LOCK.release()
    assert matplotlib.rcParams["font.size"] != 17
