"""Learning rules (BindsNET's path ``snnlab.learning``); defined in :mod:`snnlab.dynamics.rules`."""

from ..dynamics.rules import *  # noqa: F401,F403
from ..dynamics.rules import __all__  # noqa: F401
