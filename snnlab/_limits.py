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
Izhikevich probe
    The Izhikevich step (two Euler half-steps of ``0.04 v**2 + 5 v + 140 - u
    + x``, then ``u += dt a (b v - u)``) has no closed-form bound: strong
    input makes ``u`` and ``v`` feed each other until ``v ** 2`` overflows.
    So a config with Izhikevich neurons is checked by running that float32
    step (the lab's a=0.02, b=0.2, c=reset, d=8) on probe neurons driven by
    the extreme inputs the config allows (every input spiking: the largest
    sum of positive forward weights onto one neuron; the most negative sum
    of negative ones plus ``(n_output - 1) * inhibition``; none; and the two
    alternating), from rest, for the run's steps (at most
    ``IZHIKEVICH_PROBE_STEPS``). A probe that leaves float32 refuses the
    config. This is a worst-case test, not a proof.

The checks raise ``ValueError`` naming the field, the value and the range
that is representable.
"""

from __future__ import annotations

import functools
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
    "check_izhikevich_probe",
]

FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
MIN_DT_FOR_RATE = 1000.0 / FLOAT32_MAX
MAX_STEPS = 2**53
IZHIKEVICH_PROBE_STEPS = 5000


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


def check_voltage_range(
    owner: str, *, neuron_model: str, voltages: dict, n_steps: int, n_input: int, n_output: int,
    weight_scale: float, inhibition: float,
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
    if not worst <= limit:
        allowed = (limit - start) / n_steps
        raise ValueError(
            f"{owner}: weight_scale={weight_scale!r} and inhibition={inhibition!r} can move a voltage "
            f"by {drive:.3g} mV per step (n_input * |weight_scale| + (n_output - 1) * inhibition), "
            f"{worst:.3g} mV over {n_steps} steps; expected that to stay within {limit:.3g} mV "
            f"(float32 range of a {neuron_model} step): n_input * |weight_scale| + (n_output - 1) * "
            f"inhibition <= {allowed:.3g} mV"
        )


@functools.lru_cache(maxsize=256)
def _izhikevich_probe(dt: float, thresh: float, rest: float, reset: float, high: float, low: float, steps: int):
    """First step at which a probe neuron leaves float32 (None if none does)."""
    f32 = np.float32
    drives = np.array([high, low, 0.0, high, low], dtype=f32)
    other = np.array([high, low, 0.0, low, high], dtype=f32)  # the last two alternate
    v = np.full(5, rest, dtype=f32)
    u = f32(0.2) * v
    s = np.zeros(5, dtype=bool)
    a, b, c, d, h, dt32 = f32(0.02), f32(0.2), f32(reset), f32(8.0), f32(dt * 0.5), f32(dt)
    with np.errstate(all="ignore"):
        for step in range(steps):
            x = drives if step % 2 == 0 else other
            v = np.where(s, c, v)
            u = u + d * s
            for _ in range(2):
                v = v + h * (f32(0.04) * v ** 2 + f32(5) * v + f32(140) - u + x)
            u = u + dt32 * a * (b * v - u)
            if not (np.isfinite(v).all() and np.isfinite(u).all()):
                return step
            s = v >= f32(thresh)
    return None


def check_izhikevich_probe(
    owner: str, *, dt: float, thresh: float, rest: float, reset: float, n_steps: int,
    excitation: float, inhibition_sum: float, weight_scale: float, inhibition: float,
) -> None:
    """Refuse an Izhikevich config whose strongest inputs drive the float32 step out of range (module notes).

    ``excitation``: the largest input (mV) one neuron can get in a step;
    ``inhibition_sum``: the most negative (<= 0).
    """
    high, low = float(excitation), float(inhibition_sum)
    steps = min(int(n_steps), IZHIKEVICH_PROBE_STEPS)
    failed = _izhikevich_probe(float(dt), float(thresh), float(rest), float(reset), high, low, steps)
    if failed is not None:
        raise ValueError(
            f"{owner}: an Izhikevich neuron driven by inputs between {low:.3g} and {high:.3g} mV "
            f"(every input spiking, every other output spiking; weight_scale={weight_scale!r}, "
            f"inhibition={inhibition!r}, rest={rest!r}) leaves float32 after {failed + 1} steps of "
            f"dt={dt!r} ms; expected inputs and voltages the Euler step keeps finite (smaller "
            "weight_scale, inhibition or voltages)"
        )
