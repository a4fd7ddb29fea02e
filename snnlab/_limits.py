"""What the engine can represent: bounds a config must meet so that it runs.

"Every config that validates can run." The engine steps in float32, so a
value that float64 holds may still break a run: ``weight_scale=1e300``
becomes ``inf`` in float32 and the weights NaN, ``rest=1e300`` makes torch
refuse the cast, ``dt=1e-300`` rounds to 0 so the refractory countdown never
ends and the population rate divides by zero. The bounds below come from the
float32 arithmetic of one step (``snnlab.network.nodes``: ``v = decay * (v -
rest) + rest``, ``v += x``, ``refrac_count -= dt``; rate ``spikes / (n * dt /
1000)``), not from taste:

``FLOAT32_MAX`` (3.4e38)
    Every number that enters the step is cast to float32: its magnitude must
    stay below this, or it becomes ``inf``.
``FLOAT32_TINY`` (1.2e-38)
    A time step or time constant below float32's smallest normal number
    rounds to 0 (or loses its precision): refused.
``MIN_DT_FOR_RATE`` = 1000 / FLOAT32_MAX (2.9e-36 ms)
    The population rate of one step is at most ``1000 / dt`` Hz (every neuron
    spiking); below this ``dt`` it is ``inf``.
Refractory countdown
    ``refrac_count -= dt`` must change ``refrac_count``: in float32,
    ``refrac - dt < refrac``, i.e. ``dt`` at least about ``refrac * 2**-24``
    (checked by doing the float32 subtraction itself).
``MAX_STEPS`` = 2**53
    ``time / dt`` is rounded to a step count; above 2**53 float64 no longer
    tells whole numbers apart (and ``round(inf)`` raises ``OverflowError``).
Voltage range
    A step adds at most ``drive = n_input * |weight_scale| + (n_output - 1) *
    inhibition`` mV to a voltage: a forward weight is ``weight_scale * (0.05
    + 0.1 z)`` with ``z`` a standard normal from torch's Box-Muller, whose
    uniforms carry at most 53 bits, so ``|z| <= sqrt(2 * 53 * ln 2) = 8.6``
    and ``|weight| < |weight_scale|``; a spiking output neuron sends
    ``-inhibition`` to each of the others. Over a run the voltage drifts by
    at most ``n_steps * drive`` from the largest of ``|thresh|, |rest|,
    |reset|``. That worst case must stay below ``FLOAT32_MAX / 2`` (so ``v -
    rest`` is finite too). For Izhikevich neurons the step also computes
    ``0.04 * v ** 2``, squaring first: the limit is ``sqrt(FLOAT32_MAX) / 2``
    (9.2e18 mV). For the linear models (LIF, IF, AdaptiveLIF) this bound is a proof;
    for Izhikevich's quadratic step it is a necessary condition only.

The checks raise ``ValueError`` naming the field, the value and the range
that is representable.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "FLOAT32_MAX",
    "FLOAT32_TINY",
    "MIN_DT_FOR_RATE",
    "MAX_STEPS",
    "voltage_limit",
    "as_float",
    "short",
    "check_float32",
    "check_steps",
    "check_dt",
    "check_voltage_range",
]

FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
MIN_DT_FOR_RATE = 1000.0 / FLOAT32_MAX
MAX_STEPS = 2**53


def voltage_limit(neuron_model: str) -> float:
    """Largest voltage magnitude (mV) a run of ``neuron_model`` may reach (see the module notes)."""
    if neuron_model == "Izhikevich":
        return math.sqrt(FLOAT32_MAX) / 2  # v ** 2 of the step must be finite
    return FLOAT32_MAX / 2


def short(value) -> str:
    """``repr(value)``, but an int of more than 20 digits is described, not printed."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
        digits = len(str(abs(value))) if abs(value).bit_length() < 14000 else None
        if digits is None or digits > 20:
            size = f"{digits} digits" if digits is not None else f"{abs(value).bit_length()} bits"
            return f"an integer of {size}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_float(owner: str, name: str, value) -> float:
    """``float(value)``, with an int too large for float64 refused as ``ValueError``."""
    try:
        return float(value)
    except OverflowError as ex:
        raise ValueError(
            f"{owner}.{name}: {short(value)} is too large for a float; expected a number of "
            f"magnitude at most {FLOAT32_MAX:.3g} (float32, which the engine computes in)"
        ) from ex


