"""Diehl & Cook's own learning rule (BindsNET 0.3.4's ``DiehlAndCook``)."""

from __future__ import annotations

import torch

from ..dynamics import Param, merge, register
from ..dynamics.rules import LearningRule

__all__ = ["DiehlAndCook"]


@register
class DiehlAndCook(LearningRule):
    """Post-synaptic-spike-only STDP of Diehl & Cook (2015), section 2.3.

    On each post-synaptic spike:
    ``dw = nu[1] * (x_pre - x_tar) * (wmax - w) ** mu``, summed over the
    batch; pre-synaptic spikes change nothing (unlike :class:`PostPre`).
    ``x_pre`` is the source's trace (the paper's trace adds 1 a spike:
    create the source with ``traces_additive=True``). Only ``nu[1]`` is used.

    The connection needs a finite ``wmax`` and a source with ``traces=True``.
    Its own parameters go through the connection:
    ``Connection(a, b, update_rule=DiehlAndCook, nu=(0, 0.01), wmax=1.0, x_tar=0.4)``.
    """

    params = merge(
        LearningRule.params,
        Param("x_tar", 0.0, doc="target pre-synaptic trace: inputs whose trace is below it are depressed"),
        Param("mu", 1.0, low=0.0, low_open=True, doc="exponent of the weight dependence (wmax - w) ** mu"),
    )

    def check_parameters(self, owner: str, values: dict) -> None:
        if not self.source.traces:
            raise ValueError(f"{owner} needs a spike trace on the source: create it with traces=True")
        if not bool(torch.isfinite(torch.as_tensor(self.connection.wmax)).all()):
            raise ValueError(f"{owner} needs a finite wmax on the connection, got wmax={self.connection.wmax}")

    def _update(self, reward):
        c = self.connection
        nu_post = self.nu[1]
        if not nu_post or not self.target.s.any():
            return
        factor = c.wmax - c.weights()
        if self.mu != 1.0:
            factor = factor.clamp(min=0.0) ** self.mu
        c.add_to_weights(nu_post * c.outer_sum(self.source.x - self.x_tar, self.target.s) * factor)
