"""Every bad input of issue 2 gets a clear ValueError/TypeError and leaves the network as it was.

"Clear" is checked as: the message names the offending thing (layer name,
parameter) and shows the value received. "As it was" is checked by running
the network after the error and comparing with a fresh network's run.
"""

import subprocess
import sys

import pytest
import torch

from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import AdaptiveLIFNodes, IFNodes, Input, LIFNodes
from snnlab.network.topology import Connection

T = 12


def build():
    """A small deterministic network: Input A(3) -> LIF B(2) -> LIF C(2), monitors on B and C."""
    net = Network()
    a, b, c = Input(n=3), LIFNodes(n=2), AdaptiveLIFNodes(n=2, theta_plus=1.0)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    net.add_layer(c, name="C")
    net.add_connection(Connection(a, b, w=torch.tensor([[8.0, 3.0], [7.0, 9.0], [0.0, 6.0]])),
                       source="A", target="B")
    net.add_connection(Connection(b, c, w=torch.full((2, 2), 14.0)), source="B", target="C")
    net.add_monitor(Monitor(b, state_vars=("s", "v")), name="B")
    net.add_monitor(Monitor(c, state_vars=("s", "v", "theta")), name="C")
    return net


def good_input():
    x = torch.zeros(T, 3)
    x[::2, 0] = 1
    x[1::3, 1] = 1
    x[::4, 2] = 1
    return {"A": x}


def result(net):
    return {(m, v): net.monitors[m].get(v).clone() for m in ("B", "C") for v in ("s", "v")} | {
        "theta": net.layers["C"].theta.clone()}


def reference():
    net = build()
    net.run(inputs=good_input(), time=T)
    return result(net)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), k


def check_unchanged(net):
    """After the error, the network behaves exactly like a fresh one."""
    net.run(inputs=good_input(), time=T)
    assert_same(result(net), reference())


