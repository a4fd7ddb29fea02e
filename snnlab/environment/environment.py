"""The environment interface and a wrapper of gymnasium's environments."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from ..datasets.preprocess import binary_image, crop, gray_scale, subsample
from ..encoding.encoders import NullEncoder

__all__ = ["Environment", "GymEnvironment"]


class Environment(ABC):
    """What a pipeline needs of an environment: ``step``, ``reset``, ``render``,
    ``close``, ``preprocess`` and an ``action_space`` with ``n`` actions."""

    @abstractmethod
    def step(self, a: int) -> Tuple[Any, ...]:
        """Act; return ``(observation, reward, done, info)``."""

    @abstractmethod
    def reset(self) -> None:
        """Start a new episode."""

    @abstractmethod
    def render(self) -> None:
        """Show the current state."""

    @abstractmethod
    def close(self) -> None:
        """Release resources."""

    @abstractmethod
    def preprocess(self) -> None:
        """Turn the raw observation into a tensor."""


def _gymnasium():
    try:
        import gymnasium
    except ImportError as ex:
        raise ImportError(
            "GymEnvironment needs gymnasium (and ale-py for Atari games): pip install 'snnlab[gym]'"
        ) from ex
    return gymnasium


class GymEnvironment(Environment):
    """A gymnasium environment whose observations come out as (encoded) tensors.

    Each :meth:`step` returns ``(obs, reward, done, info)`` where ``obs`` is the
    preprocessed observation as a float tensor (a 2-D image gets a channel
    dimension unless ``add_channel_dim=False``), passed through ``encoder``
    (which adds time), with a leading batch dimension of 1. ``done`` is
    gymnasium's ``terminated or truncated``; ``info["gym_obs"]`` is the
    preprocessed observation before encoding.

    Parameters
    ----------
    name : str
        A gymnasium environment id, e.g. ``"CartPole-v1"`` or ``"BreakoutDeterministic-v4"``.
    render_mode : str
        Passed to ``gymnasium.make``.
    encoder : callable, optional
        Spike encoder of observations (default: none, the tensor itself).
    max_prob : float
        In (0, 1]; kept for encoders that use it.
    clip_rewards : bool
        Replace rewards by their sign. Default True.
    history_length, delta : int, optional
        Keep ``history_length`` frames every ``delta`` steps and return the
        new frame minus their sum, clipped to [0, 1] (motion only).
    add_channel_dim : bool
        Give 2-D observations a channel dimension. Default True.
    seed : int, optional
        Seed of the first :meth:`reset`.
    env : gymnasium.Env, optional
        An already made environment to wrap instead of ``gymnasium.make(name)``.

    Breakout and SpaceInvaders frames are cropped, grey-scaled, subsampled and
    binarized as in BindsNET.
    """

    def __init__(self, name: str, render_mode: Optional[str] = "rgb_array", encoder=None, **kwargs) -> None:
        allowed = {"max_prob", "clip_rewards", "history_length", "delta", "add_channel_dim", "seed", "env"}
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"GymEnvironment() got unexpected keyword arguments {sorted(unknown)}; expected some of {sorted(allowed)}")
        self.name = name
        env = kwargs.get("env")
        self.env = env if env is not None else _gymnasium().make(id=name, render_mode=render_mode)
        self.action_space = self.env.action_space
        self.encoder = NullEncoder() if encoder is None else encoder
        self.max_prob = float(kwargs.get("max_prob", 1.0))
        if not 0.0 < self.max_prob <= 1.0:
            raise ValueError(f"max_prob must be in (0, 1], got {self.max_prob}")
        self.clip_rewards = bool(kwargs.get("clip_rewards", True))
        self.history_length = kwargs.get("history_length")
        self.delta = int(kwargs.get("delta", 1))
        self.add_channel_dim = bool(kwargs.get("add_channel_dim", True))
        self.seed = kwargs.get("seed")
        self.history: Dict[int, torch.Tensor] = {}
        if self.history_length is not None:
            self.history = {i: None for i in range(1, self.history_length * self.delta + 1, self.delta)}
        self.episode_step_count = 0
        self.history_index = 1
        self.obs = None
        self.reward = None
        self.done = False

    def step(self, a) -> Tuple[torch.Tensor, float, bool, Dict[str, Any]]:
        if isinstance(a, torch.Tensor):
            a = int(a.item())
        self.obs, self.reward, terminated, truncated, info = self.env.step(a)
        self.done = bool(terminated or truncated)
        if self.clip_rewards:
            self.reward = float(np.sign(self.reward))
        self.preprocess()
        info = dict(info)
        info["gym_obs"] = self.obs
        if self.history:
            self._update_history()
            info["delta_obs"] = self.obs
        obs = self.obs
        if obs.dim() == 2 and self.add_channel_dim:
            obs = obs.unsqueeze(0)
        obs = self.encoder(obs)
        self.obs = obs.unsqueeze(0)
        self.episode_step_count += 1
        return self.obs, self.reward, self.done, info

    def reset(self, seed: Optional[int] = None) -> torch.Tensor:
        if seed is None and self.seed is not None and self.episode_step_count == 0:
            seed = self.seed
        self.obs, self.info = self.env.reset(seed=seed)
        self.preprocess()
        self.history = {i: None for i in self.history}
        self.history_index = 1
        self.episode_step_count = 0
        return self.obs

    def render(self):
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    def preprocess(self) -> None:
        obs = self.obs
        if self.name == "SpaceInvaders-v0":
            obs = binary_image(subsample(gray_scale(obs), 84, 110)[26:104, :])
        elif self.name == "BreakoutDeterministic-v4":
            obs = binary_image(subsample(gray_scale(crop(obs, 34, 194, 0, 160)), 80, 80))
        self.obs = torch.as_tensor(np.asarray(obs, dtype=np.float32))

    def _update_history(self) -> None:
        keys = sorted(self.history)
        full = all(self.history[k] is not None for k in keys)
        current = self.obs
        if full:
            self.obs = torch.clamp(current - sum(self.history[k] for k in keys), 0, 1)
        if self.episode_step_count % self.delta == 0:
            self.history[self.history_index] = current
            self.history_index = self.history_index + self.delta if self.history_index != keys[-1] else 1