def check_float32(owner: str, name: str, value: float, unit: str = "", *, positive: bool = False) -> None:
    """Refuse a finite float64 that float32 turns into ``inf`` (or, if ``positive``, into 0 or a subnormal)."""
    unit = f" {unit}" if unit else ""
    if abs(value) > FLOAT32_MAX:
        raise ValueError(
            f"{owner}.{name}: {value!r}{unit} is not representable in float32, which the engine "
            f"computes in; expected a magnitude at most {FLOAT32_MAX:.4g}{unit}"
        )
    if positive and 0 < value < FLOAT32_TINY:
        raise ValueError(
            f"{owner}.{name}: {value!r}{unit} rounds to 0 in float32, which the engine computes in; "
            f"expected at least {FLOAT32_TINY:.4g}{unit}"
        )


def check_steps(owner: str, time: float, dt: float) -> None:
    """Refuse a ``time / dt`` that is not a finite count below ``MAX_STEPS`` (before any rounding)."""
    ratio = time / dt
    if not math.isfinite(ratio) or ratio > MAX_STEPS:
        raise ValueError(
            f"{owner}.time: {time!r} ms at dt={dt!r} ms is {ratio:.3g} steps; expected at most "
            f"2**53 = {MAX_STEPS:.3g} steps (float64 counts steps exactly only up to there)"
        )


def check_dt(owner: str, dt: float, refrac: float) -> None:
    """Refuse a ``dt`` whose rate overflows float32 or that cannot count a refractory period down."""
    if dt < MIN_DT_FOR_RATE:
        raise ValueError(
            f"{owner}.dt: {dt!r} ms; expected at least {MIN_DT_FOR_RATE:.3g} ms: the population "
            f"rate of one step can reach 1000/dt Hz, which must stay below float32's {FLOAT32_MAX:.3g}"
        )
    r32, dt32 = np.float32(refrac), np.float32(dt)
    if r32 > 0 and not r32 - dt32 < r32:
        least = float(np.spacing(r32)) / 2
        raise ValueError(
            f"{owner}.dt: {dt!r} ms is too small to count a refractory period of {refrac!r} ms down "
            f"in float32 (refrac - dt == refrac); expected dt above {least:.3g} ms, or refrac=0"
        )


def izhikevich_step_bound(v_max: float, drive: float, n_steps: int, dt: float) -> float:
    """Largest |v| inside one Izhikevich step (two half-steps) from ``|v| <= v_max``, in float64.

    ``u`` is bounded by ``0.2 * v_max`` (the lab's ``b``) plus ``d = 8`` mV per
    step of the run; the quadratic term makes the second half-step the largest.
    """
    u = 0.2 * v_max + 8.0 * n_steps
    half = v_max + 0.5 * dt * (0.04 * v_max**2 + 5 * v_max + 140 + u + drive)
    if not math.isfinite(half) or half > math.sqrt(FLOAT32_MAX):  # v ** 2 is squared first, in float32
        return math.inf
    return half + 0.5 * dt * (0.04 * half**2 + 5 * half + 140 + u + drive)


def check_voltage_range(
    owner: str, *, neuron_model: str, voltages: dict, n_steps: int, n_input: int, n_output: int,
    weight_scale: float, inhibition: float, dt: float = 1.0,
) -> None:
    """Refuse voltages and drives whose worst case over the run leaves float32 (module notes)."""
    limit = voltage_limit(neuron_model)
    for name, value in voltages.items():
        if abs(value) > limit:
            raise ValueError(
                f"{owner}.{name}: {value!r} mV; expected a magnitude at most {limit:.3g} mV, the "
                f"voltage range a {neuron_model} step can represent in float32"
            )
    drive = n_input * abs(weight_scale) + (n_output - 1) * inhibition
    start = max(abs(v) for v in voltages.values())
    worst = start + n_steps * drive
    if neuron_model == "Izhikevich" and worst <= limit:
        inside = izhikevich_step_bound(worst, drive, n_steps, dt)
        if not inside <= FLOAT32_MAX / 2:
            raise ValueError(
                f"{owner}: voltages up to {start:.3g} mV (thresh, rest, reset) and a drive of {drive:.3g} mV "
                f"per step (n_input * |weight_scale| + (n_output - 1) * inhibition) can reach {inside:.3g} mV "
                f"inside one Izhikevich step at dt={dt:g} ms (0.04 * v**2 grows fast), beyond float32's "
                f"{FLOAT32_MAX:.3g}; expected smaller voltages, drive or dt (the model is fit for -100..+50 mV)"
            )
    if not worst <= limit:
        allowed = (limit - start) / n_steps
        raise ValueError(
            f"{owner}: weight_scale={weight_scale!r} and inhibition={inhibition!r} can move a voltage "
            f"by {drive:.3g} mV per step (n_input * |weight_scale| + (n_output - 1) * inhibition), "
            f"{worst:.3g} mV over {n_steps} steps; expected that to stay within {limit:.3g} mV "
            f"(float32 range of a {neuron_model} step): n_input * |weight_scale| + (n_output - 1) * "
            f"inhibition <= {allowed:.3g} mV"
        )
