"""Every check of a run's arguments, in one place.

Each function raises a ValueError or TypeError at the point of entry, naming
the argument, the value received and what is expected; none changes the
caller's tensors (results are views or copies) or the network.
"""

from __future__ import annotations

import math
from typing import Dict, Mapping, Optional

import numpy as np
import torch

from ..dynamics.checks import _FLOAT32_MAX, all_finite, describe
from ..dynamics.nodes import Nodes

__all__ = [
    "names_of",
    "checked_inputs",
    "batch_of",
    "checked_masks",
    "checked_injects",
    "checked_weight_masks",
    "checked_reward",
    "checked_weights",
    "value_stamp",
    "one_thread",
]

OK_INPUT_DTYPES = {
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64,
}


def names_of(table) -> str:
    return ", ".join(repr(k) for k in table) or "none"


def checked_inputs(network, inputs, steps: int, what: str) -> Dict[str, torch.Tensor]:
    """Validate and view inputs as ``[T, B, *shape]`` (no copy, never modified)."""
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping):
        raise TypeError(f"{what} must be a dict of layer name -> tensor, got {describe(inputs)}")
    out = {}
    batch = None
    device = network.device
    for name, value in inputs.items():
        if name not in network.layers:
            raise ValueError(f"{what}: no layer named {name!r} in the network (layers: {names_of(network.layers)})")
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{what}[{name!r}] must be a tensor, got {describe(value)}")
        if value.dtype not in OK_INPUT_DTYPES:
            raise TypeError(f"{what}[{name!r}] has dtype {value.dtype}; expected bool, integer or real floating point")
        shape = network.layers[name].shape
        n = network.layers[name].n
        nd = len(shape)
        if value.dim() == nd and tuple(value.shape) == shape or value.dim() == 1 and value.numel() == n:
            v = value.reshape(1, 1, *shape)
        elif value.dim() == nd + 1 and tuple(value.shape[1:]) == shape or (value.dim() == 2 and value.shape[1] == n and nd > 1):
            v = value.reshape(value.shape[0], 1, *shape)
        elif value.dim() == nd + 2 and tuple(value.shape[2:]) == shape or (value.dim() == 3 and value.shape[2] == n and nd > 1):
            v = value.reshape(value.shape[0], value.shape[1], *shape)
        elif value.dim() >= 3 and math.prod(value.shape[2:]) == n:
            # BindsNET: a step of another shape with the layer's element count, e.g. (T, 1, 28, 28) for (1, 1, 1, 28, 28)
            v = value.reshape(value.shape[0], value.shape[1], *shape)
        elif value.dim() >= 2 and math.prod(value.shape[1:]) == n:
            v = value.reshape(value.shape[0], 1, *shape)
        else:
            dims = ", ".join(map(str, shape))
            raise ValueError(
                f"{what}[{name!r}] has shape {tuple(value.shape)}; expected (T, B, {dims}), (T, {dims}) "
                f"or ({dims},) for layer {name!r} of {n} neurons"
            )
        if v.shape[0] < steps:
            raise ValueError(f"{what}[{name!r}] has {v.shape[0]} time steps, but the run has {steps} steps")
        if v.shape[1] < 1:
            raise ValueError(f"{what}[{name!r}] has batch size 0; expected at least 1")
        if batch is not None and v.shape[1] != batch[1]:
            raise ValueError(f"{what}: batch sizes differ: {batch[0]!r} has {batch[1]}, {name!r} has {v.shape[1]}")
        batch = (name, v.shape[1])
        if device is not None and v.device != device:
            raise ValueError(f"{what}[{name!r}] is on {v.device}, the network on {device}; move it with .to({str(device)!r})")
        if not all_finite(v[:steps]):
            raise ValueError(f"{what}[{name!r}] contains NaN or inf values; expected finite numbers")
        # float64 values past float32's range would become inf in the step.
        if v.dtype == torch.float64 and v.numel() and float(v[:steps].abs().max()) > _FLOAT32_MAX:
            raise ValueError(
                f"{what}[{name!r}] holds values beyond float32's range (|x| <= {_FLOAT32_MAX:.4g}), "
                "which the engine computes in"
            )
        out[name] = v[:steps]
    return out


def batch_of(network, inputs: Dict[str, torch.Tensor]) -> int:
    for v in inputs.values():
        return int(v.shape[1])
    return network.batch_size


