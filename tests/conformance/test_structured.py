"""The structured connections (convolution, max-pooling, local, mean-field,
multicompartment) on the fast back-ends, against the eager back-end, spike for
spike (networks in structured.py)."""

from __future__ import annotations

import numpy as np
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
needs_triton = pytest.mark.skipif("triton" not in available_backends(), reason=(
    "no triton back-end here (a GPU or TRITON_INTERPRET=1; test_triton_interpret runs these in the interpreter)"))


@needs_triton
@pytest.mark.parametrize("kind,rule", [("Conv2d", PostPre), ("Local", PostPre), ("Local2D", None), ("MaxPool2d", None),
                                       ("MeanField", None), ("Multicompartment", PostPre)])
def test_triton_backend_runs_structured_kinds_as_eager(kind, rule):
    """The Triton back-end (its kernels for the dense rows and the layers' steps,
    the kinds' own compute for the rest) on the structured kinds."""
    compare(kind, "triton", 3, rule=rule, time=70)


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


MAP_KINDS = ["Conv1d", "Conv2d", "Conv2d_bias", "Conv3d", "Local1D", "Local2D", "Local3D"]


@needs_cpu
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kind", MAP_KINDS)
def test_cpu_loop_propagates_fixed_convolution_and_local_weights_through_the_map(kind, batch):
    compare(kind, "cpu", batch)
    net = structured.build(kind)
    net.cpu_kernels = True
    net.run(inputs=structured.spikes(kind, 40, batch), time=40)  # chosen, not forced: compiled above
    assert net.last_backend == "cpu"


@needs_cpu
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kind", ["MaxPool1d", "MaxPool2d", "MaxPool3d", "MeanField"])
def test_cpu_loop_runs_max_pooling_and_mean_field_as_eager(kind, batch):
    compare(kind, "cpu", batch)


@needs_cpu
def test_cpu_loop_continues_max_pooling_rates_across_runs_and_a_reset_clears_them():
    x = structured.spikes("MaxPool2d", 80, 3, seed=4)
    nets = {b: structured.build("MaxPool2d") for b in ("eager", "cpu")}
    for net in nets.values():
        for key in (("H", "O"), ("A", "O")):
            net.connections[key].decay = 0.02  # long memory: a rate carried over shows
    records = {}
    for backend, net in nets.items():
        first = run(net, backend, x, 80)
        second = run(net, backend, x, 80)
        net.reset_state_variables()
        third = run(net, backend, x, 80)
        records[backend] = (first, second, third)
        rates = net.connections[("H", "O")].firing_rates
        assert rates is not None and rates.shape == (3, 2, 6, 6) and rates.max() > 1.0
    for k, (ref, got) in enumerate(zip(records["eager"], records["cpu"])):
        assert_same(ref, got, f"MaxPool2d run {k}")
    assert torch.equal(records["cpu"][0][("O", "s")], records["cpu"][2][("O", "s")])
    assert not torch.equal(records["cpu"][0][("O", "s")], records["cpu"][1][("O", "s")])
    torch.testing.assert_close(nets["cpu"].connections[("H", "O")].firing_rates,
                               nets["eager"].connections[("H", "O")].firing_rates)


@needs_cpu
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kind", MAP_KINDS)
def test_cpu_loop_learns_shared_weights_through_the_map(kind, batch):
    """PostPre's outer products summed per shared weight over the map's entries (as conv_weight / einsum)."""
    compare(kind, "cpu", batch, rule=PostPre)


@needs_cpu
@pytest.mark.parametrize("kind", ["Conv2d", "Local2D"])
def test_cpu_loop_learns_shared_weights_with_a_weight_dependent_rule_and_decay(kind):
    """An increment that reads w (WeightDependentPostPre), then weight decay and bounds, per shared weight."""
    from snnlab.learning import WeightDependentPostPre

    x = structured.spikes(kind, 150, 3)
    runs = [run(structured.build(kind, WeightDependentPostPre, weight_decay=0.002), backend, x, 150)
            for backend in ("eager", "cpu")]
    assert_same(*runs, f"{kind} WeightDependentPostPre with decay on cpu")


def shared_weight_masks(net, seed: int = 6) -> dict:
    """A mask in each structured connection's own weight shape (True: that shared weight is zeroed)."""
    g = torch.Generator().manual_seed(seed)
    return {key: torch.rand(net.connections[key].weights().shape, generator=g) < 0.3 for key in (("H", "O"), ("A", "O"))}


