"""The "cpu" back-end's generated loops against the eager back-end, for every
model, dense and sparse connections, every described learning rule, batch > 1.

Both run code generated from the same description (snnlab.dynamics.model),
so spikes must agree exactly, voltages and weights to float32 rounding (sums
from Input layers run in another order) -- and stochastic models too, since
both take their random draws in the same order.
"""

from __future__ import annotations

import pytest
import torch

from snnlab.engine import use_backend
from snnlab.engine.backends import cpu
from snnlab.learning import Hebbian, PostPre, WeightDependentPostPre
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import (
    AdaptiveLIFNodes, CurrentLIFNodes, DiehlAndCookNodes, IFNodes, Input, IzhikevichNodes, LIFNodes,
    McCullochPitts, SRM0Nodes,
)
from snnlab.network.topology import Connection, SparseConnection

pytestmark = pytest.mark.skipif(not cpu.available(), reason="needs numba (pip install snnlab[fast])")


def build(layer_cls, rule=None, sparse=False, seed=0):
    torch.manual_seed(seed)
    net = Network()
    net.add_layer(Input(n=50, traces=True), "A")
    net.add_layer(layer_cls(n=30, traces=True), "B")
    conn = SparseConnection if sparse else Connection
    weights = dict(sparsity=0.5) if sparse else dict(w=torch.rand(50, 30) * 6)
    net.add_connection(conn(net.layers["A"], net.layers["B"], update_rule=rule, nu=(1e-2, 2e-2),
                            wmin=0.0, wmax=8.0, **weights), "A", "B")
    net.add_connection(Connection(net.layers["B"], net.layers["B"], w=-torch.rand(30, 30)), "B", "B")
    layer = net.layers["B"]
    names = [v for v in ("s", "v", "refrac_count", "theta", "u", "i", "x") if isinstance(getattr(layer, v, None), torch.Tensor)]
    net.add_monitor(Monitor(layer, names), "B")
    return net


def net_plan(net, one_step=False, masks=None):
    from snnlab.engine.plan import RunOptions, make_plan

    return make_plan(net, RunOptions(steps=1, batch=net.batch_size, one_step=one_step, inputs=("A",), clamp={},
                                     unclamp={}, injects={}, masks=masks or {}))


def run_on(backend, make, x, seed=5, **kw):
    net = make()
    torch.manual_seed(seed)  # the same random draws for stochastic models
    with use_backend(backend):
        net.run(x, time=x["A"].shape[0], **kw)
    assert net.last_backend == backend
    return net


def compare(e, c, exact_v=False):
    me, mc = e.monitors["B"], c.monitors["B"]
    for var in me.state_vars:
        a, b = me.get(var), mc.get(var)
        if a.dtype == torch.bool:
            assert torch.equal(a, b), var
        elif exact_v:
            assert torch.equal(a, b), var
        else:
            assert torch.allclose(a, b, atol=1e-4), (var, (a - b).abs().max())
    for key in e.connections:
        assert torch.allclose(e.connections[key].weights(), c.connections[key].weights(), atol=1e-5), key


