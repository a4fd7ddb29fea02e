"""Encoder objects: callables that hold the encoding's settings and turn one
datum into a spike train (used as a data set's ``image_encoder``).

BindsNET's module path ``bindsnet.encoding.encoders``.
"""

from __future__ import annotations

from . import encodings

__all__ = [
    "Encoder",
    "NullEncoder",
    "SingleEncoder",
    "RepeatEncoder",
    "BernoulliEncoder",
    "PoissonEncoder",
    "RankOrderEncoder",
]


class Encoder:
    """Base class: ``encoder(datum)`` calls ``self.enc(datum, *args, **kwargs)``
    with the arguments given to the constructor."""

    enc = None

    def __init__(self, *args, **kwargs) -> None:
        self.enc_args = args
        self.enc_kwargs = kwargs

    def __call__(self, datum):
        return type(self).enc(datum, *self.enc_args, **self.enc_kwargs)

    def __repr__(self) -> str:
        args = [repr(a) for a in self.enc_args] + [f"{k}={v!r}" for k, v in self.enc_kwargs.items()]
        return f"{type(self).__name__}({', '.join(args)})"


class NullEncoder(Encoder):
    """Returns the datum unchanged (not a spike encoding)."""

    def __init__(self) -> None:
        super().__init__()

    def __call__(self, datum):
        return datum


class SingleEncoder(Encoder):
    """:func:`snnlab.encoding.single` with ``time`` (ms), ``dt`` (ms), ``sparsity``."""

    enc = staticmethod(encodings.single)

    def __init__(self, time: float, dt: float = 1.0, sparsity: float = 0.5, **kwargs) -> None:
        super().__init__(time, dt=dt, sparsity=sparsity, **kwargs)


class RepeatEncoder(Encoder):
    """:func:`snnlab.encoding.repeat` with ``time`` (ms), ``dt`` (ms)."""

    enc = staticmethod(encodings.repeat)

    def __init__(self, time: float, dt: float = 1.0, **kwargs) -> None:
        super().__init__(time, dt=dt, **kwargs)


class BernoulliEncoder(Encoder):
    """:func:`snnlab.encoding.bernoulli` with ``time`` (ms), ``dt`` (ms), ``max_prob``."""

    enc = staticmethod(encodings.bernoulli)

    def __init__(self, time: float, dt: float = 1.0, **kwargs) -> None:
        super().__init__(time, dt=dt, **kwargs)


class PoissonEncoder(Encoder):
    """:func:`snnlab.encoding.poisson` with ``time`` (ms), ``dt`` (ms); the datum is rates in Hz.

    Examples
    --------
    >>> import torch
    >>> PoissonEncoder(time=50, dt=0.5)(torch.full((2, 3), 100.0)).shape
    torch.Size([100, 2, 3])
    """

    enc = staticmethod(encodings.poisson)

    def __init__(self, time: float, dt: float = 1.0, approx: bool = False, **kwargs) -> None:
        super().__init__(time, dt=dt, approx=approx, **kwargs)


class RankOrderEncoder(Encoder):
    """:func:`snnlab.encoding.rank_order` with ``time`` (ms), ``dt`` (ms)."""

    enc = staticmethod(encodings.rank_order)

    def __init__(self, time: float, dt: float = 1.0, **kwargs) -> None:
        super().__init__(time, dt=dt, **kwargs)
