"""The Lab app's widget wiring, without a browser: set controls, click buttons, read marks."""

import html
import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from snnlab.config import LabConfig
from snnlab.lab import Lab

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


def test_controls_have_units_and_the_seed_defaults():
    lab = Lab()
    labels = {n: w.description for n, w in lab.controls.items()}
    assert labels["input_rate"] == "input rate (Hz)"
    assert labels["time"] == "simulated time (ms)" and labels["dt"] == "dt (ms)"
    for n in ("thresh", "rest", "reset"):
        assert "(mV)" in labels[n]
    for n in ("tc_decay", "refrac"):
        assert "(ms)" in labels[n]
    assert lab.controls["neuron_model"].options == ("LIF", "IF", "AdaptiveLIF", "Izhikevich")
    assert lab.controller.config == LabConfig()
    assert [b.description for b in (lab.run_button, lab.pause_button, lab.stop_button, lab.reset_button)] == [
        "Run", "Pause", "Stop", "Reset"]


def test_slider_then_run_records_and_draws():
    lab = Lab(SMALL)
    lab.controls["input_rate"].value = 300.0
    run_to_end(lab)
    rec = lab.recording
    assert rec.completed and rec.experiment["input_rate"] == 300.0
    assert rec.spikes("A").mean() == pytest.approx(0.3, abs=0.03)
    # the rasters show exactly the recorded spikes (one pixel per neuron and step here)
    np.testing.assert_array_equal(levels(lab.plots.input_raster.mark.image.value).T > 0, rec.spikes("A"))
    np.testing.assert_array_equal(levels(lab.plots.output_raster.mark.image.value).T > 0, rec.spikes("B"))
    # traces and threshold
    np.testing.assert_array_equal(lab.plots.voltage.traces.y, rec.voltages("B").T)
    assert lab.plots.voltage.threshold.y.tolist() == [SMALL.thresh] * 2
    # the population rate line is the recorded rate, binned
    x, y = lab.plots.rate.rate(lab.controller.data.spike_counts, rec.steps, SMALL.n_output, SMALL.dt)
    np.testing.assert_array_equal(lab.plots.rate.line.y, y)
    assert abs(lab.plots.rate.line.y.mean() - rec.rate("B")[1].mean()) < 1e-3 * max(1, rec.rate("B")[1].mean())
    assert lab.progress.value == 1.0
    assert "done" in lab.status.value and "frames drawn" in lab.status.value and "real-time factor" in lab.status.value
    assert lab.plots.frames >= 1
    assert not lab.run_button.disabled and lab.stop_button.disabled


def test_a_higher_rate_darkens_the_input_raster():
    lab = Lab(SMALL)
    run_to_end(lab)
    sparse = np.count_nonzero(levels(lab.plots.input_raster.mark.image.value))
    lab.controls["input_rate"].value = 500.0
    run_to_end(lab)
    dense = np.count_nonzero(levels(lab.plots.input_raster.mark.image.value))
    assert dense > 3 * sparse


def test_stop_button_mid_run_keeps_data_and_second_run_click_is_ignored():
    lab = Lab(SMALL.replace(time=200_000.0))
    lab.run_button.click()
    assert wait_until(lambda: lab.controller.data is not None and lab.controller.data.steps_done > 200)
    assert lab.run_button.disabled and not lab.stop_button.disabled and not lab.pause_button.disabled
    assert lab.run() is False  # a second Run does nothing
    assert "already" in lab.message.value
    lab.stop_button.click()
    assert lab.wait(10)
    rec = lab.recording
    assert lab.controller.state == "stopped" and not rec.completed and rec.steps > 200
    assert "stopped at" in lab.message.value
    assert 0 < lab.progress.value < 1
    assert lab.plots.output_raster.drawn_steps == rec.steps  # the final frame shows all of it
    assert not lab.run_button.disabled


def test_pause_button_toggles():
    lab = Lab(SMALL.replace(time=200_000.0))
    lab.run_button.click()
    assert wait_until(lambda: lab.controller.state == "running")
    lab.pause_button.click()
    assert wait_until(lambda: lab.pause_button.description == "Resume", 5)
    held = lab.controller.data.steps_done
    time.sleep(0.2)
    assert lab.controller.data.steps_done == held
    lab.pause_button.click()
    assert wait_until(lambda: lab.controller.data.steps_done > held, 5)
    assert lab.pause_button.description == "Pause"
    lab.stop_button.click()
    assert lab.wait(10)


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("n_output", 0, ["n_output", "at least 1"]),
        ("n_input", 0, ["n_input", "empty"]),
        ("dt", 0.7, ["whole number of steps"]),
        ("n_output", 200_000, ["GiB"]),
        ("traced", "1, x", ["traced", "'x'"]),
        ("traced", "1, 500", ["traced", "500"]),
    ],
)
def test_bad_values_show_a_message_and_the_last_good_config_runs(name, value, words):
    lab = Lab(SMALL)
    lab.controls[name].value = value
    msg = html.unescape(lab.message.value)
    assert "snnlab-error" in msg and "last good settings" in msg
    assert "Traceback" not in msg
    for w in words:
        assert w in msg, msg
    assert lab.controller.config == SMALL
    run_to_end(lab)
    assert lab.recording.spikes("B").shape == (150, 150)
    # fixing the value clears the message
    lab.controls[name].value = {"traced": "0, 1"}.get(name, getattr(SMALL, name))
    assert "snnlab-error" not in lab.message.value


