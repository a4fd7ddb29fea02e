"""Hostile network files: every name, shape and dtype is checked on load, and
``save`` is atomic (the previous file survives SIGKILL at any point).

Files are tampered with the way an attacker or a bug would: saved properly,
read back as plain data (``torch.load(weights_only=True)``), edited, written
again. Each must give a ``ValueError`` that names what is wrong (never
``KeyError``, ``AssertionError`` or a network that fails later).
"""

import copy
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from snnlab.network import Network, load
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import AdaptiveLIFNodes, Input, IzhikevichNodes, LIFNodes
from snnlab.network.topology import Connection, SparseConnection

ROOT = Path(__file__).resolve().parents[2]


def small_network():
    torch.manual_seed(0)
    net = Network(dt=1.0)
    net.add_layer(Input(n=10), name="A")
    net.add_layer(LIFNodes(n=30, thresh=-55.0), name="B")
    net.add_layer(AdaptiveLIFNodes(n=4), name="C")
    net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.rand(10, 30) * 5), "A", "B")
    net.add_connection(SparseConnection(net.layers["B"], net.layers["C"], sparsity=0.5, w=None), "B", "C")
    net.run({"A": (torch.rand(20, 10) < 0.3)}, time=20)
    return net


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "net.pt"
    small_network().save(path)
    return path


def tamper(path, edit):
    archive = torch.load(path, weights_only=True)
    edit(archive)
    torch.save(archive, path)


def _set(key, value):
    def edit(a):
        a["tensors"][key] = value
    return edit


def _layer(name):
    def pick(a):
        return next(e for e in a["spec"]["layers"] if e["name"] == name)
    return pick


def _edit_layer(name, fn):
    return lambda a: fn(_layer(name)(a))


def _edit_conn(i, fn):
    return lambda a: fn(a["spec"]["connections"][i])


