"""Diehl & Cook's learning rule and Rmax as descriptions (``RuleModel``): the
automatic selection runs them in the compiled cpu loop, every back-end gives
the weights eager gives, and the description's extensions they use (the
layers' state a rule reads, derived scalars, ``outer()`` of expressions,
``where()`` on numbers, ``**``) behave as written.
"""

from __future__ import annotations

import math

import pytest
import torch

from snnlab.dynamics import register, set_parameters
from snnlab.dynamics.model import RuleModel
from snnlab.engine import use_backend
from snnlab.engine.backends import cpu, gpu
from snnlab.engine.plan import RunOptions, make_plan
from snnlab.learning import DiehlAndCook, LearningRule, Rmax
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import Input, LIFNodes, SRM0Nodes
from snnlab.network.topology import Connection, SparseConnection

needs_numba = pytest.mark.skipif(not cpu.available(), reason="needs numba (pip install snnlab[fast])")


def build(rule, *, batch=1, sparse=False, **rule_kw):
    """Input (additive traces) -> LIF (D&C) or SRM0 (Rmax), a plastic connection."""
    torch.manual_seed(0)
    net = Network(batch_size=batch)
    net.add_layer(Input(n=30, traces=True, traces_additive=True), "A")
    net.add_layer(SRM0Nodes(n=12) if rule is Rmax else LIFNodes(n=12), "B")
    scale = 3.0 if rule is Rmax else 8.0
    if sparse:
        ff = SparseConnection(net.layers["A"], net.layers["B"], sparsity=0.5, update_rule=rule, wmin=0.0, wmax=10.0,
                              **rule_kw)
        ff.values.mul_(scale)
    else:
        ff = Connection(net.layers["A"], net.layers["B"], w=torch.rand(30, 12) * scale, update_rule=rule, wmin=0.0,
                        wmax=10.0, **rule_kw)
    net.add_connection(ff, "A", "B")
    net.add_monitor(Monitor(net.layers["B"], ("s",)), "B")
    return net


def inputs(T, batch, seed=5):
    return {"A": torch.rand(T, batch, 30, generator=torch.Generator().manual_seed(seed)) < 0.3}


def reward_for(rule, batch):
    if rule is not Rmax:
        return None
    return 1.0 if batch == 1 else torch.linspace(1.5, -0.5, batch)


def run(rule, backend, *, batch=1, sparse=False, T=60, **rule_kw):
    net = build(rule, batch=batch, sparse=sparse, **rule_kw)
    if backend == "graph-emulate":
        net.cuda_graphs = "emulate"
    torch.manual_seed(7)  # SRM0's draws: the same on every back-end that draws with torch
    with use_backend(backend):
        net.run(inputs(T, batch), time=T, reward=reward_for(rule, batch))
    assert net.last_backend == backend
    return net


RULE_CASES = [
    (DiehlAndCook, dict(nu=(0.0, 0.05), x_tar=0.3)),
    (DiehlAndCook, dict(nu=(0.0, 0.05), mu=2.0)),
    (DiehlAndCook, dict(nu=(0.0, 0.05), mu=0.7, x_tar=0.1)),
    (Rmax, dict(nu=0.05)),
    (Rmax, dict(nu=0.05, tc_c=math.inf)),
    (Rmax, dict(nu=0.05, tc_c=0.0, tc_e_trace=7.0)),
]


def _ids(value):
    if isinstance(value, type):
        return value.__name__
    return ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)


@needs_numba
@pytest.mark.parametrize("rule", [DiehlAndCook, Rmax], ids=_ids)
def test_automatic_selection_runs_the_rule_in_the_cpu_loop(rule, monkeypatch):
    monkeypatch.setenv("SNNLAB_COMPILE", "wait")
    net = build(rule, nu=(0.05, 0.05))
    net.run(inputs(20, 1), time=20, reward=reward_for(rule, 1))
    assert net.last_backend == "cpu"


