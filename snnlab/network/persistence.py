"""Saving and loading networks in a safe format.

A saved network is a ``torch.save`` archive holding only plain data: a
JSON-like description of the layers and connections (registered class
names, see :func:`snnlab.dynamics.register`; the parameters of each object's
record as numbers, strings and lists) and a dict of tensors (weights,
every state variable, and the learning rules' own state such as MSTDP's
eligibility). A ``MulticompartmentConnection`` also saves its pipeline:
each feature's class, name, range and parameters, and its current value
(the ``Weight``'s is the connection's ``w``). Loading uses ``torch.load(weights_only=True)`` and
builds objects only from registered classes, so a file can never run code. Monitors and their recordings are not
saved.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, Optional

import torch

from ..dynamics import lookup, name_of
from ..dynamics import nodes as _nodes
from ..dynamics import rules as _learning
from ..dynamics import topology as _topology
from ..dynamics.checks import check_device
from .._files import mkstemp_beside
from .topology_extra import MulticompartmentConnection
from .topology_features import SAVED_FEATURES, Weight

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


def _param_names(obj_or_cls) -> set:
    """Names of the parameters in the class's record (plus a layer's ``n``/``shape``)."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return {p.name for p in cls.params} | {"n", "shape"}
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


def _decode(value: Any, tensors: Dict[str, torch.Tensor], used: set, where: str):
    if isinstance(value, dict):
        if set(value) == {"tensor"}:
            key = value["tensor"]
            if not isinstance(key, str) or key not in tensors:
                raise ValueError(f"{where} refers to tensor {key!r}, which the file does not hold")
            used.add(key)
            return tensors[key].clone()
        if set(value) == {"float"}:
            if value["float"] not in ("inf", "-inf", "nan"):
                raise ValueError(f"{where}: unexpected float {value['float']!r}; expected 'inf', '-inf' or 'nan'")
            return float(value["float"])
        if set(value) == {"tuple"} and isinstance(value["tuple"], list):
            return tuple(_decode(v, tensors, used, where) for v in value["tuple"])
        raise ValueError(f"{where}: unexpected value in saved network: {_short(value)}")
    if isinstance(value, list):
        return [_decode(v, tensors, used, where) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"{where}: unexpected value in saved network: {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _params(obj, owner: str, tensors, skip=()) -> Dict[str, Any]:
    """The object's parameters, from its record (``params``)."""
    out = {}
    if isinstance(obj, _nodes.Nodes):
        out["shape"] = list(obj.shape)
    for p in type(obj).params:
        if p.name not in skip:
            out[p.name] = _encode(owner, p.name, getattr(obj, p.name), tensors)
    # constructor keywords outside the record (CSRMNodes' kernel names)
    for name, value in getattr(obj, "constructor_keywords", dict)().items():
        out[name] = _encode(owner, name, value, tensors)
    return out


def _state_tensors(layer) -> Dict[str, torch.Tensor]:
    """The layer's tensors that are not constructor parameters: state, learned
    values (``theta``) and values set after construction (Izhikevich ``a``..``S``)."""
    params = _param_names(layer)
    out = {}
    for attr, value in list(layer._buffers.items()) + list(layer.__dict__.items()):
        if isinstance(value, torch.Tensor) and attr not in params:
            out[attr] = value
    return out


def save(network, path: "str | os.PathLike") -> None:
    """Write ``network`` (structure, weights, state) to ``path``, atomically.

    The file is written to a temporary file in the same folder, flushed to
    disk (``fsync``) and then renamed over ``path`` (``os.replace``), so a
    crash at any point (even SIGKILL) leaves either the previous file or the
    new one, never a truncated one. A temporary file left by a killed save
    is removed by the next save to the same path.
    """
    tensors: Dict[str, torch.Tensor] = {}
    layers = []
    for name, layer in network.layers.items():
        owner = f"layer/{name}"
        layers.append({"name": name, "class": _saved_name(layer, f"layer {name!r}"), "params": _params(layer, owner, tensors)})
        for attr, value in _state_tensors(layer).items():
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
        if isinstance(conn, MulticompartmentConnection):
            entry["pipeline"] = _save_pipeline(conn, owner, f"connection {src!r}->{tgt!r}", tensors)
            entry["options"] = {k: bool(getattr(conn, k)) for k in _MULTICOMPARTMENT_OPTIONS}
        if isinstance(conn, _topology.SparseConnection):
            tensors[f"{owner}/rows"] = conn.rows.cpu().clone()
            tensors[f"{owner}/cols"] = conn.cols.cpu().clone()
            tensors[f"{owner}/values"] = conn.values.detach().cpu().clone()
        else:
            tensors[f"{owner}/w"] = conn.w.detach().cpu().clone()
            if conn.b is not None:
                tensors[f"{owner}/b"] = conn.b.detach().cpu().clone()
        rule = conn.update_rule
        for name in rule.model.state if rule.model is not None else ():
            value = rule.__dict__.get(name)  # the rule's own state (MSTDP's eligibility), once it has run
            if isinstance(value, torch.Tensor):
                tensors[f"{owner}/rule_state/{name}"] = value.detach().cpu().clone()
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
    _write_atomically({"spec": spec, "tensors": tensors}, os.fspath(path))


_MULTICOMPARTMENT_OPTIONS = ("manual_update", "traces", "sparse_compute")
#: what a saved Weight feature holds besides its class, name and range
_WEIGHT_FIELDS = {"norm", "nu", "decay", "reduction", "learning_rule", "options"}
#: Weight's BindsNET-signature options that are saved (value_dtype can only be float32)
_WEIGHT_OPTIONS = tuple(k for k in Weight.bindsnet_options if k != "value_dtype")


def _save_pipeline(conn, owner: str, what: str, tensors: Dict[str, torch.Tensor]) -> list:
    """The description of a multicompartment connection's features; their values go to ``tensors``."""
    out = []
    for i, feature in enumerate(conn.pipeline):
        cls = type(feature)
        if SAVED_FEATURES.get(cls.__name__) is not cls:
            raise TypeError(
                f"cannot save {what}: its pipeline feature {feature.name!r} is a {cls.__module__}.{cls.__qualname__}, "
                f"which a load could not rebuild; only the features of snnlab.network.topology_features "
                f"({', '.join(SAVED_FEATURES)}) can be saved"
            )
        fowner = f"{owner}/pipeline/{i}"
        item = {"class": cls.__name__, "name": feature.name, "range": _encode(fowner, "range", feature.range, tensors)}
        if isinstance(feature, Weight):
            # The connection's own w, bounds, nu and rule are saved with the connection;
            # these are the feature's attributes as the user gave them.
            reduction = {torch.sum: "sum", torch.mean: "mean", None: None}.get(feature.reduction, "unsupported")
            if reduction == "unsupported":
                raise TypeError(f"cannot save {what}: the reduction of feature {feature.name!r} must be None, torch.sum or torch.mean")
            rule = feature.learning_rule
            item["params"] = {
                "norm": _encode(fowner, "norm", feature.norm, tensors),
                "nu": _encode(fowner, "nu", feature.nu, tensors),
                "decay": _encode(fowner, "decay", feature.decay, tensors),
                "reduction": reduction,
                "learning_rule": None if rule is None else _saved_name(rule, f"the learning rule of feature {feature.name!r}"),
                "options": {k: _encode(fowner, k, v, tensors) for k, v in feature._extra.items() if k in _WEIGHT_OPTIONS},
            }
        else:
            tensors[fowner] = feature.value.detach().cpu().clone()
        out.append(item)
    return out


_TMP_SUFFIX = ".snnlab-tmp"


def _remove_stale_temporaries(folder: str, base: str) -> None:
    """Remove ``.BASE.PID.*.snnlab-tmp`` files whose writing process no longer exists."""
    for entry in os.listdir(folder):
        if not (entry.startswith(f".{base}.") and entry.endswith(_TMP_SUFFIX)):
            continue
        pid_text = entry[len(base) + 2:].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:  # its writer is gone: a killed save
            try:
                os.unlink(os.path.join(folder, entry))
            except OSError:
                pass
        except OSError:  # exists but not ours (EPERM): leave it
            pass


def _write_atomically(archive: dict, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot save a network to {path!r}: it is a folder")
    _remove_stale_temporaries(folder, base)
    fd, tmp = mkstemp_beside(dir=folder, prefix=f".{base}.{os.getpid()}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(archive, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _field(mapping, key: str, types, where: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise ValueError(f"{where}: the saved entry has no {key!r}")
    value = mapping[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        names = " or ".join(t.__name__ for t in _as_tuple(types))
        raise ValueError(f"{where}: {key!r} is {_short(value)}; expected {names}")
    return value


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _restore_state(layer, lname: str, tensors: Dict[str, torch.Tensor], used: set) -> None:
    """Put the saved ``state/<layer>/<attr>`` tensors into a freshly built layer, each checked."""
    prefix = f"state/{lname}/"
    fresh = _state_tensors(layer)
    params = _param_names(layer)
    for key, value in tensors.items():
        if not key.startswith(prefix):
            continue
        attr = key[len(prefix):]
        where = f"saved state {key!r}"
        if attr in params:
            # Files of version 1 also held tensor parameters here; the
            # parameter (already restored) wins, and a different value is an error.
            current = getattr(layer, attr, None)
            if isinstance(current, torch.Tensor) and current.shape == value.shape and torch.equal(current.cpu(), value):
                used.add(key)
                continue
            raise ValueError(
                f"{where} would overwrite the parameter {attr!r} of layer {lname!r}; "
                "parameters come from the layer's params only"
            )
        if attr not in fresh:
            raise ValueError(
                f"{where}: a {type(layer).__name__} has no state {attr!r}; expected one of {sorted(fresh)}"
            )
        current = fresh[attr]
        if tuple(value.shape) != tuple(current.shape):
            raise ValueError(
                f"{where} has shape {tuple(value.shape)}; layer {lname!r} "
                f"({type(layer).__name__}, shape {tuple(layer.shape)}, batch {current.shape[0] if current.dim() else '-'}) "
                f"expects {tuple(current.shape)}"
            )
        if value.dtype != current.dtype:
            raise ValueError(
                f"{where} is {value.dtype}; layer {lname!r} keeps {attr!r} as {current.dtype} "
                f"(convert it with .to({current.dtype}) before saving if that is what you mean)"
            )
        if value.is_floating_point() and torch.isnan(value).any():
            raise ValueError(f"{where} holds NaN; expected numbers")
        # In place: the state tensors keep their address (captured CUDA graphs read them).
        current.copy_(value)
        used.add(key)


def load(path: "str | os.PathLike", map_location=None, learning=None):
    """Read a network written by :meth:`Network.save`.

    Every name, shape and dtype in the file is checked against the network it
    rebuilds: a state tensor of the wrong shape or dtype, a state entry
    naming a parameter or an unknown variable, a reference to a tensor the
    file lacks and a tensor nothing refers to all raise ``ValueError``, as
    does a file that is not a saved snnlab network. ``map_location`` (``None``,
    ``"cpu"``, ``"cuda[:i]"`` or a ``torch.device``) must be a device this
    machine has, else ``ValueError``.
    """
    where = os.fspath(path)
    device = check_device("map_location", map_location, allow_none=True)
    try:
        archive = torch.load(where, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as ex:  # pickle errors, truncated files, foreign objects
        raise ValueError(f"{where!r} is not a saved snnlab network ({type(ex).__name__}: {ex})") from ex
    if not isinstance(archive, dict) or not isinstance(archive.get("spec"), dict) or archive["spec"].get("format") != FORMAT:
        raise ValueError(f"{where!r} is not a saved snnlab network (no '{FORMAT}' header)")
    spec, tensors = archive["spec"], archive.get("tensors")
    if spec.get("version") != VERSION:
        raise ValueError(f"{where!r} has format version {_short(spec.get('version'))}; this snnlab reads {VERSION}")
    if not isinstance(tensors, dict):
        raise ValueError(f"{where!r}: the saved network has no tensors table")
    for key, value in tensors.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ValueError(f"{where!r}: the tensors table holds {_short(key)} -> {type(value).__name__}; expected name -> tensor")
        if value.layout != torch.strided:
            raise ValueError(f"{where!r}: tensor {key!r} is {value.layout}; expected a dense tensor")
    used: set = set()
    try:
        net = _rebuild(spec, tensors, used, learning)
    except (TypeError, ValueError, RuntimeError) as ex:
        if isinstance(ex, ValueError) and str(ex).startswith(repr(where)):
            raise
        raise ValueError(f"{where!r}: {ex}") from ex
    unused = sorted(set(tensors) - used)
    if unused:
        raise ValueError(f"{where!r} holds tensors nothing refers to: {', '.join(unused[:5])}{' ...' if len(unused) > 5 else ''}")
    if device is not None:
        net.to(device)
    return net


def _rebuild(spec: dict, tensors: Dict[str, torch.Tensor], used: set, learning):
    Network = lookup("Network")  # registered by snnlab.network.network (no import cycle)

    dt = _field(spec, "dt", (int, float), "saved network")
    batch_size = _field(spec, "batch_size", int, "saved network")
    saved_learning = _field(spec, "learning", bool, "saved network")
    net = Network(dt=dt, batch_size=batch_size, learning=saved_learning if learning is None else learning)
    for i, entry in enumerate(_field(spec, "layers", list, "saved network")):
        lname = _field(entry, "name", str, f"saved layer #{i}")
        where = f"saved layer {lname!r}"
        cls = _registered(_field(entry, "class", str, where), _nodes.Nodes)
        if cls is None:
            raise ValueError(f"{where} has unknown class {entry['class']!r}; expected a registered layer class")
        params = {k: _decode(v, tensors, used, f"{where} parameter {k!r}") for k, v in _field(entry, "params", dict, where).items()}
        try:
            layer = cls(**params)
        except TypeError as ex:
            raise ValueError(f"{where}: {ex}") from ex
        if lname in net.layers:
            raise ValueError(f"{where} appears twice")
        net.add_layer(layer, lname)
        _restore_state(layer, lname, tensors, used)
    known = {f"state/{name}/" for name in net.layers}
    for key in tensors:
        if key.startswith("state/") and not any(key.startswith(k) for k in known):
            raise ValueError(f"saved state {key!r} belongs to no saved layer; layers are {', '.join(net.layers)}")
    for i, entry in enumerate(_field(spec, "connections", list, "saved network")):
        src = _field(entry, "source", str, f"saved connection #{i}")
        tgt = _field(entry, "target", str, f"saved connection #{i}")
        where = f"saved connection {src!r}->{tgt!r}"
        for end in (src, tgt):
            if end not in net.layers:
                raise ValueError(f"{where}: no saved layer {end!r}; layers are {', '.join(net.layers)}")
        cls = _registered(_field(entry, "class", str, where), _topology.AbstractConnection)
        rule = _registered(_field(entry, "rule", str, where), _learning.LearningRule)
        if cls is None or rule is None:
            raise ValueError(f"{where} has unknown class {entry['class']!r} or rule {entry['rule']!r}")
        reduction = entry.get("reduction")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{where}: reduction {_short(reduction)}; expected one of {list(_REDUCTIONS)}")
        nu = _field(entry, "nu", list, where)
        owner = f"conn/{src}/{tgt}"
        conn_params = {k: _decode(v, tensors, used, f"{where} parameter {k!r}") for k, v in _field(entry, "params", dict, where).items()}
        rule_params = entry.get("rule_params", {})
        if not isinstance(rule_params, dict):
            raise ValueError(f"{where}: 'rule_params' is {_short(rule_params)}; expected a dict")
        rule_values = {k: _decode(v, tensors, used, f"{where} rule parameter {k!r}") for k, v in rule_params.items()}
        params = dict(conn_params, **rule_values)
        multicompartment = issubclass(cls, MulticompartmentConnection)
        for key in ("pipeline", "options"):
            if (key in entry) != multicompartment:
                raise ValueError(
                    f"{where}: a {cls.__name__} " + (f"needs a saved {key!r}" if multicompartment else f"has no {key!r}")
                )
        n_in, n_out = net.layers[src].n, net.layers[tgt].n

        def tensor(name: str, required: bool = True):
            key = f"{owner}/{name}"
            if key not in tensors:
                if required:
                    raise ValueError(f"{where}: the file has no tensor {key!r}")
                return None
            used.add(key)
            return tensors[key]

        if issubclass(cls, _topology.SparseConnection):
            rows, cols, values = tensor("rows"), tensor("cols"), tensor("values")
            for name, t in (("rows", rows), ("cols", cols)):
                if t.dtype != torch.int64 or t.dim() != 1:
                    raise ValueError(f"{where}: {name} is {t.dtype} of shape {tuple(t.shape)}; expected 1-D int64")
            if values.dim() != 1 or not values.is_floating_point() or not len(rows) == len(cols) == len(values):
                raise ValueError(
                    f"{where}: rows, cols and values have shapes {tuple(rows.shape)}, {tuple(cols.shape)}, "
                    f"{tuple(values.shape)}; expected three 1-D tensors of one length (values floating)"
                )
            if len(rows) and (rows.min() < 0 or rows.max() >= n_in or cols.min() < 0 or cols.max() >= n_out):
                raise ValueError(f"{where}: synapse indices outside the ({n_in}, {n_out}) weight matrix")
            # Indices checked above, so torch's own (slower) invariant checks are not needed.
            params["w"] = torch.sparse_coo_tensor(
                torch.stack([rows, cols]), values, (n_in, n_out), check_invariants=False
            )
        else:
            w = tensor("w")
            # Connections with weights of their own shape (convolutions, local kernels) check w themselves.
            own_shape = getattr(cls, "own_weight_shape", False)
            if tuple(w.shape) != (n_in, n_out) and not own_shape:
                raise ValueError(f"{where}: w has shape {tuple(w.shape)}; expected ({n_in}, {n_out})")
            if w.dtype != torch.float32:
                raise ValueError(f"{where}: w is {w.dtype}; expected torch.float32")
            params["w"] = w
            b = tensor("b", required=False)
            if b is not None:
                if (tuple(b.shape) != (n_out,) and not own_shape) or b.dtype != torch.float32:
                    raise ValueError(f"{where}: b is {b.dtype} of shape {tuple(b.shape)}; expected float32 ({n_out},)")
                params["b"] = b
        try:
            if multicompartment:
                if "b" in params:
                    raise ValueError(f"{where}: a {cls.__name__} has no bias, but the file holds {owner}/b")
                conn = _rebuild_multicompartment(
                    cls, net.layers[src], net.layers[tgt], entry, where, owner, rule, _REDUCTIONS[reduction],
                    tuple(nu), conn_params, rule_values, params["w"], tensors, used,
                )
            else:
                conn = cls(
                    net.layers[src], net.layers[tgt], nu=tuple(nu), update_rule=rule,
                    reduction=_REDUCTIONS[reduction], **params,
                )
        except TypeError as ex:
            raise ValueError(f"{where}: {ex}") from ex
        if (src, tgt) in net.connections:
            raise ValueError(f"{where} appears twice")
        net.add_connection(conn, src, tgt)
        _restore_rule_state(conn.update_rule, owner, where, tensors, used)
    return net


def _restore_rule_state(rule, owner: str, where: str, tensors: Dict[str, torch.Tensor], used: set) -> None:
    """Put the saved ``<owner>/rule_state/<name>`` tensors into the rebuilt rule, each checked."""
    prefix = f"{owner}/rule_state/"
    declared = rule.model.state if rule.model is not None else {}
    for key, value in tensors.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if name not in declared:
            raise ValueError(f"{where}: saved rule state {name!r}; {type(rule).__name__} keeps {sorted(declared) or 'none'}")
        expected = rule.state_shapes(value.shape[0] if value.dim() else 0)[name]
        if tuple(value.shape) != expected or value.dtype != torch.float32:
            raise ValueError(f"{where}: rule state {name!r} is {value.dtype} of shape {tuple(value.shape)}; "
                             f"expected float32 of shape {expected} (batch, ...)")
        if torch.isnan(value).any():
            raise ValueError(f"{where}: rule state {name!r} holds NaN; expected numbers")
        setattr(rule, name, value.clone())
        used.add(key)


def _rebuild_multicompartment(cls, source, target, entry: dict, where: str, owner: str, rule, reduction, nu: tuple,
                              conn_params: dict, rule_values: dict, w: torch.Tensor,
                              tensors: Dict[str, torch.Tensor], used: set):
    """A saved ``MulticompartmentConnection``: its features rebuilt from the file (each checked), the
    connection built from them, then every saved value (w, feature values, bounds) put back exactly."""
    shape = (source.n, target.n)
    features, values, weight_attrs = [], [], None
    for i, item in enumerate(_field(entry, "pipeline", list, where)):
        fwhere = f"{where} pipeline feature #{i}"
        if not isinstance(item, dict) or not {"class", "name", "range"} <= set(item) <= {"class", "name", "range", "params"}:
            raise ValueError(f"{fwhere} is {_short(item)}; expected a dict with 'class', 'name', 'range' (and 'params')")
        fcls = SAVED_FEATURES.get(_field(item, "class", str, fwhere))
        if fcls is None:
            raise ValueError(f"{fwhere} has unknown class {item['class']!r}; expected one of {', '.join(SAVED_FEATURES)}")
        name = _field(item, "name", str, fwhere)
        fwhere = f"{where} pipeline feature {name!r}"
        frange = _decode(item["range"], tensors, used, f"{fwhere} range")
        if not (isinstance(frange, tuple) and len(frange) == 2 and all(isinstance(v, (int, float)) for v in frange)):
            raise ValueError(f"{fwhere}: range is {_short(frange)}; expected (low, high)")
        if fcls is Weight:
            saved = _field(item, "params", dict, fwhere)
            if set(saved) != _WEIGHT_FIELDS:
                raise ValueError(f"{fwhere}: params hold {sorted(saved)}; expected {sorted(_WEIGHT_FIELDS)}")
            attrs = {k: _decode(saved[k], tensors, used, f"{fwhere} {k!r}") for k in ("norm", "nu", "decay")}
            if saved["reduction"] not in _REDUCTIONS:
                raise ValueError(f"{fwhere}: reduction {_short(saved['reduction'])}; expected one of {list(_REDUCTIONS)}")
            attrs["reduction"] = _REDUCTIONS[saved["reduction"]]
            rule_name = saved["learning_rule"]
            attrs["learning_rule"] = None if rule_name is None else _registered(rule_name, _learning.LearningRule)
            if rule_name is not None and attrs["learning_rule"] is None:
                raise ValueError(f"{fwhere} has unknown learning rule {_short(rule_name)}; expected a registered rule")
            options = _field(saved, "options", dict, fwhere)
            unknown = sorted(set(options) - set(_WEIGHT_OPTIONS))
            if unknown:
                raise ValueError(f"{fwhere}: unknown options {unknown}; expected some of {list(_WEIGHT_OPTIONS)}")
            options = {k: _decode(v, tensors, used, f"{fwhere} option {k!r}") for k, v in options.items()}
            # Built with the connection's current nu, decay, norm and rule (what the saved one ran with);
            # the feature's own attributes are put back below.
            feature = Weight(
                name, value=w, range=frange, norm=conn_params.get("norm"), learning_rule=rule, nu=nu,
                reduction=reduction, decay=conn_params.get("weight_decay", 0.0), **options, **rule_values,
            )
            weight_attrs = (feature, attrs)
            value = None
        else:
            if "params" in item:
                raise ValueError(f"{fwhere}: a {fcls.__name__} has no params; the file gives {_short(item['params'])}")
            key = f"{owner}/pipeline/{i}"
            if key not in tensors:
                raise ValueError(f"{fwhere}: the file has no tensor {key!r}")
            value = tensors[key]
            used.add(key)
            if tuple(value.shape) != shape or value.dtype != torch.float32:
                raise ValueError(f"{fwhere}: value is {value.dtype} of shape {tuple(value.shape)}; expected float32 {shape}")
            if torch.isnan(value).any():
                raise ValueError(f"{fwhere}: value holds NaN; expected numbers")
            feature = fcls(name, value=value, range=frange)
        features.append(feature)
        values.append(value)
    if weight_attrs is None and (rule is not _learning.NoOp or rule_values):
        raise ValueError(f"{where}: learning rule {entry['rule']!r} but the pipeline has no Weight feature to learn")
    options = _field(entry, "options", dict, where)
    if set(options) != set(_MULTICOMPARTMENT_OPTIONS) or not all(isinstance(v, bool) for v in options.values()):
        raise ValueError(f"{where}: options are {_short(options)}; expected {list(_MULTICOMPARTMENT_OPTIONS)} as True/False")
    conn = cls(source, target, pipeline=features, **options)
    # Bounds, decay and norm as saved (they may differ from the features' after a live change).
    checked = {}
    for p in cls.params:
        if p.name in conn_params:
            checked[p.name] = p.check(cls.__name__, conn_params[p.name])
    unknown = sorted(set(conn_params) - {p.name for p in cls.params})
    if unknown:
        raise ValueError(f"{where}: unknown parameters {unknown}; a {cls.__name__} takes {[p.name for p in cls.params]}")
    conn.check_parameters(cls.__name__, {**{p.name: getattr(conn, p.name) for p in cls.params}, **checked})
    for name, v in checked.items():
        setattr(conn, name, v)
    # Exactly the saved tensors: the constructor clamps to the ranges, a saved value may lie outside
    # (e.g. weights rescaled by norm after the last learning step).
    conn.w.data.copy_(w)
    for feature, value in zip(features, values):
        if value is not None:
            feature.value.copy_(value)
    if weight_attrs is not None:
        feature, attrs = weight_attrs
        for k, v in attrs.items():
            setattr(feature, k, v)
    return conn
