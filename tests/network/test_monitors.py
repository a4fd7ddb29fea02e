"""Monitor and NetworkMonitor: non-destructive get, bounded windows, decimation, dtypes."""

import gc
import weakref

import numpy as np
import pytest
import torch

from snnlab.learning import PostPre
from snnlab.network import Network
from snnlab.network.monitors import Monitor, NetworkMonitor
from snnlab.network.nodes import AdaptiveLIFNodes, Input, LIFNodes
from snnlab.network.topology import Connection

from .conftest import np_


def small_net(T=30, **mon_kw):
    """Input(4) -> LIF(3) with random input; a full monitor and one with ``mon_kw``."""
    net = Network()
    a, b = Input(n=4, traces=True), LIFNodes(n=3, traces=True)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    conn = Connection(a, b, w=torch.full((4, 3), 6.0), update_rule=PostPre, nu=(0.01, 0.02))
    net.add_connection(conn, source="A", target="B")
    full = Monitor(b, state_vars=("s", "v"))
    net.add_monitor(full, name="full")
    other = Monitor(b, state_vars=("s", "v"), **mon_kw)
    net.add_monitor(other, name="other")
    x = torch.rand(T, 4) < 0.4
    return net, full, other, x, conn


def test_get_is_not_destructive_and_dtypes():
    net, full, _, x, _ = small_net()
    net.run(inputs={"A": x}, time=30)
    s1, s2 = full.get("s"), full.get("s")
    v1, v2 = full.get("v"), full.get("v")
    assert s1.shape == (30, 1, 3) and v1.shape == (30, 1, 3)
    assert s1.dtype == torch.bool
    assert v1.dtype == torch.float32
    assert torch.equal(s1, s2) and torch.equal(v1, v2)
    assert s1.any()
    # get() returns a new tensor: changing it does not change the recording
    v1 += 1000.0
    assert torch.equal(full.get("v"), v2)


def test_recorded_v_is_after_reset():
    net, full, _, x, _ = small_net()
    net.run(inputs={"A": x}, time=30)
    assert float(full.get("v").max()) < -52.0
    s, v = full.get("s"), full.get("v")
    assert torch.all(v[s] == -65.0)


def test_time_none_accumulates_over_runs():
    net, full, _, x, _ = small_net()
    net.run(inputs={"A": x[:10]}, time=10)
    net.run(inputs={"A": x[10:25]}, time=15)
    assert full.get("s").shape[0] == 25


def test_window_keeps_last_T_steps():
    net, full, win, x, _ = small_net(T=30, time=7)
    net.run(inputs={"A": x[:4]}, time=4)
    assert win.get("v").shape[0] == 4  # only the steps run so far
    assert torch.equal(win.get("v"), full.get("v"))
    net.run(inputs={"A": x[4:]}, time=26)
    assert win.get("v").shape == (7, 1, 3)
    assert torch.equal(win.get("v"), full.get("v")[-7:])
    assert torch.equal(win.get("s"), full.get("s")[-7:])


@pytest.mark.parametrize("k", [2, 3, 5])
def test_every_k_decimation(k):
    net, full, dec, x, _ = small_net(T=30, every=k)
    net.run(inputs={"A": x}, time=30)
    rows = dec.get("v")
    assert rows.shape[0] == 30 // k
    fv = full.get("v")
    # every k-th step from the first: steps 0, k, 2k, ... (the step indices the monitor reports)
    assert torch.equal(rows, fv[0::k][: rows.shape[0]])
    assert dec.get("s").dtype == torch.bool


def test_window_with_decimation():
    net, full, m, x, _ = small_net(T=30, every=3, time=4)
    net.run(inputs={"A": x}, time=30)
    rows = m.get("v")
    assert rows.shape[0] == 4
    fv = full.get("v")
    assert torch.equal(rows, fv[0::3][-4:])  # the last 4 of steps 0, 3, 6, ...


