"""Spike encoders: turn intensities into spike trains ``[time / dt, *shape]``.

Rates are in Hz and times in ms. The functions live in
:mod:`snnlab.encoding.encodings`, the encoder objects (for data sets) in
:mod:`snnlab.encoding.encoders` and lazy loaders in
:mod:`snnlab.encoding.loaders`, as in BindsNET.
"""

from . import encoders, encodings, loaders
from .encoders import (
    BernoulliEncoder,
    Encoder,
    NullEncoder,
    PoissonEncoder,
    RankOrderEncoder,
    RepeatEncoder,
    SingleEncoder,
)
from .encodings import bernoulli, poisson, rank_order, repeat, single
from .loaders import bernoulli_loader, poisson_loader, rank_order_loader

__all__ = [
    "encodings",
    "encoders",
    "loaders",
    "single",
    "repeat",
    "bernoulli",
    "poisson",
    "rank_order",
    "bernoulli_loader",
    "poisson_loader",
    "rank_order_loader",
    "Encoder",
    "NullEncoder",
    "SingleEncoder",
    "RepeatEncoder",
    "BernoulliEncoder",
    "PoissonEncoder",
    "RankOrderEncoder",
]
