"""Run a network over a data set, batch by batch."""

from __future__ import annotations

from typing import Dict, Optional

from ..datasets.collate import DataLoader
from .base_pipeline import BasePipeline

__all__ = ["DataLoaderPipeline", "TorchVisionDatasetPipeline"]


class DataLoaderPipeline(BasePipeline):
    """Base of data-set pipelines: :meth:`train` makes a :class:`~snnlab.datasets.DataLoader`
    (batch along dimension 1 of the encoded tensors) each epoch and steps through it.

    Keyword arguments: ``num_epochs`` (10), ``batch_size`` (1), ``num_workers``
    (0), ``pin_memory`` (False), ``shuffle`` (True), and :class:`BasePipeline`'s.
    """

    def __init__(self, network, train_ds, test_ds=None, **kwargs) -> None:
        super().__init__(network, **kwargs)
        self.train_ds = train_ds
        self.test_ds = test_ds
        self.num_epochs = kwargs.get("num_epochs", 10)
        self.batch_size = kwargs.get("batch_size", 1)
        self.num_workers = kwargs.get("num_workers", 0)
        self.pin_memory = kwargs.get("pin_memory", False)
        self.shuffle = kwargs.get("shuffle", True)

    def train(self) -> None:
        for _ in range(self.num_epochs):
            loader = DataLoader(self.train_ds, batch_size=self.batch_size, num_workers=self.num_workers,
                                pin_memory=self.pin_memory, shuffle=self.shuffle)
            for batch in loader:
                self.step(batch)

    def test(self) -> None:
        raise NotImplementedError("a DataLoaderPipeline subclass must define test()")


class TorchVisionDatasetPipeline(DataLoaderPipeline):
    """Unsupervised training on an encoded data set: each batch's
    ``encoded_image`` (``[time, batch, ...]``) is run on ``input_layer``
    (default ``"X"``) after a state reset.
    """

    def __init__(self, network, train_ds, pipeline_analyzer=None, **kwargs) -> None:
        super().__init__(network, train_ds, None, **kwargs)
        self.input_layer = kwargs.get("input_layer", "X")
        self.pipeline_analyzer = pipeline_analyzer

    def step_(self, batch: Dict, **kwargs) -> None:
        self.network.reset_state_variables()
        encoded = batch["encoded_image"]
        self.network.run(inputs={self.input_layer: encoded}, time=encoded.shape[0] * self.network.dt)

    def init_fn(self) -> None:
        pass

    def plots(self, batch: Dict, *args) -> None:
        if self.pipeline_analyzer is None:
            return
        self.pipeline_analyzer.plot_obs(batch["encoded_image"][:, 0].sum(0), step=self.step_count)
        self.pipeline_analyzer.plot_spikes(self.get_spike_data(), step=self.step_count)
        self.pipeline_analyzer.plot_voltages(*self.get_voltage_data(), step=self.step_count)
        self.pipeline_analyzer.finalize_step()

    def test_step(self) -> None:
        pass