TAMPERED = {
    # name: (edit, words in the message)
    "v of (1, 7) for 30 neurons": (_set("state/B/v", torch.zeros(1, 7)), "shape (1, 7)"),
    "v without the batch dimension": (_set("state/B/v", torch.zeros(30)), "expects (1, 30)"),
    "v float64": (_set("state/B/v", torch.zeros(1, 30, dtype=torch.float64)), "torch.float64"),
    "refrac_count int": (_set("state/B/refrac_count", torch.zeros(1, 30, dtype=torch.int32)), "torch.int32"),
    "spikes as floats": (_set("state/B/s", torch.zeros(1, 30)), "torch.float32"),
    "NaN voltage": (_set("state/B/v", torch.full((1, 30), float("nan"))), "NaN"),
    "theta of the wrong shape": (_set("state/C/theta", torch.zeros(5)), "shape (5,)"),
    "state overwrites thresh": (_set("state/B/thresh", torch.full((30,), 1e9)), "overwrite the parameter 'thresh'"),
    "state of an unknown variable": (_set("state/B/bogus", torch.zeros(1, 30)), "no state 'bogus'"),
    "state of an unknown layer": (_set("state/Z/v", torch.zeros(1, 30)), "belongs to no saved layer"),
    "tensor nothing refers to": (_set("extra/blob", torch.zeros(3)), "nothing refers to"),
    "header without tensors": (lambda a: a.pop("tensors"), "no tensors table"),
    "tensors table is a list": (lambda a: a.__setitem__("tensors", [torch.zeros(1)]), "no tensors table"),
    "tensor key not a string": (lambda a: a["tensors"].__setitem__(5, torch.zeros(1)), "expected name -> tensor"),
    "tensor value not a tensor": (_set("state/B/v", [0.0] * 30), "expected name -> tensor"),
    "sparse tensor in the table": (_set("state/B/v", torch.zeros(1, 30).to_sparse()), "dense tensor"),
    "dangling tensor reference": (
        _edit_layer("B", lambda e: e["params"].__setitem__("thresh", {"tensor": "layer/B/nothing"})),
        "does not hold",
    ),
    "tensor reference not a string": (
        _edit_layer("B", lambda e: e["params"].__setitem__("thresh", {"tensor": 7})), "does not hold",
    ),
    "unexpected value form": (
        _edit_layer("B", lambda e: e["params"].__setitem__("thresh", {"eval": "__import__('os')"})),
        "unexpected value",
    ),
    "float string other than inf/nan": (
        _edit_layer("B", lambda e: e["params"].__setitem__("thresh", {"float": "1e999999"})), "unexpected float",
    ),
    "unknown constructor parameter": (
        _edit_layer("B", lambda e: e["params"].__setitem__("frobnicate", 3)), "frobnicate",
    ),
    "bad parameter value": (_edit_layer("B", lambda e: e["params"].__setitem__("tc_decay", -5.0)), "tc_decay"),
    "unknown layer class": (_edit_layer("B", lambda e: e.__setitem__("class", "os.system")), "unknown class"),
    "layer without a name": (_edit_layer("B", lambda e: e.pop("name")), "no 'name'"),
    "layer name not a string": (_edit_layer("B", lambda e: e.__setitem__("name", ["B"])), "'name'"),
    "duplicate layer": (lambda a: a["spec"]["layers"].append(copy.deepcopy(a["spec"]["layers"][0])), "twice"),
    "layers not a list": (lambda a: a["spec"].__setitem__("layers", {"A": 1}), "'layers'"),
    "no layers key": (lambda a: a["spec"].pop("layers"), "no 'layers'"),
    "no connections key": (lambda a: a["spec"].pop("connections"), "no 'connections'"),
    "dt a string": (lambda a: a["spec"].__setitem__("dt", "1.0"), "'dt'"),
    "dt negative": (lambda a: a["spec"].__setitem__("dt", -1.0), "dt"),
    "batch_size zero": (lambda a: a["spec"].__setitem__("batch_size", 0), "batch_size"),
    "batch_size bool": (lambda a: a["spec"].__setitem__("batch_size", True), "batch_size"),
    "learning not bool": (lambda a: a["spec"].__setitem__("learning", "yes"), "learning"),
    "version 2": (lambda a: a["spec"].__setitem__("version", 2), "format version"),
    "no format": (lambda a: a["spec"].pop("format"), "no 'snnlab.network' header"),
    "w of the wrong shape": (_set("conn/A/B/w", torch.zeros(30, 10)), "expected (10, 30)"),
    "w float64": (_set("conn/A/B/w", torch.zeros(10, 30, dtype=torch.float64)), "torch.float64"),
    "w missing": (lambda a: a["tensors"].pop("conn/A/B/w"), "no tensor 'conn/A/B/w'"),
    "bias of the wrong shape": (_set("conn/A/B/b", torch.zeros(7)), "b is"),
    "connection to an unknown layer": (_edit_conn(0, lambda e: e.__setitem__("target", "Q")), "no saved layer 'Q'"),
    "unknown connection class": (_edit_conn(0, lambda e: e.__setitem__("class", "Evil")), "unknown class"),
    "unknown learning rule": (_edit_conn(0, lambda e: e.__setitem__("rule", "Evil")), "rule"),
    "unknown reduction": (_edit_conn(0, lambda e: e.__setitem__("reduction", "max")), "reduction"),
    "nu not a list": (_edit_conn(0, lambda e: e.__setitem__("nu", 0.1)), "'nu'"),
    "duplicate connection": (
        lambda a: a["spec"]["connections"].append(copy.deepcopy(a["spec"]["connections"][0])), "twice",
    ),
    "sparse index out of range": (
        lambda a: a["tensors"]["conn/B/C/rows"].__setitem__(0, 99), "outside",
    ),
    "sparse index negative": (lambda a: a["tensors"]["conn/B/C/cols"].__setitem__(-1, -1), "outside"),
    "sparse rows as floats": (
        lambda a: a["tensors"].__setitem__("conn/B/C/rows", a["tensors"]["conn/B/C/rows"].float()), "1-D int64",
    ),
    "sparse lengths differ": (
        lambda a: a["tensors"].__setitem__("conn/B/C/values", a["tensors"]["conn/B/C/values"][:-1]), "one length",
    ),
}


@pytest.mark.parametrize("name", list(TAMPERED))
def test_tampered_file_is_a_value_error_naming_the_problem(saved, name):
    edit, words = TAMPERED[name]
    tamper(saved, edit)
    with pytest.raises(ValueError) as info:
        load(saved)
    assert words in str(info.value), str(info.value)


def test_untampered_file_loads(saved):
    # the fixture itself is valid: the errors above come from the edits
    net = load(saved)
    assert list(net.layers) == ["A", "B", "C"]
    assert net.layers["B"].v.dtype == torch.float32


