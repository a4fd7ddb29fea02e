"""Network.run_chunks: the lab's hook (docs/architecture.md, "Chunked run").

A chunked run must give exactly the spikes of one run; each chunk hands out
the new monitor rows; stopping between chunks keeps everything recorded.
"""

import pytest
import torch

from snnlab.learning import PostPre
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import AdaptiveLIFNodes, Input, LIFNodes
from snnlab.network.topology import Connection

T = 60


def build(every=1, window=None, learning=True):
    torch.manual_seed(3)
    net = Network()
    a = Input(n=30, traces=True)
    b = AdaptiveLIFNodes(n=40, traces=True, theta_plus=0.5)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    kw = {"update_rule": PostPre, "nu": (0.01, 0.02)} if learning else {}
    net.add_connection(Connection(a, b, w=torch.rand(30, 40) * 3.0, **kw), source="A", target="B")
    net.add_connection(Connection(b, b, w=-0.5 * (1 - torch.eye(40))), source="B", target="B")
    ma = Monitor(a, state_vars=("s",))
    mb = Monitor(b, state_vars=("s", "v", "theta"), time=window, every=every)
    net.add_monitor(ma, name="A")
    net.add_monitor(mb, name="B")
    return net, ma, mb


def data(T=T):
    g = torch.Generator().manual_seed(8)
    return (torch.rand(T, 30, generator=g) < 0.3).float()


def whole_run(**kw):
    net, ma, mb = build(**kw)
    net.run(inputs={"A": data()}, time=T)
    return net, ma, mb


@pytest.mark.parametrize("chunk_steps", [1, 7, 20, T, 500])
def test_chunked_run_equals_one_run(chunk_steps):
    ref, ra, rb = whole_run()
    net, ma, mb = build()
    chunks = list(net.run_chunks({"A": data()}, time=T, chunk_steps=chunk_steps))
    assert mb.get("s").any()
    assert torch.equal(mb.get("s"), rb.get("s"))
    assert torch.equal(mb.get("v"), rb.get("v"))
    assert torch.equal(mb.get("theta"), rb.get("theta"))
    assert torch.equal(net.connections[("A", "B")].w, ref.connections[("A", "B")].w)
    # chunk bookkeeping
    k = min(chunk_steps, T)
    assert [c.start for c in chunks] == list(range(0, T, k))
    assert [c.stop for c in chunks] == [min(s + k, T) for s in range(0, T, k)]
    assert all(c.n_steps == T for c in chunks)
    assert chunks[-1].t == pytest.approx(T * 1.0)


def test_chunked_run_leaves_callers_tensors_alone():
    net, ma, mb = build()
    x = data()
    xc = x.clone()
    inputs = {"A": x}
    list(net.run_chunks(inputs, time=T, chunk_steps=7))
    assert inputs["A"] is x and torch.equal(x, xc)


def test_chunk_records_are_the_new_rows():
    net, ma, mb = build()
    got_s, got_v, steps = [], [], []
    for c in net.run_chunks({"A": data()}, time=T, chunk_steps=13):
        rec = c.records["B"]
        assert rec["s"].dtype == torch.bool
        assert rec["s"].shape == (c.stop - c.start, 1, 40)
        got_s.append(rec["s"])
        got_v.append(rec["v"])
        steps.append(c.record_steps["B"])
        # the monitor already holds everything up to this chunk
        assert mb.get("s").shape[0] == c.stop
    assert torch.equal(torch.cat(got_s), mb.get("s"))
    assert torch.equal(torch.cat(got_v), mb.get("v"))
    assert torch.equal(torch.cat(steps), torch.arange(T))


def test_stop_midway_keeps_what_was_recorded():
    ref, ra, rb = whole_run()
    net, ma, mb = build()
    gen = net.run_chunks({"A": data()}, time=T, chunk_steps=10)
    for i, c in enumerate(gen):
        if i == 2:
            break
    gen.close()
    assert mb.get("s").shape[0] == 30
    assert ma.get("s").shape[0] == 30
    assert torch.equal(mb.get("v"), rb.get("v")[:30])
    assert torch.equal(mb.get("s"), rb.get("s")[:30])


