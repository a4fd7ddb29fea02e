"""The public API's docstring examples run (they are documentation users copy)."""

import doctest
import importlib

import pytest

MODULES = [
    "snnlab.network.network",
    "snnlab.dynamics.params",
    "snnlab.dynamics.registry",
    "snnlab.dynamics.nodes",
    "snnlab.dynamics.topology",
    "snnlab.engine.monitors",
    "snnlab.engine.run",
    "snnlab.dynamics.rules",
    "snnlab.encoding.encodings",
    "snnlab.encoding.encoders",
    "snnlab.config",
    "snnlab.export",
    "snnlab.recording",
    "snnlab.analysis.plotting",
    "snnlab.analysis.bindsnet_plots",
    "snnlab.utils",
    "snnlab.evaluation",
    "snnlab.datasets.digits",
    "snnlab.models.models",
    "snnlab.learning.reward",
    "snnlab.environment.dot_simulator",
    "snnlab.network.topology_extra",
    "snnlab.network.nodes_extra",
    "snnlab.conversion.nodes",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
