"""The parameter record (snnlab.dynamics): checks, constructors, live changes,
the registry, persistence of users' own classes, and copying networks."""

from __future__ import annotations

import copy
import inspect
import math

import numpy as np
import pytest
import torch

from snnlab.dynamics import Param, parameters_of, register, registered, set_parameters
from snnlab.dynamics.model import NodeModel
from snnlab.learning import MSTDP, LearningRule, PostPre
from snnlab.network import Network, load
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import (
    AdaptiveLIFNodes, IFNodes, Input, IzhikevichNodes, LIFNodes, Nodes, SRM0Nodes,
)
from snnlab.network.topology import AbstractConnection, Connection, SparseConnection

from .conftest import ref_lif


# --------------------------------------------------------------------------- Param.check
def test_param_check_types_ranges_and_messages():
    tc = Param("tc_decay", 100.0, "ms", low=0.0, low_open=True, per_neuron=True)
    assert tc.check("LIFNodes", 5) == 5.0 and isinstance(tc.check("LIFNodes", 5), float)
    with pytest.raises(ValueError) as err:
        tc.check("LIFNodes", 0.0)
    assert "LIFNodes" in str(err.value) and "tc_decay" in str(err.value) and "0.0" in str(err.value)
    assert "(0, inf)" in str(err.value)
    with pytest.raises(TypeError, match="tc_decay"):
        tc.check("LIFNodes", "fast")
    with pytest.raises(TypeError, match="None"):
        tc.check("LIFNodes", None)
    with pytest.raises(ValueError, match="NaN"):
        tc.check("LIFNodes", torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match=r"\[-1, 2\]"):
        tc.check("LIFNodes", torch.tensor([-1.0, 2.0]))
    with pytest.raises(ValueError, match="does not fit the layer's shape"):
        tc.check("LIFNodes", torch.ones(3), shape=(4,))
    t = torch.full((4,), 10.0)
    out = tc.check("LIFNodes", t, shape=(4,))
    assert out.dtype == torch.float32 and out is not t  # a copy: the caller's tensor is never aliased


