"""Saving and loading networks in a safe format.

A saved network is a ``torch.save`` archive holding only plain data: a
JSON-like description of the layers and connections (registered class
names, see :func:`snnlab.dynamics.register`; the parameters of each object's
record as numbers, strings and lists) and a dict of tensors (weights and
every state variable). Loading uses ``torch.load(weights_only=True)`` and
builds objects only from registered classes, so a file can never run code. Monitors and their recordings are not
saved.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict

import torch

from ..dynamics import lookup, name_of
from ..dynamics import nodes as _nodes
from ..dynamics import rules as _learning
from ..dynamics import topology as _topology

FORMAT = "snnlab.network"
VERSION = 1

def _registered(name, base):
    """The class registered under ``name`` if it is a ``base`` (snnlab.dynamics.register)."""
    cls = lookup(name) if isinstance(name, str) else None
    return cls if isinstance(cls, type) and issubclass(cls, base) else None


def _saved_name(obj, what: str) -> str:
    name = name_of(obj)
    if name is None:
        raise TypeError(
            f"cannot save {what} of class {type(obj).__name__}: register it first "
            "(snnlab.dynamics.register) so that it can be loaded by name"
        )
    return name
_REDUCTIONS = {None: None, "sum": torch.sum, "mean": torch.mean}


def _encode(owner: str, name: str, value: Any, tensors: Dict[str, torch.Tensor]):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"float": repr(value)} if not math.isfinite(value) else value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
        return {"tuple": [_encode(owner, name, v, tensors) for v in value]}
    if isinstance(value, torch.Tensor):
        key = f"{owner}/{name}"
        tensors[key] = value.detach().cpu().clone()
        return {"tensor": key}
    raise TypeError(f"cannot save {owner} parameter {name!r} of type {type(value).__name__}")


def _decode(value: Any, tensors: Dict[str, torch.Tensor]):
    if isinstance(value, dict):
        if set(value) == {"tensor"}:
            return tensors[value["tensor"]]
        if set(value) == {"float"}:
            return float(value["float"])
        if set(value) == {"tuple"}:
            return tuple(_decode(v, tensors) for v in value["tuple"])
        raise ValueError(f"unexpected value in saved network: {value!r}")
    return value


def _params(obj, owner: str, tensors, skip=()) -> Dict[str, Any]:
    """The object's parameters, from its record (``params``)."""
    out = {}
    if isinstance(obj, _nodes.Nodes):
        out["shape"] = list(obj.shape)
    for p in type(obj).params:
        if p.name not in skip:
            out[p.name] = _encode(owner, p.name, getattr(obj, p.name), tensors)
    return out


def save(network, path: "str | os.PathLike") -> None:
    """Write ``network`` (structure, weights, state) to ``path``."""
    tensors: Dict[str, torch.Tensor] = {}
    layers = []
    for name, layer in network.layers.items():
        owner = f"layer/{name}"
        layers.append({"name": name, "class": _saved_name(layer, f"layer {name!r}"), "params": _params(layer, owner, tensors)})
        for attr, value in list(layer._buffers.items()) + [
            (k, v) for k, v in layer.__dict__.items() if isinstance(v, torch.Tensor)
        ]:
            if value is not None:
                tensors[f"state/{name}/{attr}"] = value.detach().cpu().clone()
    connections = []
    for (src, tgt), conn in network.connections.items():
        owner = f"conn/{src}/{tgt}"
        entry = {
            "source": src,
            "target": tgt,
            "class": _saved_name(conn, f"connection {src!r}->{tgt!r}"),
            "params": _params(conn, owner, tensors),
            "nu": list(conn.nu),
            "rule": _saved_name(conn.update_rule, f"the learning rule of {src!r}->{tgt!r}"),
            "rule_params": _params(conn.update_rule, f"{owner}/rule", tensors, skip=("nu",)),
            "reduction": {torch.sum: "sum", torch.mean: "mean", None: None}.get(conn.reduction, "unsupported"),
        }
        if entry["reduction"] == "unsupported":
            raise TypeError(f"cannot save connection {src!r}->{tgt!r}: reduction must be None, torch.sum or torch.mean")
        if isinstance(conn, _topology.SparseConnection):
            tensors[f"{owner}/rows"] = conn.rows.cpu().clone()
            tensors[f"{owner}/cols"] = conn.cols.cpu().clone()
            tensors[f"{owner}/values"] = conn.values.detach().cpu().clone()
        else:
            tensors[f"{owner}/w"] = conn.w.detach().cpu().clone()
            if conn.b is not None:
                tensors[f"{owner}/b"] = conn.b.detach().cpu().clone()
        connections.append(entry)
    spec = {
        "format": FORMAT,
        "version": VERSION,
        "dt": network.dt,
        "batch_size": network.batch_size,
        "learning": network.learning,
        "layers": layers,
        "connections": connections,
    }
    torch.save({"spec": spec, "tensors": tensors}, os.fspath(path))


