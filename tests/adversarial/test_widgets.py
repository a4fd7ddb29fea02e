"""Hostile values typed into the lab's widgets and files: each shows a message
in the UI (never a traceback, never an exception out of the callback), and
the last good config stays in use."""

import json
import math

import pytest

from snnlab.config import LabConfig
from snnlab.lab import Lab

SMALL = LabConfig(n_input=20, n_output=30, time=40.0, weight_scale=3.0)


def is_error(lab):
    return "snnlab-error" in lab.message.value


TYPED = {
    # control: value typed
    "rest 1e300": ("rest", 1e300),
    "thresh -1e300": ("thresh", -1e300),
    "reset 1e39": ("reset", 1e39),
    "dt 1e-300": ("dt", 1e-300),
    "dt 1e-8 (refractory countdown)": ("dt", 1e-8),
    "time 1e308": ("time", 1e308),
    "time not a multiple of dt": ("time", 40.5),
    "tc_decay 0": ("tc_decay", 0.0),
    "tc_decay 1e-300": ("tc_decay", 1e-300),
    "refrac -1": ("refrac", -1.0),
    "rest NaN": ("rest", float("nan")),
    "time inf": ("time", float("inf")),
    "n_output 0": ("n_output", 0),
    "n_input 10**7 (memory)": ("n_input", 10**7),
    "traced letters": ("traced", "1, two"),
    "traced out of range": ("traced", "0, 999"),
    "traced negative": ("traced", "-1"),
    "traced repeats": ("traced", "1, 1"),
    "traced 400 digits": ("traced", "9" * 400),
    "traced too many": ("traced", ", ".join(str(i) for i in range(25))),
}


@pytest.mark.parametrize("name", list(TYPED))
def test_typed_hostile_value_is_a_message_and_the_config_stays(name):
    control, value = TYPED[name]
    lab = Lab(SMALL)
    before = lab.controller.config
    lab.controls[control].value = value  # the widget's observer validates (no exception may escape)
    assert is_error(lab), lab.message.value
    assert lab.controller.config == before
    assert "Traceback" not in lab.message.value


def test_hostile_live_value_mid_run_is_refused_and_the_run_stays_finite():
    import numpy as np

    lab = Lab(SMALL.replace(time=20_000.0))
    lab.run_button.click()
    lab.controller.update(weight_scale=5.0)  # a good live change is taken
    with pytest.raises(ValueError):
        lab.controller.update(weight_scale=1e300)
    with pytest.raises(ValueError):
        lab.controller.update(inhibition=1e300)
    lab.stop()
    assert lab.wait(30)
    rec = lab.recording
    assert rec.steps > 0 and np.isfinite(rec.voltages("B")).all()
    assert lab.controller.config.weight_scale == 5.0


HOSTILE_CONFIG_FILES = {
    "deep": "[" * 5000 + "]" * 5000,
    "duplicate key": '{"n_input": 5, "n_input": 6}',
    "400 digits": '{"n_output": ' + "9" * 400 + "}",
    "NaN": '{"rest": NaN}',
    "weight_scale 1e300": '{"weight_scale": 1e300}',
    "not JSON": "n_input = 5",
    "unknown key": '{"__class__": "os.system"}',
}


@pytest.mark.parametrize("name", list(HOSTILE_CONFIG_FILES))
def test_loading_a_hostile_config_file_is_a_message(tmp_path, name):
    path = tmp_path / "cfg.json"
    path.write_text(HOSTILE_CONFIG_FILES[name])
    lab = Lab(SMALL)
    before = lab.controller.config
    lab.config_path.value = str(path)
    assert lab.load_config() is None
    assert is_error(lab) and "Could not load" in lab.message.value
    assert lab.controller.config == before


def test_loading_a_folder_or_a_missing_file_is_a_message(tmp_path):
    lab = Lab(SMALL)
    for p in (tmp_path, tmp_path / "missing.json"):
        lab.config_path.value = str(p)
        assert lab.load_config() is None and is_error(lab)


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