def test_param_check_closed_and_half_open_ranges_bool_int_tuple():
    frac = Param("excitatory", 1.0, low=0.0, high=1.0)
    assert frac.check("X", 1.0) == 1.0 and frac.check("X", 0) == 0.0
    with pytest.raises(ValueError):
        frac.check("X", 1.0001)
    decay = Param("weight_decay", 0.0, low=0.0, high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        decay.check("Connection", 1.0)
    flag = Param("traces", False, kind=bool)
    assert flag.check("X", True) is True
    with pytest.raises(TypeError):
        flag.check("X", 1)
    count = Param("k", 3, kind=int, low=1)
    assert count.check("X", 2) == 2
    with pytest.raises(TypeError):
        count.check("X", 2.5)
    nu = Param("nu", (0.0, 0.0), length=2)
    assert nu.check("PostPre", 0.5) == (0.5, 0.5)
    assert nu.check("PostPre", [1, 2]) == (1.0, 2.0)
    with pytest.raises(TypeError, match="nu"):
        nu.check("PostPre", (1.0, 2.0, 3.0))
    bound = Param("wmax", math.inf, finite=False)
    assert bound.check("Connection", math.inf) == math.inf
    with pytest.raises(ValueError):
        Param("thresh", -52.0).check("LIFNodes", math.inf)


# --------------------------------------------------------------------------- records and constructors
def _classes():
    return [c for c in registered().values() if c.__module__.startswith("snnlab.")]


def test_every_builtin_class_is_registered_with_a_record():
    names = set(registered())
    for expected in ("Input", "LIFNodes", "IFNodes", "CurrentLIFNodes", "AdaptiveLIFNodes", "DiehlAndCookNodes",
                     "IzhikevichNodes", "SRM0Nodes", "McCullochPitts", "Connection", "SparseConnection",
                     "NoOp", "PostPre", "WeightDependentPostPre", "Hebbian", "MSTDP", "MSTDPET"):
        assert expected in names
    for cls in _classes():
        params = cls.params
        assert isinstance(params, tuple) and all(isinstance(p, Param) for p in params), cls
        assert len({p.name for p in params}) == len(params), f"{cls.__name__} declares a name twice"
        for p in params:
            assert p.kind in (float, int, bool), (cls, p)
            assert p.unit in ("", "mV", "ms", "Hz", "1/ms"), (cls, p)
            if p.default is not None:
                assert p.check(cls.__name__, p.default) is not None  # defaults are valid values


@pytest.mark.parametrize("cls", [c for c in (Input, LIFNodes, IFNodes, AdaptiveLIFNodes, IzhikevichNodes, SRM0Nodes)])
def test_layer_constructor_keywords_are_the_record(cls):
    sig = inspect.signature(cls)
    keyword_only = [n for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keyword_only == [p.name for p in cls.params]
    assert list(sig.parameters)[:2] == ["n", "shape"]
    for p in cls.params:
        assert sig.parameters[p.name].default == p.default or (p.default is None and sig.parameters[p.name].default is None)


def test_inherited_parameters_and_changed_defaults():
    lif_names = [p.name for p in LIFNodes.params]
    adaptive = [p.name for p in AdaptiveLIFNodes.params]
    assert adaptive[: len(lif_names)] == lif_names and {"theta_plus", "tc_theta_decay"} <= set(adaptive)
    assert {p.name: p.default for p in SRM0Nodes.params}["thresh"] == -50.0
    assert "rest" not in {p.name for p in IFNodes.params}
    assert [p.name for p in Nodes.params] == [p.name for p in LIFNodes.params][: len(Nodes.params)]


def test_constructor_checks_every_value_with_the_record():
    with pytest.raises(ValueError, match="refrac"):
        LIFNodes(n=2, refrac=-1.0)
    with pytest.raises(TypeError, match="thersh"):
        LIFNodes(n=2, thersh=-50.0)
    with pytest.raises(ValueError, match="thresh has shape"):
        LIFNodes(n=3, thresh=torch.zeros(2))
    with pytest.raises(ValueError, match="weight_decay"):
        Connection(Input(n=1), LIFNodes(n=1), weight_decay=1.0)


def test_parameters_of_reads_current_values():
    layer = LIFNodes(n=2, thresh=-50.0, tc_decay=torch.tensor([10.0, 20.0]))
    params = parameters_of(layer)
    assert list(params) == [p.name for p in LIFNodes.params]
    p, value = params["thresh"]
    assert p.unit == "mV" and value == -50.0
    assert torch.equal(params["tc_decay"][1], torch.tensor([10.0, 20.0]))
    conn = Connection(Input(n=1, traces=True), LIFNodes(n=1, traces=True), update_rule=PostPre, nu=(0.1, 0.2), wmax=2.0)
    assert parameters_of(conn)["wmax"][1] == 2.0
    assert parameters_of(conn.update_rule)["nu"][1] == (0.1, 0.2)
    assert conn.nu == (0.1, 0.2)


# --------------------------------------------------------------------------- set_parameters
def test_set_parameters_recomputes_decays_and_is_atomic():
    layer = LIFNodes(n=2, traces=True)
    set_parameters(layer, tc_decay=20.0, tc_trace=5.0)
    assert layer.decays["decay"] == pytest.approx(math.exp(-1 / 20.0), rel=1e-6)
    assert layer.decays["trace_decay"] == pytest.approx(math.exp(-1 / 5.0), rel=1e-6)
    with pytest.raises(ValueError, match="refrac"):
        set_parameters(layer, thresh=-40.0, refrac=-2.0)
    assert layer.thresh == -52.0  # nothing half-changed
    with pytest.raises(TypeError, match="no parameter 'thersh'"):
        set_parameters(layer, thresh=-40.0, thersh=-40.0)
    assert layer.thresh == -52.0
    with pytest.raises(ValueError, match="traces"):
        set_parameters(layer, traces=False)  # live=False: changes the state's layout


def test_set_parameters_cross_checks_bounds_atomically():
    conn = Connection(Input(n=2), LIFNodes(n=2), wmin=0.0, wmax=1.0)
    with pytest.raises(ValueError, match="wmin"):
        set_parameters(conn, wmin=2.0, weight_decay=0.5)
    assert conn.wmin == 0.0 and conn.weight_decay == 0.0
    set_parameters(conn, wmin=-1.0, wmax=3.0)
    assert (conn.wmin, conn.wmax) == (-1.0, 3.0)


def test_set_parameters_between_chunks_takes_effect_at_the_next_chunk():
    net = Network()
    net.add_layer(LIFNodes(n=1), name="L")
    net.add_monitor(Monitor(net.layers["L"], ("v", "s")), name="L")
    x = torch.full((40, 1), 0.1)
    for chunk in net.run_chunks({"L": x}, time=40, chunk_steps=20):
        if chunk.stop == 20:
            set_parameters(net.layers["L"], thresh=-63.5, tc_decay=50.0)
    v = net.monitors["L"].get("v").view(-1).numpy()
    v1, s1 = ref_lif(np.full(20, 0.1), thresh=-52.0, tc_decay=100.0)
    v2, s2 = ref_lif(np.full(20, 0.1), thresh=-63.5, tc_decay=50.0, v0=v1[-1, 0])
    np.testing.assert_array_equal(v[:20], v1[:, 0])
    np.testing.assert_array_equal(v[20:], v2[:, 0])
    assert not s1.any() and s2.any()  # the new threshold is crossed only in the second chunk


def test_per_neuron_value_follows_the_layer_device_and_shape():
    layer = LIFNodes(shape=(2, 3))
    set_parameters(layer, thresh=torch.full((3,), -60.0))
    assert layer.thresh.shape == (3,) and layer.thresh.device == layer.v.device
    with pytest.raises(ValueError, match="does not fit"):
        set_parameters(layer, thresh=torch.zeros(2))


# --------------------------------------------------------------------------- learning-rule parameters
def test_rule_parameters_through_the_connection():
    pre, post = Input(n=2), LIFNodes(n=2)
    conn = Connection(pre, post, update_rule=MSTDP, nu=0.1, tc_plus=10.0, a_minus=-0.5)
    rule = conn.update_rule
    assert (rule.tc_plus, rule.tc_minus, rule.a_minus) == (10.0, 20.0, -0.5)
    assert rule.decays["plus_decay"] == pytest.approx(math.exp(-1 / 10.0))
    with pytest.raises(TypeError, match="tc_plsu"):
        Connection(pre, post, update_rule=MSTDP, tc_plsu=10.0)
    with pytest.raises(TypeError, match="tc_plus"):
        Connection(pre, post, tc_plus=10.0)  # NoOp takes no tc_plus
    with pytest.raises(ValueError, match="tc_plus"):
        Connection(pre, post, update_rule=MSTDP, tc_plus=0.0)
    set_parameters(rule, tc_plus=5.0)
    assert rule.decays["plus_decay"] == pytest.approx(math.exp(-1 / 5.0))


# --------------------------------------------------------------------------- registry and persistence
class _Leaky(LIFNodes):
    """A user's model: LIF with a scaled input (not registered at import)."""

    params = LIFNodes.params + (Param("gain", 1.0, low=0.0, per_neuron=True, doc="input gain"),)
    model = NodeModel(state=LIFNodes.model.state, init=LIFNodes.model.init, decays=LIFNodes.model.decays,
                      step="inp = inp * gain\n" + LIFNodes.model.step)


class _Scaled(PostPre):
    """A user's rule: PostPre with a depression factor."""

    params = PostPre.params + (Param("depression", 1.0, low=0.0, doc="scales the pre-before-post term"),)


def test_users_classes_save_and_load_by_registered_name(tmp_path):
    def build():
        net = Network()
        net.add_layer(Input(n=3, traces=True), name="A")
        net.add_layer(_Leaky(n=2, gain=2.5, traces=True), name="B")
        net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.ones(3, 2), update_rule=_Scaled,
                                      nu=(0.1, 0.2), depression=0.5), "A", "B")
        return net

    with pytest.raises(TypeError, match="register"):
        build().save(tmp_path / "unregistered.pt")
    register(_Leaky)
    register(_Scaled, name="ScaledPostPre")
    net = build()
    net.run({"A": torch.ones(5, 3)}, time=5)
    net.save(tmp_path / "net.pt")
    back = load(tmp_path / "net.pt")
    assert type(back.layers["B"]) is _Leaky and back.layers["B"].gain == 2.5
    rule = back.connections[("A", "B")].update_rule
    assert type(rule) is _Scaled and rule.depression == 0.5 and rule.nu == (0.1, 0.2)
    assert torch.equal(back.layers["B"].v, net.layers["B"].v)


