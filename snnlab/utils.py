"""Helpers BindsNET's examples use to lay weights and assignments out as images.

BindsNET's module path ``bindsnet.utils``. Torch only (no plotting library).
"""

from __future__ import annotations

import math
from typing import Tuple, Union

import torch
import torch.nn.functional as F

from .network._checks import describe

__all__ = [
    "get_square_weights",
    "get_square_assignments",
    "reshape_conv2d_weights",
    "reshape_local_connection_2d_weights",
    "reshape_locally_connected_weights",
    "im2col_indices",
    "col2im_indices",
]

IntOrPair = Union[int, Tuple[int, int]]


def _pair(x, name: str) -> Tuple[int, int]:
    if isinstance(x, int) and not isinstance(x, bool):
        x = (x, x)
    try:
        a, b = (int(v) for v in x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a pair of ints, got {describe(x)}") from None
    if a < 1 or b < 1:
        raise ValueError(f"{name} must be positive, got {(a, b)}")
    return a, b


def _tensor(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {describe(x)}")
    return x.detach()


def _tile(blocks: torch.Tensor, rows: int, cols: int, fill: float = 0.0) -> torch.Tensor:
    """Lay ``blocks [n, h, w]`` out row by row on a ``rows x cols`` grid (missing tiles: ``fill``)."""
    n, h, w = blocks.shape
    if n > rows * cols:
        blocks = blocks[: rows * cols]
        n = rows * cols
    grid = torch.full((rows * cols, h, w), fill, dtype=blocks.dtype, device=blocks.device)
    grid[:n] = blocks
    return grid.view(rows, cols, h, w).permute(0, 2, 1, 3).reshape(rows * h, cols * w)


def get_square_weights(weights: torch.Tensor, n_sqrt: int, side: IntOrPair) -> torch.Tensor:
    """The receptive fields of a layer on an ``n_sqrt x n_sqrt`` grid.

    Column ``k`` of ``weights`` (``[n_input, n_neurons]``, ``n_input = side[0] * side[1]``)
    becomes tile ``(k // n_sqrt, k % n_sqrt)``; tiles without a neuron are 0.

    Returns
    -------
    Tensor
        ``[n_sqrt * side[0], n_sqrt * side[1]]``.

    Examples
    --------
    >>> w = torch.arange(8.0).view(4, 2)  # 2 neurons with 2x2 fields
    >>> get_square_weights(w, n_sqrt=2, side=2).tolist()
    [[0.0, 2.0, 1.0, 3.0], [4.0, 6.0, 5.0, 7.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    weights = _tensor(weights, "weights")
    side = _pair(side, "side")
    if weights.dim() != 2 or weights.shape[0] != side[0] * side[1]:
        raise ValueError(f"weights has shape {tuple(weights.shape)}, expected ({side[0] * side[1]}, n_neurons) for side {side}")
    fields = weights.t().reshape(-1, *side)
    return _tile(fields, int(n_sqrt), int(n_sqrt))


def get_square_assignments(assignments: torch.Tensor, n_sqrt: int) -> torch.Tensor:
    """Assignments laid out row by row on an ``n_sqrt x n_sqrt`` grid (``-1`` where no neuron).

    Examples
    --------
    >>> get_square_assignments(torch.tensor([3, 1, 4]), 2).tolist()
    [[3.0, 1.0], [4.0, -1.0]]
    """
    assignments = _tensor(assignments, "assignments").reshape(-1).float()
    return _tile(assignments.view(-1, 1, 1), int(n_sqrt), int(n_sqrt), fill=-1.0)


def reshape_conv2d_weights(weights: torch.Tensor) -> torch.Tensor:
    """A ``Conv2dConnection``'s kernels ``[out, in, h, w]`` as one image.

    The output channels form a ``ceil(sqrt(out))``-square grid of kernels; one
    such grid per input channel, the grids themselves on a
    ``ceil(sqrt(in))``-square grid (BindsNET's layout).
    """
    weights = _tensor(weights, "weights")
    if weights.dim() != 4:
        raise ValueError(f"weights has shape {tuple(weights.shape)}, expected (out_channels, in_channels, height, width)")
    n_out, n_in, h, w = weights.shape
    s1, s2 = math.ceil(math.sqrt(n_out)), math.ceil(math.sqrt(n_in))
    full = torch.zeros(s1 * s1, s2 * s2, h, w, dtype=weights.dtype, device=weights.device)
    full[:n_out, :n_in] = weights
    # block row = k * s1 + i, block column = l * s1 + j for out = i * s1 + j, in = k * s2 + l
    full = full.view(s1, s1, s2, s2, h, w).permute(2, 0, 4, 3, 1, 5)
    return full.reshape(s2 * s1 * h, s2 * s1 * w)


def reshape_local_connection_2d_weights(
    w: torch.Tensor, n_filters: int, kernel_size: IntOrPair, conv_size: IntOrPair, input_sqrt: IntOrPair
) -> torch.Tensor:
    """A ``LocalConnection2D``'s kernels of one input channel,
    ``[n_filters, conv_h, conv_w, k_h, k_w]``, as one image: one
    ``ceil(sqrt(n_filters))``-square grid of kernels per output position,
    the positions in their spatial order."""
    w = _tensor(w, "w")
    k1, k2 = _pair(kernel_size, "kernel_size")
    c1, c2 = _pair(conv_size, "conv_size")
    if tuple(w.shape[-2:]) != (k1, k2) or w.numel() != n_filters * c1 * c2 * k1 * k2:
        raise ValueError(f"w has shape {tuple(w.shape)}, expected ({n_filters}, {c1}, {c2}, {k1}, {k2})")
    fs = math.ceil(math.sqrt(n_filters))
    w = w.reshape(n_filters, c1, c2, k1, k2)
    full = torch.zeros(fs * fs, c1, c2, k1, k2, dtype=w.dtype, device=w.device)
    full[:n_filters] = w
    full = full.view(fs, fs, c1, c2, k1, k2).permute(2, 0, 4, 3, 1, 5)  # (c1, f1, k1, c2, f2, k2)
    return full.reshape(c1 * fs * k1, c2 * fs * k2)


def reshape_locally_connected_weights(
    w: torch.Tensor,
    n_filters: int,
    kernel_size: IntOrPair,
    conv_size: IntOrPair,
    locations: torch.Tensor,
    input_sqrt: IntOrPair,
) -> torch.Tensor:
    """A ``LocalConnection``'s weights (``[n_input, n_filters * conv_h * conv_w]``,
    zero outside each neuron's receptive field) as one image, laid out like
    :func:`reshape_local_connection_2d_weights`.

    ``locations`` (``[k_h * k_w, conv_h * conv_w]``, the connection's attribute)
    gives the input indices of each output position's receptive field.
    """
    w = _tensor(w, "w")
    k1, k2 = _pair(kernel_size, "kernel_size")
    c1, c2 = _pair(conv_size, "conv_size")
    locations = _tensor(locations, "locations").long()
    if tuple(locations.shape) != (k1 * k2, c1 * c2):
        raise ValueError(f"locations has shape {tuple(locations.shape)}, expected ({k1 * k2}, {c1 * c2})")
    w = w.reshape(w.shape[0], n_filters, c1 * c2)
    # kernels[f, p, :] = w[locations[:, p], f, p]
    positions = torch.arange(c1 * c2)
    kernels = w[locations, :, positions.view(1, -1)]  # (k1*k2, c1*c2, n_filters)
    kernels = kernels.permute(2, 1, 0).reshape(n_filters, c1, c2, k1, k2)
    return reshape_local_connection_2d_weights(kernels, n_filters, (k1, k2), (c1, c2), input_sqrt)


def im2col_indices(x: torch.Tensor, kernel_height: int, kernel_width: int, padding: IntOrPair = (0, 0), stride: IntOrPair = (1, 1)) -> torch.Tensor:
    """Patches of ``x [B, C, H, W]`` as columns (``torch.nn.functional.unfold``)."""
    return F.unfold(_tensor(x, "x"), (kernel_height, kernel_width), padding=padding, stride=stride)


def col2im_indices(cols: torch.Tensor, x_shape, kernel_height: int, kernel_width: int, padding: IntOrPair = (0, 0), stride: IntOrPair = (1, 1)) -> torch.Tensor:
    """Columns back into an image of spatial size ``x_shape`` (``torch.nn.functional.fold``; overlaps are summed)."""
    return F.fold(_tensor(cols, "cols"), tuple(x_shape), (kernel_height, kernel_width), padding=padding, stride=stride)
