"""Tests for snnlab.export: figure and data files of a lab run, browser downloads."""

import base64
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from snnlab.config import LabConfig
from snnlab.recording import LayerRecording, Recording
from snnlab.export import (
    FIGURE_NAMES,
    download_links,
    export_figures,
    export_recording,
    load_recording,
    recording_figures,
    save_recording,
)

SVG_NS = "{http://www.w3.org/2000/svg}"


def make_recording(steps=120, n_input=20, n_output=30, traced=(0, 3, 7), seed=0, completed=True):
    """A Recording with random activity, shaped as the lab makes them."""
    cfg = LabConfig(n_input=n_input, n_output=n_output, time=float(max(steps, 1)), traced=traced, seed=seed)
    rng = np.random.default_rng(seed)
    out = rng.random((steps, n_output)) < 0.03
    return Recording(
        dt=1.0,
        layers={
            "A": LayerRecording("A", (n_input,), "Input", rng.random((steps, n_input)) < 0.1),
            "B": LayerRecording("B", (n_output,), "LIFNodes", out,
                                (-65 + 13 * rng.random((steps, len(traced)))).astype(np.float32),
                                np.asarray(traced, dtype=np.int64), -52.0),
        },
        completed=completed,
        wall_time=0.25,
        experiment=cfg.to_dict(),
        changes=[(40, "input_rate", 50.0), (80, "inhibition", 0.1)],
    )


def check_file(path):
    data = path.read_bytes()
    if path.suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
    elif path.suffix == ".pdf":
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), path
        assert b"/Subtype /Image" not in data, f"{path} has a raster image: not pure vector"
    elif path.suffix == ".svg":
        root = ET.fromstring(data)
        assert root.tag == f"{SVG_NS}svg"
        assert root.find(f".//{SVG_NS}image") is None, f"{path} has a raster image"
        assert "Time (ms)" in "".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))


def test_export_recording_writes_every_file_and_they_open(tmp_path):
    rec = make_recording()
    written = export_recording(rec, tmp_path / "out")
    names = sorted(p.name for p in written)
    expected = sorted([f"{n}.{f}" for n in FIGURE_NAMES for f in ("png", "svg", "pdf")] + ["recording.npz", "config.json"])
    assert names == expected
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == expected  # no temp files left
    for p in written:
        if p.suffix in (".png", ".svg", ".pdf"):
            check_file(p)

    data = load_recording(tmp_path / "out" / "recording.npz")
    assert data.layer_names == ["A", "B"]
    for name in ("A", "B"):
        np.testing.assert_array_equal(data.spikes(name), rec.spikes(name))
        assert data.spikes(name).dtype == bool and data.layers[name].model == rec.layers[name].model
    np.testing.assert_array_equal(data.voltages("B"), rec.voltages("B"))
    np.testing.assert_array_equal(data.traced("B"), rec.traced("B"))
    np.testing.assert_array_equal(data.times, np.arange(120, dtype=np.float64))
    assert data.voltages("A") is None and data.voltages("B").dtype == np.float32
    assert data.dt == 1.0 and data.layers["B"].threshold == -52.0 and data.completed
    assert data.changes == [(40, "input_rate", 50.0), (80, "inhibition", 0.1)]
    assert LabConfig.from_dict(data.experiment) == LabConfig.from_dict(rec.experiment)

    loaded = LabConfig.from_json((tmp_path / "out" / "config.json").read_text())
    assert loaded == LabConfig.from_dict(rec.experiment)


def test_npz_needs_no_pickle(tmp_path):
    path = save_recording(make_recording(), tmp_path / "r.npz")
    with np.load(path, allow_pickle=False) as d:  # raises if any array were an object array
        assert all(d[k].dtype != object for k in d.files)


def test_figures_show_the_recording():
    rec = make_recording()
    figs = recording_figures(rec)
    assert list(figs) == list(FIGURE_NAMES)
    raster_axes = figs["raster"].axes
    assert [ax.get_ylabel() for ax in raster_axes] == ["A neuron (index)", "B neuron (index)"]
    assert len(raster_axes[1].collections[0].get_offsets()) == int(rec.spikes("B").sum())
    voltage_axes = figs["voltage"].axes
    assert [ax.get_ylabel() for ax in voltage_axes] == ["B[0] (mV)", "B[3] (mV)", "B[7] (mV)"]
    np.testing.assert_allclose(voltage_axes[1].get_lines()[0].get_ydata(), rec.voltages("B")[:, 1])
    assert [t.get_text() for t in voltage_axes[0].get_legend().get_texts()] == ["threshold"]
    assert figs["rate"].axes[0].get_ylabel() == "Population rate (Hz)"


def test_export_figures_subset_and_stopped_run(tmp_path):
    rec = make_recording(steps=37, traced=(), completed=False)  # stopped early, nothing traced
    written = export_figures(rec, tmp_path, formats="svg")
    assert [p.name for p in written] == ["raster.svg", "voltage.svg", "rate.svg"]
    for p in written:
        check_file(p)


