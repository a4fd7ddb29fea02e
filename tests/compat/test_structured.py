"""New node and connection kinds: analytic checks against torch's own ops and hand sums,
batch dimension, learning through the shared primitives, devices (CPU; CUDA when present)."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from snnlab.learning import PostPre
from snnlab.network import Network
from snnlab.network.nodes import AbstractInput, BoostedLIFNodes, CSRMNodes, Input, LIFNodes, Nodes
from snnlab.network.topology import (
    Conv1dConnection,
    Conv2dConnection,
    Conv3dConnection,
    LocalConnection,
    LocalConnection1D,
    LocalConnection2D,
    LocalConnection3D,
    MaxPool1dConnection,
    MaxPool2dConnection,
    MaxPool3dConnection,
    MeanFieldConnection,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_matches_torch_with_a_batch(nd):
    conv = {1: (Conv1dConnection, F.conv1d), 2: (Conv2dConnection, F.conv2d), 3: (Conv3dConnection, F.conv3d)}
    cls, ref = conv[nd]
    spatial = (6,) * nd
    out = tuple((s + 2 * 1 - 3) // 2 + 1 for s in spatial)
    src, tgt = Input(shape=(2, *spatial)), LIFNodes(shape=(3, *out))
    w = torch.randn(3, 2, *(3,) * nd)
    c = cls(src, tgt, kernel_size=3, stride=2, padding=1, w=w)
    s = torch.rand(4, 2, *spatial) < 0.4
    want = ref(s.float(), w, None, stride=2, padding=1).reshape(4, -1)
    assert torch.allclose(c.compute(s), want, atol=1e-5)
    assert torch.allclose(c.compute_many(s.unsqueeze(0).expand(3, *s.shape))[2], want, atol=1e-5)


def test_conv_shape_mismatch_is_named():
    with pytest.raises(ValueError, match="target's spatial shape must be"):
        Conv2dConnection(Input(shape=(1, 8, 8)), LIFNodes(shape=(2, 8, 8)), kernel_size=3)


def test_conv_postpre_equals_dense_equivalent():
    """PostPre on a convolution = the dense rule's change, summed over the positions sharing a weight."""
    torch.manual_seed(0)
    src, tgt = Input(shape=(1, 4, 4), traces=True), Input(shape=(1, 3, 3), traces=True)
    c = Conv2dConnection(src, tgt, kernel_size=2, w=torch.zeros(1, 1, 2, 2), update_rule=PostPre, nu=(0.0, 1.0))
    x_pre = torch.rand(2, 1, 4, 4)
    s_post = torch.rand(2, 1, 3, 3) < 0.5
    got = c.outer_sum(x_pre, s_post)
    want = torch.zeros(2, 2)
    for b in range(2):
        for i in range(3):
            for j in range(3):
                if s_post[b, 0, i, j]:
                    want += x_pre[b, 0, i : i + 2, j : j + 2]
    assert torch.allclose(got.view(2, 2), want, atol=1e-5)
    per_sample = c.outer(x_pre, s_post)
    assert per_sample.shape == (2, 1, 1, 2, 2) and torch.allclose(per_sample.sum(0), got, atol=1e-5)


def test_conv_learns_and_normalizes_in_a_network():
    torch.manual_seed(1)
    net = Network()
    net.add_layer(Input(shape=(1, 6, 6), traces=True), "X")
    net.add_layer(LIFNodes(shape=(2, 5, 5), traces=True, thresh=-64.0), "C")
    conv = Conv2dConnection(net.layers["X"], net.layers["C"], kernel_size=2, update_rule=PostPre, nu=(1e-3, 1e-2),
                            wmin=0.0, wmax=1.0, norm=1.5)
    net.add_connection(conv, "X", "C")
    before = conv.w.clone()
    net.run(inputs={"X": torch.rand(30, 2, 1, 6, 6) < 0.3}, time=30)
    assert not torch.equal(before, conv.w)
    assert torch.allclose(conv.w.abs().sum((2, 3)), torch.full((2, 1), 1.5), atol=1e-5)


