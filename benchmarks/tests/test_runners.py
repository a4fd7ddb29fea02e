"""The benchmark runners simulate the same network: their rasters agree spike for spike.

On the seed network (200 steps here, to stay fast) snnlab, the numpy and torch
loops, and -- where their venvs exist (``peers/setup_venvs.sh``) -- BindsNET,
NEST and Brian2 must give the same spikes. A runner that drifted from the
step semantics (a missing delay, a refractory step too many) would fail here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "runners"))

import common as C  # noqa: E402
import run_loops  # noqa: E402

STEPS = 200
VENVS = BENCH / "peers" / ".venvs"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_data")
    C.prepare_data(C.get_workload("seed", STEPS), d)
    return d


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "numpy.npy"
    rec = run_loops.measure("numpy", C.get_workload("seed", STEPS), data_dir, repeats=1, save_spikes=out)
    raster = np.load(out)
    assert raster.shape == (STEPS, 1000)
    assert rec["spikes_out"] == raster.sum() > 100  # the network is active
    return raster


def test_data_is_deterministic(tmp_path):
    wl = C.get_workload("seed", 50)
    a = C.load_data(wl, tmp_path / "a")
    b = C.load_data(wl, tmp_path / "b")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].dtype == np.uint8 and a[1].dtype == np.float32


def test_bad_workload_names_the_value():
    with pytest.raises(ValueError, match="unknown workload 'nope'"):
        C.get_workload("nope")
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        C.get_workload("seed", 0)


@pytest.mark.parametrize("impl", ["numpy-event", "torch"])
def test_loops_match_reference(impl, data_dir, reference, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "s.npy"
    run_loops.measure(impl, C.get_workload("seed", STEPS), data_dir, repeats=1, save_spikes=out)
    assert np.array_equal(np.load(out), reference)


def test_snnlab_matches_reference(data_dir, reference, tmp_path):
    pytest.importorskip("snnlab.network")
    import run_bindsnet_api

    out = tmp_path / "s.npy"
    rec = run_bindsnet_api.measure("snnlab", C.get_workload("seed", STEPS), data_dir, repeats=1, save_spikes=out)
    assert np.array_equal(np.load(out), reference)
    assert rec["spikes_in"] == np.load(C.data_paths(C.get_workload("seed", STEPS), data_dir)["inputs"]).sum()


@pytest.mark.parametrize("peer,script,args", [
    ("bindsnet", "run_bindsnet_api.py", ["--package", "bindsnet"]),
    ("nest", "run_nest.py", ["--threads", "2"]),
    ("brian2", "run_brian2.py", []),
])
def test_peer_matches_reference(peer, script, args, data_dir, reference, tmp_path):
    py = VENVS / peer / "bin" / "python"
    if not py.exists():
        pytest.skip(f"{peer} venv not set up (benchmarks/peers/setup_venvs.sh)")
    out = tmp_path / "s.npy"
    r = subprocess.run([str(py), str(BENCH / "runners" / script), *args, "--workload", "seed", "--steps",
                        str(STEPS), "--repeats", "1", "--data", str(data_dir), "--save-spikes", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (rec,) = C.parse_results(r.stdout)
    assert rec["spikes_out"] == reference.sum()
    assert np.array_equal(np.load(out), reference)
