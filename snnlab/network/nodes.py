"""Neuron models (BindsNET's path ``snnlab.network.nodes``); defined in :mod:`snnlab.dynamics.nodes`."""

from ..dynamics.nodes import *  # noqa: F401,F403
from ..dynamics.nodes import __all__, _set_where  # noqa: F401

# BindsNET's other node kinds, defined in their own module (compat helper).
from .nodes_extra import AbstractInput, BoostedLIFNodes, CSRMNodes  # noqa: E402,F401

__all__ = [*__all__, "AbstractInput", "BoostedLIFNodes", "CSRMNodes"]
