"""Kill and resume: a sweep SIGKILLed mid-way, then started again, loses and duplicates nothing."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from snnlab.sweep import Sweep, grid, load_results

from .helpers import gated_target

HERE = Path(__file__).resolve().parent
RATES = [10, 20, 30, 40, 100, 110, 120]  # the last three block until the gate opens
SEEDS = 2
VOLATILE = ["wall_time_s", "worker"]


def test_sigkill_mid_sweep_then_resume(tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    gate = tmp_path / "gate"
    monkeypatch.setenv("SWEEP_GATE", str(gate))
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        from helpers import gated_target
        from snnlab.sweep import Sweep, grid
        Sweep(gated_target(), grid(rate={RATES!r}), seeds={SEEDS}, out={str(out)!r}).run(scheduler="inline")
        """
    )
    env = dict(os.environ, SWEEP_GATE=str(gate))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    finished_before = 4 * SEEDS  # the points below 100 Hz
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "parts").glob("p*"))) < finished_before:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the sweep did not get going"
            time.sleep(0.05)
        time.sleep(0.2)  # it is now blocked on the gate
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    before = load_results(out)
    assert len(before) == finished_before
    assert not (out / "results.parquet").exists()  # killed: never consolidated, nothing lost for that
    # A temporary file from a write cut short (as a kill mid-write leaves) is ignored.
    (out / "parts" / ".tmp-p000005_r000.parquet-x").write_bytes(b"PAR1 half a row")

    gate.touch()
    resumed_rows = []
    table = Sweep(gated_target(), grid(rate=RATES), seeds=SEEDS, out=out).run(
        scheduler="inline", on_result=resumed_rows.append
    )
    # Only the missing runs ran, and every run is there once.
    assert sorted((r["point"], r["replicate"]) for r in resumed_rows) == [(p, r) for p in (4, 5, 6) for r in range(SEEDS)]
    assert len(table) == len(RATES) * SEEDS
    assert not table.duplicated(["point", "replicate"]).any()
    # The rows written before the kill are unchanged.
    pd.testing.assert_frame_equal(table.iloc[:finished_before].reset_index(drop=True), before)
    # And the whole table is what one uninterrupted sweep gives.
    fresh = Sweep(gated_target(), grid(rate=RATES), seeds=SEEDS, out=tmp_path / "fresh").run(scheduler="inline")
    pd.testing.assert_frame_equal(table.drop(columns=VOLATILE), fresh.drop(columns=VOLATILE))
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), table)


def test_sigkill_of_a_sweep_on_a_local_cluster_then_resume(tmp_path, monkeypatch):
    """The whole process group (client, scheduler, 2 worker processes) killed at once, as a job kill does."""
    pytest.importorskip("dask.distributed")
    out = tmp_path / "sweep"
    gate = tmp_path / "gate"
    code = textwrap.dedent(
        f"""
        from helpers import gated_target
        from snnlab.sweep import Sweep, grid
        if __name__ == "__main__":
            Sweep(gated_target(), grid(rate={RATES!r}), seeds={SEEDS}, out={str(out)!r}).run(workers=2)
        """
    )
    script = tmp_path / "run_sweep.py"
    script.write_text(code)
    # The workers import the target's module too: it must be on their path.
    env = dict(os.environ, SWEEP_GATE=str(gate),
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE, start_new_session=True)
    finished_before = 4 * SEEDS
    try:
        deadline = time.monotonic() + 180
        while len(list((out / "parts").glob("p*"))) < finished_before:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the sweep did not get going"
            time.sleep(0.05)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = load_results(out)
    assert len(before) == finished_before

    gate.touch()
    monkeypatch.setenv("SWEEP_GATE", str(gate))
    table = Sweep(gated_target(), grid(rate=RATES), seeds=SEEDS, out=out).run(scheduler="inline")
    assert table["error"].isna().all()
    assert len(table) == len(RATES) * SEEDS and not table.duplicated(["point", "replicate"]).any()
    pd.testing.assert_frame_equal(table.iloc[:finished_before].reset_index(drop=True), before)
    fresh = Sweep(gated_target(), grid(rate=RATES), seeds=SEEDS).run(scheduler="inline")
    pd.testing.assert_frame_equal(table.drop(columns=VOLATILE), fresh.drop(columns=VOLATILE))
