"""``snnlab sweep``: end to end, resume, Ctrl-C, bad specifications (exit 2, one line)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from snnlab.cli import main as snnlab_main
from snnlab.config import LabConfig
from snnlab.sweep import load_results

SMALL = LabConfig(n_input=30, n_output=40, time=100.0, input_rate=150.0, weight_scale=3.0)


def snnlab_command():
    script = Path(sys.executable).parent / "snnlab"
    assert script.exists(), f"console script {script} is missing: is snnlab installed (pip install -e .)?"
    return [str(script)]


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(SMALL.to_json())
    return path


def test_sweep_end_to_end_and_resume(config_file, tmp_path):
    out = tmp_path / "out"
    cmd = snnlab_command() + [
        "sweep", str(config_file), "--vary", "input_rate=0:200:3", "--vary", "weight_scale=1,3",
        "--seeds", "2", "--out", str(out), "--scheduler", "inline",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out / "results.parquet")
    assert "12/12 runs 100.0%" in proc.stderr and "0 failed" in proc.stderr
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 12
    assert sorted(set(table["input_rate"])) == [0.0, 100.0, 200.0]
    assert sorted(set(table["weight_scale"])) == [1.0, 3.0]
    assert (table[table["input_rate"] == 0]["rate_A"] == 0).all()
    # Again: everything is there, nothing runs, the table is the same.
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()} == mtimes
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), table)


def test_packed_sweep_from_the_command_line(config_file, tmp_path, capsys):
    args = ["sweep", str(config_file), "--vary", "input_rate=50:250:3", "--vary", "weight_scale=2,3",
            "--seeds", "2", "--scheduler", "inline", "--quiet", "--seed-from", "weight_scale"]
    assert snnlab_main(args + ["--out", str(tmp_path / "packed"), "--pack", "3"]) == 0
    assert snnlab_main(args + ["--out", str(tmp_path / "plain")]) == 0
    packed = pd.read_parquet(tmp_path / "packed" / "results.parquet").drop(columns=["wall_time_s", "worker"])
    plain = pd.read_parquet(tmp_path / "plain" / "results.parquet").drop(columns=["wall_time_s", "worker"])
    pd.testing.assert_frame_equal(packed, plain)
    assert packed.groupby(["weight_scale", "replicate"])["seed"].nunique().eq(1).all()


def test_snnlab_run_still_parses_its_own_arguments(capsys):
    # The dispatch of `sweep` leaves `snnlab run` to its own parser.
    with pytest.raises(SystemExit) as ex:
        snnlab_main(["run"])
    assert ex.value.code == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--vary", "input_rte=0:200:3"], "unknown sweep parameter 'input_rte'; expected one of input_rate"),
        (["--vary", "input_rate=0:200:0"], "COUNT=0 makes an empty range"),
        (["--vary", "input_rate=5:1"], "cannot read '5:1'"),
        (["--vary", "input_rate=0:5000:3"], "sweep point (input_rate=2500): LabConfig.input_rate: 2500.0 Hz"),
        (["--vary", "input_rate=1,2", "--vary", "input_rate=3"], "--vary input_rate is given twice"),
        (["--vary", "input_rate=1,2", "--seeds", "0"], "seeds=0"),
        (["--vary", "input_rate=1,2", "--workers", "0"], "--workers 0"),
        (["--vary", "input_rate=1,2", "--scheduler", "udp"], "scheduler='udp'"),
        (["--seeds", "2"], "the following arguments are required: --vary"),
        (["--vary", "input_rate=1,2", "--seeds", "two"], "argument --seeds: invalid int value: 'two'"),
        (["--vary", "input_rate=1,2", "--seed-from", "weight_scale"], "seed_from: ['weight_scale'] are not varied"),
        (["--vary", "input_rate=1,2", "--pack", "0"], "pack=0"),
        (["--vary", "n_output=1:1000000:2"], "LabConfig: n_input=30, n_output=1000000"),
        # 1000 local workers share this machine's memory: a 3000-neuron run does not fit in one's share.
        (["--vary", "n_output=40,3000", "--workers", "1000"], "each of 1000 local workers has"),
    ],
)
def test_bad_specifications_exit_2_with_one_line(config_file, tmp_path, capsys, args, message):
    out = tmp_path / "never"
    code = snnlab_main(["sweep", str(config_file), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("snnlab sweep: error: ")
    assert message in err
    assert not out.exists()


def test_bad_config_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"n_output": -1}')
    assert snnlab_main(["sweep", str(bad), "--vary", "input_rate=1,2", "--out", str(tmp_path / "o")]) == 2
    assert "n_output: -1 neurons" in capsys.readouterr().err
    assert snnlab_main(["sweep", str(tmp_path / "missing.json"), "--vary", "input_rate=1,2", "--out", str(tmp_path / "o")]) == 2


def test_ctrl_c_keeps_what_is_done_and_the_same_command_resumes(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(LabConfig(n_input=100, n_output=1000, time=1000.0).to_json())
    out = tmp_path / "out"
    cmd = snnlab_command() + [
        "sweep", str(cfg), "--vary", "input_rate=0:200:100", "--seeds", "2", "--out", str(out), "--scheduler", "inline",
    ]
    # A terminal's Ctrl-C: SIGINT to the command's process group.
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "parts").is_dir() or len(list((out / "parts").glob("p*"))) < 3:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    kept = load_results(out)
    assert 3 <= len(kept) < 200
    assert f"interrupted; {len(kept)} of 200 runs kept" in err
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), kept)
    # The same command finishes the rest: every run once, the kept rows unchanged.
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 200 and not table.duplicated(["point", "replicate"]).any()
    merged = table.merge(kept, on=["point", "replicate"], suffixes=("", "_kept"))
    assert len(merged) == len(kept)
    np.testing.assert_array_equal(merged["rate_B"], merged["rate_B_kept"])
