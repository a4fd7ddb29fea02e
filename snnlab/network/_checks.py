"""Input checks (kept at their old path); defined in :mod:`snnlab.dynamics.checks`."""

from ..dynamics.checks import *  # noqa: F401,F403
from ..dynamics.checks import _FLOAT32_MAX, __all__, all_finite  # noqa: F401
