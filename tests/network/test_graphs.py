"""The GPU back-ends (snnlab.engine.backends.gpu), run without capture on the CPU.

``cuda_graphs="emulate"`` executes exactly the code that is captured on a GPU
(fixed-capacity event-driven propagation, staging writes, overflow rollback),
so these tests check its results against the eager path. Capture itself is
checked by the CUDA test at the end, which needs a GPU.
"""

import pytest
import torch

from snnlab.engine import use_backend
from snnlab.engine.backends import gpu as graphs
from snnlab.engine.backends.base import cache_for
from snnlab.network import Network
from snnlab.network.monitors import Monitor, NetworkMonitor
from snnlab.network.nodes import AdaptiveLIFNodes, Input, IzhikevichNodes, LIFNodes
from snnlab.network.topology import Connection
from snnlab.learning import PostPre


def build(n_in=60, n_out=300, layer=LIFNodes, window=None, seed=0, device="cpu"):
    torch.manual_seed(seed)
    net = Network()
    a = Input(n=n_in)
    b = layer(n=n_out)
    net.add_layer(a, "A")
    net.add_layer(b, "B")
    net.add_connection(Connection(a, b, w=0.05 + 0.1 * torch.randn(n_in, n_out)), "A", "B")
    net.add_connection(Connection(b, b, w=0.025 * (torch.eye(n_out) - 1)), "B", "B")
    net.add_monitor(Monitor(a, ("s",), time=window), "A")
    net.add_monitor(Monitor(b, ("s", "v"), time=window), "B")
    return net.to(device)


def run(net, mode, inputs, time):
    net.cuda_graphs = mode
    if mode is False:
        # The reference is the eager step-by-step path, not the compiled CPU
        # loop (which would otherwise take these networks).
        with use_backend("eager"):
            net.run(inputs=inputs, time=time)
        assert net.last_backend == "eager", "the reference did not go through the eager path"
    else:
        net.run(inputs=inputs, time=time)
    return {(k, v): m.get(v) for k, m in net.monitors.items() for v in m.state_vars}, net


def runner(net, backend="graph-emulate"):
    return cache_for(net, backend).get("runner")


def inputs(T, n, p, batch=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = (T, n) if batch is None else (T, batch, n)
    return {"A": torch.rand(shape, generator=g) < p}


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_graph_path_matches_eager(p):
    x = inputs(200, 60, p)
    eager, _ = run(build(), False, x, 200)
    emulated, net = run(build(), "emulate", x, 200)
    assert runner(net).failed is None and net.last_backend == "graph-emulate"
    assert eager["B", "s"].sum() > 0
    for k in eager:
        assert torch.equal(eager[k], emulated[k]), k


def test_overflow_rolls_back_and_matches_eager():
    # Strong input: every output neuron fires together, far above the capacity.
    n_out = 200
    assert graphs._capacity(n_out) < n_out
    x = inputs(130, 60, 0.9)
    def strong():
        net = build(n_out=n_out)
        with torch.no_grad():
            net.connections[("A", "B")].w.fill_(1.0)
            net.connections[("B", "B")].w.fill_(0.0)
        return net
    eager, _ = run(strong(), False, x, 130)
    emulated, net = run(strong(), "emulate", x, 130)
    assert eager["B", "s"].sum(2).max() > graphs._capacity(n_out)  # the case really overflows
    for k in eager:
        assert torch.equal(eager[k], emulated[k]), k


def test_batches_windows_and_chunks_match_eager():
    x = inputs(150, 60, 0.2, batch=3)
    eager, _ = run(build(window=100), False, x, 150)
    net = build(window=100)
    net.cuda_graphs = "emulate"
    rows = [c.records["B"]["s"] for c in net.run_chunks(x, time=150, chunk_steps=70)]
    assert torch.equal(torch.cat(rows)[-100:], eager["B", "s"])
    assert torch.equal(net.monitors["B"].get("s"), eager["B", "s"])
    assert net.monitors["B"].get("s").shape == (100, 3, 300)


@pytest.mark.parametrize("layer", [AdaptiveLIFNodes, IzhikevichNodes])
def test_other_models_match_eager(layer):
    x = inputs(128, 60, 0.2)
    eager, _ = run(build(layer=layer), False, x, 128)
    emulated, _ = run(build(layer=layer), "emulate", x, 128)
    for k in eager:
        assert torch.equal(eager[k], emulated[k]), k


def _learning_net():
    net = Network()
    a, b = Input(n=10, traces=True), LIFNodes(n=10, traces=True)
    net.add_layer(a, "A"); net.add_layer(b, "B")
    net.add_connection(Connection(a, b, w=torch.full((10, 10), 4.0), update_rule=PostPre, nu=(0.01, 0.02),
                                  wmin=0.0, wmax=8.0), "A", "B")
    net.add_monitor(Monitor(b, ("s", "v")), "B")
    return net


def test_learning_runs_on_the_graph_path_and_matches_eager():
    x = {"A": torch.rand(150, 10, generator=torch.Generator().manual_seed(1)) < 0.3}
    ref = _learning_net()
    with use_backend("eager"):
        ref.run(inputs=x, time=150)
    net = _learning_net()
    net.cuda_graphs = "emulate"
    with use_backend("graph-emulate"):
        net.run(inputs=x, time=150)
    assert net.last_backend == "graph-emulate"
    assert 0 < int(ref.monitors["B"].get("s").sum()) < 1500
    assert torch.equal(net.monitors["B"].get("s"), ref.monitors["B"].get("s"))
    w, w_ref = net.connections[("A", "B")].w, ref.connections[("A", "B")].w
    assert not torch.equal(w_ref, torch.full((10, 10), 4.0))  # it learnt
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-6)


