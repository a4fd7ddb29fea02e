"""Neuron kinds used by converted networks."""

from __future__ import annotations

import torch

from ..dynamics import Param, merge, register
from ..dynamics.model import NodeModel
from ..dynamics.nodes import Nodes

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

    # One description; every back-end's code comes from it (snnlab.dynamics.model).
    model = NodeModel(
        state=("v", "refrac_count"), init={"v": "reset", "refrac_count": 0.0},
        step="""
            v = v + where(refrac_count > 0, 0.0, inp)
            refrac_count = maximum(refrac_count - dt, 0.0)
            s = v >= thresh
            refrac_count = where(s, refrac, refrac_count)
            v = v - where(s, thresh, 0.0)
            if lbound:
                v = maximum(v, lbound)
        """,
    )


@register
class PassThroughNodes(Nodes):
    """A layer whose spikes are its input (``s = x != 0``), kept as ``v = x``
    too; for routing layers such as max-pooling in a converted network."""

    state_names = ("s", "v")

    model = NodeModel(state=("v",), init={"v": 0.0}, step="""
        v = inp
        s = inp != 0
    """)
