"""Hostile use of the lab controller: bad experiments, bad parameter values
(before and during a run), bad traced neurons, commands in the wrong state,
a frame callback that raises. Each is refused with an error naming the
problem, and nothing half-changes: the last good value stays, a run in
progress goes on with finite values."""

import math
import time

import numpy as np
import pytest

from snnlab.config import LabConfig
from snnlab.lab.controller import Controller

SMALL = LabConfig(n_input=20, n_output=30, time=40.0, weight_scale=3.0)
LONG = SMALL.replace(time=400_000.0)


def wait_until(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize("bad", ["seed.json", 5, [1, 2], {"n_input": 3}, b"{}", object()], ids=repr)
def test_a_controller_of_something_else_is_a_type_error(bad):
    with pytest.raises(TypeError, match="expected an Experiment or a LabConfig"):
        Controller(bad)


BAD_VALUES = {
    "n_output -1": ("n_output", -1, ValueError),
    "n_output 2.5": ("n_output", 2.5, (ValueError, TypeError)),
    "n_input 10**400": ("n_input", 10**400, ValueError),
    "seed 2**70": ("seed", 2**70, ValueError),
    "dt 'x'": ("dt", "x", TypeError),
    "dt 1e-300": ("dt", 1e-300, ValueError),
    "time NaN": ("time", float("nan"), ValueError),
    "time inf": ("time", float("inf"), ValueError),
    "weight_scale True": ("weight_scale", True, TypeError),
    "weight_scale 1e300": ("weight_scale", 1e300, ValueError),
    "inhibition 1e300": ("inhibition", 1e300, ValueError),
    "inhibition -1": ("inhibition", -1.0, ValueError),
    "rest 1e300": ("rest", 1e300, ValueError),
    "neuron_model 'Evil'": ("neuron_model", "Evil", ValueError),
    "neuron_model None": ("neuron_model", None, (ValueError, TypeError)),
    "input_rate complex": ("input_rate", 1 + 2j, TypeError),
}


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_bad_value_is_refused_and_the_old_one_stays(name):
    path, value, error = BAD_VALUES[name]
    ctl = Controller(SMALL)
    before = {p: v.value for p, v in ctl.parameters().items()}
    with pytest.raises(error) as info:
        ctl.set(path, value)
    assert path in str(info.value)
    assert len(str(info.value)) < 700
    assert {p: v.value for p, v in ctl.parameters().items()} == before


def test_unknown_parameter_names_it():
    ctl = Controller(SMALL)
    with pytest.raises(ValueError, match="no parameter 'nope'; expected one of: .*weight_scale"):
        ctl.set("nope", 1)


@pytest.mark.parametrize("path", ["weight_scale", "inhibition", "input_rate"])
def test_hostile_live_values_mid_run_are_refused_and_the_run_stays_finite(path):
    ctl = Controller(LONG)
    ctl.start()
    assert wait_until(lambda: ctl.data is not None and ctl.data.steps_done >= 20)
    before = ctl.parameters()[path].value
    for value in (1e300, float("nan"), float("inf"), -1e300):
        with pytest.raises((ValueError, TypeError)):
            ctl.set(path, value)
    assert ctl.parameters()[path].value == before
    steps_then = ctl.data.steps_done
    assert wait_until(lambda: ctl.data.steps_done > steps_then + 20)  # still running
    ctl.stop(wait=30)
    rec = ctl.recording
    assert ctl.state == "stopped" and rec.steps > steps_then
    assert np.isfinite(rec.voltages("B")).all()


@pytest.mark.parametrize("layer, neurons, words", [
    ("B", [999], "not in layer"),
    ("Z", [0], "no layer"),
    ("B", list(range(100)), "at most"),
    ("B", ["x"], "x"),
])
def test_bad_traced_neurons_are_refused(layer, neurons, words):
    ctl = Controller(SMALL)
    before = list(ctl.traced_for("B"))
    with pytest.raises(ValueError) as info:
        ctl.set_traced(layer, neurons)
    assert words in str(info.value)
    assert list(ctl.traced_for("B")) == before


def test_commands_in_the_wrong_state_are_harmless():
    ctl = Controller(SMALL)
    ctl.stop()
    ctl.pause()
    ctl.resume()
    assert ctl.state == "idle" and not ctl.running
    assert ctl.start() and not ctl.start()  # one run at a time
    assert ctl.join(60) and ctl.state == "done"
    ctl.stop()
    ctl.resume()
    assert ctl.state == "done" and ctl.recording.completed


def test_reset_during_a_run_stops_it_and_forgets_it():
    ctl = Controller(LONG)
    ctl.start()
    assert wait_until(lambda: ctl.state == "running")
    ctl.reset()
    assert not ctl.running and ctl.state == "idle" and ctl.recording is None


def test_a_frame_callback_that_raises_ends_the_run_with_a_message():
    def explode(data, final):
        if data.steps_done >= 10:
            raise RuntimeError("plot exploded\nsecond line")

    ctl = Controller(LONG, on_frame=explode, frame_interval=0.0)
    ctl.start()
    assert ctl.join(60)
    assert ctl.state == "error" and "plot exploded" in ctl.message
    assert ctl.recording is not None and ctl.recording.steps >= 10  # what was simulated is kept
    ctl.on_frame = None
    ctl.set("time", 40.0)
    assert ctl.start() and ctl.join(60) and ctl.state == "done"  # not dead


def test_stop_during_the_build_ends_cleanly():
    ctl = Controller(LONG)
    ctl.start()
    ctl.stop(wait=60)  # at once: before or just after the first chunk
    assert not ctl.running and ctl.state in ("stopped", "idle")
    rec = ctl.recording
    assert rec is None or (not rec.completed and rec.steps < LONG.n_steps)
