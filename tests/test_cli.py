"""Tests for the ``snnlab run CONFIG --out DIR`` command."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from snnlab.cli import main
from snnlab.config import LabConfig
from snnlab.export import load_recording

SMALL = LabConfig(n_input=40, n_output=60, time=80.0, input_rate=200.0, weight_scale=4.0, seed=3)


def snnlab_command():
    """The installed console script (pyproject's [project.scripts])."""
    script = Path(sys.executable).parent / "snnlab"
    assert script.exists(), f"console script {script} is missing: is snnlab installed (pip install -e .)?"
    return [str(script)]


def test_run_end_to_end_in_a_subprocess(tmp_path):
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(SMALL.to_json())
    out = tmp_path / "out" / "nested"
    proc = subprocess.run(
        snnlab_command() + ["run", str(cfg_path), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    listed = [Path(line) for line in proc.stdout.splitlines()]
    assert sorted(p.name for p in listed) == sorted(
        [f"{n}.{f}" for n in ("raster", "voltage", "rate") for f in ("png", "svg", "pdf")]
        + ["recording.npz", "config.json"]
    )
    assert all(p.exists() for p in listed)
    assert "100.0%" in proc.stderr and "done" in proc.stderr  # the progress bar reached the end

    assert (out / "raster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "voltage.pdf").read_bytes()[:5] == b"%PDF-"
    ET.parse(out / "rate.svg")
    assert LabConfig.from_json((out / "config.json").read_text()) == SMALL

    # The same spikes as the lab's own headless loop on the same config.
    from snnlab.lab.controller import run_config

    rec = run_config(SMALL)
    data = load_recording(out / "recording.npz")
    np.testing.assert_array_equal(data.spikes("A"), rec.spikes("A"))
    np.testing.assert_array_equal(data.spikes("B"), rec.spikes("B"))
    np.testing.assert_array_equal(data.voltages("B"), rec.voltages("B"))
    assert data.completed and data.spikes("B").shape == (80, 60)
    assert data.spikes("B").any(), "the test config should make the output layer spike"


def test_run_formats_and_no_figures(tmp_path, capsys):
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(SMALL.replace(time=20.0).to_json())
    assert main(["run", str(cfg_path), "--out", str(tmp_path / "a"), "-f", "svg", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "config.json", "raster.svg", "rate.svg", "recording.npz", "voltage.svg",
    ]
    assert "[" not in capsys.readouterr().err.split("snnlab run:")[0]  # --quiet: no bar
    assert main(["run", str(cfg_path), "--out", str(tmp_path / "b"), "--no-figures", "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["config.json", "recording.npz"]


HOSTILE = {
    "not json": (b"n_input = 10\n", "not valid JSON"),
    "json list": (b"[1, 2, 3]", "JSON object"),
    "unknown key": (b'{"n_input": 10, "__class__": "os.system"}', "unknown key"),
    "code as value": (b'{"neuron_model": "__import__(\'os\').system(\'touch pwned\')"}', "neuron_model"),
    "NaN": (b'{"input_rate": NaN}', "NaN"),
    "string number": (b'{"n_output": "1000"}', "n_output"),
    "huge network": (b'{"n_input": 100000, "n_output": 100000}', "GiB"),
    "negative time": (b'{"time": -5}', "time"),
    "deep nesting": (b"[" * 100000 + b"]" * 100000, "config file"),
    "binary": (b"\x80\x81\xfe\xff", "UTF-8"),
    "too big": (b" " * (1024 * 1024 + 1) + b"{}", "at most"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_bad_config_exits_2_and_writes_nothing(tmp_path, capsys, name):
    content, message = HOSTILE[name]
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_bytes(content)
    out = tmp_path / "out"
    before = sorted(os.listdir(tmp_path))
    code = main(["run", str(cfg_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "snnlab run: error:" in err
    assert sorted(os.listdir(tmp_path)) == before and not out.exists()
    assert not Path("pwned").exists()


def test_missing_config_and_bad_out(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a file" in capsys.readouterr().err
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps({"time": 10}))
    (tmp_path / "afile").write_text("x")
    assert main(["run", str(cfg_path), "--out", str(tmp_path / "afile")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bad_usage_is_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as ex:
        main(["run", "cfg.json"])  # --out missing
    assert ex.value.code == 2
    with pytest.raises(SystemExit) as ex:
        main(["run", "cfg.json", "--out", str(tmp_path), "--format", "jpeg"])
    assert ex.value.code == 2
    assert main([]) == 2


def test_bad_config_in_a_subprocess(tmp_path):
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text('{"dt": 0.3, "time": 1.0}')
    proc = subprocess.run(
        snnlab_command() + ["run", str(cfg_path), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "whole number of steps" in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "out").exists()