def test_graph_path_applies_masks_and_sees_changed_learning_rates():
    x = {"A": torch.ones(64, 10, dtype=torch.bool)}
    mask = torch.zeros(10, 10, dtype=torch.bool)
    mask[:, 3] = True  # nothing reaches neuron 3
    ref = _learning_net()
    with use_backend("eager"):
        ref.run(inputs=x, time=64, masks={("A", "B"): mask})
    net = _learning_net()
    net.cuda_graphs = "emulate"
    with use_backend("graph-emulate"):
        net.run(inputs=x, time=64, masks={("A", "B"): mask})
    w = net.connections[("A", "B")].w
    assert w[:, 3].eq(0).all() and torch.equal(w, ref.connections[("A", "B")].w)
    assert torch.equal(net.monitors["B"].get("s"), ref.monitors["B"].get("s"))
    key = runner(net)._key
    # A captured graph holds scalar parameters as constants: a new rate must mean a new graph.
    net.connections[("A", "B")].update_rule.nu = (0.05, 0.05)
    with use_backend("graph-emulate"):
        net.run(inputs=x, time=64)
    assert runner(net)._key != key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_captured_graph_matches_eager_on_cuda():
    x = {k: v.cuda() for k, v in inputs(256, 60, 0.1).items()}
    eager, _ = run(build(device="cuda"), False, x, 256)
    graphed, net = run(build(device="cuda"), "auto", x, 256)
    assert runner(net, "cuda-graphs").failed is None and net.last_backend == "cuda-graphs"
    # Same spikes; voltages equal up to float32 summation order.
    assert (eager["B", "s"] != graphed["B", "s"]).float().mean() < 1e-3
    dv = (eager["B", "v"] - graphed["B", "v"]).abs()
    assert dv.median() < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_captured_graph_sees_parameters_changed_between_runs_on_cuda():
    # A captured graph holds scalar parameters as constants; a change must re-capture.
    x = {k: v.cuda() for k, v in inputs(256, 60, 0.1).items()}
    nets = {"eager": build(device="cuda"), "cuda-graphs": build(device="cuda")}
    counts = {}
    for name, net in nets.items():
        net.cuda_graphs = "auto"
        with use_backend(name):
            net.run(x, time=256)
            net.layers["B"].thresh = -60.0  # 8 mV nearer rest: many more spikes
            net.monitors["B"].reset_state_variables()
            net.run(x, time=256)
        assert net.last_backend == name
        counts[name] = net.monitors["B"].get("s")
    assert counts["eager"].sum() > 0
    assert (counts["eager"] != counts["cuda-graphs"]).float().mean() < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_captured_learning_matches_eager_on_cuda():
    x = {"A": (torch.rand(256, 10, generator=torch.Generator().manual_seed(1)) < 0.3).cuda()}
    nets = {"eager": _learning_net().cuda(), "cuda-graphs": _learning_net().cuda()}
    for name, net in nets.items():
        with use_backend(name):
            net.run(inputs=x, time=256)
        assert net.last_backend == name
    s_ref, s = (nets[k].monitors["B"].get("s") for k in ("eager", "cuda-graphs"))
    assert 0 < int(s_ref.sum()) and torch.equal(s, s_ref)
    torch.testing.assert_close(nets["cuda-graphs"].connections[("A", "B")].w,
                               nets["eager"].connections[("A", "B")].w, rtol=0, atol=1e-5)


def test_repeated_runs_after_reset_record_every_block():
    # The block runner is reused across runs; resets re-make the monitors' recorders.
    x = inputs(200, 60, 0.1)
    eager, _ = run(build(), False, x, 200)
    net = build()
    net.cuda_graphs = "emulate"
    for _ in range(3):
        net.reset_state_variables()
        net.run(inputs=x, time=200)
        assert torch.equal(net.monitors["B"].get("s"), eager["B", "s"])
        assert torch.equal(net.monitors["B"].get("v"), eager["B", "v"])


