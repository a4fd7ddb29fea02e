"""Golden traces and analytic results, checked on the reference AND on every
back-end through snnlab's public API. They pin the reference itself to
numbers worked out by hand from the spec, so that the matrix cannot pass by a
reference and an engine being wrong in the same way.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from . import harness
from .reference import ConnSpec, LayerSpec, ReferenceNetwork

BACKENDS = harness.available_backends()
IMPLEMENTATIONS = ["reference"] + BACKENDS


def simulate(impl, layers, conns, inputs, steps, *, dt=1.0, watch=(), **options):
    """Run a tiny network; returns ``({layer: spikes [T, B, n]}, {(src, tgt): final weights},
    {layer: {var: final state}})`` from the reference or from snnlab on a back-end."""
    if impl == "reference":
        ref = ReferenceNetwork(layers, conns, dt)
        rec = ref.run(inputs, steps, **options)
        weights = {(c.source, c.target): ref.weights(c.source, c.target) for c in conns}
        state = {name: {var: rec[name][var][-1] for var in watch if var in rec[name]} for name, _ in layers}
        return {name: rec[name]["s"] for name, _ in layers}, weights, state
    net, monitors = harness.build_snnlab(layers, conns, dt)
    kwargs = {"inputs": harness._torchify(inputs), "time": steps * dt}
    for key in ("clamp", "injects_v"):
        if key in options:
            kwargs[key] = harness._torchify(options[key])
    for key in ("one_step", "reward"):
        if key in options:
            kwargs[key] = options[key]
    try:
        harness.run_on(impl, net, **kwargs)
    except harness.Unsupported as exc:
        pytest.xfail(str(exc))
    spikes = {name: m.get("s").numpy() for name, m in monitors.items()}
    weights = {key: c.w.detach().numpy().copy() for key, c in net.connections.items()}
    state = {name: {var: getattr(layer, var).detach().numpy() for var in watch if hasattr(layer, var)}
             for name, layer in net.layers.items()}
    return spikes, weights, state


def steps_of(s):
    return [int(t) for t in np.flatnonzero(np.asarray(s).reshape(len(s), -1).any(1))]


def const(steps, n, value):
    return np.full((steps, 1, n), value, dtype=np.float32)


def pulses(steps, n, times):
    x = np.zeros((steps, 1, n), dtype=np.float32)
    x[list(times)] = 1.0
    return x


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_lif_constant_input_spikes_every_six_steps(impl):
    """Spec: one LIF neuron, constant input 20 each step, refrac 5, dt 1: spikes at 0, 6, 12, 18."""
    s, _, _ = simulate(impl, [("a", LayerSpec("LIF", 1))], [], {"a": const(20, 1, 20.0)}, 20)
    assert steps_of(s["a"]) == [0, 6, 12, 18]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_if_integrates_exactly_and_drops_refractory_input(impl):
    """IF from reset -65, input 1 mV a step: v = -52 (threshold) after 13 inputs; the 5
    refractory steps drop their input, so the next spike is 5 + 13 steps later."""
    s, _, _ = simulate(impl, [("a", LayerSpec("IF", 1))], [], {"a": const(50, 1, 1.0)}, 50)
    assert steps_of(s["a"]) == [12, 30, 48]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_lif_decays_toward_rest(impl):
    """A 10 mV jump at step 0, then nothing: v_t = rest + 10 * exp(-(t + 1) / tc_decay)
    (the decay comes before the jump in a step; the jump is injected before the update)."""
    inject = np.zeros((8, 1), dtype=np.float32)
    inject[0] = 10.0
    layers = [("a", LayerSpec("LIF", 1, {"tc_decay": 20.0}))]
    _, _, state = simulate(impl, layers, [], {"a": const(8, 1, 0.0)}, 8, watch=("v",), injects_v={"a": inject})
    # The jump is added before the step's decay: v_0 = rest + 10 * d.
    assert state["a"]["v"].item() == pytest.approx(-65.0 + 10.0 * math.exp(-8 / 20.0), abs=1e-4)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_every_connection_delays_one_step(impl):
    """An Input spike at t=0 reaches the next layer at t=1 and the one after at t=2;
    with one_step=True it crosses both within step 0."""
    layers = [("in", LayerSpec("Input", 1)), ("h", LayerSpec("LIF", 1)), ("o", LayerSpec("LIF", 1))]
    conns = [ConnSpec("in", "h", np.full((1, 1), 20.0, np.float32)), ConnSpec("h", "o", np.full((1, 1), 20.0, np.float32))]
    s, _, _ = simulate(impl, layers, conns, {"in": pulses(4, 1, [0])}, 4)
    assert (steps_of(s["in"]), steps_of(s["h"]), steps_of(s["o"])) == ([0], [1], [2])
    s, _, _ = simulate(impl, layers, conns, {"in": pulses(4, 1, [0])}, 4, one_step=True)
    assert (steps_of(s["in"]), steps_of(s["h"]), steps_of(s["o"])) == ([0], [0], [0])


def _pair(rule, pre_times, post_times, w0=0.0, steps=5, **conn_kw):
    layers = [("pre", LayerSpec("Input", 1, traces=True)), ("post", LayerSpec("Input", 1, traces=True))]
    conns = [ConnSpec("pre", "post", np.full((1, 1), w0, np.float32), rule=rule, **conn_kw)]
    inputs = {"pre": pulses(steps, 1, pre_times), "post": pulses(steps, 1, post_times)}
    return layers, conns, inputs


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_postpre_potentiation(impl):
    """Spec: pre at t=0, post at t=3, nu=(0.1, 0.2), tc_trace 20: dw = 0.2 exp(-3/20) = 0.17214."""
    layers, conns, inputs = _pair("PostPre", [0], [3], nu=(0.1, 0.2))
    _, w, _ = simulate(impl, layers, conns, inputs, 4)
    assert round(float(w[("pre", "post")].item()), 5) == 0.17214


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("rule,expected", [("PostPre", -0.1 * math.exp(-3 / 20)), ("Hebbian", 0.1 * math.exp(-3 / 20))])
def test_post_before_pre(impl, rule, expected):
    """Post at t=0, pre at t=3: PostPre depresses by nu[0] exp(-3/20); Hebbian potentiates by as much."""
    layers, conns, inputs = _pair(rule, [3], [0], nu=(0.1, 0.2))
    _, w, _ = simulate(impl, layers, conns, inputs, 4)
    assert float(w[("pre", "post")].item()) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_weight_dependent_postpre_soft_bound(impl):
    """Potentiation scaled by (wmax - w): from w = 0.5 in [0, 1], 0.2 exp(-3/20) * 0.5.
    (The post layer is a LIF that 0.5 mV cannot fire, made to spike at t=3 by a clamp.)"""
    layers = [("pre", LayerSpec("Input", 1, traces=True)), ("post", LayerSpec("LIF", 1, traces=True))]
    conns = [ConnSpec("pre", "post", np.full((1, 1), 0.5, np.float32), rule="WeightDependentPostPre",
                      nu=(0.1, 0.2), wmin=0.0, wmax=1.0)]
    clamp = np.zeros((4, 1), dtype=bool)
    clamp[3] = True
    _, w, _ = simulate(impl, layers, conns, {"pre": pulses(4, 1, [0])}, 4, clamp={"post": clamp})
    assert float(w[("pre", "post")].item()) == pytest.approx(0.5 + 0.2 * math.exp(-3 / 20) * 0.5, abs=1e-6)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mstdp_uses_the_previous_steps_eligibility(impl):
    """Pre at t=0, post at t=1, reward 1, nu 0.1: the eligibility of step 1 is
    p+ = exp(-1/20); it changes w at step 2 (not before): w = 0.1 exp(-1/20)."""
    layers, conns, inputs = _pair("MSTDP", [0], [1], nu=(0.1, 0.1))
    _, w2, _ = simulate(impl, layers, conns, {k: v[:2] for k, v in inputs.items()}, 2, reward=1.0)
    assert float(w2[("pre", "post")].item()) == 0.0
    _, w, _ = simulate(impl, layers, conns, inputs, 4, reward=1.0)
    assert float(w[("pre", "post")].item()) == pytest.approx(0.1 * math.exp(-1 / 20), abs=1e-6)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_mstdpet_integrates_the_eligibility(impl):
    """MSTDPET: E += e / tc_e (25 ms) from step 2 on, decaying by exp(-1/25);
    w += nu dt reward E each step: after steps 2 and 3, 0.1 e / 25 (1 + exp(-1/25))."""
    layers, conns, inputs = _pair("MSTDPET", [0], [1], nu=(0.1, 0.1))
    _, w, _ = simulate(impl, layers, conns, inputs, 4, reward=1.0)
    e = math.exp(-1 / 20)
    assert float(w[("pre", "post")].item()) == pytest.approx(0.1 * e / 25 * (1 + math.exp(-1 / 25)), abs=1e-7)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_weight_decay_then_bounds(impl):
    """NoOp with weight_decay 0.1: w *= 0.9 each step, then clamped at wmin 0.75."""
    layers = [("a", LayerSpec("Input", 1)), ("b", LayerSpec("Input", 2))]
    conns = [ConnSpec("a", "b", np.array([[1.0, 2.0]], np.float32), weight_decay=0.1, wmin=0.75, wmax=5.0)]
    _, w, _ = simulate(impl, layers, conns, {"a": pulses(3, 1, [])}, 3)
    np.testing.assert_allclose(w[("a", "b")], [[0.75, 2.0 * 0.9 ** 3]], atol=1e-6)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_norm_rescales_columns_after_the_run(impl):
    layers = [("a", LayerSpec("Input", 3)), ("b", LayerSpec("Input", 2))]
    conns = [ConnSpec("a", "b", np.array([[1.0, -2.0], [1.0, 0.0], [2.0, 2.0]], np.float32), norm=2.0)]
    _, w, _ = simulate(impl, layers, conns, {"a": pulses(2, 3, [])}, 2)
    np.testing.assert_allclose(w[("a", "b")], [[0.5, -1.0], [0.5, 0.0], [1.0, 1.0]], atol=1e-6)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_adaptive_threshold_grows_per_spike(impl):
    """AdaptiveLIF, input 20 a step: spikes at 0, 6, 12, 18; theta = 0.05 per spike,
    decaying by exp(-1/tc_theta) every step (tc 1e7: 20 steps lose 2e-6 of it)."""
    s, _, state = simulate(impl, [("a", LayerSpec("AdaptiveLIF", 1))], [], {"a": const(20, 1, 20.0)}, 20,
                           watch=("theta",))
    assert steps_of(s["a"]) == [0, 6, 12, 18]
    expected = sum(0.05 * math.exp(-(19 - t) / 1e7) for t in (0, 6, 12, 18))
    assert float(state["a"]["theta"].item()) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_traces_set_and_additive(impl):
    """Spikes at t=0 and t=1: a set trace is 1 after t=1; an additive one (scale 0.5)
    is 0.5 exp(-1/20) + 0.5; both then decay by exp(-1/20) a step."""
    d = math.exp(-1 / 20)
    layers = [("set", LayerSpec("Input", 1, traces=True)),
              ("add", LayerSpec("Input", 1, traces=True, traces_additive=True, trace_scale=0.5))]
    _, _, state = simulate(impl, layers, [], {"set": pulses(3, 1, [0, 1]), "add": pulses(3, 1, [0, 1])}, 3,
                           watch=("x",))
    assert float(state["set"]["x"].item()) == pytest.approx(d, abs=1e-6)
    assert float(state["add"]["x"].item()) == pytest.approx((0.5 * d + 0.5) * d, abs=1e-6)


def _izhikevich_float64(steps, x):
    a, b, c, d = 0.02, 0.2, -65.0, 8.0
    v, u, s, out = -65.0, 0.2 * -65.0, False, []
    for t in range(steps):
        if s:
            v, u = c, u + d
        for _ in range(2):
            v += 0.5 * (0.04 * v * v + 5 * v + 140 - u + x)
        u += a * (b * v - u)
        s = v >= 45.0
        if s:
            out.append(t)
    return out


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_izhikevich_regular_spiking(impl):
    """A regular-spiking neuron, input 10: its spike steps in float32 match the
    same equations in float64 (no spike is near a tie), and the pinned raster."""
    params = {"a": np.array([0.02], np.float32), "b": np.array([0.2], np.float32),
              "c": np.array([-65.0], np.float32), "d": np.array([8.0], np.float32), "S": np.zeros((1, 1), np.float32)}
    s, _, _ = simulate(impl, [("a", LayerSpec("Izhikevich", 1, params))], [], {"a": const(200, 1, 10.0)}, 200)
    assert steps_of(s["a"]) == _izhikevich_float64(200, 10.0) == [3, 30, 78, 140, 194]


@pytest.mark.parametrize("backend", BACKENDS)
def test_srm0_firing_probability_and_refractoriness(backend):
    """SRM0 at rest 5 mV under threshold: rho = rho_0 exp(-5 / d_thresh) = e^-1 per ms, so a
    neuron fires in step 0 with p = 1 - exp(-e^-1) = 0.3078; none fires again while refractory."""
    n = 4000
    layers = [("a", LayerSpec("SRM0", n, {"rest": -55.0, "reset": -55.0, "thresh": -50.0, "refrac": 3.0}))]
    s, _, _ = simulate(backend, layers, [], {"a": const(8, n, 0.0)}, 8)
    s = s["a"][:, 0]
    p = 1 - math.exp(-math.exp(-1.0))
    assert abs(s[0].sum() - p * n) < 5 * math.sqrt(n * p * (1 - p))
    # After a spike at t, refrac_count = 3 and drops to 0 at t + 3: no spike at t+1, t+2.
    assert not (s[:-1] & s[1:]).any() and not (s[:-2] & s[2:]).any()
    assert (s[:-3] & s[3:]).any()  # ... and the neuron may fire again at t + 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_diehl_cook_one_spike(backend):
    """one_spike: at most one spike per sample and step, among the neurons that crossed;
    only the winner is reset and raises theta (BindsNET resets every neuron that crossed)."""
    n, B = 6, 4
    layers = [("a", LayerSpec("DiehlAndCook", n, {"theta_plus": 1.0}))]
    x = np.full((12, B, n), 14.0, dtype=np.float32)  # every neuron crosses at step 0
    s, _, state = simulate(backend, layers, [], {"a": x}, 12, watch=("theta", "v"))
    s = s["a"]
    assert (s.sum(2) <= 1).all() and (s[0].sum(1) == 1).all()
    # theta counts the spikes summed over the batch, minus a tiny decay (tc 1e7).
    np.testing.assert_allclose(state["a"]["theta"], s.sum((0, 1)), rtol=1e-5)
    # At step 1 the losers of step 0 were not reset, so they are still above threshold and fire next.
    assert (s[1].sum(1) == 1).all() and not (s[0] & s[1]).any()
