"""BindsNET's module path ``bindsnet.learning.learning``: every learning rule."""

from . import MSTDP, MSTDPET, Hebbian, LearningRule, NoOp, PostPre, WeightDependentPostPre  # noqa: F401
from .diehl_cook_rule import DiehlAndCook  # noqa: F401
from .rmax import Rmax  # noqa: F401

__all__ = ["LearningRule", "NoOp", "PostPre", "WeightDependentPostPre", "Hebbian", "DiehlAndCook", "MSTDP", "MSTDPET", "Rmax"]