def test_theta_has_no_batch_dimension():
    net = Network()
    b = AdaptiveLIFNodes(n=3, theta_plus=1.0)
    net.add_layer(b, name="B")
    mon = Monitor(b, state_vars=("theta", "v"))
    net.add_monitor(mon, name="m")
    net.run(inputs={"B": torch.full((5, 2, 3), 20.0)}, time=5)
    assert mon.get("theta").shape == (5, 3)
    assert mon.get("v").shape == (5, 2, 3)
    np.testing.assert_allclose(np_(mon.get("theta"))[0], [2.0, 2.0, 2.0], atol=1e-5)


def test_monitor_on_connection_records_w_after_update():
    net, _, _, x, conn = small_net()
    wm = Monitor(conn, state_vars=("w",))
    net.add_monitor(wm, name="w")
    w_before = conn.w.clone()
    net.run(inputs={"A": x[:10]}, time=10)
    w = wm.get("w")
    assert w.shape == (10, 4, 3)
    assert torch.equal(w[-1], conn.w)  # the last row is the weight after the last update
    assert not torch.equal(w[-1], w_before)
    assert not torch.equal(w[0], w[-1])


def test_reset_state_variables_empties_monitor():
    net, full, win, x, _ = small_net(time=5)
    net.run(inputs={"A": x}, time=30)
    full.reset_state_variables()
    assert full.get("s").shape[0] == 0
    assert win.get("s").shape[0] == 5
    net.reset_state_variables()
    assert win.get("s").shape[0] == 0


def test_batch_size_change_remakes_monitors():
    net, full, win, x, _ = small_net(time=5)
    net.run(inputs={"A": x[:10]}, time=10)
    xb = torch.rand(6, 3, 4) < 0.5
    net.run(inputs={"A": xb}, time=6)
    assert full.get("s").shape == (6, 3, 3)
    assert win.get("v").shape == (5, 3, 3)


def test_monitor_of_2d_layer_has_its_shape():
    net = Network()
    b = LIFNodes(shape=(2, 5))
    net.add_layer(b, name="B")
    mon = Monitor(b, state_vars=("s", "v"))
    net.add_monitor(mon, name="m")
    net.run(inputs={"B": torch.zeros(3, 1, 2, 5)}, time=3)
    assert mon.get("s").shape == (3, 1, 2, 5)


