"""Hostile use of ``snnlab run``: every bad case is exit 2 (or 1 for a failed
run, 130 for Ctrl-C) with ONE line on stderr, never a traceback, and nothing
written unless something was simulated.

Signals are sent to subprocesses at points the test can see (a progress line
on stderr, an import hook), and the tests assert outcomes, never timings.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import snnlab.cli as cli
from snnlab.cli import main
from snnlab.config import LabConfig
from snnlab.recording import Recording

ROOT = Path(__file__).resolve().parents[2]
SMALL = LabConfig(n_input=20, n_output=30, time=40.0, input_rate=200.0, weight_scale=4.0, seed=1)


def run_main(capsys, *argv):
    """main(argv) -> (exit code, stderr lines); a SystemExit (argparse) counts as its code."""
    try:
        code = main(list(argv))
    except SystemExit as ex:
        code = ex.code
    captured = capsys.readouterr()
    return code, captured.err.splitlines(), captured.out


def assert_one_line(lines, *words):
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


HOSTILE_FILES = {
    # name: (bytes, words in the one line)
    "deep nesting": (b"[" * 3000 + b"]" * 3000, "nested more than"),
    "duplicate key": (b'{"n_input": 5, "n_input": 6}', "'n_input' appears more than once"),
    "400-digit rate": (b'{"input_rate": ' + b"9" * 400 + b"}", "400 digits"),
    "400-digit size": (b'{"n_output": ' + b"9" * 400 + b"}", "400 digits"),
    "time 1e308 dt 1e-10": (b'{"time": 1e308, "dt": 1e-10}', "LabConfig.time"),
    "weight_scale 1e300": (b'{"weight_scale": 1e300}', "weight_scale"),
    "inhibition 1e300": (b'{"inhibition": 1e300}', "inhibition"),
    "rest 1e300": (b'{"rest": 1e300}', "rest"),
    "dt 1e-300": (b'{"dt": 1e-300, "time": 1e-297}', "dt"),
    "NaN": (b'{"rate": NaN}', "NaN"),
    "unknown key": (b'{"n_inputs": 5}', "unknown key"),
    "string size": (b'{"n_input": "5"}', "n_input"),
    "empty file": (b"", "not valid JSON"),
    "binary": (b"\x00\xff\xfe", "UTF-8"),
    "json array": (b"[1, 2]", "JSON object"),
    "multi-line message source": (b'{"neuron_model": "a\\nb"}', "neuron_model"),
}


@pytest.mark.parametrize("name", list(HOSTILE_FILES))
def test_hostile_config_file_is_exit_2_one_line_nothing_written(tmp_path, capsys, name):
    content, words = HOSTILE_FILES[name]
    cfg = tmp_path / "cfg.json"
    cfg.write_bytes(content)
    code, lines, out = run_main(capsys, "run", str(cfg), "--out", str(tmp_path / "out"), "-q")
    assert code == 2
    assert_one_line(lines, "snnlab run: error:", words)
    assert out == "" and not (tmp_path / "out").exists()


def test_config_that_is_a_folder_or_missing(tmp_path, capsys):
    for path, words in ((tmp_path, "not a file"), (tmp_path / "nope.json", "does not exist")):
        code, lines, _ = run_main(capsys, "run", str(path), "--out", str(tmp_path / "o"))
        assert code == 2
        assert_one_line(lines, words)


@pytest.mark.parametrize("out", ["afile/sub", "afile/sub/deeper", "afile"])
def test_out_under_a_file_is_refused_before_simulating(tmp_path, capsys, monkeypatch, out):
    (tmp_path / "afile").write_text("x")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(SMALL.to_json())
    started = []
    from snnlab.lab import controller as controller_module

    monkeypatch.setattr(controller_module.Controller, "start", lambda self: started.append(1))
    code, lines, _ = run_main(capsys, "run", str(cfg), "--out", str(tmp_path / out), "-q")
    assert code == 2 and started == []
    assert_one_line(lines, "snnlab run: error: --out")
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("argv", [
    ["run", "cfg.json"],                                   # --out missing
    ["run", "cfg.json", "--out", "o", "--format", "jpeg"],  # bad choice
    ["run", "cfg.json", "--out", "o", "--bogus"],           # unknown option
    ["run"],                                                # nothing
    ["frobnicate"],                                         # unknown command
])
def test_bad_command_lines_are_exit_2_one_line(capsys, argv):
    code, lines, _ = run_main(capsys, *argv)
    assert code == 2
    assert_one_line(lines, "error:", "--help")


def test_no_command_is_exit_2_one_line(capsys):
    code, lines, _ = run_main(capsys)
    assert code == 2
    assert_one_line(lines, "no command")


def test_failed_build_exits_1_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from snnlab.lab.experiments import seed as seed_module

    def broken(config, **kwargs):
        raise RuntimeError("the allocator said no\nsecond line")

    monkeypatch.setattr(seed_module, "build_network", broken)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(SMALL.to_json())
    code, lines, out = run_main(capsys, "run", str(cfg), "--out", str(tmp_path / "out"), "-q", "--no-figures")
    assert code == 1
    assert_one_line(lines, "allocator said no second line", "nothing written")
    assert out == "" and not (tmp_path / "out").exists()  # no 0-step recording.npz


def test_a_failing_export_is_one_line_exit_1(tmp_path, capsys, monkeypatch):
    import snnlab.export

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snnlab.export, "export_recording", full_disk)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(SMALL.to_json())
    code, lines, _ = run_main(capsys, "run", str(cfg), "--out", str(tmp_path / "out"), "-q")
    assert code == 1
    assert_one_line(lines, "OSError", "No space left on device", "SNNLAB_TRACEBACK")


def test_usage_error_helper_is_one_line():
    import io

    stream = io.StringIO()
    assert cli.usage_error("sweep", "bad\nthing\n  here", stream) == 2
    assert stream.getvalue() == "snnlab sweep: error: bad thing here\n"


# -- signals, in subprocesses -------------------------------------------------------


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    env.pop("SNNLAB_TRACEBACK", None)
    return env


def _cli_process(args, prelude="", **popen):
    code = prelude + "\nimport sys\nfrom snnlab.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **popen,
    )


def test_sigint_during_a_run_keeps_what_was_simulated(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(LabConfig(n_input=50, n_output=100, time=400_000.0).to_json())
    out = tmp_path / "out"
    proc = _cli_process(["run", str(cfg), "--out", str(out), "--no-figures"])
    first = proc.stderr.readline()  # the progress bar's first line: the run is under way
    assert first.startswith("["), first
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "terminate called" not in stderr
    final = stderr.strip().splitlines()[-1]
    assert final.startswith("snnlab run: incomplete"), final
    rec = Recording.from_npz(out / "recording.npz")
    assert 0 < rec.steps < 400_000 and not rec.completed
    assert rec.spikes("A").shape == (rec.steps, 50) and rec.spikes("B").shape == (rec.steps, 100)
    assert rec.voltages("B").shape[0] == rec.steps
    assert sorted(Path(p).name for p in stdout.split()) == ["config.json", "recording.npz"]


IMPORT_HOOK = textwrap.dedent("""
    import os, signal, sys
    class _CtrlCOnImport:
        def find_spec(self, name, path=None, target=None):
            if name == %r:
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signal.SIGINT)
            return None
    sys.meta_path.insert(0, _CtrlCOnImport())
