"""Batches [T, B, *shape] and devices (CUDA tests skip without a GPU)."""

import numpy as np
import pytest
import torch

from snnlab.learning import PostPre
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import AdaptiveLIFNodes, Input, LIFNodes
from snnlab.network.topology import Connection

from .conftest import np_, ref_lif

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def build(device="cpu", learning_rule=None, shape_in=(5,), n_out=4):
    torch.manual_seed(11)
    net = Network()
    a = Input(shape=shape_in, traces=True)
    b = LIFNodes(n=n_out, traces=True)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    n_in = int(np.prod(shape_in))
    w = torch.linspace(2.0, 9.0, n_in * n_out).reshape(n_in, n_out)
    kw = {} if learning_rule is None else {"update_rule": learning_rule, "nu": (0.05, 0.1)}
    conn = Connection(a, b, w=w, **kw)
    net.add_connection(conn, source="A", target="B")
    net.add_connection(Connection(b, b, w=-3.0 * (1 - torch.eye(n_out))), source="B", target="B")
    mb = Monitor(b, state_vars=("s", "v"))
    net.add_monitor(mb, name="B")
    if device != "cpu":
        net.to(device)
    return net, mb, conn


def inputs(T=25, B=3, shape_in=(5,), seed=2):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *shape_in, generator=g) < 0.35).float()


def test_each_sample_of_a_batch_equals_its_own_run():
    x = inputs()
    net, mb, _ = build()
    net.run(inputs={"A": x}, time=25)
    s, v = mb.get("s"), mb.get("v")
    assert s.shape == (25, 3, 4)
    assert s.any()
    for i in range(3):
        net1, mb1, _ = build()
        net1.run(inputs={"A": x[:, i]}, time=25)  # [T, n]: batch 1
        assert torch.equal(mb1.get("s")[:, 0], s[:, i])
        assert torch.allclose(mb1.get("v")[:, 0], v[:, i], atol=1e-5)


def test_batch_size_change_remakes_state():
    net, mb, _ = build()
    net.run(inputs={"A": inputs(B=1)}, time=25)
    assert mb.get("v").shape[1] == 1
    x3 = inputs(B=3, seed=9)
    net.run(inputs={"A": x3}, time=25)
    # re-made: new state at rest for batch 3, monitors hold only the new run
    fresh, mf, _ = build()
    fresh.run(inputs={"A": x3}, time=25)
    assert mb.get("v").shape == (25, 3, 4)
    assert torch.equal(mb.get("s"), mf.get("s"))
    assert torch.allclose(mb.get("v"), mf.get("v"))
    assert tuple(net.layers["B"].v.shape) == (3, 4)


def test_network_batch_size_argument():
    net = Network(batch_size=2)
    b = LIFNodes(n=3)
    net.add_layer(b, name="B")
    assert tuple(b.v.shape) == (2, 3)
    mon = Monitor(b, state_vars=("v",))
    net.add_monitor(mon, name="m")
    x = torch.zeros(4, 2, 3)
    x[:, 1] = 2.0
    net.run(inputs={"B": x}, time=4)
    v = np_(mon.get("v"))
    np.testing.assert_allclose(v[:, 0], -65.0)
    v_ref, _ = ref_lif(np.full(4, 2.0), n=3)
    np.testing.assert_allclose(v[:, 1], v_ref, atol=1e-4)


def test_batched_learning_sums_updates():
    # two identical samples: the weight update of a step is twice that of one sample
    # (2 steps: the spikes of step 1 are made with the initial weights in both networks)
    x = inputs(T=2, B=1)[:, 0].clone()
    x[0] = 1.0  # every input spikes at step 0, so B fires at step 1 and learning happens
    x2 = torch.stack([x, x], dim=1)
    net1, _, c1 = build(learning_rule=PostPre)
    w0 = c1.w.clone()
    net1.run(inputs={"A": x}, time=2)
    net2, _, c2 = build(learning_rule=PostPre)
    net2.run(inputs={"A": x2}, time=2)
    assert (c1.w - w0).abs().sum() > 0
    assert torch.allclose(c2.w - w0, 2 * (c1.w - w0), atol=1e-6)


def test_multidimensional_batched_inputs():
    x = inputs(T=10, B=2, shape_in=(2, 3))
    net, mb, _ = build(shape_in=(2, 3))
    net.run(inputs={"A": x}, time=10)
    assert mb.get("s").shape == (10, 2, 4)
    net1, mb1, _ = build(shape_in=(2, 3))
    net1.run(inputs={"A": x[:, 1:2]}, time=10)
    assert torch.equal(mb1.get("s")[:, 0], mb.get("s")[:, 1])


def test_one_dimensional_input_is_one_step():
    net, mb, _ = build()
    net.run(inputs={"A": torch.ones(5)}, time=1)
    assert mb.get("s").shape == (1, 1, 4)


# --------------------------------------------------------------------------- devices

def test_to_cpu_is_harmless():
    net, mb, _ = build()
    assert net.to("cpu") is net
    net.run(inputs={"A": inputs()}, time=25)
    assert mb.get("s").device.type == "cpu"


