"""Data sets that yield encoded samples (BindsNET's ``bindsnet.datasets``).

Every data set here returns, for index ``i``, a dict::

    {"image": ..., "label": ..., "encoded_image": image_encoder(image),
     "encoded_label": label_encoder(label)}

- :class:`Digits`: scikit-learn's bundled 8x8 handwritten digits (1797
  images), always available offline.
- :class:`MNIST`, :class:`FashionMNIST`, :class:`KMNIST`: through torchvision
  when it imports; otherwise read from MNIST's IDX files on disk (the layout
  torchvision uses, ``root/MNIST/raw/train-images-idx3-ubyte[.gz]``, or the
  files directly in ``root``), downloading them when ``download=True`` and the
  network allows. When neither works, a ``FileNotFoundError`` says where it looked.
- Every other torchvision data set BindsNET wraps (``CIFAR10``, ``SVHN``, ...)
  is available by name when torchvision imports, and raises an ``ImportError``
  saying so when it does not (torchvision is an optional dependency).
"""

from __future__ import annotations

from .collate import DataLoader, time_aware_collate
from .digits import Digits
from .idx import FashionMNIST, KMNIST, MNIST, read_idx, write_idx
from .torchvision_wrapper import TORCHVISION_DATASETS, create_torchvision_dataset_wrapper

__all__ = [
    "Digits",
    "MNIST",
    "FashionMNIST",
    "KMNIST",
    "read_idx",
    "write_idx",
    "DataLoader",
    "time_aware_collate",
    "create_torchvision_dataset_wrapper",
    *TORCHVISION_DATASETS,
]


def __getattr__(name: str):
    if name in TORCHVISION_DATASETS:
        cls = create_torchvision_dataset_wrapper(name)
        globals()[name] = cls
        return cls
    raise AttributeError(f"module 'snnlab.datasets' has no attribute {name!r}")
