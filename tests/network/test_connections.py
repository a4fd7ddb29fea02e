"""Connection (dense) and SparseConnection: defaults, bounds, propagation."""

import math

import numpy as np
import pytest
import torch

from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection, SparseConnection

from .conftest import np_


def test_default_weights_uniform_0_1():
    a, b = Input(n=200), LIFNodes(n=100)
    c = Connection(a, b)
    w = np_(c.w)
    assert w.shape == (200, 100)
    assert w.dtype == np.float32
    assert w.min() >= 0.0 and w.max() <= 1.0
    assert abs(w.mean() - 0.5) < 0.01
    assert abs(w.std() - math.sqrt(1 / 12)) < 0.01


def test_default_weights_between_finite_bounds():
    a, b = Input(n=200), LIFNodes(n=100)
    w = np_(Connection(a, b, wmin=-2.0, wmax=3.0).w)
    assert w.min() >= -2.0 and w.max() <= 3.0
    assert abs(w.mean() - 0.5) < 0.05  # wmin + U * (wmax - wmin)
    assert w.min() < -1.5 and w.max() > 2.5
    # one finite bound: U(0, 1) clamped
    w = np_(Connection(a, b, wmin=0.5).w)
    assert w.min() == 0.5 and w.max() <= 1.0


def test_given_weights_clamped_to_bounds_and_copied():
    a, b = Input(n=2), LIFNodes(n=2)
    w = torch.tensor([[-5.0, 0.5], [2.0, 9.0]])
    c = Connection(a, b, w=w, wmin=0.0, wmax=1.0)
    np.testing.assert_allclose(np_(c.w), [[0.0, 0.5], [1.0, 1.0]])
    np.testing.assert_allclose(np_(w), [[-5.0, 0.5], [2.0, 9.0]])  # caller's tensor untouched
    c2 = Connection(a, b, w=w)
    with torch.no_grad():
        c2.w[0, 0] = 42.0
    assert float(w[0, 0]) == -5.0  # no aliasing of the caller's tensor


def test_weights_from_numpy_and_float64_become_float32():
    a, b = Input(n=2), LIFNodes(n=3)
    c = Connection(a, b, w=torch.ones(2, 3, dtype=torch.float64))
    assert c.w.dtype == torch.float32


def test_connection_keeps_its_parameters():
    a, b = Input(n=2), LIFNodes(n=3)
    c = Connection(a, b, w=torch.ones(2, 3), wmin=-1.0, wmax=2.0, norm=1.5, weight_decay=0.01)
    assert c.source is a and c.target is b
    assert float(c.wmin) == -1.0 and float(c.wmax) == 2.0
    assert c.norm == 1.5


def _run_pair(conn_cls, w, x, **kw):
    net = Network()
    a, b = Input(n=w.shape[0]), LIFNodes(n=w.shape[1])
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    net.add_connection(conn_cls(a, b, w=w, **kw), source="A", target="B")
    mon = Monitor(b, state_vars=("s", "v"))
    net.add_monitor(mon, name="m")
    net.run(inputs={"A": x}, time=x.shape[0])
    return mon


def test_dense_propagation_is_s_prev_times_w():
    g = torch.Generator().manual_seed(4)
    w = torch.rand(6, 3, generator=g) * 4
    x = torch.zeros(2, 6)
    x[0, [1, 4]] = 1
    mon = _run_pair(Connection, w, x)
    v1 = np_(mon.get("v"))[1, 0]
    np.testing.assert_allclose(v1, -65.0 + np_(w[1] + w[4]), atol=1e-5)


def _sparse_w(n_in, n_out, density, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(n_in, n_out, generator=g) * 6.0
    keep = torch.rand(n_in, n_out, generator=g) < density
    return w * keep


def test_sparse_connection_matches_dense():
    # Assumption: SparseConnection takes w as a torch sparse tensor (BindsNET's convention).
    w = _sparse_w(300, 200, 0.05, 1)
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(60, 300, generator=g) < 0.1).float()
    dense = _run_pair(Connection, w, x)
    sparse = _run_pair(SparseConnection, w.to_sparse(), x)
    assert dense.get("s").any()
    assert torch.equal(dense.get("s"), sparse.get("s"))
    assert torch.allclose(dense.get("v"), sparse.get("v"), atol=1e-4)


def test_dense_propagation_with_many_and_few_spikes_agree():
    # event-driven (few spikes) and dense (many spikes) paths must give the same sums
    w = torch.randn(400, 50)
    for p in (0.005, 0.02, 0.5, 1.0):
        g = torch.Generator().manual_seed(int(p * 1000))
        x = (torch.rand(2, 400, generator=g) < p).float()
        mon = _run_pair(Connection, w * 0.01, x)
        v1 = np_(mon.get("v"))[1, 0]
        expected = -65.0 + (x[0] @ (w * 0.01)).numpy()
        np.testing.assert_allclose(v1, expected, atol=1e-4)


def test_connection_to_2d_target():
    net = Network()
    a, b = Input(n=2), LIFNodes(shape=(2, 2))
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    w = torch.zeros(2, 4)
    w[0, 3] = 20.0
    net.add_connection(Connection(a, b, w=w), source="A", target="B")
    mon = Monitor(b, state_vars=("s",))
    net.add_monitor(mon, name="m")
    x = torch.zeros(2, 2)
    x[0, 0] = 1
    net.run(inputs={"A": x}, time=2)
    s = np_(mon.get("s"))
    assert s.shape == (2, 1, 2, 2)
    assert s[1, 0, 1, 1] and s.sum() == 1


def test_weight_change_between_runs_takes_effect():
    net = Network()
    a, b = Input(n=1), LIFNodes(n=1)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    c = Connection(a, b, w=torch.zeros(1, 1))
    net.add_connection(c, source="A", target="B")
    mon = Monitor(b, state_vars=("s",))
    net.add_monitor(mon, name="m")
    net.run(inputs={"A": torch.ones(3, 1)}, time=3)
    assert not mon.get("s").any()
    with torch.no_grad():
        c.w.fill_(20.0)
    net.run(inputs={"A": torch.ones(3, 1)}, time=3)
    assert mon.get("s")[3:].any()