@needs_cpu
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("rule", [None, PostPre])
@pytest.mark.parametrize("kind", ["Conv2d", "Local2D"])
def test_cpu_loop_applies_masks_of_shared_weights_as_eager(kind, rule, batch):
    """``masks`` in the weights' own shape zero those shared weights after each step's learning, as eager."""
    x = structured.spikes(kind, 150, batch)
    masks = shared_weight_masks(structured.build(kind, rule))
    runs = []
    for backend in ("eager", "cpu"):
        net = structured.build(kind, rule)
        runs.append(run(net, backend, x, 150, masks=masks))
        assert net.last_backend == backend
    eager, fast = runs
    assert_same(eager, fast, f"{kind} masked on cpu, batch {batch}")
    w0 = structured.build(kind, rule).connections[("H", "O")].weights()
    mask = masks[("H", "O")]
    assert mask.any() and not fast[("w", "H", "O")][mask].any() and w0[mask].ne(0).all()
    assert eager[("O", "s")].sum() > 0
    if rule is not None:
        assert fast[("w", "H", "O")][~mask].ne(w0[~mask]).any(), "the rule changed no unmasked weight"


@needs_emulate
@pytest.mark.parametrize("kind", ["Conv2d", "Local2D"])
def test_graph_path_applies_masks_of_shared_weights_as_eager(kind):
    x = structured.spikes(kind, 80, 3)
    masks = shared_weight_masks(structured.build(kind, PostPre))
    eager, graph = (run(structured.build(kind, PostPre), backend, x, 80, masks=masks) for backend in ("eager", "graph-emulate"))
    assert_same(eager, graph, f"{kind} masked on graph-emulate")
    assert not graph[("w", "H", "O")][masks[("H", "O")]].any()


def test_a_mask_of_shared_weights_must_have_their_shape():
    net = structured.build("Conv2d", PostPre)
    conn = net.connections[("H", "O")]
    wrong = torch.zeros(conn.source.n, conn.target.n, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"masks\[\('H', 'O'\)\] has shape \(72, 27\), expected \(3, 2, 3, 3\)"):
        net.run(inputs=structured.spikes("Conv2d", 5), time=5, masks={("H", "O"): wrong})


def rule_states(net, key) -> dict:
    rule = net.connections[key].update_rule
    return {name: getattr(rule, name).clone() for name in rule.model.state}


def compare_with_state(build, key, x, time: int, reward, batch: int, what: str) -> tuple:
    """Eager and cpu runs of ``build()`` (SRM0's draws seeded alike): records, weights and
    the rule's own state equal; the run on cpu asserted (``last_backend``)."""
    runs, states = [], []
    for backend in ("eager", "cpu"):
        net = build()
        torch.manual_seed(7)
        runs.append(run(net, backend, x, time, reward=reward))
        assert net.last_backend == backend
        states.append(rule_states(net, key))
    assert_same(*runs, what)
    for name, ref in states[0].items():  # [batch, *w.shape]: one per sample and shared weight
        if build().connections[key].update_rule.model.state[name] == "synapse":
            assert ref.shape == (batch, *build().connections[key].weights().shape)
        torch.testing.assert_close(states[1][name], ref, atol=1e-4, rtol=1e-5, msg=lambda m: f"{what} {name}: {m}")
    return runs


@needs_cpu
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("rule", ["MSTDP", "MSTDPET"])
@pytest.mark.parametrize("kind", MAP_KINDS)
def test_cpu_loop_learns_shared_weights_with_a_rule_with_state_and_a_reward(kind, rule, batch):
    """MSTDP / MSTDPET on shared weights: per-neuron traces, an eligibility per sample and
    shared weight (each outer summed over the map's entries of that weight, as conn.outer),
    ``sum_batch(reward * eligibility)`` over the samples; a reward per sample at batch 3."""
    import snnlab.learning as learning

    rule_cls = getattr(learning, rule)
    x = structured.spikes(kind, 150, batch)
    reward = 1.0 if batch == 1 else torch.tensor([1.0, -0.5, 2.0])
    eager, _ = compare_with_state(lambda: structured.build(kind, rule_cls, nu=(0.01, 0.01)), ("H", "O"), x, 150,
                                  reward, batch, f"{kind} {rule} on cpu, batch {batch}")
    w0 = structured.build(kind, rule_cls, nu=(0.01, 0.01)).connections[("H", "O")].weights()
    w = eager[("w", "H", "O")]
    assert w.ne(w0).float().mean() > 0.5 and ((w > 0) & (w < 4)).float().mean() > 0.3, "learning tests little"


