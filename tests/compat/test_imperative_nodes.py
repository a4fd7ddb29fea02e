"""CSRMNodes' step is imperative torch code, not a statement list: a back-end
that compiles layers from their descriptions must refuse it, never run its
placeholder description. Every back-end either refuses or gives eager's spikes."""

import pytest
import torch

from snnlab.engine import available_backends, use_backend
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import CSRMNodes, Input
from snnlab.network.topology import Connection


def run(backend, inputs):
    torch.manual_seed(0)
    net = Network(dt=1.0)
    net.add_layer(Input(n=20), "X")
    net.add_layer(CSRMNodes(n=10, thresh=-60.0), "C")
    net.add_connection(Connection(net.layers["X"], net.layers["C"], w=torch.rand(20, 10) * 4), "X", "C")
    net.add_monitor(Monitor(net.layers["C"], ("s", "v")), "C")
    with use_backend(backend):
        net.run(inputs={"X": inputs}, time=60)
    assert net.last_backend == backend
    return net.monitors["C"].get("s"), net.monitors["C"].get("v")


@pytest.mark.parametrize("backend", [b for b in available_backends() if b != "eager"])
def test_csrm_runs_as_eager_or_is_refused(backend):
    inputs = torch.rand(60, 20, generator=torch.Generator().manual_seed(1)) < 0.3
    s_ref, v_ref = run("eager", inputs)
    assert s_ref.any() and not s_ref.all(), "the test network should spike sometimes"
    try:
        s, v = run(backend, inputs)
    except ValueError as ex:
        assert "cannot" in str(ex) or "CSRM" in str(ex), ex
        return
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref)