def _tensor_bytes(obj, seen=None, depth=0):
    """Bytes of the tensors/arrays reachable from a monitor's own attributes (not its layer)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v, seen, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v, seen, depth + 1) for v in obj)
    if type(obj).__module__ in ("snnlab.network.monitors", "snnlab.engine.monitors"):
        return sum(_tensor_bytes(v, seen, depth + 1) for k, v in vars(obj).items() if k != "obj")
    return 0


def test_spikes_are_stored_compactly():
    # Spikes are 0/1: each extra recorded row of n neurons should cost about n/8 bytes
    # (bit-packed), not n bytes (bool). Compare windows of 1000 and 3000 rows, so that any
    # fixed overhead (e.g. a staging buffer) cancels out.
    n, T = 2000, 3000
    net = Network()
    b = Input(n=n)
    net.add_layer(b, name="B")
    small = Monitor(b, state_vars=("s",), time=1000)
    large = Monitor(b, state_vars=("s",), time=3000)
    net.add_monitor(small, name="small")
    net.add_monitor(large, name="large")
    x = torch.rand(T, n) < 0.05
    net.run(inputs={"B": x}, time=T)
    assert torch.equal(large.get("s")[:, 0], x)
    assert torch.equal(small.get("s")[:, 0], x[-1000:])
    extra = _tensor_bytes(large) - _tensor_bytes(small)
    packed = 2000 * n // 8
    assert packed * 0.9 <= extra <= packed * 1.25, (extra, packed)


def test_network_monitor_matches_monitors():
    net, full, _, x, conn = small_net()
    nm = NetworkMonitor(net, layers=["A", "B"], connections=[("A", "B")], state_vars=("s", "v", "w"))
    net.add_monitor(nm, name="net")
    net.run(inputs={"A": x[:12]}, time=12)
    net.run(inputs={"A": x[12:20]}, time=8)
    rec = nm.get()
    assert set(rec) >= {"A", "B", ("A", "B")}
    assert "v" not in rec["A"]  # Input layers have no voltage
    assert torch.equal(rec["B"]["v"].float(), full.get("v"))
    assert torch.equal(rec["B"]["s"].bool(), full.get("s"))
    assert rec["A"]["s"].shape[0] == 20
    assert torch.equal(rec["A"]["s"].bool()[:, 0], x[:20])
    assert rec[("A", "B")]["w"].shape == (20, 4, 3)
    assert torch.equal(rec[("A", "B")]["w"][-1], conn.w)
    # non-destructive
    assert torch.equal(nm.get()["B"]["v"], rec["B"]["v"])


def test_network_monitor_window():
    net, full, _, x, _ = small_net()
    nm = NetworkMonitor(net, layers=["B"], connections=[], state_vars=("v",), time=5)
    net.add_monitor(nm, name="net")
    net.run(inputs={"A": x}, time=30)
    assert torch.equal(nm.get()["B"]["v"].float(), full.get("v")[-5:])


def test_network_monitor_defaults_record_everything_it_can():
    net, full, _, x, conn = small_net()
    nm = NetworkMonitor(net)  # all layers, all connections, ("v", "s", "w")
    net.add_monitor(nm, name="net")
    net.run(inputs={"A": x[:5]}, time=5)
    rec = nm.get()
    assert torch.equal(rec["B"]["v"].float(), full.get("v"))
    assert rec["A"]["s"].shape == (5, 1, 4)
    assert rec[("A", "B")]["w"].shape == (5, 4, 3)


def test_monitor_reset_keeps_recording_afterwards():
    net, full, win, x, _ = small_net(time=5)
    net.run(inputs={"A": x[:10]}, time=10)
    full.reset_state_variables()
    net.run(inputs={"A": x[10:13]}, time=3)
    assert full.get("v").shape[0] == 3
    assert torch.equal(full.get("v"), win.get("v")[-3:])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_monitor_on_cpu_for_a_cuda_network():
    net = Network()
    b = LIFNodes(n=3)
    net.add_layer(b, name="B")
    mon = Monitor(b, state_vars=("s", "v"), device="cpu")
    net.add_monitor(mon, name="m")
    net.to("cuda")
    net.run(inputs={"B": torch.full((4, 3), 20.0, device="cuda")}, time=4)
    assert mon.get("v").device.type == "cpu"
    assert mon.get("s")[0].all()


def test_a_reset_keeps_a_windows_buffer_but_not_an_unbounded_recording():
    net = Network()
    net.add_layer(Input(n=16), name="A")
    window = Monitor(net.layers["A"], ("s",), time=10)
    unbounded = Monitor(net.layers["A"], ("s",))
    net.add_monitor(window, name="w")
    net.add_monitor(unbounded, name="u")
    first = torch.rand(300, 16) < 0.5  # more rows than a staging buffer holds: stored in a block
    net.run({"A": first}, time=300)
    ring = window.recorder("s").ring
    block = weakref.ref(unbounded.recorder("s").blocks[0])
    net.reset_state_variables()
    gc.collect()
    assert window.get("s").shape[0] == 0 and unbounded.get("s").shape[0] == 0
    assert block() is None  # the recording's memory went
    second = ~first[:4]
    net.run({"A": second}, time=4)
    assert window.recorder("s").ring is ring  # reused, not allocated again
    assert torch.equal(window.get("s").view(4, 16), second)  # only the new rows, none of the old
    assert torch.equal(unbounded.get("s").view(4, 16), second)
