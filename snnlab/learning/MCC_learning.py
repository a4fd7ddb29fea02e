"""BindsNET's module path ``bindsnet.learning.MCC_learning``: the rules a
``MulticompartmentConnection``'s ``Weight`` feature takes. In snnlab they are
the ordinary rules (the feature's value is the connection's ``w``)."""

from . import MSTDP, MSTDPET, Hebbian, LearningRule, NoOp, PostPre, WeightDependentPostPre  # noqa: F401
from .diehl_cook_rule import DiehlAndCook  # noqa: F401

MCC_LearningRule = LearningRule

__all__ = ["MCC_LearningRule", "NoOp", "PostPre", "WeightDependentPostPre", "Hebbian", "DiehlAndCook", "MSTDP", "MSTDPET"]
