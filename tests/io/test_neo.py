"""Neo/Elephant: to_neo gives spike trains Elephant's analyses take as they are."""

from __future__ import annotations

import numpy as np
import pytest

neo = pytest.importorskip("neo")
elephant = pytest.importorskip("elephant")
import quantities as pq  # noqa: E402
from elephant.conversion import BinnedSpikeTrain  # noqa: E402
from elephant.spike_train_correlation import correlation_coefficient  # noqa: E402
from elephant.statistics import cv, isi, mean_firing_rate  # noqa: E402

from snnlab.io.neo_io import spike_trains, to_neo  # noqa: E402
from snnlab.recording import LayerRecording, Recording  # noqa: E402


def _recording() -> Recording:
    rng = np.random.default_rng(2)
    steps = 2000
    b = rng.random((steps, 6)) < 0.02
    b[:, 0] = False
    b[::40, 0] = True  # a perfectly regular neuron: every 20 ms
    b[:, 1] = b[:, 0]  # and its twin
    v = (-65 + 13 * rng.random((steps, 2))).astype(np.float32)
    return Recording(dt=0.5, start_step=400, layers={
        "A": LayerRecording("A", (10,), "Input", rng.random((steps, 10)) < 0.05),
        "B": LayerRecording("B", (6,), "LIFNodes", b, v, [0, 4], -52.0),
    })


def test_spike_trains_hold_each_neurons_spike_times_in_ms():
    rec = _recording()
    times, neurons = rec.spike_times("B")
    trains = spike_trains(rec, "B")
    assert len(trains) == 6
    for j, st in enumerate(trains):
        assert st.units == pq.ms
        np.testing.assert_array_equal(st.magnitude, times[neurons == j])
        assert float(st.t_start) == 200.0 and float(st.t_stop) == 1200.0  # start_step 400, 2000 steps of 0.5 ms
        assert st.annotations == {"layer": "B", "neuron": j, "model": "LIFNodes"}
    subset = spike_trains(rec, "B", neurons=[4, 2])
    assert [st.annotations["neuron"] for st in subset] == [4, 2]
    np.testing.assert_array_equal(subset[0].magnitude, trains[4].magnitude)


def test_elephants_analyses_apply_directly():
    rec = _recording()
    trains = spike_trains(rec, "B")
    # the regular neuron: ISIs all 20 ms, CV 0
    assert np.allclose(isi(trains[0]).rescale(pq.ms).magnitude, 20.0)
    assert cv(isi(trains[0])) == pytest.approx(0.0)
    # rates: spikes over the 1 s window
    assert float(mean_firing_rate(trains[3]).rescale(pq.Hz)) == pytest.approx(rec.spikes("B")[:, 3].sum() / 1.0)
    # the twins are perfectly correlated; an independent neuron is not
    binned = BinnedSpikeTrain(trains, bin_size=5 * pq.ms)
    corr = correlation_coefficient(binned)
    assert corr[0, 1] == pytest.approx(1.0)
    assert abs(corr[0, 3]) < 0.3


def test_block_has_every_layer_and_the_voltages():
    rec = _recording()
    block = to_neo(rec)
    seg = block.segments[0]
    assert len(seg.spiketrains) == 16
    assert [st.annotations["layer"] for st in seg.spiketrains] == ["A"] * 10 + ["B"] * 6
    (signal,) = seg.analogsignals
    assert signal.annotations["layer"] == "B" and signal.annotations["traced"] == [0, 4]
    np.testing.assert_array_equal(signal.magnitude, rec.voltages("B"))
    assert float(signal.sampling_rate.rescale(pq.kHz)) == pytest.approx(2.0)
    assert float(signal.t_start) == 200.0
    assert block.annotations["dt_ms"] == 0.5
    assert len(to_neo(rec, layers=["A"]).segments[0].spiketrains) == 10


def test_bad_arguments_are_named():
    rec = _recording()
    with pytest.raises(ValueError, match="layer: 'C'"):
        spike_trains(rec, "C")
    with pytest.raises(ValueError, match="neurons"):
        spike_trains(rec, "B", neurons=[6])
    with pytest.raises(ValueError, match=r"layers: \['C'\]"):
        to_neo(rec, layers=["C"])
    with pytest.raises(TypeError, match="Recording"):
        to_neo([1, 2])
