"""The Diehl & Cook runner (BindsNET's eth_mnist.py workflow on the 8x8 digits) runs on
snnlab and reports what bench_diehl_cook.py compares; and, where BindsNET's venv exists,
on BindsNET too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH / "runners"))

import run_diehl_cook  # noqa: E402

BINDSNET = BENCH / "peers" / ".venvs" / "bindsnet" / "bin" / "python"


def _check(r: dict, n_train: int, n_test: int) -> None:
    assert r["n_train"] == n_train and r["n_test"] == n_test and r["steps_per_sample"] == 30
    for key in ("accuracy_all", "accuracy_proportion"):
        assert 0.0 <= r[key] <= 100.0
    assert r["train_s"] > 0 and r["test_s"] > 0
    assert r["cpu_ms_per_train_sample"] > 0 and r["cpu_ms_per_test_sample"] > 0
    assert len(r["curve"]) == (n_train - 1) // 5  # one estimate per finished interval of 5


def test_runner_on_snnlab():
    pytest.importorskip("sklearn")
    r = run_diehl_cook.run("snnlab", n_train=12, n_test=4, n_neurons=9, sim_time=30, intensity=128.0, exc=22.5,
                           inh=120.0, theta_plus=0.05, norm=6.4, update_interval=5, seed=0, threads=1)
    _check(r, 12, 4)
    assert r["package"] == "snnlab"


@pytest.mark.skipif(not BINDSNET.exists(), reason="BindsNET's venv is not set up (benchmarks/peers/setup_venvs.sh)")
def test_runner_on_bindsnet():
    out = subprocess.run([str(BINDSNET), str(BENCH / "runners" / "run_diehl_cook.py"), "--package", "bindsnet",
                          "--n-train", "12", "--n-test", "4", "--n-neurons", "9", "--time", "30", "--update-interval", "5"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads([l for l in out.stdout.splitlines() if l.startswith("RESULT ")][0][7:])
    _check(r, 12, 4)
