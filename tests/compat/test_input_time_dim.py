"""``run(input_time_dim=...)``: BindsNET's examples pass it and BindsNET 0.3.4
ignores it; snnlab runs the same and says it ignored it."""

import warnings

import pytest
import torch

from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection


def _net():
    net = Network()
    net.add_layer(Input(n=3), name="X")
    net.add_layer(LIFNodes(n=2), name="Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], w=torch.full((3, 2), 8.0)), "X", "Y")
    net.add_monitor(Monitor(net.layers["Y"], ("s",)), name="Y")
    return net


def test_input_time_dim_is_ignored_with_a_warning_and_the_run_is_time_first():
    x = {"X": (torch.arange(20 * 3).view(20, 3) % 3 == 0)}
    ref = _net()
    ref.run(inputs=x, time=20)
    net = _net()
    with pytest.warns(UserWarning, match=r"input_time_dim=1\) is ignored, as in BindsNET 0.3.4"):
        net.run(inputs=x, time=20, input_time_dim=1)
    assert torch.equal(net.monitors["Y"].get("s"), ref.monitors["Y"].get("s"))
    assert ref.monitors["Y"].get("s").any()


def test_input_time_dim_zero_is_silent_and_a_non_integer_is_refused():
    net = _net()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.run(inputs={"X": torch.ones(5, 3)}, time=5, input_time_dim=0)
    with pytest.raises(TypeError, match="input_time_dim must be an int, got"):
        net.run(inputs={"X": torch.ones(5, 3)}, time=5, input_time_dim="1")
