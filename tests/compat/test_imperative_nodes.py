"""CSRMNodes' step is a description with windows of past inputs and spikes
(``window()`` in snnlab.dynamics.model): every back-end derives its code from
it, runs it (none falls back or refuses) and gives eager's spikes."""

import pytest
import torch

from snnlab.engine import available_backends, use_backend
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import CSRMNodes, Input
from snnlab.network.topology import Connection


def run(backend, inputs, **layer_kw):
    torch.manual_seed(0)
    net = Network(dt=1.0)
    net.add_layer(Input(n=20), "X")
    net.add_layer(CSRMNodes(n=10, thresh=-60.0, **layer_kw), "C")
    net.add_connection(Connection(net.layers["X"], net.layers["C"], w=torch.rand(20, 10) * 4), "X", "C")
    net.add_monitor(Monitor(net.layers["C"], ("s", "v")), "C")
    with use_backend(backend):
        net.run(inputs={"X": inputs[:30]}, time=30)
        net.run(inputs={"X": inputs[30:]}, time=len(inputs) - 30)  # the windows carry over
    assert net.last_backend == backend
    return net.monitors["C"].get("s"), net.monitors["C"].get("v"), net.layers["C"].theta


@pytest.mark.parametrize("layer_kw", [{}, {"lbound": -66.0, "theta_plus": 1.0, "tc_theta_decay": 30.0}])
@pytest.mark.parametrize("backend", [b for b in available_backends() if b != "eager"])
def test_csrm_runs_on_every_backend_as_on_eager(backend, layer_kw):
    inputs = torch.rand(60, 20, generator=torch.Generator().manual_seed(1)) < 0.3
    s_ref, v_ref, theta_ref = run("eager", inputs, **layer_kw)
    assert s_ref.any() and not s_ref.all(), "the test network should spike sometimes"
    s, v, theta = run(backend, inputs, **layer_kw)
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref)
    torch.testing.assert_close(theta, theta_ref)
