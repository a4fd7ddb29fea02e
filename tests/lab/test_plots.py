"""The bqplot views, fed synthetic spikes (no simulation)."""

import io

import numpy as np
import pytest
from PIL import Image

from snnlab.config import LabConfig
from snnlab.lab.controller import RunData
from snnlab.lab.plots import LabPlots, RasterImage, RatePlot


def decode(png: bytes) -> np.ndarray:
    """Palette indices of a raster PNG, row 0 = top."""
    img = Image.open(io.BytesIO(png))
    assert img.mode == "P"
    return np.array(img)


def test_raster_is_exact_when_a_pixel_is_one_neuron_step():
    r = RasterImage("t", max_rows=400, max_cols=1000)
    r.reset(n_neurons=50, n_steps=80, dt=0.5)
    rng = np.random.default_rng(0)
    spikes = rng.random((80, 50)) < 0.1
    r.add(spikes[:30], 0)
    r.add(spikes[30:], 30)
    r.draw()
    levels = decode(r.mark.image.value)
    assert levels.shape == (50, 80)
    # neuron 0 at the bottom row; a spike is full colour, no spike transparent (0)
    np.testing.assert_array_equal(levels[::-1].T > 0, spikes)
    assert set(np.unique(levels)) <= {0, 255}
    assert r.mark.x.tolist() == [0.0, 40.0]  # 80 steps of 0.5 ms
    assert r.mark.x.dtype == np.float32


def test_raster_decimates_large_layers_without_losing_spikes():
    r = RasterImage("t", max_rows=400, max_cols=1000)
    r.reset(n_neurons=10_000, n_steps=2000, dt=1.0)
    spikes = np.zeros((2000, 10_000), dtype=bool)
    spikes[1999, 9999] = True  # a lone spike in the last pixel
    spikes[0, :25] = True  # a full pixel: 25 neurons x 2 steps, half of its neuron-steps
    r.add(spikes, 0)
    r.draw()
    levels = decode(r.mark.image.value)[::-1]
    assert levels.shape == (400, 1000)
    assert levels[399, 999] > 0  # still visible
    assert levels[0, 0] == 181  # sqrt(0.5) * 255, rounded up
    assert np.count_nonzero(levels) == 2


def test_raster_swaps_image_widgets_each_frame():
    r = RasterImage("t")
    r.reset(5, 10, 1.0)
    first = r.mark.image
    r.add(np.ones((2, 5), bool), 0)
    r.draw()
    second = r.mark.image
    r.add(np.ones((2, 5), bool), 2)
    r.draw()
    assert second is not first and r.mark.image is first  # the mark's trait changed: the page redraws
    assert decode(r.mark.image.value)[::-1][:, :4].all()


def test_rate_plot_bins_in_hz():
    p = RatePlot(max_bins=10)
    p.reset(n_steps=100, dt=1.0)
    counts = np.full(100, 5, dtype=np.int32)  # 5 spikes per ms in 100 neurons = 50 Hz
    x, y = p.rate(counts, 95, n_neurons=100, dt=1.0)
    assert len(x) == 10
    np.testing.assert_allclose(y, 50.0)
    assert x[0] == pytest.approx(5.0) and x[-1] == pytest.approx(92.5)  # last bin partial


def test_lab_plots_follow_the_run_data():
    cfg = LabConfig(n_input=20, n_output=300, time=120.0, traced=(2, 7))
    data = RunData.allocate(cfg)
    rng = np.random.default_rng(1)
    data.input_spikes[:] = rng.random(data.input_spikes.shape) < 0.1
    data.output_spikes[:] = rng.random(data.output_spikes.shape) < 0.02
    data.voltages[:] = rng.normal(-60, 3, data.voltages.shape).astype(np.float32)
    data.spike_counts[:] = data.output_spikes.sum(1)
    plots = LabPlots()
    for k in (40, 80, 120):
        data.steps_done = k
        plots.update(data)
        assert plots.output_raster.counts.sum() == data.output_spikes[:k].sum()
        assert plots.voltage.traces.y.shape == (2, k)
    np.testing.assert_array_equal(plots.voltage.traces.y, data.voltages[:, [2, 7]].T)
    assert plots.voltage.traces.y.dtype == np.float32
    assert plots.voltage.threshold.y.tolist() == [-52.0, -52.0]
    assert plots.voltage.traces.labels == ["neuron 2", "neuron 7"]
    assert plots.frames == 3
    plots.set_traced([5])
    np.testing.assert_array_equal(np.atleast_2d(plots.voltage.traces.y), data.voltages[:, [5]].T)


def test_time_axis_ticks_are_round():
    from snnlab.lab.plots import time_ticks

    assert time_ticks(500.0).tolist() == [0, 100, 200, 300, 400, 500]
    assert time_ticks(30000.0).tolist() == [0, 5000, 10000, 15000, 20000, 25000, 30000]
    assert len(time_ticks(7.0)) <= 7