def _have_triton():
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


TRITON_SCRIPT = r"""
import torch
from snnlab.engine import available_backends, use_backend
from network.test_graphs import build, inputs, run, runner  # tests/ is on the path
assert "triton" in available_backends()
for p, batch in ((0.05, None), (0.9, 2)):
    x = inputs(130, 60, p, batch=batch)
    eager, _ = run(build(), False, x, 130)
    with use_backend("triton"):
        emulated, net = run(build(), "auto", x, 130)
    assert net.last_backend == "triton"
    r = runner(net, "triton")
    assert r.failed is None, r.failed
    assert type(next(iter(r.props.values()))).__name__ == "TritonPropagator"
    assert set(r.fused_steps) == {"A", "B"}  # each layer's update is one generated kernel
    for k in eager:
        if k[1] == "s":  # spikes agree up to float32 summation order
            assert (eager[k] != emulated[k]).float().mean() < 1e-3, k
    dv = (eager["B", "v"] - emulated["B", "v"]).abs()
    assert dv.median() < 1e-4, float(dv.median())
print("ok")
"""


@pytest.mark.skipif(not _have_triton(), reason="needs Triton (the GPU kernels run in its interpreter here)")
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the compiled kernels are tested instead")
def test_triton_kernels_in_the_graph_path_match_eager(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join([str(root), str(root / "tests")]))
    done = subprocess.run([sys.executable, "-c", TRITON_SCRIPT], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


@pytest.mark.skipif(not (torch.cuda.is_available() and _have_triton()), reason="needs a CUDA GPU and Triton")
@pytest.mark.parametrize("batch,n_in,n_out,p", [(1, 10000, 1000, 0.02), (3, 2500, 130, 0.3), (2, 1030, 64, 1.0), (1, 50, 70, 0.0)])
def test_triton_propagator_matches_dense_on_cuda(batch, n_in, n_out, p):
    from snnlab.engine.backends.triton_kernels import TritonPropagator

    conn = Connection(Input(n=n_in), LIFNodes(n=n_out), w=torch.randn(n_in, n_out)).to("cuda")
    s = torch.rand(batch, n_in, device="cuda") < p
    out = TritonPropagator(conn, batch)(s, None)
    assert torch.allclose(out, s.float() @ conn.w, atol=1e-3)


MODEL_KERNELS_SCRIPT = r"""
import torch
from snnlab.engine import use_backend
from snnlab.engine.backends.base import cache_for
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import (AdaptiveLIFNodes, BoostedLIFNodes, CurrentLIFNodes, IFNodes, Input,
                                  IzhikevichNodes, LIFNodes, McCullochPitts, SRM0Nodes)
from snnlab.network.topology import Connection
for cls in (LIFNodes, IFNodes, CurrentLIFNodes, SRM0Nodes, IzhikevichNodes, McCullochPitts, BoostedLIFNodes,
            AdaptiveLIFNodes):
    runs = []
    for backend in ("eager", "triton"):
        torch.manual_seed(0)
        net = Network()
        net.add_layer(Input(n=40), "A")
        b = cls(n=20, traces=True)
        if cls is IzhikevichNodes:
            b.S = torch.zeros(20, 20)  # the coupling is a cross-neuron pass: eager
        net.add_layer(b, "B")
        net.add_connection(Connection(net.layers["A"], b, w=torch.rand(40, 20) * 5), "A", "B")
        net.add_connection(Connection(b, b, w=-torch.rand(20, 20)), "B", "B")
        net.add_monitor(Monitor(b, [v for v in ("s", "v", "x") if hasattr(b, v)], time=100), "B")
        torch.manual_seed(3)  # the same draws for SRM0
        with use_backend(backend):
            net.run({"A": torch.rand(70, 40, generator=torch.Generator().manual_seed(1)) < 0.2}, time=70)
        assert net.last_backend == backend
        runs.append(net)
    eager, tri = runs
    fused = set(cache_for(tri, "triton")["runner"].fused_steps)
    assert fused == ({"A"} if cls is AdaptiveLIFNodes else {"A", "B"}), (cls, fused)  # shared theta: eager step
    m1, m2 = eager.monitors["B"], tri.monitors["B"]
    assert m1.get("s").sum() > 0
    for var in m1.state_vars:
        assert torch.allclose(m1.get(var).float(), m2.get(var).float(), atol=1e-4), (cls.__name__, var)
print("ok")
"""


@pytest.mark.skipif(not _have_triton(), reason="needs Triton (the generated kernels run in its interpreter here)")
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the compiled kernels are tested instead")
def test_generated_model_kernels_match_eager_in_the_interpreter():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, "-c", MODEL_KERNELS_SCRIPT], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
