"""Connections (BindsNET's path ``snnlab.network.topology``); defined in :mod:`snnlab.dynamics.topology`."""

from ..dynamics.topology import *  # noqa: F401,F403
from ..dynamics.topology import __all__  # noqa: F401
