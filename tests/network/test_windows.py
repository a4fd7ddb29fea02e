"""``window(x, kernel)`` in a model's description (snnlab.dynamics.model): a
kernel-weighted sum over the past of a value, whose ring buffer every
back-end keeps. CSRMNodes is built on it; a user's model gets it from its
description alone, on every back-end."""

from __future__ import annotations

import math

import pytest
import torch

from snnlab.dynamics import Param, merge
from snnlab.dynamics.model import NodeModel
from snnlab.dynamics.nodes import Nodes
from snnlab.engine import available_backends, use_backend
from snnlab.engine.backends import cpu
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import CSRMNodes, Input
from snnlab.network.topology import Connection


class MovingAverageNodes(Nodes):
    """``v`` = the mean input of the last ``span`` ms minus the mean of the
    spikes before this step over the same span; spike where ``v >= thresh``."""

    state_names = ("s", "v")
    params = merge(
        Nodes.params,
        Param("thresh", 1.0, per_neuron=True, doc="threshold"),
        Param("span", 4.0, "ms", low=0.0, low_open=True, live=False, doc="span of the average"),
    )
    model = NodeModel(state=("v",), init={"v": 0.0}, step="""
        v = window(inp, box) - 2.0 * window(s, box)
        s = v >= thresh
    """)

    def window_kernels(self, dt):
        steps = max(int(round(self.span / dt)), 1)
        return {"box": torch.full((steps,), 1.0 / steps)}


def test_a_window_is_the_kernel_weighted_past_of_its_value_and_carries_over_until_reset():
    layer = MovingAverageNodes(n=1, thresh=100.0, span=3.0)
    inputs = [3.0, 6.0, 0.0, 9.0, 0.0, 0.0, 0.0]
    got = []
    for x in inputs:
        layer(torch.full((1, 1), x))
        got.append(float(layer.v))
    want = [sum(inputs[max(0, t - 2): t + 1]) / 3 for t in range(len(inputs))]
    assert got == pytest.approx(want, rel=1e-6)
    layer.reset_state_variables()
    layer(torch.full((1, 1), 3.0))
    assert float(layer.v) == pytest.approx(1.0)  # the window was zeroed
    assert layer.inp_window.shape == (3, 1, 1) and int(layer.window_clock) == 1