def test_bad_arguments_write_nothing(tmp_path):
    rec = make_recording()
    with pytest.raises(ValueError, match="formats"):
        export_recording(rec, tmp_path / "a", formats=["png", "jpeg"])
    assert not (tmp_path / "a").exists()
    with pytest.raises(TypeError, match="Recording"):
        export_recording({"spikes": 1}, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        export_recording(rec, tmp_path / "file")
    with pytest.raises(ValueError, match=".npz"):
        save_recording(rec, tmp_path / "r.pickle")
    with pytest.raises(ValueError, match="window"):
        export_recording(rec, tmp_path / "c", window=(500, 600))  # after the end of a 120 ms run
    with pytest.raises(ValueError, match="layers"):
        export_recording(rec, tmp_path / "c", layers=["C"])
    with pytest.raises(ValueError, match="width"):
        export_recording(rec, tmp_path / "c", width="three")
    with pytest.raises(TypeError, match="progress"):
        export_recording(rec, tmp_path / "c", progress="yes")
    assert not (tmp_path / "c").exists()


def test_download_links_carry_the_files(tmp_path):
    pytest.importorskip("ipywidgets")
    written = export_recording(make_recording(), tmp_path, formats=["png"])
    widget = download_links(written)
    links = re.findall(r"<a download='([^']+)' href='data:([^;]+);base64,([^']+)'", widget.value)
    assert [name for name, _, _ in links] == [p.name for p in written]
    for (name, mime, data), path in zip(links, written):
        assert base64.b64decode(data) == path.read_bytes()
    assert dict((n, m) for n, m, _ in links)["raster.png"] == "image/png"
    assert "nothing exported" in download_links([]).value


def test_window_layers_and_neurons_apply_to_every_file(tmp_path):
    rec = make_recording(steps=300)
    written = export_recording(rec, tmp_path, formats=["svg", "nwb"], window=(100, 200), layers=["B"],
                               neurons={"B": range(10, 20)})
    assert [p.name for p in written][-3:] == ["recording.npz", "config.json", "recording.nwb"]
    data = load_recording(tmp_path / "recording.npz")
    assert data.layer_names == ["B"] and data.start_step == 100 and data.steps == 100
    np.testing.assert_array_equal(data.spikes("B"), rec.spikes("B")[100:200, 10:20])
    from snnlab.io.nwb import read_nwb

    nwb = read_nwb(tmp_path / "recording.nwb")
    np.testing.assert_array_equal(nwb.spikes("B"), data.spikes("B"))
    svg = (tmp_path / "raster.svg").read_text()
    assert "B neuron (index)" in svg and "A neuron" not in svg
    # the same selection from the CLI's text form
    assert export_recording(rec, tmp_path / "w", formats=["png"], window="100:200")[0].exists()


def test_progress_is_reported_for_every_file(tmp_path):
    calls = []
    written = export_recording(make_recording(), tmp_path, formats=["png", "pdf"],
                               progress=lambda done, total, name: calls.append((done, total, name)))
    assert [c[2] for c in calls] == [p.name for p in written]
    assert [c[0] for c in calls] == list(range(1, len(written) + 1))
    assert {c[1] for c in calls} == {len(written)} == {8}


def test_npz_false_leaves_the_recording_out(tmp_path):
    written = export_recording(make_recording(), tmp_path, formats=["png"], npz=False)
    assert [p.name for p in written] == ["raster.png", "voltage.png", "rate.png", "config.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    with pytest.raises(TypeError, match="npz"):
        export_recording(make_recording(), tmp_path / "x", formats=["png"], npz="no")
    assert not (tmp_path / "x").exists()


def test_cancel_stops_between_files_and_what_was_written_is_whole(tmp_path):
    import threading

    from snnlab.export import ExportCancelled

    cancel = threading.Event()

    def progress(done, total, name):
        if done == 2:
            cancel.set()  # as a Cancel button would, while the second file is reported

    with pytest.raises(ExportCancelled) as info:
        export_recording(make_recording(), tmp_path, formats=["png", "svg"], progress=progress, cancel=cancel)
    assert [p.name for p in info.value.written] == ["raster.png", "raster.svg"] and info.value.total == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raster.png", "raster.svg"]  # no temporaries
    for path in info.value.written:
        check_file(path)
    # set before the start: nothing is written, not even the folder's first figure
    with pytest.raises(ExportCancelled) as info:
        export_recording(make_recording(), tmp_path / "early", formats=["png"], cancel=cancel)
    assert info.value.written == [] and list((tmp_path / "early").iterdir()) == []
    with pytest.raises(TypeError, match="cancel"):
        export_recording(make_recording(), tmp_path / "bad", cancel=True)
