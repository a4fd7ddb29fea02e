"""scikit-learn's 8x8 handwritten digits: a small MNIST that needs no download."""

from __future__ import annotations

from typing import Callable, Optional

import torch

from ._base import EncodedDataset


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as ex:  # pragma: no cover - depends on the environment
        raise ImportError(
            "snnlab.datasets.Digits needs scikit-learn (it ships the 8x8 digits): "
            "pip install scikit-learn, or pip install 'snnlab[bindsnet]'"
        ) from ex
    return load_digits()


class Digits(EncodedDataset):
    """The 1797 8x8 digits bundled with scikit-learn, as float images in [0, 1].

    The images are the data set's 0-16 grey levels divided by 16, shape
    ``(1, 8, 8)`` (channel first, like torchvision's ``ToTensor``), so that
    ``image * intensity`` is a rate in Hz for :class:`~snnlab.encoding.PoissonEncoder`.
    Labels are ints 0-9. The split is fixed: the first ``train_fraction`` of
    the samples (in scikit-learn's order) are the training set, the rest the
    test set.

    Parameters
    ----------
    image_encoder, label_encoder : callable, optional
        Applied to each (transformed) image and label (``encoded_image``, ``encoded_label``).
    train : bool
        The training part (True) or the test part.
    train_fraction : float
        Fraction of the 1797 samples in the training part, in (0, 1).
    transform, target_transform : callable, optional
        Applied to the image tensor / the label before encoding.
    intensity : float
        Multiplies the images (1: values in [0, 1]).

    Examples
    --------
    >>> from snnlab.encoding import PoissonEncoder
    >>> train = Digits(PoissonEncoder(time=20), intensity=64.0)
    >>> sample = train[0]
    >>> len(train), sample["image"].shape, sample["encoded_image"].shape, sample["label"]
    (1438, torch.Size([1, 8, 8]), torch.Size([20, 1, 8, 8]), 0)
    """

    def __init__(
        self,
        image_encoder: Optional[Callable] = None,
        label_encoder: Optional[Callable] = None,
        train: bool = True,
        train_fraction: float = 0.8,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        intensity: float = 1.0,
    ) -> None:
        super().__init__(image_encoder, label_encoder, transform, target_transform)
        if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)) or not 0.0 < train_fraction < 1.0:
            raise ValueError(f"train_fraction must be a number in (0, 1), got {train_fraction!r}")
        if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) or not intensity >= 0:
            raise ValueError(f"intensity must be a non-negative number, got {intensity!r}")
        bunch = _load_digits()
        images = torch.as_tensor(bunch.images, dtype=torch.float32) / 16.0 * float(intensity)
        labels = torch.as_tensor(bunch.target, dtype=torch.long)
        cut = int(round(train_fraction * len(labels)))
        part = slice(0, cut) if train else slice(cut, None)
        self.data = images[part].unsqueeze(1).contiguous()  # (n, 1, 8, 8)
        self.targets = labels[part].clone()
        self.train = bool(train)

    def __len__(self) -> int:
        return len(self.targets)

    def _raw(self, index: int):
        return self.data[index].clone(), int(self.targets[index])
