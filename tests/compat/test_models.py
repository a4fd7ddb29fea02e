"""snnlab.models: BindsNET's ready-made networks, their structure and that they learn."""

import pytest
import torch

from snnlab.learning import PostPre
from snnlab.models import DiehlAndCook2015, DiehlAndCook2015v2, IncreasingInhibitionNetwork, TwoLayerNetwork
from snnlab.network.nodes import DiehlAndCookNodes, Input, LIFNodes
from snnlab.network.topology import Connection


def test_two_layer_network_structure():
    net = TwoLayerNetwork(n_inpt=20, n_neurons=7, dt=0.5)
    assert net.n_inpt == 20 and net.n_neurons == 7 and net.dt == 0.5
    assert isinstance(net.layers["X"], Input) and isinstance(net.layers["Y"], LIFNodes)
    c = net.connections[("X", "Y")]
    assert isinstance(c, Connection) and c.w.shape == (20, 7) and isinstance(c.update_rule, PostPre)
    assert c.norm == pytest.approx(78.4) and (c.wmin, c.wmax) == (0.0, 1.0)


def test_diehl_and_cook_structure_and_weights():
    net = DiehlAndCook2015(n_inpt=30, n_neurons=5, exc=13.3, inh=10.5, dt=2.0, inpt_shape=(1, 5, 6))
    assert (net.n_inpt, net.n_neurons, net.exc, net.inh, net.dt) == (30, 5, 13.3, 10.5, 2.0)
    assert isinstance(net.layers["Ae"], DiehlAndCookNodes) and isinstance(net.layers["Ai"], LIFNodes)
    assert net.layers["X"].shape == (1, 5, 6)
    assert torch.equal(net.connections[("Ae", "Ai")].w, 13.3 * torch.eye(5))
    inh = net.connections[("Ai", "Ae")].w
    assert torch.equal(inh, -10.5 * (1 - torch.eye(5)))
    w = net.connections[("X", "Ae")].w
    assert 0.0 <= w.min() and w.max() <= 0.3
    # eth_mnist.py reads the input weights as pipeline[0].value (0.3.4's MulticompartmentConnection)
    assert net.connections[("X", "Ae")].pipeline[0].value is w


def test_diehl_and_cook_learns_and_normalizes():
    torch.manual_seed(0)
    net = DiehlAndCook2015(n_inpt=16, n_neurons=4, norm=8.0, inpt_shape=(1, 4, 4))
    before = net.connections[("X", "Ae")].w.clone()
    x = torch.zeros(100, 1, 1, 4, 4, dtype=torch.bool)
    x[:, 0, 0, :2, :] = torch.rand(100, 2, 4) < 0.3
    net.run(inputs={"X": x}, time=100)
    after = net.connections[("X", "Ae")].w
    assert not torch.equal(before, after)
    assert torch.allclose(after.sum(0), torch.full((4,), 8.0), atol=1e-4)
    assert net.layers["Ae"].theta.sum() > 0  # adaptive thresholds rose with the spikes


def test_diehl_and_cook_rejects_what_it_does_not_support():
    with pytest.raises(ValueError, match="sparse"):
        DiehlAndCook2015(n_inpt=4, sparse=True, batch_size=2)
    with pytest.raises(ValueError, match="w_dtype"):
        DiehlAndCook2015(n_inpt=4, w_dtype=torch.float16)
    with pytest.raises(TypeError, match="learning_rule"):
        DiehlAndCook2015(n_inpt=4, learning_rule=object)


def test_v2_recurrent_inhibition():
    net = DiehlAndCook2015v2(n_inpt=9, n_neurons=3, inh=4.0)
    assert torch.equal(net.connections[("Y", "Y")].w, -4.0 * (1 - torch.eye(3)))


def test_increasing_inhibition_grows_with_distance():
    # BindsNET's SOM example: start_inhib=10, max_inhib=-40 (inhibition growing with distance)
    net = IncreasingInhibitionNetwork(n_input=4, n_neurons=9, start_inhib=10.0, max_inhib=-40.0)
    w = net.connections[("Y", "Y")].w
    assert torch.all(w.diagonal() == 0)
    # neuron 0 at (0, 0): its neighbour (0, 1) at distance 1, (2, 2) farthest (sqrt(8))
    assert w[0, 1] == pytest.approx(10.0 - 40.0 * (1 / 8 ** 0.5) ** 0.5)
    assert w[0, 8] == pytest.approx(-30.0)
    assert w[0, 8] < w[0, 2] < w[0, 1]


def test_models_run_batched():
    net = DiehlAndCook2015(n_inpt=8, n_neurons=3)
    x = torch.rand(20, 4, 8) < 0.5
    net.run(inputs={"X": x}, time=20)
    assert net.layers["Ae"].s.shape == (4, 3)
