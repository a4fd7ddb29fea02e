"""Hostile configs: the JSON reader, the validators, and "every config that validates can run".

Each bad input must give a ``ValueError`` or ``TypeError`` naming the problem
(never ``RecursionError``, ``OverflowError``, ``KeyError``), and every config
that validates must run to finite voltages and rates.
"""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnlab import _limits
from snnlab._json import MAX_DEPTH, loads_strict
from snnlab.config import NEURON_MODELS, LabConfig
from snnlab.lab.controller import run_config

SETTINGS = settings(derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- the JSON reader ------------------------------------------------------------

HOSTILE_JSON = {
    # name: (text, words the message must hold)
    "deep list": ("[" * 2000 + "]" * 2000, "nested more than"),
    "deep object": ('{"a":' * 3000 + "1" + "}" * 3000, "nested more than"),
    "deep inside a value": ('{"traced": ' + "[" * 500 + "]" * 500 + "}", "nested more than"),
    "one level too deep": ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested more than"),
    "duplicate key": ('{"n_input": 10, "n_input": 20}', "'n_input' appears more than once"),
    "duplicate unknown key": ('{"zz": 1, "zz": 1}', "'zz' appears more than once"),
    "duplicate in nested object": ('{"traced": [{"a": 1, "a": 2}]}', "'a' appears more than once"),
    "400-digit float field": ('{"input_rate": %s}' % ("9" * 400), "400 digits"),
    "400-digit size": ('{"n_output": %s}' % ("9" * 400), "400 digits"),
    "400-digit negative": ('{"rest": -%s}' % ("9" * 400), "400 digits"),
    "5000-digit int": ('{"seed": %s}' % ("1" * 5000), "5000 digits"),
    "float beyond float64": ('{"time": 1e400}', "beyond float64"),
    "negative float beyond float64": ('{"rest": -1e999}', "beyond float64"),
    "NaN": ('{"input_rate": NaN}', "NaN is not allowed"),
    "Infinity": ('{"time": Infinity}', "Infinity is not allowed"),
    "-Infinity": ('{"rest": -Infinity}', "-Infinity is not allowed"),
    "truncated": ('{"n_input": 1', "not valid JSON"),
    "trailing garbage": ('{"n_input": 1} x', "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "bad utf-8": (b"\xff\xfe{}", "not UTF-8"),
    "javascript comment": ('{"n_input": 1 /* hi */}', "not valid JSON"),
    "single quotes": ("{'n_input': 1}", "not valid JSON"),
}


@pytest.mark.parametrize("name", list(HOSTILE_JSON))
def test_hostile_json_is_a_clear_value_error(name):
    text, words = HOSTILE_JSON[name]
    with pytest.raises(ValueError) as info:
        LabConfig.from_json(text)
    assert words in str(info.value)
    assert str(info.value).startswith("LabConfig")
    assert len(str(info.value)) < 400  # a message, not a dump of the input


def test_depth_limit_allows_depth_up_to_the_limit():
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads_strict(text, what="t") is not None
    # brackets inside strings do not count
    assert loads_strict('{"a": "' + "[" * 5000 + '"}', what="t") == {"a": "[" * 5000}


def test_strict_reader_refuses_non_text():
    with pytest.raises(TypeError, match="expected JSON text"):
        loads_strict(12, what="t")


@SETTINGS
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=20,
))
def test_any_json_document_gives_a_config_or_a_clear_error(doc):
    """Random JSON documents: from_json returns a config or raises ValueError/TypeError, nothing else."""
    try:
        cfg = LabConfig.from_json(json.dumps(doc))
    except (ValueError, TypeError) as ex:
        assert str(ex).startswith("LabConfig")
    else:
        assert isinstance(cfg, LabConfig)


# -- values that validate but could not run ------------------------------------

