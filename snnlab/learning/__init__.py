"""Learning rules (BindsNET's path ``snnlab.learning``); defined in :mod:`snnlab.dynamics.rules`."""

from ..dynamics.rules import *  # noqa: F401,F403
from ..dynamics.rules import __all__  # noqa: F401

# Rules added for BindsNET 0.3.4's API, in their own modules (compat helper).
from .diehl_cook_rule import DiehlAndCook  # noqa: E402
from .rmax import Rmax  # noqa: E402

__all__ = [*__all__, "DiehlAndCook", "Rmax"]
