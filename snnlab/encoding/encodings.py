"""Spike encoding functions: intensities or rates in, spike trains ``[time / dt, *shape]`` out.

BindsNET's module path ``bindsnet.encoding.encodings``. Rates are in Hz and
times in ms; ``time`` must be a whole number of steps of ``dt``. Every function
returns ``bool`` spikes (BindsNET returns ``uint8``; both are 0/1 and both are
accepted by ``Network.run``) on ``device`` (default: the datum's device), and
never changes the caller's tensor.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..network._checks import check_real, describe, steps_from_time

__all__ = ["single", "repeat", "bernoulli", "poisson", "rank_order"]


def _datum(datum, what: str, device=None) -> torch.Tensor:
    if not isinstance(datum, torch.Tensor):
        try:
            datum = torch.as_tensor(datum, dtype=torch.float32)
        except Exception as ex:
            raise TypeError(f"{what}: datum must be a tensor of non-negative numbers, got {describe(datum)}") from ex
    if datum.is_complex() or datum.dtype == torch.bool:
        raise TypeError(f"{what}: datum must be a real tensor, got dtype {datum.dtype}")
    datum = datum.detach().to(torch.float32)
    if device is not None:
        try:
            datum = datum.to(device)
        except (RuntimeError, TypeError) as ex:
            raise ValueError(f"{what}: device={device!r} is not usable: {ex}") from ex
    if not torch.isfinite(datum).all():
        raise ValueError(f"{what}: datum contains NaN or inf values")
    if datum.numel() and (datum < 0).any():
        raise ValueError(f"{what}: datum must be non-negative, got min {datum.min().item()}")
    return datum


def _dt(dt) -> float:
    return check_real("dt", dt, positive=True, allow_tensor=False)


def poisson(
    datum,
    time: float,
    dt: float = 1.0,
    device=None,
    approx: bool = False,
    generator: Optional[torch.Generator] = None,
    **_ignored,
) -> torch.Tensor:
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
    device : str or torch.device, optional
        Where the spikes are made (default: the datum's device).
    approx : bool
        Accepted for BindsNET's signature. BindsNET then uses a cruder, faster
        sampler; snnlab's exact sampler is already one comparison a step, so
        the result is the same either way.
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
    datum = _datum(datum, "poisson", device)
    dt = _dt(dt)
    steps = steps_from_time(time, dt)
    # P(spike in a step) chosen so the expected count per step equals rate * dt,
    # up to the one-spike-a-step limit.
    p = (datum * (dt / 1000.0)).clamp(max=1.0)
    u = torch.rand((steps, *datum.shape), generator=generator, device=datum.device)
    return u < p


def bernoulli(
    datum,
    time: Optional[float] = None,
    dt: float = 1.0,
    device=None,
    max_prob: float = 1.0,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Bernoulli spike trains: each step a neuron spikes with probability
    ``max_prob * p``, where ``p`` is the datum itself when its values lie in
    [0, 1] and ``datum / max(datum)`` when some value exceeds 1 (as BindsNET).

    Parameters
    ----------
    datum : Tensor
        Non-negative intensities, any shape.
    time : float, optional
        Duration (ms), a whole number of steps of ``dt``. None: one draw of
        shape ``datum.shape`` (no time dimension), as BindsNET.
    dt : float
        Time step (ms).
    device : str or torch.device, optional
        Where the spikes are made (default: the datum's device).
    max_prob : float
        Spike probability per step of an intensity of 1, in [0, 1].

    Returns
    -------
    Tensor
        ``bool`` spikes of shape ``[time / dt, *datum.shape]``.

    Examples
    --------
    >>> s = bernoulli(torch.tensor([0.0, 1.0]), time=5)
    >>> s.shape, s[:, 1].all().item(), s[:, 0].any().item()
    (torch.Size([5, 2]), True, False)
    """
    datum = _datum(datum, "bernoulli", device)
    dt = _dt(dt)
    max_prob = check_real("max_prob", max_prob, allow_tensor=False)
    if not 0.0 <= max_prob <= 1.0:
        raise ValueError(f"max_prob must be a probability in [0, 1], got {max_prob}")
    shape = datum.shape if time is None else (steps_from_time(time, dt), *datum.shape)
    peak = datum.max() if datum.numel() else torch.tensor(0.0)
    p = datum / peak if peak > 1.0 else datum
    u = torch.rand(shape, generator=generator, device=datum.device)
    return u < max_prob * p


