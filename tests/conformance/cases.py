"""The networks of the conformance matrix: small, active, deterministic data.

Every case is ``in`` (Input, 16 neurons, Bernoulli spikes) -> ``out`` (the
model under test, 10 neurons) with a plastic forward connection of the kind
and rule under test, and a fixed recurrent inhibition ``out -> out`` (so a
connection whose source is not an Input layer is always present). Inputs and
weights are drawn from a NumPy generator seeded by the case's name, so a case
is the same in every back-end and every process.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from .harness import Case, Segment
from .reference import ConnSpec, LayerSpec

N_IN, N_OUT = 16, 10
STEPS = (40, 40)  # two runs: state carries over from the first to the second
MODELS = ("McCullochPitts", "IF", "LIF", "CurrentLIF", "AdaptiveLIF", "DiehlAndCook", "DiehlAndCook1",
          "Izhikevich", "SRM0", "BoostedLIF", "CSRM", "CSRMAlpha")
KINDS = ("dense", "dense_bias", "sparse")
RULES = ("NoOp", "PostPre", "WeightDependentPostPre", "Hebbian", "MSTDP", "MSTDPET")
RULE_NU = {"NoOp": (0.0, 0.0), "PostPre": (0.02, 0.04), "WeightDependentPostPre": (0.05, 0.1),
           "Hebbian": (0.01, 0.02), "MSTDP": (0.05, 0.05), "MSTDPET": (0.1, 0.1),
           "DiehlAndCookRule": (0.0, 0.05), "Rmax": (0.002, 0.0)}
#: rules with their own cells, not in the product: Diehl & Cook's rule on every model
#: (it needs a finite wmax, which every plastic cell has), Rmax on SRM0 only (it reads s_prob)
RULE_CELLS = tuple((m, k, "DiehlAndCookRule") for m in MODELS for k in KINDS) + tuple(("SRM0", k, "Rmax") for k in KINDS)

# Forward weight scale (mV per spike) that keeps each model active but not saturated.
W_SCALE = {"McCullochPitts": 2.0, "IF": 3.0, "LIF": 3.0, "CurrentLIF": 2.0, "AdaptiveLIF": 3.0, "DiehlAndCook": 3.0,
           "DiehlAndCook1": 3.0, "Izhikevich": 9.0, "SRM0": 1.0, "BoostedLIF": 3.0, "CSRM": 3.0, "CSRMAlpha": 6.0}


def dyadic(a) -> np.ndarray:
    """Round to multiples of 1/64: sums of a few such weights are exact in float32
    whatever their order, so the order in which a back-end adds a layer's inputs
    cannot change a spike (learning makes weights arbitrary again)."""
    return (np.round(np.asarray(a, dtype=np.float64) * 64) / 64).astype(np.float32)


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def out_layer(model: str, rng, n: int = N_OUT, additive: bool = False) -> LayerSpec:
    """The layer under test, with per-model parameters (some per neuron)."""
    kw = dict(traces=True, traces_additive=additive, tc_trace=15.0 if additive else 20.0,
              trace_scale=0.5 if additive else 1.0)
    if model == "McCullochPitts":
        return LayerSpec("McCullochPitts", n, {"thresh": 4.0}, **kw)
    if model == "IF":
        return LayerSpec("IF", n, {"thresh": -52.0, "reset": -65.0, "refrac": 3.0, "lbound": -70.0}, **kw)
    if model == "LIF":
        # a per-neuron membrane time constant
        tc = rng.uniform(20.0, 100.0, n).astype(np.float32)
        return LayerSpec("LIF", n, {"tc_decay": tc, "refrac": 4.0, "lbound": -68.0}, **kw)
    if model == "CurrentLIF":
        return LayerSpec("CurrentLIF", n, {"tc_i_decay": 3.0, "refrac": 2.0}, **kw)
    if model == "AdaptiveLIF":
        return LayerSpec("AdaptiveLIF", n, {"theta_plus": 2.0, "tc_theta_decay": 20.0}, **kw)
    if model == "DiehlAndCook":
        return LayerSpec("DiehlAndCook", n, {"theta_plus": 0.5, "tc_theta_decay": 200.0, "one_spike": False}, **kw)
    if model == "DiehlAndCook1":
        return LayerSpec("DiehlAndCook", n, {"theta_plus": 0.5, "tc_theta_decay": 200.0, "one_spike": True}, **kw)
    if model == "Izhikevich":
        r = rng.random(n).astype(np.float32)
        ex = np.arange(n) < int(0.8 * n)
        params = {
            "a": np.where(ex, 0.02, 0.02 + 0.08 * r).astype(np.float32),
            "b": np.where(ex, 0.2, 0.25 - 0.05 * r).astype(np.float32),
            "c": np.where(ex, -65.0 + 15.0 * r ** 2, -65.0).astype(np.float32),
            "d": np.where(ex, 8.0 - 6.0 * r ** 2, 2.0).astype(np.float32),
            "S": dyadic(rng.random((n, n)) * np.where(ex[None, :], 0.5, -1.0)),
        }
        return LayerSpec("Izhikevich", n, params, **kw)
    if model == "SRM0":
        return LayerSpec("SRM0", n, {"refrac": 3.0}, **kw)
    if model == "BoostedLIF":
        return LayerSpec("BoostedLIF", n, {"refrac": 3.0, "tc_decay": 40.0}, **kw)
    if model == "CSRM":
        # the exponential response kernel, per-neuron thresholds and membrane time constants, lbound
        thresh = (-62.0 + rng.random(n) * 4.0).astype(np.float32)
        tc = rng.uniform(200.0, 400.0, n).astype(np.float32)
        return LayerSpec("CSRM", n, {"thresh": thresh, "tc_decay": tc, "tau": 2.0, "res_window_size": 6.0,
                                     "ref_window_size": 4.0, "reset_const": 20.0, "theta_plus": 0.5,
                                     "tc_theta_decay": 100.0, "lbound": -75.0}, **kw)
    if model == "CSRMAlpha":
        # the alpha response kernel over the default windows (20 and 10 ms); no lbound; the
        # second run without learning (theta frozen: see matrix_case)
        return LayerSpec("CSRM", n, {"responseKernel": "AlphaKernel", "tau": 3.0, "thresh": -60.0, "tc_decay": 1e4,
                                     "reset_const": 10.0, "theta_plus": 0.25, "tc_theta_decay": 200.0}, **kw)
    raise ValueError(model)


def forward_conn(kind: str, rule: str, model: str, rng, n_in: int = N_IN, n_out: int = N_OUT) -> ConnSpec:
    scale = W_SCALE[model]
    w = dyadic(rng.random((n_in, n_out)) * scale)
    if kind == "sparse":
        w[rng.random((n_in, n_out)) < 0.4] = 0.0
    b = dyadic(rng.random(n_out) * 0.3 * scale) if kind == "dense_bias" else None
    plastic = rule != "NoOp"
    # MSTDP/MSTDPET with their own parameters away from the defaults (given through the Connection).
    own = dict(tc_plus=15.0, tc_minus=25.0, a_plus=0.8, a_minus=-0.6, tc_e_trace=30.0) if rule.startswith("MSTDP") else {}
    if rule == "DiehlAndCookRule":  # mu 1 (no clamp), 2 and 0.5 (torch's special cases of pow), by kind
        own = dict(x_tar=0.25, mu={"dense": 1.0, "dense_bias": 2.0, "sparse": 0.5}[kind])
    if rule == "Rmax":  # tc_c finite, inf (Hebbian: s_prob is not read) and 0 (the strict gradient), by kind
        own = dict(tc_e_trace=30.0, tc_c={"dense": 5.0, "dense_bias": math.inf, "sparse": 0.0}[kind])
    return ConnSpec(
        "in", "out", w, kind="sparse" if kind == "sparse" else "dense", b=b, rule=rule, nu=RULE_NU[rule],
        # Bounds and decay where the weights change anyway; NoOp runs unbounded (fixed weights).
        wmin=0.0 if plastic else -math.inf, wmax=1.2 * scale if plastic else math.inf,
        weight_decay=1e-3 if plastic else 0.0, **own,
    )


def recurrent_conn(model: str, rng, n: int = N_OUT) -> ConnSpec:
    w = dyadic(-rng.random((n, n)) * 0.3 * W_SCALE[model])
    np.fill_diagonal(w, 0.0)
    return ConnSpec("out", "out", w)


def bernoulli(rng, steps: int, batch: int, n: int, p: float = 0.15) -> np.ndarray:
    return (rng.random((steps, batch, n)) < p).astype(np.float32)


def reward_for(rule: str, rng, batch: int):
    if rule not in ("MSTDP", "MSTDPET", "Rmax"):
        return None
    if batch == 1:
        return 1.0
    return rng.uniform(-1.0, 1.5, batch).astype(np.float32)  # one reward per sample


def matrix_case(model: str, kind: str, rule: str, batch: int = 1, steps=STEPS) -> Case:
    """One cell: ``model`` x connection ``kind`` x learning ``rule``."""
    name = f"{model}-{kind}-{rule}-b{batch}"
    rng = rng_for(name)
    # (Rmax learns from the source's additive trace)
    layers = [("in", LayerSpec("Input", N_IN, traces=True, traces_additive=rule == "Rmax")),
              ("out", out_layer(model, rng, additive=rule in RULES and RULES.index(rule) % 2 == 1))]
    conns = [forward_conn(kind, rule, model, rng), recurrent_conn(model, rng)]
    segments = []
    for T in steps:
        opts = {}
        reward = reward_for(rule, rng, batch)
        if reward is not None:
            opts["reward"] = reward
        if model == "CSRMAlpha" and segments:
            opts["train"] = False  # CSRM without learning: theta frozen (and the weights)
        segments.append(Segment(T, {"in": bernoulli(rng, T, batch, N_IN)}, opts))
    guided = ("out",) if model in ("DiehlAndCook1", "SRM0") else ()
    # Izhikevich's half-steps amplify float32 rounding near a spike (spec): a looser state tolerance.
    # Izhikevich's half-steps amplify float32 rounding near a spike about 1000x (spec):
    # a wider state tolerance, and v is not compared in the run-up to a spike (spikes stay exact).
    izh = model == "Izhikevich"
    return Case(name, layers, conns, segments, guided=guided, atol=5e-2 if izh else 1e-4, rtol=1e-2 if izh else 1e-5,
                skip_run_up=izh)