BROKEN_FILES = {
    "empty": b"",
    "random bytes": bytes(range(256)) * 4,
    "a text file": b"snnlab.network v1\n",
    "a zip without data.pkl": b"PK\x05\x06" + b"\x00" * 18,
}


@pytest.mark.parametrize("name", list(BROKEN_FILES))
def test_broken_files_are_value_errors(tmp_path, name):
    path = tmp_path / "net.pt"
    path.write_bytes(BROKEN_FILES[name])
    with pytest.raises(ValueError, match="not a saved snnlab network"):
        load(path)


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9, 0.999])
def test_truncated_files_are_value_errors(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="not a saved snnlab network"):
        load(saved)


def test_a_folder_is_not_a_network(tmp_path):
    with pytest.raises(IsADirectoryError):
        load(tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
@pytest.mark.parametrize("where", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_cuda_without_cuda_is_a_value_error(saved, where):
    with pytest.raises(ValueError, match="no CUDA device"):
        load(saved, map_location=where)
    with pytest.raises(ValueError, match="no CUDA device"):
        small_network().to(where)


@pytest.mark.parametrize("where, error", [("banana", ValueError), ("meta", ValueError), (3, TypeError), (["cpu"], TypeError)])
def test_bad_map_location(saved, where, error):
    with pytest.raises(error, match="map_location"):
        load(saved, map_location=where)


def test_map_location_cpu_works(saved):
    assert load(saved, map_location="cpu").layers["B"].v.device.type == "cpu"


def test_izhikevich_values_set_after_construction_survive(tmp_path):
    # a, b, c, d, S are not constructor parameters: they travel as checked state
    net = Network()
    izh = IzhikevichNodes(n=3)
    izh.d = torch.tensor([1.0, 2.0, 3.0])
    net.add_layer(izh, name="I")
    net.save(tmp_path / "i.pt")
    assert torch.equal(load(tmp_path / "i.pt").layers["I"].d, izh.d)
    tamper(tmp_path / "i.pt", _set("state/I/S", torch.zeros(4, 4)))
    with pytest.raises(ValueError, match="state/I/S"):
        load(tmp_path / "i.pt")


# -- atomic saves --------------------------------------------------------------------


def test_failed_save_keeps_the_previous_file(saved, monkeypatch):
    before = saved.read_bytes()
    net = small_network()
    net.connections[("A", "B")].reduction = max  # unsupported: save refuses before writing
    with pytest.raises(TypeError, match="reduction"):
        net.save(saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == ["net.pt"]

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        small_network().save(saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == ["net.pt"]  # no temporary left


def test_save_onto_a_folder_is_refused_and_leaves_nothing(tmp_path):
    (tmp_path / "net.pt").mkdir()
    with pytest.raises(IsADirectoryError):
        small_network().save(tmp_path / "net.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]


SAVER = textwrap.dedent("""
    import sys, torch
    from snnlab.network import Network
    from snnlab.network.nodes import Input, LIFNodes
    from snnlab.network.topology import Connection
    path = sys.argv[1]
    nets = []
    for version in (1.0, 2.0):
        net = Network()
        net.add_layer(Input(n=1500), name="A")
        net.add_layer(LIFNodes(n=1500), name="B")
        net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.full((1500, 1500), version)), "A", "B")
        nets.append(net)
    i = 0
    while True:
        nets[i % 2].save(path)
        print(i, flush=True)
        i += 1
""")


def test_sigkill_during_saves_never_leaves_a_broken_file(tmp_path):
    """Kill a process that re-saves a 9 MB network in a loop, at several points:
    the file always loads and is one of the two versions it was writing."""
    path = tmp_path / "net.pt"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Kill points spread over a save (the delays only vary where the kill lands;
    # the assertions hold wherever it lands).
    for kill_after, delay in ((1, 0.0), (2, 0.005), (2, 0.015), (3, 0.03), (4, 0.06), (5, 0.1)):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(kill_after):  # this many saves completed (the next one is under way)
            assert proc.stdout.readline(), "the saver died"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        net = load(path)  # never truncated, never empty
        value = float(net.connections[("A", "B")].w[0, 0])
        assert value in (1.0, 2.0)
        assert torch.all(net.connections[("A", "B")].w == value)
    # temporaries of killed saves are removed by the next save to the same path
    small_network().save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]
