"""Diehl & Cook's own learning rule (BindsNET 0.3.4's ``DiehlAndCook``)."""

from __future__ import annotations

import torch

from ..dynamics import Param, merge, register
from ..dynamics.model import RuleModel
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

    # Event-driven on post-synaptic spikes (outer with s_post); the factor from the
    # weights before this step, clamped at 0 only when mu != 1 (as BindsNET 0.3.4).
    model = RuleModel(needs_traces=False, updates="""
        w = w + nu_post * outer(x_pre - x_tar, s_post) * where(mu == 1.0, wmax - w, maximum(wmax - w, 0.0) ** mu)
    """)

    def check_parameters(self, owner: str, values: dict) -> None:
        if not self.source.traces:
            raise ValueError(f"{owner} needs a spike trace on the source: create it with traces=True")
        if not bool(torch.isfinite(torch.as_tensor(self.connection.wmax)).all()):
            raise ValueError(f"{owner} needs a finite wmax on the connection, got wmax={self.connection.wmax}")
