"""Features of a ``MulticompartmentConnection`` (BindsNET's ``bindsnet.network.topology_features``).

A multicompartment connection passes the source's spikes through a pipeline
of features, each a ``[source.n, target.n]`` value, folded in order: a
multiplicative feature ``a`` (``Weight``, ``Probability``, ``Mask``,
``Intensity``) turns ``A, B`` into ``a * A, a * B``; an additive one
(``Bias``) turns ``B`` into ``B + b``; starting from ``A = 1, B = 0``. The
target's input is ``s @ A + sum over sources of B``.

A feature's value is a number or a tensor broadcastable to ``[source.n, target.n]``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from ..dynamics.checks import check_finite_tensor, describe

__all__ = ["AbstractFeature", "Weight", "Bias", "Probability", "Mask", "Intensity", "SAVED_FEATURES"]


class AbstractFeature:
    """One stage of a multicompartment connection's pipeline.

    Parameters
    ----------
    name : str
        The feature's name (unique within a connection).
    value : number or Tensor, optional
        Its value, broadcastable to ``[source.n, target.n]``.
    range : (float, float), optional
        Bounds of the value.
    """

    op = "mul"
    default_range = (-math.inf, math.inf)

    def __init__(self, name: str, value=None, range: Optional[Sequence[float]] = None, **kwargs) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{type(self).__name__}: name must be a non-empty string, got {describe(name)}")
        self.name = name
        self.range = tuple(float(v) for v in (self.default_range if range is None else range))
        if len(self.range) != 2 or self.range[0] > self.range[1]:
            raise ValueError(f"{type(self).__name__} {name!r}: range must be (low, high) with low <= high, got {range}")
        self._initial = value
        self.connection = None
        self._key = None
        self._extra = kwargs

    # ------------------------------------------------------------- attach
    def _attach(self, connection, index: int) -> None:
        unknown = set(self._extra) - self._accepted()
        if unknown:
            raise TypeError(f"{type(self).__name__} {self.name!r}: unexpected keyword arguments {sorted(unknown)}")
        shape = (connection.source.n, connection.target.n)
        value = self._initial_value(shape)
        self.connection = connection
        self._key = f"feature{index}_{self.name}"
        connection.register_buffer(self._key, value)

    def _accepted(self) -> set:
        return set()

    def _initial_value(self, shape) -> torch.Tensor:
        value = self._initial
        if value is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} needs a value")
        return self._checked(value, shape)

    def _checked(self, value, shape) -> torch.Tensor:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = torch.full(shape, float(value))
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{type(self).__name__} {self.name!r}: value must be a number or a tensor, got {describe(value)}")
        try:
            value = value.detach().to(torch.float32).expand(shape).clone()
        except RuntimeError:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: value of shape {tuple(value.shape)} does not broadcast to {shape}"
            ) from None
        check_finite_tensor(f"{type(self).__name__} {self.name!r}", value)
        return value.clamp(*self.range)

    @property
    def value(self) -> torch.Tensor:
        """The feature's value ``[source.n, target.n]`` (the connection's own tensor)."""
        if self.connection is None:
            return self._initial
        return getattr(self.connection, self._key)

    def factor(self) -> torch.Tensor:
        """What this feature contributes to the fold this step."""
        return self.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Weight(AbstractFeature):
    """Synaptic weights (multiplicative), the learnable feature.

    ``learning_rule`` (a class from :mod:`snnlab.learning`, e.g. ``PostPre``),
    ``nu``, ``reduction``, ``decay`` (weight decay per step) and ``norm``
    (sum of the weights into each target neuron, restored after every run)
    become the connection's. ``value`` None: ``U(range)`` for a finite range,
    else ``U(0, 1)``. ``sparse=True`` is not supported (weights stay dense).
    Other keyword arguments (e.g. ``tc_plus`` for ``MSTDP``) go to the
    learning rule, as BindsNET; one the rule does not take raises ``TypeError``.
    """

    #: keyword arguments kept for BindsNET's signature (not the rule's)
    bindsnet_options = ("value_dtype", "batch_size", "norm_frequency", "enforce_polarity")

    def __init__(self, name: str, value=None, range=None, norm=None, learning_rule=None, nu=None, reduction=None,
                 decay: float = 0.0, sparse: bool = False, **kwargs) -> None:
        super().__init__(name, value, range, **kwargs)
        if sparse:
            raise ValueError(f"Weight {name!r}: sparse=True is not supported; snnlab keeps these weights dense")
        self.norm, self.learning_rule, self.nu, self.reduction, self.decay = norm, learning_rule, nu, reduction, decay

    def _accepted(self) -> set:
        return set(self.bindsnet_options)

    def rule_params(self) -> dict:
        """The keyword arguments meant for the learning rule (checked by the connection)."""
        return {k: v for k, v in self._extra.items() if k not in self._accepted()}

    def _attach(self, connection, index: int) -> None:
        if self._extra.get("value_dtype", torch.float32) != torch.float32:
            raise ValueError(f"Weight {self.name!r}: value_dtype must be torch.float32")
        self.connection = connection  # the value is the connection's w

    @property
    def value(self) -> torch.Tensor:
        return self._initial if self.connection is None else self.connection.w

    def initial_weights(self, shape) -> torch.Tensor:
        lo, hi = self.range
        if self._initial is None:
            if math.isfinite(lo) and math.isfinite(hi):
                return lo + torch.rand(shape) * (hi - lo)
            return torch.rand(shape).clamp(lo, hi)
        return self._checked(self._initial, shape)


class Bias(AbstractFeature):
    """An additive term per synapse (summed over the sources into each target)."""

    op = "add"


class Probability(AbstractFeature):
    """Each synapse transmits a spike with this probability (a fresh draw every step, torch's generator)."""

    default_range = (0.0, 1.0)

    def factor(self) -> torch.Tensor:
        return torch.bernoulli(self.value)


class Mask(AbstractFeature):
    """Which synapses exist: 1 (or True) keeps, 0 removes."""

    def _checked(self, value, shape) -> torch.Tensor:
        if isinstance(value, torch.Tensor) and value.dtype == torch.bool:
            value = value.float()
        return super()._checked(value, shape)


class Intensity(AbstractFeature):
    """A multiplicative scale per synapse."""


#: The feature classes a saved network may name, by class name: persistence
#: rebuilds only these (a user's own feature class is refused at save time).
SAVED_FEATURES = {cls.__name__: cls for cls in (Weight, Bias, Probability, Mask, Intensity)}
