"""Recording whole runs to disk (zarr), chunk by chunk; loadable after a SIGKILL at any point."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("zarr")

from snnlab.config import LabConfig
from snnlab.lab.controller import Controller, run_config
from snnlab.lab.store import load_run

SMALL = LabConfig(n_input=30, n_output=80, time=600.0, input_rate=200.0, weight_scale=3.0)


def test_a_run_on_disk_is_the_whole_run_even_beyond_the_window(tmp_path):
    ctl = Controller(SMALL, window_steps=100, chunk_steps=37, record_to=tmp_path / "run.zarr")
    ctl.start()
    assert ctl.join(60) and ctl.state == "done"
    assert ctl.recording.steps == 100  # the memory holds a window
    disk = load_run(tmp_path / "run.zarr")
    ref = run_config(SMALL)
    assert disk.steps == 600 and disk.completed
    assert np.array_equal(disk.spikes("A"), ref.spikes("A"))
    assert np.array_equal(disk.spikes("B"), ref.spikes("B"))
    assert np.array_equal(disk.voltages("B"), ref.voltages("B"))
    assert disk.experiment["n_output"] == 80


def test_record_to_refuses_a_used_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("mine")
    ctl = Controller(SMALL, record_to=tmp_path / "x")
    ctl.start()
    assert ctl.join(30) and ctl.state == "error" and "not an empty folder" in ctl.message
    assert (tmp_path / "x" / "f").read_text() == "mine"


def test_not_a_run_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not a recorded run"):
        load_run(tmp_path / "nothing")


_CHILD = textwrap.dedent("""
    import sys
    from snnlab.config import LabConfig
    from snnlab.lab.controller import Controller
    cfg = LabConfig(n_input=30, n_output=80, time=600.0, input_rate=200.0, weight_scale=3.0)
    ctl = Controller(cfg, chunk_steps=7, record_to=sys.argv[1])
    ctl.start(None)
    print("started", flush=True)
    ctl.join()
""")


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.3, 1.0, 2.0])
def test_a_run_killed_at_any_moment_loads(tmp_path, delay):
    path = tmp_path / "run.zarr"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    if not (path / "zarr.json").exists():
        return  # killed before the group existed: nothing claims to be a run
    disk = load_run(path)  # whatever the moment, it loads
    ref = run_config(SMALL.replace(time=float(max(disk.steps, 1))))
    assert not disk.completed
    if disk.steps:
        assert np.array_equal(disk.spikes("B"), ref.spikes("B"))
        assert np.array_equal(disk.voltages("B"), ref.voltages("B"))