@pytest.mark.parametrize("rule", [DiehlAndCook, Rmax], ids=_ids)
def test_the_fast_paths_take_the_rule_because_it_is_described(rule):
    # the same rule written by hand in _update is refused, with the reason naming it
    class ByHand(rule):
        def _update(self, reward):
            pass

    for cls, described in ((rule, True), (ByHand, False)):
        net = build(rule, nu=(0.05, 0.05))
        conn = net.connections[("A", "B")]
        conn.update_rule = cls(conn, (0.05, 0.05))
        plan = make_plan(net, RunOptions(steps=5, batch=1, one_step=False, inputs=("A",), clamp={}, unclamp={},
                                         injects={}, masks={}, reward=reward_for(rule, 1)))
        assert cls.described() is described
        reasons = (cpu.why_not(plan), gpu.why_not(plan, capture=False))
        if described:
            assert reasons == (None, None)
        else:
            assert all("written by hand" in r and "ByHand" in r for r in reasons), reasons


@needs_numba
@pytest.mark.parametrize("batch,sparse", [(1, False), (1, True), (3, False), (3, True)])
@pytest.mark.parametrize("rule,kw", RULE_CASES, ids=_ids)
def test_cpu_and_graph_paths_give_eager_weights(rule, kw, batch, sparse):
    e = run(rule, "eager", batch=batch, sparse=sparse, **kw)
    before = build(rule, batch=batch, sparse=sparse, **kw).connections[("A", "B")].weights()
    w = e.connections[("A", "B")].weights()
    assert e.monitors["B"].get("s").any() and not torch.allclose(w, before)  # it spiked and learned
    assert torch.isfinite(w).all()
    for backend in ("cpu", "graph-emulate"):
        other = run(rule, backend, batch=batch, sparse=sparse, **kw)
        assert torch.equal(other.monitors["B"].get("s"), e.monitors["B"].get("s")), backend
        got = other.connections[("A", "B")].weights()
        if rule is DiehlAndCook and kw.get("mu", 1.0) in (1.0, 2.0, 0.5):
            # products with spikes are exact (any summation order gives the same bits), and
            # x ** mu is x, x * x or sqrt(x) in both; another mu is powf, which may round otherwise
            assert torch.equal(got, w), backend
        else:  # (SRM0's input sum runs in another order in the cpu loop: s_prob differs in the last bit)
            assert torch.allclose(got, w, atol=1e-4, rtol=1e-5), backend


@pytest.mark.parametrize("backend", ["eager", pytest.param("cpu", marks=needs_numba)])
def test_a_saved_rmax_network_continues_with_its_eligibility(tmp_path, backend):
    from snnlab.network import load

    net = build(Rmax, batch=2, nu=0.05)
    torch.manual_seed(1)
    with use_backend(backend):
        net.run(inputs(30, 2), time=30, reward=torch.tensor([1.0, -0.5]))
    net.save(tmp_path / "net.pt")
    loaded = load(tmp_path / "net.pt")
    trace = net.connections[("A", "B")].update_rule.eligibility_trace
    assert trace.abs().sum() > 0
    assert torch.equal(loaded.connections[("A", "B")].update_rule.eligibility_trace, trace)
    for n in (net, loaded):
        torch.manual_seed(2)  # the same SRM0 draws in both
        with use_backend(backend):
            n.run(inputs(30, 2, seed=6), time=30, reward=torch.tensor([-1.0, 2.0]))
    assert torch.equal(loaded.connections[("A", "B")].weights(), net.connections[("A", "B")].weights())


def test_rmax_with_infinite_tc_c_learns_from_the_spikes_alone():
    # tc_c = inf: E += outer(x_pre, s_post); s_prob is never read (no inf * 0)
    net = Network()
    pre, post = Input(n=2, traces=True, traces_additive=True), SRM0Nodes(n=1)
    net.add_layer(pre, "pre")
    net.add_layer(post, "post")
    conn = Connection(pre, post, w=torch.zeros(2, 1), update_rule=Rmax, nu=0.5, tc_c=math.inf, tc_e_trace=10.0)
    net.add_connection(conn, "pre", "post")
    pre.x = torch.tensor([[1.0, 0.5]])
    post.s = torch.tensor([[False]])
    post.s_prob = torch.tensor([[0.0]])
    conn.update_rule._update(reward=1.0)
    assert torch.equal(conn.w, torch.zeros(2, 1))
    post.s = torch.tensor([[True]])
    post.s_prob = torch.tensor([[0.3]])
    conn.update_rule._update(reward=1.0)
    assert torch.equal(conn.w, torch.tensor([[0.5], [0.25]]))