def test_maxpool_passes_the_spikes_of_the_most_active():
    src, tgt = Input(shape=(1, 4, 4)), Input(shape=(1, 2, 2))
    c = MaxPool2dConnection(src, tgt, kernel_size=2, stride=2, decay=0.0)  # rates accumulate, never decay
    busy = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    busy[0, 0, 0, 1] = busy[0, 0, 3, 3] = True
    c.compute(busy)
    c.compute(busy)  # (0, 1) and (3, 3) now lead their windows with rate 2
    probe = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    probe[0, 0, 0, 0] = True  # a neuron that is not the leader of its window
    probe[0, 0, 3, 3] = True  # the leader of the bottom-right window
    assert c.compute(probe).tolist() == [[0.0, 0.0, 0.0, 1.0]]
    c.reset_state_variables()
    assert c.firing_rates is None
    with pytest.raises(TypeError, match="no weights"):
        MaxPool2dConnection(src, tgt, kernel_size=2, stride=2, update_rule=PostPre)


@pytest.mark.parametrize("nd,cls", [(1, MaxPool1dConnection), (3, MaxPool3dConnection)])
def test_maxpool_other_dimensions(nd, cls):
    src = Input(shape=(2, *(4,) * nd))
    c = cls(src, Input(shape=(2, *(2,) * nd)), kernel_size=2, stride=2)
    s = torch.rand(3, 2, *(4,) * nd) < 0.5
    # with decay 1 the leader is a spiking neuron wherever the window has one
    want = {1: F.max_pool1d, 3: F.max_pool3d}[nd](s.float(), 2).reshape(3, -1)
    assert torch.equal(c.compute(s), want)


def test_local_connection_masks_and_learns_inside_patches():
    torch.manual_seed(2)
    src, tgt = Input(n=16, traces=True), Input(n=2 * 9, traces=True)
    c = LocalConnection(src, tgt, kernel_size=2, stride=1, n_filters=2, update_rule=PostPre, nu=(0.0, 0.5), wmin=0.0, wmax=1.0)
    assert c.locations.shape == (4, 9)
    assert c.locations[:, 4].tolist() == [5, 6, 9, 10]  # patch (1, 1) of a 4x4 input
    assert ((c.w != 0) == ~c.mask).all() and (c.w != 0).sum(0).tolist() == [4] * 18
    net = Network()
    net.add_layer(src, "X")
    net.add_layer(tgt, "Y")
    net.add_connection(c, "X", "Y")
    net.run(inputs={"X": torch.ones(5, 16), "Y": torch.ones(5, 18)}, time=5)
    assert (c.w[c.mask] == 0).all()  # learning never grows synapses outside the patches


