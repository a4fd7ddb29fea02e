"""NIR: snnlab -> NIR -> snnlab gives the same spikes; graphs from other tools run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from snnlab.config import LabConfig, build_network  # noqa: E402
from snnlab.io.nir_graph import from_nir, read_nir, to_nir, write_nir  # noqa: E402
from snnlab.network import Network  # noqa: E402
from snnlab.network.monitors import Monitor  # noqa: E402
from snnlab.network.nodes import AdaptiveLIFNodes, CurrentLIFNodes, IFNodes, Input, LIFNodes  # noqa: E402
from snnlab.network.topology import Connection, SparseConnection  # noqa: E402

DATA = Path(__file__).parent / "data"


def _mixed_network() -> Network:
    """Every kind NIR maps: LIF (per-neuron tau, lbound), IF, CurrentLIF (2-D shape),
    dense, recurrent, sparse and biased connections."""
    g = torch.Generator().manual_seed(3)
    net = Network(dt=0.5)
    net.add_layer(Input(n=20), "A")
    net.add_layer(LIFNodes(n=30, tc_decay=torch.linspace(20, 100, 30), thresh=-55.0, lbound=-70.0), "B")
    net.add_layer(IFNodes(n=10, refrac=2.0), "C")
    net.add_layer(CurrentLIFNodes(shape=(2, 5), tc_i_decay=3.0, refrac=1.5), "D")
    L = net.layers
    net.add_connection(Connection(L["A"], L["B"], w=torch.rand(20, 30, generator=g) * 8), "A", "B")
    net.add_connection(Connection(L["B"], L["B"], w=-torch.rand(30, 30, generator=g)), "B", "B")
    dense = torch.rand(30, 10, generator=g) * 10 * (torch.rand(30, 10, generator=g) < 0.3)
    net.add_connection(SparseConnection(L["B"], L["C"], w=dense), "B", "C")
    net.add_connection(Connection(L["B"], L["D"], w=torch.rand(30, 10, generator=g) * 5, b=torch.rand(10, generator=g)), "B", "D")
    return net


def _run(net: Network, inputs: dict, steps: int) -> dict:
    for name, layer in net.layers.items():
        net.add_monitor(Monitor(layer, ["s", "v"] if hasattr(layer, "v") else ["s"]), f"m_{name}")
    net.run(inputs, time=steps * net.dt)
    return {name[2:]: {k: m.get(k).clone() for k in m.state_vars} for name, m in net.monitors.items()}


def _inputs(n: int, steps: int, p: float = 0.2, seed: int = 0) -> torch.Tensor:
    return torch.rand(steps, n, generator=torch.Generator().manual_seed(seed)) < p


def test_round_trip_in_memory_gives_identical_spikes_and_voltages():
    inp = _inputs(20, 400)
    a = _run(_mixed_network(), {"A": inp}, 400)
    b = _run(from_nir(to_nir(_mixed_network())), {"A": inp}, 400)
    assert set(a) == set(b) == {"A", "B", "C", "D"}
    for layer in a:
        for var in a[layer]:
            assert torch.equal(a[layer][var], b[layer][var]), (layer, var)
    assert all(a[k]["s"].sum() > 10 for k in "BCD")  # every layer really spiked


def test_round_trip_through_a_file_keeps_kinds_shapes_and_parameters(tmp_path):
    net = _mixed_network()
    path = write_nir(net, tmp_path / "net.nir")
    assert path == tmp_path / "net.nir" and path.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == ["net.nir"]  # no temporary file left
    back = read_nir(path)
    assert back.dt == 0.5
    assert {k: type(v).__name__ for k, v in back.layers.items()} == {
        "A": "Input", "B": "LIFNodes", "C": "IFNodes", "D": "CurrentLIFNodes"}
    assert back.layers["D"].shape == (2, 5)
    assert type(back.connections[("B", "C")]) is SparseConnection
    assert back.connections[("B", "D")].b is not None
    assert back.layers["C"].refrac == 2.0 and back.layers["D"].refrac == 1.5 and back.layers["B"].lbound == -70.0
    assert torch.equal(back.layers["B"].tc_decay, net.layers["B"].tc_decay)
    for key, conn in net.connections.items():
        assert torch.equal(back.connections[key].dense_weights(), conn.dense_weights()), key
    inp = _inputs(20, 300, seed=1)
    a, b = _run(net, {"A": inp}, 300), _run(back, {"A": inp}, 300)
    for layer in a:
        assert torch.equal(a[layer]["s"], b[layer]["s"]), layer


@pytest.mark.parametrize("model", ["LIF", "IF"])
def test_round_trip_of_the_lab_network(model):
    cfg = LabConfig.for_model(model, n_input=50, n_output=200, time=300.0, input_rate=150.0)
    from snnlab.config import BernoulliInput

    inputs = BernoulliInput(cfg)(0, cfg.n_steps)
    nets = [build_network(cfg), from_nir(to_nir(build_network(cfg)))]
    out = []
    for net in nets:
        m = Monitor(net.layers["B"], ["s"])
        net.add_monitor(m, "spikes")
        net.run(inputs, time=cfg.time)
        out.append(m.get("s").clone())
    assert out[0].sum() > 100
    assert torch.equal(out[0], out[1])


def test_graph_layout_weights_are_transposed_and_parameters_follow_the_convention():
    net = _mixed_network()
    graph = to_nir(net)
    assert isinstance(graph.nodes["A"], nir.Input)
    assert isinstance(graph.nodes["A_to_B"], nir.Linear) and isinstance(graph.nodes["B_to_D"], nir.Affine)
    assert np.array_equal(graph.nodes["A_to_B"].weight, net.connections[("A", "B")].w.numpy().T)
    lif, cuba, iff = graph.nodes["B"], graph.nodes["D"], graph.nodes["C"]
    assert isinstance(lif, nir.LIF) and isinstance(cuba, nir.CubaLIF) and isinstance(iff, nir.IF)
    # one Euler step of NIR's ODE adds exactly snnlab's input
    assert np.allclose(0.5 * lif.r / lif.tau, 1.0)
    assert np.allclose(0.5 * iff.r, 1.0)
    assert np.allclose(0.5 * cuba.w_in / cuba.tau_syn, 1.0) and np.allclose(0.5 * cuba.r / cuba.tau_mem, 1.0)
    assert np.all(lif.v_leak == -65.0) and np.all(lif.v_threshold == -55.0) and np.all(lif.v_reset == -65.0)
    assert ("C", "output_C") in graph.edges and ("D", "output_D") in graph.edges
    assert ("B", "B_to_B") in graph.edges and ("B_to_B", "B") in graph.edges


def test_to_nir_leaves_the_network_unchanged():
    net = _mixed_network()
    before = {k: c.dense_weights().clone() for k, c in net.connections.items()}
    tc = net.layers["B"].tc_decay.clone()
    to_nir(net)
    assert all(torch.equal(before[k], c.dense_weights()) for k, c in net.connections.items())
    assert torch.equal(tc, net.layers["B"].tc_decay)


def test_a_graph_written_by_snntorch_runs_and_matches_snntorchs_spikes():
    """snnTorch's own exporter wrote the file (tests/io/data/make_snntorch_fixture.py),
    and snnTorch's run of it is stored: with forward-Euler decay, snnlab gives the same
    spikes, each layer one step later per connection on the way (snnlab's delay)."""
    run = np.load(DATA / "snntorch_lif_run.npz")
    net = read_nir(DATA / "snntorch_lif.nir", dt=1e-4, discretization="euler")
    assert list(net.layers) == ["input", "1", "3"]
    assert list(net.connections) == [("input", "1"), ("1", "3")]
    steps = run["inputs"].shape[0]
    out = _run(net, {"input": torch.from_numpy(run["inputs"]).float()}, steps)
    hidden = out["1"]["s"][:, 0].numpy()
    output = out["3"]["s"][:, 0].numpy()
    assert run["hidden"].sum() > 100 and run["output"].sum() > 50
    assert np.array_equal(hidden[1:], run["hidden"][:-1])
    assert np.array_equal(output[2:], run["output"][:-2])
    assert not hidden[0].any() and not output[:2].any()


def test_exact_and_euler_discretizations_differ_as_documented():
    graph = nir.read(DATA / "snntorch_lif.nir")
    tau = float(np.asarray(graph.nodes["1"].tau).reshape(-1)[0])
    exact = from_nir(graph, dt=1e-4).layers["1"].tc_decay
    euler = from_nir(graph, dt=1e-4, discretization="euler").layers["1"].tc_decay
    assert exact == pytest.approx(tau)
    assert np.exp(-1e-4 / euler) == pytest.approx(1 - 1e-4 / tau, rel=1e-12)


def test_hand_built_graph_gains_are_dt_r_over_tau():
    """A hand-built graph as other tools write it: r = 1, v_leak = 0, threshold 1.
    IF: a spike through weight w adds dt * r * w; LIF: dt * r * w / tau; CubaLIF:
    the current jumps by dt * w_in * w / tau_syn and the voltage by dt * r / tau_mem of it."""
    dt = 0.5
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([1])}),
            "w1": nir.Linear(weight=np.array([[4.0]], np.float32)),
            "if": nir.IF(r=np.array([2.0]), v_threshold=np.array([100.0]), v_reset=np.array([0.0])),
            "w2": nir.Affine(weight=np.array([[6.0]], np.float32), bias=np.array([0.0], np.float32)),
            "lif": nir.LIF(tau=np.array([10.0]), r=np.array([1.0]), v_leak=np.array([0.0]),
                           v_threshold=np.array([100.0]), v_reset=np.array([0.0])),
            "w3": nir.Linear(weight=np.array([[8.0]], np.float32)),
            "cuba": nir.CubaLIF(tau_syn=np.array([2.0]), tau_mem=np.array([10.0]), r=np.array([1.0]),
                                v_leak=np.array([0.0]), v_threshold=np.array([100.0]), v_reset=np.array([0.0]),
                                w_in=np.array([1.0])),
            "out": nir.Output(output_type={"output": np.array([1])}),
        },
        edges=[("in", "w1"), ("w1", "if"), ("in", "w2"), ("w2", "lif"), ("in", "w3"), ("w3", "cuba"),
               ("if", "out")],
    )
    net = from_nir(graph, dt=dt)
    assert net.connections[("in", "if")].w.item() == pytest.approx(dt * 2.0 * 4.0)
    assert net.connections[("in", "lif")].w.item() == pytest.approx(dt * 6.0 / 10.0)
    assert net.connections[("in", "cuba")].w.item() == pytest.approx(8.0 * (dt / 2.0) * (dt / 10.0))
    assert net.layers["if"].refrac == 0.0 and net.layers["lif"].rest == 0.0
    assert net.connections[("in", "lif")].b is None  # an all-zero bias is no bias
    spikes = torch.zeros(4, 1)
    spikes[0] = 1
    out = _run(net, {"in": spikes}, 4)
    # the spike at step 0 arrives at step 1; IF holds it, LIF decays by exp(-dt/tau) a step
    assert out["if"]["v"][1:, 0, 0].tolist() == pytest.approx([4.0, 4.0, 4.0])
    d = np.exp(-dt / 10.0)
    assert out["lif"]["v"][1:, 0, 0].tolist() == pytest.approx([0.3, 0.3 * d, 0.3 * d * d], rel=1e-5)


