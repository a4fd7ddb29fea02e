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
    assert 1 <= choose_chunk_steps(LabConfig(n_output=10_000, time=1000.0)) <= 20
    assert 10 <= choose_chunk_steps(LabConfig()) <= 200
    assert choose_chunk_steps(LabConfig(), step_cost_s=0.1) == 1


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


def test_frames_are_throttled(monkeypatch):
    # A fake clock that moves 1 ms at every reading: the frame times are then
    # the controller's own decisions, the same on any machine.
    import snnlab.lab.controller as controller

    class Clock:
        t = 0.0

        def perf_counter(self):
            self.t += 0.001
            return self.t

    clock = Clock()
    monkeypatch.setattr(controller, "_time", clock)
    starts = []

    def frame(data, final):
        starts.append(clock.t)

    ctl = Controller(SMALL.replace(time=2000.0), on_frame=frame, frame_interval=0.05, chunk_steps=1)
    ctl.start()
    assert ctl.join(60) and ctl.state == "done"
    gaps = np.diff(starts[:-1])  # the final frame comes whenever the run ends
    assert len(gaps) >= 10  # 2000 chunks of several clock readings each: many frames
    assert gaps.min() >= 0.05


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


def test_stop_mid_run_is_fast_and_keeps_the_data():
    # Stop is honoured at the next chunk boundary (chunks are sized to ~15 ms,
    # so that is the latency, by design; benchmarks/bench_interrupt.py measures
    # it). Pressed from a frame, i.e. between two chunks, not one more step runs.
    at_stop = []

    def frame(data, final):
        if not final and data.steps_done >= 300 and not at_stop:
            at_stop.append(data.steps_done)
            ctl.stop()

    ctl = Controller(long_config(), on_frame=frame, frame_interval=0.0)
    ctl.start()
    assert ctl.join(60)
    assert ctl.state == "stopped" and "stopped at" in ctl.message
    rec = ctl.recording
    assert not rec.completed and rec.steps == at_stop[0] and 300 <= rec.steps < long_config().n_steps
    # what was kept is exactly the start of the full run
    ref = run_config(SMALL.replace(time=rec.steps * SMALL.dt))
    assert np.array_equal(rec.spikes("B"), ref.spikes("B"))
    assert np.array_equal(rec.voltages("B"), ref.voltages("B"))


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
    assert ctl.run_config.n_output == 200
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


def test_live_value_bad_for_the_running_dt_is_refused():
    ctl = Controller(long_config())
    ctl.start()
    assert wait_until(lambda: ctl.state == "running")
    ctl.update(dt=2.0)  # for the next run; the running one keeps dt=1
    with pytest.raises(ValueError, match="input_rate"):
        ctl.update(input_rate=700.0)  # p = 1.4 at dt=2
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
    ctl = Controller(cfg)
    ctl.start()
    assert wait_until(lambda: ctl.data is not None and ctl.data.steps_done >= 50)
    ctl.stop()
    assert ctl.join(10) and ctl.state == "stopped"
    rec = ctl.recording
    assert 50 <= rec.steps < cfg.n_steps and rec.spikes("B").all()


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
    # Force a new chunk size after every chunk: the run is then many
    # run_chunks calls in a row, and must still be the one unbroken run.
    import snnlab.lab.controller as controller

    # Each size is less than half the one before: a new call every time
    # (shrinking does not depend on timing; growing would).
    sizes = iter([80, 30, 10] + [3] * 1000)
    monkeypatch.setattr(controller, "choose_chunk_steps", lambda cfg, step_cost_s=None, target_s=0.015: next(sizes))
    ctl = Controller(SMALL)
    ctl.start()
    assert ctl.join(60) and ctl.state == "done"
    # one chunk of 80, of 30 and of 10 (each then replanned), the last 80 steps in 27 chunks of 3
    assert ctl.data.chunks == 3 + 27
    ref = run_config(SMALL, chunk_steps=200)
    rec = ctl.recording
    assert np.array_equal(rec.spikes("A"), ref.spikes("A"))
    assert np.array_equal(rec.spikes("B"), ref.spikes("B"))
    assert np.array_equal(rec.voltages("B"), ref.voltages("B"))


def test_chunks_shrink_when_steps_get_slow():
    # Runaway activity in 3,000 neurons: every spike propagates, a step costs
    # ~10x the model's guess; the chunks adapt and Stop stays quick.
    cfg = LabConfig(n_output=3000, time=20_000.0, thresh=-70.0, refrac=0.0, inhibition=0.0)
    ctl = Controller(cfg)
    ctl.start()
    assert wait_until(lambda: ctl.data is not None and ctl.data.steps_done >= 100, 60)
    ctl.stop()
    assert ctl.join(10) and ctl.state == "stopped"
    assert ctl.recording.spikes("B").all()
    # the mechanism that keeps Stop quick: a 10x dearer step gets a chunk at most a tenth as long
    guess = choose_chunk_steps(cfg)
    weights = cfg.n_input * cfg.n_output + cfg.n_output**2
    model_cost = 1e-4 + 5e-8 * cfg.n_output + 1e-11 * weights
    assert choose_chunk_steps(cfg, step_cost_s=10 * model_cost) <= max(1, guess // 10 + 1)
