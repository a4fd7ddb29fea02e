"""Small sweep targets for the tests (NumPy only, fast, deterministic in the seed)."""

import os
import time
from pathlib import Path

import numpy as np

from snnlab.sweep import FunctionTarget

STEPS = 2000  # 2 s at dt = 1 ms


def poisson_run(*, seed, rate, n=20.0):
    """``n`` independent Bernoulli trains at ``rate`` Hz (dt = 1 ms), layer ``"P"``."""
    rng = np.random.default_rng(seed)
    spikes = rng.random((STEPS, int(n))) < rate / 1000.0
    return {"dt": 1.0, "spikes": {"P": spikes}}


def poisson_target():
    return FunctionTarget(poisson_run, {"rate": (0.0, 500.0), "n": (1, 100)}, name="poisson")


def failing_run(*, seed, rate, n=20.0):
    """Fails (ZeroDivisionError) at rate 13, otherwise as ``poisson_run``."""
    if rate == 13:
        raise ZeroDivisionError(f"rate {rate} is unlucky")
    return poisson_run(seed=seed, rate=rate, n=n)


def failing_target():
    return FunctionTarget(failing_run, {"rate": (0.0, 500.0)}, name="failing")


def gated_run(*, seed, rate):
    """As ``poisson_run``, but a rate >= 100 waits until the file ``$SWEEP_GATE`` exists.

    Lets a test kill a sweep at a known place: every point below 100 Hz has
    finished and every other one is blocked.
    """
    gate = Path(os.environ["SWEEP_GATE"])
    while rate >= 100 and not gate.exists():
        time.sleep(0.02)
    return poisson_run(seed=seed, rate=rate)


def gated_target():
    return FunctionTarget(gated_run, {"rate": (0.0, 500.0)}, name="gated")