def test_derived_scalars_follow_dt_and_the_parameters():
    net = build(Rmax, nu=0.05, tc_c=4.0, tc_e_trace=20.0)
    rule = net.connections[("A", "B")].update_rule
    assert rule.decays == {"e_keep": 1 - 1.0 / 20.0, "c_per_dt": 4.0}
    set_parameters(rule, tc_e_trace=8.0, tc_c=math.inf)
    assert rule.decays == {"e_keep": 1 - 1.0 / 8.0, "c_per_dt": math.inf}
    net.connections[("A", "B")].compute_decays(0.5)
    assert rule.decays == {"e_keep": 1 - 0.5 / 8.0, "c_per_dt": math.inf}
    assert rule.values()["e_keep"] == 1 - 0.5 / 8.0


def test_diehl_and_cook_with_mu_1_keeps_the_unclamped_factor():
    # where(mu == 1.0, wmax - w, ...): above wmax the factor is negative and pulls w down
    # (nu * x * (wmax - w) = 2 * 1 * -0.5); mu = 2 clamps the factor at 0 first
    for mu, want in ((1.0, 0.5), (2.0, 1.5)):
        net = Network()
        pre, post = Input(n=1, traces=True, traces_additive=True), Input(n=1)
        net.add_layer(pre, "pre")
        net.add_layer(post, "post")
        conn = Connection(pre, post, w=torch.zeros(1, 1), update_rule=DiehlAndCook, nu=(0.0, 2.0), mu=mu, wmin=0.0,
                          wmax=1.0)
        net.add_connection(conn, "pre", "post")
        conn.w.fill_(1.5)  # set above wmax by hand (the clamp after the rule brings it back)
        pre.x = torch.ones(1, 1)
        post.s = torch.ones(1, 1, dtype=torch.bool)
        conn.update_rule._update(None)
        assert conn.w.item() == want


def test_a_rule_reading_a_layer_state_the_layer_lacks_is_refused():
    @register
    class ReadsVoltage(LearningRule):
        model = RuleModel(layer_state=("v_post",), needs_traces=False, updates="w = w + nu_post * outer(s_pre, v_post)")

    with pytest.raises(ValueError, match="ReadsVoltage reads 'v_post', the target layer's 'v', but Input has no such state"):
        Connection(Input(n=2), Input(n=3), update_rule=ReadsVoltage)
    conn = Connection(Input(n=2), LIFNodes(n=3), update_rule=ReadsVoltage, nu=(0.0, 0.5))
    assert conn.update_rule.values()["v_post"] is conn.target.v


def test_a_derived_scalar_reading_an_unknown_name_is_refused_at_construction():
    @register
    class ReadsNothingKnown(LearningRule):
        model = RuleModel(derived={"k": "1 - dt / tc_missing"}, needs_traces=False,
                          updates="w = w + k * outer(s_pre, s_post)")

    with pytest.raises(ValueError, match="derived scalar 'k' = '1 - dt / tc_missing' reads 'tc_missing'"):
        Connection(Input(n=2), Input(n=3), update_rule=ReadsNothingKnown)


@pytest.mark.parametrize("updates,kw,match", [
    ("w = w + outer(x_pre + s_post, s_post)", {}, "pre-synaptic a and a post-synaptic b"),
    ("w = w + outer(outer(x_pre, s_post), s_post)", {}, "two per-neuron expressions"),
    ("w = w + outer(s_pre, s_post)", dict(layer_state=("v",)), "'<variable>_pre' or '<variable>_post'"),
    ("w = w + k * outer(s_pre, s_post)", dict(derived={"k": "tc.real"}), "arithmetic of numbers and names"),
    ("w = w + k * outer(s_pre, s_post)", dict(derived={"k": "open(tc)"}), "only exp"),
    ("w = w + k * outer(s_pre, s_post)", dict(derived={"w": "1.0"}), "takes the name"),
])
def test_a_bad_extension_is_refused_where_it_is_written(updates, kw, match):
    with pytest.raises(ValueError, match=match):
        RuleModel(updates=updates, needs_traces=False, **kw)


def test_every_learning_rule_snnlab_ships_is_a_description():
    # (so the fast paths take every one; a user's rule written by hand still runs eagerly)
    from snnlab.dynamics import registered

    shipped = {name: cls for name, cls in registered().items()
               if isinstance(cls, type) and issubclass(cls, LearningRule) and cls.__module__.startswith("snnlab.")}
    assert {"PostPre", "MSTDP", "MSTDPET", "DiehlAndCook", "Rmax"} <= set(shipped)
    assert [name for name, cls in shipped.items() if not cls.described()] == []
