"""ANN-to-SNN conversion (rates follow the ReLU) and the Rmax rule's eligibility (by hand)."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from snnlab.conversion import SubtractiveResetIFNodes, ann_to_snn, data_based_normalization
from snnlab.learning import Rmax
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import Input, LIFNodes, SRM0Nodes
from snnlab.network.topology import Connection


def test_converted_rates_follow_relu():
    ann = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with torch.no_grad():
        ann[0].weight.copy_(torch.tensor([[0.1, 0.1, 0.1], [0.2, -0.1, 0.0], [-0.5, 0.1, 0.1], [0.05, 0.05, 0.2]]))
        ann[0].bias.copy_(torch.tensor([0.0, 0.05, 0.0, 0.1]))
    snn = ann_to_snn(ann, input_shape=(3,))
    assert list(snn.layers) == ["Input", "0"] and isinstance(snn.layers["0"], SubtractiveResetIFNodes)
    T = 1000
    mon = Monitor(snn.layers["0"], ["s"], time=T)
    snn.add_monitor(mon, "out")
    snn.run(inputs={"Input": torch.ones(T, 3, dtype=torch.bool)}, time=T)
    counts = mon.get("s").sum(0).view(-1).float()
    want = torch.relu(ann(torch.ones(1, 3))).view(-1) * T  # one spike per unit of accumulated input
    assert torch.all((counts - want).abs() <= 2), (counts, want)


def test_data_based_normalization_puts_the_percentile_at_one():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3), nn.ReLU())
    data = torch.rand(500, 10) * 3
    norm = data_based_normalization(copy.deepcopy(ann), data, percentile=99.0)
    hidden = norm[1](norm[0](data))
    assert np.percentile(hidden.numpy(), 99.0) == pytest.approx(1.0, rel=1e-4)
    out = norm[3](norm[2](hidden))
    assert np.percentile(out.numpy(), 99.0) == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(TypeError, match="Module"):
        data_based_normalization("model.pt", data)


def test_unsupported_module_is_named():
    with pytest.raises(ValueError, match="LSTM"):
        ann_to_snn(nn.Sequential(nn.LSTM(3, 3)), input_shape=(3,))


def test_rmax_eligibility_by_hand():
    net = Network(dt=1.0)
    pre, post = Input(n=2, traces=True, traces_additive=True), SRM0Nodes(n=1)
    net.add_layer(pre, "pre")
    net.add_layer(post, "post")
    conn = Connection(pre, post, w=torch.zeros(2, 1), update_rule=Rmax, nu=0.5, tc_c=2.0, tc_e_trace=10.0)
    net.add_connection(conn, "pre", "post")
    rule = conn.update_rule
    pre.x = torch.tensor([[1.0, 0.5]])
    post.s = torch.tensor([[True]])
    post.s_prob = torch.tensor([[0.25]])
    rule._update(reward=2.0)
    term = 1.0 - 0.25 / (1.0 + 2.0 * 0.25)
    e = torch.tensor([[1.0], [0.5]]) * term
    assert torch.allclose(conn.w, 0.5 * 2.0 * e)
    rule._update(reward=1.0)  # decays by 1 - dt / tc_e_trace, adds the same term
    e2 = e * (1 - 1 / 10) + e
    assert torch.allclose(conn.w, 0.5 * 2.0 * e + 0.5 * 1.0 * e2)


def test_rmax_needs_srm_target_and_additive_trace():
    with pytest.raises(ValueError, match="SRM0Nodes"):
        Connection(Input(n=2, traces=True, traces_additive=True), LIFNodes(n=1), update_rule=Rmax)
    with pytest.raises(ValueError, match="additive"):
        Connection(Input(n=2, traces=True), SRM0Nodes(n=1), update_rule=Rmax)
