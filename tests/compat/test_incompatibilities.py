"""The incompatibilities issue 10 lists, fixed: each as BindsNET documents it."""

import torch

from snnlab.encoding import poisson
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection, SparseConnection


def test_run_reshapes_a_step_with_the_layers_element_count():
    net = Network()
    net.add_layer(Input(shape=[1, 1, 1, 4, 4]), "X")
    mon = Monitor(net.layers["X"], ["s"], time=5)
    net.add_monitor(mon, "X")
    x = torch.rand(5, 1, 4, 4) < 0.5  # (T, 1, 28, 28) for Input(shape=[1, 1, 1, 28, 28]) in BindsNET's examples
    net.run(inputs={"X": x}, time=5)
    assert torch.equal(mon.get("s").reshape(5, 16), x.reshape(5, 16))
    net2 = Network()
    net2.add_layer(Input(n=36), "X")
    m2 = Monitor(net2.layers["X"], ["s"], time=3)
    net2.add_monitor(m2, "X")
    y = torch.rand(3, 6, 6) < 0.5  # no batch dimension: one sample
    net2.run(inputs={"X": y}, time=3)
    assert torch.equal(m2.get("s").reshape(3, 36), y.reshape(3, 36))


def test_sparse_connection_without_w_makes_random_weights():
    torch.manual_seed(0)
    c = SparseConnection(Input(n=20), LIFNodes(n=10), wmin=0.0, wmax=0.5)
    dense = c.w.to_dense()
    assert c.values.numel() == 200  # every synapse, as BindsNET
    assert 0.0 <= dense.min() and dense.max() <= 0.5 and dense.std() > 0


def test_poisson_on_a_device_like_dot_tracing():
    obs = torch.rand(1, 28, 28)
    spikes = poisson(obs * 500, 100, 1.0, device="cpu")  # positional time and dt, as examples/dotTracing
    assert spikes.shape == (100, 1, 28, 28) and spikes.device.type == "cpu"


def test_per_synapse_bounds_as_tensors():
    from snnlab.learning import PostPre, WeightDependentPostPre

    wmin = torch.zeros(4, 3)
    wmax = torch.tensor([[0.1, 0.5, 1.0]]).expand(4, 3).clone()
    c = Connection(Input(n=4, traces=True), LIFNodes(n=3, traces=True), w=torch.ones(4, 3), wmin=wmin, wmax=wmax)
    assert torch.equal(c.w, wmax)  # clamped per synapse
    free = Connection(Input(n=4), LIFNodes(n=3), wmin=wmin, wmax=wmax)  # default weights drawn inside the bounds
    assert (free.w >= wmin).all() and (free.w <= wmax).all()
    # bounds given as -inf/inf tensors are unbounded entries
    mixed = Connection(Input(n=2), LIFNodes(n=2), w=torch.full((2, 2), 5.0),
                       wmin=torch.tensor([[-float("inf"), 0.0], [0.0, 0.0]]), wmax=torch.tensor([[float("inf"), 1.0], [1.0, 1.0]]))
    assert mixed.w.tolist() == [[5.0, 1.0], [1.0, 1.0]]
    # learning keeps each synapse in its own range
    net = Network()
    net.add_layer(Input(n=4, traces=True), "A")
    net.add_layer(Input(n=3, traces=True), "B")
    conn = Connection(net.layers["A"], net.layers["B"], w=torch.zeros(4, 3), wmin=wmin, wmax=wmax,
                      update_rule=PostPre, nu=(0.0, 1.0))
    net.add_connection(conn, "A", "B")
    net.run(inputs={"A": torch.ones(10, 4), "B": torch.ones(10, 3)}, time=10)
    assert torch.allclose(conn.w, wmax)
    Connection(Input(n=4, traces=True), LIFNodes(n=3, traces=True), wmin=wmin, wmax=wmax, update_rule=WeightDependentPostPre)
    import pytest

    with pytest.raises(ValueError, match="wmin"):
        Connection(Input(n=4), LIFNodes(n=3), wmin=wmax + 1, wmax=wmax)
    with pytest.raises(ValueError, match="per-synapse"):
        SparseConnection(Input(n=4), LIFNodes(n=3), wmin=wmin, wmax=wmax)


def test_module_paths_bindsnet_scripts_import():
    import snnlab
    from snnlab.network.network import load
    from snnlab.network import load as load2

    assert load is load2 and snnlab.ROOT_DIR.is_dir()


def test_clamp_by_neuron_indices():
    net = Network()
    net.add_layer(Input(n=2), "X")
    net.add_layer(LIFNodes(n=5, thresh=1e6), "Y")  # never fires by itself
    mon = Monitor(net.layers["Y"], ["s"], time=3)
    net.add_monitor(mon, "Y")
    net.run(inputs={"X": torch.zeros(3, 2)}, time=3, clamp={"Y": torch.tensor([1, 3])})  # as supervised_mnist.py
    assert mon.get("s")[:, 0].tolist() == [[False, True, False, True, False]] * 3
    import pytest

    with pytest.raises(ValueError, match="indices"):
        net.run(inputs={"X": torch.zeros(3, 2)}, time=3, clamp={"Y": torch.tensor([7])})


def test_numpy_arrays_as_per_neuron_parameters():
    import numpy as np

    layer = LIFNodes(n=3, thresh=np.array([-50.0, -51.0, -52.0]))  # as BindsNET's reservoir.py
    assert layer.thresh.dtype == torch.float32 and layer.thresh.tolist() == [-50.0, -51.0, -52.0]
