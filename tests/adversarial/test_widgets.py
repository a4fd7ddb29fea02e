"""Hostile values typed into the lab's widgets and config files loaded into it:
each shows a message in the UI (never a traceback, never an exception out of
the callback), and the last good value stays in use."""

import time

import numpy as np
import pytest

from snnlab.config import LabConfig
from snnlab.lab import Lab

SMALL = LabConfig(n_input=20, n_output=30, time=40.0, weight_scale=3.0)


def is_error(lab):
    return "snnlab-error" in lab.message.value


TYPED = {
    # control path: value typed into its box
    "rest 1e300": ("rest", 1e300),
    "thresh -1e300": ("thresh", -1e300),
    "reset 1e39": ("reset", 1e39),
    "dt 1e-300": ("dt", 1e-300),
    "time 1e308": ("time", 1e308),
    "time not a multiple of dt": ("time", 40.5),
    "tc_decay 0": ("tc_decay", 0.0),
    "tc_decay 1e-300": ("tc_decay", 1e-300),
    "refrac -1": ("refrac", -1.0),
    "rest NaN": ("rest", float("nan")),
    "time inf": ("time", float("inf")),
    "n_output 0": ("n_output", 0.0),
    "n_output 1e12": ("n_output", 1e12),
    "n_output 2.5": ("n_output", 2.5),
    "n_input 10**400 as float": ("n_input", 1e300),
    "seed -1": ("seed", -1.0),
    "weight_scale 1e300": ("weight_scale", 1e300),
    "inhibition 1e300": ("inhibition", 1e300),
    "input_rate beyond p=1": ("input_rate", 1e9),
}


@pytest.mark.parametrize("name", list(TYPED))
def test_typed_hostile_value_is_a_message_and_the_value_stays(name):
    path, value = TYPED[name]
    lab = Lab(SMALL)
    before = lab.controller.parameters()[path].value
    lab.controls[path].value = value  # the widget's observer validates; nothing may escape
    assert is_error(lab), lab.message.value
    assert "Traceback" not in lab.message.value
    assert lab.controller.parameters()[path].value == before
    assert lab.controls[path].value == before  # the box shows what runs


TRACED = {
    "letters": "1, two",
    "out of range": "0, 999",
    "negative": "-1",
    "repeats": "1, 1",
    "400 digits": "9" * 400,
    "too many": ", ".join(str(i) for i in range(25)),
}


@pytest.mark.parametrize("name", list(TRACED))
def test_typed_hostile_traced_neurons_are_a_message(name):
    lab = Lab(SMALL)
    layer = lab.voltage_layer.value
    before = list(lab.controller.traced_for(layer))
    lab.traced_text.value = TRACED[name]
    assert is_error(lab), lab.message.value
    assert list(lab.controller.traced_for(layer)) == before


def test_hostile_live_value_mid_run_is_refused_and_the_run_stays_finite():
    lab = Lab(SMALL.replace(time=200_000.0))
    lab.run_button.click()
    deadline = time.monotonic() + 60
    while lab.controller.state != "running" or lab.controller.data is None or lab.controller.data.steps_done < 10:
        assert time.monotonic() < deadline, lab.controller.state
        time.sleep(0.01)
    lab.controls["weight_scale"].value = 5.0  # a good live change is taken
    assert not is_error(lab)
    for path in ("weight_scale", "inhibition"):
        lab.controls[path].value = 1e300
        assert is_error(lab)
    lab.stop()
    assert lab.wait(30)
    rec = lab.recording
    assert rec.steps > 0 and np.isfinite(rec.voltages("B")).all()
    assert lab.controller.parameters()["weight_scale"].value == 5.0


HOSTILE_CONFIG_TEXTS = {
    "deep": "[" * 5000 + "]" * 5000,
    "duplicate key": '{"n_input": 5, "n_input": 6}',
    "duplicate key in an experiment file": '{"experiment": "seed network", "experiment": "x", "values": {}}',
    "400 digits": '{"n_output": ' + "9" * 400 + "}",
    "NaN": '{"rest": NaN}',
    "weight_scale 1e300": '{"weight_scale": 1e300}',
    "not JSON": "n_input = 5",
    "unknown key": '{"__class__": "os.system"}',
    "unknown experiment": '{"experiment": "rm -rf", "values": {}}',
    "values not an object": '{"experiment": "seed network", "values": [1]}',
    "bytes not UTF-8": b"\xff\xfe\x00",
}


@pytest.mark.parametrize("name", list(HOSTILE_CONFIG_TEXTS))
def test_loading_a_hostile_config_is_a_message(name):
    lab = Lab(SMALL)
    before = {p: v.value for p, v in lab.controller.parameters().items()}
    assert lab.load_config_text(HOSTILE_CONFIG_TEXTS[name]) is False
    assert is_error(lab) and "Could not load" in lab.message.value
    assert {p: v.value for p, v in lab.controller.parameters().items()} == before


def test_exporting_under_a_file_is_a_message(tmp_path):
    (tmp_path / "afile").write_text("x")
    lab = Lab(SMALL)
    lab.run_button.click()
    assert lab.wait(30)
    lab.export_dir.value = str(tmp_path / "afile" / "sub")
    assert lab.export() == [] and is_error(lab)
    assert (tmp_path / "afile").read_text() == "x"


def test_export_before_any_run_is_a_message():
    lab = Lab(SMALL)
    assert lab.export() == [] and is_error(lab)
