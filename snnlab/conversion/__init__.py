"""ANN-to-SNN conversion (BindsNET's ``bindsnet.conversion``).

A trained PyTorch network of ``Linear`` / ``Conv2d`` layers with ReLU
activations (and ``MaxPool2d``, ``Flatten``) becomes a spiking network of
integrate-and-fire neurons with reset by subtraction, whose firing rates
approximate the ReLU activations (Diehl et al. 2015; Rueckauer et al. 2017).
"""

from .conversion import FeatureExtractor, Permute, ann_to_snn, data_based_normalization
from .nodes import PassThroughNodes, SubtractiveResetIFNodes

__all__ = [
    "ann_to_snn",
    "data_based_normalization",
    "FeatureExtractor",
    "Permute",
    "SubtractiveResetIFNodes",
    "PassThroughNodes",
]
