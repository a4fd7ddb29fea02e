"""R-max, a reward-modulated rule for stochastic neurons (BindsNET 0.3.4's ``Rmax``)."""

from __future__ import annotations

from ..dynamics import Param, merge, register
from ..dynamics.model import RuleModel
from ..dynamics.nodes import SRM0Nodes
from ..dynamics.rules import LearningRule

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

    # post_term: s_post - s_prob / (1 + tc_c / dt * s_prob), written so that
    # tc_c = inf (then 0 where s_prob is 0, not inf * 0) gives s_post itself
    model = RuleModel(
        state={"eligibility_trace": "synapse"},
        layer_state=("s_prob_post",),
        derived={"e_keep": "1 - dt / tc_e_trace", "c_per_dt": "tc_c / dt"},
        needs_traces=False,
        updates="""
            eligibility_trace = eligibility_trace * e_keep + outer(x_pre, s_post - where(s_prob_post > 0, s_prob_post / (1 + c_per_dt * s_prob_post), 0.0))
            w = w + nu_pre * sum_batch(reward * eligibility_trace)
        """,
    )

    def check_parameters(self, owner: str, values: dict) -> None:
        if not (self.source.traces and self.source.traces_additive):
            raise ValueError(f"{owner} needs an additive trace on the source: create it with traces=True, traces_additive=True")
        if not isinstance(self.target, SRM0Nodes):
            raise ValueError(f"{owner} needs stochastically firing target neurons (SRM0Nodes), got {type(self.target).__name__}")
