"""Learning rules with their own state and a reward, written as descriptions
(``RuleModel(state=..., decays=...)``): MSTDP, MSTDPET and a user's rule run
eagerly and in the compiled cpu loop from the same description, with one
reward per sample, and save and load.
"""

from __future__ import annotations

import pytest
import torch

from snnlab.dynamics import Param, merge, register
from snnlab.dynamics.model import RuleModel, rule_passes
from snnlab.engine import use_backend
from snnlab.engine.backends import cpu
from snnlab.learning import MSTDP, MSTDPET, LearningRule
from snnlab.network import Network, load
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection, SparseConnection

needs_numba = pytest.mark.skipif(not cpu.available(), reason="needs numba (pip install snnlab[fast])")


@register
class TaggedReward(LearningRule):
    """A user's rule: a per-synapse tag of pre-before-post pairings, turned into
    weight by the reward; pairs of simultaneous spikes depress at once."""

    params = merge(LearningRule.params, Param("tc_tag", 10.0, "ms", low=0.0, low_open=True, doc="tag time constant"))
    model = RuleModel(
        state={"pre_rate": "pre", "tag": "synapse"},
        decays={"tag_decay": "tc_tag"},
        needs_traces=False,
        updates="""
            pre_rate = pre_rate * tag_decay + s_pre
            tag = tag * tag_decay + outer(pre_rate, s_post)
            w = w + (nu_post * sum_batch(reward * tag) - nu_pre * outer(s_pre, s_post))
        """,
    )


def build(rule, *, sparse=False, batch=1, bounded=True, weight_decay=0.0, **rule_kw):
    torch.manual_seed(0)
    net = Network(batch_size=batch)
    net.add_layer(Input(n=40), "A")
    net.add_layer(LIFNodes(n=25), "B")
    bounds = dict(wmin=-1.0, wmax=9.0) if bounded else {}
    if sparse:
        ff = SparseConnection(net.layers["A"], net.layers["B"], sparsity=0.5, update_rule=rule, nu=(0.2, 0.2),
                              weight_decay=weight_decay, **bounds, **rule_kw)
        ff.values.mul_(8.0)
    else:
        ff = Connection(net.layers["A"], net.layers["B"], w=torch.rand(40, 25) * 6, update_rule=rule, nu=(0.2, 0.2),
                        weight_decay=weight_decay, **bounds, **rule_kw)
    net.add_connection(ff, "A", "B")
    net.add_connection(Connection(net.layers["B"], net.layers["B"], w=-torch.rand(25, 25)), "B", "B")
    net.add_monitor(Monitor(net.layers["B"], ("s", "v")), "B")
    return net


def spikes(T, batch, seed):
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(T, batch, 40, generator=g) < 0.2}


def run_twice(backend, make, batch, rewards):
    """Two runs (the rule's state carries over), each with its own reward."""
    net = make()
    with use_backend(backend):
        for k, reward in enumerate(rewards):
            net.run(spikes(60, batch, seed=k), time=60, reward=reward)
            assert net.last_backend == backend
    return net


def assert_same(e, c):
    assert torch.equal(e.monitors["B"].get("s"), c.monitors["B"].get("s"))
    assert torch.allclose(e.monitors["B"].get("v"), c.monitors["B"].get("v"), atol=1e-4)
    for key in e.connections:
        assert torch.allclose(e.connections[key].weights(), c.connections[key].weights(), atol=1e-5), key
    re, rc = e.connections[("A", "B")].update_rule, c.connections[("A", "B")].update_rule
    for name in re.model.state:
        assert torch.allclose(getattr(re, name), getattr(rc, name), atol=1e-5), name


CASES = [
    (MSTDP, False, 3, True, 0.0),
    (MSTDP, True, 3, True, 0.0),
    (MSTDPET, False, 3, False, 0.01),
    (MSTDPET, True, 1, True, 0.01),
    (TaggedReward, False, 3, True, 0.0),
    (TaggedReward, True, 2, False, 0.0),
]


@needs_numba
@pytest.mark.parametrize("rule,sparse,batch,bounded,decay", CASES,
                         ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_compiled_loop_matches_eager_with_a_reward_per_sample(rule, sparse, batch, bounded, decay):
    rewards = [torch.linspace(1.5, -1.0, batch), 0.5] if batch > 1 else [1.0, -0.5]
    make = lambda: build(rule, sparse=sparse, batch=batch, bounded=bounded, weight_decay=decay)  # noqa: E731
    e = run_twice("eager", make, batch, rewards)
    c = run_twice("cpu", make, batch, rewards)
    assert e.monitors["B"].get("s").any()
    before = make().connections[("A", "B")].weights()
    assert not torch.allclose(e.connections[("A", "B")].weights(), before)  # the rule did learn
    assert_same(e, c)


@needs_numba
@pytest.mark.parametrize("rule", [MSTDP, MSTDPET], ids=lambda r: r.__name__)
def test_per_sample_rewards_act_per_sample(rule):
    # Input -> Input: the spikes do not depend on the weights. Two identical samples:
    # rewards (r, -r) cancel; (r, r) double the change of (r, 0) (exactly: scaling by 2).
    def learned(reward):
        net = Network(batch_size=2)
        net.add_layer(Input(n=40), "A")
        net.add_layer(Input(n=25), "B")
        net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.zeros(40, 25), update_rule=rule,
                                      nu=0.3), "A", "B")
        x = {k: (torch.rand(50, 1, n, generator=torch.Generator().manual_seed(n)) < 0.2).expand(50, 2, n)
             for k, n in (("A", 40), ("B", 25))}
        with use_backend("cpu"):
            net.run(x, time=50, reward=torch.tensor(reward))
        return net.connections[("A", "B")].w

    assert learned([1.0, -1.0]).abs().max() == 0
    one, two = learned([0.7, 0.0]), learned([0.7, 0.7])
    assert one.abs().max() > 1e-3
    assert torch.equal(two, 2 * one)


