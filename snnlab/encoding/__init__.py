"""Spike encoders: turn intensities into spike trains ``[time / dt, *shape]``.

Rates are in Hz and times in ms.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..dynamics.checks import check_real, describe, steps_from_time

__all__ = ["poisson", "bernoulli"]


def _datum(datum, what: str) -> torch.Tensor:
    if not isinstance(datum, torch.Tensor):
        try:
            datum = torch.as_tensor(datum, dtype=torch.float32)
        except Exception as ex:
            raise TypeError(f"{what}: datum must be a tensor of non-negative numbers, got {describe(datum)}") from ex
    datum = datum.detach().to(torch.float32)
    if not torch.isfinite(datum).all():
        raise ValueError(f"{what}: datum contains NaN or inf values")
    if (datum < 0).any():
        raise ValueError(f"{what}: datum must be non-negative, got min {datum.min().item()}")
    return datum


def poisson(datum, time: float, dt: float = 1.0, generator: Optional[torch.Generator] = None, **_ignored) -> torch.Tensor:
    """Poisson spike trains with the given rates.

    Each step of ``dt`` ms a neuron spikes with probability
    ``rate * dt / 1000``, so the expected spike count of a step, and thus the
    delivered rate, is exactly ``rate``, up to the one-spike-a-step limit of a
    clock-driven simulation (1000/dt Hz, where every step spikes). BindsNET's
    encoder saturates well below that (470 Hz asked 500 Hz at dt = 1).

    Parameters
    ----------
    datum : Tensor
        Rates (Hz), any shape, non-negative.
    time : float
        Duration (ms), a whole number of steps of ``dt``.
    dt : float
        Time step (ms).
    generator : torch.Generator, optional
        For reproducible spikes.

    Returns
    -------
    Tensor
        ``bool`` spikes of shape ``[time / dt, *datum.shape]``.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> spikes = poisson(torch.tensor([500.0, 20.0]), time=10_000, dt=1.0, generator=g)
    >>> spikes.shape
    torch.Size([10000, 2])
    >>> [round(r, -1) for r in (spikes.float().mean(0) * 1000).tolist()]  # Hz
    [500.0, 20.0]
    """
    if _ignored:
        raise TypeError(f"poisson() got unexpected keyword arguments {sorted(_ignored)}")
    datum = _datum(datum, "poisson")
    dt = check_real("dt", dt, positive=True, allow_tensor=False)
    steps = steps_from_time(time, dt)
    # P(spike in a step) chosen so the expected count per step equals rate * dt,
    # up to the one-spike-a-step limit.
    p = (datum * (dt / 1000.0)).clamp(max=1.0)
    u = torch.rand((steps, *datum.shape), generator=generator, device=datum.device)
    return u < p


def bernoulli(
    datum, time: float, dt: float = 1.0, max_prob: float = 1.0, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Bernoulli spike trains: each step a neuron spikes with probability
    ``max_prob * datum / max(datum)`` (intensities, not rates).

    Parameters
    ----------
    datum : Tensor
        Non-negative intensities, any shape.
    time : float
        Duration (ms), a whole number of steps of ``dt``.
    dt : float
        Time step (ms).
    max_prob : float
        Spike probability per step of the most intense element, in [0, 1].

    Returns
    -------
    Tensor
        ``bool`` spikes of shape ``[time / dt, *datum.shape]``.
    """
    datum = _datum(datum, "bernoulli")
    dt = check_real("dt", dt, positive=True, allow_tensor=False)
    max_prob = check_real("max_prob", max_prob, allow_tensor=False)
    if not 0.0 <= max_prob <= 1.0:
        raise ValueError(f"max_prob must be a probability in [0, 1], got {max_prob}")
    steps = steps_from_time(time, dt)
    peak = datum.max() if datum.numel() else torch.tensor(0.0)
    p = datum * (max_prob / peak) if peak > 0 else torch.zeros_like(datum)
    u = torch.rand((steps, *datum.shape), generator=generator, device=datum.device)
    return u < p
