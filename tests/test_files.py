"""Files snnlab writes atomically get the mode of any new file (0o666 & ~umask),
not the private 0600 of the temporary file they were written as."""

import os
import stat

import numpy as np
import pytest
import torch

from snnlab.network import Network
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection
from snnlab.recording import LayerRecording, Recording


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield 0o644
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def small_recording():
    s = np.zeros((10, 3), bool)
    s[2, 1] = True
    return Recording(dt=1.0, layers={"L": LayerRecording("L", (3,), "LIFNodes", s,
                                                         np.zeros((10, 1), np.float32), [0], -52.0)})


def test_recording_npz_has_the_ordinary_mode(tmp_path, umask_022):
    assert mode(small_recording().to_npz(tmp_path / "r.npz")) == umask_022


def test_saved_network_has_the_ordinary_mode(tmp_path, umask_022):
    net = Network()
    net.add_layer(Input(n=2), "A")
    net.add_layer(LIFNodes(n=2), "B")
    net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.ones(2, 2)), "A", "B")
    net.save(tmp_path / "net.pt")
    assert mode(tmp_path / "net.pt") == umask_022


def test_nwb_file_has_the_ordinary_mode(tmp_path, umask_022):
    nwb = pytest.importorskip("snnlab.io.nwb")
    nwb.export_nwb(small_recording(), tmp_path / "r.nwb")
    assert mode(tmp_path / "r.nwb") == umask_022


def test_a_private_umask_is_kept(tmp_path):
    old = os.umask(0o077)
    try:
        path = small_recording().to_npz(tmp_path / "r.npz")
    finally:
        os.umask(old)
    assert mode(path) == 0o600
