"""The presets: each builds, runs in the lab, and shows what it is there to teach."""

import numpy as np
import pytest
import torch

from snnlab.config import LabConfig
from snnlab.lab.controller import Controller, run_config
from snnlab.lab.experiments import PRESETS, preset
from snnlab.network.monitors import Monitor
from snnlab.lab.experiments.builtin import (
    BrunelExperiment, DiehlCookExperiment, FICurveExperiment, STDPExperiment,
)


def run(exp, time_ms, **values):
    ctl = Controller(exp)
    for k, v in values.items():
        ctl.set(k, v)
    assert ctl.start(time_ms)
    assert ctl.join(300) and ctl.state == "done", ctl.message
    return ctl


def test_every_preset_is_one_call_away_and_runs():
    for name in PRESETS:
        exp = preset(name)
        assert exp.name == name
        rec = run(exp, 20.0).recording
        assert rec.steps == int(round(20.0 / rec.dt)) and rec.layer_names
    with pytest.raises(ValueError, match="preset 'nope'"):
        preset("nope")


def test_seed_preset_is_the_seed_network():
    rec = run(preset("seed network"), 500.0).recording
    ref = run_config(LabConfig())
    assert np.array_equal(rec.spikes("B"), ref.spikes("B"))


def _regime(g):
    exp = BrunelExperiment(g=g)
    ctl = Controller(exp)
    nu = ctl.parameters()["ext.rate"].value
    ctl.set("ext.rate", 0.6 * nu if g > 5 else nu)
    ctl.start(400.0)
    assert ctl.join(300) and ctl.state == "done"
    s = ctl.recording.spikes("E")[200:]  # after the onset transient
    cvs = []
    for i in range(0, s.shape[1], 10):
        t = np.flatnonzero(s[:, i])
        if len(t) > 3:
            d = np.diff(t)
            cvs.append(d.std() / d.mean())
    return s.mean() / ctl.recording.dt * 1000.0, float(np.mean(cvs))


def test_brunel_regimes_are_reached_with_g_and_the_external_rate():
    rate_sr, cv_sr = _regime(3.0)  # excitation dominates: fast and regular
    rate_ai, cv_ai = _regime(7.0)  # inhibition dominates, lower drive: slow and irregular
    assert rate_sr > 3 * rate_ai
    assert cv_sr < 0.35 < 0.45 < cv_ai


@pytest.mark.parametrize("model", ["LIF", "IF", "AdaptiveLIF", "Izhikevich", "CurrentLIF", "BoostedLIF"])
def test_fi_curve_rates_grow_with_current(model):
    exp = FICurveExperiment(model=model, n=20, current=20.0 if model == "Izhikevich" else 3.0)
    counts = run(exp, 500.0).recording.spikes("cells").sum(0)
    assert counts[0] == 0 and counts[-1] > 5  # no current, no spikes; the most current, many
    # f-I curves rise (ties where both are 0 or saturate)
    assert np.all(np.diff(counts) >= -1), counts


def test_fi_current_is_live():
    exp = FICurveExperiment(n=10, current=3.0)
    ctl = Controller(exp, chunk_steps=50)
    ctl.set("cells.current", 0.0)
    ctl.start(200.0)
    assert ctl.join(60)
    assert not ctl.recording.spikes("cells").any()


def test_stdp_strengthens_the_pattern():
    exp = STDPExperiment()
    w0 = exp.build().connections[("input", "output")].w
    ctl = run(exp, 4000.0)
    w = ctl.network.connections[("input", "output")].w
    assert w0[:50].mean() < 1.1 * w0[50:].mean()  # no pattern at the start
    assert w[:50].mean() > 1.5 * w[50:].mean()
    # what a user sees: voltages in a neuron's range (-5 mV inhibition held them at -150 to -200 mV)
    v = ctl.recording.voltages("output")
    assert -80.0 <= v.min() and v.max() <= -52.0
    assert "-75 mV" in STDPExperiment().description