UNREPRESENTABLE = {
    # name: (fields, words)
    "weight_scale 1e300": ({"weight_scale": 1e300}, "not representable in float32"),
    "inhibition 1e300": ({"inhibition": 1e300}, "not representable in float32"),
    "rest 1e300": ({"rest": 1e300}, "not representable in float32"),
    "thresh -1e300": ({"thresh": -1e300}, "not representable in float32"),
    "reset 1e39": ({"reset": 1e39}, "not representable in float32"),
    "input_rate 1e300": ({"input_rate": 1e300}, "not representable in float32"),
    "tc_decay 1e-300": ({"tc_decay": 1e-300}, "rounds to 0 in float32"),
    "tc_decay 1e39": ({"tc_decay": 1e39}, "not representable in float32"),
    "refrac 1e300": ({"refrac": 1e300}, "not representable in float32"),
    "dt 1e-300": ({"dt": 1e-300, "time": 1e-297}, "rounds to 0 in float32"),
    "dt below the rate bound": ({"dt": 1e-37, "time": 1e-34, "refrac": 0.0}, "population rate"),
    "dt too small for refrac": ({"dt": 1e-8, "time": 1e-5}, "refractory period"),
    "time 1e308 dt 1e-10": ({"time": 1e308, "dt": 1e-10}, "LabConfig.time"),
    "time/dt past 2**53": ({"time": 1e17, "dt": 1.0}, "2**53"),
    "time/dt past 2**53 (small dt)": ({"time": 1e7, "dt": 1e-10, "refrac": 0.0}, "2**53"),
    "weights drive float32 out of range": ({"weight_scale": 1e36}, "per step"),
    "inhibition drives float32 out of range": ({"inhibition": 1e36}, "per step"),
    "long run accumulates out of range": ({"weight_scale": 1e33, "time": 50_000.0}, "per step"),
    "Izhikevich thresh 1e19": ({"neuron_model": "Izhikevich", "thresh": 1e19}, "Izhikevich"),
    "Izhikevich drive": ({"neuron_model": "Izhikevich", "weight_scale": 1e16}, "Izhikevich"),
    "negative weight_scale 1e36": ({"weight_scale": -1e36}, "per step"),
    "size 2**63": ({"n_output": 2**63}, "int64"),
    "400-digit size from the API": ({"n_input": 10**400}, "401 digits"),
    "400-digit float from the API": ({"rest": -(10**400)}, "too large for a float"),
    "seed of 20,000 digits": ({"seed": 10**20000}, "bits"),
}


@pytest.mark.parametrize("name", list(UNREPRESENTABLE))
def test_unrunnable_values_are_refused_at_validation(name):
    fields, words = UNREPRESENTABLE[name]
    with pytest.raises(ValueError) as info:
        LabConfig(**fields)
    assert words in str(info.value)
    assert "expected" in str(info.value)  # says what range is allowed
    assert len(str(info.value)) < 600


@pytest.mark.parametrize("name", ["weight_scale 1e300", "time 1e308 dt 1e-10", "dt 1e-300", "rest 1e300"])
def test_unrunnable_values_from_json_too(name):
    fields, words = UNREPRESENTABLE[name]
    with pytest.raises(ValueError, match="LabConfig"):
        LabConfig.from_json(json.dumps(fields))


@pytest.mark.parametrize("name", ["inhibition 1e300", "weight_scale 1e300", "dt 1e-300", "rest 1e300"])
def test_replace_refuses_and_keeps_the_old_config(name):
    fields, _ = UNREPRESENTABLE[name]
    cfg = LabConfig(n_input=5, n_output=5, time=10.0)
    with pytest.raises(ValueError):
        cfg.replace(**fields)
    assert cfg == LabConfig(n_input=5, n_output=5, time=10.0)


def test_bounds_are_float32_facts():
    f32 = np.float32
    assert _limits.FLOAT32_MAX == float(np.finfo(f32).max)
    with np.errstate(over="ignore"):
        assert np.isinf(f32(_limits.FLOAT32_MAX) * f32(2))
        # the smallest accepted dt gives a finite rate, 1000/dt, in float32
        assert np.isfinite(f32(1000.0) / f32(_limits.MIN_DT_FOR_RATE * 1.0001))
        assert np.isinf(f32(1000.0) / f32(_limits.MIN_DT_FOR_RATE * 0.5))
        # Izhikevich: the step's v ** 2 stays finite up to (almost) twice the voltage limit
        lim = f32(_limits.voltage_limit("Izhikevich"))
        assert np.isfinite((f32(1.999) * lim) ** 2)
        assert np.isinf((f32(2.01) * lim) ** 2)
        # the refractory countdown bound: just above it dt changes refrac, just below it does not
        least = float(np.spacing(f32(5.0))) / 2
        assert f32(5.0) - f32(least * 1.01) < f32(5.0)
        assert f32(5.0) - f32(least * 0.99) == f32(5.0)


# -- every config that validates can run ---------------------------------------


def _magnitude(lo, hi):
    """Floats spread over orders of magnitude in [10**lo, 10**hi], both signs."""
    return st.builds(lambda e, m, s: s * m * 10.0**e, st.integers(lo, hi), st.floats(1.0, 9.99), st.sampled_from([1, -1]))