@needs_cpu
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kind,nu", [("Conv2d", 1e-5), ("Local2D", 1e-4)])
def test_cpu_loop_learns_shared_weights_with_rmax_on_an_srm0_target(kind, nu, batch):
    """Rmax: an eligibility trace per sample and shared weight from outer(x_pre, f(s_post, s_prob_post))."""
    from snnlab.learning import Rmax

    x = structured.spikes(kind, 150, batch)
    reward = 1.0 if batch == 1 else torch.tensor([1.0, -0.5, 2.0])
    eager, _ = compare_with_state(lambda: structured.build_srm0(kind, Rmax, nu=(nu, nu)), ("A", "O"), x, 150, reward,
                                  batch, f"{kind} Rmax on cpu, batch {batch}")
    assert eager[("O", "s")].float().mean() > 0.05
    w0 = structured.build_srm0(kind, Rmax, nu=(nu, nu)).connections[("A", "O")].weights()
    w = eager[("w", "A", "O")]
    assert w.ne(w0).float().mean() > 0.5 and ((w > 0) & (w < 3)).float().mean() > 0.9, "learning tests little"


@needs_cpu
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kind", ["Conv2d", "Local2D"])
def test_cpu_loop_learns_shared_weights_with_a_rule_reading_the_layers_state(kind, batch):
    """A rule without state reading the target's voltage (``layer_state``): each sample's outer summed per weight."""
    from snnlab.dynamics.model import RuleModel
    from snnlab.learning import LearningRule

    class VoltageGated(LearningRule):
        needs_traces = True
        model = RuleModel(layer_state=("v_post",), updates="""
            w = w + nu_pre * outer(x_pre, s_post)
            w = w + nu_post * outer(s_pre, v_post + 65.0)
        """)

    x = structured.spikes(kind, 150, batch)
    eager, fast = (run(structured.build(kind, VoltageGated, nu=(1e-2, 1e-3)), backend, x, 150) for backend in ("eager", "cpu"))
    assert_same(eager, fast, f"{kind} VoltageGated on cpu, batch {batch}")
    w0 = structured.build(kind, VoltageGated, nu=(1e-2, 1e-3)).connections[("H", "O")].weights()
    assert eager[("w", "H", "O")].ne(w0).float().mean() > 0.5


@needs_cpu
def test_cpu_loop_leaves_a_rule_with_state_and_its_own_reduction_on_shared_weights_to_the_eager_path():
    from snnlab.learning import MSTDP

    net = structured.build("Conv2d", MSTDP, reduction=torch.mean)
    net.cpu_kernels = True
    x = structured.spikes("Conv2d", 5)
    with pytest.raises(ValueError, match=r"connection \('H', 'O'\) sums its learning over the batch with its own reduction"):
        with use_backend("cpu"):
            net.run(inputs=x, time=5, reward=1.0)
    net.run(inputs=x, time=5, reward=1.0)
    assert net.last_backend == "eager"
    net.learning = False  # the same network with its weights fixed: the loop takes it
    with use_backend("cpu"):
        net.run(inputs=x, time=5)
    assert net.last_backend == "cpu"


@needs_cpu
def test_cpu_loop_leaves_a_mask_on_mean_field_weights_to_the_eager_path():
    net = structured.build("MeanField")
    mask = torch.zeros(net.connections[("H", "O")].weights().shape, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"connection \('H', 'O'\) is a MeanFieldConnection with a mask \(the loop keeps"):
        with use_backend("cpu"):
            net.run(inputs=structured.spikes("MeanField", 5), time=5, masks={("H", "O"): mask})


# ------------------------------------------------------------------ the map itself
def conv_reference(x: np.ndarray, w: np.ndarray, b, stride, padding, dilation) -> np.ndarray:
    """A convolution (cross-correlation, as torch) from its definition, one output at a time:
    ``out[o, p] = b[o] + sum_{c, k} w[o, c, k] x[c, p * stride - padding + k * dilation]``."""
    nd = w.ndim - 2
    size_in = x.shape[1:]
    size_out = tuple((size_in[d] + 2 * padding[d] - dilation[d] * (w.shape[2 + d] - 1) - 1) // stride[d] + 1
                     for d in range(nd))
    out = np.zeros((w.shape[0], *size_out), np.float64)
    for o in range(w.shape[0]):
        for p in np.ndindex(*size_out):
            total = 0.0 if b is None else float(b[o])
            for c in range(w.shape[1]):
                for k in np.ndindex(*w.shape[2:]):
                    at = tuple(p[d] * stride[d] - padding[d] + k[d] * dilation[d] for d in range(nd))
                    if all(0 <= at[d] < size_in[d] for d in range(nd)):
                        total += float(w[(o, c) + k]) * float(x[(c,) + at])
            out[(o,) + p] = total
    return out.reshape(-1)


