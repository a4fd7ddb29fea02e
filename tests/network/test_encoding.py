"""Encoders: poisson gives the rate asked for (up to one spike per step); bernoulli.

Rates in Hz, times in ms. Tolerances are 6 standard deviations of the
binomial count, so a correct encoder fails with probability < 1e-8, while
BindsNET's saturation (500 Hz -> ~470 Hz) is more than 20 deviations off.
"""

import math

import numpy as np
import pytest
import torch

from snnlab.encoding import bernoulli, poisson


def _rate_hz(spikes, dt):
    """Mean rate (Hz) of a ``[steps, *shape]`` spike tensor."""
    s = spikes.float()
    return float(s.mean()) * 1000.0 / dt


@pytest.mark.parametrize("rate,dt", [(500.0, 1.0), (10.0, 1.0), (100.0, 1.0), (300.0, 0.5), (900.0, 1.0)])
def test_poisson_gives_the_rate_asked_for(rate, dt):
    n, time = 400, 1000.0
    s = poisson(torch.full((n,), rate), time=time, dt=dt)
    steps = int(round(time / dt))
    assert s.shape == (steps, n)
    vals = torch.unique(s.float())
    assert set(vals.tolist()) <= {0.0, 1.0}
    p = rate * dt / 1000.0
    sd_hz = math.sqrt(p * (1 - p) / (n * steps)) * 1000.0 / dt
    got = _rate_hz(s, dt)
    assert abs(got - rate) < 6 * sd_hz + 1e-9, f"asked {rate} Hz, got {got:.1f} Hz"


def test_poisson_500hz_is_not_saturated():
    s = poisson(torch.full((1000,), 500.0), time=1000, dt=1.0)
    got = _rate_hz(s, 1.0)
    assert 490.0 < got < 510.0, got  # BindsNET gives ~470


def test_poisson_per_element_rates_and_shape():
    rates = torch.tensor([[0.0, 50.0], [200.0, 1000.0]])
    s = poisson(rates, time=2000, dt=1.0)
    assert s.shape == (2000, 2, 2)
    r = s.float().mean(0) * 1000.0
    assert float(r[0, 0]) == 0.0
    assert abs(float(r[0, 1]) - 50.0) < 6 * math.sqrt(0.05 * 0.95 / 2000) * 1000
    assert abs(float(r[1, 0]) - 200.0) < 6 * math.sqrt(0.2 * 0.8 / 2000) * 1000
    assert float(r[1, 1]) == 1000.0  # one spike every step: the most a step can hold


def test_poisson_is_seeded_and_does_not_modify_datum():
    d = torch.full((50,), 100.0)
    dc = d.clone()
    torch.manual_seed(5)
    a = poisson(d, time=100, dt=1.0)
    torch.manual_seed(5)
    b = poisson(d, time=100, dt=1.0)
    assert torch.equal(a, b)
    assert torch.equal(d, dc)


def test_poisson_spikes_drive_a_network():
    from snnlab.network import Network
    from snnlab.network.monitors import Monitor
    from snnlab.network.nodes import Input

    s = poisson(torch.full((20,), 200.0), time=50, dt=1.0)
    net = Network()
    inp = Input(n=20)
    net.add_layer(inp, name="A")
    mon = Monitor(inp, state_vars=("s",))
    net.add_monitor(mon, name="m")
    net.run(inputs={"A": s}, time=50)
    assert torch.equal(mon.get("s")[:, 0], s.bool())


def test_bernoulli_probabilities_and_max_prob():
    datum = torch.tensor([0.0, 0.2, 0.5, 1.0])
    dc = datum.clone()
    s = bernoulli(datum, time=4000, dt=1.0)
    assert s.shape == (4000, 4)
    p = s.float().mean(0)
    for got, want in zip(p.tolist(), [0.0, 0.2, 0.5, 1.0]):
        assert abs(got - want) < 6 * math.sqrt(max(want * (1 - want), 1e-12) / 4000) + 1e-9
    s = bernoulli(datum, time=4000, dt=1.0, max_prob=0.5)
    p = s.float().mean(0)
    for got, want in zip(p.tolist(), [0.0, 0.1, 0.25, 0.5]):
        assert abs(got - want) < 6 * math.sqrt(max(want * (1 - want), 1e-12) / 4000) + 1e-9
    assert torch.equal(datum, dc)


def test_bernoulli_normalizes_intensities_above_one_without_touching_input():
    datum = torch.tensor([2.0, 4.0])  # normalized by the max: p = 0.5, 1.0
    dc = datum.clone()
    s = bernoulli(datum, time=2000, dt=0.5)
    assert s.shape == (4000, 2)
    p = s.float().mean(0)
    assert abs(float(p[0]) - 0.5) < 6 * math.sqrt(0.25 / 4000)
    assert float(p[1]) == 1.0
    assert torch.equal(datum, dc)  # BindsNET divides the caller's tensor in place


@pytest.mark.parametrize("enc", ["poisson", "bernoulli"])
def test_encoders_reject_negative_input(enc):
    f = {"poisson": poisson, "bernoulli": bernoulli}[enc]
    with pytest.raises(ValueError):
        f(torch.tensor([1.0, -1.0]), time=10, dt=1.0)


def test_poisson_time_not_whole_number_of_steps():
    with pytest.raises(ValueError, match="time"):
        poisson(torch.full((3,), 10.0), time=2.5, dt=1.0)


@pytest.mark.parametrize("enc", ["poisson", "bernoulli"])
def test_encoders_reject_misspelled_keywords(enc):
    # house style: no catch-all **kwargs, typos fail loudly (e.g. max_prob misspelled)
    f = {"poisson": poisson, "bernoulli": bernoulli}[enc]
    with pytest.raises(TypeError):
        f(torch.tensor([0.5]), time=10, dt=1.0, max_porb=0.5)