@settings(SETTINGS, max_examples=40)
@given(
    model=st.sampled_from(NEURON_MODELS),
    n_input=st.integers(1, 6),
    n_output=st.integers(1, 6),
    steps=st.integers(1, 12),
    dt=st.sampled_from([1e-3, 0.1, 1.0, 7.5, 100.0]),
    weight_scale=_magnitude(-3, 36),
    inhibition=_magnitude(-3, 36).map(abs),
    volt=_magnitude(-1, 38),
    rate=st.floats(0.0, 1.0),
)
def test_every_config_that_validates_runs_to_finite_values(
    model, n_input, n_output, steps, dt, weight_scale, inhibition, volt, rate
):
    fields = dict(
        neuron_model=model, n_input=n_input, n_output=n_output, time=steps * dt, dt=dt,
        weight_scale=weight_scale, inhibition=inhibition, input_rate=rate * 1000.0 / dt,
        thresh=volt, rest=-abs(volt) / 2, reset=-abs(volt) / 3, refrac=0.0 if dt < 1e-2 else 5.0,
    )
    try:
        cfg = LabConfig(**fields)
    except ValueError:
        return  # refused: fine, as long as it is a ValueError naming the field
    rec = run_config(cfg)
    assert rec.completed
    assert np.isfinite(rec.voltages("B")).all(), f"a validated config gave non-finite voltages: {cfg}"
    assert np.isfinite(rec.rate("B")[1]).all(), f"a validated config gave a non-finite rate: {cfg}"


@pytest.mark.parametrize("fields", [
    # at the edges of what is accepted: each must validate and run
    dict(dt=1e-6, time=1e-5, refrac=0.0),
    dict(dt=_limits.MIN_DT_FOR_RATE * 10, time=_limits.MIN_DT_FOR_RATE * 30, refrac=0.0, input_rate=0.0),
    dict(weight_scale=1e33, n_input=10, n_output=10, time=20.0),
    dict(inhibition=1e33, n_input=10, n_output=10, time=20.0, weight_scale=50.0),
    dict(rest=-1e37, reset=-1e37, thresh=1e37, n_input=5, n_output=5, time=10.0),
    dict(neuron_model="Izhikevich", thresh=9e18, rest=-65.0, reset=-65.0, n_input=5, n_output=5, time=10.0),
    dict(tc_decay=2e-38, n_input=5, n_output=5, time=10.0),
    dict(tc_decay=3e38, n_input=5, n_output=5, time=10.0),
], ids=["dt 1e-6", "dt at the rate bound", "weight_scale 1e33", "inhibition 1e33", "voltages 1e37",
        "Izhikevich thresh 9e18", "tc_decay tiny", "tc_decay huge"])
def test_configs_at_the_bounds_run_to_finite_values(fields):
    cfg = LabConfig(**fields)
    rec = run_config(cfg)
    assert rec.completed and rec.steps == cfg.n_steps
    assert np.isfinite(rec.voltages("B")).all() and np.isfinite(rec.rate("B")[1]).all()


# -- wrong types ----------------------------------------------------------------

WRONG_TYPES = {
    "n_input str": {"n_input": "10"},
    "n_input float": {"n_input": 10.0},
    "n_input bool": {"n_input": True},
    "n_output None": {"n_output": None},
    "time list": {"time": [500]},
    "dt dict": {"dt": {"v": 1}},
    "seed float": {"seed": 1.5},
    "neuron_model int": {"neuron_model": 3},
    "traced str": {"traced": "0,1"},
    "traced floats": {"traced": [0.5]},
    "traced bools": {"traced": [True]},
    "input_rate bool": {"input_rate": False},
}


@pytest.mark.parametrize("name", list(WRONG_TYPES))
def test_wrong_types_are_type_errors_naming_the_field(name):
    fields = WRONG_TYPES[name]
    with pytest.raises(TypeError) as info:
        LabConfig.from_dict(fields)
    assert next(iter(fields)) in str(info.value)


def test_izhikevich_probe_matches_the_engine_step():
    """The validator's float32 probe is the engine's Izhikevich step: both leave
    float32 at the same step under the same (strong, constant) inhibition."""
    import torch

    from snnlab.network import Network
    from snnlab.network.monitors import Monitor
    from snnlab.network.nodes import IzhikevichNodes

    drive = -253.0
    failed = _limits._izhikevich_probe(1.0, 45.0, -65.0, -65.0, 0.0, drive, 1000)
    assert failed is not None
    layer = IzhikevichNodes(n=1, thresh=45.0, rest=-65.0)
    layer.a, layer.b, layer.c, layer.d = (torch.full((1,), v) for v in (0.02, 0.2, -65.0, 8.0))
    layer.S = torch.zeros(1, 1)
    net = Network(dt=1.0)
    net.add_layer(layer, name="I")
    net.add_monitor(Monitor(layer, ("v",)), name="m")
    net.run({"I": torch.full((failed + 5, 1), drive)}, time=failed + 5)
    v = net.monitors["m"].get("v")[:, 0, 0]
    assert torch.isfinite(v[:failed]).all() and not torch.isfinite(v[failed])
    # and a config that would meet this drive is refused
    with pytest.raises(ValueError, match="Izhikevich neuron driven"):
        LabConfig.for_model("Izhikevich", inhibition=0.25, time=1000.0)
