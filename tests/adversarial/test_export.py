"""Hostile exports and recordings: short and empty runs, things in the way,
bad arguments, tampered .npz files, and SIGKILL in the middle of an export.

Exports are atomic per file: a killed export leaves every final file either
the previous complete version or the new one, and its hidden temporaries are
removed by the next export into the same folder."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from snnlab.config import LabConfig
from snnlab.export import export_recording
from snnlab.lab.controller import run_config
from snnlab.recording import Recording

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rec():
    return run_config(LabConfig(n_input=20, n_output=30, time=30.0, weight_scale=4.0))


@pytest.mark.parametrize("time_ms", [1.0, 5.0, 9.0])
def test_runs_shorter_than_a_rate_bin_export(tmp_path, time_ms):
    short = run_config(LabConfig(n_input=10, n_output=10, time=time_ms))
    paths = export_recording(short, tmp_path, ("png", "svg"))
    assert {p.name for p in paths} >= {"raster.png", "rate.svg", "recording.npz"}
    assert Recording.from_npz(tmp_path / "recording.npz").steps == short.steps


@pytest.mark.parametrize("in_the_way", ["recording.npz", "raster.png", "config.json"])
def test_a_folder_in_the_way_writes_nothing(tmp_path, rec, in_the_way):
    (tmp_path / in_the_way).mkdir()
    with pytest.raises(ValueError, match="not a file"):
        export_recording(rec, tmp_path, ("png",))
    assert sorted(p.name for p in tmp_path.iterdir()) == [in_the_way]  # no figure, no temporary


def test_out_under_a_file_is_an_error_and_writes_nothing(tmp_path, rec):
    (tmp_path / "afile").write_text("x")
    with pytest.raises((ValueError, OSError)):
        export_recording(rec, tmp_path / "afile" / "sub", ("png",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("formats, error", [
    (("jpeg",), ValueError), ((), ValueError), (None, TypeError), (("png", "exe"), ValueError), ((3,), (TypeError, ValueError)),
])
def test_bad_formats_are_refused_before_writing(tmp_path, rec, formats, error):
    with pytest.raises(error):
        export_recording(rec, tmp_path / "out", formats)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("bad", [None, {}, "recording.npz", np.zeros((3, 3))], ids=repr)
def test_not_a_recording_is_a_type_error(tmp_path, bad):
    with pytest.raises(TypeError, match="Recording"):
        export_recording(bad, tmp_path, ("png",))


TAMPERED_NPZ = {
    "missing entry": lambda d: d.pop("format_version"),
    "object array": lambda d: d.__setitem__("dt", np.array([object()], dtype=object)),
    "future version": lambda d: d.__setitem__("format_version", np.array(99)),
    "meta not JSON": lambda d: d.__setitem__("meta_json", np.array("{not json")),
    "spikes missing": lambda d: d.pop("layer0_spikes"),
}


@pytest.mark.parametrize("name", list(TAMPERED_NPZ))
def test_tampered_recording_files_are_value_errors(tmp_path, rec, name):
    rec.to_npz(tmp_path / "r.npz")
    with np.load(tmp_path / "r.npz", allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    TAMPERED_NPZ[name](data)
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(ValueError, match="recording|format_version"):
        Recording.from_npz(tmp_path / "bad.npz")


@pytest.mark.parametrize("keep", [0, 100, 0.5])
def test_truncated_recording_files_are_value_errors(tmp_path, rec, keep):
    rec.to_npz(tmp_path / "r.npz")
    data = (tmp_path / "r.npz").read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    (tmp_path / "t.npz").write_bytes(data[:n])
    with pytest.raises(ValueError, match="recording"):
        Recording.from_npz(tmp_path / "t.npz")


EXPORTER = textwrap.dedent("""
    import sys
    from snnlab.config import LabConfig
    from snnlab.export import export_recording
    from snnlab.lab.controller import run_config
    rec = run_config(LabConfig(n_input=100, n_output=400, time=400.0, weight_scale=3.0))
    i = 0
    while True:
        export_recording(rec, sys.argv[1], ("png", "svg", "pdf"))
        print(i, flush=True)
        i += 1
""")


def test_sigkill_during_exports_leaves_only_complete_files(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    # Kill points spread over an export (the delays only vary where the kill
    # lands; the assertions hold wherever it lands).
    for kill_after, delay in ((1, 0.0), (1, 0.05), (2, 0.1), (2, 0.2), (3, 0.3)):
        proc = subprocess.Popen([sys.executable, "-c", EXPORTER, str(out)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(kill_after):  # this many exports completed
            assert proc.stdout.readline(), "the exporter died"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        # every final file is complete: the recording loads, images have their end markers
        assert Recording.from_npz(out / "recording.npz").steps == 400
        for name in ("raster", "voltage", "rate"):
            assert (out / f"{name}.png").read_bytes().endswith(b"IEND\xaeB`\x82")
            assert (out / f"{name}.pdf").read_bytes().rstrip().endswith(b"%%EOF")
            assert (out / f"{name}.svg").read_text().rstrip().endswith("</svg>")
    # the next export removes the killed exports' hidden temporaries
    export_recording(Recording.from_npz(out / "recording.npz"), out, ("png",))
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
