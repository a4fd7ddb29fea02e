"""Image preprocessing for environments' frames (BindsNET's ``bindsnet.datasets.preprocess``).

NumPy and torch only (BindsNET uses OpenCV; the results agree: ITU-R 601
grey levels, a threshold at 0, bilinear resizing with pixel-centre alignment).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["gray_scale", "crop", "binary_image", "subsample"]


def _array(image, what: str, ndim=None) -> np.ndarray:
    a = np.asarray(image)
    if ndim is not None and a.ndim not in ndim:
        raise ValueError(f"{what}: expected an image with {' or '.join(map(str, ndim))} dimensions, got shape {a.shape}")
    return a


def gray_scale(image) -> np.ndarray:
    """RGB ``(H, W, 3)`` to grey levels ``(H, W)``: ``0.299 R + 0.587 G + 0.114 B``
    (rounded back to the input's integer type, as OpenCV)."""
    a = _array(image, "gray_scale", (3,))
    if a.shape[2] != 3:
        raise ValueError(f"gray_scale: expected 3 colour channels (RGB), got shape {a.shape}")
    g = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if np.issubdtype(a.dtype, np.integer):
        return np.clip(np.rint(g), np.iinfo(a.dtype).min, np.iinfo(a.dtype).max).astype(a.dtype)
    return g.astype(a.dtype)


def crop(image, x1: int, x2: int, y1: int, y2: int) -> np.ndarray:
    """Rows ``x1:x2`` and columns ``y1:y2`` of an ``(H, W, C)`` image."""
    a = _array(image, "crop", (3,))
    return a[x1:x2, y1:y2, :]


def binary_image(image) -> np.ndarray:
    """1 where the (grey) image is above 0, else 0, in the image's dtype."""
    a = _array(image, "binary_image")
    return (a > 0).astype(a.dtype)


def subsample(image, x: int, y: int) -> np.ndarray:
    """Resize a 2-D image to ``x`` columns and ``y`` rows (bilinear; OpenCV's ``resize(image, (x, y))``)."""
    a = _array(image, "subsample", (2,))
    t = torch.as_tensor(a.astype(np.float32))[None, None]
    out = F.interpolate(t, size=(int(y), int(x)), mode="bilinear", align_corners=False)[0, 0].numpy()
    if np.issubdtype(a.dtype, np.integer):
        return np.clip(np.rint(out), np.iinfo(a.dtype).min, np.iinfo(a.dtype).max).astype(a.dtype)
    return out.astype(a.dtype)