@needs_numba
def test_automatic_selection_runs_mstdp_compiled(monkeypatch):
    monkeypatch.setenv("SNNLAB_COMPILE", "wait")
    net = build(MSTDPET)
    net.run(spikes(30, 1, seed=0), time=30, reward=1.0)
    assert net.last_backend == "cpu"


@needs_numba
def test_without_a_reward_the_error_names_it():
    net = build(MSTDP)
    with pytest.raises(ValueError, match="MSTDP needs a reward"):
        net.run(spikes(10, 1, seed=0), time=10)
    with use_backend("cpu"), pytest.raises(ValueError, match="needs a reward"):
        build(MSTDP).run(spikes(10, 1, seed=0), time=10)


def test_reset_state_variables_zeroes_the_rule_state():
    net = build(MSTDPET)
    net.run(spikes(20, 1, seed=0), time=20, reward=1.0)
    rule = net.connections[("A", "B")].update_rule
    assert rule.eligibility_trace.abs().sum() > 0 and rule.p_plus.shape == (1, 40)
    assert rule.eligibility.shape == (1, 40, 25)
    net.reset_state_variables()
    assert rule.eligibility_trace is None and rule.p_plus is None


@pytest.mark.parametrize("backend", ["eager", pytest.param("cpu", marks=needs_numba)])
def test_a_users_stateful_rule_saves_and_loads(tmp_path, backend):
    net = build(TaggedReward, tc_tag=7.0)
    with use_backend(backend):
        net.run(spikes(30, 1, seed=0), time=30, reward=1.0)
    net.save(tmp_path / "net.pt")
    loaded = load(tmp_path / "net.pt")
    rule = loaded.connections[("A", "B")].update_rule
    assert type(rule) is TaggedReward and rule.tc_tag == 7.0
    assert torch.equal(loaded.connections[("A", "B")].weights(), net.connections[("A", "B")].weights())
    with use_backend(backend):
        loaded.run(spikes(30, 1, seed=1), time=30, reward=-1.0)
    assert not torch.equal(loaded.connections[("A", "B")].weights(), net.connections[("A", "B")].weights())


@pytest.mark.parametrize("backend", ["eager", pytest.param("cpu", marks=needs_numba)])
def test_a_saved_network_continues_with_the_rules_state(tmp_path, backend):
    # the eligibility trace of MSTDPET carries the reward of steps to come: a loaded
    # network must continue exactly as the one saved
    net = build(MSTDPET, batch=2)
    with use_backend(backend):
        net.run(spikes(30, 2, seed=0), time=30, reward=torch.tensor([1.0, 0.5]))
    net.save(tmp_path / "net.pt")
    loaded = load(tmp_path / "net.pt")
    assert torch.equal(loaded.connections[("A", "B")].update_rule.eligibility_trace,
                       net.connections[("A", "B")].update_rule.eligibility_trace)
    for n in (net, loaded):
        with use_backend(backend):
            n.run(spikes(30, 2, seed=1), time=30, reward=torch.tensor([-1.0, 2.0]))
    assert torch.equal(loaded.connections[("A", "B")].weights(), net.connections[("A", "B")].weights())


def test_a_saved_rule_state_of_the_wrong_shape_is_refused(tmp_path):
    net = build(MSTDP)
    net.run(spikes(5, 1, seed=0), time=5, reward=1.0)
    net.connections[("A", "B")].update_rule.eligibility = torch.zeros(1, 3, 3)
    net.save(tmp_path / "net.pt")
    with pytest.raises(ValueError, match="rule state 'eligibility'.*expected float32 of shape \\(1, 40, 25\\)"):
        load(tmp_path / "net.pt")


def test_mstdp_makes_one_pass_over_the_weights():
    kinds = [kind for kind, _ in rule_passes(MSTDP.model)]
    assert kinds == ["pre", "post", "synapse"]
    # the trace E is read by the weight update after it: MSTDPET keeps its order
    assert [st.target for _, sts in rule_passes(MSTDPET.model) for st in sts] == [
        "p_plus", "p_minus", "eligibility_trace", "w", "eligibility"]


@pytest.mark.parametrize("state,updates,match", [
    ({}, "e = e + s_pre", "declared state"),
    ({"e": "neuron"}, "e = e", "expected 'pre', 'post' or 'synapse'"),
    ({"e": "pre"}, "e = e + s_post", "reads values over 'bij'.*target varies over 'bi'"),
    ({"e": "synapse"}, "w = w + nu_pre * e", "sum over the batch"),
    ({"e": "synapse"}, "e = e + s_pre", "through outer"),
    ({"e": "pre"}, "e = sum_batch(e)", "sum_batch"),
    ({"reward": "pre"}, "w = w", "takes the name"),
    ({"e": "synapse"}, "e = outer(s_post, s_pre)", "pre-synaptic a and a post-synaptic b"),
])
def test_a_bad_description_is_refused_where_it_is_written(state, updates, match):
    with pytest.raises(ValueError, match=match):
        RuleModel(updates=updates, state=state, needs_traces=False)