def inputs(T=200, batch=None, p=0.2, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = (T, 50) if batch is None else (T, batch, 50)
    return {"A": torch.rand(shape, generator=g) < p}


MODELS = [LIFNodes, IFNodes, CurrentLIFNodes, AdaptiveLIFNodes, DiehlAndCookNodes, IzhikevichNodes, SRM0Nodes, McCullochPitts]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_matches_eager(model):
    make = lambda: build(model)  # noqa: E731
    e, c = run_on("eager", make, inputs()), run_on("cpu", make, inputs())
    assert e.monitors["B"].get("s").sum() > 0
    compare(e, c)


@pytest.mark.parametrize("rule", [PostPre, Hebbian, WeightDependentPostPre], ids=lambda r: r.__name__)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_learning_rules_dense_and_sparse_match_eager(rule, sparse):
    make = lambda: build(AdaptiveLIFNodes, rule, sparse)  # noqa: E731
    e, c = run_on("eager", make, inputs()), run_on("cpu", make, inputs())
    before = build(AdaptiveLIFNodes, rule, sparse).connections[("A", "B")].weights()
    assert not torch.equal(before, e.connections[("A", "B")].weights())  # the rule did something
    compare(e, c)


@pytest.mark.parametrize("model", [LIFNodes, DiehlAndCookNodes, SRM0Nodes], ids=lambda m: m.__name__)
def test_batches_with_learning_match_eager(model):
    make = lambda: build(model, PostPre)  # noqa: E731
    x = inputs(120, batch=3)
    e, c = run_on("eager", make, x), run_on("cpu", make, x)
    compare(e, c)


def test_masks_one_step_and_chunks_match_eager():
    make = lambda: build(LIFNodes, PostPre)  # noqa: E731
    mask = torch.rand(50, 30, generator=torch.Generator().manual_seed(2)) < 0.3
    x = inputs(150)
    e = run_on("eager", make, x, masks={("A", "B"): mask}, one_step=True)
    net = make()
    torch.manual_seed(5)
    with use_backend("cpu"):
        for _ in net.run_chunks(x, time=150, one_step=True, chunk_steps=37, masks={("A", "B"): mask}):
            pass
    compare(e, net)
    assert (net.connections[("A", "B")].w[mask] == 0).all()


def _structures():
    """Plans that differ from one another in one thing the generated loop depends on."""

    def tweak(make, change):
        net = make()
        change(net)
        return net

    def conn_kw(**kw):
        torch.manual_seed(0)
        net = Network()
        net.add_layer(Input(n=50, traces=True), "A")
        net.add_layer(LIFNodes(n=30, traces=True), "B")
        net.add_connection(Connection(net.layers["A"], net.layers["B"], update_rule=PostPre, nu=(1e-2, 2e-2),
                                      w=torch.rand(50, 30), **kw), "A", "B")
        net.add_monitor(Monitor(net.layers["B"], ("s",)), "B")
        return net

    nets = [build(model) for model in MODELS]
    nets += [build(LIFNodes, rule, sparse) for rule in (PostPre, Hebbian) for sparse in (False, True)]
    nets += [
        tweak(lambda: build(LIFNodes, PostPre), lambda n: setattr(n.layers["B"], "traces_additive", True)),
        tweak(lambda: build(LIFNodes), lambda n: setattr(n.layers["B"], "sum_input", True)),
        tweak(lambda: build(LIFNodes), lambda n: n.set_batch_size(2)),
        tweak(lambda: build(LIFNodes, PostPre), lambda n: n.set_batch_size(2)),
        tweak(lambda: build(LIFNodes), lambda n: n.monitors["B"].__setattr__("state_vars", ("s",))),
        tweak(lambda: build(LIFNodes), lambda n: n.layers.__setitem__("B", n.layers.pop("B"))),
        conn_kw(), conn_kw(wmin=0.0, wmax=1.0), conn_kw(weight_decay=0.1), conn_kw(wmin=0.0, wmax=1.0, weight_decay=0.1),
        conn_kw(b=torch.ones(30)),
    ]
    mask = {("A", "B"): torch.zeros(50, 30, dtype=torch.bool)}
    plans = [(net, net_plan(net), ext) for net in nets for ext in (("A",), ())]
    learning = nets[len(MODELS)]  # LIF with PostPre: an update with and without a mask
    plans += [(nets[0], net_plan(nets[0], one_step=True), ("A",)), (nets[0], net_plan(nets[0], masks=mask), ("A",)),
              (learning, net_plan(learning, masks=mask), ("A",))]
    return plans


def test_a_loops_source_is_written_once_per_structure_and_never_reused_for_another():
    plans = _structures()
    for _, plan, ext in plans:  # every structure in the cache at once
        cpu.source_for(plan, ext)
    fresh = [cpu.generate_source(plan, ext) for _, plan, ext in plans]
    assert len({src for src, _, _ in fresh}) > len(plans) * 3 // 4  # the variants do differ
    for (_, plan, ext), (src, names, records) in zip(plans, fresh):
        got = cpu.source_for(plan, ext)
        assert got[0] == src and got[1] == names
        assert [(id(m), var, l) for m, var, l in got[2]] == [(id(m), var, l) for m, var, l in records]


def test_a_second_network_of_the_same_structure_reuses_the_source_with_its_own_monitors_and_values():
    make = lambda: build(LIFNodes, PostPre)  # noqa: E731
    a, b = make(), make()
    b.connections[("A", "B")].w *= 0.5
    b.layers["B"].thresh = -60.0
    x = inputs()
    ra = run_on("cpu", lambda: a, x)
    rb = run_on("cpu", lambda: b, x)
    eb = make()
    eb.connections[("A", "B")].w *= 0.5
    eb.layers["B"].thresh = -60.0
    compare(run_on("eager", lambda: eb, x), rb)
    assert not torch.equal(ra.monitors["B"].get("s"), rb.monitors["B"].get("s"))


def test_without_a_compiled_loop_the_engine_runs_eagerly_and_compiles_in_the_background():
    make = lambda: build(CurrentLIFNodes, Hebbian, seed=3)  # noqa: E731
    net = make()
    net.layers["B"].traces_additive = True  # a structure no other test compiles
    x = inputs(60)
    net.run(x, time=60)  # short (60 steps x 80 neurons): no compilation started
    assert net.last_backend == "eager" or cpu.ready(cpu.source_for(net_plan(net), ("A",))[0])
    x = inputs(3000)  # 3000 x 80 steps x neurons: worth compiling
    net.run(x, time=3000)
    first = net.last_backend
    cpu.wait_for_compiles(timeout=300)
    net.run(x, time=3000)
    assert net.last_backend == "cpu"
    assert first in ("eager", "cpu")  # "cpu" only if an earlier session compiled it into the disk cache


# --------------------------------------------------------------------------- a user's own model and rule
from snnlab.dynamics import Param, merge, register  # noqa: E402
from snnlab.dynamics.model import NodeModel, RuleModel  # noqa: E402
from snnlab.learning import LearningRule  # noqa: E402
from snnlab.network.nodes import Nodes  # noqa: E402


@register
class ExpIFNodes(Nodes):
    """Exponential integrate-and-fire (the example of docs/architecture.md)."""

    params = merge(
        Nodes.params,
        Param("thresh", -40.0, "mV", per_neuron=True, doc="numerical spike cut-off"),
        Param("v_t", -50.0, "mV", per_neuron=True, doc="soft threshold"),
        Param("delta_t", 2.0, "mV", low=0.0, low_open=True, per_neuron=True, doc="sharpness"),
        Param("rest", -65.0, "mV", per_neuron=True),
        Param("reset", -68.0, "mV", per_neuron=True),
        Param("tc_decay", 20.0, "ms", low=0.0, low_open=True, per_neuron=True),
    )
    model = NodeModel(state=("v",), init={"v": "rest"}, decays={"decay": "tc_decay"}, step="""
        v = (v - rest) * decay + rest + dt / tc_decay * delta_t * exp((v - v_t) / delta_t) + inp
        s = v >= thresh
        v = where(s, reset, v)
    """)


@register
class GainPostPre(LearningRule):
    """PostPre with a potentiation gain (the example of docs/architecture.md)."""

    needs_traces = True
    params = merge(LearningRule.params, Param("gain", 1.0, low=0.0, doc="potentiation gain"))
    model = RuleModel(updates="""
        w = w + (-nu_pre) * outer(s_pre, x_post)
        w = w + gain * nu_post * outer(x_pre, s_post)
    """)


def test_a_users_model_and_rule_get_the_compiled_loop_from_their_definition_alone():
    def make():
        torch.manual_seed(0)
        net = Network()
        net.add_layer(Input(n=50, traces=True), "A")
        net.add_layer(ExpIFNodes(n=30, traces=True), "B")
        net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.rand(50, 30) * 4,
                                      update_rule=GainPostPre, nu=(0.01, 0.02), gain=2.0), "A", "B")
        net.add_monitor(Monitor(net.layers["B"], ("s", "v")), "B")
        return net

    e, c = run_on("eager", make, inputs()), run_on("cpu", make, inputs())
    assert e.monitors["B"].get("s").sum() > 0
    assert e.connections[("A", "B")].update_rule.gain == 2.0
    compare(e, c)


