"""Neuron models (BindsNET's path ``snnlab.network.nodes``); defined in :mod:`snnlab.dynamics.nodes`."""

from ..dynamics.nodes import *  # noqa: F401,F403
from ..dynamics.nodes import __all__  # noqa: F401
