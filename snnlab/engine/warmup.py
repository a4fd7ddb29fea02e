"""Compile (or load from numba's on-disk cache) the compiled CPU back-end ahead of use.

``python -c "from snnlab.engine.warmup import warm_up; warm_up()"`` (scripts/setup.sh
does it) so that a lab user's first run does not wait for the compiler.
"""

from __future__ import annotations

import torch

from ..network import Network
from ..dynamics.nodes import IFNodes, Input, LIFNodes
from ..dynamics.topology import Connection
from .monitors import Monitor
from .backends import BACKENDS
from .run import use_backend

__all__ = ["warm_up"]


def warm_up() -> None:
    """Run a tiny network on the "cpu" back-end (nothing if numba is missing)."""
    if not BACKENDS["cpu"].available():
        return
    net = Network()
    net.add_layer(Input(n=2, traces=True), "A")
    net.add_layer(LIFNodes(n=2, traces=True), "B")
    net.add_layer(IFNodes(n=2), "C")
    net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.ones(2, 2)), "A", "B")
    net.add_connection(Connection(net.layers["B"], net.layers["C"], w=torch.ones(2, 2)), "B", "C")
    net.add_monitor(Monitor(net.layers["B"], ("s", "v")), "B")
    with use_backend("cpu"):
        net.run(inputs={"A": torch.ones(4, 2)}, time=4)
