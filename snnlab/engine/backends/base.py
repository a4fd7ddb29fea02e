"""The back-end protocol: how a block of steps of a planned run is executed.

A back-end is an object with

* ``name``: how :func:`snnlab.engine.use_backend` and ``network.last_backend`` call it;
* ``available()``: whether it can run on this machine at all (libraries, devices);
* ``why_not(plan)``: None if it can run this plan, else the reason, in words;
* ``supports(plan)``: ``why_not(plan) is None``;
* ``run_block(network, plan, ext, start, b0, b1)``: simulate steps ``[b0, b1)``
  of the run (``ext``: external input rows from step ``start``), reading and
  writing only the public state of the plan's layers, connections and
  monitors. Returns False, with the state as before, if it had to give up on
  this block (the engine then runs the block eagerly, unless the back-end
  was forced).
* ``block_steps``: how many steps it takes per call.

Back-ends keep per-network caches (compiled code, captured graphs) in
:func:`cache_for`, outside the network (so a copy of a network starts clean).
"""

from __future__ import annotations

import weakref
from typing import Dict, Optional

__all__ = ["Backend", "cache_for"]

_CACHES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cache_for(network, backend: str) -> Dict[str, object]:
    """A dict a back-end may keep per network (dropped with the network)."""
    per_net = _CACHES.get(network)
    if per_net is None:
        per_net = _CACHES[network] = {}
    return per_net.setdefault(backend, {})


class Backend:
    """Base of the back-ends (see the module docstring for the protocol)."""

    name: str = "?"
    block_steps: int = 256

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def unavailable_reason(self) -> Optional[str]:
        """None if the back-end can run on this machine, else why not."""
        return None

    def enabled_for(self, network, plan) -> bool:
        """Whether automatic selection may pick it for this network (its switches)."""
        return True

    def last_failure(self, network) -> str:
        """Why the last block was given up (for errors of a forced back-end)."""
        return cache_for(network, self.name).get("failed") or "unknown reason"

    def why_not(self, plan) -> Optional[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def supports(self, plan) -> bool:
        return self.why_not(plan) is None

    def prepare(self, network, plan, ext, wait: bool) -> bool:
        """Whether the back-end is ready to run this plan now (compiled code).
        Unless ``wait``, it may start preparing in the background and say False
        (the engine then runs this chunk eagerly)."""
        return True

    def run_block(self, network, plan, ext, start: int, b0: int, b1: int) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError
