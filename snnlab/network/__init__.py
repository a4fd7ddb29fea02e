"""The simulator: ``Network`` and, in submodules, nodes, topology and monitors.

BindsNET's module paths: ``snnlab.network.nodes``, ``snnlab.network.topology``,
``snnlab.network.monitors``.
"""

from . import monitors, nodes, topology
from .network import Chunk, Network
from .persistence import load

__all__ = ["Network", "Chunk", "load", "nodes", "topology", "monitors"]
