"""Fixtures of the conformance matrix (see harness.py and reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global RNG state (the random models draw from torch's)."""
    torch.manual_seed(0)
    np.random.seed(0)
    yield
