"""Tests for snnlab.analysis.plotting: BindsNET-compatible plots and export figures."""

import re
import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from snnlab.analysis.plotting import (  # noqa: E402
    plot_spikes,
    plot_voltages,
    plot_weights,
    population_rate,
    raster_figure,
    rate_figure,
    save_figure,
    voltage_figure,
)

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _spikes(T=200, B=1, n=30, p=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, n, generator=g) < p


# ---------------------------------------------------------------- plot_spikes


def test_plot_spikes_draws_every_spike_at_its_time_in_ms():
    s = _spikes()
    ims, axes = plot_spikes({"A": s, "B": s[:, :, :10]}, dt=0.5)
    assert len(ims) == 2 and len(axes) == 2
    offsets = ims[0].get_offsets()
    steps, neurons = np.nonzero(s[:, 0].numpy())
    assert len(offsets) == len(steps) == int(s.sum())
    np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(steps * 0.5))
    assert axes[-1].get_xlabel() == "Time (ms)"
    assert "neuron" in axes[0].get_ylabel()
    assert axes[0].get_xlim() == (0.0, 100.0)


def test_plot_spikes_accepts_time_by_neuron_and_ranges():
    s = _spikes()[:, 0]  # [T, n], as in the seed script's input data
    ims, axes = plot_spikes({"A": s}, time=(50, 100), n_neurons={"A": (5, 15)})
    xy = ims[0].get_offsets()
    expected = int(s[50:100, 5:15].sum())
    assert len(xy) == expected > 0
    assert xy[:, 0].min() >= 50 and xy[:, 0].max() < 100
    assert xy[:, 1].min() >= 5 and xy[:, 1].max() < 15


def test_plot_spikes_redraws_in_place():
    s1, s2 = _spikes(seed=1), _spikes(seed=2, p=0.2)
    ims, axes = plot_spikes({"A": s1})
    fig = axes[0].figure
    ims2, axes2 = plot_spikes({"A": s2}, ims=ims, axes=axes)
    assert ims2[0] is ims[0] and axes2[0].figure is fig
    assert len(ims[0].get_offsets()) == int(s2.sum())


def test_plot_spikes_picks_the_batch_sample():
    s = torch.zeros(10, 2, 4, dtype=torch.bool)
    s[3, 1, 2] = True
    ims, _ = plot_spikes({"A": s}, sample=1)
    np.testing.assert_array_equal(ims[0].get_offsets(), [[3.0, 2.0]])
    ims, _ = plot_spikes({"A": s}, sample=0)
    assert len(ims[0].get_offsets()) == 0


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(spikes=[1, 2]), TypeError, "dict"),
        (dict(spikes={}), ValueError, "empty"),
        (dict(spikes={"A": [[0, 1]]}), TypeError, "torch.Tensor"),
        (dict(spikes={"A": torch.zeros(5, 1, 3)}, sample=2), ValueError, "sample=2"),
        (dict(spikes={"A": torch.zeros(5, 3)}, time=(0, 9)), ValueError, "time"),
        (dict(spikes={"A": torch.zeros(5, 3)}, n_neurons={"C": (0, 1)}), ValueError, "'C'"),
        (dict(spikes={"A": torch.zeros(5, 3)}, dt=0), ValueError, "dt"),
    ],
)
def test_plot_spikes_rejects_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        plot_spikes(**kwargs)


# ---------------------------------------------------------------- plot_voltages


def test_plot_voltages_line_with_threshold():
    v = -65 + 12 * torch.rand(100, 1, 4)
    ims, axes = plot_voltages({"B": v}, plot_type="line", thresholds={"B": torch.tensor(-52.0)})
    lines = ims[0]
    assert len(lines) == 4
    np.testing.assert_allclose(lines[2].get_ydata(), v[:, 0, 2].numpy())
    threshold = ims[1]
    assert threshold.get_ydata()[0] == pytest.approx(-52.0)
    assert axes[0].get_ylabel() == "B: voltage (mV)"
    assert axes[0].get_xlabel() == "Time (ms)"


def test_plot_voltages_color_is_neuron_by_time_and_redraws():
    v = -65 + 12 * torch.rand(80, 1, 6)
    ims, axes = plot_voltages({"B": v})
    np.testing.assert_allclose(ims[0].get_array(), v[:, 0].numpy().T)
    v2 = v - 1
    ims2, _ = plot_voltages({"B": v2}, ims=ims, axes=axes)
    assert ims2[0] is ims[0]
    np.testing.assert_allclose(ims[0].get_array(), v2[:, 0].numpy().T)
    cbar_labels = [ax.get_ylabel() for ax in axes[0].figure.axes]
    assert "Voltage (mV)" in cbar_labels


