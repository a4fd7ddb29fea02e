"""Ready-made networks of BindsNET's ``bindsnet.models``.

Built from snnlab's own layers and connections, so they run on every device,
with a batch dimension and with the engine's fast paths. Layer and connection
names are BindsNET's (``"X"``, ``"Ae"``, ``"Ai"``, ``"Y"``).
"""

from .models import (
    DiehlAndCook2015,
    DiehlAndCook2015v2,
    IncreasingInhibitionNetwork,
    LocallyConnectedNetwork,
    TwoLayerNetwork,
    WeightView,
)

__all__ = [
    "TwoLayerNetwork",
    "DiehlAndCook2015",
    "DiehlAndCook2015v2",
    "IncreasingInhibitionNetwork",
    "LocallyConnectedNetwork",
    "WeightView",
]
