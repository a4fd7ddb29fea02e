"""Hostile cases for export (issue 11, Export): short runs, things in the way, kills.

Run: ``pytest tests/adversarial/test_export_hostile.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from snnlab.config import LabConfig
from snnlab.export import EXPORT_FORMATS, FIGURE_FORMATS, FIGURE_NAMES, export_recording
from snnlab.recording import LayerRecording, Recording

ROOT = Path(__file__).resolve().parents[2]
ALL_NAMES = sorted([f"{n}.{f}" for n in FIGURE_NAMES for f in FIGURE_FORMATS] + ["recording.npz", "config.json"])


def _recording(steps: int, n_in: int = 20, n_out: int = 30, seed: int = 0) -> Recording:
    rng = np.random.default_rng(seed)
    return Recording(dt=1.0, layers={
        "A": LayerRecording("A", (n_in,), "Input", rng.random((steps, n_in)) < 0.1),
        "B": LayerRecording("B", (n_out,), "LIFNodes", rng.random((steps, n_out)) < 0.03,
                            (-65 + 13 * rng.random((steps, 3))).astype(np.float32), [0, 1, 2], -52.0),
    }, experiment=LabConfig(n_input=n_in, n_output=n_out, time=float(max(steps, 1))).to_dict())


def _complete(path: Path) -> None:
    """Fail unless ``path`` is a whole, readable file of its kind."""
    data = path.read_bytes()
    if path.suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82"), path
    elif path.suffix == ".pdf":
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), path
    elif path.suffix == ".svg":
        ET.fromstring(data)
    elif path.suffix == ".npz":
        Recording.from_npz(path)
    elif path.suffix == ".json":
        json.loads(data)
    else:
        raise AssertionError(f"unexpected file {path}")


# ---------------------------------------------------------------- short runs
def test_a_5_ms_run_shorter_than_one_rate_bin_exports(tmp_path):
    from snnlab.lab.controller import run_config

    rec = run_config(LabConfig(time=5.0, n_input=20, n_output=30))
    assert rec.steps == 5
    written = export_recording(rec, tmp_path, formats=EXPORT_FORMATS)
    assert sorted(p.name for p in written) == sorted(ALL_NAMES + ["recording.nwb"])
    for p in written:
        if p.suffix != ".nwb":
            _complete(p)


@pytest.mark.parametrize("steps", [0, 1, 9])
def test_exports_before_the_first_chunk_or_within_one_bin(tmp_path, steps):
    written = export_recording(_recording(steps), tmp_path)
    assert sorted(p.name for p in written) == ALL_NAMES
    for p in written:
        _complete(p)
    assert Recording.from_npz(tmp_path / "recording.npz").steps == steps


# ---------------------------------------------------------------- in the way
@pytest.mark.parametrize("blocker", ["recording.npz", "config.json", "raster.png", "rate.pdf", "recording.nwb"])
def test_a_folder_in_the_way_is_an_error_and_nothing_is_written(tmp_path, blocker):
    (tmp_path / blocker).mkdir()
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=rf"{blocker}' exists and is not a file"):
        export_recording(_recording(50), tmp_path, formats=EXPORT_FORMATS)
    assert sorted(os.listdir(tmp_path)) == before  # no figures, no data, no temporary file


def test_a_dangling_symlink_in_the_way_is_an_error(tmp_path):
    (tmp_path / "voltage.svg").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="voltage.svg' exists and is not a file"):
        export_recording(_recording(50), tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["voltage.svg"]


def test_out_dir_that_is_a_file_is_an_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        export_recording(_recording(10), tmp_path / "f")
    with pytest.raises(ValueError, match="not a folder"):
        export_recording(_recording(10), tmp_path / "f" / "sub")
    assert sorted(os.listdir(tmp_path)) == ["f"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_an_error_before_writing(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="cannot write there"):
            export_recording(_recording(10), ro / "out")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(window=(float("nan"), 5.0)), ValueError, "window"),
        (dict(window=("a", 3)), ValueError, "window"),
        (dict(window=(10.0, 5.0)), ValueError, "t1_ms"),
        (dict(window="5"), ValueError, "T0:T1"),
        (dict(window="a:b"), ValueError, "not a number"),
        (dict(window=(1e308, None)), ValueError, "outside the recording"),
        (dict(window=7), TypeError, "window"),
        (dict(neurons={"B": [999]}), ValueError, "neurons"),
        (dict(neurons={"Z": [1]}), ValueError, "neurons"),
        (dict(neurons=[1, 2]), TypeError, "neurons"),
        (dict(layers=[]), ValueError, "layers"),
        (dict(formats=[]), ValueError, "formats"),
        (dict(formats=["png", "gif"]), ValueError, "formats"),
        (dict(formats=5), TypeError, "formats"),
        (dict(style="no-such-style"), ValueError, "style"),
        (dict(raster_mode="heat"), ValueError, "raster_mode"),
        (dict(width=-3), ValueError, "width"),
        (dict(progress=42), TypeError, "progress"),
    ],
)
def test_hostile_options_are_refused_and_nothing_is_written(tmp_path, options, error, match):
    with pytest.raises(error, match=match):
        export_recording(_recording(50), tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_a_progress_callback_that_raises_leaves_no_temporary_file(tmp_path):
    def progress(done, total, name):
        if done == 3:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        export_recording(_recording(50), tmp_path, progress=progress)
    assert len(os.listdir(tmp_path)) == 3  # stopped after the third file
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]
    for name in os.listdir(tmp_path):
        _complete(tmp_path / name)


# ---------------------------------------------------------------- kills
def test_stale_temporary_files_of_a_killed_export_are_removed_by_the_next(tmp_path):
    stale = [".raster.png.1a2b3c4d.part", ".recording.npz.k2j3h4.part", ".config.json.tmp", ".rate.svg.tmp",
             ".recording.nwb.0000.part"]
    for name in stale:
        (tmp_path / name).write_bytes(b"half a file")
    mine = [".notes.txt", "raster.png.bak", ".raster.png.keep", "other.part"]  # not ours: kept
    for name in mine:
        (tmp_path / name).write_text("user file")
    export_recording(_recording(30), tmp_path, formats=["png"])
    left = sorted(os.listdir(tmp_path))
    assert not set(stale) & set(left)
    assert set(mine) <= set(left)


_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from snnlab.export import export_recording
    from snnlab.recording import LayerRecording, Recording

    rng = np.random.default_rng(0)
    steps = 20000
    rec = Recording(dt=1.0, layers={
        "A": LayerRecording("A", (100,), "Input", rng.random((steps, 100), dtype=np.float32) < 0.1),
        "B": LayerRecording("B", (1000,), "LIFNodes", rng.random((steps, 1000), dtype=np.float32) < 0.01,
                            (-65 + 13 * rng.random((steps, 5), dtype=np.float32)), range(5), -52.0)},
        experiment={"time": 20000.0})
    while True:
        print("go", flush=True)
        export_recording(rec, sys.argv[1], formats=["png", "svg", "pdf"])
    """
)


@pytest.mark.slow
def test_sigkill_during_export_leaves_only_whole_files_and_the_next_export_cleans_up(tmp_path):
    """Kill an exporting process at several moments. Whatever the moment, every
    visible file is whole (the temporaries are hidden and renamed only when
    complete), and the next export leaves no hidden leftovers."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    for delay in (0.05, 0.4, 0.9, 1.6):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(out)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, cwd=ROOT)
        try:
            line = child.stdout.readline()
            assert line.strip() == b"go", child.stderr.read().decode()
            time.sleep(delay)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        for name in os.listdir(out) if out.exists() else []:
            if not name.startswith("."):
                assert name in ALL_NAMES, name
                _complete(out / name)
    export_recording(_recording(40), out, formats=["png", "svg", "pdf"])
    assert sorted(os.listdir(out)) == ALL_NAMES  # no hidden leftovers, every result whole
    for name in ALL_NAMES:
        _complete(out / name)
