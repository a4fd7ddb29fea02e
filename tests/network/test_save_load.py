"""Saving and loading a network's state in a safe format.

API (the issue leaves names open; this follows BindsNET): ``net.save(path)``
and ``snnlab.network.load(path)`` returning a new ``Network``. "Safe" is
checked as: the file loads with ``torch.load(weights_only=True)`` (plain
tensors and containers only), and a file holding a malicious pickle is
refused without running it.
"""

import os
import pickle

import pytest
import torch

from snnlab.learning import PostPre
from snnlab.network import Network, load
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import AdaptiveLIFNodes, Input, IzhikevichNodes, LIFNodes
from snnlab.network.topology import Connection


def build(dt=1.0):
    torch.manual_seed(5)
    net = Network(dt=dt)
    a = Input(n=20, traces=True)
    b = LIFNodes(n=15, traces=True, thresh=-53.0, tc_decay=50.0, refrac=3)
    c = AdaptiveLIFNodes(n=10, traces=True, theta_plus=0.3)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    net.add_layer(c, name="C")
    net.add_connection(Connection(a, b, w=torch.rand(20, 15) * 6, update_rule=PostPre, nu=(0.01, 0.03),
                                  wmin=0.0, wmax=8.0), source="A", target="B")
    net.add_connection(Connection(b, c, w=torch.rand(15, 10) * 8), source="B", target="C")
    net.add_connection(Connection(c, c, w=-1.0 * (1 - torch.eye(10))), source="C", target="C")
    return net


def data(T, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, 20, generator=g) < 0.3).float()


def add_monitors(net):
    mb = Monitor(net.layers["B"], state_vars=("s", "v"))
    mc = Monitor(net.layers["C"], state_vars=("s", "theta"))
    net.add_monitor(mb, name="B")
    net.add_monitor(mc, name="C")
    return mb, mc


def test_round_trip_continues_identically(tmp_path):
    net = build()
    net.run(inputs={"A": data(30, 1)}, time=30)
    path = tmp_path / "net.pt"
    net.save(str(path))
    loaded = load(str(path))
    assert isinstance(loaded, Network)
    assert list(loaded.layers) == ["A", "B", "C"]
    assert set(loaded.connections) == {("A", "B"), ("B", "C"), ("C", "C")}
    assert loaded.dt == net.dt
    for k in net.connections:
        assert torch.equal(loaded.connections[k].w, net.connections[k].w)
    assert torch.equal(loaded.layers["B"].v, net.layers["B"].v)
    assert torch.equal(loaded.layers["C"].theta, net.layers["C"].theta)
    assert float(loaded.layers["B"].thresh) == -53.0
    # both continue with the same input: same spikes, same learning, same thresholds
    m1 = add_monitors(net)
    m2 = add_monitors(loaded)
    x = data(40, 2)
    net.run(inputs={"A": x}, time=40)
    loaded.run(inputs={"A": x}, time=40)
    assert m1[0].get("s").any()
    for a, b in zip(m1, m2):
        assert torch.equal(a.get("s"), b.get("s"))
    assert torch.equal(m1[0].get("v"), m2[0].get("v"))
    assert torch.equal(m1[1].get("theta"), m2[1].get("theta"))
    assert torch.equal(net.connections[("A", "B")].w, loaded.connections[("A", "B")].w)


def test_saved_file_is_plain_data(tmp_path):
    net = build()
    path = tmp_path / "net.pt"
    net.save(str(path))
    # no arbitrary objects: the restricted unpickler accepts it, and what it
    # returns is nothing but containers, strings, numbers and tensors
    archive = torch.load(str(path), weights_only=True)

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str, torch.Tensor))

    assert set(archive) == {"spec", "tensors"} and plain(archive)
    assert archive["spec"]["format"] == "snnlab.network"
    assert torch.equal(archive["tensors"]["conn/A/B/w"], net.connections[("A", "B")].w)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"network": _Evil(str(marker))}, f, protocol=2)
    with pytest.raises(ValueError, match="not a saved snnlab network"):
        load(str(path))
    assert not marker.exists()
    path2 = tmp_path / "evil2.pt"
    torch.save({"format": "snnlab.network", "x": _Evil(str(marker))}, str(path2))
    with pytest.raises(ValueError, match="not a saved snnlab network"):
        load(str(path2))
    assert not marker.exists()


def test_dt_and_izhikevich_parameters_survive(tmp_path):
    net = Network(dt=0.5)
    izh = IzhikevichNodes(n=4)
    izh.a = torch.tensor([0.02, 0.03, 0.04, 0.1])
    net.add_layer(izh, name="I")
    net.run(inputs={"I": torch.full((6, 4), 10.0)}, time=3.0)
    path = tmp_path / "izh.pt"
    net.save(str(path))
    loaded = load(str(path))
    assert loaded.dt == 0.5
    li = loaded.layers["I"]
    for name in ("a", "b", "c", "d", "S", "v", "u"):
        assert torch.equal(getattr(li, name), getattr(izh, name)), name
    m1 = Monitor(izh, state_vars=("v",))
    m2 = Monitor(li, state_vars=("v",))
    net.add_monitor(m1, name="m")
    loaded.add_monitor(m2, name="m")
    net.run(inputs={"I": torch.full((10, 4), 10.0)}, time=5.0)
    loaded.run(inputs={"I": torch.full((10, 4), 10.0)}, time=5.0)
    assert torch.equal(m1.get("v"), m2.get("v"))


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(str(tmp_path / "nope.pt"))


def test_save_accepts_pathlike(tmp_path):
    net = build()
    net.save(tmp_path / "p.pt")
    assert os.path.getsize(tmp_path / "p.pt") > 0
    assert isinstance(load(tmp_path / "p.pt"), Network)
