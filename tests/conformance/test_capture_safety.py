"""A block that the GPU back-end captures as a CUDA graph must not wait on the
device: no ``bool(tensor)``, ``.item()``, ``.nonzero()``, ``.tolist()`` or copy
to the host inside a step. On a GPU such a call aborts the capture (and leaves
torch's CUDA generator unusable for the rest of the process), so it is checked
here, on any machine: the graph path's step code runs without capture
(``graph-emulate``) with those Tensor methods made to fail.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from snnlab.engine.backends.gpu import GraphRunner, why_not

from snnlab.learning import PostPre

from . import cases, harness, structured, test_structured
from .test_features import FEATURES

SYNCS = ("__bool__", "item", "nonzero", "tolist", "__int__", "__float__", "__index__", "numpy", "cpu")


@contextlib.contextmanager
def host_syncs_refused():
    """Tensor methods that wait for the device, and tensors made from host data
    (a host-to-device copy, which capture refuses too), raise inside."""
    saved = {name: torch.Tensor.__dict__.get(name) for name in SYNCS}
    made = {name: getattr(torch, name) for name in ("tensor", "as_tensor")}

    def refuse(name):
        def method(self, *args, **kwargs):
            raise AssertionError(f"Tensor.{name}() inside a captured block: it waits for the device")
        return method

    def from_host(name):
        def function(data, *args, **kwargs):
            if name == "as_tensor" and isinstance(data, torch.Tensor):
                return made[name](data, *args, **kwargs)
            raise AssertionError(f"torch.{name}() of host data inside a captured block: a host-to-device copy")
        return function

    for name in SYNCS:
        setattr(torch.Tensor, name, refuse(name))
    for name in made:
        setattr(torch, name, from_host(name))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, value)
        for name, function in made.items():
            setattr(torch, name, function)


def test_the_guard_catches_a_sync_and_restores_tensor_methods():
    x = torch.ones(3)
    with host_syncs_refused(), pytest.raises(AssertionError, match=r"Tensor.__bool__\(\) inside a captured block"):
        bool(x.any())
    with host_syncs_refused(), pytest.raises(AssertionError, match=r"torch.tensor\(\) of host data"):
        torch.tensor(1.0)
    assert bool(x.any()) and x.sum().item() == 3.0 and x.nonzero().numel() == 3
    assert torch.tensor(2.0).item() == 2.0


def run_guarded(case, monkeypatch) -> list:
    """Run ``case`` on graph-emulate with host syncs refused in every block the CUDA
    back-end would capture; the lengths of those blocks."""
    body = GraphRunner._body
    checked = []

    def guarded(self, steps):
        if why_not(self.plan, capture=True) is not None:  # the CUDA back-end would not capture this plan
            return body(self, steps)
        checked.append(steps)
        with host_syncs_refused():
            return body(self, steps)

    monkeypatch.setattr(GraphRunner, "_body", guarded)
    harness.compare_case(case, "graph-emulate")
    return checked


needs_graphs = pytest.mark.skipif("graph-emulate" not in harness.available_backends(), reason="no graph back-end")


@needs_graphs
@pytest.mark.parametrize("model,kind,rule", [(m, k, "NoOp") for m in cases.MODELS for k in ("dense", "dense_bias")]
                         + [(m, "dense", r) for m in cases.MODELS for r in cases.RULES[1:]]
                         + [(m, k, r) for m, k, r in cases.RULE_CELLS if k == "dense"])
def test_captured_steps_never_wait_on_the_device(model, kind, rule, monkeypatch):
    """Every model and learning rule the graph path takes runs its steps with
    host syncs refused, and still matches the reference."""
    try:
        checked = run_guarded(cases.matrix_case(model, kind, rule), monkeypatch)
    except harness.Unsupported as exc:
        raise AssertionError(f"the graph path refused {model} with {rule}: {exc}") from exc
    assert checked, f"{model} with {rule}: no block ran on the graph path"


@needs_graphs
@pytest.mark.parametrize("name", list(FEATURES))
def test_captured_features_never_wait_on_the_device(name, monkeypatch):
    """The run features the graph path takes (clamp, unclamp, injects_v, masks,
    one_step, batches, resets) do so without host syncs."""
    try:
        checked = run_guarded(FEATURES[name], monkeypatch)
    except harness.Unsupported as exc:
        pytest.skip(f"the graph path does not take {name}: {exc}")
    assert checked, f"{name}: no block ran on the graph path"


@needs_graphs
@pytest.mark.parametrize("kind,rule", [(k, None) for k in structured.KINDS] + [(k, "PostPre") for k in structured.RULE_KINDS])
def test_captured_structured_connections_never_wait_on_the_device(kind, rule, monkeypatch):
    """Each structured connection kind (convolution, max-pooling, local, mean-field,
    multicompartment) propagates, and learns by a described rule, with host syncs
    refused, and matches the eager path (batch 3)."""
    body = GraphRunner._body
    checked = []

    def guarded(self, steps):
        checked.append(steps)
        with host_syncs_refused():
            return body(self, steps)

    monkeypatch.setattr(GraphRunner, "_body", guarded)
    test_structured.compare(kind, "graph-emulate", 3, rule=PostPre if rule else None, time=100)
    assert checked, f"{kind}: no block ran on the graph path"