def _per_step(network, what: str, name: str, value, steps: int, batch: int, dtype) -> tuple:
    """A layer mask/injection: returns (tensor, per_step) shaped to broadcast with [B, *shape]."""
    if name not in network.layers:
        raise ValueError(f"{what}: no layer named {name!r} in the network (layers: {names_of(network.layers)})")
    layer = network.layers[name]
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if isinstance(value, (int, float)) and what == "injects_v":
        value = torch.tensor(float(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{what}[{name!r}] must be a tensor, got {describe(value)}")
    if dtype == torch.bool and value.is_floating_point():
        raise TypeError(f"{what}[{name!r}] must be a bool mask, got dtype {value.dtype}")
    shape, n, nd = layer.shape, layer.n, len(layer.shape)
    if dtype == torch.bool and value.dtype in (torch.int64, torch.int32, torch.int16):
        # BindsNET: an integer tensor lists the (flat) indices of the neurons to clamp.
        idx = value.reshape(-1).long()
        if idx.numel() and (idx.min() < -n or idx.max() >= n):
            raise ValueError(f"{what}[{name!r}] lists neuron indices outside [0, {n}) for layer {name!r}")
        mask = torch.zeros(n, dtype=torch.bool, device=value.device)
        mask[idx] = True
        value = mask
    device = layer.device
    if value.device != device:
        raise ValueError(f"{what}[{name!r}] is on {value.device}, the layer on {device}")
    if value.dim() == 0 and what == "injects_v":
        return value.to(torch.float32).reshape(1, *([1] * nd)), False
    if value.numel() == n and value.dim() in (1, nd):
        return value.reshape(1, *shape).to(dtype), False
    if value.dim() in (2, nd + 1) and value.numel() == value.shape[0] * n:
        if value.shape[0] < steps:
            raise ValueError(f"{what}[{name!r}] has {value.shape[0]} time steps, but the run has {steps} steps")
        return value.reshape(value.shape[0], 1, *shape).to(dtype), True
    if value.dim() in (3, nd + 2) and value.numel() == value.shape[0] * value.shape[1] * n:
        if value.shape[0] < steps:
            raise ValueError(f"{what}[{name!r}] has {value.shape[0]} time steps, but the run has {steps} steps")
        if value.shape[1] != batch:
            raise ValueError(f"{what}[{name!r}] has batch size {value.shape[1]}, the inputs have {batch}")
        return value.reshape(value.shape[0], batch, *shape).to(dtype), True
    dims = ", ".join(map(str, shape))
    raise ValueError(
        f"{what}[{name!r}] has shape {tuple(value.shape)}; expected ({dims},) (every step), "
        f"(T, {dims}) (per step) or (T, B, {dims}) (per sample) for layer {name!r}"
    )


def checked_masks(network, masks, what: str, steps: int, batch: int) -> dict:
    """``clamp`` / ``unclamp``: layer name -> (bool mask, per_step)."""
    if masks is None:
        return {}
    if not isinstance(masks, Mapping):
        raise TypeError(f"{what} must be a dict of layer name -> bool mask, got {describe(masks)}")
    return {name: _per_step(network, what, name, m, steps, batch, torch.bool) for name, m in masks.items()}


def checked_injects(network, injects, steps: int, batch: int) -> dict:
    """``injects_v``: layer name -> (voltage, per_step)."""
    if injects is None:
        return {}
    if not isinstance(injects, Mapping):
        raise TypeError(f"injects_v must be a dict of layer name -> voltage tensor, got {describe(injects)}")
    out = {}
    for name, value in injects.items():
        t, per_step = _per_step(network, "injects_v", name, value, steps, batch, torch.float32)
        if not torch.isfinite(t).all():
            raise ValueError(f"injects_v[{name!r}] contains NaN or inf values; expected finite numbers")
        if not hasattr(network.layers[name], "v"):
            raise ValueError(f"injects_v: layer {name!r} ({type(network.layers[name]).__name__}) has no voltage v")
        out[name] = (t, per_step)
    return out


def checked_weight_masks(network, masks) -> dict:
    """``masks``: (source, target) -> bool mask of the connection's weights."""
    if masks is None:
        return {}
    if not isinstance(masks, Mapping):
        raise TypeError(f"masks must be a dict of (source, target) -> bool mask, got {describe(masks)}")
    out = {}
    for key, m in masks.items():
        key = tuple(key) if isinstance(key, (list, tuple)) else key
        if key not in network.connections:
            raise ValueError(f"masks: no connection {key!r} in the network (connections: {names_of(network.connections)})")
        conn = network.connections[key]
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            raise TypeError(f"masks[{key!r}] must be a bool tensor, got {describe(m)}")
        expected = (conn.source.n, conn.target.n)
        if getattr(conn, "own_weight_shape", False):  # shared weights (convolution, local, ...): their own shape
            expected = tuple(conn.weights().shape)
        if tuple(m.shape) != expected:
            raise ValueError(f"masks[{key!r}] has shape {tuple(m.shape)}, expected {expected} (the shape of its weights)")
        out[key] = m.to(conn.weights().device)
    return out


def checked_reward(reward, batch: int):
    if reward is None:
        return None
    if isinstance(reward, bool) or not isinstance(reward, (int, float, torch.Tensor, np.ndarray, np.number)):
        raise TypeError(f"reward must be a number or a tensor, got {describe(reward)}")
    r = torch.as_tensor(reward, dtype=torch.float32)
    if not torch.isfinite(r).all():
        raise ValueError(f"reward contains NaN or inf: {describe(reward)}")
    if r.numel() not in (1, batch):
        raise ValueError(f"reward has {r.numel()} values, expected 1 or the batch size {batch}")
    return reward


def value_stamp(value) -> tuple:
    """What tells whether a parameter or tensor changed since it was last seen:
    a number's type and text; a tensor's address, layout and version (the
    version counts in-place writes). Holding the tensor keeps its address
    from being reused, so an equal stamp means the same values."""
    if isinstance(value, torch.Tensor):
        return (value.data_ptr(), value._version, tuple(value.shape), value.stride(), value.dtype, value.device)
    return (type(value), repr(value))


def checked_weights(network) -> None:
    """Weights may be set between runs (``conn.w[...] = x``): refuse NaN/inf before simulating."""
    for (src, tgt), conn in network.connections.items():
        w = conn.weights()
        # Only weights changed since the last check (tensor versions count in-place writes).
        stamp = (w.data_ptr(), w._version)
        if conn.__dict__.get("checked_stamp") == stamp:
            continue
        with one_thread():
            finite = all_finite(w)
        if not finite:
            raise ValueError(f"connection {src!r}->{tgt!r} has NaN or inf weights; expected finite numbers")
        conn.__dict__["checked_stamp"] = stamp


class one_thread:
    """Run a block on one intra-op thread: a step's tensors are small, and
    thread hand-offs cost more than they save (6x slower on a busy 2-core
    machine). Re-entrant; ``threads`` is the caller's count."""

    def __enter__(self):
        self.threads = torch.get_num_threads()
        if self.threads > 1:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.threads > 1:
            torch.set_num_threads(self.threads)
