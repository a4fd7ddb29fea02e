"""The compiled CPU back-end ("cpu", snnlab.engine.backends.cpu) against the eager one.

Both must give the same spikes and voltages for every network the compiled
loop accepts; where it does not apply, automatic selection runs the eager
back-end, and forcing the "cpu" back-end is an error that says why.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnlab.engine import available_backends, use_backend
from snnlab.engine.backends import cpu as fused
from snnlab.network import Network
from snnlab.network.monitors import Monitor, NetworkMonitor
from snnlab.network.nodes import AdaptiveLIFNodes, IFNodes, Input, LIFNodes
from snnlab.network.topology import Connection

pytestmark = pytest.mark.skipif(not fused.available(), reason="needs numba (pip install snnlab[fast])")


def build(layer_b=LIFNodes, layer_c=IFNodes, traces=False, bias=False, shape_b=(12, 25), window=None, **kw):
    g = torch.Generator().manual_seed(0)
    net = Network(dt=kw.pop("dt", 1.0))
    a = Input(n=40, traces=traces)
    b = layer_b(shape=shape_b, traces=traces, **kw)
    c = layer_c(n=50, traces=traces)
    for name, layer in zip("ABC", (a, b, c)):
        net.add_layer(layer, name)
    nb = b.n
    net.add_connection(Connection(a, b, w=0.1 + 0.3 * torch.randn(40, nb, generator=g),
                                  b=torch.rand(nb, generator=g) if bias else None), "A", "B")
    net.add_connection(Connection(b, b, w=-0.05 * torch.rand(nb, nb, generator=g)), "B", "B")
    net.add_connection(Connection(b, c, w=2.0 * torch.rand(nb, 50, generator=g)), "B", "C")
    net.add_connection(Connection(a, c, w=0.5 * torch.rand(40, 50, generator=g)), "A", "C")
    net.add_monitor(Monitor(b, ("s", "v", "refrac_count") + (("x",) if traces else ()), time=window), "B")
    net.add_monitor(NetworkMonitor(net, layers=["A", "C"], state_vars=("s", "v")), "net")
    return net


def record(net):
    out = {("B", v): net.monitors["B"].get(v) for v in net.monitors["B"].state_vars}
    for name, data in net.monitors["net"].get().items():
        for var, t in data.items():
            out[(name, var)] = t
    return out


def run_both(make, inputs, time, one_step=False, chunks=None):
    results = []
    for backend in ("eager", "cpu"):
        net = make()
        with use_backend(backend):
            if chunks:
                for _ in net.run_chunks(inputs, time, one_step, chunk_steps=chunks):
                    pass
            else:
                net.run(inputs=inputs, time=time, one_step=one_step)
            net.run(inputs={k: v.flip(0) for k, v in inputs.items()}, time=time, one_step=one_step)  # state carries over
        assert net.last_backend == backend
        results.append((record(net), net))
    (eager, net_e), (fused_, net_f) = results
    return eager, fused_, net_e, net_f


def inputs(T=300, p=0.3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {"A": (torch.rand(T, 40, generator=g) < p).to(torch.uint8),
            "C": torch.randn(T, 50, generator=g)}  # external input into a non-Input layer too


def assert_same(eager, fused_, exact_v=True):
    assert eager.keys() == fused_.keys()
    for k in eager:
        if eager[k].dtype == torch.bool:
            assert torch.equal(eager[k], fused_[k]), k
        elif exact_v:
            assert torch.equal(eager[k], fused_[k]), k
        else:
            assert torch.allclose(eager[k], fused_[k], atol=1e-4), k


@pytest.mark.parametrize("one_step", [False, True])
def test_fused_matches_eager_lif_if_recurrent_external(one_step):
    eager, fused_, net_e, net_f = run_both(build, inputs(), 300, one_step=one_step)
    assert eager[("B", "s")].sum() > 50 and eager[("C", "s")].sum() > 10  # the network is active
    # Connections from Input layers are block products in the eager path: sums may
    # differ in the last bit, spikes agree.
    assert_same(eager, fused_, exact_v=False)
    for layer in "ABC":
        assert torch.equal(net_e.layers[layer].s, net_f.layers[layer].s)


def test_fused_matches_eager_exactly_with_exact_weights():
    # Weights that are multiples of 1/8 make every summation order exact.
    def make():
        net = build()
        for conn in net.connections.values():
            with torch.no_grad():
                conn.w.copy_(torch.round(conn.w * 8) / 8)
        return net
    eager, fused_, *_ = run_both(make, inputs(), 300)
    assert_same(eager, fused_, exact_v=True)


def test_fused_traces_bias_lbound_per_neuron_params_dt_windows_chunks():
    thresh = -52.0 + torch.linspace(-2, 2, 300).view(12, 25)
    make = lambda: build(traces=True, bias=True, window=70, thresh=thresh, lbound=-70.0, tc_decay=30.0, dt=0.5)  # noqa: E731
    eager, fused_, *_ = run_both(make, inputs(T=400), 200.0, chunks=37)
    assert eager[("B", "v")].shape == (70, 1, 12, 25)
    assert_same(eager, fused_, exact_v=False)


def test_additive_traces_and_silence():
    make = lambda: build(traces=True)  # noqa: E731
    def make_additive():
        net = make()
        for layer in net.layers.values():
            layer.traces_additive = True
        return net
    eager, fused_, *_ = run_both(make_additive, inputs(p=0.0), 100)
    assert_same(eager, fused_, exact_v=False)
    eager, fused_, *_ = run_both(make_additive, inputs(p=0.6), 100)
    assert_same(eager, fused_, exact_v=False)


def test_automatic_selection_uses_the_compiled_loop_once_it_is_compiled():
    assert "cpu" in available_backends()
    with use_backend("cpu"):  # compiles (or loads) the loop for this structure now
        build().run(inputs=inputs(), time=50)
    net = build()
    net.run(inputs=inputs(), time=50)
    assert net.last_backend == "cpu"
    net.cpu_kernels = False  # the network's switch
    net.run(inputs=inputs(), time=50)
    assert net.last_backend == "eager"


def test_unsupported_runs_fall_back_to_eager_and_forcing_them_is_an_error():
    net = build()
    net.add_monitor(Monitor(net.layers["B"], ("v",), every=2), "B2")  # the cpu loop records every step
    net.run(inputs=inputs(), time=50)
    assert net.last_backend == "eager"
    with use_backend("cpu"), pytest.raises(ValueError, match="a monitor records every 2 steps"):
        net.run(inputs=inputs(), time=50)


def test_engine_suite_passes_on_the_eager_path_too():
    # With numba installed the suite mostly runs the fused loop; run it once more without.
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, SNNLAB_NUMBA="0")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/network",
         "--ignore", "tests/network/test_fused.py"],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_per_neuron_parameter_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="thresh has shape"):
        LIFNodes(shape=(12, 25), thresh=torch.zeros(300))
