"""Run a network against an environment, episode after episode."""

from __future__ import annotations

import itertools
from typing import Callable, Dict, Optional, Tuple

import torch

from ..network.monitors import Monitor
from .base_pipeline import BasePipeline

__all__ = ["EnvironmentPipeline"]


def _is_input(layer) -> bool:
    from ..network.nodes import Input

    try:
        from ..network.nodes import AbstractInput
    except ImportError:
        return isinstance(layer, Input)
    return isinstance(layer, (Input, AbstractInput))


class EnvironmentPipeline(BasePipeline):
    """Observation -> input layers -> network run (with the reward) -> action.

    Parameters
    ----------
    network : Network
    environment : Environment
        E.g. :class:`~snnlab.environment.GymEnvironment`.
    action_function : callable, optional
        ``f(pipeline, output=...) -> action`` (see :mod:`snnlab.pipeline.action`).
    encoding : callable, optional
        ``f(obs, time, device=...) -> spikes`` (e.g. ``snnlab.encoding.bernoulli``);
        None: the observation is repeated ``time`` steps.

    Keyword arguments
    -----------------
    num_episodes : int
        Episodes :meth:`train` runs. Default 100.
    output : str, optional
        The output layer: its spikes over each run go to ``spike_record[output]``.
    time : int
        Steps the network runs per environment step (ms at dt). Default ``dt``.
    render_interval, plot_interval : int, optional
    reward_delay : int, optional
        Deliver each reward this many steps late.
    percent_of_random_action : float
        Probability of a random action instead of the network's.
    random_action_after : int
        After this many identical actions in a row, take a random one.
    (and :class:`BasePipeline`'s)
    """

    def __init__(self, network, environment, action_function: Optional[Callable] = None,
                 encoding: Optional[Callable] = None, **kwargs) -> None:
        super().__init__(network, **kwargs)
        self.episode = 0
        self.env = environment
        self.action_function = action_function
        self.encoding = encoding
        self.accumulated_reward = 0.0
        self.reward_list = []
        self.num_episodes = kwargs.get("num_episodes", 100)
        self.output = kwargs.get("output")
        self.render_interval = kwargs.get("render_interval")
        self.reward_delay = kwargs.get("reward_delay")
        self.time = kwargs.get("time", int(network.dt))
        self.percent_of_random_action = kwargs.get("percent_of_random_action", 0.0)
        self.random_action_after = kwargs.get("random_action_after", self.time)
        if self.reward_delay is not None:
            if self.reward_delay < 1:
                raise ValueError(f"reward_delay must be a positive int, got {self.reward_delay}")
            self.rewards = torch.zeros(self.reward_delay)
        self.inputs = [name for name, layer in network.layers.items() if _is_input(layer)]
        self.action = 0
        self.last_action = -1
        self.action_counter = 0
        self._analyzer = None
        if self.output is not None:
            if self.output not in network.layers:
                raise ValueError(f"output {self.output!r} is not a layer of the network")
            network.add_monitor(Monitor(network.layers[self.output], ["s"], time=self.time), self.output)
            self.spike_record = {self.output: torch.zeros((self.time, self.env.action_space.n), device=self.device)}

    def init_fn(self) -> None:
        pass

    @property
    def analyzer(self):
        if self._analyzer is None:
            from ..analysis.pipeline_analysis import MatplotlibAnalyzer

            self._analyzer = MatplotlibAnalyzer(**{k: v for k, v in self.plot_config.items() if k == "volts_type"})
        return self._analyzer

    def train(self, **kwargs) -> None:
        """Run ``num_episodes`` episodes, each until the environment says done."""
        while self.episode < self.num_episodes:
            self.reset_state_variables()
            for _ in itertools.count():
                obs, reward, done, info = self.env_step()
                self.step((obs, reward, done, info), **kwargs)
                if done:
                    break
            print(f"Episode: {self.episode} - accumulated reward: {float(self.accumulated_reward):.2f}")
            self.episode += 1

    def env_step(self) -> Tuple[torch.Tensor, float, bool, Dict]:
        """Render when due, choose the action, step the environment, delay and accumulate the reward."""
        if self.render_interval is not None and self.step_count % self.render_interval == 0:
            self.env.render()
        if self.action_function is not None:
            self.last_action = self.action
            if torch.rand(1).item() < self.percent_of_random_action:
                self.action = int(torch.randint(self.env.action_space.n, (1,)).item())
            elif self.action_counter > self.random_action_after:
                self.action = int(torch.randint(self.env.action_space.n, (1,)).item())
            else:
                self.action = self.action_function(self, output=self.output)
            self.action_counter = self.action_counter + 1 if self.last_action == self.action else 0
        obs, reward, done, info = self.env.step(self.action)
        if self.reward_delay is not None:
            self.rewards = torch.cat([torch.tensor([float(reward)]), self.rewards[:-1]])
            reward = self.rewards[-1].item()
        self.accumulated_reward += reward
        info = dict(info) if isinstance(info, dict) else {"info": info}
        info["accumulated_reward"] = self.accumulated_reward
        return obs, reward, done, info

    def step_(self, gym_batch, **kwargs) -> None:
        """Run the network ``time`` steps on the observation, with the reward."""
        obs, reward, done, info = gym_batch
        obs = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)  # a batch of 1
        steps = int(round(self.time / self.network.dt))
        if self.encoding is None:
            spikes = obs.unsqueeze(0).expand(steps, *obs.shape)  # [time, 1, *observation]
        else:
            spikes = self.encoding(obs, self.time, dt=self.network.dt, device=self.device)
        inputs = {name: spikes for name in self.inputs}
        self.network.run(inputs=inputs, time=self.time, reward=reward, **kwargs)
        if self.output is not None:
            self.spike_record[self.output] = self.network.monitors[self.output].get("s").float()
        if done:
            if self.network.reward_fn is not None:
                self.network.reward_fn.update(accumulated_reward=self.accumulated_reward, steps=self.step_count, **kwargs)
            self.reward_list.append(self.accumulated_reward)

    def reset_state_variables(self) -> None:
        self.env.reset()
        self.network.reset_state_variables()
        self.accumulated_reward = 0.0
        self.step_count = 0
        self.action = 0
        self.last_action = -1
        self.action_counter = 0

    def plots(self, gym_batch, *args) -> None:
        """Observation, spikes, voltages and rewards, as ``plot_config`` asks."""
        obs, reward, done, info = gym_batch
        cfg = self.plot_config
        if cfg.get("obs_step") and self.step_count % cfg["obs_step"] == 0:
            o = torch.as_tensor(obs)
            self.analyzer.plot_obs(o.reshape(-1, *o.shape[-2:]).sum(0, keepdim=True) if o.dim() > 2 else o[None])
        if cfg.get("data_step") and self.step_count % max(int(cfg["data_step"]), 1) == 0:
            self.analyzer.plot_spikes(self.get_spike_data())
            self.analyzer.plot_voltages(*self.get_voltage_data())
        if cfg.get("reward_eps") and done and self.episode % cfg["reward_eps"] == 0:
            self.analyzer.plot_reward(self.reward_list)
        self.analyzer.finalize_step()
