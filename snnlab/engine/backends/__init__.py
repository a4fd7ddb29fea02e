"""The back-ends, by name, and the order automatic selection tries them in.

See :mod:`snnlab.engine.backends.base` for the protocol.
"""

from __future__ import annotations

from .base import Backend, cache_for
from .cpu import CpuBackend
from .eager import EagerBackend
from .gpu import GraphBackend

__all__ = ["BACKENDS", "PREFERENCE", "Backend", "cache_for"]

BACKENDS = {
    "cuda-graphs": GraphBackend("cuda-graphs", capture=True, propagator="auto"),
    "triton": GraphBackend("triton", capture=False, propagator="triton"),
    "graph-emulate": GraphBackend("graph-emulate", capture=False, propagator="compact"),
    "cpu": CpuBackend(),
    "eager": EagerBackend(),
}
#: automatic selection takes the first that is available, enabled for the network and accepts the plan
PREFERENCE = ("cuda-graphs", "graph-emulate", "cpu", "triton", "eager")
