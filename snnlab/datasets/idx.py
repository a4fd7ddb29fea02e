"""MNIST-format (IDX) data sets: MNIST, Fashion-MNIST, KMNIST.

Through torchvision when it imports (exactly BindsNET's data sets);
otherwise read from the IDX files on disk, downloaded when asked and possible.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ._base import EncodedDataset

__all__ = ["MNIST", "FashionMNIST", "KMNIST", "read_idx", "write_idx"]

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), MNIST's format: a magic number
    (two zero bytes, a type code, the number of dimensions), the sizes as
    big-endian int32, then the data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 1
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(f"{path}: header says {dims} ({count * dtype.itemsize} bytes), file holds {len(raw) - offset}")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path, array: np.ndarray) -> None:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64) as an IDX file (gzipped if ``path`` ends in .gz)."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("=").str[1:]: k for k, v in _DTYPES.items()}
    key = array.dtype.newbyteorder("=").str[1:]
    if key not in codes:
        raise TypeError(f"write_idx: unsupported dtype {array.dtype}")
    header = bytes([0, 0, codes[key], array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    data = array.astype(np.dtype(_DTYPES[codes[key]])).tobytes()
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + data)


def _torchvision_class(name: str):
    """torchvision's data set class, or None when torchvision does not import here."""
    if os.environ.get("SNNLAB_NO_TORCHVISION"):
        return None
    try:
        from torchvision import datasets
    except Exception:  # absent, or built for another torch
        return None
    return getattr(datasets, name)


class _IDXDataset(EncodedDataset):
    name = "MNIST"
    mirrors: tuple = ()
    files = {
        True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }

    def __init__(
        self,
        image_encoder: Optional[Callable] = None,
        label_encoder: Optional[Callable] = None,
        root: str = "data",
        train: bool = True,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        download: bool = False,
    ) -> None:
        super().__init__(image_encoder, label_encoder, transform, target_transform)
        self.root = Path(os.path.expanduser(str(root)))
        self.train = bool(train)
        tv = _torchvision_class(self.name)
        if tv is not None:
            self._tv = tv(root=str(self.root), train=self.train, download=download)
            self.data, self.targets = self._tv.data, self._tv.targets
            return
        self._tv = None
        images, labels = (self._find(f) for f in self.files[self.train])
        if (images is None or labels is None) and download:
            self._download()
            images, labels = (self._find(f) for f in self.files[self.train])
        if images is None or labels is None:
            searched = ", ".join(str(d) for d in self._folders())
            raise FileNotFoundError(
                f"{self.name} files {self.files[self.train]} (optionally .gz) not found in {searched}. "
                + ("The download failed too. " if download else "Pass download=True to fetch them, or ")
                + f"put the IDX files into {self.root / self.name / 'raw'}."
            )
        self.data = torch.from_numpy(read_idx(images).copy())
        self.targets = torch.from_numpy(read_idx(labels).astype(np.int64))
        if len(self.data) != len(self.targets):
            raise ValueError(f"{images} has {len(self.data)} images but {labels} has {len(self.targets)} labels")

    def _folders(self):
        return [self.root / self.name / "raw", self.root / "raw", self.root]

    def _find(self, stem: str):
        for folder in self._folders():
            for name in (stem, stem + ".gz"):
                if (folder / name).is_file():
                    return folder / name
        return None

    def _download(self) -> None:
        raw = self.root / self.name / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        errors = []
        for stem in self.files[self.train]:
            if self._find(stem) is not None:
                continue
            for mirror in self.mirrors:
                url = f"{mirror}{stem}.gz"
                tmp = None
                try:
                    with urllib.request.urlopen(url, timeout=30) as response, tempfile.NamedTemporaryFile(
                        dir=raw, suffix=".gz", delete=False
                    ) as f:
                        tmp = Path(f.name)
                        shutil.copyfileobj(response, f)
                    read_idx(tmp)  # a truncated or wrong file fails here, not later
                    tmp.replace(raw / f"{stem}.gz")
                    break
                except Exception as ex:  # network down, 404, truncated file
                    errors.append(f"{url}: {type(ex).__name__}: {ex}")
                    if tmp is not None and tmp.exists():
                        tmp.unlink()
        if any(self._find(s) is None for s in self.files[self.train]):
            raise FileNotFoundError(
                f"{self.name} is not in {raw} and could not be downloaded: " + "; ".join(errors)
            )

    def __len__(self) -> int:
        return len(self.targets)

    def _raw(self, index: int):
        if self._tv is not None:
            return self._tv[index]
        pixels = self.data[index].numpy()
        try:
            from PIL import Image
        except ImportError:  # without Pillow: a uint8 tensor (H, W)
            image = torch.from_numpy(pixels.copy())
        else:
            image = Image.fromarray(pixels, mode="L")  # what torchvision returns
        return image, int(self.targets[index])


class MNIST(_IDXDataset):
    """MNIST (60,000 training and 10,000 test 28x28 digits) with encoders.

    ``MNIST(image_encoder, label_encoder, root=..., train=True, download=False,
    transform=None)``: as BindsNET's. Images are PIL images (as torchvision
    gives them; a ``uint8`` tensor when Pillow is missing) before ``transform``.
    """

    name = "MNIST"
    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")


class FashionMNIST(_IDXDataset):
    """Fashion-MNIST, in MNIST's format, with encoders (see :class:`MNIST`)."""

    name = "FashionMNIST"
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


class KMNIST(_IDXDataset):
    """Kuzushiji-MNIST, in MNIST's format, with encoders (see :class:`MNIST`)."""

    name = "KMNIST"
    mirrors = ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",)
