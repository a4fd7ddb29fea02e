"""The Lab app's widget wiring, without a browser: set controls, click buttons, read marks."""

import base64
import datetime
import html
import io
import json
import re
import time

import numpy as np
import pytest
import torch
from PIL import Image

from snnlab.config import LabConfig
from snnlab.lab import Lab
from snnlab.lab.views import LAYER_COLORS

from .test_experiment import three_layers

SMALL = LabConfig(n_input=40, n_output=150, time=150.0, weight_scale=3.0)


def levels(png: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(png)))[::-1]  # neuron 0 at row 0


def run_to_end(lab, timeout=30):
    lab.run_button.click()
    assert lab.wait(timeout)


def wait_until(cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


def set_sweep_axes(panel, *axes, time):
    """Sweep each ``(parameter, low, high, points)`` on the panel's axes, ``time`` ms a point."""
    for k, (name, low, high, points) in enumerate(axes):
        panel.pick[k].value = name
        panel.low[k].value, panel.high[k].value, panel.points[k].value = low, high, points
    panel.time.value = time


def test_the_scripting_surface_of_the_issue():
    net = three_layers()
    lab = Lab(net, inputs={"X": 20.0})
    assert lab.run(time=200.0) is True  # returns at once
    assert lab.wait(timeout=60)
    spikes = lab.recording.spikes("L1")
    assert isinstance(spikes, np.ndarray) and spikes.shape == (200, 40) and spikes.dtype == bool
    assert lab.recording.completed
    lab.run()  # until stop
    assert wait_until(lambda: lab.controller.data is not None and lab.controller.data.steps_done > 300)
    assert not lab.wait(timeout=0.05)  # still going
    lab.stop()
    assert lab.wait(timeout=10)
    assert lab.controller.state == "stopped" and lab.recording.steps > 300


def test_controls_are_generated_from_the_network_and_marked_live():
    lab = Lab(three_layers(), inputs={"X": 20.0})
    assert {"X.rate", "L1.thresh", "L2.tc_theta_decay", "X->L1.weight_scale", "X->L1.learning",
            "L1->L2.weight_scale"} <= set(lab.controls)
    assert lab.controls["L1.thresh"].description.startswith("\u26a1") and "(mV)" in lab.controls["L1.thresh"].description
    assert lab.controls["X.rate"].description.endswith("(Hz)")
    assert lab.diagram.names == ["X", "L1", "L2"]
    # the learning connection is red in the diagram
    assert lab.diagram.learning_links == [("X", "L1")]
    assert lab.connection_choice.value == "X->L1"


def test_seed_controls_have_units_and_next_run_marks():
    lab = Lab()
    labels = {n: w.description for n, w in lab.controls.items()}
    assert labels["input_rate"] == "\u26a1 input rate (Hz)"
    assert labels["n_output"].startswith("\u21bb")
    assert lab.controls["neuron_model"].options == ("LIF", "IF", "AdaptiveLIF", "Izhikevich")
    assert "B.thresh" not in lab.controls  # the seed's own settings cover its layers
    assert lab.controller.config == LabConfig()


def test_run_draws_every_view_from_the_recording():
    lab = Lab(SMALL)
    lab.controls["input_rate"].value = 300.0
    run_to_end(lab)
    rec = lab.recording
    assert rec.completed and rec.experiment["input_rate"] == 300.0
    assert rec.spikes("A").mean() == pytest.approx(0.3, abs=0.03)
    # rasters of the two layers show exactly the recorded spikes (a pixel per neuron and step)
    np.testing.assert_array_equal(levels(lab.rasters["A"].image.png).T > 0, rec.spikes("A"))
    np.testing.assert_array_equal(levels(lab.rasters["B"].image.png).T > 0, rec.spikes("B"))
    np.testing.assert_array_equal(lab.voltage.traces.y, rec.voltages("B").T)
    assert lab.voltage.threshold.y.tolist() == [SMALL.thresh] * 2
    # the rate lines are the recording's rate, one per shown layer
    assert list(lab.rate.lines.labels) == ["A", "B"]
    # the key sits above the plot, outside the data (bqplot's legend covered the first bins)
    assert not lab.rate.lines.display_legend and lab.rate.widget.children == (lab.rate.key, lab.rate.figure)
    key = lab.rate.key.value
    assert key.index(LAYER_COLORS[0]) < key.index(">A<") < key.index(LAYER_COLORS[1]) < key.index(">B<")
    ref = rec.rate("B")[1]
    assert lab.rate.lines.y[1][~np.isnan(lab.rate.lines.y[1])].mean() == pytest.approx(ref.mean(), rel=1e-6)
    assert lab.progress.value == 1.0 and "done" in lab.status.value
    assert not lab.run_button.disabled and lab.stop_button.disabled


def test_voltage_axis_follows_each_model():
    lab = Lab(SMALL)
    run_to_end(lab)
    lif = (lab.voltage.y_scale.min, lab.voltage.y_scale.max)
    lab.controls["neuron_model"].value = "Izhikevich"
    lab.controls["weight_scale"].value = 8.0
    run_to_end(lab)
    v = lab.recording.voltages("B")
    assert lab.voltage.y_scale.min <= v.min() and lab.voltage.y_scale.max >= max(v.max(), 45.0)
    assert (lab.voltage.y_scale.min, lab.voltage.y_scale.max) != lif


def test_ticks_are_round_distinct_and_inside_the_axis():
    lab = Lab(SMALL.replace(n_output=10_000, time=20.0))
    run_to_end(lab, 120)
    for fig in [lab.rate.figure, lab.voltage.figure] + [r.figure for r in lab.rasters.values()]:
        for axis in fig.axes:
            ticks = np.asarray(axis.tick_values)
            assert len(np.unique(ticks)) == len(ticks)
            lo, hi = axis.scale.min, axis.scale.max
            assert ticks.min() >= lo - 1e-9 and ticks.max() <= hi + 1e-9
    assert lab.rasters["B"].figure.axes[1].tick_format == "~s"  # 10k, not 10000 under the label


def test_a_refused_value_is_a_message_its_box_reverts_and_live_controls_keep_working():
    lab = Lab(SMALL.replace(time=200_000.0))
    lab.run_button.click()
    assert wait_until(lambda: lab.controller.state == "running")
    for name, value, words in (("n_output", 1e12, ["n_output", "1000000000000"]),
                               ("weight_scale", 1e300, ["weight_scale", "range"]),
                               ("n_input", 0, ["n_input"]), ("dt", 0.7, ["whole number of steps"])):
        good = lab.controls[name].value
        lab.controls[name].value = value
        msg = html.unescape(lab.message.value)
        assert "snnlab-error" in msg and "last good value" in msg and "Traceback" not in msg
        for w in words:
            assert w in msg, msg
        assert lab.controls[name].value == good  # the box shows what runs
    lab.controls["weight_scale"].value = 1.0  # a live slider still acts
    assert "next chunk" in lab.message.value and "snnlab-error" not in lab.message.value
    assert wait_until(lambda: lab.controller.data.changes)
    assert lab.controller.data.changes[0][1:] == ("weight_scale", 1.0)
    lab.stop_button.click()
    assert lab.wait(10)


def test_stop_mid_run_and_pause_toggle():
    lab = Lab(SMALL.replace(time=200_000.0))
    lab.run_button.click()
    assert wait_until(lambda: lab.controller.state == "running")
    assert lab.run() is False and "already" in lab.message.value
    lab.pause_button.click()
    assert wait_until(lambda: lab.pause_button.description == "Resume", 5)
    assert "paused at" in lab.message.value
    held = lab.controller.data.steps_done
    lab.pause_button.click()
    assert wait_until(lambda: lab.controller.data.steps_done > held, 5)
    assert "paused" not in lab.message.value  # no stale message after Resume
    lab.stop_button.click()
    assert lab.wait(10)
    assert lab.controller.state == "stopped" and "stopped at" in lab.message.value
    assert lab.rasters["B"].drawn_steps == lab.recording.start_step + lab.recording.steps


def test_open_ended_run_slides_the_window():
    lab = Lab(SMALL, window_ms=200.0)
    lab.until_stop.value = True
    lab.run_button.click()
    assert wait_until(lambda: lab.controller.data is not None and lab.controller.data.steps_done > 1000, 60)
    lab.stop_button.click()
    assert lab.wait(10)
    now = lab.controller.data.steps_done  # dt = 1 ms
    raster = lab.rasters["B"]
    # A full window is drawn relative to its newest pixel column: the axis reads -200 .. 0
    # and stays put while the run goes; the label says where 0 is.
    origin = -(-now // raster.col_steps) * raster.col_steps
    assert (raster.x_scale.min, raster.x_scale.max) == (-200.0, 0.0)
    assert list(raster.image.mark.x) == [-200.0, 0.0]
    assert lab.time_axis.axis.label == f"time (ms) relative to t = {origin:g} ms"
    assert lab.rate.lines.x[0][0] >= -200.0 and lab.rate.lines.x[0][-1] < 0.0
    # the newest voltage sample is the last step's, at its place relative to the origin
    assert lab.voltage.traces.x[-1] == pytest.approx((now - 1) - origin)
    ticks = np.asarray(lab.time_axis.axis.tick_values)
    assert ticks.min() >= -200.0 and ticks.max() == 0.0


def test_sliding_window_keeps_the_time_axis_still():
    lab = Lab(SMALL, window_ms=200.0)
    lab.until_stop.value = True
    lab.run_button.click()
    assert wait_until(lambda: lab.controller.data is not None and lab.controller.data.steps_done > 400, 60)
    ranges = set()
    for _ in range(5):  # frames of a full sliding window: the axis never moves
        seen = lab.frames
        assert wait_until(lambda: lab.frames > seen, 10)
        ranges.add((lab.time_axis.scale.min, lab.time_axis.scale.max, tuple(lab.rasters["B"].image.mark.x)))
    lab.stop_button.click()
    assert lab.wait(10)
    assert ranges == {(-200.0, 0.0, (-200.0, 0.0))}


def test_diagram_click_selects_a_layer():
    lab = Lab(three_layers(), inputs={"X": 20.0})
    lab.layer_choice.value = ("X",)
    lab.diagram.graph.selected = [2]  # what a click on L2 sends
    assert "L2" in lab.layer_choice.value and lab.voltage_layer.value == "L2"
    assert set(lab.rasters) >= {"X", "L2"}


def test_weight_view_shows_receptive_fields_that_change_with_learning():
    lab = Lab(three_layers(), inputs={"X": 100.0})
    lab.run(time=300.0)
    assert lab.wait(60)
    first = lab.weights.last_levels.copy()
    assert first.shape == (7 * (6 + 1) - 1, 7 * (5 + 1) - 1)  # 40 fields of 6 x 5 in a 7 x 7 grid, 1 px apart
    lab.run(time=300.0)
    assert lab.wait(60)
    assert not np.array_equal(lab.weights.last_levels, first)  # PostPre moved the weights


def test_presets_switch_and_run():
    from snnlab.lab.experiments import PRESETS

    lab = Lab()
    for name in PRESETS:
        lab.preset.value = name
        assert lab.experiment.name == name and "snnlab-error" not in lab.message.value
        assert lab.diagram.names and lab.controls
        assert lab.run(time=50.0 if lab.experiment.time is None else min(50.0, lab.experiment.time) or 50.0)
        assert lab.wait(120) and lab.controller.state == "done", lab.controller.message


def test_reset_clears_views_recording_and_links(tmp_path):
    lab = Lab(SMALL, export_dir=str(tmp_path / "out"))
    run_to_end(lab)
    lab.export()
    assert "snnlab-download" in lab.downloads.value
    lab.reset_button.click()
    assert lab.recording is None and lab.progress.value == 0 and lab.downloads.value == ""
    assert lab.rasters["B"].counts.sum() == 0 and len(lab.voltage.traces.x) == 0


def test_error_in_a_run_is_a_message_not_a_dead_ui(monkeypatch):
    lab = Lab(SMALL)

    def broken(run, final=False):
        raise RuntimeError("boom")

    monkeypatch.setattr(lab, "_draw", broken)
    run_to_end(lab)
    assert lab.controller.state == "error"
    assert "RuntimeError: boom" in lab.message.value and "Traceback" not in lab.message.value
    monkeypatch.undo()
    run_to_end(lab)
    assert lab.controller.state == "done"


def test_export_goes_outside_the_repository_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SNNLAB_EXPORT_DIR", raising=False)
    lab = Lab(SMALL)
    assert lab.export() == [] and "Nothing to export" in lab.message.value
    run_to_end(lab)
    paths = lab.export()
    assert paths and all(str(p).startswith(str(tmp_path / "snnlab-export")) for p in paths)


def test_save_and_load_config_through_the_browser():
    lab = Lab(SMALL)
    lab.controls["seed"].value = 11
    lab.save_button.click()
    href = re.search(r"href='data:application/json;base64,([^']+)'", lab.downloads.value).group(1)
    text = base64.b64decode(href).decode()
    assert LabConfig.from_json(text) == SMALL.replace(seed=11)
    other = Lab()
    assert other.load_config_text(text.encode())
    assert other.controller.config == SMALL.replace(seed=11) and other.controls["n_output"].value == 150
    assert not other.load_config_text(b'{"n_output": "many"}')
    assert "n_output" in other.message.value and other.controller.config == SMALL.replace(seed=11)


def test_save_and_load_a_user_network_s_values():
    lab = Lab(three_layers(), inputs={"X": 20.0})
    lab.controls["L1.thresh"].value = -58.0
    text = lab.save_config()
    assert json.loads(text)["values"]["L1.thresh"] == -58.0
    lab.controls["L1.thresh"].value = -50.0
    assert lab.load_config_text(text)
    assert lab.controller.parameters()["L1.thresh"].value == -58.0
    assert lab.controls["L1.thresh"].value == -58.0


def test_load_experiment_takes_a_sweep_point():
    from snnlab.lab.experiments.seed import SeedExperiment

    lab = Lab()
    lab.load_experiment(SeedExperiment(SMALL), {"inhibition": 0.5, "input_rate": 50.0})
    assert lab.controller.config.inhibition == 0.5 and lab.controls["inhibition"].value == 0.5
    with pytest.raises(ValueError, match="inhibition"):
        lab.load_experiment(SeedExperiment(SMALL), {"inhibition": -1.0})
    assert lab.controller.config.inhibition == 0.5  # the previous one stays


def test_load_config_by_browser_upload():
    lab = Lab()
    text = SMALL.replace(seed=5).to_json().encode()
    # what ipywidgets 8's FileUpload sends: a tuple of dicts with the content as a memoryview
    lab.upload.value = ({"name": "lab-config.json", "type": "application/json", "size": len(text),
                         "content": memoryview(text), "last_modified": datetime.datetime(2026, 1, 1)},)
    assert lab.controller.config == SMALL.replace(seed=5)
    assert "Config loaded" in lab.message.value


def test_a_sweep_shown_in_the_lab_loads_a_clicked_point():
    pytest.importorskip("pandas")
    from snnlab.sweep import Sweep, grid

    lab = Lab(SMALL)
    sweep = Sweep(SMALL.replace(time=30.0), grid(inhibition=[0.0, 0.5], weight_scale=[1.0, 2.0]), seeds=1, seed=1)
    view = lab.show_sweep(sweep, run_options=dict(scheduler="inline"), redraw_interval=0.0)
    assert view.widget in [c.children[1] for c in lab.views_box.children if "snnlab-sweep" in c._dom_classes]
    assert view.start() and view.wait(300) and view.error is None
    view.select({"inhibition": 0.5, "weight_scale": 2.0})  # as a click on that cell
    assert lab.wait(60)
    assert (lab.controller.config.inhibition, lab.controller.config.weight_scale) == (0.5, 2.0)
    assert lab.controls["inhibition"].value == 0.5 and lab.recording is not None


def test_frames_wait_for_the_page_once_it_acknowledges():
    lab = Lab(SMALL.replace(time=200_000.0))
    lab.run_button.click()
    assert wait_until(lambda: lab.frames >= 5)  # no page acknowledging yet: frames flow
    lab._frame_ack.value = 1  # what jslink in a page sends back: it has taken in frame 1 only
    time.sleep(0.2)
    sent = lab._frames_sent
    time.sleep(0.3)
    assert lab._frames_sent == sent and lab.frames_skipped > 0  # held back, not queued up
    lab._frame_ack.value = sent  # the page caught up
    assert wait_until(lambda: lab._frames_sent > sent, 5)
    lab.stop_button.click()
    assert lab.wait(10)
    assert lab.rasters["B"].drawn_steps == lab.recording.start_step + lab.recording.steps  # the final frame is drawn


def test_record_to_disk_from_the_files_box(tmp_path):
    pytest.importorskip("zarr")
    from snnlab.lab.store import load_run

    lab = Lab(SMALL)
    lab.record_dir.value = str(tmp_path / "runs")
    run_to_end(lab)
    (path,) = (tmp_path / "runs").iterdir()
    assert path.suffix == ".zarr" and str(path) in html.unescape(lab.message.value)
    disk = load_run(path)
    assert disk.completed and np.array_equal(disk.spikes("B"), lab.recording.spikes("B"))
    lab.record_dir.value = ""
    run_to_end(lab)
    assert len(list((tmp_path / "runs").iterdir())) == 1  # off again


def test_a_preset_says_what_it_shows_above_its_controls():
    from snnlab.lab.experiments import preset

    lab = Lab(SMALL)
    assert not any("snnlab-about" in c._dom_classes for c in lab.controls_box.children)
    lab.preset.value = "STDP feed-forward"
    about = lab.controls_box.children[0]
    assert "snnlab-about" in about._dom_classes
    text = html.unescape(about.value)
    assert "between about -75 mV and the threshold (-52 mV)" in text and "``" not in text
    assert preset("STDP feed-forward").description.startswith("STDP on a feed-forward layer")


def test_sweep_button_runs_a_sweep_of_the_lab_and_a_click_loads_a_point():
    pytest.importorskip("pandas")
    lab = Lab(SMALL)
    lab.sweep_button.click()
    panel = lab.sweep_panel
    assert panel.widget in lab.views_box.children
    # the choices are the lab's own numeric parameter records
    assert "inhibition" in panel.pick[0].options and "neuron_model" not in panel.pick[0].options
    set_sweep_axes(panel, ("inhibition", 0.0, 0.5, 2), ("weight_scale", 1.0, 2.0, 2), time=30.0)
    view = panel.start()
    assert view is lab.sweep_view and view.wait(300) and view.error is None
    assert len(view.table) == 4 and set(view.table["inhibition"]) == {0.0, 0.5}
    assert np.isfinite(view.grid.color).all()  # the heatmap filled in
    assert (view.x_pick.value, view.y_pick.value) == ("inhibition", "weight_scale")
    # what the page sends on a click of the cell (row 1: weight_scale 2, column 1: inhibition 0.5)
    view.grid._handle_custom_msg({"event": "element_click", "data": {"rowNum": 1, "columnNum": 1}}, [])
    assert lab.wait(60)
    assert (lab.controller.config.inhibition, lab.controller.config.weight_scale) == (0.5, 2.0)
    # loading the point kept the panel's choices (the same experiment's parameters)
    assert (panel.low[0].value, panel.high[0].value, panel.points[0].value, panel.time.value) == (0.0, 0.5, 2, 30.0)
    finite = view.grid.color[np.isfinite(view.grid.color)]
    assert (view.color_scale.min, view.color_scale.max) == (float(finite.min()), float(finite.max()))
    lab.sweep_button.click()  # hides the panel; the results stay
    assert panel.widget not in lab.views_box.children and any(
        "snnlab-sweep" in c._dom_classes for c in lab.views_box.children)


@pytest.mark.parametrize("change, words", [
    (dict(points=1), ["inhibition", "2 or more"]),
    (dict(high=1e9), ["inhibition"]),
    (dict(second="inhibition"), ["chosen twice"]),
])
def test_sweep_panel_refuses_a_bad_choice_with_a_message(change, words):
    lab = Lab(SMALL)
    lab.sweep_button.click()
    panel = lab.sweep_panel
    panel.pick[0].value = "inhibition"
    if "points" in change:
        panel.points[0].value = change["points"]
    if "high" in change:
        panel.high[0].value = change["high"]
    if "second" in change:
        panel.pick[1].value = change["second"]
    assert panel.start() is None and lab.sweep_view is None
    msg = html.unescape(panel.message.value)
    assert "snnlab-error" in msg
    for w in words:
        assert w in msg, msg


def test_sweep_panel_follows_the_experiment():
    lab = Lab(SMALL)
    lab.sweep_button.click()
    lab.preset.value = "Brunel E/I network"
    options = lab.sweep_panel.pick[0].options
    assert "g" in options and "inhibition" not in options
    from snnlab.lab.sweep_panel import default_range

    p = lab.controller.parameters()["g"]
    lab.sweep_panel.pick[0].value = "g"
    assert (lab.sweep_panel.low[0].value, lab.sweep_panel.high[0].value) == default_range(p.value, p.low, p.high)
    assert default_range(5.0, 0.0, 6.0) == (2.5, 6.0) and default_range(0.0, None, None) == (0.0, 1.0)


def test_a_sweep_of_another_preset_shows_its_own_output_rate():
    pytest.importorskip("pandas")
    lab = Lab(SMALL)
    lab.preset.value = "STDP feed-forward"
    lab.sweep_button.click()
    panel = lab.sweep_panel
    set_sweep_axes(panel, ("nu_post", 0.01, 0.05, 2), ("wmax", 1.0, 2.0, 2), time=50.0)
    view = panel.start()
    assert view.wait(300) and view.error is None
    assert view.metric_pick.value == "rate_output"  # not the seed's layer name
    assert np.isfinite(view.grid.color).all()
