"""Data sets: scikit-learn's digits offline, MNIST from IDX files on disk, clear errors otherwise."""

import numpy as np
import pytest
import torch

from snnlab.datasets import MNIST, DataLoader, Digits, read_idx, time_aware_collate, write_idx
from snnlab.encoding import PoissonEncoder


def test_idx_round_trip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        write_idx(tmp_path / name, a)
        assert np.array_equal(read_idx(tmp_path / name), a)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="IDX"):
        read_idx(tmp_path / "bad")


def _fake_mnist(root, n=6):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    write_idx(raw / "train-images-idx3-ubyte.gz", images)
    write_idx(raw / "train-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    return images


def test_mnist_from_idx_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNLAB_NO_TORCHVISION", "1")
    images = _fake_mnist(tmp_path)
    ds = MNIST(PoissonEncoder(time=12), None, root=str(tmp_path), train=True,
               transform=lambda im: torch.tensor(np.array(im), dtype=torch.float32)[None] / 255 * 100)
    assert len(ds) == 6
    sample = ds[4]
    assert sample["label"] == 4 and sample["encoded_label"] == 4
    assert torch.allclose(sample["image"][0], torch.tensor(images[4], dtype=torch.float32) / 255 * 100)
    assert sample["encoded_image"].shape == (12, 1, 28, 28) and sample["encoded_image"].dtype == torch.bool


def test_mnist_missing_files_say_where(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNLAB_NO_TORCHVISION", "1")
    with pytest.raises(FileNotFoundError, match="download=True"):
        MNIST(root=str(tmp_path), train=False)


def test_digits_offline_split_and_encoding():
    pytest.importorskip("sklearn")
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797
    sample = test[0]
    assert sample["image"].shape == (1, 8, 8) and 0.0 <= sample["image"].min() and sample["image"].max() <= 1.0
    enc = Digits(PoissonEncoder(time=30), intensity=100.0)[0]
    assert enc["encoded_image"].shape == (30, 1, 8, 8)
    with pytest.raises(ValueError, match="train_fraction"):
        Digits(train_fraction=1.5)


def test_time_aware_collate_puts_batch_second():
    pytest.importorskip("sklearn")
    loader = DataLoader(Digits(PoissonEncoder(time=10), intensity=50.0), batch_size=3)
    batch = next(iter(loader))
    assert batch["encoded_image"].shape == (10, 3, 1, 8, 8)
    assert batch["label"].shape == (3,)
    assert time_aware_collate([{"a": 1}, {"a": 2}])["a"].tolist() == [1, 2]


def test_torchvision_only_sets_raise_a_clear_import_error():
    try:
        import torchvision  # noqa: F401
    except Exception:
        import snnlab.datasets as ds

        with pytest.raises(ImportError, match="torchvision"):
            ds.CIFAR10
    else:
        pytest.skip("torchvision imports here")
