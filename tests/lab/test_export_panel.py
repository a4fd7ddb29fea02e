"""The lab's Export panel, driven like a user: values set in its widgets, buttons clicked.

The export runs in a thread; every test waits for it with ``panel.wait`` (a join),
and the tests that need it to be caught mid-way hold it on an Event.
"""

import json
import struct
import sys
import threading
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

import snnlab.export  # noqa: E402
from snnlab.config import LabConfig  # noqa: E402
from snnlab.export import load_recording  # noqa: E402
from snnlab.io.figures import COLUMN_WIDTHS, DPI  # noqa: E402
from snnlab.lab import Lab  # noqa: E402
from snnlab.lab import export_panel  # noqa: E402

SMALL = LabConfig(n_input=20, n_output=30, time=200.0, weight_scale=3.0)
SVG_NS = "{http://www.w3.org/2000/svg}"


def is_error(widget):
    return "snnlab-error" in widget.value


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])  # IHDR width, height


def ran(tmp_path, config=SMALL):
    lab = Lab(config, export_dir=str(tmp_path / "out"))
    lab.run_button.click()
    assert lab.wait(60) and lab.controller.state == "done", lab.controller.message
    return lab


def click_export(lab):
    lab.export_button.click()
    assert lab.export_panel.wait(120)


@pytest.fixture
def lab(tmp_path):
    lab = ran(tmp_path)
    yield lab
    lab.controller.stop(wait=10)


def test_the_choices_start_from_the_recording(tmp_path):
    lab = Lab(SMALL, export_dir=str(tmp_path / "out"))
    panel = lab.export_panel
    assert panel.layers.options == ("A", "B") and panel.layers.value == ("A", "B")
    assert [n for n, box in panel.formats.items() if box.value] == list(export_panel.DEFAULT_FORMATS)
    assert panel.width.value == "two" and "nothing recorded" in panel.recorded.value
    # the panel and its progress sit around the Export button, in the Files box
    children = list(lab.files_box.children)
    assert children.index(panel.options) < children.index(lab.file_actions) < children.index(panel.status)
    lab.run_button.click()
    assert lab.wait(60)
    assert (panel.start_box.value, panel.end_box.value) == (0.0, 200.0) and "0 to 200 ms" in panel.recorded.value
    # a longer run: the window follows it, as nobody typed a time
    lab.duration.value = 300.0
    lab.run_button.click()
    assert lab.wait(60)
    assert (panel.start_box.value, panel.end_box.value) == (0.0, 300.0)


def test_export_from_the_panel_writes_what_was_chosen(lab, tmp_path):
    panel = lab.export_panel
    rec = lab.recording
    panel.start_box.value = 50.0
    panel.end_box.value = 150.0
    panel.layers.value = ("B",)
    panel.formats["svg"].value = True
    panel.width.value = "one"
    nwb = export_panel.module_available("pynwb")
    panel.formats["nwb"].value = nwb
    click_export(lab)
    out = tmp_path / "out"
    names = ["raster.png", "raster.svg", "voltage.png", "voltage.svg", "rate.png", "rate.svg",
             "recording.npz", "config.json"] + (["recording.nwb"] if nwb else [])
    assert [p.name for p in panel.result] == names
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # nothing else, no temporaries
    assert f"Exported {len(names)} files" in panel.message.value and not is_error(panel.message)
    assert "Exported" in lab.message.value
    assert panel.progress.value == 1.0 and panel.progress.bar_style == "success"
    assert panel.cancel_button.disabled and not panel.busy
    # the data: only B, only 50 <= t < 150 ms, equal to the lab's recording
    data = load_recording(out / "recording.npz")
    assert data.layer_names == ["B"] and data.start_step == 50 and data.steps == 100
    np.testing.assert_array_equal(data.spikes("B"), rec.spikes("B")[50:150])
    np.testing.assert_array_equal(data.voltages("B"), rec.voltages("B")[50:150])
    assert json.loads((out / "config.json").read_text()) == rec.experiment
    if nwb:
        from snnlab.io.nwb import read_nwb

        np.testing.assert_array_equal(read_nwb(out / "recording.nwb").spikes("B"), data.spikes("B"))
    # the figures: one column wide, layer B only
    width, _ = png_size(out / "raster.png")
    assert width == round(COLUMN_WIDTHS["one"] * DPI)
    root = ET.fromstring((out / "raster.svg").read_bytes())
    text = " ".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))
    assert "B neuron" in text and "A neuron" not in text
    # offered as downloads
    for name in names:
        assert f"download='{name}'" in lab.downloads.value