def test_model_choice_loads_its_defaults_and_greys_unused_parameters():
    lab = Lab(SMALL)
    lab.controls["neuron_model"].value = "Izhikevich"
    assert lab.controls["thresh"].value == 45.0
    assert "weight scale 5" in lab.message.value
    assert lab.controls["tc_decay"].disabled and lab.controls["refrac"].disabled
    assert lab.controller.config.neuron_model == "Izhikevich" and lab.controller.config.thresh == 45.0
    run_to_end(lab)
    assert lab.controller.state == "done"
    lab.controls["neuron_model"].value = "IF"
    assert lab.controls["rest"].disabled and not lab.controls["refrac"].disabled


def test_non_live_change_during_a_run_says_next_run():
    lab = Lab(SMALL.replace(time=200_000.0))
    lab.run_button.click()
    assert wait_until(lambda: lab.controller.state == "running")
    lab.controls["n_output"].value = 100
    assert "applies at the next run" in lab.message.value
    lab.controls["weight_scale"].value = 1.0
    assert "next chunk" in lab.message.value
    lab.stop_button.click()
    assert lab.wait(10)


def test_traced_neurons_choice_redraws_traces():
    lab = Lab(SMALL)
    run_to_end(lab)
    lab.controls["traced"].value = "7, 10-12"
    assert lab.controller.config.traced == (7, 10, 11, 12)
    v = lab.controller.data.voltages
    np.testing.assert_array_equal(lab.plots.voltage.traces.y, v[:, [7, 10, 11, 12]].T)
    assert lab.recording.traced("B").tolist() == [7, 10, 11, 12]


def test_reset_clears_plots():
    lab = Lab(SMALL)
    run_to_end(lab)
    lab.reset_button.click()
    assert lab.recording is None and lab.progress.value == 0
    assert lab.plots.output_raster.counts.sum() == 0
    assert len(lab.plots.voltage.traces.x) == 0


def test_runaway_activity_is_stoppable_from_the_ui():
    lab = Lab(SMALL.replace(time=200_000.0, thresh=-70.0, refrac=0.0, inhibition=0.0))
    lab.run_button.click()
    assert wait_until(lambda: lab.controller.data is not None and lab.controller.data.steps_done > 20)
    lab.stop_button.click()
    assert lab.wait(10) and lab.controller.state == "stopped"
    assert lab.recording.spikes("B").all() and not lab.recording.completed


def test_error_in_a_run_is_a_message_not_a_dead_ui(monkeypatch):
    lab = Lab(SMALL)

    def broken(data):
        raise RuntimeError("boom")

    monkeypatch.setattr(lab.plots, "update", broken)
    run_to_end(lab)
    assert lab.controller.state == "error"
    assert "RuntimeError: boom" in lab.message.value and "Traceback" not in lab.message.value
    assert not lab.run_button.disabled
    monkeypatch.undo()
    run_to_end(lab)
    assert lab.controller.state == "done"


def test_save_load_and_export(tmp_path):
    lab = Lab(SMALL, export_dir=str(tmp_path / "out"))
    assert lab.export() == [] and "Nothing to export" in lab.message.value
    run_to_end(lab)
    lab.export_formats.value = ("svg",)
    lab.export_button.click()
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["config.json", "raster.svg", "rate.svg", "recording.npz", "voltage.svg"]
    assert "snnlab-download" in lab.downloads.value
    assert LabConfig.from_json((tmp_path / "out" / "config.json").read_text()) == SMALL

    lab.config_path.value = str(tmp_path / "cfg.json")
    lab.controls["seed"].value = 11
    lab.save_button.click()
    assert json.loads((tmp_path / "cfg.json").read_text())["seed"] == 11
    other = Lab()
    other.config_path.value = str(tmp_path / "cfg.json")
    other.load_button.click()
    assert other.controller.config == SMALL.replace(seed=11)
    assert other.controls["n_output"].value == 150
    (tmp_path / "bad.json").write_text('{"n_output": "many"}')
    other.config_path.value = str(tmp_path / "bad.json")
    other.load_button.click()
    assert "n_output" in other.message.value and other.controller.config == SMALL.replace(seed=11)