def test_diehl_cook_learns_receptive_fields_on_the_bundled_digits():
    exp = DiehlCookExperiment(n_neurons=16)
    ctl = Controller(exp)
    net0 = exp.build()
    w0 = net0.connections[("X", "Ae")].w.clone()
    ctl.start(2000.0)  # four digits
    assert ctl.join(300) and ctl.state == "done", ctl.message
    conn = ctl.network.connections[("X", "Ae")]
    assert not torch.allclose(conn.w, w0)
    # normalised after each digit: every column sums to the norm
    torch.testing.assert_close(conn.w.sum(0), torch.full((16,), exp._norm), rtol=1e-4, atol=1e-4)
    rec = ctl.recording
    assert rec.spikes("Ae").any() and rec.layers["X"].shape == (8, 8)
    assert exp.image_shape(ctl.network, "X") == (8, 8)


def _diehl_cook_run(chunk_steps):
    exp = DiehlCookExperiment(n_neurons=9, show_ms=60.0, rest_ms=40.0, nu_post=0.05)
    ctl = Controller(exp, chunk_steps=chunk_steps)
    assert ctl.start(350.0)  # three digits and a half
    assert ctl.join(300) and ctl.state == "done", ctl.message
    return ctl


def test_diehl_cook_does_not_depend_on_the_chunks():
    # Weights are normalised at each digit's end (one engine run per digit), not at
    # the chunk edges the machine's speed picks.
    runs = [_diehl_cook_run(c) for c in (7, 64, None)]
    ref = runs[0]
    assert ref.recording.spikes("Ae").sum() > 0
    for ctl in runs[1:]:
        for layer in ("X", "Ae", "Ai"):
            np.testing.assert_array_equal(ctl.recording.spikes(layer), ref.recording.spikes(layer))
        np.testing.assert_array_equal(ctl.recording.voltages("Ae"), ref.recording.voltages("Ae"))
        torch.testing.assert_close(ctl.network.connections[("X", "Ae")].w,
                                   ref.network.connections[("X", "Ae")].w, rtol=0, atol=0)


def test_diehl_cook_is_one_engine_run_per_digit():
    # The headless loop of Diehl & Cook: network.run for each digit, the engine
    # normalising after each; the lab gives the same spikes and weights.
    ctl = _diehl_cook_run(13)
    exp = DiehlCookExperiment(n_neurons=9, show_ms=60.0, rest_ms=40.0, nu_post=0.05)
    net = exp.build()
    source = exp.input_specs(net)["X"]
    x = source(0, 350).unsqueeze(1)
    spikes = []
    for a in range(0, 350, 100):
        b = min(350, a + 100)
        net.add_monitor(Monitor(net.layers["Ae"], ("s",), time=b - a), name="Ae")
        net.run(inputs={"X": x[a:b]}, time=float(b - a))
        spikes.append(net.monitors["Ae"].get("s")[:, 0].numpy())
        del net.monitors["Ae"]
    np.testing.assert_array_equal(ctl.recording.spikes("Ae"), np.concatenate(spikes))
    torch.testing.assert_close(ctl.network.connections[("X", "Ae")].w, net.connections[("X", "Ae")].w)
    torch.testing.assert_close(net.connections[("X", "Ae")].w.sum(0), torch.full((9,), exp._norm))


def test_seed_experiment_is_the_headless_seed_run():
    # the lab's seed experiment against config.build_network + BernoulliInput run by network.run
    from snnlab.config import BernoulliInput, build_network

    cfg = LabConfig(n_input=50, n_output=200, time=200.0, input_rate=200.0, weight_scale=3.0)
    net = build_network(cfg)
    net.run(inputs=BernoulliInput(cfg), time=cfg.time)
    ctl = Controller(cfg, chunk_steps=17)
    ctl.start()
    assert ctl.join(60) and ctl.state == "done"
    rec = ctl.recording
    assert np.array_equal(rec.spikes("A"), net.monitors["A"].get("s")[:, 0].numpy())
    assert np.array_equal(rec.spikes("B"), net.monitors["B"].get("s")[:, 0].numpy())
    np.testing.assert_array_equal(rec.voltages("B"), net.monitors["B"].get("v")[:, 0, :5].numpy())