def test_whole_run_button_and_data_only_exports(lab, tmp_path):
    panel = lab.export_panel
    panel.end_box.value = 20.0
    panel.whole_button.click()
    assert (panel.start_box.value, panel.end_box.value) == (0.0, 200.0)
    for name, box in panel.formats.items():
        box.value = name == "npz"
    click_export(lab)
    assert [p.name for p in panel.result] == ["recording.npz", "config.json"]
    assert load_recording(tmp_path / "out" / "recording.npz").steps == 200  # the whole run
    # figures only: no recording.npz
    panel.formats["npz"].value = False
    panel.formats["pdf"].value = True
    lab.export_dir.value = str(tmp_path / "figs")
    click_export(lab)
    assert [p.name for p in panel.result] == ["raster.pdf", "voltage.pdf", "rate.pdf", "config.json"]
    assert (tmp_path / "figs" / "rate.pdf").read_bytes().startswith(b"%PDF-")


def hold_exports(monkeypatch):
    """Make the panel's exports wait at their start until ``release`` is set."""
    entered, release = threading.Event(), threading.Event()
    real = snnlab.export.export_recording

    def held(*args, **kwargs):
        entered.set()
        assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(snnlab.export, "export_recording", held)
    return entered, release


def test_the_lab_runs_while_an_export_is_going_and_a_second_export_is_refused(lab, monkeypatch, tmp_path):
    panel = lab.export_panel
    entered, release = hold_exports(monkeypatch)
    lab.export_button.click()  # returns at once: the export waits in its thread
    assert entered.wait(30) and panel.busy and not panel.cancel_button.disabled
    lab.export_button.click()
    assert is_error(panel.message) and export_panel.BUSY in panel.message.value
    assert lab.export() == []  # the scripting call is refused the same way
    # Run and Stop still work
    lab.until_stop.value = True
    lab.run_button.click()
    assert lab.controller.running
    lab.stop_button.click()
    assert lab.wait(60) and lab.controller.state in ("stopped", "done")
    release.set()
    assert panel.wait(120)
    assert [p.name for p in panel.result][-2:] == ["recording.npz", "config.json"]
    # the export is of the run that was there when it started (200 ms), not of the one run after
    assert load_recording(tmp_path / "out" / "recording.npz").steps == 200


def test_cancel_stops_before_the_next_file(lab, monkeypatch, tmp_path):
    panel = lab.export_panel
    first_done, go_on = threading.Event(), threading.Event()
    real = snnlab.export.export_recording

    def slowed(*args, progress=None, **kwargs):
        def report(done, total, name):
            progress(done, total, name)
            if done == 1:
                first_done.set()
                assert go_on.wait(60)

        return real(*args, progress=report, **kwargs)

    monkeypatch.setattr(snnlab.export, "export_recording", slowed)
    lab.export_button.click()
    assert first_done.wait(60)
    assert panel.progress.value == pytest.approx(1 / 5)
    panel.cancel_button.click()
    go_on.set()
    assert panel.wait(60)
    expected = export_panel.CANCELLED.format(done=1, total=5, folder=str((tmp_path / "out").resolve()))
    assert expected in panel.message.value and not is_error(panel.message)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["raster.png"]  # whole, no temporaries
    png_size(tmp_path / "out" / "raster.png")
    assert "download='raster.png'" in lab.downloads.value
    assert panel.result == [] and panel.cancel_button.disabled and panel.progress.bar_style == "warning"
    # the next export runs in full
    monkeypatch.undo()
    click_export(lab)
    assert len(panel.result) == 5


def start_until_stop(lab, steps: int) -> None:
    """Start an open-ended run and wait until it has simulated ``steps`` steps."""
    lab.until_stop.value = True
    lab.run_button.click()
    deadline = time.monotonic() + 60
    while lab.controller.data is None or lab.controller.data.steps_done < steps:
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.01)


