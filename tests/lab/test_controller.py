"""The controller: runs, determinism, stop, pause, live parameters, failures."""

import threading
import time

import numpy as np
import pytest

from snnlab.config import LabConfig
from snnlab.lab.controller import Controller, choose_chunk_steps, run_config

SMALL = LabConfig(n_input=50, n_output=200, time=200.0, input_rate=200.0, weight_scale=3.0)


def long_config(**kw):
    # Long enough that a stop always comes mid-run (seconds of wall time).
    return SMALL.replace(time=200_000.0, **kw)


def wait_until(cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


def test_run_config_records_the_seed_network():
    rec = run_config(LabConfig())
    assert rec.completed and rec.steps == 500 and rec.duration == 500.0
    assert rec.spikes("A").shape == (500, 100) and rec.spikes("A").dtype == bool
    assert rec.spikes("B").shape == (500, 1000)
    assert rec.voltages("B").shape == (500, 5) and rec.voltages("B").dtype == np.float32
    assert rec.spikes("A").mean() == pytest.approx(0.1, abs=0.01)  # Bernoulli(0.1)
    assert rec.spikes("B").sum() > 0
    # recorded after reset: a LIF voltage never reaches the threshold
    assert rec.voltages("B").max() < rec.layers["B"].threshold
    np.testing.assert_allclose(rec.rate("B")[1], rec.spikes("B").sum(1) / (1000 * 1e-3))


def test_same_seed_same_spikes_whatever_the_chunks():
    a = run_config(SMALL, chunk_steps=7)
    b = run_config(SMALL, chunk_steps=64)
    assert np.array_equal(a.spikes("A"), b.spikes("A"))
    assert np.array_equal(a.spikes("B"), b.spikes("B"))
    assert np.array_equal(a.voltages("B"), b.voltages("B"))
    c = run_config(SMALL.replace(seed=1), chunk_steps=7)
    assert not np.array_equal(a.spikes("B"), c.spikes("B"))


def test_chunks_stay_short():
    # (neurons, weights) of the seed network at 10,000 and 1,000 output neurons
    assert 1 <= choose_chunk_steps(10_100, 100 * 10_000 + 10_000**2) <= 20
    assert 10 <= choose_chunk_steps(1100, 100 * 1000 + 1000**2) <= 200
    assert choose_chunk_steps(1100, 10**6, step_cost_s=0.1) == 1
    assert choose_chunk_steps(1100, 10**6, n_steps=3) == 3


def test_controller_run_streams_frames_and_matches_headless():
    frames = []
    states = []
    ctl = Controller(SMALL, on_frame=lambda d, final: frames.append((d.steps_done, final)),
                     on_state=lambda s, m: states.append(s), frame_interval=0.0, chunk_steps=10)
    assert ctl.start()
    assert ctl.join(30)
    assert ctl.state == "done" and states[0] == "building" and states[-1] == "done"
    steps = [s for s, final in frames]
    assert steps == sorted(steps) and steps[-1] == SMALL.n_steps and frames[-1][1] is True
    assert len(frames) >= 10  # intermediate frames, not only the last
    rec = ctl.recording
    ref = run_config(SMALL)
    assert rec.completed and np.array_equal(rec.spikes("B"), ref.spikes("B"))
    # a second run of the same config gives the same spikes
    assert ctl.start() and ctl.join(30)
    assert np.array_equal(ctl.recording.spikes("B"), ref.spikes("B"))


def test_frames_are_throttled():
    starts = []

    def frame(data, final):
        if not final:
            starts.append(time.perf_counter())

    ctl = Controller(SMALL, on_frame=frame, frame_interval=0.05, chunk_steps=1)
    ctl.start(None)  # until Stop: as many frames as we wait for
    assert wait_until(lambda: len(starts) >= 5, 60)
    ctl.stop(wait=10)
    # frame k is due interval x (k + 1) after the first step, never earlier
    # (a late one does not push the next ones back)
    w0 = ctl.data.wall_start
    for k, t in enumerate(starts[:5]):
        assert t >= w0 + 0.05 * (k + 1) - 1e-6, (k, t - w0)


def test_slow_frames_take_at_most_half_the_run():
    def slow_frame(data, final):
        time.sleep(0.03)

    ctl = Controller(SMALL.replace(time=3000.0), on_frame=slow_frame, frame_interval=0.0, chunk_steps=1)
    ctl.start()
    ctl.join(60)
    d = ctl.data
    assert d.frames >= 3
    # every frame but the final one is followed by at least as much simulating
    assert d.frame_time - 0.03 <= 0.5 * d.wall_time + 0.03


def test_only_one_run_at_a_time():
    ctl = Controller(long_config())
    assert ctl.start()
    assert not ctl.start()  # a second Run does not start a second run
    assert threading.active_count() >= 2
    names = [t.name for t in threading.enumerate()]
    assert names.count("snnlab-lab-run") == 1
    ctl.stop(wait=10)
    assert ctl.state == "stopped"


def test_stop_acts_at_the_next_chunk_and_copies_nothing():
    ctl = Controller(long_config(), chunk_steps=10)
    ctl.start()
    assert wait_until(lambda: ctl.data is not None and ctl.data.steps_done >= 300)
    held = ctl.data.steps_done
    ctl.stop()
    assert ctl.join(10)
    assert ctl.state == "stopped" and "stopped at" in ctl.message
    rec = ctl.recording
    # the chunk in progress, and the one stored meanwhile, at most
    assert not rec.completed and held <= rec.steps <= held + 20
    # the recording is a view of the run's buffers, not a copy
    assert np.shares_memory(rec.spikes("B"), ctl.data.buffers.spikes["B"])
    assert np.shares_memory(rec.voltages("B"), ctl.data.buffers.voltages["B"])
    # what was kept is exactly the start of the full run
    ref = run_config(SMALL.replace(time=rec.steps * SMALL.dt))
    assert np.array_equal(rec.spikes("B"), ref.spikes("B"))
    assert np.array_equal(rec.voltages("B"), ref.voltages("B"))


class _StopSignal(threading.Event):
    """The run's stop signal, noting the controller's state when it is given."""

    def __init__(self, ctl):
        super().__init__()
        self.ctl = ctl
        self.state_when_set = None

    def set(self):
        self.state_when_set = self.ctl.state
        super().set()


@pytest.mark.parametrize("wait_for", ["running", "paused"])
def test_stop_shows_stopping_before_the_run_is_told_and_ends_stopped(wait_for):
    # The run's thread may end the instant it is told to stop; "stopping" set after that
    # overwrote "stopped" and left the lab's buttons (Run, the experiment menu) disabled.
    ctl = Controller(long_config(), chunk_steps=10)
    seen = []
    ctl.on_state = lambda state, message: seen.append(state)
    ctl._stop = signal = _StopSignal(ctl)
    ctl.start()
    assert wait_until(lambda: ctl.state == "running")
    if wait_for == "paused":
        ctl.pause()
        assert wait_until(lambda: ctl.state == "paused")
    ctl.stop()
    assert signal.state_when_set == "stopping"
    assert ctl.join(10)
    assert ctl.state == "stopped" and seen[-2:] == ["stopping", "stopped"]


def test_the_run_cannot_undo_a_stop_it_has_not_seen_yet():
    ctl = Controller(long_config())
    seen = []
    ctl.on_state = lambda state, message: seen.append(state)
    ctl._set_state("running")
    ctl._set_state("stopping")
    ctl._set_state("running")  # the thread, one step behind (e.g. just resumed)
    ctl._set_state("paused")
    assert ctl.state == "stopping" and seen == ["running", "stopping"]
    ctl._set_state("stopped", "stopped at 5 ms")
    assert ctl.state == "stopped" and ctl.message == "stopped at 5 ms"


def test_pause_and_resume():
    ctl = Controller(long_config())
    ctl.start()
    assert wait_until(lambda: ctl.state == "running")
    ctl.pause()
    assert wait_until(lambda: ctl.state == "paused", 5)
    held = ctl.data.steps_done
    time.sleep(0.3)
    assert ctl.data.steps_done == held
    ctl.resume()
    assert wait_until(lambda: ctl.data.steps_done > held, 5)
    ctl.pause()
    assert wait_until(lambda: ctl.state == "paused", 5)
    ctl.stop(wait=10)  # stopping a paused run works
    assert ctl.state == "stopped"


def test_live_parameters_apply_at_the_next_chunk():
    ctl = Controller(long_config(input_rate=300.0), chunk_steps=5)
    ctl.start()
    assert wait_until(lambda: ctl.data is not None and ctl.data.steps_done >= 100)
    ctl.update(input_rate=0.0)
    assert ctl.config.input_rate == 0.0
    assert wait_until(lambda: ctl.data.changes)
    step, name, value = ctl.data.changes[0]
    assert (name, value) == ("input_rate", 0.0)
    assert wait_until(lambda: ctl.data.steps_done >= step + 50)
    ctl.stop(wait=10)
    rec = ctl.recording
    assert rec.spikes("A")[:step].mean() > 0.2
    assert not rec.spikes("A")[step:].any()  # no input after the change
    assert rec.changes[0] == (step, "input_rate", 0.0)


def test_other_parameters_wait_for_the_next_run():
    ctl = Controller(long_config())
    ctl.start()
    assert wait_until(lambda: ctl.state == "running")
    ctl.update(n_output=120, thresh=-55.0)
    assert set(ctl.pending_fields()) == {"n_output", "thresh"}
    assert ctl.data.network.layers[ctl.recording.layer_names[-1]].n == 200
    ctl.stop(wait=10)
    assert ctl.recording.spikes("B").shape[1] == 200
    ctl.update(time=50.0)
    ctl.start()
    ctl.join(30)
    assert ctl.recording.spikes("B").shape == (50, 120)


def test_bad_values_change_nothing():
    ctl = Controller(SMALL)
    with pytest.raises(ValueError, match="n_output"):
        ctl.update(n_output=0)
    with pytest.raises(ValueError, match="whole number of steps"):
        ctl.update(dt=0.3)
    assert ctl.config == SMALL
    ctl.start()
    ctl.join(30)
    assert ctl.state == "done"


def test_values_the_engine_cannot_carry_are_refused_mid_run():
    ctl = Controller(long_config(), chunk_steps=10)
    ctl.start()
    assert wait_until(lambda: ctl.data is not None and ctl.data.steps_done >= 50)
    for name, value in (("weight_scale", 1e300), ("inhibition", 1e300), ("input_rate", 1e300),
                        ("weight_scale", float("nan")), ("weight_scale", float("inf"))):
        with pytest.raises(ValueError, match=name):
            ctl.update(**{name: value})
    assert ctl.config == long_config()  # the last good state stays
    ctl.update(weight_scale=2.0)
    assert wait_until(lambda: ctl.data.changes)
    ctl.stop(wait=10)
    rec = ctl.recording
    assert rec.changes == [(rec.changes[0][0], "weight_scale", 2.0)]
    assert np.isfinite(rec.voltages("B")).all()


def test_live_value_bad_for_the_running_dt_is_refused():
    ctl = Controller(long_config())
    ctl.start()
    assert wait_until(lambda: ctl.state == "running")
    with pytest.raises(ValueError, match="input_rate"):
        ctl.update(input_rate=1700.0)  # p = 1.7 at dt=1
    ctl.stop(wait=10)


def test_an_exception_in_a_run_ends_it_with_a_message():
    def bad_frame(data, final):
        if data.steps_done >= 50:
            raise RuntimeError("plot exploded")

    ctl = Controller(SMALL, on_frame=bad_frame, frame_interval=0.0, chunk_steps=10)
    ctl.start()
    assert ctl.join(30)
    assert ctl.state == "error"
    assert "RuntimeError: plot exploded" in ctl.message and "kept" in ctl.message
    assert ctl.recording.steps == 50
    ctl.on_frame = None
    assert ctl.start() and ctl.join(30) and ctl.state == "done"  # not dead


def test_runaway_activity_can_be_stopped():
    # threshold below rest and no refractory period: every neuron, every step
    cfg = long_config(thresh=-70.0, refrac=0.0, inhibition=0.0)
    ctl = Controller(cfg, chunk_steps=10)
    ctl.start()
    assert wait_until(lambda: ctl.data is not None and ctl.data.steps_done >= 50)
    held = ctl.data.steps_done
    ctl.stop()
    assert ctl.join(10)
    rec = ctl.recording
    assert rec.steps <= held + 20
    assert rec.spikes("B").all()


def test_reset_clears_the_run():
    ctl = Controller(long_config())
    ctl.start()
    assert wait_until(lambda: ctl.state == "running")
    ctl.reset()
    assert not ctl.running and ctl.state == "idle"
    assert ctl.recording is None and ctl.data is None


def test_worker_thread_count_leaves_the_callers_alone():
    import torch

    before = torch.get_num_threads()
    ctl = Controller(SMALL, torch_threads=1)
    ctl.start()
    ctl.join(30)
    assert torch.get_num_threads() == before


def test_controller_and_config_import_no_widgets():
    import subprocess
    import sys

    code = ("import sys, snnlab.config, snnlab.lab, snnlab.lab.controller; "
            "bad = [m for m in ('ipywidgets', 'bqplot', 'matplotlib', 'PIL') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_replanned_chunks_give_the_unbroken_run(monkeypatch):
    # The chunk size shrinks after chunks (as when steps get slow): the run is
    # then several run_chunks calls in a row, and must still be the one
    # unbroken run.
    import snnlab.lab.controller as controller
    from snnlab.network import Network

    sizes = iter([60, 25, 9, 4, 1] + [1] * 1000)
    monkeypatch.setattr(controller, "choose_chunk_steps", lambda *a, **k: next(sizes))
    calls = []
    original = Network.run_chunks

    def counting(self, *a, **k):
        calls.append(k.get("chunk_steps"))
        return original(self, *a, **k)

    monkeypatch.setattr(Network, "run_chunks", counting)
    ctl = Controller(SMALL)
    ctl.start()
    assert ctl.join(60) and ctl.state == "done"
    assert calls[:5] == [60, 25, 9, 4, 1]  # shrinking by more than 2x starts a new call
    monkeypatch.setattr(Network, "run_chunks", original)
    ref = run_config(SMALL, chunk_steps=200)
    rec = ctl.recording
    assert np.array_equal(rec.spikes("A"), ref.spikes("A"))
    assert np.array_equal(rec.spikes("B"), ref.spikes("B"))
    assert np.array_equal(rec.voltages("B"), ref.voltages("B"))


def test_open_ended_run_keeps_a_sliding_window_of_flat_size():
    ctl = Controller(SMALL, window_steps=300, chunk_steps=20)
    ctl.start(None)
    assert wait_until(lambda: ctl.data is not None and ctl.data.steps_done >= 1500, 60)
    sizes = {k: v.nbytes for k, v in ctl.data.buffers.spikes.items()}
    ctl.stop(wait=10)
    assert {k: v.nbytes for k, v in ctl.data.buffers.spikes.items()} == sizes  # never grew
    rec = ctl.recording
    done = ctl.data.steps_done
    assert rec.steps == 300 and rec.start_step == done - 300 and not rec.completed
    ref = run_config(SMALL.replace(time=float(done)))
    assert np.array_equal(rec.spikes("B"), ref.spikes("B")[-300:])
    assert np.array_equal(rec.voltages("B"), ref.voltages("B")[-300:])
    np.testing.assert_array_equal(rec.times, np.arange(done - 300, done) * SMALL.dt)


def test_chunks_shrink_when_steps_get_slow():
    # Runaway activity in 3,000 neurons: every spike propagates, a step costs
    # ~10x the model's guess; the chunks adapt to the measured cost.
    cfg = LabConfig(n_output=3000, time=20_000.0, thresh=-70.0, refrac=0.0, inhibition=0.0)
    ctl = Controller(cfg)
    sizes = []
    ctl.on_frame = lambda run, final: sizes.append(run.chunk_steps)
    ctl.frame_interval = 0.0
    ctl.start()
    assert wait_until(lambda: ctl.data is not None and ctl.data.steps_done >= 100, 60)
    ctl.stop(wait=10)
    assert ctl.recording.spikes("B").all()
    assert sizes[-1] < sizes[0]
