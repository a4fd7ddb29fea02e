"""Loops that feed a network from an environment or a data set (BindsNET's ``bindsnet.pipeline``)."""

from . import action
from .base_pipeline import BasePipeline
from .dataloader_pipeline import DataLoaderPipeline, TorchVisionDatasetPipeline
from .environment_pipeline import EnvironmentPipeline

__all__ = ["BasePipeline", "EnvironmentPipeline", "DataLoaderPipeline", "TorchVisionDatasetPipeline", "action"]
