"""R-max, a reward-modulated rule for stochastic neurons (BindsNET 0.3.4's ``Rmax``)."""

from __future__ import annotations

import math

import torch

from ..dynamics import Param, merge, register
from ..dynamics.nodes import SRM0Nodes
from ..dynamics.rules import LearningRule, _reward_tensor

__all__ = ["Rmax"]


@register
class Rmax(LearningRule):
    """Reward maximisation by policy gradient (Vasilaki et al. 2009), for
    ``SRM0Nodes`` targets (stochastic firing with probability ``s_prob``).

    Each step, per sample: the eligibility
    ``E *= 1 - dt / tc_e_trace``;
    ``E += outer(x_pre, s_post - s_prob / (1 + tc_c / dt * s_prob))``;
    then ``w += nu[0] * reward * E`` (summed over the batch). ``x_pre`` is the
    source's additive trace. ``tc_c = 0`` is the strict policy gradient,
    ``tc_c -> inf`` naive Hebbian learning (the paper's eq. 8).

    Needs a source with ``traces=True, traces_additive=True``, an
    ``SRM0Nodes`` target and a ``reward`` passed to ``Network.run``.
    """

    needs_reward = True

    params = merge(
        LearningRule.params,
        Param("tc_c", 5.0, "ms", low=0.0, finite=False, doc="balance of policy gradient (0) and Hebbian learning (inf)"),
        Param("tc_e_trace", 25.0, "ms", low=0.0, low_open=True, doc="time constant of the eligibility trace"),
    )

    def check_parameters(self, owner: str, values: dict) -> None:
        if not (self.source.traces and self.source.traces_additive):
            raise ValueError(f"{owner} needs an additive trace on the source: create it with traces=True, traces_additive=True")
        if not isinstance(self.target, SRM0Nodes):
            raise ValueError(f"{owner} needs stochastically firing target neurons (SRM0Nodes), got {type(self.target).__name__}")

    def reset_state_variables(self) -> None:
        self.eligibility_trace = None

    def _update(self, reward):
        c = self.connection
        batch = self.source.s.shape[0]
        w = c.weights()
        if self.eligibility_trace is None or self.eligibility_trace.shape[0] != batch or self.eligibility_trace.device != w.device:
            self.eligibility_trace = torch.zeros(batch, *w.shape, device=w.device)
        r = _reward_tensor("Rmax", reward, batch, self.eligibility_trace)
        s_post = self.target.s.reshape(batch, -1).to(torch.float32)
        p = getattr(self.target, "s_prob", None)
        p = torch.zeros_like(s_post) if p is None else p.reshape(batch, -1)
        if math.isinf(self.tc_c):
            post = s_post
        else:
            post = s_post - p / (1.0 + self.tc_c / self.dt * p)
        self.eligibility_trace.mul_(1.0 - self.dt / self.tc_e_trace)
        self.eligibility_trace.add_(c.outer(self.source.x, post))
        if self.nu[0]:
            c.add_to_weights(self.nu[0] * c.reduce(r * self.eligibility_trace))
