"""torchvision's data sets with encoders (when torchvision imports)."""

from __future__ import annotations

from typing import Callable, Optional

from ._base import checked_encoder

#: the torchvision data sets BindsNET exposes under ``bindsnet.datasets``
TORCHVISION_DATASETS = (
    "CIFAR10", "CIFAR100", "Cityscapes", "CocoCaptions", "CocoDetection", "DatasetFolder", "EMNIST",
    "FakeData", "Flickr30k", "Flickr8k", "ImageFolder", "LSUN", "LSUNClass", "Omniglot", "PhotoTour",
    "SBU", "SEMEION", "STL10", "SVHN", "VOCDetection", "VOCSegmentation",
)


def torchvision_datasets():
    """torchvision.datasets, or an ImportError that says it is optional."""
    try:
        from torchvision import datasets
    except Exception as ex:  # ImportError, or a torchvision built for another torch
        raise ImportError(
            "this data set comes from torchvision, which is not importable here "
            f"({type(ex).__name__}: {ex}). Install a torchvision that matches your torch "
            "(pip install torchvision==<the version paired with your torch>), or use "
            "snnlab.datasets.MNIST (reads MNIST's files itself) or snnlab.datasets.Digits (offline)."
        ) from ex
    return datasets


def create_torchvision_dataset_wrapper(ds_type):
    """A subclass of the torchvision data set ``ds_type`` (a class or its name)
    whose items are dicts ``{"image", "label", "encoded_image", "encoded_label"}``.

    Its constructor takes ``(image_encoder=None, label_encoder=None, *args,
    **kwargs)``; ``args`` and ``kwargs`` go to the torchvision data set.
    """
    if isinstance(ds_type, str):
        datasets = torchvision_datasets()
        if not hasattr(datasets, ds_type):
            raise ValueError(f"torchvision.datasets has no data set {ds_type!r}")
        ds_type = getattr(datasets, ds_type)
    if not isinstance(ds_type, type):
        raise TypeError(f"ds_type must be a data set class or its name, got {ds_type!r}")

    class TorchvisionDatasetWrapper(ds_type):
        __doc__ = ds_type.__doc__

        def __init__(self, image_encoder: Optional[Callable] = None, label_encoder: Optional[Callable] = None, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.image_encoder = checked_encoder(image_encoder, "image_encoder")
            self.label_encoder = checked_encoder(label_encoder, "label_encoder")

        def __getitem__(self, index: int) -> dict:
            image, label = super().__getitem__(index)
            return {
                "image": image,
                "label": label,
                "encoded_image": self.image_encoder(image),
                "encoded_label": self.label_encoder(label),
            }

    TorchvisionDatasetWrapper.__name__ = ds_type.__name__
    TorchvisionDatasetWrapper.__qualname__ = ds_type.__name__
    return TorchvisionDatasetWrapper
