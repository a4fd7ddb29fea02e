"""Metrics against analytic values: Poisson trains (CV ~ 1, Fano ~ 1), regular trains (CV 0)."""

import math

import numpy as np
import pytest

from snnlab.sweep.metrics import chi_synchrony, cv_isi, fano_factor, mean_rate, point_metrics


def bernoulli(rate_hz, steps, n, dt=0.1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((steps, n)) < rate_hz * dt / 1000.0


def test_poisson_trains_have_cv_and_fano_one():
    # 20 Hz at dt = 0.1 ms: p = 0.002 per step, as close to Poisson as a clock allows
    # (geometric ISIs: CV = sqrt(1 - p) = 0.999; Fano of binomial counts = 1 - p).
    s = bernoulli(20.0, 1_000_000, 40)  # 100 s, 40 neurons
    assert mean_rate(s, 0.1) == pytest.approx(20.0, rel=0.02)
    assert cv_isi(s, 0.1) == pytest.approx(1.0, abs=0.03)
    assert fano_factor(s, 0.1, window_ms=500.0) == pytest.approx(1.0, abs=0.06)
    # Independent neurons: chi is about 1/sqrt(n).
    assert chi_synchrony(s, 0.1, bin_ms=5.0) == pytest.approx(1 / math.sqrt(40), rel=0.15)


def test_regular_trains_have_cv_zero_and_no_count_variance():
    s = np.zeros((10_000, 3), bool)
    s[5::25, 0] = True  # 40 Hz, phases differ
    s[12::25, 1] = True
    s[0::50, 2] = True  # 20 Hz
    assert cv_isi(s, 1.0) == 0.0
    # Windows of a whole number of periods: every window holds the same count.
    assert fano_factor(s, 1.0, window_ms=100.0) == 0.0
    assert mean_rate(s, 1.0) == pytest.approx((40 + 40 + 20) / 3)


def test_cv_of_alternating_intervals():
    # ISIs 10, 30, 10, 30, ...: mean 20, std 10, CV 0.5.
    steps = np.cumsum([0] + [10, 30] * 50)
    s = np.zeros((steps[-1] + 1, 1), bool)
    s[steps, 0] = True
    assert cv_isi(s, 1.0) == pytest.approx(0.5)


def test_chi_is_one_for_identical_trains_and_zero_for_perfect_antiphase():
    s = bernoulli(50.0, 20_000, 1, dt=1.0)
    same = np.repeat(s, 5, axis=1)
    assert chi_synchrony(same, 1.0) == pytest.approx(1.0)
    # Two neurons alternating bins: the population count is constant.
    a = np.zeros((1000, 2), bool)
    a[0::2, 0] = True
    a[1::2, 1] = True
    assert chi_synchrony(a, 1.0, bin_ms=1.0) == pytest.approx(0.0)


def test_undefined_metrics_are_nan():
    silent = np.zeros((1000, 10), bool)
    assert mean_rate(silent, 1.0) == 0.0
    assert math.isnan(cv_isi(silent, 1.0))
    assert math.isnan(fano_factor(silent, 1.0))
    assert math.isnan(chi_synchrony(silent, 1.0))
    two = np.zeros((1000, 1), bool)
    two[[10, 20]] = True  # one interval: no CV
    assert math.isnan(cv_isi(two, 1.0))


def test_point_metrics_covers_every_layer_and_user_callables():
    rec = {"dt": 1.0, "spikes": {"A": bernoulli(100, 1000, 5, dt=1.0), "B": np.zeros((1000, 3), bool)}}
    got = point_metrics(rec, {"total": lambda r: sum(int(v.sum()) for v in r["spikes"].values()),
                              "pair": lambda r: {"x": 1, "y": 2.5}})
    assert set(got) == {f"{m}_{l}" for m in ("rate", "cv", "fano", "chi") for l in "AB"} | {"total", "pair_x", "pair_y"}
    assert got["total"] == rec["spikes"]["A"].sum()
    assert got["rate_B"] == 0.0 and got["pair_y"] == 2.5
    with pytest.raises(ValueError, match="layer 'C' is not in the recording"):
        point_metrics(rec, layers=["C"])


def test_a_lab_recording_is_read_layer_by_layer():
    from snnlab.config import LabConfig
    from snnlab.lab.controller import run_config

    rec = run_config(LabConfig(n_input=20, n_output=30, time=100.0, weight_scale=4.0, input_rate=200.0))
    got = point_metrics(rec)
    assert got["rate_A"] == pytest.approx(rec.spikes("A").mean() * 1000.0)
    assert got["rate_B"] == pytest.approx(rec.spikes("B").mean() * 1000.0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="expected \\[steps, neurons\\]"):
        mean_rate(np.zeros(10, bool), 1.0)
    with pytest.raises(ValueError, match="dt"):
        mean_rate(np.zeros((10, 2), bool), 0.0)
    with pytest.raises(ValueError, match="window_ms"):
        fano_factor(np.zeros((10, 2), bool), 1.0, window_ms=-1)
    with pytest.raises(TypeError, match="recording"):
        point_metrics(object())
