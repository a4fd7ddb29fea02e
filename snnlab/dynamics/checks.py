"""Input checks shared by the engine: each raises a ValueError or TypeError
that names the thing, the value received and what is expected.

Checks are plain ``if``/``raise`` (never ``assert``), so they survive
``python -O``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import torch

_FLOAT32_MAX = float(torch.finfo(torch.float32).max)
_FLOAT32_TINY = float(torch.finfo(torch.float32).tiny)

__all__ = [
    "check_positive_int",
    "check_real",
    "check_finite_tensor",
    "as_shape",
    "steps_from_time",
    "describe",
    "check_device",
]


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages."""
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype} on {value.device}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {describe(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value}")
    return int(value)


def check_real(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    allow_none: bool = False,
    allow_tensor: bool = True,
    allow_inf: bool = False,
):
    """Check a real parameter (a number or, if allowed, a tensor of numbers).

    Returns the value unchanged (a tensor is cloned to float32 so the caller's
    tensor is never aliased).
    """
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a number, got None")
    if isinstance(value, torch.Tensor):
        if not allow_tensor:
            raise TypeError(f"{name} must be a number, got {describe(value)}")
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got {describe(value)}")
        t = value.detach().to(torch.float32).clone()
        bad = torch.isnan(t) if allow_inf else ~torch.isfinite(t)
        if bad.any():
            raise ValueError(f"{name} contains NaN or inf values; expected finite numbers")
        if positive and (t <= 0).any():
            raise ValueError(f"{name} must be > 0 everywhere, got min {t.min().item()}")
        return t
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    try:
        value = float(value)
    except OverflowError as ex:  # a 400-digit int
        raise ValueError(f"{name} is too large for a float; expected a finite number") from ex
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    # The engine computes in float32: refuse what it would turn into inf or 0.
    if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
        raise ValueError(f"{name}={value!r} is not representable in float32; expected a magnitude at most {_FLOAT32_MAX:.4g}")
    if positive and value < _FLOAT32_TINY:
        raise ValueError(f"{name}={value!r} rounds to 0 in float32; expected at least {_FLOAT32_TINY:.4g}")
    return value


def all_finite(t: torch.Tensor) -> bool:
    """Whether a tensor holds no NaN or inf (one reduction in the usual case)."""
    if not t.is_floating_point() or t.numel() == 0:
        return True
    # A NaN or inf makes the sum non-finite; only then (or on overflow) test each element.
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def check_finite_tensor(name: str, t: torch.Tensor) -> None:
    """Raise if a floating tensor holds NaN or inf."""
    if not all_finite(t):
        raise ValueError(f"{name} contains NaN or inf values; expected finite numbers")


def as_shape(n: Any, shape: Any) -> tuple[int, ...]:
    """Resolve BindsNET's ``n``/``shape`` pair into a shape tuple."""
    if n is None and shape is None:
        raise ValueError("a layer needs n (number of neurons) or shape; got neither")
    if shape is not None:
        if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
            shape = (int(shape),)
        if not isinstance(shape, Sequence) and not isinstance(shape, torch.Size):
            raise TypeError(f"shape must be a sequence of positive integers, got {describe(shape)}")
        shape = tuple(check_positive_int("shape entry", s) for s in shape)
        if len(shape) == 0:
            raise ValueError("shape must have at least one dimension, got ()")
        size = math.prod(shape)
        if n is not None and check_positive_int("n", n) != size:
            raise ValueError(f"n={n} does not match shape {shape} (which holds {size} neurons)")
        return shape
    return (check_positive_int("n", n),)


def steps_from_time(time: Any, dt: float) -> int:
    """Number of steps in ``time`` ms at ``dt`` ms, refusing fractions.

    ``time / dt`` is rounded to the nearest integer and accepted only if it is
    that integer up to floating-point rounding (so 0.3 ms at dt 0.1 is 3 steps,
    where ``int(0.3 / 0.1)`` would give 2).
    """
    if isinstance(time, torch.Tensor) and time.numel() == 1 and not time.is_complex() and time.dtype != torch.bool:
        time = time.item()
    if isinstance(time, bool) or not isinstance(time, numbers.Real):
        raise TypeError(f"time must be a positive number of ms, got {describe(time)}")
    try:
        time = float(time)
    except OverflowError as ex:  # a 400-digit int
        raise ValueError("time is too large for a float; expected a positive, finite number of ms") from ex
    if not math.isfinite(time) or time <= 0:
        raise ValueError(f"time must be a positive, finite number of ms, got {time}")
    ratio = time / dt
    # Above 2**53 float64 no longer tells whole numbers apart (and round(inf)
    # raises OverflowError): refuse before rounding.
    if not math.isfinite(ratio) or ratio > 2**53:
        raise ValueError(
            f"time={time} ms at dt={dt} ms is {ratio:.3g} steps; expected at most 2**53 "
            f"(about 9.0e15) steps"
        )
    steps = round(ratio)
    if steps < 1 or abs(ratio - steps) > 1e-9 * max(1.0, abs(ratio)):
        raise ValueError(
            f"time={time} ms is not a whole number of steps of dt={dt} ms "
            f"(time/dt = {ratio:.6g}); expected a multiple of dt"
        )
    return int(steps)


def check_device(name: str, device: Any, *, allow_none: bool = False):
    """``device`` as a ``torch.device`` this machine has; ``ValueError`` otherwise.

    Torch itself answers ``"cuda"`` on a machine without CUDA with a bare
    ``AssertionError`` ("Torch not compiled with CUDA enabled") at first use.
    """
    if device is None and allow_none:
        return None
    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError as ex:
            raise ValueError(f"{name}={device!r} is not a device; expected e.g. 'cpu' or 'cuda:0'") from ex
    elif not isinstance(device, torch.device):
        raise TypeError(f"{name} must be a device name or torch.device, got {describe(device)}")
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}={str(device)!r}: this machine has no CUDA device (torch.cuda.is_available() "
                "is False); expected 'cpu'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name}={str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                "expected an index below that"
            )
        return device
    raise ValueError(f"{name}={str(device)!r}: expected 'cpu' or 'cuda[:index]'")
