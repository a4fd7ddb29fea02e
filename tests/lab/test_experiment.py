"""The experiment protocol: any user-built network in the lab, spike for spike as headless."""

import numpy as np
import pytest
import torch

from snnlab.lab.controller import Controller
from snnlab.lab.experiment import NetworkExperiment, Parameter, RateSource, make_source
from snnlab.learning import PostPre
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import AdaptiveLIFNodes, Input, LIFNodes
from snnlab.network.topology import Connection, SparseConnection

T = 300


def three_layers(monitors: bool = False) -> Network:
    """X (Input, 6x5) -> L1 (LIF, learning PostPre) with recurrent inhibition -> L2 (adaptive, sparse)."""
    g = torch.Generator().manual_seed(3)
    net = Network(dt=1.0)
    x = Input(shape=(6, 5), traces=True)
    l1 = LIFNodes(n=40, traces=True, thresh=-55.0)
    l2 = AdaptiveLIFNodes(n=20, traces=True)
    net.add_layer(x, name="X")
    net.add_layer(l1, name="L1")
    net.add_layer(l2, name="L2")
    net.add_connection(Connection(x, l1, w=3.0 * torch.rand(30, 40, generator=g), update_rule=PostPre,
                                  nu=(1e-3, 1e-2), wmin=0.0, wmax=5.0), source="X", target="L1")
    w_rec = -0.5 * torch.rand(40, 40, generator=g)
    w_rec.fill_diagonal_(0.0)
    net.add_connection(Connection(l1, l1, w=w_rec), source="L1", target="L1")
    w12 = torch.where(torch.rand(40, 20, generator=g) < 0.3, 6.0 * torch.rand(40, 20, generator=g),
                      torch.zeros(40, 20))
    net.add_connection(SparseConnection(l1, l2, w=w12), source="L1", target="L2")
    if monitors:
        for name in ("X", "L1", "L2"):
            net.add_monitor(Monitor(net.layers[name], ("s",)), name=name)
        net.add_monitor(Monitor(l1, ("v",)), name="L1v")
    return net


def headless(inputs) -> dict:
    net = three_layers(monitors=True)
    net.run(inputs={"X": inputs}, time=T)
    out = {n: net.monitors[n].get("s")[:, 0].reshape(T, -1).numpy() for n in ("X", "L1", "L2")}
    out["L1v"] = net.monitors["L1v"].get("v")[:, 0].numpy()
    out["w"] = net.connections[("X", "L1")].w.clone()
    return out


@pytest.mark.parametrize("chunk_steps", [7, 64, None])
def test_user_network_in_the_lab_matches_headless_whatever_the_chunks(chunk_steps):
    g = torch.Generator().manual_seed(5)
    spikes = torch.rand(T, 6, 5, generator=g) < 0.2
    ref = headless(spikes)
    assert ref["L1"].any() and ref["L2"].any()  # the comparison means something
    net = three_layers()
    ctl = Controller(NetworkExperiment(net, {"X": spikes}, time=float(T)), chunk_steps=chunk_steps)
    ctl.start()
    assert ctl.join(60) and ctl.state == "done", ctl.message
    rec = ctl.recording
    assert rec.layer_names == ["X", "L1", "L2"] and rec.completed
    for name in ("X", "L1", "L2"):
        assert np.array_equal(rec.spikes(name), ref[name]), name
    np.testing.assert_array_equal(rec.voltages("L1"), ref["L1v"][:, :5])
    torch.testing.assert_close(net.connections[("X", "L1")].w, ref["w"], rtol=0, atol=0)  # learned alike
    assert rec.layers["L2"].model == "AdaptiveLIFNodes" and rec.layers["X"].shape == (6, 5)


def test_rate_input_is_the_seeded_stream_whatever_the_chunks():
    stream = RateSource((6, 5), 80.0, 1.0, seed=0)(0, T)
    ref = headless(stream)
    net = three_layers()
    ctl = Controller(NetworkExperiment(net, {"X": 80.0}, time=float(T)), chunk_steps=13)
    ctl.start()
    assert ctl.join(60) and ctl.state == "done"
    assert np.array_equal(ctl.recording.spikes("X"), ref["X"])
    assert np.array_equal(ctl.recording.spikes("L1"), ref["L1"])


def test_callable_input_gets_start_and_length():
    seen = []

    def drive(start, n):
        seen.append((start, n))
        return torch.ones(n, 30)  # flat rows are fine for an image-shaped layer

    net = three_layers()
    ctl = Controller(NetworkExperiment(net, {"X": drive}, time=50.0), chunk_steps=20)
    ctl.start()
    assert ctl.join(60) and ctl.state == "done"
    assert seen == [(0, 20), (20, 20), (40, 10)]
    assert ctl.recording.spikes("X").all()


