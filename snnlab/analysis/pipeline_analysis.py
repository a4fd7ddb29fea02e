"""Where a pipeline's plots go: matplotlib windows or TensorBoard logs
(BindsNET's ``bindsnet.analysis.pipeline_analysis``).

:class:`TensorboardAnalyzer` needs ``tensorboardX`` (or ``tensorboard`` for
torch's writer): ``pip install tensorboardX``; imported only when made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Dict, Optional

import numpy as np
import torch

from .. import utils

__all__ = ["PipelineAnalyzer", "MatplotlibAnalyzer", "TensorboardAnalyzer"]


class PipelineAnalyzer(ABC):
    """The plots a pipeline asks for; ``tag`` names a plot, ``step`` the time point."""

    @abstractmethod
    def finalize_step(self) -> None:
        """Flush this step's plots."""

    @abstractmethod
    def plot_obs(self, obs: torch.Tensor, tag: str = "obs", step: Optional[int] = None) -> None:
        """An observation ``[C, H, W]``."""

    @abstractmethod
    def plot_reward(self, reward_list: list, reward_window: Optional[int] = None, tag: str = "reward",
                    step: Optional[int] = None) -> None:
        """Accumulated reward per episode (optionally a moving average over ``reward_window``)."""

    @abstractmethod
    def plot_spikes(self, spike_record: Dict[str, torch.Tensor], tag: str = "spike", step: Optional[int] = None) -> None:
        """Spike records ``[time, ...]`` by layer."""

    @abstractmethod
    def plot_voltages(self, voltage_record: Dict[str, torch.Tensor], thresholds: Optional[Dict[str, torch.Tensor]] = None,
                      tag: str = "voltage", step: Optional[int] = None) -> None:
        """Voltage records ``[time, ...]`` by layer, with thresholds."""

    @abstractmethod
    def plot_conv2d_weights(self, weights: torch.Tensor, tag: str = "conv2d", step: Optional[int] = None) -> None:
        """Kernels ``[out, in, h, w]`` of a convolution."""


def _moving_average(values, window: Optional[int]) -> np.ndarray:
    values = np.asarray([float(v) for v in values], dtype=np.float64)
    if window is None or len(values) == 0:
        return values
    window = max(min(int(window), len(values)), 1)
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    out = np.empty_like(values)
    for i in range(len(values)):  # mean over the last `window` values (fewer at the start)
        lo = max(0, i + 1 - window)
        out[i] = (cumulative[i + 1] - cumulative[lo]) / (i + 1 - lo)
    return out


def _flat_time(record: torch.Tensor) -> torch.Tensor:
    """``[time, ...]`` -> ``[time, neurons]``."""
    record = torch.as_tensor(record)
    return record.reshape(record.shape[0], -1)