def test_close_generator_explicitly():
    net, ma, mb = build()
    gen = net.run_chunks({"A": data()}, time=T, chunk_steps=25)
    c = next(gen)
    assert (c.start, c.stop) == (0, 25)
    gen.close()
    assert mb.get("v").shape[0] == 25
    # the network can run again afterwards, continuing from its state
    net.run(inputs={"A": data()[:5]}, time=5)
    assert mb.get("v").shape[0] == 30


def test_callable_inputs_called_once_per_chunk():
    ref, ra, rb = whole_run()
    net, ma, mb = build()
    x = data()
    calls = []

    def inputs(start, stop):
        calls.append((start, stop))
        return {"A": x[start:stop].unsqueeze(1)}  # [stop-start, B, n]

    list(net.run_chunks(inputs, time=T, chunk_steps=16))
    assert calls == [(0, 16), (16, 32), (32, 48), (48, 60)]
    assert torch.equal(mb.get("s"), rb.get("s"))


def test_rate_change_between_chunks():
    net, ma, mb = build(learning=False)
    rates = {"high": True}

    def inputs(start, stop):
        p = 0.8 if rates["high"] else 0.0
        return {"A": (torch.rand(stop - start, 1, 30) < p).float()}

    for c in net.run_chunks(inputs, time=40, chunk_steps=10):
        if c.stop == 20:
            rates["high"] = False
    s = ma.get("s")
    assert s[:20].float().mean() > 0.5
    assert not s[20:].any()


def test_weight_change_between_chunks_takes_effect():
    net, ma, mb = build(learning=False)
    conn = net.connections[("A", "B")]
    for c in net.run_chunks({"A": torch.ones(40, 30)}, time=40, chunk_steps=10):
        if c.stop == 20:
            with torch.no_grad():
                conn.w.zero_()
    s = mb.get("s")
    assert s[:20].any()
    assert not s[22:].any()  # one step delay, then nothing arrives


def test_chunks_with_decimated_monitor():
    ref, ra, rb = whole_run()
    net, ma, mb = build(every=4)
    steps = []
    rows = []
    for c in net.run_chunks({"A": data()}, time=T, chunk_steps=10):
        steps.append(c.record_steps["B"])
        rows.append(c.records["B"]["v"])
        assert all(c.start <= int(s) < c.stop for s in c.record_steps["B"])
    steps = torch.cat(steps)
    assert len(steps) == T // 4
    assert torch.equal(torch.diff(steps), torch.full((len(steps) - 1,), 4))
    assert torch.equal(torch.cat(rows), rb.get("v")[steps])
    assert torch.equal(mb.get("v"), rb.get("v")[steps])


def test_chunks_with_window_monitor():
    net, ma, mb = build(window=15)
    for c in net.run_chunks({"A": data()}, time=T, chunk_steps=10):
        assert c.records["B"]["v"].shape[0] == c.stop - c.start
    _, _, rb = whole_run()
    assert torch.equal(mb.get("v"), rb.get("v")[-15:])


def test_chunks_accept_run_options():
    net, ma, mb = build(learning=False)
    clamp = torch.zeros(T, 40, dtype=torch.bool)
    clamp[33, 5] = True
    unclamp = torch.zeros(40, dtype=torch.bool)
    unclamp[7] = True
    inj = torch.zeros(40)
    inj[7] = 30.0  # neuron 7 would fire every time it can, but is unclamped
    list(net.run_chunks({"A": torch.zeros(T, 30)}, time=T, chunk_steps=9, clamp={"B": clamp},
                        unclamp={"B": unclamp}, injects_v={"B": inj}))
    s = mb.get("s")
    assert s[33, 0, 5] and s.sum() == 1


def test_chunks_bad_input_raises_before_simulating():
    net, ma, mb = build()
    with pytest.raises(ValueError):
        list(net.run_chunks({"A": torch.zeros(T, 31)}, time=T, chunk_steps=10))
    with pytest.raises(ValueError):
        list(net.run_chunks({"A": data()}, time=T, chunk_steps=0))
    assert mb.get("s").shape[0] == 0