def test_plot_voltages_rejects_unknown_plot_type_and_thresholds():
    v = torch.zeros(5, 2)
    with pytest.raises(ValueError, match="plot_type"):
        plot_voltages({"B": v}, plot_type="bars")
    with pytest.raises(ValueError, match="thresholds"):
        plot_voltages({"B": v}, plot_type="line", thresholds={"X": -52.0})


# ---------------------------------------------------------------- plot_weights


def test_plot_weights_shows_matrix_and_saves(tmp_path):
    w = torch.rand(7, 9)
    im, name = plot_weights(w, title="A->B", save=tmp_path / "w.pdf")  # BindsNET: (im, numbered name)
    np.testing.assert_allclose(im.get_array(), w.numpy())
    assert im.get_clim() == (0.0, 1.0)
    assert (tmp_path / "w.pdf").read_bytes().startswith(b"%PDF-")
    assert name == str(tmp_path / "w.1.pdf") and (tmp_path / "w.1.pdf").read_bytes().startswith(b"%PDF-")
    assert plot_weights(w, save=name)[1] == str(tmp_path / "w.2.pdf")
    im2 = plot_weights(w * 2, wmin=None, wmax=None, im=im)
    assert im2 is im
    assert im.get_clim() == pytest.approx((float((w * 2).min()), float((w * 2).max())))


def test_plot_weights_rejects_non_matrix():
    with pytest.raises(ValueError, match="2-D"):
        plot_weights(torch.rand(3, 3, 3))


# ---------------------------------------------------------------- figures and files


def test_population_rate_in_hz():
    s = np.zeros((100, 4))
    s[::10] = 1  # each neuron spikes every 10 ms -> 100 Hz
    t, r = population_rate(s, dt=1.0, bin_ms=20.0)
    np.testing.assert_allclose(r, 100.0)
    np.testing.assert_allclose(t, [10, 30, 50, 70, 90])
    t, r = population_rate(s, dt=0.5, bin_ms=20.0)  # same rows, half the time step
    np.testing.assert_allclose(r, 200.0)
    with pytest.raises(ValueError, match="bin_ms"):
        population_rate(s, bin_ms=0)


def test_lab_figures_are_pyplot_free_and_labelled():
    before = plt.get_fignums()
    s = _spikes(n=50)
    figs = [
        raster_figure({"A": s, "B": s}, dt=1.0),
        voltage_figure(-65 + torch.rand(200, 1, 3), thresh=-52.0, reset=-65.0),
        rate_figure({"B": s}, bin_ms=5.0),
    ]
    assert plt.get_fignums() == before  # nothing left open in pyplot
    for fig in figs:
        assert isinstance(fig, Figure)
        assert any(ax.get_xlabel() == "Time (ms)" for ax in fig.axes)
        assert all(re.search(r"\(|neuron", ax.get_ylabel()) for ax in fig.axes)


def _vector_checks(path):
    data = path.read_bytes()
    if path.suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    elif path.suffix == ".pdf":
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        assert b"/Subtype /Image" not in data  # nothing rasterized
        assert b"FontFile2" in data  # TrueType text, editable
    else:
        root = ET.fromstring(data)
        assert root.tag == f"{SVG_NS}svg"
        assert root.find(f".//{SVG_NS}image") is None  # nothing rasterized
        texts = "".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))
        assert "Time (ms)" in texts  # text stays text


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_save_figure_writes_valid_files(tmp_path, suffix):
    s = _spikes(n=40, p=0.1)
    for name, fig in {
        "raster": raster_figure(s),
        "voltage": voltage_figure(-60 + torch.rand(200, 3), thresh=-52.0),
        "rate": rate_figure(s),
    }.items():
        path = tmp_path / f"{name}{suffix}"
        assert save_figure(fig, path) == str(path)
        _vector_checks(path)


def test_raster_svg_has_one_vector_mark_per_spike(tmp_path):
    def n_marks(spikes, name):
        save_figure(raster_figure(spikes), tmp_path / name)
        return len(list(ET.parse(tmp_path / name).getroot().iter(f"{SVG_NS}use")))

    s = torch.zeros(50, 5, dtype=torch.bool)
    empty = n_marks(s, "empty.svg")
    s[[3, 10, 20], [0, 2, 4]] = True
    assert n_marks(s, "three.svg") - empty == 3


def test_save_figure_rejects_unknown_format(tmp_path):
    fig = raster_figure(_spikes())
    with pytest.raises(ValueError, match="format"):
        save_figure(fig, tmp_path / "x.jpg")
    with pytest.raises(TypeError, match="Figure"):
        save_figure("not a figure", tmp_path / "x.png")
    assert not (tmp_path / "x.jpg").exists()