def raises_naming(exc, fn, *words):
    """``fn()`` raises ``exc``; its message contains every word (case-insensitive)."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value).lower()
    for w in words:
        assert str(w).lower() in msg, f"message {str(info.value)!r} does not mention {w!r}"
    return info


# --------------------------------------------------------------------------- run(): inputs

def test_input_for_unknown_layer():
    net = build()
    bad = good_input() | {"Z": torch.zeros(T, 3)}
    raises_naming(ValueError, lambda: net.run(inputs=bad, time=T), "'Z'")
    check_unchanged(net)


# (T, 1, 1, 3) is accepted: a step of another shape with the layer's element count is reshaped, as BindsNET
@pytest.mark.parametrize("shape", [(T, 4), (T, 1, 4), (T, 2, 2, 3), (T, 1, 1, 5)])
def test_input_of_wrong_shape(shape):
    net = build()
    bad = {"A": torch.zeros(*shape)}
    raises_naming(ValueError, lambda: net.run(inputs=bad, time=T), "'A'", str(tuple(shape))[1:-1].rstrip(","))
    check_unchanged(net)


def test_input_shorter_than_time():
    # Assumption: a [T, n] input cannot drive more than T steps; an error, not an IndexError.
    net = build()
    raises_naming(ValueError, lambda: net.run(inputs={"A": torch.zeros(5, 3)}, time=T), "'A'")
    check_unchanged(net)


@pytest.mark.parametrize("dtype", [torch.complex64])
def test_input_of_wrong_dtype(dtype):
    net = build()
    bad = {"A": torch.zeros(T, 3, dtype=dtype)}
    raises_naming((TypeError, ValueError), lambda: net.run(inputs=bad, time=T), "'A'", "complex")
    check_unchanged(net)


def test_input_not_a_tensor_like():
    net = build()
    raises_naming((TypeError, ValueError), lambda: net.run(inputs={"A": "spikes"}, time=T), "'A'")
    raises_naming((TypeError, ValueError), lambda: net.run(inputs=[torch.zeros(T, 3)], time=T), "inputs")
    check_unchanged(net)


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_inf_in_inputs(bad_value):
    net = build()
    x = torch.zeros(T, 2)
    x[3, 1] = bad_value
    raises_naming(ValueError, lambda: net.run(inputs=good_input() | {"B": x}, time=T), "'B'",
                  "nan" if bad_value != bad_value else "inf")
    check_unchanged(net)


def test_bad_second_input_does_not_change_batch_size():
    # The good input A has batch 4; the bad one B fails: nothing may be re-made for batch 4.
    net = build()
    bad = {"A": torch.zeros(T, 4, 3), "B": torch.zeros(T, 4, 7)}
    raises_naming(ValueError, lambda: net.run(inputs=bad, time=T), "'B'")
    assert net.monitors["B"].get("v").shape[0] == 0
    check_unchanged(net)


def test_bad_input_after_some_history_keeps_it():
    net = build()
    net.run(inputs={"A": good_input()["A"][:5]}, time=5)
    v_before = net.layers["B"].v.clone()
    rec_before = net.monitors["B"].get("v").clone()
    with pytest.raises(ValueError):
        net.run(inputs={"A": torch.zeros(T, 9)}, time=T)
    assert torch.equal(net.layers["B"].v, v_before)
    assert torch.equal(net.monitors["B"].get("v"), rec_before)


# --------------------------------------------------------------------------- run(): time

@pytest.mark.parametrize("time", [0, -5, -1.0])
def test_time_not_positive(time):
    net = build()
    raises_naming(ValueError, lambda: net.run(inputs=good_input(), time=time), "time", str(time))
    check_unchanged(net)


@pytest.mark.parametrize("time", [2.5, 11.9999])
def test_time_not_whole_number_of_steps(time):
    net = build()
    raises_naming(ValueError, lambda: net.run(inputs=good_input(), time=time), "time", str(time))
    check_unchanged(net)


@pytest.mark.parametrize("time", [float("nan"), float("inf"), "12", None])
def test_time_not_a_number(time):
    net = build()
    with pytest.raises((ValueError, TypeError)) as info:
        net.run(inputs=good_input(), time=time)
    assert "time" in str(info.value).lower()
    check_unchanged(net)


# --------------------------------------------------------------------------- run(): options

def test_clamp_for_unknown_layer_or_wrong_shape():
    net = build()
    raises_naming(ValueError, lambda: net.run(inputs=good_input(), time=T, clamp={"Q": torch.ones(2, dtype=torch.bool)}),
                  "'Q'")
    raises_naming(ValueError, lambda: net.run(inputs=good_input(), time=T, clamp={"B": torch.ones(5, dtype=torch.bool)}),
                  "'B'")
    raises_naming(ValueError, lambda: net.run(inputs=good_input(), time=T, unclamp={"B": torch.ones(T, 3, dtype=torch.bool)}),
                  "'B'")
    check_unchanged(net)


def test_mask_for_unknown_connection_or_wrong_shape():
    net = build()
    raises_naming(ValueError, lambda: net.run(inputs=good_input(), time=T,
                                              masks={("A", "C"): torch.ones(3, 2, dtype=torch.bool)}), "'C'")
    raises_naming(ValueError, lambda: net.run(inputs=good_input(), time=T,
                                              masks={("A", "B"): torch.ones(2, 3, dtype=torch.bool)}), "2, 3")
    check_unchanged(net)


def test_injects_v_wrong_shape():
    net = build()
    raises_naming(ValueError, lambda: net.run(inputs=good_input(), time=T, injects_v={"B": torch.ones(5)}), "'B'")
    check_unchanged(net)


def test_misspelled_run_option_is_a_type_error():
    net = build()
    with pytest.raises(TypeError):
        net.run(inputs=good_input(), time=T, clmap={"B": torch.ones(2, dtype=torch.bool)})
    check_unchanged(net)


# --------------------------------------------------------------------------- building

def test_duplicate_layer_name():
    net = build()
    layer_b = net.layers["B"]
    raises_naming(ValueError, lambda: net.add_layer(LIFNodes(n=2), name="B"), "'B'")
    assert net.layers["B"] is layer_b
    check_unchanged(net)


def test_duplicate_connection_and_monitor_name():
    net = build()
    raises_naming(ValueError, lambda: net.add_connection(
        Connection(net.layers["A"], net.layers["B"], w=torch.ones(3, 2)), source="A", target="B"), "'A'", "'B'")
    raises_naming(ValueError, lambda: net.add_monitor(Monitor(net.layers["B"], state_vars=("s",)), name="B"), "'B'")
    check_unchanged(net)


def test_connection_on_layer_not_in_network():
    net = build()
    raises_naming(ValueError, lambda: net.add_connection(
        Connection(net.layers["A"], net.layers["B"], w=torch.ones(3, 2)), source="A", target="X"), "'X'")
    # the connection's own target object is not the layer registered under that name
    stranger = LIFNodes(n=2)
    raises_naming(ValueError, lambda: net.add_connection(
        Connection(net.layers["B"], stranger, w=torch.ones(2, 2)), source="B", target="C"), "'C'")
    assert set(net.connections) == {("A", "B"), ("B", "C")}
    check_unchanged(net)


def test_monitor_on_layer_not_in_network():
    net = build()
    stranger = LIFNodes(n=2)
    raises_naming(ValueError, lambda: net.add_monitor(Monitor(stranger, state_vars=("v",)), name="X"), "'X'")
    assert set(net.monitors) == {"B", "C"}
    check_unchanged(net)


def test_monitor_of_missing_state_variable():
    net = build()
    with pytest.raises(ValueError) as info:
        net.add_monitor(Monitor(net.layers["A"], state_vars=("v",)), name="Av")
    assert "'v'" in str(info.value)
    with pytest.raises(ValueError) as info:
        net.add_monitor(Monitor(net.layers["B"], state_vars=("s", "voltage")), name="Bv")
    assert "'voltage'" in str(info.value)
    assert set(net.monitors) == {"B", "C"}
    check_unchanged(net)


@pytest.mark.parametrize("shape", [(2, 3), (3, 3), (6,), (3, 2, 1)])
def test_weight_matrix_of_wrong_shape(shape):
    a, b = Input(n=3), LIFNodes(n=2)
    raises_naming(ValueError, lambda: Connection(a, b, w=torch.ones(*shape)), "w", str(tuple(shape))[1:-1].rstrip(","),
                  "(3, 2)")


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_inf_in_weights(bad_value):
    a, b = Input(n=3), LIFNodes(n=2)
    w = torch.ones(3, 2)
    w[1, 1] = bad_value
    raises_naming(ValueError, lambda: Connection(a, b, w=w), "w", "nan" if bad_value != bad_value else "inf")
    raises_naming(ValueError, lambda: Connection(a, b, w=torch.ones(3, 2), b=torch.tensor([0.0, bad_value])), "b")


def test_bad_weight_set_between_runs_is_caught_before_simulating():
    # Assumption: a weight assigned after construction (as the lab does between chunks)
    # is checked when the run starts.
    net = build()
    conn = net.connections[("A", "B")]
    w_good = conn.w.clone()
    with torch.no_grad():
        conn.w[0, 0] = float("nan")
    with pytest.raises(ValueError):
        net.run(inputs=good_input(), time=T)
    with torch.no_grad():
        conn.w.copy_(w_good)
    check_unchanged(net)


@pytest.mark.parametrize("cls", [Input, LIFNodes, IFNodes, AdaptiveLIFNodes])
@pytest.mark.parametrize("kw", [{"n": 0}, {"n": -3}, {"shape": (0, 5)}, {"shape": (2, -1)}])
def test_size_zero_or_less(cls, kw):
    key, value = next(iter(kw.items()))
    bad_entry = value if key == "n" else [v for v in value if v < 1][0]
    raises_naming(ValueError, lambda: cls(**kw), key, str(bad_entry))


def test_n_and_shape_disagree_or_missing():
    with pytest.raises(ValueError):
        LIFNodes(n=5, shape=(2, 3))
    with pytest.raises((ValueError, TypeError)):
        LIFNodes()


@pytest.mark.parametrize("kw", [{"dt": 0.0}, {"dt": -1.0}, {"batch_size": 0}])
def test_network_bad_parameters(kw):
    raises_naming(ValueError, lambda: Network(**kw), next(iter(kw)))


def test_bounds_inverted():
    a, b = Input(n=3), LIFNodes(n=2)
    with pytest.raises(ValueError):
        Connection(a, b, wmin=1.0, wmax=0.0)


# --------------------------------------------------------------------------- explicit keywords

@pytest.mark.parametrize("make", [
    lambda: LIFNodes(n=3, thersh=-50.0),
    lambda: IFNodes(n=3, refrack=2),
    lambda: Input(n=3, trace=True),
    lambda: AdaptiveLIFNodes(n=2, theta_pluss=0.1),
    lambda: Connection(Input(n=1), LIFNodes(n=1), wmn=0.0),
    lambda: Connection(Input(n=1), LIFNodes(n=1), update_rul=None),
    lambda: Monitor(LIFNodes(n=1), state_vars=("v",), tme=5),
    lambda: Network(dtt=0.5),
])
def test_misspelled_keyword_is_a_type_error(make):
    with pytest.raises(TypeError):
        make()


# --------------------------------------------------------------------------- checks are not asserts

def test_checks_survive_python_O():
    code = (
        "import torch\n"
        "from snnlab.network import Network\n"
        "from snnlab.network.nodes import LIFNodes\n"
        "net = Network()\n"
        "net.add_layer(LIFNodes(n=2), name='B')\n"
        "try:\n"
        "    net.run(inputs={'B': torch.zeros(4, 7)}, time=4)\n"
        "except ValueError:\n"
        "    print('RAISED')\n"
    )
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=120)
    assert "RAISED" in out.stdout, out.stdout + out.stderr


# --------------------------------------------------------------------------- devices

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_mismatched_devices():
    net = build()
    x = good_input()["A"].cuda()
    raises_naming(ValueError, lambda: net.run(inputs={"A": x}, time=T), "'A'", "cuda")
    check_unchanged(net)
    a, b = Input(n=3), LIFNodes(n=2)
    net2 = Network()
    net2.add_layer(a, name="A")
    net2.add_layer(b, name="B")
    conn = Connection(a, b, w=torch.ones(3, 2).cuda())
    with pytest.raises(ValueError):
        net2.add_connection(conn, source="A", target="B")


# --------------------------------------------------------------------------- more misuse

def test_monitor_get_of_unrecorded_variable():
    net = build()
    net.run(inputs=good_input(), time=T)
    with pytest.raises((ValueError, KeyError)) as info:
        net.monitors["B"].get("theta")
    assert "theta" in str(info.value)


def test_connection_endpoints_must_be_layers():
    with pytest.raises(TypeError):
        Connection("A", LIFNodes(n=2))
    with pytest.raises(TypeError):
        Connection(Input(n=2), None)
    with pytest.raises(TypeError):
        Monitor("B", state_vars=("v",))


def test_add_layer_of_wrong_type_or_name():
    net = build()
    with pytest.raises(TypeError):
        net.add_layer("not a layer", name="Z")
    with pytest.raises((TypeError, ValueError)):
        net.add_layer(LIFNodes(n=2), name=3)
    assert list(net.layers) == ["A", "B", "C"]
    check_unchanged(net)


def test_same_layer_object_added_twice():
    # Assumption: one layer object under two names would share state; refused.
    net = build()
    with pytest.raises(ValueError):
        net.add_layer(net.layers["B"], name="B2")
    assert list(net.layers) == ["A", "B", "C"]


def test_reward_of_wrong_shape():
    from snnlab.learning import MSTDP

    net = Network()
    a, b = Input(n=2), LIFNodes(n=2)
    net.add_layer(a, name="A")
    net.add_layer(b, name="B")
    net.add_connection(Connection(a, b, w=torch.ones(2, 2), update_rule=MSTDP, nu=0.1), source="A", target="B")
    with pytest.raises(ValueError) as info:
        net.run(inputs={"A": torch.ones(5, 3, 2)}, time=5, reward=torch.ones(7))
    assert "reward" in str(info.value).lower()


def test_callable_chunk_inputs_of_wrong_shape():
    net = build()

    def inputs(start, stop):
        return {"A": torch.zeros(stop - start, 1, 4)}

    with pytest.raises(ValueError) as info:
        list(net.run_chunks(inputs, time=T, chunk_steps=4))
    assert "'A'" in str(info.value)
    net.reset_state_variables()
    check_unchanged(net)