def test_register_refuses_a_taken_name_and_a_class_without_record():
    class LIFNodes_(LIFNodes):
        pass

    with pytest.raises(ValueError, match="taken"):
        register(LIFNodes_, name="LIFNodes")

    class NoRecord:
        pass

    with pytest.raises(TypeError, match="parameter record"):
        register(NoRecord)


# --------------------------------------------------------------------------- copying
def _seed_like(one_rule=False):
    net = Network()
    net.add_layer(Input(n=20, traces=one_rule), name="X")
    net.add_layer(LIFNodes(n=10, traces=one_rule), name="Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], w=torch.rand(20, 10) * 8,
                                  update_rule=PostPre if one_rule else None, nu=(1e-3, 1e-3)), "X", "Y")
    net.add_connection(Connection(net.layers["Y"], net.layers["Y"], w=-torch.rand(10, 10)), "Y", "Y")
    net.add_monitor(Monitor(net.layers["Y"], ("s", "v")), name="Y")
    return net


@pytest.mark.parametrize("learning", [False, True])
def test_deepcopy_network_after_a_run_continues_identically(learning):
    net = _seed_like(learning)
    spikes = torch.rand(100, 20) < 0.2
    net.run({"X": spikes[:50]}, time=50)
    twin = copy.deepcopy(net)
    assert twin.layers["Y"] is not net.layers["Y"]
    assert twin.connections[("X", "Y")].update_rule.connection is twin.connections[("X", "Y")]
    net.run({"X": spikes[50:]}, time=50)
    twin.run({"X": spikes[50:]}, time=50)
    assert torch.equal(net.monitors["Y"].get("s"), twin.monitors["Y"].get("s"))
    assert torch.equal(net.connections[("X", "Y")].w, twin.connections[("X", "Y")].w)
    twin.request_stop()  # its own stop flag: the original is not affected
    assert not net.stop_flag.is_set()
