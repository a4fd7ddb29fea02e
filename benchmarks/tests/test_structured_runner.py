"""The structured-connection benchmark (``bench_structured.py``, ``runners/run_structured.py``).

snnlab's cpu loop and eager path must agree spike for spike and weight for
weight on both networks; where BindsNET's venv exists, BindsNET must agree
with snnlab on the fixed-weight convolution. Missing peers skip.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "runners"))

import bench_models  # noqa: E402
import bench_structured  # noqa: E402
import run_structured  # noqa: E402

BINDSNET_PY = bench_models.bindsnet_python(None)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("structured_data")


def test_model_data_is_deterministic(tmp_path):
    a, b = run_structured.model_data(2, tmp_path / "a"), run_structured.model_data(2, tmp_path / "b")
    assert a["inputs"].shape == (2, run_structured.STEPS, *run_structured.SHAPE) and a["inputs"].dtype == np.uint8
    assert a["w_conv"].shape == (run_structured.CHANNELS, 1, run_structured.KERNEL, run_structured.KERNEL)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("model", run_structured.MODELS)
def test_snnlab_cpu_loop_and_eager_path_agree(model, data_dir, tmp_path):
    pytest.importorskip("snnlab.network")
    from snnlab.engine import available_backends

    if "cpu" not in available_backends():
        pytest.skip("numba is not installed")
    saved = {}
    for backend in ("cpu", "eager"):
        saved[backend] = tmp_path / f"{backend}.npz"
        rec = run_structured.measure("snnlab", model, samples=1, repeats=1, warmup=0, data_dir=data_dir,
                                     save=saved[backend], backend=backend)
        assert rec["backend"] == backend and rec["spikes_out"] > 0
    agree = bench_models.agreement(saved["cpu"], saved["eager"])
    assert agree["identical"], agree
    if model in ("conv_postpre", "conv_mstdp"):  # the rule learnt
        with np.load(saved["cpu"]) as z:
            assert not np.array_equal(z["w_X_Y"], run_structured.model_data(1, data_dir)["w_conv"])


def test_measure_refuses_what_it_cannot_run(data_dir):
    with pytest.raises(ValueError, match="only for --package snnlab"):
        run_structured.measure("bindsnet", "conv", repeats=1, warmup=0, data_dir=data_dir, backend="cpu")
    with pytest.raises(ValueError, match="model must be one of"):
        run_structured.measure("snnlab", "conv3d", repeats=1, warmup=0, data_dir=data_dir)


def test_bench_writes_its_table_without_bindsnet(tmp_path):
    pytest.importorskip("snnlab.network")
    out = tmp_path / "bench_structured.txt"
    assert bench_structured.main(["--models", "conv", "--repeats", "1", "--samples", "1", "--no-bindsnet",
                                  "--data", str(tmp_path / "d"), "--out", str(out)]) == 0
    text = out.read_text()
    assert bench_structured.LABELS["conv"] in text and "eager: identical rasters and weights" in text


def test_bindsnet_and_snnlab_agree_on_the_convolution(data_dir, tmp_path):
    if BINDSNET_PY is None:
        pytest.skip("BindsNET venv not set up (benchmarks/peers/setup_venvs.sh or $SNNLAB_BINDSNET_PYTHON)")
    pytest.importorskip("snnlab.network")
    sn, bn = tmp_path / "sn.npz", tmp_path / "bn.npz"
    run_structured.measure("snnlab", "conv", samples=1, repeats=1, warmup=0, data_dir=data_dir, save=sn)
    rec = bench_structured.peer_record(BINDSNET_PY, "conv", samples=1, repeats=1, data_dir=data_dir, threads=1,
                                       save=bn, timeout=600)
    assert rec["simulator"] == "bindsnet"
    agree = bench_models.agreement(sn, bn)
    assert agree["identical"], agree
