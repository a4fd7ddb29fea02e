"""Monitors (BindsNET's path ``snnlab.network.monitors``); defined in :mod:`snnlab.engine.monitors`."""

from ..engine.monitors import *  # noqa: F401,F403
from ..engine.monitors import __all__  # noqa: F401