@pytest.mark.parametrize("nd,cls", [(1, LocalConnection1D), (2, LocalConnection2D), (3, LocalConnection3D)])
def test_local_nd_equals_hand_sum(nd, cls):
    torch.manual_seed(nd)
    spatial, k, stride, n_f, C = (5,) * nd, 3, 2, 2, 2
    conv = tuple((s - k) // stride + 1 for s in spatial)
    P, K = math.prod(conv), k**nd
    src, tgt = Input(shape=(C, *spatial)), Input(n=n_f * P)
    c = cls(src, tgt, kernel_size=k, stride=stride, n_filters=n_f)
    assert c.w.shape == (C, n_f * P, K)
    s = torch.rand(2, C, *spatial)
    out = c.compute(s)
    positions = list(torch.cartesian_prod(*[torch.arange(n) for n in conv]).view(P, nd))
    for b in range(2):
        for f in range(n_f):
            for p, pos in enumerate(positions):
                idx = tuple(slice(int(q) * stride, int(q) * stride + k) for q in pos)
                patch = s[b][(slice(None), *idx)].reshape(C, K)
                assert out[b, f * P + p].item() == pytest.approx((patch * c.w[:, f * P + p]).sum().item(), abs=1e-4)
    # the rule's per-sample change has the weights' shape and sums to the batch change
    post = torch.rand(2, n_f * P) < 0.5
    assert torch.allclose(c.outer(s, post).sum(0), c.outer_sum(s, post), atol=1e-5)


def test_mean_field():
    src, tgt = Input(n=4), Input(n=3)
    c = MeanFieldConnection(src, tgt, w=torch.tensor([1.0, 2.0, -1.0]))
    s = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert c.compute(s).tolist() == [[0.5, 1.0, -0.5], [1.0, 2.0, -1.0]]
    c.norm = 8.0
    c.normalize()
    assert c.w.abs().sum().item() == pytest.approx(8.0)


def test_boosted_lif_is_lif_from_zero():
    a, b = BoostedLIFNodes(n=5, thresh=13.0), LIFNodes(n=5, rest=0.0, reset=0.0, thresh=13.0)
    torch.manual_seed(3)
    for _ in range(40):
        x = torch.rand(1, 5) * 6
        assert torch.equal(a(x.clone()), b(x.clone()))
        assert torch.allclose(a.v, b.v)


def test_csrm_response_and_refractory_kernels():
    layer = CSRMNodes(n=1, rest=0.0, thresh=1.5, tau=2.0, tc_decay=1e9, res_window_size=3, ref_window_size=2,
                      reset_const=10.0, learning=False)
    # one input of 1 at t = 0: v(t) = sum of the exponential kernel up to t
    v = []
    for t in range(4):
        layer(torch.full((1, 1), 1.0 if t == 0 else 0.0))
        v.append(layer.v.item())
    k = [math.exp(-i / 2) / 2 for i in range(3)]
    assert v[:3] == pytest.approx([k[0], k[0] + k[1], k[0] + k[1] + k[2]], rel=1e-5)
    # a spike pulls v down by the eta kernel on the next steps, the full
    # -reset_const on the first (BindsNET 0.3.4's offset: the kernel is the reset)
    spiking = CSRMNodes(n=1, rest=0.0, thresh=0.1, tau=1.0, tc_decay=1e9, res_window_size=1, ref_window_size=2,
                        reset_const=10.0, learning=False)
    assert bool(spiking(torch.full((1, 1), 1.0)))  # v = 1 (kernel 1 at t = 0)
    spiking(torch.zeros(1, 1))
    assert spiking.v.item() == pytest.approx(1.0 - 10.0, rel=1e-5)
    spiking(torch.zeros(1, 1))
    assert spiking.v.item() == pytest.approx(1.0 - 10.0 - 10.0 * math.exp(-1.0), rel=1e-5)
    with pytest.raises(ValueError, match="responseKernel"):
        CSRMNodes(n=1, responseKernel="nope")


def test_abstract_input_marks_input_layers():
    class MyInput(Nodes, AbstractInput):
        def _step(self, x):
            self.s.copy_(x > 0)

    assert isinstance(Input(n=2), AbstractInput) and isinstance(MyInput(n=2), AbstractInput)
    assert not isinstance(LIFNodes(n=2), AbstractInput)


@pytest.mark.parametrize("device", DEVICES)
def test_structured_network_runs_batched_on_device_and_copies(device):
    torch.manual_seed(4)
    net = Network()
    net.add_layer(Input(shape=(1, 6, 6), traces=True), "X")
    net.add_layer(LIFNodes(shape=(2, 5, 5), traces=True), "C")
    net.add_layer(BoostedLIFNodes(shape=(2, 2, 2)), "P")
    net.add_layer(CSRMNodes(n=4), "R")
    net.add_connection(Conv2dConnection(net.layers["X"], net.layers["C"], kernel_size=2, update_rule=PostPre,
                                        nu=(1e-3, 1e-2), wmin=0.0, wmax=1.0), "X", "C")
    net.add_connection(MaxPool2dConnection(net.layers["C"], net.layers["P"], kernel_size=2, stride=2), "C", "P")
    net.add_connection(LocalConnection2D(net.layers["X"], net.layers["R"], kernel_size=6, stride=1, n_filters=4), "X", "R")
    net.to(device)
    twin = copy.deepcopy(net)
    x = (torch.rand(20, 3, 1, 6, 6) < 0.4).to(device)
    net.run(inputs={"X": x}, time=20)
    twin.run(inputs={"X": x}, time=20)
    assert net.layers["P"].s.shape == (3, 2, 2, 2) and net.layers["P"].s.device.type == device
    assert torch.equal(net.connections[("X", "C")].w, twin.connections[("X", "C")].w)


def test_structured_connections_save_and_load(tmp_path):
    from snnlab.network import load

    torch.manual_seed(5)
    net = Network()
    net.add_layer(Input(shape=(1, 6, 6), traces=True), "X")
    net.add_layer(LIFNodes(shape=(2, 5, 5), traces=True), "C")
    net.add_layer(LIFNodes(shape=(2, 2, 2)), "P")
    net.add_layer(LIFNodes(n=8), "L")
    net.add_layer(LIFNodes(n=18), "M")
    net.add_connection(Conv2dConnection(net.layers["X"], net.layers["C"], 2, update_rule=PostPre, nu=(1e-3, 1e-2),
                                        b=torch.ones(2)), "X", "C")
    net.add_connection(MaxPool2dConnection(net.layers["C"], net.layers["P"], 2, 2, decay=0.5), "C", "P")
    net.add_connection(LocalConnection2D(net.layers["X"], net.layers["L"], 4, 2, 2), "X", "L")
    net.add_connection(LocalConnection(net.layers["X"], net.layers["M"], 2, 2, 2, input_shape=(6, 6)), "X", "M")
    net.save(tmp_path / "net.pt")
    twin = load(tmp_path / "net.pt")
    for key, conn in net.connections.items():
        other = twin.connections[key]
        assert type(other) is type(conn) and torch.equal(other.w, conn.w)
    assert twin.connections[("C", "P")].stride == (2, 2) and twin.connections[("C", "P")].decay == 0.5
    x = torch.rand(10, 2, 1, 6, 6) < 0.5
    net.run(inputs={"X": x}, time=10)
    twin.run(inputs={"X": x}, time=10)
    assert torch.equal(net.layers["P"].v, twin.layers["P"].v) and torch.equal(net.connections[("X", "C")].w, twin.connections[("X", "C")].w)


def test_bindsnet_positional_order():
    c = Conv2dConnection(Input(shape=(1, 8, 8)), LIFNodes(shape=(2, 4, 4)), 4, 2, 1)  # kernel_size, stride, padding
    assert (c.kernel_size, c.stride, c.padding) == ((4, 4), (2, 2), (1, 1))
    with pytest.raises(TypeError, match="kernel_size"):
        Conv2dConnection(Input(shape=(1, 8, 8)), LIFNodes(shape=(2, 3, 3)))
    with pytest.raises(TypeError, match="multiple values"):
        Conv2dConnection(Input(shape=(1, 8, 8)), LIFNodes(shape=(2, 3, 3)), 4, kernel_size=4)


def test_multicompartment_pipeline_folds_like_bindsnet():
    from snnlab.network.topology import MulticompartmentConnection
    from snnlab.network.topology_features import Bias, Intensity, Mask, Probability, Weight

    src, tgt = Input(n=3), LIFNodes(n=2)
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    mask = torch.tensor([[1, 0], [1, 1], [0, 1]], dtype=torch.bool)
    c = MulticompartmentConnection(src, tgt, device="cpu",
                                   pipeline=[Weight("w", w), Bias("b", 0.5), Mask("m", mask), Intensity("i", 2.0)])
    s = torch.tensor([[1.0, 1.0, 0.0]])
    # A = w * mask * 2, B = 0.5 * mask * 2 summed over sources
    want = s @ (w * mask * 2) + (0.5 * mask.float() * 2).sum(0)
    assert torch.allclose(c.compute(s), want)
    assert c.pipeline[0].value is c.w and c.feature_index["m"].value.dtype == torch.float32
    torch.manual_seed(0)
    p = MulticompartmentConnection(src, tgt, pipeline=[Probability("p", 0.25), Weight("w", torch.ones(3, 2))])
    counts = torch.stack([p.compute(torch.ones(1, 3)) for _ in range(4000)]).mean()
    assert abs(counts.item() - 0.75) < 0.05  # 3 sources x p = 0.25
    with pytest.raises(ValueError, match="unique"):
        MulticompartmentConnection(src, tgt, pipeline=[Weight("w", 1.0), Mask("w", 1.0)])


def test_multicompartment_weight_feature_learns():
    from snnlab.learning.MCC_learning import PostPre as MCCPostPre
    from snnlab.network.topology import MulticompartmentConnection
    from snnlab.network.topology_features import Weight

    net = Network()
    net.add_layer(Input(n=4, traces=True), "X")
    net.add_layer(Input(n=2, traces=True), "Y")
    c = MulticompartmentConnection(net.layers["X"], net.layers["Y"], device="cpu",
                                   pipeline=[Weight("w", torch.zeros(4, 2), range=[0.0, 0.3], learning_rule=MCCPostPre,
                                                    nu=(0.0, 1.0), norm=None)])
    net.add_connection(c, "X", "Y")
    net.run(inputs={"X": torch.ones(5, 4), "Y": torch.ones(5, 2)}, time=5)
    assert torch.allclose(c.pipeline[0].value, torch.full((4, 2), 0.3))  # potentiated up to the range's top