def test_user_monitors_are_kept_and_untouched_by_lab_runs():
    net = three_layers(monitors=True)
    net.run(inputs={"X": torch.ones(10, 6, 5)}, time=10)
    before = net.monitors["L1"].get("s").clone()
    ctl = Controller(NetworkExperiment(net, {"X": 50.0}))
    ctl.start(None)
    ctl.stop(wait=30)
    assert list(net.monitors) == ["X", "L1", "L2", "L1v"]
    assert torch.equal(net.monitors["L1"].get("s"), before)


def test_generated_parameters_cover_layers_connections_and_inputs():
    net = three_layers()
    ctl = Controller(NetworkExperiment(net, {"X": 20.0}))
    params = ctl.parameters()
    assert params["X.rate"].value == 20.0 and params["X.rate"].unit == "Hz" and params["X.rate"].live
    assert params["L1.thresh"].value == -55.0 and params["L1.thresh"].unit == "mV"
    assert "L2.tc_theta_decay" in params and "X.thresh" not in params
    assert params["X->L1.weight_scale"].value == 1.0
    assert params["X->L1.learning"].kind == "bool" and "L1->L1.learning" not in params
    assert "L1->L2.weight_scale" in params


def test_live_changes_reach_the_network():
    net = three_layers()
    ctl = Controller(NetworkExperiment(net, {"X": 0.0}, time=40.0), chunk_steps=10)
    w0 = net.connections[("L1", "L2")].w.clone()
    ctl.set("L1.thresh", -60.0)
    ctl.set("L1->L2.weight_scale", 2.0)
    ctl.set("X->L1.learning", False)
    ctl.start()
    assert ctl.join(30) and ctl.state == "done"
    assert net.layers["L1"].thresh == -60.0
    torch.testing.assert_close(net.connections[("L1", "L2")].w, 2.0 * w0)
    assert type(net.connections[("X", "L1")].update_rule).__name__ == "NoOp"
    ctl.set("X->L1.learning", True)
    ctl.start()
    assert ctl.join(30)
    assert type(net.connections[("X", "L1")].update_rule).__name__ == "PostPre"


def test_bad_values_are_refused_and_change_nothing():
    net = three_layers()
    ctl = Controller(NetworkExperiment(net, {"X": 20.0}))
    with pytest.raises(ValueError, match="X->L1.weight_scale"):
        ctl.set("X->L1.weight_scale", 1e300)
    with pytest.raises(ValueError, match="L1.thresh"):
        ctl.set("L1.thresh", float("nan"))
    with pytest.raises(TypeError, match="X->L1.learning"):
        ctl.set("X->L1.learning", "yes")
    with pytest.raises(ValueError, match="X.rate"):
        ctl.set("X.rate", 5000.0)
    with pytest.raises(ValueError, match=r"no parameter 'nope'; expected one of: X.rate, .*L1.thresh"):
        ctl.set("nope", 1.0)
    with pytest.raises(ValueError, match=r"did you mean 'L1.thresh'"):
        ctl.set("L1.tresh", -50.0)
    assert ctl.parameters()["X->L1.weight_scale"].value == 1.0


@pytest.mark.parametrize("inputs, match", [
    ({"L1": 10.0}, "Input layer"),
    ({"Q": 10.0}, "no layer 'Q'"),
    ({"X": -5.0}, "rate"),
    ({"X": torch.zeros(10, 4)}, "shape"),
    ({"X": "fast"}, "expected a rate"),
    ([("X", 1.0)], "dict"),
])
def test_bad_inputs_are_refused_at_the_door(inputs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        NetworkExperiment(three_layers(), inputs)


def test_parameter_check_names_path_value_and_range():
    p = Parameter("L.tc_decay", "tau", 10.0, "ms", 0.1, 100.0)
    assert p.check(5) == 5.0
    with pytest.raises(ValueError, match=r"L.tc_decay: 1000.0 ms is out of range; expected a finite number in \[0.1, 100\]"):
        p.check(1000)
    with pytest.raises(TypeError, match="not a number"):
        p.check(True)
    n = Parameter("n", "size", 10, kind="int", low=1, high=100)
    with pytest.raises(TypeError, match="whole number"):
        n.check(2.5)
    assert n.check(20.0) == 20


def test_make_source_never_touches_the_callers_tensor():
    t = torch.zeros(5, 6, 5)
    src = make_source("X", three_layers().layers["X"], t, 1.0)
    src(0, 5)[0, 0, 0] = 1.0
    assert t.sum() == 0


def test_the_engine_s_own_checks_apply_to_live_values():
    ctl = Controller(NetworkExperiment(three_layers(), {"X": 20.0}))
    with pytest.raises(ValueError, match="L1.tc_decay"):
        ctl.set("L1.tc_decay", 0.0)  # a time constant must be > 0: an open range the engine knows
    assert ctl.parameters()["L1.tc_decay"].value == 100.0
