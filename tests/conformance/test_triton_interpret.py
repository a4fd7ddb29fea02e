"""The GPU back-end's Triton kernels, checked on a CPU through Triton's interpreter.

Triton decides when its kernels are defined (at import) whether they are
interpreted, so ``TRITON_INTERPRET=1`` must be set before snnlab is imported.
When this process was started with it (or has a CUDA device), the matrix
already lists the ``triton`` back-end and runs it in-process. Otherwise this
test runs the matrix's and the golden tests' ``triton`` cells in a fresh
interpreter with ``TRITON_INTERPRET=1``, so that no kernel that ships is
tested only on a GPU.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from . import harness

ROOT = Path(__file__).resolve().parents[2]


def _needs_subprocess() -> str | None:
    """None if the triton cells should run in a subprocess, else why not."""
    if harness.engine_api() is None:
        return "this engine has no back-end API (no 'triton' back-end to force)"
    if importlib.util.find_spec("triton") is None:
        return "Triton is not installed (pip install snnlab[test])"
    if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1":
        return "the 'triton' back-end runs in this process's matrix"
    return None


def test_triton_backend_listed_where_it_can_run():
    """With Triton installed, the back-end is listed whenever it can run here."""
    if harness.engine_api() is None or importlib.util.find_spec("triton") is None:
        pytest.skip("no back-end API or no Triton")
    can_run = torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"
    assert ("triton" in harness.available_backends()) == can_run, harness.available_backends()


def test_triton_cells_in_the_interpreter():
    reason = _needs_subprocess()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "triton",
           "tests/conformance/test_matrix.py::test_cell", "tests/conformance/test_golden.py",
           "tests/conformance/test_structured.py"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    # The kernels really ran: some triton cells passed (the rest are named xfails).
    assert passed and int(passed.group(1)) > 0, summary
