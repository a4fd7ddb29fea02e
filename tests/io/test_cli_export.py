"""The export options of ``snnlab run``: -f in both forms, nwb, --window, --layers, --neurons."""

from __future__ import annotations

import os

import numpy as np
import pytest

from snnlab.cli import main
from snnlab.config import LabConfig
from snnlab.recording import Recording

SMALL = LabConfig(n_input=40, n_output=60, time=80.0, input_rate=200.0, weight_scale=4.0, seed=3)


def _run(tmp_path, *options, name="out"):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(SMALL.to_json())
    out = tmp_path / name
    try:
        code = main(["run", str(cfg), "--out", str(out), "--quiet", *options])
    except SystemExit as ex:  # argparse refuses an option
        code = ex.code
    return code, out


def test_format_accepts_several_after_one_flag_and_repeated_flags(tmp_path):
    code_a, out_a = _run(tmp_path, "-f", "png", "svg", "pdf", name="a")
    code_b, out_b = _run(tmp_path, "-f", "png", "-f", "svg", "-f", "pdf", name="b")
    code_c, out_c = _run(tmp_path, "--format", "svg", "-f", "png", "pdf", name="c")
    assert code_a == code_b == code_c == 0
    files = sorted(os.listdir(out_a))
    assert files == sorted(os.listdir(out_b)) == sorted(os.listdir(out_c))
    assert files == sorted([f"{n}.{f}" for n in ("raster", "voltage", "rate") for f in ("png", "svg", "pdf")]
                           + ["recording.npz", "config.json"])


def test_format_nwb_writes_the_recording_as_nwb(tmp_path):
    code, out = _run(tmp_path, "-f", "nwb", "--no-figures")
    assert code == 0
    assert sorted(os.listdir(out)) == ["config.json", "recording.npz", "recording.nwb"]
    from snnlab.io.nwb import read_nwb

    nwb, npz = read_nwb(out / "recording.nwb"), Recording.from_npz(out / "recording.npz")
    for layer in npz.layer_names:
        np.testing.assert_array_equal(nwb.spikes(layer), npz.spikes(layer))


def test_window_layers_and_neurons_select_what_is_written(tmp_path):
    code, out = _run(tmp_path, "-f", "svg", "--window", "20:60", "--layers", "B", "--neurons", "B=5:15")
    assert code == 0
    rec = Recording.from_npz(out / "recording.npz")
    assert rec.layer_names == ["B"] and rec.start_step == 20 and rec.steps == 40
    assert rec.layers["B"].shape == (10,)
    code, full = _run(tmp_path, "--no-figures", name="full")
    whole = Recording.from_npz(full / "recording.npz")
    np.testing.assert_array_equal(rec.spikes("B"), whole.spikes("B")[20:60, 5:15])


def test_export_progress_goes_to_stderr(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(SMALL.to_json())
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "-f", "png"]) == 0
    err = capsys.readouterr().err
    assert "export: raster.png (1/5)" in err and "export: config.json (5/5)" in err


@pytest.mark.parametrize(
    "options",
    [
        ("--window", "5"),
        ("--window", "60:20"),
        ("--window", "a:b"),
        ("--neurons", "B"),
        ("--neurons", "B=9:3"),
        ("-f", "gif"),
        ("--width", "three"),
        ("--style", "no-such-style"),
    ],
)
def test_bad_export_options_exit_2_before_running(tmp_path, options, capsys):
    code, out = _run(tmp_path, *options)
    assert code == 2
    assert not out.exists()
    assert options[0].lstrip("-")[:3] in capsys.readouterr().err


@pytest.mark.parametrize("options", [("--window", "500:600"), ("--layers", "Z"), ("--neurons", "B=0:999")])
def test_a_selection_the_run_does_not_have_exits_2_and_writes_nothing(tmp_path, options, capsys):
    code, out = _run(tmp_path, *options)
    assert code == 2
    assert not out.exists() or os.listdir(out) == []
    assert "error" in capsys.readouterr().err
