"""Reward signals for reward-modulated rules (BindsNET's ``bindsnet.learning.reward``).

A network's ``reward_fn`` has ``compute(**run_options) -> reward``; the
network calls it once per run and passes the result to the learning rules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

__all__ = ["AbstractReward", "MovingAvgRPE"]


class AbstractReward(ABC):
    """A reward computation: ``compute(**kwargs)`` each run, ``update(**kwargs)`` each episode."""

    @abstractmethod
    def compute(self, **kwargs):
        """The reward for this run."""

    @abstractmethod
    def update(self, **kwargs) -> None:
        """Update internal estimates (usually once per episode)."""


class MovingAvgRPE(AbstractReward):
    """Reward prediction error: the reward minus an exponential moving
    average (EMA) of past rewards per step.

    Examples
    --------
    >>> rpe = MovingAvgRPE()
    >>> rpe.update(accumulated_reward=torch.tensor(20.0), steps=10, ema_window=10.0)
    >>> round(float(rpe.reward_predict), 6), round(float(rpe.compute(reward=torch.tensor(1.0))), 6)
    (0.2, 0.8)
    """

    def __init__(self, **kwargs) -> None:
        self.reward_predict = torch.tensor(0.0)  # per step
        self.reward_predict_episode = torch.tensor(0.0)  # per episode
        self.rewards_predict_episode: list = []

    def compute(self, **kwargs):
        """``reward - predicted reward per step`` (``reward`` keyword required)."""
        if "reward" not in kwargs:
            raise TypeError("MovingAvgRPE.compute() needs reward=...")
        return kwargs["reward"] - self.reward_predict

    def update(self, **kwargs) -> None:
        """Fold one episode in: ``accumulated_reward`` over ``steps`` steps,
        EMA window ``ema_window`` episodes (default 10)."""
        for name in ("accumulated_reward", "steps"):
            if name not in kwargs:
                raise TypeError(f"MovingAvgRPE.update() needs {name}=...")
        steps = float(kwargs["steps"])
        if not steps > 0:
            raise ValueError(f"steps must be positive, got {steps}")
        window = float(kwargs.get("ema_window", 10.0))
        if not window >= 1:
            raise ValueError(f"ema_window must be >= 1, got {window}")
        accumulated = torch.as_tensor(kwargs["accumulated_reward"], dtype=torch.float32)
        a = 1.0 / window
        self.reward_predict = (1 - a) * self.reward_predict + a * accumulated / steps
        self.reward_predict_episode = (1 - a) * self.reward_predict_episode + a * accumulated
        self.rewards_predict_episode.append(float(self.reward_predict_episode))
