"""Neuron kinds used by converted networks."""

from __future__ import annotations

import torch

from ..dynamics import Param, merge, register
from ..network.nodes import Nodes, _set_where

__all__ = ["SubtractiveResetIFNodes", "PassThroughNodes"]


@register
class SubtractiveResetIFNodes(Nodes):
    """Integrate-and-fire neurons that subtract the threshold on a spike
    (instead of resetting), so no input is lost: the firing rate tracks
    ``max(0, input) / thresh`` (a ReLU).

    Step: ``v += (refrac_count <= 0) * x``; ``refrac_count -= dt`` (not below
    0); spike where ``v >= thresh``; there ``v -= thresh`` and
    ``refrac_count = refrac``; clip at ``lbound``. ``v`` starts at ``reset``.

    Examples
    --------
    >>> layer = SubtractiveResetIFNodes(n=1, thresh=1.0, reset=0.0, refrac=0)
    >>> [bool(layer(torch.full((1, 1), 0.4))) for _ in range(5)]
    [False, False, True, False, True]
    """

    state_names = ("s", "v", "refrac_count")

    params = merge(
        Nodes.params,
        Param("thresh", -52.0, "mV", per_neuron=True, doc="spike threshold (subtracted from v on a spike)"),
        Param("reset", -65.0, "mV", per_neuron=True, doc="initial voltage"),
        Param("refrac", 5.0, "ms", low=0.0, per_neuron=True, doc="refractory period"),
        Param("lbound", None, "mV", doc="lower bound of v (None: unbounded)"),
    )

    def _make_state(self):
        super()._make_state()
        self._set_state("v", self._full(self.reset))
        self._set_state("refrac_count", self._full(0.0))

    def _step(self, x):
        v = self.v
        if x is not None:
            v.add_(x.masked_fill(self.refrac_count > 0, 0.0))
        self.refrac_count.sub_(self.dt).clamp_(min=0.0)
        s = torch.ge(v, self.thresh, out=self.s)
        _set_where(self.refrac_count, s, self.refrac)
        v.sub_(s.to(v.dtype) * self.thresh)
        if self.lbound is not None:
            v.clamp_(min=self.lbound)


@register
class PassThroughNodes(Nodes):
    """A layer whose spikes are its input (``s = x != 0``), kept as ``v = x``
    too; for routing layers such as max-pooling in a converted network."""

    state_names = ("s", "v")

    def _make_state(self):
        super()._make_state()
        self._set_state("v", self._full(0.0))

    def _step(self, x):
        if x is None:
            self.v.zero_()
            self.s.zero_()
        else:
            self.v.copy_(x)
            torch.ne(x, 0, out=self.s)