def test_unsupported_layers_and_nodes_are_named():
    net = Network()
    net.add_layer(Input(n=2), "A")
    net.add_layer(AdaptiveLIFNodes(n=2), "adapt")
    with pytest.raises(ValueError, match=r"layer 'adapt' is a AdaptiveLIFNodes"):
        to_nir(net)
    graph = nir.NIRGraph(
        nodes={"in": nir.Input(input_type={"input": np.array([2])}),
               "li": nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2))},
        edges=[("in", "li")],
    )
    with pytest.raises(ValueError, match=r"NIR node 'li' is a LI"):
        from_nir(graph, dt=1.0)
    with pytest.raises(TypeError, match="nir.NIRGraph"):
        from_nir("net.nir")
    with pytest.raises(TypeError, match="Network"):
        to_nir({"A": 1})


def test_bad_dt_discretization_and_shapes_are_refused():
    graph = nir.read(DATA / "snntorch_lif.nir")
    with pytest.raises(ValueError, match="does not say its time step"):
        from_nir(graph)
    with pytest.raises(ValueError, match="dt: -1"):
        from_nir(graph, dt=-1)
    with pytest.raises(ValueError, match="discretization: 'rk4'"):
        from_nir(graph, dt=1e-4, discretization="rk4")
    with pytest.raises(ValueError, match="forward Euler decays to zero"):
        from_nir(graph, dt=1.0, discretization="euler")
    bad = nir.NIRGraph(
        nodes={"in": nir.Input(input_type={"input": np.array([3])}),
               "w": nir.Linear(weight=np.ones((2, 4), np.float32)),
               "lif": nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))},
        edges=[("in", "w"), ("w", "lif")], type_check=False,
    )
    with pytest.raises(ValueError, match=r"NIR node 'w': weight of shape \(2, 4\)"):
        from_nir(bad, dt=0.1)


def test_read_nir_refuses_what_is_not_a_nir_file(tmp_path):
    with pytest.raises(ValueError, match="is not a file"):
        read_nir(tmp_path)
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable NIR file"):
        read_nir(junk)


def test_write_nir_of_an_unmappable_network_writes_nothing(tmp_path):
    net = Network()
    net.add_layer(AdaptiveLIFNodes(n=2), "adapt")
    with pytest.raises(ValueError, match="AdaptiveLIFNodes"):
        write_nir(net, tmp_path / "x.nir")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "dir.nir").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        write_nir(_mixed_network(), tmp_path / "dir.nir")


def _conv_network() -> Network:
    from snnlab.network.topology_extra import Conv1dConnection, Conv2dConnection

    g = torch.Generator().manual_seed(1)
    net = Network(dt=1.0)
    net.add_layer(Input(shape=(1, 8, 8)), "img")
    net.add_layer(LIFNodes(shape=(4, 6, 6), thresh=-60.0), "conv")
    net.add_layer(LIFNodes(n=10), "out")
    net.add_layer(Input(shape=(2, 20)), "seq")
    net.add_layer(IFNodes(shape=(3, 9)), "c1")
    L = net.layers
    net.add_connection(Conv2dConnection(L["img"], L["conv"], kernel_size=3, w=torch.rand(4, 1, 3, 3, generator=g) * 4,
                                        b=torch.rand(4, generator=g)), "img", "conv")
    net.add_connection(Connection(L["conv"], L["out"], w=torch.rand(144, 10, generator=g)), "conv", "out")
    net.add_connection(Conv1dConnection(L["seq"], L["c1"], kernel_size=5, stride=2, padding=1,
                                        w=torch.rand(3, 2, 5, generator=g) * 6), "seq", "c1")
    return net


