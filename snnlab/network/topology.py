"""Connections (BindsNET's path ``snnlab.network.topology``); defined in :mod:`snnlab.dynamics.topology`."""

from ..dynamics.topology import *  # noqa: F401,F403
from ..dynamics.topology import __all__  # noqa: F401

# BindsNET's structured connections, defined in their own module (compat helper).
from .topology_extra import (  # noqa: E402
    Conv1dConnection,
    Conv2dConnection,
    Conv3dConnection,
    LocalConnection,
    LocalConnection1D,
    LocalConnection2D,
    LocalConnection3D,
    MaxPool1dConnection,
    MaxPool2dConnection,
    MaxPool3dConnection,
    MaxPoo3dConnection,
    MeanFieldConnection,
    MulticompartmentConnection,
)

__all__ = [*__all__,
    "Conv1dConnection", "Conv2dConnection", "Conv3dConnection", "MaxPool1dConnection", "MaxPool2dConnection",
    "MaxPool3dConnection", "LocalConnection", "LocalConnection1D", "LocalConnection2D", "LocalConnection3D",
    "MeanFieldConnection", "MulticompartmentConnection",
]

# BindsNET's topology module has no __all__, so `from bindsnet.network.topology import *`
# also gives `np` and `torch`, and scripts (BindsNET's own tests among them) rely on it.
import numpy as np  # noqa: E402
import torch  # noqa: E402

__all__ = [*__all__, "np", "torch"]
