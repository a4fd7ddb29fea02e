"""The structured connections (convolution, max-pooling, local, mean-field,
multicompartment) on the fast back-ends, against the eager back-end, spike for
spike (networks in structured.py)."""

from __future__ import annotations

import pytest
import torch

from snnlab.engine import available_backends, use_backend
from snnlab.engine.backends.base import cache_for
from snnlab.learning import PostPre

from . import structured

needs_emulate = pytest.mark.skipif("graph-emulate" not in available_backends(), reason="no graph back-end")


def run(net, backend: str, inputs: dict, time: int, forced: bool = True, **kwargs) -> dict:
    """Run ``net`` forced onto ``backend`` (else: chosen, with the eager path taking
    blocks it gives up): every monitor's records, and every connection's weights."""
    if backend == "graph-emulate":
        net.cuda_graphs = "emulate"
    if forced:
        with use_backend(backend):
            net.run(inputs=inputs, time=time, **kwargs)
        assert net.last_backend == backend
    else:
        net.cpu_kernels = backend == "cpu"
        net.run(inputs=inputs, time=time, **kwargs)
    out = {(name, var): m.get(var).clone() for name, m in net.monitors.items() for var in m.state_vars}
    for key, conn in net.connections.items():
        out[("w",) + key] = conn.weights().detach().clone()
    return out


def assert_same(eager: dict, fast: dict, what: str) -> None:
    for key, ref in eager.items():
        got = fast[key]
        if key[-1] == "s":
            assert torch.equal(ref, got), f"{what}: spikes of {key[0]} differ at {(ref != got).nonzero()[:3].tolist()}"
        else:
            torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-5, msg=lambda m: f"{what} {key}: {m}")


def compare(kind: str, backend: str, batch: int, rule=None, time: int = 150) -> dict:
    x = structured.spikes(kind, time, batch)
    eager = run(structured.build(kind, rule), "eager", x, time)
    fast = run(structured.build(kind, rule), backend, x, time)
    assert eager[("O", "s")].sum() > 0 and eager[("H", "s")].sum() > 0, f"{kind}: a silent network tests nothing"
    if rule is not None:
        w0 = structured.build(kind, rule).connections[("H", "O")].weights()
        assert not torch.equal(eager[("w", "H", "O")], w0), f"{kind}: the rule changed no weight"
    assert_same(eager, fast, f"{kind} on {backend}, batch {batch}")
    return eager


@needs_emulate
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kind", list(structured.KINDS))
def test_graph_path_runs_each_structured_kind_as_eager(kind, batch):
    compare(kind, "graph-emulate", batch)


@needs_emulate
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kind", structured.RULE_KINDS)
def test_graph_path_learns_on_each_structured_kind_as_eager(kind, batch):
    compare(kind, "graph-emulate", batch, rule=PostPre)


@needs_emulate
def test_graph_path_restores_max_pooling_rates_with_the_state():
    """The running rates of a max-pooling connection are state of the block: a
    block given back to the eager path (more spikes than the propagator holds)
    restarts from them, a second run continues them, a reset clears them."""
    from snnlab.engine.backends.gpu import _capacity
    from snnlab.network.topology import Connection

    from snnlab.network.nodes import LIFNodes

    x = structured.spikes("MaxPool2d", 80, 3, seed=4)
    nets = {b: structured.build("MaxPool2d") for b in ("eager", "graph-emulate")}
    for net in nets.values():  # Z fires all at once: more than the compacted propagation holds
        a, z = net.layers["A"], LIFNodes(n=100)
        assert _capacity(z.n) < z.n
        net.add_layer(z, "Z")
        net.add_connection(Connection(a, z, w=torch.full((a.n, z.n), 30.0)), "A", "Z")
        net.add_connection(Connection(z, z, w=torch.zeros(z.n, z.n)), "Z", "Z")
        for key in (("H", "O"), ("A", "O")):
            net.connections[key].decay = 0.02  # long memory: a block run twice shows in the rates
    records = {}
    for backend, net in nets.items():
        first = run(net, backend, x, 80, forced=False)
        second = run(net, backend, x, 80, forced=False)
        net.reset_state_variables()
        third = run(net, backend, x, 80, forced=False)
        records[backend] = (first, second, third)
    for k, (ref, got) in enumerate(zip(records["eager"], records["graph-emulate"])):
        assert_same(ref, got, f"MaxPool2d run {k}")
    assert torch.equal(records["eager"][0][("O", "s")], records["eager"][2][("O", "s")])
    assert cache_for(nets["graph-emulate"], "graph-emulate").get("failed", "").startswith("a step had more spikes")


def test_a_subclass_that_does_not_restate_graph_propagation_runs_eagerly():
    from snnlab.engine.backends.gpu import graph_propagation
    from snnlab.network.topology import Connection

    class Shifted(Connection):
        def compute(self, s):
            return s.reshape(s.shape[0], -1).float() @ self.w + 1.0

    net = structured.build("Conv2d")
    assert graph_propagation(net.connections[("H", "O")]) == "compute"
    conn = Shifted(net.layers["O"], net.layers["H"], w=torch.zeros(27, 72))
    assert graph_propagation(conn) is None
    net.add_connection(conn, "O", "H")
    net.cuda_graphs = "emulate"
    with pytest.raises(ValueError, match="Shifted, which declares no capture-safe propagation"):
        with use_backend("graph-emulate"):
            net.run(inputs=structured.spikes("Conv2d", 5), time=5)


needs_cpu = pytest.mark.skipif("cpu" not in available_backends(), reason="numba is not installed")


@needs_cpu
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("rule", [None, PostPre])
def test_cpu_loop_runs_a_local_connection_as_a_dense_one_keeping_its_mask(rule, batch):
    eager = compare("Local", "cpu", batch, rule=rule)
    if rule is not None:
        net = structured.build("Local", rule)
        for key in (("H", "O"), ("A", "O")):
            mask = net.connections[key].structural_mask()
            assert mask.any() and not eager[("w",) + key][mask].any(), "a masked weight learnt"
            assert eager[("w",) + key][~mask].ne(net.connections[key].w[~mask]).any()


@needs_cpu
def test_cpu_loop_keeps_the_local_mask_with_decay_and_a_rule_with_state():
    """MSTDP (its own per-synapse state, a reward) and weight decay: the mask is applied after both."""
    from snnlab.learning import MSTDP

    def build():
        return structured.build("Local", MSTDP, nu=(0.05, 0.05), weight_decay=0.01, wmin=-1.0, wmax=4.0)

    x = structured.spikes("Local", 120, 3)
    eager = run(build(), "eager", x, 120, reward=torch.tensor([1.0, -0.5, 2.0]))
    fast = run(build(), "cpu", x, 120, reward=torch.tensor([1.0, -0.5, 2.0]))
    assert_same(eager, fast, "Local with MSTDP and decay on cpu")
    mask = build().connections[("H", "O")].structural_mask()
    assert not fast[("w", "H", "O")][mask].any() and fast[("w", "H", "O")][~mask].ne(0).all()
