"""What every snnlab data set shares: encoders applied in ``__getitem__``."""

from __future__ import annotations

from typing import Callable, Optional

import torch

from ..encoding.encoders import NullEncoder
from ..network._checks import describe


def checked_encoder(encoder, name: str):
    if encoder is None:
        return NullEncoder()
    if not callable(encoder):
        raise TypeError(f"{name} must be callable (e.g. PoissonEncoder(time=250)), got {describe(encoder)}")
    return encoder


class EncodedDataset(torch.utils.data.Dataset):
    """Base class: subclasses give ``_raw(i) -> (image, label)`` and ``__len__``."""

    def __init__(
        self,
        image_encoder: Optional[Callable] = None,
        label_encoder: Optional[Callable] = None,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
    ) -> None:
        self.image_encoder = checked_encoder(image_encoder, "image_encoder")
        self.label_encoder = checked_encoder(label_encoder, "label_encoder")
        for name, f in (("transform", transform), ("target_transform", target_transform)):
            if f is not None and not callable(f):
                raise TypeError(f"{name} must be callable or None, got {describe(f)}")
        self.transform = transform
        self.target_transform = target_transform

    def _raw(self, index: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        n = len(self)
        if isinstance(index, torch.Tensor):
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"index must be an int, got {describe(index)}")
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a data set of {n} samples")
        image, label = self._raw(index % n)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return {
            "image": image,
            "label": label,
            "encoded_image": self.image_encoder(image),
            "encoded_label": self.label_encoder(label),
        }
