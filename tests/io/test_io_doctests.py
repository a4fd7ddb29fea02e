"""The docstring examples of snnlab.io run (they are documentation users copy)."""

import doctest
import importlib

import pytest

MODULES = ["snnlab.io.nir_graph", "snnlab.io.figures", "snnlab.io.neo_io"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
