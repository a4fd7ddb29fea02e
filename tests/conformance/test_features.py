"""Run options and network shapes against the reference, on every back-end:
clamp/unclamp, injects_v, weight masks, norm, weight decay and bounds,
one_step, train(False), reset_state_variables, a change of batch size,
dt != 1, external input into a non-Input layer, a Diehl & Cook circuit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from . import cases, harness
from .harness import Case, Segment
from .reference import ConnSpec, LayerSpec

BACKENDS = harness.available_backends()
N_IN, N = cases.N_IN, cases.N_OUT


def _base(name, rule="PostPre", model="LIF", kind="dense", **conn_kw):
    rng = cases.rng_for(name)
    layers = [("in", LayerSpec("Input", N_IN, traces=True)), ("out", cases.out_layer(model, rng))]
    fwd = cases.forward_conn(kind, rule, model, rng)
    for key, value in conn_kw.items():
        setattr(fwd, key, value)
    return rng, layers, [fwd, cases.recurrent_conn(model, rng)]


def _inputs(rng, steps, batch=1):
    return {"in": cases.bernoulli(rng, steps, batch, N_IN)}


def feature_cases():
    out = []

    rng, layers, conns = _base("clamp")
    T = 30
    per_step = rng.random((T, N)) < 0.1
    out.append(Case("clamp", layers, conns, [
        Segment(T, _inputs(rng, T), {"clamp": {"out": per_step}}),                 # [T, n]
        Segment(T, _inputs(rng, T), {"clamp": {"out": np.arange(N) % 4 == 0}}),   # [n], every step
    ]))

    rng, layers, conns = _base("unclamp")
    out.append(Case("unclamp", layers, conns, [
        Segment(T, _inputs(rng, T), {"unclamp": {"out": rng.random((T, N)) < 0.5}}),
        Segment(T, _inputs(rng, T), {"unclamp": {"in": np.arange(N_IN) < 4}}),    # unclamping an Input layer
    ]))

    rng, layers, conns = _base("clamp_batch", rule="Hebbian")
    out.append(Case("clamp_batch", layers, conns, [
        Segment(T, _inputs(rng, T, 2), {"clamp": {"out": rng.random((T, 2, N)) < 0.1}}),  # per sample
    ]))

    rng, layers, conns = _base("injects_v")
    out.append(Case("injects_v", layers, conns, [
        Segment(T, _inputs(rng, T), {"injects_v": {"out": cases.dyadic(rng.random(N) * 2.0)}}),
        Segment(T, _inputs(rng, T), {"injects_v": {"out": cases.dyadic(rng.random((T, N)) * 4.0 - 1.0)}}),
    ]))

    rng, layers, conns = _base("masks", rule="WeightDependentPostPre")
    mask = rng.random((N_IN, N)) < 0.3
    out.append(Case("masks", layers, conns, [
        Segment(T, _inputs(rng, T), {"masks": {("in", "out"): mask}}),
        Segment(T, _inputs(rng, T), {"masks": {("out", "out"): ~np.eye(N, dtype=bool) & (rng.random((N, N)) < 0.5)}}),
    ]))

    for kind in ("dense", "sparse"):
        rng, layers, conns = _base(f"norm_{kind}", kind=kind, norm=12.0)
        out.append(Case(f"norm_{kind}", layers, conns, [Segment(T, _inputs(rng, T)), Segment(T, _inputs(rng, T))]))

    # NoOp with decay and bounds: the weights change without learning from spikes;
    # the initial weights exceed wmax and are clamped when the connection is made.
    rng, layers, conns = _base("noop_decay_bounds", rule="NoOp", weight_decay=0.01, wmin=0.5, wmax=2.5)
    out.append(Case("noop_decay_bounds", layers, conns, [Segment(T, _inputs(rng, T))]))

    # one_step: in -> hid -> out, out -> hid back, external input into hid too.
    rng = cases.rng_for("one_step")
    layers = [("in", LayerSpec("Input", N_IN, traces=True)), ("hid", cases.out_layer("LIF", rng)),
              ("out", cases.out_layer("IF", rng))]
    conns = [cases.forward_conn("dense", "PostPre", "LIF", rng),
             ConnSpec("hid", "out", cases.dyadic(rng.random((N, N)) * 4.0)),
             ConnSpec("out", "hid", cases.dyadic(-rng.random((N, N)))),
             ]
    drive = {"hid": cases.dyadic(rng.random((T, 1, N)) * 2.0)}
    out.append(Case("one_step", layers, conns, [
        Segment(T, {**_inputs(rng, T), **drive}, {"one_step": True}),
        Segment(T, {**_inputs(rng, T), **drive}),  # and back to the synchronous mode
    ]))

    # train(False): weights and adaptive thresholds frozen; masks still applied.
    rng, layers, conns = _base("train_false", model="AdaptiveLIF")
    out.append(Case("train_false", layers, conns, [
        Segment(T, _inputs(rng, T)),
        Segment(T, _inputs(rng, T), {"train": False, "masks": {("in", "out"): rng.random((N_IN, N)) < 0.3}}),
        Segment(T, _inputs(rng, T), {"train": True}),
    ]))

    # reset_state_variables between runs; then a new batch size (state re-made).
    rng, layers, conns = _base("reset_and_batch", rule="MSTDPET", model="CurrentLIF")
    out.append(Case("reset_and_batch", layers, conns, [
        Segment(T, _inputs(rng, T), {"reward": 0.5}),
        Segment(T, _inputs(rng, T), {"reward": -1.0, "reset_before": True}),
        Segment(T, _inputs(rng, T, 3), {"reward": np.array([1.0, 0.0, -0.5], dtype=np.float32)}),
    ]))

    # dt = 0.5 ms: every decay from dt (membrane, traces, theta, MSTDPET's dt factor).
    rng, layers, conns = _base("dt_half", rule="MSTDPET", model="AdaptiveLIF")
    out.append(Case("dt_half", layers, conns, [Segment(2 * T, _inputs(rng, 2 * T), {"reward": 1.0})], dt=0.5))

    # A Diehl & Cook circuit: input -> excitatory (adaptive) <-> inhibitory, STDP on input -> exc.
    rng = cases.rng_for("diehl_cook")
    n_exc = 12
    exc = LayerSpec("DiehlAndCook", n_exc, {"theta_plus": 0.5, "tc_theta_decay": 500.0, "one_spike": False,
                                           "thresh": -52.0, "reset": -60.0, "refrac": 5.0}, traces=True)
    inh = LayerSpec("LIF", n_exc, {"thresh": -40.0, "rest": -60.0, "reset": -45.0, "tc_decay": 10.0, "refrac": 2.0})
    layers = [("X", LayerSpec("Input", N_IN, traces=True)), ("Ae", exc), ("Ai", inh)]
    conns = [ConnSpec("X", "Ae", cases.dyadic(rng.random((N_IN, n_exc)) * 3.0), rule="PostPre", nu=(0.01, 0.05),
                      wmin=0.0, wmax=4.0, norm=20.0),
             ConnSpec("Ae", "Ai", cases.dyadic(np.eye(n_exc) * 22.5)),
             ConnSpec("Ai", "Ae", cases.dyadic(-3.0 * (1 - np.eye(n_exc))))]
    out.append(Case("diehl_cook", layers, conns, [
        Segment(T, {"X": cases.bernoulli(rng, T, 1, N_IN, 0.2)}),
        Segment(T, {"X": cases.bernoulli(rng, T, 1, N_IN, 0.2)}, {"reset_before": True}),
    ]))
    # Layers of 2-D shape (inputs, clamps and state as [T, B, *shape]), per-neuron
    # thresholds, and a weight mask on a sparse connection.
    rng = cases.rng_for("shapes")
    thresh = (-52.0 - rng.random(12) * 4.0).astype(np.float32)
    layers = [("in", LayerSpec("Input", N_IN, traces=True, shape=(4, 4))),
              ("out", LayerSpec("AdaptiveLIF", 12, {"thresh": thresh, "theta_plus": 0.5, "tc_theta_decay": 100.0},
                                traces=True, shape=(3, 4)))]
    conns = [ConnSpec("in", "out", cases.dyadic(rng.random((N_IN, 12)) * 3.0) * (rng.random((N_IN, 12)) < 0.7),
                      kind="sparse", rule="PostPre", nu=(0.02, 0.04), wmin=0.0, wmax=4.0)]
    out.append(Case("shapes_sparse_mask", layers, conns, [
        Segment(T, _inputs(rng, T, 2), {"masks": {("in", "out"): rng.random((N_IN, 12)) < 0.3},
                                        "clamp": {"out": rng.random((T, 12)) < 0.05}}),
    ]))
    # CSRM: clamp and unclamp (its refractory window holds its own spikes, not the
    # forced ones), dt = 0.5 (windows of twice the steps), reset_state_variables
    # (windows zeroed, theta kept) and a new batch size (windows re-made).
    rng, layers, conns = _base("csrm_features", model="CSRM")
    out.append(Case("csrm_features", layers, conns, [
        Segment(2 * T, _inputs(rng, 2 * T), {"clamp": {"out": rng.random((2 * T, N)) < 0.1},
                                             "unclamp": {"out": rng.random((2 * T, N)) < 0.2}}),
        Segment(2 * T, _inputs(rng, 2 * T), {"reset_before": True}),
        Segment(2 * T, _inputs(rng, 2 * T, 2), {"clamp": {"out": rng.random((2 * T, 2, N)) < 0.1}}),
    ], dt=0.5))
    return out


FEATURES = {c.name: c for c in feature_cases()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(FEATURES))
def test_feature(name, backend):
    case = feature_cases()[list(FEATURES).index(name)]  # fresh arrays for every test
    try:
        spikes = harness.compare_case(case, backend)
    except harness.Unsupported as exc:
        if backend == "eager":
            raise AssertionError(f"the eager back-end must run everything: {exc}") from exc
        pytest.xfail(str(exc))
    assert all(v > 0 for v in spikes.values()), f"{name}: a silent layer tests nothing: {spikes}"


def test_clamped_spikes_do_not_reset_v():
    """The spec's clamp rule, pinned on the reference: a clamped neuron's v keeps integrating."""
    from .reference import ReferenceNetwork

    ref = ReferenceNetwork([("a", LayerSpec("LIF", 1))], [])
    rec = ref.run({"a": np.full((3, 1, 1), 1.0, dtype=np.float32)}, 3, clamp={"a": np.array([True])})
    assert rec["a"]["s"].all()
    d = float(np.exp(np.float32(-1.0) / np.float32(100.0)))
    expected = [-64.0, -65.0 + d + 1.0, -65.0 + d * (d + 1.0) + 1.0]
    np.testing.assert_allclose(rec["a"]["v"][:, 0, 0], expected, atol=1e-5)
