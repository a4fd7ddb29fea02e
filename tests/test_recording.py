"""Tests for snnlab.recording: the layer-by-layer Recording every consumer reads."""

import json
import math

import numpy as np
import pytest
import torch

from snnlab.network import Network
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection
from snnlab.learning import PostPre
from snnlab.recording import LayerRecording, Recording, describe_network


def make(steps=50, dt=0.5, start_step=0):
    rng = np.random.default_rng(1)
    a = rng.random((steps, 6)) < 0.2
    b = rng.random((steps, 2 * 3)) < 0.1
    v = rng.normal(-60, 3, (steps, 2)).astype(np.float32)
    return Recording(
        dt=dt,
        layers={"in": LayerRecording("in", (6,), "Input", a),
                "out": LayerRecording("out", (2, 3), "LIFNodes", b, v, [1, 4], -52.0)},
        start_step=start_step, completed=True, experiment={"seed": 3}, changes=[(10, "in.rate", 5.0)],
        weights={"in->out": rng.random((6, 6)).astype(np.float32)},
    )


def test_derived_values():
    rec = make()
    assert rec.layer_names == ["in", "out"] and rec.steps == 50 and rec.duration == 25.0
    np.testing.assert_array_equal(rec.times, np.arange(50) * 0.5)
    t, n = rec.spike_times("out")
    rows, cols = np.nonzero(rec.spikes("out"))
    np.testing.assert_array_equal(t, rows * 0.5)
    np.testing.assert_array_equal(n, cols)
    # population rate: spikes / (n * bin) in Hz; a 2 ms bin is 4 steps, the last bin is 2 steps
    starts, hz = rec.rate("out", bin_ms=2.0)
    np.testing.assert_array_equal(starts, np.arange(0, 50, 4) * 0.5)
    counts = rec.spikes("out").sum(1)
    assert hz[0] == pytest.approx(counts[:4].sum() / (6 * 4 * 0.5e-3))
    assert hz[-1] == pytest.approx(counts[48:].sum() / (6 * 2 * 0.5e-3))
    # the rate's time average equals the mean rate
    assert np.average(hz, weights=[4] * 12 + [2]) == pytest.approx(counts.sum() / (6 * 25e-3))


def test_window_selects_time_layers_and_neurons():
    rec = make(start_step=100)
    w = rec.window(55.0, 60.0, layers=["out"], neurons={"out": [4, 0, 5]})
    assert w.layer_names == ["out"] and w.start_step == 110 and w.steps == 10
    np.testing.assert_array_equal(w.times, np.arange(110, 120) * 0.5)
    np.testing.assert_array_equal(w.spikes("out"), rec.spikes("out")[10:20][:, [4, 0, 5]])
    # traced neuron 4 stays (now column 0 of the subset), traced 1 is dropped
    np.testing.assert_array_equal(w.traced("out"), [0])
    np.testing.assert_array_equal(w.voltages("out"), rec.voltages("out")[10:20, [1]])
    assert not w.completed and rec.window().completed
    with pytest.raises(ValueError, match="t0_ms"):
        rec.window(60.0, 55.0)
    with pytest.raises(KeyError, match="no layer 'nope'"):
        rec.window(layers=["nope"])
    with pytest.raises(ValueError, match="neurons of 'out'"):
        rec.window(neurons={"out": [6]})


def test_npz_round_trip_is_exact_and_needs_no_pickle(tmp_path):
    rec = make()
    path = rec.to_npz(tmp_path / "r.npz")
    with np.load(path, allow_pickle=False) as d:
        assert all(d[k].dtype != object for k in d.files)
    back = Recording.from_npz(path)
    assert back.layer_names == rec.layer_names and back.dt == rec.dt and back.completed
    for name in rec.layer_names:
        np.testing.assert_array_equal(back.spikes(name), rec.spikes(name))
        assert back.layers[name].shape == rec.layers[name].shape
    np.testing.assert_array_equal(back.voltages("out"), rec.voltages("out"))
    assert back.voltages("in") is None and back.experiment == {"seed": 3}
    assert back.changes == [(10, "in.rate", 5.0)]
    np.testing.assert_array_equal(back.weights["in->out"], rec.weights["in->out"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]  # no temp file left


def test_bad_files_and_arguments(tmp_path):
    rec = make()
    with pytest.raises(ValueError, match=".npz"):
        rec.to_npz(tmp_path / "r.pickle")
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        rec.to_npz(tmp_path / "d.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        Recording.from_npz(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a snnlab recording"):
        Recording.from_npz(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="expected bool of shape"):
        LayerRecording("x", (3,), "Input", np.zeros((4, 2), bool))
    with pytest.raises(ValueError, match="voltages of shape"):
        LayerRecording("x", (3,), "LIFNodes", np.zeros((4, 3), bool), np.zeros((4, 1), np.float32), [0, 1])
    with pytest.raises(ValueError, match="traced"):
        LayerRecording("x", (3,), "LIFNodes", np.zeros((4, 3), bool), np.zeros((4, 1), np.float32), [3])
    with pytest.raises(ValueError, match="dt"):
        Recording(dt=0.0, layers={})
    with pytest.raises(ValueError, match="different step counts"):
        Recording(dt=1.0, layers={"a": LayerRecording("a", (1,), "Input", np.zeros((3, 1), bool)),
                                  "b": LayerRecording("b", (1,), "Input", np.zeros((4, 1), bool))})


def test_describe_network_is_json():
    net = Network(dt=0.5)
    net.add_layer(Input(n=4, traces=True), name="X")
    net.add_layer(LIFNodes(n=3, thresh=-50.0, traces=True), name="Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], w=torch.ones(4, 3), update_rule=PostPre,
                                  nu=(0.1, 0.2)), source="X", target="Y")
    d = json.loads(json.dumps(describe_network(net)))
    assert d["dt"] == 0.5
    assert [(l["name"], l["model"], l["shape"]) for l in d["layers"]] == [("X", "Input", [4]), ("Y", "LIFNodes", [3])]
    assert d["layers"][1]["parameters"]["thresh"] == -50.0
    assert d["connections"] == [{"source": "X", "target": "Y", "kind": "Connection", "weight_shape": [4, 3],
                                 "rule": "PostPre", "nu": [pytest.approx(0.1), pytest.approx(0.2)]}]