def test_a_window_of_s_reads_the_previous_steps_spikes():
    layer = MovingAverageNodes(n=1, thresh=1.0, span=2.0)
    v = []
    for x in (2.0, 2.0, 2.0, 0.0):
        layer(torch.full((1, 1), x))
        v.append(float(layer.v))
    # step 0: 2/2 = 1 -> spike; step 1: (2+2)/2 - 2*(1/2) = 1 -> spike;
    # step 2: 2 - 2*(1/2 + 1/2) = 0; step 3: 1 - 2*(1/2) = 0
    assert v == pytest.approx([1.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize("step, match", [
    ("if learning:\n    v = window(inp, k)\ns = v > 0", "not inside an 'if'"),
    ("v = window(inp, k) + window(inp, k)\ns = v > 0", "twice"),
    ("v = window(inp * 2, k)\ns = v > 0", "two names"),
    ("v = window(inp, v)\ns = v > 0", "names a state"),
])
def test_a_bad_window_is_refused_with_its_statement(step, match):
    with pytest.raises(ValueError, match=match):
        NodeModel(state=("v",), step=step)


def test_a_model_without_the_kernels_of_its_windows_is_refused():
    class NoKernel(Nodes):
        model = NodeModel(state=("v",), step="v = window(inp, missing)\ns = v > 0")

    with pytest.raises(ValueError, match="missing"):
        NoKernel(n=2)


def _network(layer, batch_inputs, dt=1.0):
    torch.manual_seed(0)
    net = Network(dt=dt)
    net.add_layer(Input(n=12), "X")
    net.add_layer(layer, "L")
    net.add_connection(Connection(net.layers["X"], layer, w=torch.rand(12, layer.n) * 3), "X", "L")
    net.add_connection(Connection(layer, layer, w=-torch.rand(layer.n, layer.n)), "L", "L")
    net.add_monitor(Monitor(layer, ("s", "v")), "L")
    return net


def _run(backend, make, x, dt=1.0):
    net = make()
    with use_backend(backend):
        half = x.shape[0] // 2
        net.run({"X": x[:half]}, time=half * dt)
        net.run({"X": x[half:]}, time=(x.shape[0] - half) * dt)  # the windows carry over
    assert net.last_backend == backend
    return net


@pytest.mark.parametrize("backend", [b for b in available_backends() if b != "eager"])
@pytest.mark.parametrize("batch", [1, 3])
def test_a_users_windowed_model_runs_on_every_backend_as_on_eager(backend, batch):
    x = torch.rand(50, batch, 12, generator=torch.Generator().manual_seed(2)) < 0.3
    make = lambda: _network(MovingAverageNodes(n=8, thresh=1.5, span=3.0), x, dt=0.5)  # noqa: E731
    e, o = _run("eager", make, x, 0.5), _run(backend, make, x, 0.5)
    s = e.monitors["L"].get("s")
    assert s.any() and not s.all()
    assert torch.equal(s, o.monitors["L"].get("s"))
    torch.testing.assert_close(e.monitors["L"].get("v"), o.monitors["L"].get("v"))


@pytest.mark.skipif(not cpu.available(), reason="needs numba")
def test_a_csrm_network_on_the_cpu_runs_the_compiled_loop(monkeypatch):
    """Without forcing a back-end, a CSRM network on the CPU gets the compiled
    loop (CSRM is a description now), with eager's spikes, windows and theta."""
    monkeypatch.setenv("SNNLAB_COMPILE", "wait")
    x = torch.rand(80, 3, 12, generator=torch.Generator().manual_seed(3)) < 0.3

    def make():
        return _network(CSRMNodes(n=10, thresh=-58.0, lbound=-70.0, theta_plus=0.5, tc_theta_decay=40.0), x)

    net = make()
    net.run({"X": x}, time=80)
    assert net.last_backend == "cpu"
    eager = _run("eager", make, x)
    assert torch.equal(net.monitors["L"].get("s"), eager.monitors["L"].get("s"))
    torch.testing.assert_close(net.layers["L"].theta, eager.layers["L"].theta)
    for name in ("inp_window", "fired_window", "window_clock"):
        torch.testing.assert_close(getattr(net.layers["L"], name), getattr(eager.layers["L"], name))


@pytest.mark.parametrize("length", [7, 1100])  # weight rows made once / sliced each step (> 1024)
def test_the_cpu_window_and_the_device_window_agree_bit_for_bit_even_after_the_kernel_is_rewritten(length):
    """``window`` on the CPU (weight rows made once per kernel) and as on a device
    (slot as a tensor) write the same ring buffer and return the same float32
    sums, step after step; rewriting the kernel in place takes effect."""
    from snnlab.dynamics.model import _window, static_shapes

    gen = torch.Generator().manual_seed(5)
    kernel = torch.rand(length, generator=gen)
    buffers = [torch.zeros(length, 2, 3, 4, dtype=torch.float64) for _ in range(2)]
    clocks = [torch.zeros(1, dtype=torch.int64) for _ in range(2)]
    for step in range(30):
        if step == 17:
            kernel.mul_(-3.0)  # in place: the CPU's cached weights must follow
        x = torch.randn(2, 3, 4, generator=gen) * 10 ** float(step % 5)
        fast = _window(buffers[0], clocks[0], x, kernel)
        with static_shapes():
            slow = _window(buffers[1], clocks[1], x, kernel)
        assert fast.dtype == torch.float32 and fast.shape == (2, 3, 4)
        assert torch.equal(fast, slow), step
        assert torch.equal(buffers[0], buffers[1])
        ages = (step - torch.arange(length)) % length  # slot of the value d steps back
        want = torch.tensordot(kernel.double(), buffers[0][ages], 1).float()
        torch.testing.assert_close(fast, want, rtol=1e-6, atol=1e-6)
        for clock in clocks:
            clock.add_(1)


def test_a_csrm_spike_weighs_refractory_0_on_the_next_step_and_leaves_after_the_window():
    """BindsNET 0.3.4's offset: the spike k steps back weighs refractory((k - 1) dt),
    over ceil(ref_window_size / dt) steps (here 1.5 ms at 0.5 ms: 3 steps)."""
    layer = CSRMNodes(n=1, rest=0.0, thresh=0.5, tau=1.0, tc_decay=1e12, res_window_size=0.5,
                      ref_window_size=1.5, reset_const=4.0, learning=False)
    layer.compute_decays(0.5)
    assert torch.allclose(layer.ref_kernel, -4.0 * torch.exp(-torch.tensor([0.0, 0.5, 1.0])))
    v = []
    for x in (1.0, 0.0, 0.0, 0.0, 0.0):
        layer(torch.full((1, 1), x))
        v.append(float(layer.v))
    e = math.exp
    want = [1.0, 1.0 - 4.0, 1.0 - 4.0 * (1 + e(-0.5)), 1.0 - 4.0 * (1 + e(-0.5) + e(-1.0))]
    want.append(want[-1])  # 4 steps back: out of the window
    assert v == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("name", ["res_window_size", "ref_window_size"])
def test_a_csrm_window_too_large_to_keep_is_refused_naming_it(name):
    with pytest.raises(ValueError, match=f"{name}=1000000000.0 ms at dt=1.0 ms") as info:
        CSRMNodes(n=3, **{name: 1e9})
    assert "65536" in str(info.value)
    layer = CSRMNodes(n=200, **{name: 30_000.0})  # 30,000 steps: within the limits
    net = Network(dt=1.0)  # 40,000 steps are too, but not x 2000 neurons
    with pytest.raises(ValueError, match="steps x neurons"):
        net.add_layer(CSRMNodes(n=2000, **{name: 40_000.0}), "C")
    kernel = layer.res_kernel.clone() if name == "res_window_size" else layer.ref_kernel.clone()
    with pytest.raises(ValueError, match=name):
        layer.compute_decays(1e-3)  # a smaller dt: the same span in 1000x the steps
    assert layer.dt == 1.0 and torch.equal(kernel, layer.res_kernel if name == "res_window_size" else layer.ref_kernel)
    assert math.isfinite(float(layer.v.sum()))


def test_a_csrm_network_saves_loads_and_copies_with_its_kernels_and_windows(tmp_path):
    """Saved, loaded or deep-copied mid-run, a CSRM network continues as the
    original: its kernel names, windows, clock and theta come along."""
    import copy

    from snnlab.network import load

    x = torch.rand(40, 2, 12, generator=torch.Generator().manual_seed(4)) < 0.3
    net = _network(CSRMNodes(n=10, responseKernel="AlphaKernel", tau=2.0, thresh=-60.0, theta_plus=0.5), x, dt=0.5)
    net.run({"X": x[:20]}, time=10.0)
    net.save(tmp_path / "csrm.pt")
    twins = [copy.deepcopy(net), load(tmp_path / "csrm.pt")]
    assert all(t.layers["L"].responseKernel == "AlphaKernel" for t in twins)
    assert int(net.layers["L"].window_clock) == 20 and net.layers["L"].inp_window.shape == (40, 2, 10)
    for n in [net] + twins:
        if "L" in n.monitors:
            n.monitors["L"].reset_state_variables()
        else:  # (a saved network keeps no monitors)
            n.add_monitor(Monitor(n.layers["L"], ("s", "v")), "L")
        n.run({"X": x[20:]}, time=10.0)
    for twin in twins:
        assert torch.equal(twin.monitors["L"].get("s"), net.monitors["L"].get("s"))
        assert torch.equal(twin.layers["L"].v, net.layers["L"].v)
        assert torch.equal(twin.layers["L"].theta, net.layers["L"].theta)
