"""Convert a trained ReLU network into a spiking one."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..network import Network
from ..network.nodes import Input
from ..network.topology import Connection, Conv2dConnection, MaxPool2dConnection
from .nodes import PassThroughNodes, SubtractiveResetIFNodes

__all__ = ["Permute", "FeatureExtractor", "data_based_normalization", "ann_to_snn"]


class Permute(nn.Module):
    """``x.permute(*dims)`` as a module."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims).contiguous()


class FeatureExtractor(nn.Module):
    """Runs the children of a module in order and returns every child's output by name."""

    def __init__(self, submodule: nn.Module) -> None:
        super().__init__()
        self.submodule = submodule

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        activations = {"input": x}
        for name, module in self.submodule.named_children():
            if isinstance(module, nn.Linear):
                x = x.reshape(-1, module.in_features)  # as BindsNET: rows of in_features values
            x = module(x)
            activations[name] = x
        return activations


def _children(ann: nn.Module):
    """The modules in order, nn.Sequential children flattened."""
    for name, module in ann.named_children():
        if isinstance(module, nn.Sequential):
            for sub_name, sub in module.named_children():
                yield f"{name}.{sub_name}", sub
        else:
            yield name, module


def data_based_normalization(ann: nn.Module, data: torch.Tensor, percentile: float = 99.9) -> nn.Module:
    """Rescale weights and biases (in place) so that each layer's ReLU
    activations on ``data`` have their ``percentile`` at 1 (Rueckauer et al. 2017):
    a layer's weights are multiplied by ``previous scale / this scale``, its bias
    divided by this scale. ``data`` is fed to the modules in order (for a
    ``Linear`` module reshaped to rows of ``in_features`` values), so only
    modules applied in the order they were defined, with their ReLUs as
    modules, are normalized.

    Unlike BindsNET, ``ann`` must be a module: a path would be unpickled
    (``torch.load(weights_only=False)`` runs code from the file), so load a
    file you trust yourself.
    """
    if not isinstance(ann, nn.Module):
        raise TypeError(f"ann must be a torch.nn.Module (load files yourself), got {type(ann).__name__}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    for p in ann.parameters():
        p.requires_grad_(False)
    modules = list(_children(ann))
    x = data
    prev, prev_factor = None, 1.0
    with torch.no_grad():
        for name, module in modules:
            if isinstance(module, nn.Linear):
                x = x.reshape(-1, module.in_features)  # as BindsNET: rows of in_features values
            x = module(x)
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                prev = module
            elif isinstance(module, nn.ReLU) and prev is not None:
                scale = float(np.percentile(x.detach().cpu().numpy(), percentile))
                if scale <= 0:
                    continue  # a dead layer: nothing to rescale
                prev.weight *= prev_factor / scale
                if prev.bias is not None:
                    prev.bias /= scale
                prev_factor = scale
    return ann


def ann_to_snn(
    ann: nn.Module,
    input_shape: Sequence[int],
    data: Optional[torch.Tensor] = None,
    percentile: float = 99.9,
    node_type: type = SubtractiveResetIFNodes,
    **kwargs,
) -> Network:
    """A spiking network computing (in firing rates) what ``ann`` computes.

    ``Linear`` and ``Conv2d`` modules become layers of ``node_type``
    (threshold 1, reset 0, no refractory period; the last one sums its input,
    ``sum_input=True``) connected with their weights and biases; ``ReLU`` is the
    neurons' own rectification; ``MaxPool2d`` becomes a
    ``MaxPool2dConnection`` to ``PassThroughNodes``; ``Flatten`` / ``Dropout``
    need nothing. With ``data``, weights are first normalized
    (:func:`data_based_normalization`). The input layer is ``"Input"``; the
    others are named after the modules.

    Raises ValueError for a module it cannot convert.
    """
    if not isinstance(ann, nn.Module):
        raise TypeError(f"ann must be a torch.nn.Module, got {type(ann).__name__}")
    if data is not None:
        data_based_normalization(ann, data.detach(), percentile)
    snn = Network()
    shape = tuple(int(s) for s in input_shape)
    prev = Input(shape=shape)
    snn.add_layer(prev, name="Input")
    prev_name = "Input"
    modules = [(n, m) for n, m in _children(ann)]
    weighted = [i for i, (_, m) in enumerate(modules) if isinstance(m, (nn.Linear, nn.Conv2d))]
    last = weighted[-1] if weighted else -1
    for i, (name, module) in enumerate(modules):
        if isinstance(module, (nn.ReLU, nn.Flatten, nn.Dropout, nn.Identity)):
            continue
        name = name.replace(".", "_")
        if isinstance(module, nn.Linear):
            layer = node_type(n=module.out_features, reset=0.0, thresh=1.0, refrac=0.0, sum_input=i == last, **kwargs)
            bias = module.bias if module.bias is not None else torch.zeros(layer.n)
            conn = Connection(prev, layer, w=module.weight.detach().t(), b=bias.detach())
        elif isinstance(module, nn.Conv2d):
            if len(prev.shape) != 3:
                raise ValueError(f"Conv2d module {name!r} needs a (channels, height, width) input, got {prev.shape}")
            h, w = prev.shape[1:]
            k, st, pad, dil = module.kernel_size, module.stride, module.padding, module.dilation
            out = tuple((s + 2 * pad[j] - dil[j] * (k[j] - 1) - 1) // st[j] + 1 for j, s in enumerate((h, w)))
            layer = node_type(shape=(module.out_channels, *out), reset=0.0, thresh=1.0, refrac=0.0, sum_input=i == last, **kwargs)
            conn = Conv2dConnection(prev, layer, kernel_size=k, stride=st, padding=pad, dilation=dil,
                                    w=module.weight.detach(), b=None if module.bias is None else module.bias.detach())
        elif isinstance(module, nn.MaxPool2d):
            if len(prev.shape) != 3:
                raise ValueError(f"MaxPool2d module {name!r} needs a (channels, height, width) input, got {prev.shape}")
            pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
            k, pad, dil = pair(module.kernel_size), pair(module.padding), pair(module.dilation)
            st = pair(module.stride if module.stride is not None else module.kernel_size)
            h, w = prev.shape[1:]
            out = tuple((s + 2 * pad[j] - dil[j] * (k[j] - 1) - 1) // st[j] + 1 for j, s in enumerate((h, w)))
            layer = PassThroughNodes(shape=(prev.shape[0], *out))
            conn = MaxPool2dConnection(prev, layer, kernel_size=k, stride=st, padding=pad, dilation=dil, decay=1.0)
        else:
            raise ValueError(f"ann_to_snn cannot convert module {name!r} of type {type(module).__name__}")
        snn.add_layer(layer, name=name)
        snn.add_connection(conn, source=prev_name, target=name)
        prev, prev_name = layer, name
    return snn