def single(datum, time: float, dt: float = 1.0, sparsity: float = 0.5, device=None, **_ignored) -> torch.Tensor:
    """One spike, at the first step, for every element above the ``1 - sparsity``
    quantile of the datum; nothing afterwards.

    Parameters
    ----------
    datum : Tensor
        Intensities, any shape.
    time : float
        Duration (ms), a whole number of steps of ``dt``.
    dt : float
        Time step (ms).
    sparsity : float
        Fraction of elements that spike, in [0, 1] (0: none, 1: all but ties
        with the minimum, as BindsNET: an element spikes when strictly above
        the quantile).
    device : str or torch.device, optional
        Where the spikes are made.

    Returns
    -------
    Tensor
        ``bool`` spikes ``[time / dt, *datum.shape]``; only row 0 has spikes.

    Examples
    --------
    >>> single(torch.tensor([1.0, 4.0, 2.0, 3.0]), time=3).int().tolist()
    [[0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    """
    if _ignored:
        raise TypeError(f"single() got unexpected keyword arguments {sorted(_ignored)}")
    if not isinstance(datum, torch.Tensor):
        datum = torch.as_tensor(datum, dtype=torch.float32)
    datum = datum.detach().to(torch.float32)
    if device is not None:
        datum = datum.to(device)
    if datum.numel() == 0:
        raise ValueError("single: datum is empty")
    sparsity = check_real("sparsity", sparsity, allow_tensor=False)
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    steps = steps_from_time(time, _dt(dt))
    quantile = torch.quantile(datum.flatten(), 1.0 - sparsity)
    spikes = torch.zeros((steps, *datum.shape), dtype=torch.bool, device=datum.device)
    spikes[0] = datum > quantile
    return spikes


def repeat(datum, time: float, dt: float = 1.0, **_ignored) -> torch.Tensor:
    """The datum repeated along a new first dimension for ``time / dt`` steps
    (a constant current input, not spikes).

    Returns
    -------
    Tensor
        ``[time / dt, *datum.shape]``, the datum's dtype.

    Examples
    --------
    >>> repeat(torch.tensor([1.5, 2.0]), time=2).tolist()
    [[1.5, 2.0], [1.5, 2.0]]
    """
    if _ignored:
        raise TypeError(f"repeat() got unexpected keyword arguments {sorted(_ignored)}")
    if not isinstance(datum, torch.Tensor):
        raise TypeError(f"repeat: datum must be a tensor, got {describe(datum)}")
    steps = steps_from_time(time, _dt(dt))
    return datum.detach().unsqueeze(0).repeat(steps, *([1] * datum.dim()))


def rank_order(datum, time: float, dt: float = 1.0, device=None, **_ignored) -> torch.Tensor:
    """Rank-order code: at most one spike per element, earlier for higher
    intensity. The spike time is proportional to ``1 / intensity``, scaled so
    that the weakest non-zero element would fire at the last step; elements
    whose time falls on the last step or later, and zeros, stay silent (as BindsNET).

    Parameters
    ----------
    datum : Tensor
        Non-negative intensities, any shape.
    time : float
        Duration (ms), a whole number of steps of ``dt``.
    dt : float
        Time step (ms).
    device : str or torch.device, optional
        Where the spikes are made.

    Returns
    -------
    Tensor
        ``bool`` spikes ``[time / dt, *datum.shape]``.

    Examples
    --------
    >>> rank_order(torch.tensor([4.0, 1.0, 2.0, 0.0]), time=4).int().tolist()
    [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    """
    if _ignored:
        raise TypeError(f"rank_order() got unexpected keyword arguments {sorted(_ignored)}")
    datum = _datum(datum, "rank_order", device)
    steps = steps_from_time(time, _dt(dt))
    flat = datum.flatten()
    spikes = torch.zeros((steps, flat.numel()), dtype=torch.bool, device=datum.device)
    nonzero = flat > 0
    if nonzero.any():
        latency = torch.zeros_like(flat)
        latency[nonzero] = flat.max() / flat[nonzero]  # 1 for the strongest element
        latency = torch.ceil(latency * (steps / latency.max())).long()  # weakest -> last step
        fire = nonzero & (latency < steps)
        idx = fire.nonzero().view(-1)
        spikes[latency[idx] - 1, idx] = True
    return spikes.view(steps, *datum.shape)
