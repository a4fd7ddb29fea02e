"""Fixtures of the conformance matrix (see harness.py and reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global RNG state (the random models draw from torch's)."""
    torch.manual_seed(0)
    np.random.seed(0)
    yield


# ---------------------------------------------------------------- coverage table
# After a run, one line per back-end: how many conformance cells passed, were
# named xfails (the back-end does not take them yet) or failed.
_BACKEND_PARAMS = ("backend", "impl")
_COVERAGE: dict = {}
_BACKEND_OF: dict = {}  # test id -> back-end


def pytest_collection_modifyitems(items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        name = next((params[p] for p in _BACKEND_PARAMS if p in params), None)
        if name is not None and "conformance" in item.nodeid:
            _BACKEND_OF[item.nodeid] = name


def pytest_runtest_logreport(report):
    backend = _BACKEND_OF.get(report.nodeid)
    if backend is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    if hasattr(report, "wasxfail"):
        outcome = "xfailed"
    else:
        outcome = report.outcome  # passed / failed / skipped
    row = _COVERAGE.setdefault(backend, {"passed": 0, "xfailed": 0, "failed": 0, "skipped": 0})
    row[outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _COVERAGE:
        return
    terminalreporter.section("conformance coverage by back-end")
    terminalreporter.write_line(f"{'back-end':16s} {'passed':>7s} {'xfailed':>8s} {'failed':>7s} {'skipped':>8s}")
    for name, row in _COVERAGE.items():
        terminalreporter.write_line(
            f"{name:16s} {row['passed']:7d} {row['xfailed']:8d} {row['failed']:7d} {row['skipped']:8d}")