class MatplotlibAnalyzer(PipelineAnalyzer):
    """Draws into matplotlib figures, one per tag, redrawn in place.

    Keyword arguments: ``volts_type`` ("color" or "line") for voltage plots.
    Interactive mode is switched on, as BindsNET does, so that windows update
    while a script runs.
    """

    def __init__(self, **kwargs) -> None:
        import matplotlib.pyplot as plt

        self.volts_type = kwargs.get("volts_type", "color")
        plt.ion()
        self.plots: dict = {}

    def plot_obs(self, obs, tag: str = "obs", step=None) -> None:
        import matplotlib.pyplot as plt

        image = torch.as_tensor(obs).detach().cpu().float()
        image = image.permute(*range(1, image.dim()), 0).squeeze().numpy() if image.dim() == 3 else image.numpy()
        if tag in self.plots:
            self.plots[tag][1].set_data(image)
            return
        fig, ax = plt.subplots()
        ax.set_title("Observation")
        ax.set_xticks(())
        ax.set_yticks(())
        self.plots[tag] = (ax, ax.imshow(image, cmap="gray"))

    def plot_reward(self, reward_list, reward_window=None, tag: str = "reward", step=None) -> None:
        import matplotlib.pyplot as plt

        values = _moving_average(reward_list, reward_window)
        if tag in self.plots:
            _, ax, line = self.plots[tag]
            line.set_data(range(len(values)), values)
            ax.relim()
            ax.autoscale_view()
            return
        fig, ax = plt.subplots()
        ax.set_title("Accumulated reward")
        ax.set_xlabel("Episode")
        ax.set_ylabel("Reward")
        (line,) = ax.plot(values)
        self.plots[tag] = (fig, ax, line)

    def plot_spikes(self, spike_record, tag: str = "spike", step=None) -> None:
        from .plotting import plot_spikes

        flat = {k: _flat_time(v) for k, v in spike_record.items()}
        if tag in self.plots:
            ims, axes = self.plots[tag]
            self.plots[tag] = plot_spikes(flat, ims=ims, axes=axes)
        else:
            self.plots[tag] = plot_spikes(flat)

    def plot_voltages(self, voltage_record, thresholds=None, tag: str = "voltage", step=None) -> None:
        from .plotting import plot_voltages

        flat = {k: _flat_time(v) for k, v in voltage_record.items()}
        if tag in self.plots:
            ims, axes = self.plots[tag]
            self.plots[tag] = plot_voltages(flat, ims=ims, axes=axes, plot_type=self.volts_type, thresholds=thresholds)
        else:
            self.plots[tag] = plot_voltages(flat, plot_type=self.volts_type, thresholds=thresholds)

    def plot_conv2d_weights(self, weights, tag: str = "conv2d", step=None) -> None:
        from .bindsnet_plots import plot_conv2d_weights

        w = torch.as_tensor(weights).detach().cpu()
        lo, hi = float(w.min()), float(w.max())
        self.plots[tag] = plot_conv2d_weights(w, wmin=lo, wmax=hi if hi > lo else lo + 1e-12, im=self.plots.get(tag))

    def finalize_step(self) -> None:
        import matplotlib.pyplot as plt

        plt.draw()
        plt.pause(1e-8)
        plt.show()


def _summary_writer(directory: str):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as ex:
            raise ImportError("TensorboardAnalyzer needs tensorboardX (pip install tensorboardX) or tensorboard") from ex
    return SummaryWriter(directory)


class TensorboardAnalyzer(PipelineAnalyzer):
    """Writes the plots as TensorBoard images and scalars into ``summary_directory``."""

    def __init__(self, summary_directory: str = "./logs") -> None:
        self.writer = _summary_writer(summary_directory)

    def finalize_step(self) -> None:
        self.writer.flush()

    @staticmethod
    def _image(a: torch.Tensor) -> torch.Tensor:
        a = a.detach().cpu().float()
        lo, hi = a.min(), a.max()
        return (a - lo) / (hi - lo) if hi > lo else torch.zeros_like(a)

    def plot_obs(self, obs, tag: str = "obs", step=None) -> None:
        o = torch.as_tensor(obs)
        o = o if o.dim() == 3 else o.reshape(1, *o.shape[-2:])
        self.writer.add_image(tag, self._image(o), step)

    def plot_reward(self, reward_list, reward_window=None, tag: str = "reward", step=None) -> None:
        values = _moving_average(reward_list, reward_window)
        if len(values):
            self.writer.add_scalar(tag, float(values[-1]), step if step is not None else len(values) - 1)

    def plot_spikes(self, spike_record, tag: str = "spike", step=None) -> None:
        for name, record in spike_record.items():
            self.writer.add_image(f"{tag}/{name}", self._image(_flat_time(record).t()).unsqueeze(0), step)

    def plot_voltages(self, voltage_record, thresholds=None, tag: str = "voltage", step=None) -> None:
        for name, record in voltage_record.items():
            self.writer.add_image(f"{tag}/{name}", self._image(_flat_time(record).t()).unsqueeze(0), step)

    def plot_conv2d_weights(self, weights, tag: str = "conv2d", step=None) -> None:
        image = utils.reshape_conv2d_weights(torch.as_tensor(weights).detach().cpu())
        self.writer.add_image(tag, self._image(image).unsqueeze(0), step)