def _runs_with_changes(backend):
    """Three runs of one network; between them a parameter is written in place,
    replaced by a number, and a coupling matrix is written in place."""
    torch.manual_seed(0)
    net = Network()
    net.add_layer(Input(n=50), "A")
    net.add_layer(IzhikevichNodes(n=30), "B")
    net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.rand(50, 30) * 20), "A", "B")
    net.add_monitor(Monitor(net.layers["B"], ("s", "v")), "B")
    layer = net.layers["B"]
    layer.thresh = torch.full((30,), 30.0)
    x = inputs(80)
    out = []
    with use_backend(backend):
        for change in (
            lambda: None,
            lambda: layer.thresh.__setitem__(slice(0, 15), 10.0),  # in place: the same tensor, a new version
            lambda: setattr(layer, "thresh", 20.0),
            lambda: layer.S.mul_(0.0),
        ):
            change()
            torch.manual_seed(5)
            net.run(x, time=80)
            assert net.last_backend == backend
            out.append(net.monitors["B"].get("v")[-80:].clone())
    return out


def test_parameters_changed_between_runs_in_place_or_replaced_are_seen_by_the_compiled_loop():
    eager, compiled = _runs_with_changes("eager"), _runs_with_changes("cpu")
    for i, (a, b) in enumerate(zip(eager, compiled)):
        assert torch.allclose(a, b, atol=1e-3), i
    for i in range(1, 4):  # each change changed the run
        assert not torch.allclose(eager[i - 1], eager[i], atol=1e-3), i


