"""LabConfig: validation, JSON, the input stream and the network it builds."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from snnlab.config import (
    MAX_NETWORK_BYTES,
    MODEL_DEFAULTS,
    BernoulliInput,
    LabConfig,
    apply_live_parameters,
    build_network,
    estimate_memory_bytes,
    forward_weights,
)


def test_defaults_are_the_seed_network():
    cfg = LabConfig()
    assert (cfg.n_input, cfg.n_output, cfg.time, cfg.dt) == (100, 1000, 500.0, 1.0)
    assert cfg.n_steps == 500
    assert cfg.input_probability == pytest.approx(0.1)  # Bernoulli(0.1) per step
    assert (cfg.thresh, cfg.rest, cfg.reset, cfg.tc_decay, cfg.refrac) == (-52.0, -65.0, -65.0, 100.0, 5.0)
    assert cfg.traced == (0, 1, 2, 3, 4)
    assert LabConfig(n_output=3).traced == (0, 1, 2)


def test_json_round_trip_and_types():
    cfg = LabConfig(n_output=50, input_rate=250, dt=0.5, time=100.0, seed=7, traced=[3, 1])
    assert isinstance(cfg.input_rate, float) and cfg.traced == (3, 1)
    text = cfg.to_json()
    assert json.loads(text)["traced"] == [3, 1]
    assert LabConfig.from_json(text) == cfg
    assert LabConfig.from_json("{}") == LabConfig()


@pytest.mark.parametrize(
    "text, exc, words",
    [
        ('{"n_inputs": 5}', ValueError, ["unknown key", "n_inputs"]),
        ('{"n_input": "5"}', TypeError, ["n_input", "'5'", "int"]),
        ('{"n_input": 5.0}', TypeError, ["n_input", "int"]),
        ('{"n_input": true}', TypeError, ["n_input", "bool"]),
        ('{"input_rate": "100"}', TypeError, ["input_rate", "number"]),
        ('{"dt": NaN}', ValueError, ["NaN"]),
        ('{"time": Infinity}', ValueError, ["Infinity"]),
        ('{"traced": "0,1"}', TypeError, ["traced"]),
        ('{"traced": [0.5]}', TypeError, ["traced", "0.5"]),
        ("[1, 2]", TypeError, ["JSON object", "list"]),
        ("{not json", ValueError, ["not valid JSON"]),
        ('{"__class__": "os.system"}', ValueError, ["unknown key", "__class__"]),
    ],
)
def test_from_json_rejects_bad_input(text, exc, words):
    with pytest.raises(exc) as info:
        LabConfig.from_json(text)
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(n_input=0), ["n_input", "0", "at least 1", "empty"]),
        (dict(n_output=-3), ["n_output", "-3", "at least 1"]),
        (dict(dt=0.3, time=1.0), ["time", "1.0", "dt=0.3", "whole number of steps"]),
        (dict(dt=0.0), ["dt", "> 0"]),
        (dict(time=-1.0), ["time", "-1.0", "> 0"]),
        (dict(input_rate=2000.0), ["input_rate", "2000", "probability", "at most 1"]),
        (dict(input_rate=-1.0), ["input_rate", "-1.0", ">= 0"]),
        (dict(inhibition=-0.1), ["inhibition", "-0.1", ">= 0"]),
        (dict(neuron_model="HH"), ["neuron_model", "'HH'", "LIF", "Izhikevich"]),
        (dict(tc_decay=0.0), ["tc_decay", "> 0"]),
        (dict(refrac=-1.0), ["refrac", ">= 0"]),
        (dict(traced=(1000,)), ["traced", "1000", "0..999"]),
        (dict(traced=(1, 1)), ["traced", "repeats"]),
        (dict(traced=tuple(range(21))), ["traced", "21", "at most 20"]),
        (dict(seed=-1), ["seed", "-1"]),
        (dict(weight_scale=float("nan")), ["weight_scale", "nan", "finite"]),
        (dict(n_output=100_000), ["n_output=100000", "GiB", "at most"]),
    ],
)
def test_validation_names_field_value_and_expectation(changes, words):
    with pytest.raises(ValueError) as info:
        LabConfig(**changes)
    for w in words:
        assert w in str(info.value), str(info.value)


def test_replace_validates_and_rejects_unknown_fields():
    cfg = LabConfig()
    assert cfg.replace(input_rate=50.0).input_rate == 50.0
    with pytest.raises(TypeError, match="no field.*rate"):
        cfg.replace(rate=5)
    with pytest.raises(ValueError, match="n_input"):
        cfg.replace(n_input=0)
    assert cfg.n_input == 100  # frozen, unchanged


def test_memory_limit_is_the_estimate():
    assert estimate_memory_bytes(100, 10_000, 1000) < MAX_NETWORK_BYTES  # the lab's large case fits
    assert estimate_memory_bytes(100, 30_000, 1000) > MAX_NETWORK_BYTES
    with pytest.raises(ValueError, match="GiB"):
        LabConfig(n_input=100, n_output=30_000, time=1000.0)


MEASURE_PEAK = """
import sys
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
from snnlab.config import LabConfig
from snnlab.lab.controller import Controller, run_config
run_config(LabConfig(n_input=5, n_output=5, time=10.0))  # imports and compiled code first
base = status("VmRSS")
ctl = Controller(LabConfig(n_input=int(sys.argv[1]), n_output=int(sys.argv[2]), time=float(sys.argv[3])))
ctl.start()
ctl.join()
assert ctl.recording.completed, ctl.message
print(status("VmHWM") - base)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak RSS from /proc (Linux)")
@pytest.mark.parametrize("n_input, n_output, steps", [(100, 2000, 5000), (100, 500, 40_000)])
def test_memory_estimate_bounds_the_real_peak(n_input, n_output, steps):
    """The estimate against real memory: the peak RSS a lab run adds in a fresh
    process (weights, monitors, the run's arrays, the recording) stays below it,
    and is not far below (an estimate 2x too high would refuse runs that fit)."""
    import subprocess
    import sys

    # The estimate is of the run's data; the compiled cpu loop's code (numba/LLVM,
    # about 150 MB once per process, none when its disk cache hits) is not in it,
    # so the run is measured on the eager path.
    env = dict(os.environ, SNNLAB_NUMBA="0")
    out = subprocess.run(
        [sys.executable, "-c", MEASURE_PEAK, str(n_input), str(n_output), str(steps)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert out.returncode == 0, out.stderr
    real = int(out.stdout.split()[-1])
    estimate = estimate_memory_bytes(n_input, n_output, steps)
    # slack for the allocator and thread stacks: 10 % + 16 MiB
    assert real <= 1.1 * estimate + 16 * 2**20, (real, estimate)
    assert real >= 0.5 * estimate, (real, estimate)


def test_for_model_uses_the_model_defaults():
    cfg = LabConfig.for_model("Izhikevich", n_output=10)
    assert cfg.thresh == MODEL_DEFAULTS["Izhikevich"]["thresh"] == 45.0
    with pytest.raises(ValueError, match="neuron_model"):
        LabConfig.for_model("nope")


def test_bernoulli_input_is_the_same_however_chunked():
    cfg = LabConfig(n_input=30, time=100.0, seed=3)
    whole = BernoulliInput(cfg)(0, 100)["A"]
    parts = BernoulliInput(cfg)
    chunks = [parts(a, b)["A"] for a, b in ((0, 7), (7, 8), (8, 50), (50, 100))]
    assert whole.shape == (100, 1, 30) and whole.dtype == torch.bool
    assert torch.equal(torch.cat(chunks), whole)
    other_seed = BernoulliInput(cfg.replace(seed=4))(0, 100)["A"]
    assert not torch.equal(other_seed, whole)


def test_bernoulli_input_rate_and_live_change():
    cfg = LabConfig(n_input=1000, time=200.0, input_rate=100.0)
    inp = BernoulliInput(cfg)
    first = inp(0, 100)["A"].float().mean().item()
    assert first == pytest.approx(0.1, abs=0.01)
    inp.rate = 0.0
    assert not inp(100, 150)["A"].any()
    inp.rate = 1000.0  # p = 1
    assert inp(150, 200)["A"].all()
    with pytest.raises(ValueError, match="consecutive"):
        inp(10, 20)


def test_forward_weights_are_seeded_and_scaled():
    cfg = LabConfig(n_input=20, n_output=30, seed=5)
    w = forward_weights(cfg)
    assert w.shape == (20, 30) and w.dtype == torch.float32
    assert torch.equal(w, forward_weights(cfg))
    assert torch.allclose(forward_weights(cfg.replace(weight_scale=2.0)), 2 * w)
    assert not torch.equal(w, forward_weights(cfg.replace(seed=6)))
    big = forward_weights(LabConfig())
    assert big.mean().item() == pytest.approx(0.05, abs=0.005)
    assert big.std().item() == pytest.approx(0.1, abs=0.005)


@pytest.mark.parametrize("model", ["LIF", "IF", "AdaptiveLIF", "Izhikevich"])
def test_build_network(model):
    cfg = LabConfig.for_model(model, n_input=10, n_output=20, time=30.0, inhibition=0.1, seed=2)
    net = build_network(cfg)
    assert set(net.layers) == {"A", "B"}
    assert net.layers["A"].n == 10 and net.layers["B"].n == 20
    w_ab = net.connections[("A", "B")].w
    w_bb = net.connections[("B", "B")].w
    assert torch.equal(w_ab, forward_weights(cfg))
    assert torch.all(w_bb.diagonal() == 0)
    off = w_bb[~torch.eye(20, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, -0.1))
    assert type(net.layers["B"]).__name__ == {"LIF": "LIFNodes", "IF": "IFNodes",
                                              "AdaptiveLIF": "AdaptiveLIFNodes",
                                              "Izhikevich": "IzhikevichNodes"}[model]


def test_izhikevich_network_depends_on_the_seed_only():
    cfg = LabConfig.for_model("Izhikevich", n_input=10, n_output=20, time=30.0)
    torch.manual_seed(1)
    a = build_network(cfg).layers["B"]
    torch.manual_seed(2)
    b = build_network(cfg).layers["B"]
    for name in ("a", "b", "c", "d", "S"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert torch.all(a.c == cfg.reset)


def test_apply_live_parameters():
    cfg = LabConfig(n_input=10, n_output=20, time=30.0)
    net = build_network(cfg)
    inp = BernoulliInput(cfg)
    new = cfg.replace(input_rate=300.0, weight_scale=0.5, inhibition=0.2)
    apply_live_parameters(net, inp, new)
    assert inp.rate == 300.0
    assert torch.allclose(net.connections[("A", "B")].w, 0.5 * forward_weights(cfg))
    w_bb = net.connections[("B", "B")].w
    assert w_bb[0, 1].item() == pytest.approx(-0.2) and w_bb[3, 3].item() == 0.0
