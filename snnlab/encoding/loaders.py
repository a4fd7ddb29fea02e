"""Lazy encoders of a sequence of data: one spike train per datum, made when asked.

BindsNET's module path ``bindsnet.encoding.loaders``.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

import torch

from .encodings import bernoulli, poisson, rank_order

__all__ = ["bernoulli_loader", "poisson_loader", "rank_order_loader"]


def bernoulli_loader(data: Iterable, time: Optional[float] = None, dt: float = 1.0, max_prob: float = 1.0) -> Iterator[torch.Tensor]:
    """Yield :func:`bernoulli` spike trains of ``data[0]``, ``data[1]``, ..."""
    for datum in data:
        yield bernoulli(datum, time=time, dt=dt, max_prob=max_prob)


def poisson_loader(data: Iterable, time: float, dt: float = 1.0) -> Iterator[torch.Tensor]:
    """Yield :func:`poisson` spike trains (rates in Hz) of each datum in turn."""
    for datum in data:
        yield poisson(datum, time=time, dt=dt)


def rank_order_loader(data: Iterable, time: float, dt: float = 1.0) -> Iterator[torch.Tensor]:
    """Yield :func:`rank_order` spike trains of each datum in turn."""
    for datum in data:
        yield rank_order(datum, time=time, dt=dt)