def local_reference(x: np.ndarray, w: np.ndarray, b, kernel, stride, n_filters) -> np.ndarray:
    """A locally connected layer from its definition: target ``f * P + p`` sums
    ``w[c, f * P + p, k] x[c, p * stride + k]`` over channels and kernel elements."""
    nd = len(kernel)
    size_in = x.shape[1:]
    conv = tuple((size_in[d] - kernel[d]) // stride[d] + 1 for d in range(nd))
    P = int(np.prod(conv))
    out = np.zeros(n_filters * P, np.float64)
    for f in range(n_filters):
        for pi, p in enumerate(np.ndindex(*conv)):
            total = 0.0 if b is None else float(b[f * P + pi])
            for c in range(x.shape[0]):
                for ki, k in enumerate(np.ndindex(*kernel)):
                    total += float(w[c, f * P + pi, ki]) * float(x[(c,) + tuple(p[d] * stride[d] + k[d] for d in range(nd))])
            out[f * P + pi] = total
    return out


def via_map(conn, s: np.ndarray) -> np.ndarray:
    """The propagation the cpu loop runs, in NumPy: each spiking neuron's map entries."""
    row_ptr, targets, weight_index = (t.numpy() for t in conn.propagation_map())
    w = conn.weights().detach().numpy().reshape(-1).astype(np.float64)
    out = np.zeros(conn.target.n, np.float64)
    for i in np.flatnonzero(s.reshape(-1)):
        for k in range(row_ptr[i], row_ptr[i + 1]):
            out[targets[k]] += w[weight_index[k]]
    bias = conn.target_bias()
    return out if bias is None else out + bias.detach().numpy()


GEOMETRIES = [
    ("Conv1d", (3, 11), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    ("Conv2d", (2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    ("Conv2d", (1, 9, 9), dict(kernel_size=5)),
    ("Conv3d", (2, 4, 5, 3), dict(kernel_size=2, padding=1)),
    ("Local1D", (2, 10), dict(kernel_size=3, stride=2, n_filters=3)),
    ("Local2D", (2, 6, 7), dict(kernel_size=(3, 2), stride=(1, 2), n_filters=2)),
    ("Local3D", (1, 4, 4, 5), dict(kernel_size=2, stride=(2, 1, 2), n_filters=2)),
]


@pytest.mark.parametrize("kind,source,kwargs", GEOMETRIES, ids=[f"{g[0]}-{i}" for i, g in enumerate(GEOMETRIES)])
def test_propagation_map_sums_what_the_definition_sums(kind, source, kwargs):
    from snnlab.network.nodes import Input
    from snnlab.network import topology_extra as tx

    torch.manual_seed(3)
    nd = len(source) - 1
    k = tx._tuple(kwargs["kernel_size"], nd, "kernel_size")
    stride = tx._tuple(kwargs.get("stride", 1), nd, "stride")
    if kind.startswith("Conv"):
        padding = tx._tuple(kwargs.get("padding", 0), nd, "padding", minimum=0)
        dilation = tx._tuple(kwargs.get("dilation", 1), nd, "dilation")
        out = tuple((source[1 + d] + 2 * padding[d] - dilation[d] * (k[d] - 1) - 1) // stride[d] + 1 for d in range(nd))
        target = Input(shape=(3, *out))
        kwargs = dict(kwargs, b=torch.randn(3))
    else:
        conv = [(source[1 + d] - k[d]) // stride[d] + 1 for d in range(nd)]
        target = Input(n=kwargs["n_filters"] * int(np.prod(conv)))
        kwargs = dict(kwargs, b=torch.randn(target.n))
    conn = structured.CLASSES[kind](Input(shape=source), target, w=None, **kwargs)
    g = torch.Generator().manual_seed(5)
    for p in (0.1, 0.5, 1.0):
        s = torch.rand(source, generator=g) < p
        x, w = s.numpy().astype(np.float64), conn.w.detach().numpy()
        b = conn.b.detach().numpy()
        if kind.startswith("Conv"):
            ref = conv_reference(x, w, b, stride, padding, dilation)
        else:
            ref = local_reference(x, w, b, k, stride, kwargs["n_filters"])
        np.testing.assert_allclose(via_map(conn, s.numpy()), ref, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(conn.compute(s.unsqueeze(0))[0].double().numpy(), ref, rtol=1e-5, atol=1e-4)
    assert conn.propagation_map() is conn.propagation_map()  # built once


@needs_cpu
def test_cpu_loop_of_one_size_serves_another_kernel_of_the_same_sizes():
    """Two convolutions with the same source and target sizes but other kernels (3x3 pad 1,
    5x5 pad 2) share the loop's structure: the number of shared weights is read at run time."""
    from snnlab.network import Network
    from snnlab.network.monitors import Monitor
    from snnlab.network.nodes import Input, LIFNodes
    from snnlab.network.topology_extra import Conv2dConnection

    def build(k):
        torch.manual_seed(2)
        net = Network()
        a, o = Input(shape=(1, 6, 6), traces=True), LIFNodes(shape=(2, 6, 6), traces=True, thresh=-60.0)
        net.add_layer(a, "A")
        net.add_layer(o, "O")
        net.add_connection(Conv2dConnection(a, o, kernel_size=k, padding=k // 2, w=2.0 * torch.rand(2, 1, k, k),
                                            update_rule=PostPre, nu=(1e-2, 1e-2), wmin=0.0, wmax=2.0), "A", "O")
        net.add_monitor(Monitor(o, ("s", "v")), "O")
        return net

    x = {"A": torch.rand(100, 1, 6, 6, generator=torch.Generator().manual_seed(9)) < 0.3}
    for k in (3, 5):
        assert_same(run(build(k), "eager", x, 100), run(build(k), "cpu", x, 100), f"kernel {k}")


# ------------------------------------------------------------------ background compilation
def _argument_types(net, x, time, monkeypatch, **kwargs) -> tuple:
    """numba's types of the arguments a background compilation would compile the loop
    for (``dummy_arguments``) and of those a run then passes, by argument name."""
    import numba

    from snnlab.engine.backends import cpu

    seen = {}
    monkeypatch.setattr(cpu, "ready", lambda src: False)
    monkeypatch.setattr(cpu, "BACKGROUND_WORK", 0)
    monkeypatch.setattr(cpu, "compile_in_background", lambda src, dummy: seen.setdefault("dummy", dummy))
    net.cpu_kernels = True
    net.run(inputs=x, time=time, **kwargs)  # not compiled ("ready" says): eager, and the dummy made
    assert net.last_backend == "eager" and "dummy" in seen
    compile_source = cpu.compile_source

    def recording(src, dummy=None):
        fn = compile_source(src, dummy)
        return lambda *args: (seen.setdefault("real", args), fn(*args))

    monkeypatch.setattr(cpu, "compile_source", recording)
    with use_backend("cpu"):
        net.run(inputs=x, time=time, **kwargs)
    dummy, real = seen["dummy"], seen["real"]
    assert len(dummy) == len(real)
    return [numba.typeof(a) for a in dummy], [numba.typeof(a) for a in real]


@needs_cpu
@pytest.mark.parametrize("case", ["Local-PostPre", "Conv2d-PostPre", "Conv2d_bias", "Local3D", "MaxPool2d", "MeanField",
                                  "forcing", "Local2D-MSTDP-masked"])
def test_background_compilation_compiles_the_loop_for_the_arguments_a_run_passes(case, monkeypatch):
    """Every argument kind the loop takes has a dummy of the type a run passes, so the
    background compilation compiles the loop the runs call (and does not fail)."""
    kind, _, rule = case.partition("-")
    if case == "forcing":
        net, time = structured.build("Conv2d"), 30
        o = net.layers["O"]
        kwargs = dict(clamp={"O": torch.rand(o.shape) < 0.1}, unclamp={"O": torch.rand(time, *o.shape) < 0.1},
                      injects_v={"O": torch.rand(o.shape)})
        x = structured.spikes("Conv2d", time)
    elif rule == "MSTDP-masked":  # rule state per shared weight, a reward, a mask of shared weights
        from snnlab.learning import MSTDP

        net, time = structured.build(kind, MSTDP), 30
        kwargs = dict(reward=1.0, masks=shared_weight_masks(net))
        x = structured.spikes(kind, time)
    else:
        net, time, kwargs = structured.build(kind, PostPre if rule else None), 30, {}
        x = structured.spikes(kind, time)
    dummy, real = _argument_types(net, x, time, monkeypatch, **kwargs)
    assert dummy == real