def test_convolutions_round_trip_as_nir_conv_nodes_with_identical_spikes(tmp_path):
    pytest.importorskip("snnlab.network.topology_extra")
    net = _conv_network()
    graph = to_nir(net)
    conv2, conv1 = graph.nodes["img_to_conv"], graph.nodes["seq_to_c1"]
    assert isinstance(conv2, nir.Conv2d) and isinstance(conv1, nir.Conv1d)
    assert conv2.weight.shape == (4, 1, 3, 3) and tuple(conv2.input_shape) == (8, 8)
    assert conv1.stride == 2 and conv1.padding == 1 and conv1.input_shape == 20
    assert np.array_equal(conv2.bias, net.connections[("img", "conv")].b.numpy())
    assert ("conv", "conv_flat") in graph.edges  # a Flatten before the dense connection out of a conv layer
    assert graph.nodes["conv"].v_threshold.shape == (4, 6, 6)  # conv layers keep their shape
    back = read_nir(write_nir(net, tmp_path / "conv.nir"))
    assert {k: type(c).__name__ for k, c in back.connections.items()} == {
        ("img", "conv"): "Conv2dConnection", ("conv", "out"): "Connection", ("seq", "c1"): "Conv1dConnection"}
    assert back.layers["conv"].shape == (4, 6, 6) and back.layers["c1"].shape == (3, 9)
    g = torch.Generator().manual_seed(2)
    inputs = {"img": (torch.rand(200, 1, 1, 8, 8, generator=g) < 0.3), "seq": (torch.rand(200, 1, 2, 20, generator=g) < 0.3)}
    a, b = _run(net, inputs, 200), _run(back, inputs, 200)
    for layer in a:
        assert torch.equal(a[layer]["s"], b[layer]["s"]), layer
    assert all(a[k]["s"].sum() > 50 for k in ("conv", "out", "c1"))


def test_a_hand_built_conv_graph_takes_shapes_from_its_parameters_and_folds_the_gain():
    pytest.importorskip("snnlab.network.topology_extra")
    w = np.arange(2 * 1 * 3 * 3, dtype=np.float32).reshape(2, 1, 3, 3)
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([1, 5, 5])}),
            "conv": nir.Conv2d(input_shape=(5, 5), weight=w, stride=1, padding="same", dilation=1, groups=1,
                               bias=np.array([1.0, 0.0], np.float32)),
            "lif": nir.LIF(tau=np.full((2, 5, 5), 20.0), r=np.full((2, 5, 5), 1.0), v_leak=np.zeros((2, 5, 5)),
                           v_threshold=np.ones((2, 5, 5))),
            "out": nir.Output(output_type={"output": np.array([2, 5, 5])}),
        },
        edges=[("in", "conv"), ("conv", "lif"), ("lif", "out")],
    )
    net = from_nir(graph, dt=2.0)
    conn = net.connections[("in", "lif")]
    assert type(conn).__name__ == "Conv2dConnection" and net.layers["lif"].shape == (2, 5, 5)
    assert conn.padding == (1, 1)  # "same" for a 3x3 kernel
    assert torch.allclose(conn.w, torch.from_numpy(w) * 0.1)  # gain dt r / tau = 2 / 20
    assert torch.allclose(conn.b, torch.tensor([0.1, 0.0]))