def test_an_export_during_a_run_is_a_consistent_snapshot(tmp_path):
    lab = Lab(SMALL, export_dir=str(tmp_path / "out"))
    start_until_stop(lab, steps=100)
    try:
        panel = lab.export_panel
        panel.formats["png"].value = False  # data only
        click_export(lab)
        assert lab.controller.running, "the run should still be going"
        assert "the run goes on" in panel.message.value
    finally:
        lab.stop()
        assert lab.wait(60)
    snap = load_recording(tmp_path / "out" / "recording.npz")
    final = lab.recording
    assert not snap.completed and snap.start_step == 0 and 100 <= snap.steps <= final.steps
    for name in final.layer_names:  # every layer ends at the same step, equal to the run's rows
        np.testing.assert_array_equal(snap.spikes(name), final.spikes(name)[:snap.steps])
        if final.voltages(name) is not None:
            np.testing.assert_array_equal(snap.voltages(name), final.voltages(name)[:snap.steps])


# ---------------------------------------------------------------- messages
def test_nothing_to_export_before_a_run(tmp_path):
    lab = Lab(SMALL, export_dir=str(tmp_path / "out"))
    lab.export_button.click()
    assert lab.export_panel.wait(30)
    assert export_panel.NOTHING_YET in lab.export_panel.message.value and is_error(lab.message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("what", ["layers", "formats", "folder"])
def test_an_empty_choice_is_refused_and_nothing_is_written(lab, tmp_path, what):
    panel = lab.export_panel
    if what == "layers":
        panel.layers.value = ()
        message = export_panel.NO_LAYERS
    elif what == "formats":
        for box in panel.formats.values():
            box.value = False
        message = export_panel.NO_FORMATS
    else:
        lab.export_dir.value = "   "
        message = export_panel.NO_FOLDER
    lab.export_button.click()
    assert not panel.busy and panel.result == []
    assert message in panel.message.value and is_error(panel.message) and message in lab.message.value
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("box, value, message", [
    ("start", -5.0, "window from: -5.0 ms"),
    ("start", float("nan"), "window from: nan ms"),
    ("start", 500.0, "window from: 500.0 ms"),  # after the end (200 ms)
    ("end", 0.0, "window to: 0.0 ms"),
    ("end", float("inf"), "window to: inf ms"),
])
def test_a_bad_window_time_is_a_message_and_the_box_keeps_its_last_good_value(lab, box, value, message):
    panel = lab.export_panel
    panel.start_box.value, panel.end_box.value = 20.0, 120.0  # good: typed by the user
    target = panel.start_box if box == "start" else panel.end_box
    target.value = value
    assert is_error(panel.message) and message in panel.message.value
    template = export_panel.BAD_START if box == "start" else export_panel.BAD_END
    assert template.split(":")[0] in lab.message.value
    assert (panel.start_box.value, panel.end_box.value) == (20.0, 120.0)
    # the kept window is the one exported
    panel.formats["png"].value = False
    click_export(lab)
    assert load_recording(panel.result[0]).start_step == 20 and load_recording(panel.result[0]).steps == 100


def test_a_window_outside_the_recording_keeps_the_last_export(lab, tmp_path):
    panel = lab.export_panel
    click_export(lab)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    links = lab.downloads.value
    panel.end_box.value = 900.0
    panel.start_box.value = 500.0
    click_export(lab)
    assert is_error(panel.message) and "outside the recording (0 to 200 ms)" in panel.message.value
    assert panel.result == [] and panel.progress.bar_style == "danger"
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert lab.downloads.value == links


def test_an_unwritable_folder_is_a_message(lab, tmp_path):
    (tmp_path / "afile").write_text("x")
    lab.export_dir.value = str(tmp_path / "afile" / "sub")
    click_export(lab)
    assert is_error(panel_message := lab.export_panel.message) and "Export failed: out_dir" in panel_message.value
    assert "Traceback" not in panel_message.value and (tmp_path / "afile").read_text() == "x"


def test_nwb_without_pynwb_is_a_message(lab, monkeypatch, tmp_path):
    panel = lab.export_panel
    panel.formats["nwb"].disabled = False  # as if pynwb were found, but it fails to import
    panel.formats["nwb"].value = True
    import snnlab.io

    monkeypatch.setitem(sys.modules, "pynwb", None)  # import pynwb -> ImportError
    monkeypatch.setitem(sys.modules, "snnlab.io.nwb", None)
    monkeypatch.delattr(snnlab.io, "nwb", raising=False)  # an earlier import left it on the package
    click_export(lab)
    assert is_error(panel.message) and "NWB needs pynwb" in panel.message.value
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- what is offered
def test_nwb_and_nir_are_offered_only_where_their_packages_are(monkeypatch, tmp_path):
    monkeypatch.setattr(export_panel, "module_available", lambda name: False)
    lab = Lab(SMALL, export_dir=str(tmp_path / "out"))
    assert lab.export_panel.formats["nwb"].disabled and not lab.export_panel.formats["nwb"].value
    assert lab.export_panel.nir_actions == ()
    assert not [w for w in lab.file_actions.children if "snnlab-export-nir" in w._dom_classes]


def test_nir_buttons_are_there_by_default(tmp_path):
    pytest.importorskip("nir")
    from snnlab.io.lab_nir import add_nir_actions

    lab = Lab(SMALL, export_dir=str(tmp_path / "out"))
    export_button, upload = lab.export_panel.nir_actions
    assert export_button in lab.file_actions.children and upload in lab.file_actions.children
    assert add_nir_actions(lab) == (export_button, upload)  # no second pair
    assert len(lab.file_actions.children) == 5  # Export, Save config, Load config, Export NIR, Open NIR
    export_button.click()
    assert (tmp_path / "out" / "network.nir").is_file() and "download='network.nir'" in lab.downloads.value


def test_a_snapshot_is_not_overwritten_when_the_run_wraps_its_window(monkeypatch, tmp_path):
    """A long run keeps its last steps in a ring: the export holds a copy, taken when it started,
    while the run goes on writing over those rows."""
    lab = Lab(SMALL, export_dir=str(tmp_path / "out"))
    lab.controller.window_steps = 60  # the lab keeps the last 60 steps only
    lab.export_panel.formats["png"].value = False
    start_until_stop(lab, steps=100)
    entered, release = hold_exports(monkeypatch)
    try:
        lab.export_button.click()
        assert entered.wait(30)  # the snapshot is taken; the export waits
        held_at = lab.controller.data.steps_done
        deadline = time.monotonic() + 60
        while lab.controller.data.steps_done < held_at + 200:  # the ring goes round more than 3 times
            assert time.monotonic() < deadline, "the run stalled"
            time.sleep(0.01)
        release.set()
        assert lab.export_panel.wait(60)
    finally:
        lab.stop()
        assert lab.wait(60)
    snap = load_recording(tmp_path / "out" / "recording.npz")
    assert snap.steps == 60 and snap.start_step + snap.steps <= held_at
    # the same run, timed, kept whole: the snapshot is its rows
    reference = Lab(SMALL)
    assert reference.run(time=float(snap.start_step + snap.steps)) and reference.wait(60)
    whole = reference.recording
    rows = slice(snap.start_step, snap.start_step + snap.steps)
    for name in whole.layer_names:
        np.testing.assert_array_equal(snap.spikes(name), whole.spikes(name)[rows])
        if whole.voltages(name) is not None:
            np.testing.assert_array_equal(snap.voltages(name), whole.voltages(name)[rows])


def test_the_recorded_line_says_when_a_run_is_going(tmp_path):
    lab = Lab(SMALL, export_dir=str(tmp_path / "out"))
    lab.until_stop.value = True
    lab.run_button.click()
    try:
        deadline = time.monotonic() + 60
        # the line changes in the run's state callback (the worker thread): wait for it
        while "a run is going" not in lab.export_panel.recorded.value:
            assert time.monotonic() < deadline, (lab.controller.state, lab.export_panel.recorded.value)
            time.sleep(0.01)
        assert lab.controller.state in ("building", "running")
        while lab.controller.data is None or lab.controller.data.steps_done < 50:
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.01)
    finally:
        lab.stop()
        assert lab.wait(60)
    end = lab.recording.duration
    assert f"recorded: 0 to {end:g} ms" in lab.export_panel.recorded.value
    assert lab.export_panel.end_box.value == end


def test_the_snapshot_is_taken_at_the_click(lab, tmp_path, monkeypatch):
    """Run clicked right after Export: the export is of the run that was there at the click,
    even when its thread starts only after that run has ended."""
    panel = lab.export_panel
    panel.formats["png"].value = False
    go = threading.Event()
    real_work = panel._work

    def late(*args):
        assert go.wait(60)
        real_work(*args)

    monkeypatch.setattr(panel, "_work", late)
    lab.export_button.click()
    lab.duration.value = 50.0
    lab.run_button.click()
    assert lab.wait(60)
    go.set()
    assert panel.wait(60)
    assert load_recording(tmp_path / "out" / "recording.npz").steps == 200
    assert lab.recording.steps == 50
