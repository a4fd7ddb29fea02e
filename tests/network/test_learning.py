"""Golden weight changes for every learning rule, computed by hand.

Setup for all pair tests: an Input layer (pre) connected to a LIF layer
(post) by a single weight. The pre spike comes from the Input's data; the
post spike from external input 20 mV to the LIF layer at the chosen step
(external input may go to any layer). With the weight starting at 0 the pre
spike cannot move the post neuron, so the spike times are exactly those
chosen. Traces: tc_trace 20 ms, so after 3 ms a trace is exp(-3/20) = 0.8607.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from snnlab.learning import MSTDP, MSTDPET, Hebbian, NoOp, PostPre, WeightDependentPostPre
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection

from .conftest import np_

E3 = math.exp(-3 / 20)  # a trace 3 ms after its spike


def pair(rule, *, t_pre, t_post, T=8, w0=0.0, B=1, reward=None, dt=1.0, **conn_kw):
    """Run pre -> post with one pre spike at ``t_pre`` and one post spike at ``t_post``.

    Returns the final weight (float) and the connection.
    """
    net = Network(dt=dt)
    pre, post = Input(n=1, traces=True), LIFNodes(n=1, traces=True)
    net.add_layer(pre, name="pre")
    net.add_layer(post, name="post")
    conn = Connection(pre, post, w=torch.full((1, 1), float(w0)), update_rule=rule, **conn_kw)
    net.add_connection(conn, source="pre", target="post")
    mon = Monitor(post, state_vars=("s",))
    net.add_monitor(mon, name="post")
    xs = torch.zeros(T, B, 1)
    xp = torch.zeros(T, B, 1)
    if t_pre is not None:
        xs[t_pre] = 1
    if t_post is not None:
        xp[t_post] = 20.0
    kw = {} if reward is None else {"reward": reward}
    net.run(inputs={"pre": xs, "post": xp}, time=T * dt, **kw)
    # the post neuron fired exactly when intended (the weight never pushed it)
    post_steps = np.flatnonzero(np_(mon.get("s"))[:, 0, 0]).tolist()
    assert post_steps == ([] if t_post is None else [t_post])
    return float(conn.w.reshape(-1)[0]), conn


# --------------------------------------------------------------------------- NoOp

@pytest.mark.parametrize("rule", [None, NoOp])
def test_noop_keeps_weights(rule):
    w, _ = pair(rule, t_pre=0, t_post=3, w0=0.0)
    assert w == 0.0
    net = Network()
    a, b = Input(n=3), LIFNodes(n=3)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    w0 = torch.rand(3, 3) * 10
    conn = Connection(a, b, w=w0, update_rule=rule)
    net.add_connection(conn, source="A", target="B")
    net.run(inputs={"A": torch.ones(10, 3)}, time=10)
    assert torch.equal(conn.w, w0)


# --------------------------------------------------------------------------- PostPre

def test_postpre_pre_then_post_potentiates_0_17214():
    w, _ = pair(PostPre, t_pre=0, t_post=3, nu=(0.1, 0.2))
    assert w == pytest.approx(0.2 * E3, abs=1e-6)
    assert w == pytest.approx(0.17214, abs=1e-5)


def test_postpre_with_dt_half_depends_on_ms_not_steps():
    # dt = 0.5 ms: the post spike 3 ms after the pre spike is 6 steps later; same 0.17214
    w, _ = pair(PostPre, t_pre=0, t_post=6, T=10, dt=0.5, nu=(0.1, 0.2))
    assert w == pytest.approx(0.2 * E3, abs=1e-6)


def test_postpre_post_then_pre_depresses():
    w, _ = pair(PostPre, t_pre=3, t_post=0, nu=(0.1, 0.2))
    assert w == pytest.approx(-0.1 * E3, abs=1e-6)


def test_postpre_same_step_both_terms():
    # both traces are already set when the rule runs (it runs after the layers)
    w, _ = pair(PostPre, t_pre=0, t_post=0, nu=(0.1, 0.2))
    assert w == pytest.approx(-0.1 + 0.2, abs=1e-6)


def test_postpre_sums_over_batch():
    w, _ = pair(PostPre, t_pre=0, t_post=3, nu=(0.1, 0.2), B=3)
    assert w == pytest.approx(3 * 0.2 * E3, abs=1e-5)


def test_postpre_outer_product_many_neurons():
    # pre neuron i spikes at step i (i = 0..2); post neuron j is driven at step 3 + j
    net = Network()
    pre, post = Input(n=3, traces=True), LIFNodes(n=2, traces=True)
    net.add_layer(pre, name="pre")
    net.add_layer(post, name="post")
    conn = Connection(pre, post, w=torch.zeros(3, 2), update_rule=PostPre, nu=(0.1, 0.2))
    net.add_connection(conn, source="pre", target="post")
    xs = torch.zeros(6, 3)
    for i in range(3):
        xs[i, i] = 1
    xp = torch.zeros(6, 2)
    xp[3, 0] = 20.0
    xp[4, 1] = 20.0
    net.run(inputs={"pre": xs, "post": xp}, time=6)
    expected = np.zeros((3, 2))
    for i in range(3):
        for j, tpost in enumerate((3, 4)):
            expected[i, j] = 0.2 * math.exp(-(tpost - i) / 20)
    np.testing.assert_allclose(np_(conn.w), expected, atol=1e-6)


def test_postpre_needs_traces_on_both_sides():
    a, b = Input(n=1), LIFNodes(n=1, traces=True)
    with pytest.raises(ValueError, match="trace"):
        Connection(a, b, update_rule=PostPre, nu=(0.1, 0.2))


# --------------------------------------------------------------------------- WeightDependentPostPre

def test_weight_dependent_postpre_potentiation_scaled_by_headroom():
    w, _ = pair(WeightDependentPostPre, t_pre=0, t_post=3, nu=(0.1, 0.2), w0=0.5, wmin=0.0, wmax=1.0)
    assert w == pytest.approx(0.5 + 0.2 * E3 * (1.0 - 0.5), abs=1e-6)
    w, _ = pair(WeightDependentPostPre, t_pre=0, t_post=3, nu=(0.1, 0.2), w0=0.9, wmin=0.0, wmax=1.0)
    assert w == pytest.approx(0.9 + 0.2 * E3 * (1.0 - 0.9), abs=1e-6)


def test_weight_dependent_postpre_depression_scaled_by_distance_to_wmin():
    w, _ = pair(WeightDependentPostPre, t_pre=3, t_post=0, nu=(0.1, 0.2), w0=0.5, wmin=-1.0, wmax=1.0)
    assert w == pytest.approx(0.5 - 0.1 * E3 * (0.5 - -1.0), abs=1e-6)


def test_weight_dependent_postpre_needs_finite_bounds():
    a, b = Input(n=1, traces=True), LIFNodes(n=1, traces=True)
    with pytest.raises(ValueError, match="wm"):
        Connection(a, b, update_rule=WeightDependentPostPre, nu=(0.1, 0.2))


# --------------------------------------------------------------------------- Hebbian

def test_hebbian_both_orders_potentiate():
    w, _ = pair(Hebbian, t_pre=0, t_post=3, nu=(0.1, 0.2))
    assert w == pytest.approx(0.2 * E3, abs=1e-6)
    w, _ = pair(Hebbian, t_pre=3, t_post=0, nu=(0.1, 0.2))
    assert w == pytest.approx(0.1 * E3, abs=1e-6)


# --------------------------------------------------------------------------- MSTDP

def test_mstdp_pre_then_post_with_reward():
    # p+ = exp(-3/20) when the post spike comes at t=3: eligibility e = p+ * s_post;
    # it is applied at the next step: w += nu[0] * reward * e
    w, _ = pair(MSTDP, t_pre=0, t_post=3, nu=0.5, reward=1.0)
    assert w == pytest.approx(0.5 * E3, abs=1e-6)


def test_mstdp_post_then_pre_and_reward_sign():
    w, _ = pair(MSTDP, t_pre=3, t_post=0, nu=0.5, reward=1.0)
    assert w == pytest.approx(-0.5 * E3, abs=1e-6)
    w, _ = pair(MSTDP, t_pre=0, t_post=3, nu=0.5, reward=-2.0)
    assert w == pytest.approx(-2 * 0.5 * E3, abs=1e-6)
    w, _ = pair(MSTDP, t_pre=0, t_post=3, nu=0.5, reward=0.0)
    assert w == 0.0


def test_mstdp_uses_previous_steps_eligibility():
    # post spike at the last step: its eligibility is never applied within this run
    w, _ = pair(MSTDP, t_pre=0, t_post=3, T=4, nu=0.5, reward=1.0)
    assert w == 0.0
    w, _ = pair(MSTDP, t_pre=0, t_post=3, T=5, nu=0.5, reward=1.0)
    assert w == pytest.approx(0.5 * E3, abs=1e-6)


def test_mstdp_needs_reward():
    with pytest.raises((ValueError, TypeError), match="reward"):
        pair(MSTDP, t_pre=0, t_post=3, nu=0.5)


# --------------------------------------------------------------------------- MSTDPET

def test_mstdpet_eligibility_trace_golden():
    # e (point eligibility) = exp(-3/20) at t=3. From t=4 the trace E (tc 25 ms) holds
    # e/25 decaying by exp(-1/25) per step (BindsNET 0.3.x: E = E*exp(-dt/tc) + e/tc),
    # and every step w += nu[0] * dt * reward * E.
    T, nu = 10, 0.5
    w, _ = pair(MSTDPET, t_pre=0, t_post=3, T=T, nu=nu, reward=1.0)
    expected = sum(nu * 1.0 * (E3 / 25) * math.exp(-j / 25) for j in range(T - 4))
    assert w == pytest.approx(expected, rel=1e-4)
    w_neg, _ = pair(MSTDPET, t_pre=3, t_post=0, T=T, nu=nu, reward=1.0)
    assert w_neg == pytest.approx(-expected, rel=1e-4)


def test_mstdp_and_mstdpet_with_dt_half():
    # MSTDP: p+ decays by exp(-dt/20) per step, so 6 steps of 0.5 ms -> exp(-3/20)
    w, _ = pair(MSTDP, t_pre=0, t_post=6, T=10, dt=0.5, nu=0.5, reward=1.0)
    assert w == pytest.approx(0.5 * E3, abs=1e-6)
    # MSTDPET: E decays by exp(-0.5/25) per step; w += nu * dt * reward * E
    T, dt, nu = 14, 0.5, 0.5
    w, _ = pair(MSTDPET, t_pre=0, t_post=6, T=T, dt=dt, nu=nu, reward=1.0)
    expected = sum(nu * dt * (E3 / 25) * math.exp(-j * dt / 25) for j in range(T - 7))
    assert w == pytest.approx(expected, rel=1e-4)


# --------------------------------------------------------------------------- decay, bounds, norm

def test_weight_decay_then_clamp_each_step():
    # no spikes at all: only the decay acts, w *= (1 - weight_decay) every step
    w, _ = pair(PostPre, t_pre=None, t_post=None, T=5, w0=1.0, nu=(0.1, 0.2), weight_decay=0.1)
    assert w == pytest.approx(0.9 ** 5, rel=1e-5)
    # decay then clamp: wmin 0.7 stops it
    w, _ = pair(PostPre, t_pre=None, t_post=None, T=5, w0=1.0, nu=(0.1, 0.2), weight_decay=0.1,
                wmin=0.7, wmax=2.0)
    assert w == pytest.approx(0.7, rel=1e-6)


def test_learning_clamps_to_wmax_and_wmin():
    w, _ = pair(PostPre, t_pre=0, t_post=3, nu=(0.1, 20.0), w0=0.0, wmin=-1.0, wmax=1.0)
    assert w == pytest.approx(1.0)
    w, _ = pair(PostPre, t_pre=3, t_post=0, nu=(20.0, 0.1), w0=0.0, wmin=-0.25, wmax=1.0)
    assert w == pytest.approx(-0.25)


def test_norm_applied_once_after_the_run():
    net = Network()
    a, b = Input(n=2), LIFNodes(n=3)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    w = torch.tensor([[1.0, 2.0, 0.0], [3.0, -4.0, 0.0]])
    conn = Connection(a, b, w=w, norm=2.0)
    net.add_connection(conn, source="A", target="B")
    mon = Monitor(b, state_vars=("v",))
    net.add_monitor(mon, name="m")
    x = torch.zeros(2, 2)
    x[0, 0] = 1
    net.run(inputs={"A": x}, time=2)
    # during the run the weights are not yet normalized: +1, +2 mV at t=1
    v1 = np_(mon.get("v"))[1, 0, :]
    np.testing.assert_allclose(v1, [-64.0, -63.0, -65.0], atol=1e-5)
    # after it: sum of |w| into each target neuron = 2 (a zero column stays zero)
    expected = np.array([[0.5, 2 * 2 / 6, 0.0], [1.5, -4 * 2 / 6, 0.0]])
    np.testing.assert_allclose(np_(conn.w), expected, rtol=1e-5, atol=1e-7)
    assert np.isfinite(np_(conn.w)).all()


def test_learning_off_in_network_constructor():
    net = Network(learning=False)
    pre, post = Input(n=1, traces=True), LIFNodes(n=1, traces=True)
    net.add_layer(pre, name="pre")
    net.add_layer(post, name="post")
    conn = Connection(pre, post, w=torch.zeros(1, 1), update_rule=PostPre, nu=(0.1, 0.2))
    net.add_connection(conn, source="pre", target="post")
    xs = torch.zeros(5, 1)
    xs[0] = 1
    xp = torch.zeros(5, 1)
    xp[3] = 20.0
    net.run(inputs={"pre": xs, "post": xp}, time=5)
    assert float(conn.w) == 0.0


def test_masks_apply_after_learning():
    net = Network()
    pre, post = Input(n=2, traces=True), LIFNodes(n=1, traces=True)
    net.add_layer(pre, name="pre")
    net.add_layer(post, name="post")
    conn = Connection(pre, post, w=torch.zeros(2, 1), update_rule=PostPre, nu=(0.1, 0.2))
    net.add_connection(conn, source="pre", target="post")
    xs = torch.zeros(5, 2)
    xs[0] = 1
    xp = torch.zeros(5, 1)
    xp[3] = 20.0
    mask = torch.tensor([[True], [False]])
    net.run(inputs={"pre": xs, "post": xp}, time=5, masks={("pre", "post"): mask})
    np.testing.assert_allclose(np_(conn.w)[:, 0], [0.0, 0.2 * E3], atol=1e-6)


def test_zero_nu_does_not_raise():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w, _ = pair(PostPre, t_pre=0, t_post=3, nu=(0.0, 0.0))
    assert w == 0.0


def test_mstdp_per_sample_reward_over_a_batch():
    # two identical samples: reward [1, 1] doubles the change, [1, -1] cancels it
    w, _ = pair(MSTDP, t_pre=0, t_post=3, B=2, nu=0.5, reward=torch.tensor([1.0, 1.0]))
    assert w == pytest.approx(2 * 0.5 * E3, abs=1e-6)
    w, _ = pair(MSTDP, t_pre=0, t_post=3, B=2, nu=0.5, reward=torch.tensor([1.0, -1.0]))
    assert w == pytest.approx(0.0, abs=1e-6)
    w, _ = pair(MSTDP, t_pre=0, t_post=3, B=2, nu=0.5, reward=torch.tensor([0.5, 0.0]))
    assert w == pytest.approx(0.25 * E3, abs=1e-6)


def test_reward_fn_of_network():
    # Assumption: reward_fn follows BindsNET: an object whose compute(**kwargs) returns the reward.
    class Constant:
        def compute(self, **kwargs):
            return 1.0

    net = Network(reward_fn=Constant())
    pre, post = Input(n=1, traces=True), LIFNodes(n=1, traces=True)
    net.add_layer(pre, name="pre")
    net.add_layer(post, name="post")
    conn = Connection(pre, post, w=torch.zeros(1, 1), update_rule=MSTDP, nu=0.5)
    net.add_connection(conn, source="pre", target="post")
    xs = torch.zeros(6, 1)
    xs[0] = 1
    xp = torch.zeros(6, 1)
    xp[3] = 20.0
    net.run(inputs={"pre": xs, "post": xp}, time=6)
    assert float(conn.w) == pytest.approx(0.5 * E3, abs=1e-6)
