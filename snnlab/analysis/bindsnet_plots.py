"""BindsNET's remaining plotting functions: the input and its encoding,
convolutional and locally connected weights, assignments, accuracy curves.

Re-exported by :mod:`snnlab.analysis.plotting` (BindsNET's path). Same
arguments and re-drawing handles as BindsNET's; they draw with ``pyplot`` so
that ``plt.show()`` / ``plt.pause()`` in a script show them.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .. import utils

__all__ = [
    "plot_input",
    "plot_conv2d_weights",
    "plot_locally_connected_weights",
    "plot_local_connection_2d_weights",
    "plot_assignments",
    "plot_performance",
]


def _np(x: Any, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy()
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a tensor or array, got {type(x).__name__}") from None


def _image(x: Any, what: str) -> np.ndarray:
    a = _np(x, what)
    a = a.squeeze() if a.ndim > 2 else a
    if a.ndim != 2:
        raise ValueError(f"{what} must be a 2-D image (extra dimensions of size 1 are dropped), got shape {a.shape}")
    return a


def _save(fig, save) -> None:
    if save is not None:
        from .plotting import save_figure

        save_figure(fig, save)


def _colorbar(fig, ax, im):
    return fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def plot_input(
    image: Any,
    inpt: Any,
    label: Optional[int] = None,
    axes: Optional[Sequence] = None,
    ims: Optional[Sequence] = None,
    figsize: Tuple[float, float] = (8, 4),
) -> Tuple[List, List]:
    """An input image beside its spike encoding (e.g. the spike counts per pixel).

    Parameters
    ----------
    image, inpt : Tensor or ndarray
        2-D images (dimensions of size 1 are dropped).
    label : int, optional
        Shown in the title.
    axes, ims : optional
        The handles of an earlier call: the images are updated in place.

    Returns
    -------
    (axes, ims)
        For re-drawing.

    Examples
    --------
    >>> axes, ims = plot_input(torch.rand(8, 8), torch.rand(1, 8, 8), label=3)
    >>> axes[0].get_title()
    'Current image (label = 3)'
    """
    a, b = _image(image, "image"), _image(inpt, "inpt")
    if axes is None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=figsize)
        ims = [axes[0].imshow(a, cmap="binary", aspect="auto"), axes[1].imshow(b, cmap="binary", aspect="auto")]
        axes[1].set_title("Reconstruction")
        for ax in axes:
            ax.set_xticks(())
            ax.set_yticks(())
        fig.tight_layout()
    else:
        ims[0].set_data(a)
        ims[1].set_data(b)
        for im, data in zip(ims, (a, b)):
            im.set_clim(float(data.min()), float(data.max()))
    axes[0].set_title("Current image" if label is None else f"Current image (label = {int(label)})")
    return list(axes), list(ims)


def _heatmap(data: np.ndarray, im, wmin, wmax, figsize, cmap, title, lines=()):
    if im is not None:
        im.set_data(data)
        return im
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    im = ax.imshow(data, cmap=cmap, vmin=wmin, vmax=wmax, aspect="auto", interpolation="nearest")
    for axis, pos, style in lines:
        (ax.axhline if axis == "h" else ax.axvline)(pos - 0.5, color="g", linestyle=style, linewidth=0.8)
    ax.set_xticks(())
    ax.set_yticks(())
    if title is not None:
        ax.set_title(f"{title} Weights")
    _colorbar(fig, ax, im)
    fig.tight_layout()
    return im


def plot_conv2d_weights(
    weights: torch.Tensor,
    wmin: float = 0.0,
    wmax: float = 1.0,
    im=None,
    figsize: Tuple[float, float] = (5, 5),
    cmap: str = "hot_r",
    title: Optional[str] = None,
):
    """A ``Conv2dConnection``'s kernels ``[out, in, h, w]`` on a grid
    (:func:`snnlab.utils.reshape_conv2d_weights`), dashed lines between kernels.

    Returns
    -------
    AxesImage
        For re-drawing.
    """
    data = utils.reshape_conv2d_weights(weights).cpu().numpy()
    h, w = int(weights.shape[2]), int(weights.shape[3])
    lines = [("h", i, "--") for i in range(h, data.shape[0], h)] + [("v", i, "--") for i in range(w, data.shape[1], w)]
    return _heatmap(data, im, wmin, wmax, figsize, cmap, title, lines)


def plot_locally_connected_weights(
    weights: torch.Tensor,
    n_filters: int,
    kernel_size,
    conv_size,
    locations: torch.Tensor,
    input_sqrt,
    wmin: float = 0.0,
    wmax: float = 1.0,
    im=None,
    lines: bool = True,
    figsize: Tuple[float, float] = (5, 5),
    cmap: str = "hot_r",
    title: Optional[str] = None,
):
    """A ``LocalConnection``'s kernels, one grid of filters per output position
    (:func:`snnlab.utils.reshape_locally_connected_weights`).

    Returns
    -------
    AxesImage
        For re-drawing.
    """
    data = utils.reshape_locally_connected_weights(weights, n_filters, kernel_size, conv_size, locations, input_sqrt)
    k = utils._pair(kernel_size, "kernel_size")
    fs = int(np.ceil(np.sqrt(n_filters)))
    grid = []
    if lines:
        grid = [("h", i, "--") for i in range(fs * k[0], data.shape[0], fs * k[0])]
        grid += [("v", i, "--") for i in range(fs * k[1], data.shape[1], fs * k[1])]
    return _heatmap(data.cpu().numpy(), im, wmin, wmax, figsize, cmap, title, grid)


def plot_local_connection_2d_weights(
    lc,
    input_channel: int = 0,
    output_channel: Optional[int] = None,
    im=None,
    lines: bool = True,
    figsize: Tuple[float, float] = (5, 5),
    cmap: str = "hot_r",
    color: str = "r",
    title: Optional[str] = None,
):
    """The kernels of a ``LocalConnection2D`` for one input channel (all
    filters, or one ``output_channel``), one grid per output position.

    Returns
    -------
    AxesImage
        For re-drawing.
    """
    w = lc.w.detach().cpu().view(lc.in_channels, lc.n_filters, *lc.conv_size, *lc.kernel_size)
    if not 0 <= input_channel < lc.in_channels:
        raise ValueError(f"input_channel must be in [0, {lc.in_channels}), got {input_channel}")
    w = w[input_channel]
    n = lc.n_filters
    if output_channel is not None:
        if not 0 <= output_channel < lc.n_filters:
            raise ValueError(f"output_channel must be in [0, {lc.n_filters}), got {output_channel}")
        w, n = w[output_channel : output_channel + 1], 1
    data = utils.reshape_local_connection_2d_weights(w, n, lc.kernel_size, lc.conv_size, lc.conv_size).numpy()
    fs = int(np.ceil(np.sqrt(n)))
    grid = []
    if lines and output_channel is None:
        grid = [("h", i, "--") for i in range(fs * lc.kernel_size[0], data.shape[0], fs * lc.kernel_size[0])]
        grid += [("v", i, "--") for i in range(fs * lc.kernel_size[1], data.shape[1], fs * lc.kernel_size[1])]
    return _heatmap(data, im, lc.wmin, lc.wmax, figsize, cmap, title, grid)


def plot_assignments(
    assignments: Any,
    im=None,
    figsize: Tuple[float, float] = (5, 5),
    classes: Optional[Sequence] = None,
    save: Optional[Union[str, os.PathLike]] = None,
):
    """The label assigned to each neuron, as a grid of colours (``-1``: none).

    Parameters
    ----------
    assignments : Tensor
        2-D grid of labels (see :func:`snnlab.utils.get_square_assignments`).
    classes : sequence, optional
        Class names (default: 0-9).
    save : path, optional
        Also write the figure to a numbered file (``a.png`` -> ``a.1.png``)
        and return ``(im, that name)``, as BindsNET.

    Returns
    -------
    AxesImage
        For re-drawing.

    Examples
    --------
    >>> im = plot_assignments(torch.tensor([[0, 1], [-1, 9]]))
    >>> im.get_array().tolist()
    [[0.0, 1.0], [-1.0, 9.0]]
    """
    data = _np(assignments, "assignments")
    if data.ndim != 2:
        raise ValueError(f"assignments must be a 2-D grid, got shape {data.shape}")
    n = 10 if classes is None else len(classes)
    if save is not None:
        im = None  # as BindsNET: a saved plot is a new figure each time (closed after saving)
    if im is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize)
        ax.set_title("Categorical assignments")
        im = ax.matshow(data, cmap=plt.get_cmap("RdBu", n + 1), vmin=-1.5, vmax=n - 0.5)
        cbar = _colorbar(fig, ax, im)
        cbar.set_ticks(list(range(-1, n)))
        cbar.ax.set_yticklabels(["none"] + [str(c) for c in (range(n) if classes is None else classes)])
        ax.set_xticks(())
        ax.set_yticks(())
        fig.tight_layout()
    else:
        im.set_data(data)
    if save is not None:
        from .plotting import numbered_name, save_figure

        import matplotlib.pyplot as plt

        numbered = numbered_name(save)
        save_figure(im.axes.figure, numbered)
        plt.close(im.axes.figure)
        return im, numbered
    return im


def plot_performance(
    performances: Dict[str, Sequence[float]],
    ax=None,
    figsize: Tuple[float, float] = (7, 4),
    x_scale: float = 1,
    save: Optional[Union[str, os.PathLike]] = None,
):
    """Accuracy (%) of each classification scheme against the number of examples seen.

    Parameters
    ----------
    performances : dict
        Scheme name -> accuracies in % (one per evaluation).
    x_scale : float
        Examples between evaluations.
    ax : Axes, optional
        Cleared and redrawn.

    Returns
    -------
    Axes
        For re-drawing.

    Examples
    --------
    >>> ax = plot_performance({"all": [10.0, 50.0, 70.0]}, x_scale=100)
    >>> ax.lines[0].get_xdata().tolist()
    [0, 100, 200]
    """
    if not isinstance(performances, dict):
        raise TypeError(f"performances must be a dict of scheme -> accuracies, got {type(performances).__name__}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    else:
        ax.clear()
    for scheme, values in performances.items():
        values = list(values)
        ax.plot([i * x_scale for i in range(len(values))], values, label=scheme)
    ax.set_ylim(0, 100)
    ax.set_yticks(range(0, 110, 10))
    ax.set_title("Estimated classification accuracy")
    ax.set_xlabel("No. of examples")
    ax.set_ylabel("Accuracy (%)")
    if performances:
        ax.legend()
    _save(ax.figure, save)
    return ax