def test_the_source_cache_keeps_a_bounded_number_of_structures(monkeypatch):
    monkeypatch.setattr(cpu, "_SOURCES", {})
    monkeypatch.setattr(cpu, "_SOURCES_KEPT", 2)
    plans = _structures()[:6:2]  # three structures
    for _, plan, ext in plans:
        cpu.source_for(plan, ext)
    assert len(cpu._SOURCES) == 2
    assert cpu.structure_key(plans[0][1], plans[0][2]) not in cpu._SOURCES  # the oldest went
    _, plan, ext = plans[0]
    assert cpu.source_for(plan, ext)[0] == cpu.generate_source(plan, ext)[0]


def test_short_runs_of_one_structure_add_up_to_a_background_compilation(monkeypatch, tmp_path):
    # BindsNET's training loop: one short sample per run(). Each run alone is too
    # short to be worth the compiler; together they are.
    monkeypatch.setenv("SNNLAB_CACHE_DIR", str(tmp_path))  # nothing compiled on disk
    monkeypatch.delenv("SNNLAB_COMPILE", raising=False)
    monkeypatch.setattr(cpu, "BACKGROUND_WORK", 5000)
    torch.manual_seed(0)
    net = Network()
    net.add_layer(Input(n=50, traces=True), "A")
    net.add_layer(CurrentLIFNodes(n=23, traces=True), "B")  # a size no other test compiles
    net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.rand(50, 23), update_rule=Hebbian,
                                  nu=(1e-3, 1e-3)), "A", "B")
    net.add_monitor(Monitor(net.layers["B"], ("s", "v")), "B")
    x = inputs(40)  # 40 steps x 73 neurons = 2920 < 5000
    net.run(x, time=40)
    assert net.last_backend == "eager"
    cpu.wait_for_compiles(timeout=300)  # (none was started)
    net.reset_state_variables()
    net.run(x, time=40)  # 5840 in all: compiles in the background, this run eager
    assert net.last_backend == "eager"
    cpu.wait_for_compiles(timeout=300)
    net.reset_state_variables()
    net.run(x, time=40)
    assert net.last_backend == "cpu"


@pytest.mark.parametrize("batch", [1, 3])
def test_clamp_unclamp_and_injects_v_match_eager(batch):
    """Every form the run takes them in: a number, one mask for the run, one per
    step, one per step and sample; spikes forced on and off, voltage added."""
    g = torch.Generator().manual_seed(4)
    T = 300
    x = {"A": torch.rand(T, batch, 50, generator=g) < 0.1}
    clamp_steps = torch.rand(T, batch, 30, generator=g) < 0.05
    unclamp_one = torch.zeros(30, dtype=torch.bool)
    unclamp_one[:5] = True
    for injects in (2.5, torch.linspace(-1.0, 3.0, 30), torch.rand(T, 30, generator=g) * 4):
        kw = dict(clamp={"B": clamp_steps}, unclamp={"B": unclamp_one}, injects_v={"B": injects})
        make = lambda: build(AdaptiveLIFNodes, PostPre)  # noqa: E731
        e, c = run_on("eager", make, x, **kw), run_on("cpu", make, x, **kw)
        compare(e, c)
        s = c.monitors["B"].get("s")
        assert not s[..., :5].any() and s[clamp_steps.view(T, batch, 30) & ~unclamp_one].all()
        assert torch.equal(e.connections[("A", "B")].w, c.connections[("A", "B")].w)