""")


@pytest.mark.parametrize("module", ["numpy", "torch", "snnlab.lab.controller"])
def test_sigint_during_imports_is_one_line_exit_130(tmp_path, module):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(SMALL.to_json())
    proc = _cli_process(["run", str(cfg), "--out", str(tmp_path / "out")], prelude=IMPORT_HOOK % module)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == [stderr.strip()] and "interrupted" in stderr, stderr
    assert "Traceback" not in stderr and stdout == ""
    assert not (tmp_path / "out").exists()


def test_sigint_as_the_run_starts_is_exit_130_without_traceback(tmp_path):
    # SIGINT from inside the worker right after the network is built: before
    # or just at the first step. Either nothing is written, or an incomplete recording.
    prelude = textwrap.dedent("""
        import os, signal
        import snnlab.lab.experiments.seed as c
        _build = c.build_network
        def build_then_ctrl_c(config, **kwargs):
            net = _build(config, **kwargs)
            os.kill(os.getpid(), signal.SIGINT)
            return net
        c.build_network = build_then_ctrl_c
    """)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(LabConfig(n_input=50, n_output=100, time=100_000.0).to_json())
    out = tmp_path / "out"
    proc = _cli_process(["run", str(cfg), "--out", str(out), "--no-figures", "-q"], prelude=prelude)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "terminate called" not in stderr
    if (out / "recording.npz").exists():
        assert not Recording.from_npz(out / "recording.npz").completed
    else:
        assert stderr.strip() == "snnlab run: interrupted before anything was simulated; nothing written"


def test_sigint_ignored_by_the_parent_stays_ignored(tmp_path):
    # nohup / background jobs start us with SIGINT ignored: a stray SIGINT must not stop the run.
    cfg = tmp_path / "cfg.json"
    cfg.write_text(SMALL.to_json())
    proc = _cli_process(
        ["run", str(cfg), "--out", str(tmp_path / "out"), "--no-figures"],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert proc.stderr.readline().startswith("[")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert Recording.from_npz(tmp_path / "out" / "recording.npz").completed