@cuda
def test_cuda_run_matches_cpu():
    x = inputs(T=40)
    cpu, mc, _ = build(learning_rule=PostPre)
    cpu.run(inputs={"A": x}, time=40)
    gpu, mg, conn = build(device="cuda", learning_rule=PostPre)
    assert conn.w.device.type == "cuda"
    gpu.run(inputs={"A": x.cuda()}, time=40)
    assert torch.equal(mg.get("s").cpu(), mc.get("s"))
    assert torch.allclose(mg.get("v").cpu(), mc.get("v"), atol=1e-4)


@cuda
def test_cuda_clamp_and_chunks():
    x = inputs(T=20)
    gpu, mg, _ = build(device="cuda")
    clamp = torch.zeros(20, 3, 4, dtype=torch.bool, device="cuda")
    clamp[5, 1, 2] = True
    chunks = list(gpu.run_chunks({"A": x.cuda()}, time=20, chunk_steps=7, clamp={"B": clamp}))
    assert [c.stop for c in chunks] == [7, 14, 20]
    assert bool(mg.get("s")[5, 1, 2])


# --------------------------------------------------------------------------- long runs on the GPU
# Long enough to cross any internal blocking of steps (e.g. CUDA-graph blocks).

@cuda
def test_cuda_long_run_matches_plain_loop():
    from .conftest import build_input_lif_net, exact_weights, ref_input_lif_net

    T, B = 700, 2
    w_in = exact_weights((40, 60), 1, lo=0, hi=4)
    w_rec = exact_weights((60, 60), 2, lo=-1, hi=0)
    g = np.random.default_rng(3)
    x = (g.random((T, B, 40)) < 0.08).astype(np.float32)
    S_ref, V_ref = ref_input_lif_net(x, w_in, w_rec)
    net, mon = build_input_lif_net(w_in, w_rec, device="cuda")
    net.run(inputs={"A": torch.tensor(x).cuda()}, time=T)
    s = mon.get("s").cpu().numpy()
    assert s.shape == S_ref.shape
    assert (s == S_ref).all(), f"{int((s != S_ref).sum())} spikes differ on cuda"
    np.testing.assert_allclose(mon.get("v").cpu().numpy(), V_ref, atol=1e-3)
    # window and decimation on the GPU; chunks of an odd size
    net2, win = build_input_lif_net(w_in, w_rec, batch_window=100, device="cuda")
    dec = Monitor(net2.layers["B"], state_vars=("s",), every=3)
    net2.add_monitor(dec, name="dec")
    steps = []
    for c in net2.run_chunks({"A": torch.tensor(x).cuda()}, time=T, chunk_steps=97):
        steps.append(c.record_steps["dec"].cpu())
    assert (win.get("s").cpu().numpy() == S_ref[-100:]).all()
    steps = torch.cat(steps).numpy()
    assert (dec.get("s").cpu().numpy() == S_ref[steps]).all()


@cuda
def test_cuda_learning_and_adaptive_long_run_close_to_cpu():
    def make(device):
        torch.manual_seed(21)
        net = Network()
        a = Input(n=50, traces=True)
        b = AdaptiveLIFNodes(n=30, traces=True, theta_plus=0.2, tc_theta_decay=200.0)
        net.add_layer(a, name="A")
        net.add_layer(b, name="B")
        conn = Connection(a, b, w=torch.rand(50, 30) * 2.0, update_rule=PostPre, nu=(1e-3, 2e-3),
                          wmin=0.0, wmax=3.0)
        net.add_connection(conn, source="A", target="B")
        net.add_connection(Connection(b, b, w=-0.5 * (1 - torch.eye(30))), source="B", target="B")
        mon = Monitor(b, state_vars=("s", "theta"))
        net.add_monitor(mon, name="B")
        if device != "cpu":
            net.to(device)
        return net, mon, conn

    g = torch.Generator().manual_seed(4)
    x = (torch.rand(400, 50, generator=g) < 0.1).float()
    cpu, mc, cc = make("cpu")
    cpu.run(inputs={"A": x}, time=400)
    gpu, mg, cg = make("cuda")
    gpu.run(inputs={"A": x.cuda()}, time=400)
    sc, sg = mc.get("s"), mg.get("s").cpu()
    assert sc.sum() > 50
    assert (sc != sg).float().mean() < 1e-3
    assert torch.allclose(cg.w.cpu(), cc.w, atol=1e-3)
    assert torch.allclose(mg.get("theta").cpu(), mc.get("theta"), atol=1e-3)


@cuda
def test_cuda_options_long_run_match_cpu():
    from .conftest import build_input_lif_net, exact_weights

    T = 300
    w_in = exact_weights((20, 25), 5, lo=0, hi=4)
    w_rec = exact_weights((25, 25), 6, lo=-1, hi=0)
    g = torch.Generator().manual_seed(6)
    x = (torch.rand(T, 20, generator=g) < 0.1).float()
    clamp = torch.rand(T, 25, generator=g) < 0.01
    unclamp = torch.zeros(25, dtype=torch.bool)
    unclamp[3] = True
    inj = torch.zeros(T, 25)
    inj[::50, 7] = 15.0
    res = []
    for device in ("cpu", "cuda"):
        net, mon = build_input_lif_net(w_in, w_rec, device=device)
        net.run(inputs={"A": x.to(device)}, time=T, clamp={"B": clamp.to(device)},
                unclamp={"B": unclamp.to(device)}, injects_v={"B": inj.to(device)})
        res.append(mon.get("s").cpu())
    assert res[0].any()
    assert torch.equal(res[0], res[1])
