"""What every pipeline shares: monitors for plots, step counting, periodic print/plot/save/test."""

from __future__ import annotations

import collections.abc
import time
from typing import Any, Dict, Tuple

import torch

from ..network.monitors import Monitor

__all__ = ["BasePipeline", "recursive_to"]


def recursive_to(item, device):
    """``item`` with every tensor inside (dicts, lists, tuples, named tuples) moved to ``device``."""
    if isinstance(item, torch.Tensor):
        return item.to(device)
    if item is None or isinstance(item, (int, float, bool, str)):
        return item
    if isinstance(item, collections.abc.Mapping):
        return {key: recursive_to(value, device) for key, value in item.items()}
    if isinstance(item, tuple) and hasattr(item, "_fields"):
        return type(item)(*(recursive_to(i, device) for i in item))
    if isinstance(item, collections.abc.Sequence):
        return [recursive_to(i, device) for i in item]
    if hasattr(item, "shape") and hasattr(item, "dtype"):  # NumPy arrays: left as they are
        return item
    raise TypeError(f"recursive_to: cannot move a {type(item).__name__} to a device")


class BasePipeline:
    """Base class of pipelines.

    Keyword arguments
    -----------------
    save_dir : str
        Where :meth:`step` saves the network every ``save_interval`` steps.
    save_interval, print_interval, test_interval, plot_interval : int, optional
        Every how many steps to save, print, test, plot (None: never).
    plot_config : dict
        ``{"data_step": ..., "data_length": n}``: when ``data_step`` is not
        None, spike (and voltage) monitors of ``n`` steps are added to every layer.
    allow_gpu : bool
        Move the network to CUDA when available. Default True.
    """

    def __init__(self, network, **kwargs) -> None:
        self.network = network
        self.save_dir = kwargs.get("save_dir", "network.pt")
        self.save_interval = kwargs.get("save_interval")
        self.plot_config = kwargs.get("plot_config", {"data_step": True, "data_length": 100})
        if self.plot_config.get("data_step") is not None:
            length = self.plot_config.get("data_length", 100)
            for name, layer in network.layers.items():
                network.add_monitor(Monitor(layer, "s", length), name=f"{name}_spikes")
                if hasattr(layer, "v"):
                    network.add_monitor(Monitor(layer, "v", length), name=f"{name}_voltages")
        self.print_interval = kwargs.get("print_interval")
        self.test_interval = kwargs.get("test_interval")
        self.plot_interval = kwargs.get("plot_interval")
        self.step_count = 0
        self.init_fn()
        self.clock = time.time()
        self.allow_gpu = kwargs.get("allow_gpu", True)
        self.device = torch.device("cuda" if torch.cuda.is_available() and self.allow_gpu else "cpu")
        self.network.to(self.device)

    def reset_state_variables(self) -> None:
        self.network.reset_state_variables()
        self.step_count = 0

    def step(self, batch: Any, **kwargs) -> Any:
        """One step: ``step_(batch)``, then printing, plotting, saving and testing when due."""
        self.step_count += 1
        batch = recursive_to(batch, self.device)
        out = self.step_(batch, **kwargs)
        if self.print_interval is not None and self.step_count % self.print_interval == 0:
            print(f"Iteration: {self.step_count} (Time: {time.time() - self.clock:.4f})")
            self.clock = time.time()
        if self.plot_interval is not None and self.step_count % self.plot_interval == 0:
            self.plots(batch, out)
        if self.save_interval is not None and self.step_count % self.save_interval == 0:
            self.network.save(self.save_dir)
        if self.test_interval is not None and self.step_count % self.test_interval == 0:
            self.test()
        return out

    def get_spike_data(self) -> Dict[str, torch.Tensor]:
        """The spike recordings of every layer (needs ``plot_config["data_step"]``)."""
        return {name: self.network.monitors[f"{name}_spikes"].get("s") for name in self.network.layers}

    def get_voltage_data(self) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        """Voltage recordings and thresholds of the layers that have them."""
        voltages, thresholds = {}, {}
        for name, layer in self.network.layers.items():
            if hasattr(layer, "v") and f"{name}_voltages" in self.network.monitors:
                voltages[name] = self.network.monitors[f"{name}_voltages"].get("v")
            if hasattr(layer, "thresh"):
                thresholds[name] = layer.thresh
        return voltages, thresholds

    def step_(self, batch: Any, **kwargs) -> Any:
        raise NotImplementedError("a pipeline subclass must define step_(batch)")

    def train(self) -> None:
        raise NotImplementedError("a pipeline subclass must define train()")

    def test(self) -> None:
        raise NotImplementedError("a pipeline subclass must define test()")

    def init_fn(self) -> None:
        raise NotImplementedError("a pipeline subclass must define init_fn()")

    def plots(self, batch: Any, step_out: Any) -> None:
        raise NotImplementedError("a pipeline subclass must define plots(batch, step_out)")