def load(path: "str | os.PathLike", map_location=None, learning=None):
    """Read a network written by :meth:`Network.save`.

    Raises ValueError for a file that is not a saved snnlab network.
    """
    Network = lookup("Network")  # registered by snnlab.network.network (no import cycle)
    try:
        archive = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as ex:  # pickle errors, truncated files, foreign objects
        raise ValueError(f"{os.fspath(path)!r} is not a saved snnlab network ({type(ex).__name__}: {ex})") from ex
    if not isinstance(archive, dict) or not isinstance(archive.get("spec"), dict) or archive["spec"].get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a saved snnlab network (no '{FORMAT}' header)")
    spec, tensors = archive["spec"], archive["tensors"]
    if spec.get("version") != VERSION:
        raise ValueError(f"{os.fspath(path)!r} has format version {spec.get('version')!r}; this snnlab reads {VERSION}")
    net = Network(dt=spec["dt"], batch_size=spec["batch_size"], learning=spec["learning"] if learning is None else learning)
    for entry in spec["layers"]:
        cls = _registered(entry["class"], _nodes.Nodes)
        if cls is None:
            raise ValueError(f"saved layer {entry['name']!r} has unknown class {entry['class']!r}")
        params = {k: _decode(v, tensors) for k, v in entry["params"].items()}
        layer = cls(**params)
        net.add_layer(layer, entry["name"])
        # Restore the saved state (add_layer made a fresh one for the batch size).
        prefix = f"state/{entry['name']}/"
        for key, value in tensors.items():
            if key.startswith(prefix):
                attr = key[len(prefix):]
                if attr in layer._buffers:
                    layer._buffers[attr] = value.clone()
                else:
                    layer.__dict__[attr] = value.clone()
    for entry in spec["connections"]:
        cls = _registered(entry["class"], _topology.AbstractConnection)
        rule = _registered(entry["rule"], _learning.LearningRule)
        if cls is None or rule is None:
            raise ValueError(f"saved connection {entry['source']!r}->{entry['target']!r} has unknown class or rule")
        src, tgt = entry["source"], entry["target"]
        owner = f"conn/{src}/{tgt}"
        params = {k: _decode(v, tensors) for k, v in entry["params"].items()}
        params.update({k: _decode(v, tensors) for k, v in entry.get("rule_params", {}).items()})
        if issubclass(cls, _topology.SparseConnection):
            n_in, n_out = net.layers[src].n, net.layers[tgt].n
            params["w"] = torch.sparse_coo_tensor(
                torch.stack([tensors[f"{owner}/rows"], tensors[f"{owner}/cols"]]), tensors[f"{owner}/values"], (n_in, n_out)
            )
        else:
            params["w"] = tensors[f"{owner}/w"]
            if f"{owner}/b" in tensors:
                params["b"] = tensors[f"{owner}/b"]
        conn = cls(
            net.layers[src], net.layers[tgt], nu=tuple(entry["nu"]), update_rule=rule,
            reduction=_REDUCTIONS[entry["reduction"]], **params,
        )
        net.add_connection(conn, src, tgt)
    if map_location is not None:
        net.to(map_location)
    return net
