"""Small networks with each structured connection kind (snnlab.network.topology_extra),
for comparing the fast back-ends with the eager one (test_structured.py,
test_capture_safety.py).

Each network is ``A`` (Input of the kind's source shape) -> ``H`` (LIF, same
shape, through a dense Connection) -> ``O`` (LIF, the kind's target shape)
through the kind, plus a second connection of the kind ``A -> O``: the first
is propagated step by step (from a layer's spikes), the second, from an
Input, as a block product where its weights are fixed.
"""

from __future__ import annotations

import math

import torch

from snnlab.learning import PostPre
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.network.nodes import Input, LIFNodes, SRM0Nodes
from snnlab.network.topology import Connection
from snnlab.network import topology_extra as tx
from snnlab.network.topology_features import Bias, Mask, Probability, Weight

#: kind -> (source shape, target shape, constructor keyword arguments, learns)
KINDS = {
    "Conv1d": ((2, 12), (3, 10), dict(kernel_size=3), True),
    "Conv2d": ((2, 6, 6), (3, 3, 3), dict(kernel_size=3, stride=2, padding=1), True),
    "Conv2d_bias": ((1, 5, 5), (2, 5, 5), dict(kernel_size=3, padding=1, b=torch.full((2,), 0.5)), True),
    "Conv3d": ((1, 4, 4, 4), (2, 3, 3, 3), dict(kernel_size=2), True),
    "MaxPool1d": ((2, 8), (2, 4), dict(kernel_size=2, stride=2, decay=0.5), False),
    "MaxPool2d": ((2, 6, 6), (2, 3, 3), dict(kernel_size=2, stride=2, decay=0.5), False),
    "MaxPool3d": ((1, 4, 4, 4), (1, 2, 2, 2), dict(kernel_size=2, stride=2, decay=0.5), False),
    "Local": ((36,), (32,), dict(kernel_size=3, stride=1, n_filters=2), True),
    "Local1D": ((2, 10), (16,), dict(kernel_size=3, stride=1, n_filters=2), True),
    "Local2D": ((1, 6, 6), (32,), dict(kernel_size=3, stride=1, n_filters=2), True),
    "Local3D": ((1, 4, 4, 4), (16,), dict(kernel_size=2, stride=2, n_filters=2), True),
    "MeanField": ((20,), (10,), dict(w=torch.linspace(5.0, 30.0, 10)), False),
    "Multicompartment": ((20,), (15,), dict(), True),
}

CLASSES = {
    "Conv1d": tx.Conv1dConnection, "Conv2d": tx.Conv2dConnection, "Conv2d_bias": tx.Conv2dConnection,
    "Conv3d": tx.Conv3dConnection, "MaxPool1d": tx.MaxPool1dConnection, "MaxPool2d": tx.MaxPool2dConnection,
    "MaxPool3d": tx.MaxPool3dConnection, "Local": tx.LocalConnection, "Local1D": tx.LocalConnection1D,
    "Local2D": tx.LocalConnection2D, "Local3D": tx.LocalConnection3D, "MeanField": tx.MeanFieldConnection,
    "Multicompartment": tx.MulticompartmentConnection,
}


def make_connection(kind: str, source, target, rule=None, scale: float = 1.0, random: bool = False, **extra):
    """One connection of ``kind`` from ``source`` to ``target`` (weights U(0, scale), seeded by the caller).

    ``random``: a multicompartment connection gets a Probability feature (a draw
    per synapse and step; spike for spike only where both back-ends draw in the
    same order: step by step, not in a block product of an Input's steps)."""
    src, tgt, kwargs, learns = KINDS[kind]
    kwargs = dict(kwargs, **extra)
    cls = CLASSES[kind]
    if kind == "Multicompartment":
        shape = (source.n, target.n)
        pipeline = [Weight("w", scale * torch.rand(shape), range=(0.0, scale), learning_rule=rule, nu=(1e-2, 1e-2)),
                    Mask("m", torch.rand(shape) < 0.7), Bias("b", 0.1)]
        if random:
            pipeline.insert(1, Probability("p", 0.8))
        return cls(source, target, pipeline=pipeline)
    if kind in ("MeanField",) or kind.startswith("MaxPool"):
        return cls(source, target, **kwargs)
    if rule is not None:
        kwargs = dict(dict(update_rule=rule, nu=(1e-2, 1e-2), wmin=0.0, wmax=scale), **kwargs)
    if "w" not in kwargs:
        probe = cls(source, target, **kwargs)  # the weight shape of this geometry
        w = scale * torch.rand(probe.w.shape)
        if kind == "Local":
            w = w.masked_fill(probe.mask, 0.0)
        kwargs["w"] = w
    return cls(source, target, **kwargs)


def build(kind: str, rule=None, seed: int = 0, scale: float = None, monitor: bool = True, **extra) -> Network:
    """The network of the module docstring for ``kind`` (``rule``: e.g. PostPre on both
    structured connections; ``extra``: more of their constructor's keyword arguments)."""
    src, tgt, _, learns = KINDS[kind]
    torch.manual_seed(seed)
    traces = rule is not None
    net = Network(dt=1.0)
    a = Input(shape=src, traces=traces)
    h = LIFNodes(shape=src, traces=traces)
    o = LIFNodes(shape=tgt, traces=traces, thresh=-60.0)
    n_src = math.prod(src)
    net.add_layer(a, "A")
    net.add_layer(h, "H")
    net.add_layer(o, "O")
    net.add_connection(Connection(a, h, w=12.0 * torch.rand(n_src, n_src) * (torch.rand(n_src, n_src) < 0.3)), "A", "H")
    if scale is None:
        scale = 4.0
    net.add_connection(make_connection(kind, h, o, rule, scale, random=True, **extra), "H", "O")
    net.add_connection(make_connection(kind, a, o, rule, scale, **extra), "A", "O")
    if monitor:
        for name in ("H", "O"):
            net.add_monitor(Monitor(net.layers[name], ("s", "v")), name)
    return net


def build_srm0(kind: str, rule, seed: int = 0, scale: float = 3.0, **extra) -> Network:
    """``A`` (Input of the kind's source shape, additive traces) -> ``O`` (SRM0, the kind's
    target shape) through the kind learning by ``rule`` (Rmax reads the target's ``s_prob``)."""
    src, tgt, _, _ = KINDS[kind]
    torch.manual_seed(seed)
    net = Network(dt=1.0)
    net.add_layer(Input(shape=src, traces=True, traces_additive=True), "A")
    net.add_layer(SRM0Nodes(shape=tgt), "O")
    net.add_connection(make_connection(kind, net.layers["A"], net.layers["O"], rule, scale, **extra), "A", "O")
    net.add_monitor(Monitor(net.layers["O"], ("s", "v")), "O")
    return net


def spikes(kind: str, time: int, batch: int = 1, p: float = 0.25, seed: int = 1) -> dict:
    """Input spikes for ``A``: ``[time, batch, *shape]`` (``[time, *shape]`` for a batch of one)."""
    g = torch.Generator().manual_seed(seed)
    shape = KINDS[kind][0]
    full = (time, *shape) if batch == 1 else (time, batch, *shape)
    return {"A": torch.rand(full, generator=g) < p}


RULE_KINDS = [k for k, v in KINDS.items() if v[3]]
__all__ = ["KINDS", "RULE_KINDS", "build", "build_srm0", "spikes", "make_connection", "PostPre"]
