"""The model benchmark's runner (``runners/run_models.py``) and its comparison logic.

Fast checks on snnlab alone; where BindsNET's venv exists
(``peers/setup_venvs.sh``), the two packages must agree spike for spike and
weight for weight on the deterministic networks (PostPre seed network, and
Diehl & Cook with ``one_spike=False``). Missing peers skip.
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

import bench_models  # noqa: E402
import common as C  # noqa: E402
import run_models  # noqa: E402

BINDSNET_PY = bench_models.bindsnet_python(None)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("model_data")


def test_model_data_is_deterministic(tmp_path):
    a = run_models.model_data("dc", 2, tmp_path / "a")
    b = run_models.model_data("dc", 2, tmp_path / "b")
    assert a["inputs"].shape == (2, run_models.DC_STEPS, run_models.DC_IN) and a["inputs"].dtype == np.uint8
    assert a["w_in"].shape == (run_models.DC_IN, run_models.DC_EXC)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    izh = run_models.model_data("seed_izh", 1, tmp_path / "a")
    assert set(izh["izh"]) == {"a", "b", "c", "d", "S"} and izh["izh"]["S"].shape == (1000, 1000)
    assert np.array_equal(izh["w_fwd"], run_models.model_data("seed_postpre", 1, tmp_path / "a")["w_fwd"]
                          * np.float32(run_models.IZH_W_SCALE))


@pytest.mark.parametrize("model", run_models.MODELS)
def test_snnlab_runs_each_model(model, data_dir, tmp_path):
    pytest.importorskip("snnlab.network")
    save = tmp_path / "s.npz"
    rec = run_models.measure("snnlab", model, samples=1, repeats=1, warmup=0, data_dir=data_dir, save=save)
    data = run_models.model_data(model, 1, data_dir)
    assert rec["simulator"] == "snnlab" and rec["repeats"] == 1
    assert rec["spikes_in"] == int(data["inputs"][:1].sum())
    with np.load(save) as z:
        out = z["s_Ae" if model == "dc" else "s_B"]
        assert rec["spikes_out"] == int(out.sum()) > 0  # the network is active
        if model == "seed_postpre":  # learning changed the forward weights
            assert not np.array_equal(z["w_A_B"], data["w_fwd"])


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_agreement_finds_the_first_differing_step(tmp_path):
    s = np.zeros((2, 5, 3), dtype=np.uint8)
    w = np.ones((3, 3), dtype=np.float32)
    a = _save(tmp_path / "a.npz", s_B=s, w_A_B=w)
    same = bench_models.agreement(a, _save(tmp_path / "b.npz", s_B=s.copy(), w_A_B=w.copy()))
    assert same["identical"] and same["first_diff_step"] == {"B": None} and same["max_dw"] == {"A_B": 0.0}
    s2 = s.copy()
    s2[1, 2, 0] = 1  # sample 1, step 2 -> global step 7
    diff = bench_models.agreement(a, _save(tmp_path / "c.npz", s_B=s2, w_A_B=w + 0.5))
    assert not diff["identical"] and diff["first_diff_step"] == {"B": 7}
    assert diff["max_dw"] == {"A_B": 0.5} and diff["spikes"] == {"B": (0, 1)}
    assert "up to step 7" in bench_models.describe_agreement("seed_izh", diff)
    with pytest.raises(ValueError, match="saved different things"):
        bench_models.agreement(a, _save(tmp_path / "d.npz", s_B=s))


def test_bindsnet_python_prefers_the_argument(tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("")
    monkeypatch.delenv("SNNLAB_BINDSNET_PYTHON", raising=False)
    assert bench_models.bindsnet_python(fake) == fake
    monkeypatch.setenv("SNNLAB_BINDSNET_PYTHON", str(fake))
    assert bench_models.bindsnet_python(tmp_path / "missing") == fake


def test_bench_writes_its_table_without_bindsnet(tmp_path, monkeypatch):
    pytest.importorskip("snnlab.network")
    out = tmp_path / "bench_models.txt"
    assert bench_models.main(["--models", "seed_postpre", "--repeats", "1", "--no-bindsnet", "--data",
                              str(tmp_path / "d"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "seed 100 -> 1000 LIF + PostPre" in text and "not checked (no BindsNET)" in text


@pytest.mark.parametrize("model,one_spike", [("seed_postpre", True), ("dc", False)])
def test_bindsnet_and_snnlab_agree(model, one_spike, data_dir, tmp_path):
    if BINDSNET_PY is None:
        pytest.skip("BindsNET venv not set up (benchmarks/peers/setup_venvs.sh or $SNNLAB_BINDSNET_PYTHON)")
    pytest.importorskip("snnlab.network")
    sn, bn = tmp_path / "sn.npz", tmp_path / "bn.npz"
    run_models.measure("snnlab", model, samples=1, repeats=1, warmup=0, data_dir=data_dir, one_spike=one_spike,
                       save=sn)
    rec = bench_models.peer_record(BINDSNET_PY, model, samples=1, repeats=1, warmup=0, data_dir=data_dir,
                                   threads=1, one_spike=one_spike, save=bn, timeout=600)
    assert rec["simulator"] == "bindsnet"
    agree = bench_models.agreement(sn, bn)
    assert agree["identical"], agree
