"""Learning names BindsNET 0.3.4 adds: DiehlAndCook rule, learning.learning path, reward module."""

import math

import pytest
import torch

from snnlab.learning import learning as L
from snnlab.learning.reward import MovingAvgRPE
from snnlab.network import Network
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection


def _pair(rule, **kw):
    net = Network()
    # The post layer never fires by itself (threshold far away); its spikes are clamped.
    pre, post = Input(n=2, traces=True, traces_additive=True), LIFNodes(n=1, thresh=1e6)
    net.add_layer(pre, name="pre")
    net.add_layer(post, name="post")
    conn = Connection(pre, post, w=torch.tensor([[0.5], [0.5]]), update_rule=rule, wmin=0.0, wmax=1.0, **kw)
    net.add_connection(conn, source="pre", target="post")
    return net, conn


def test_module_path_lists_every_rule():
    for name in ("LearningRule", "NoOp", "PostPre", "WeightDependentPostPre", "Hebbian", "DiehlAndCook", "MSTDP", "MSTDPET"):
        assert hasattr(L, name)


def test_diehl_and_cook_potentiates_on_post_spikes_only():
    net, conn = _pair(L.DiehlAndCook, nu=(0.0, 0.1))
    pre = torch.zeros(4, 2)
    pre[0, 0] = 1  # input 0 spikes at t=0; input 1 never
    post = torch.zeros(4, 1)
    post[2, 0] = 1  # post spike at t=2
    net.run(inputs={"pre": pre}, clamp={"post": post.bool()}, time=4)
    x0 = math.exp(-2 / 20)  # additive trace of input 0 at t=2
    want0 = 0.5 + 0.1 * x0 * (1.0 - 0.5)
    assert conn.w[0, 0].item() == pytest.approx(want0, rel=1e-5)
    assert conn.w[1, 0].item() == pytest.approx(0.5)  # trace 0, x_tar 0: unchanged


def test_diehl_and_cook_x_tar_depresses_silent_inputs():
    net, conn = _pair(L.DiehlAndCook, nu=(0.0, 0.1), x_tar=0.2)  # the rule's own parameter, through the connection
    post = torch.zeros(2, 1)
    post[0, 0] = 1
    net.run(inputs={"pre": torch.zeros(2, 2)}, clamp={"post": post.bool()}, time=2)
    assert conn.w[1, 0].item() == pytest.approx(0.5 - 0.1 * 0.2 * 0.5)


def test_diehl_and_cook_needs_finite_wmax():
    pre, post = Input(n=1, traces=True), Input(n=1)
    with pytest.raises(ValueError, match="wmax"):
        Connection(pre, post, update_rule=L.DiehlAndCook)


def test_moving_average_rpe():
    rpe = MovingAvgRPE()
    assert float(rpe.compute(reward=torch.tensor(2.0))) == 2.0
    rpe.update(accumulated_reward=torch.tensor(50.0), steps=10, ema_window=5.0)
    assert float(rpe.reward_predict) == pytest.approx(1.0)
    assert rpe.rewards_predict_episode == [pytest.approx(10.0)]
    with pytest.raises(TypeError, match="steps"):
        rpe.update(accumulated_reward=1.0)
