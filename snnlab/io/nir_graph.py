"""Networks as NIR graphs (the Neuromorphic Intermediate Representation).

:func:`to_nir` turns an :class:`snnlab.network.Network` into a
:class:`nir.NIRGraph`; :func:`from_nir` builds a Network from a graph, whether
snnlab wrote it or another tool did (snnTorch, Norse, Sinabs, Lava, ...).
:func:`write_nir` / :func:`read_nir` do the same through a NIR file (HDF5,
``nir.write`` / ``nir.read``).

What maps to what:

==========================  ==================================================
snnlab                      NIR
==========================  ==================================================
``Input`` layer             ``Input`` node (its shape)
``LIFNodes``                ``LIF``: ``tau = tc_decay``, ``v_leak = rest``,
                            ``v_threshold = thresh``, ``v_reset = reset``,
                            ``r = tau / dt``
``IFNodes``                 ``IF``: ``v_threshold``, ``v_reset``, ``r = 1 / dt``
``CurrentLIFNodes``         ``CubaLIF``: ``tau_mem = tc_decay``,
                            ``tau_syn = tc_i_decay``, ``r = tau_mem / dt``,
                            ``w_in = tau_syn / dt``
``Connection``              ``Linear`` (``Affine`` with a bias ``b``);
                            NIR's weight is snnlab's ``w`` transposed
``SparseConnection``        ``Linear`` with the absent synapses as zeros
``Conv1dConnection``,       ``Conv1d``, ``Conv2d`` (layers around them keep
``Conv2dConnection``        their ``(channels, *spatial)`` shape)
a layer nothing reads       an edge into an ``Output`` node
==========================  ==================================================

``r`` and ``w_in`` are chosen so that a forward-Euler step of NIR's ODE adds
exactly snnlab's input: one step of ``tau dv/dt = (v_leak - v) + r I`` adds
``dt r I / tau = I``. This is snnTorch's convention; :func:`from_nir` reads
any other ``r`` as a gain on the incoming weights. Where NIR and snnlab differ
(reset, refractory period, the one-step delay of connections, the
discretisation of the leak, the threshold test), see ``docs/nir.md``.
Everything NIR has no field for (refractory period, ``lbound``, the layer's
shape, which connections are sparse, ``dt``) travels in the nodes' and the
graph's ``metadata`` under ``snnlab_*`` keys, so snnlab -> NIR -> snnlab gives
the same spikes.

Units: snnlab's, ms and mV. NIR itself has no units: a graph written by
another tool is in that tool's units (snnTorch: seconds), and ``dt`` must be
given in the same unit.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional, Union

import nir
import numpy as np
import torch

from snnlab.network import Network
from snnlab.network.nodes import CurrentLIFNodes, IFNodes, Input, LIFNodes, Nodes
from snnlab.network.topology import AbstractConnection, Connection, SparseConnection
from snnlab._files import mkstemp_beside

__all__ = ["to_nir", "from_nir", "write_nir", "read_nir", "NIR_NEURONS", "DISCRETIZATIONS"]

#: snnlab layer classes and the NIR node each becomes.
NIR_NEURONS = {"Input": "Input", "LIFNodes": "LIF", "IFNodes": "IF", "CurrentLIFNodes": "CubaLIF"}

#: How :func:`from_nir` turns NIR's continuous leak into a per-step decay.
DISCRETIZATIONS = ("exact", "euler")

PathLike = Union[str, "os.PathLike[str]"]

_PREFIX = "snnlab_"


# ---------------------------------------------------------------- snnlab -> NIR
def _values(layer: Nodes, name: str, shape: tuple) -> np.ndarray:
    """A layer parameter as float64 in ``shape`` (the layer's, or flat; a scalar is repeated)."""
    value = getattr(layer, name)
    if isinstance(value, torch.Tensor):
        a = value.detach().cpu().to(torch.float64).numpy()
        return np.array(np.broadcast_to(a, layer.shape).reshape(shape), dtype=np.float64)
    return np.full(shape, float(value), dtype=np.float64)


def _layer_node(name: str, layer: Nodes, dt: float, shaped: bool = False) -> nir.NIRNode:
    """The NIR node of a layer: flat ``(n,)``, or in the layer's own shape
    (``shaped``; for layers a convolution reads or writes)."""
    kind = type(layer)
    meta: dict[str, Any] = {f"{_PREFIX}model": kind.__name__, f"{_PREFIX}shape": np.asarray(layer.shape, np.int64)}
    shape = tuple(layer.shape) if shaped else (layer.n,)

    def _flat(layer, attr):
        return _values(layer, attr, shape)

    if kind is Input:
        return nir.Input(input_type={"input": np.array(shape)}, metadata=meta)
    if kind not in (LIFNodes, IFNodes, CurrentLIFNodes):
        raise ValueError(
            f"layer {name!r} is a {kind.__name__}; NIR export maps {', '.join(NIR_NEURONS)} "
            "(NIR has no node for its dynamics)"
        )
    meta[f"{_PREFIX}refrac"] = _flat(layer, "refrac")
    if layer.lbound is not None:
        meta[f"{_PREFIX}lbound"] = _flat(layer, "lbound")
    thresh, reset = _flat(layer, "thresh"), _flat(layer, "reset")
    if kind is IFNodes:
        return nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=thresh, v_reset=reset, metadata=meta)
    tau = _flat(layer, "tc_decay")
    rest = _flat(layer, "rest")
    if kind is LIFNodes:
        return nir.LIF(tau=tau, r=tau / dt, v_leak=rest, v_threshold=thresh, v_reset=reset, metadata=meta)
    tau_syn = _flat(layer, "tc_i_decay")
    return nir.CubaLIF(
        tau_syn=tau_syn, tau_mem=tau, r=tau / dt, v_leak=rest, v_threshold=thresh, v_reset=reset,
        w_in=tau_syn / dt, metadata=meta,
    )


def _connection_node(conn: AbstractConnection, key: tuple) -> nir.NIRNode:
    kind = type(conn)
    meta = {f"{_PREFIX}kind": kind.__name__}
    if kind is Connection:
        weight = np.ascontiguousarray(conn.w.detach().cpu().numpy().T, dtype=np.float32)
        if conn.b is not None:
            return nir.Affine(weight=weight, bias=conn.b.detach().cpu().numpy().astype(np.float32), metadata=meta)
        return nir.Linear(weight=weight, metadata=meta)
    if kind is SparseConnection:
        weight = np.ascontiguousarray(conn.dense_weights().detach().cpu().numpy().T, dtype=np.float32)
        return nir.Linear(weight=weight, metadata=meta)
    nd = _conv_dims(conn)
    if nd:
        weight = conn.w.detach().cpu().numpy().astype(np.float32)
        bias = np.zeros(weight.shape[0], np.float32) if conn.b is None else conn.b.detach().cpu().numpy().astype(np.float32)
        spatial = tuple(conn.source.shape[1:])
        one = (lambda t: int(t[0])) if nd == 1 else (lambda t: tuple(int(v) for v in t))
        node = nir.Conv1d if nd == 1 else nir.Conv2d
        return node(
            input_shape=spatial[0] if nd == 1 else spatial, weight=weight, stride=one(conn.stride),
            padding=one(conn.padding), dilation=one(conn.dilation), groups=1, bias=bias, metadata=meta,
        )
    raise ValueError(
        f"connection {key[0]!r}->{key[1]!r} is a {kind.__name__}; NIR export maps Connection, SparseConnection, "
        "Conv1dConnection and Conv2dConnection"
    )


def _conv_classes() -> dict:
    """snnlab's convolutional connections by dimension (absent in older snnlab: empty)."""
    try:
        from snnlab.network.topology_extra import Conv1dConnection, Conv2dConnection
    except ImportError:  # pragma: no cover - the connections came with the BindsNET-compat work
        return {}
    return {1: Conv1dConnection, 2: Conv2dConnection}


def _conv_dims(conn) -> int:
    """1 or 2 for a 1-D/2-D convolutional connection, else 0."""
    for nd, cls in _conv_classes().items():
        if type(conn) is cls:
            return nd
    return 0


def to_nir(network: Network) -> nir.NIRGraph:
    """The network as a NIR graph.

    Parameters
    ----------
    network : snnlab.network.Network
        Layers of the kinds in :data:`NIR_NEURONS`, dense or sparse
        connections. Its current weights and parameters are exported (not its
        state, monitors or learning rules).

    Returns
    -------
    nir.NIRGraph
        One node per layer (named as the layer), one ``Linear``/``Affine`` node
        per connection (named ``"SOURCE_to_TARGET"``) and an ``Output`` node
        after each layer that no other layer reads.

    Raises
    ------
    ValueError
        A layer or connection NIR cannot express (named in the message).

    Examples
    --------
    >>> import torch
    >>> from snnlab.network import Network
    >>> from snnlab.network.nodes import Input, LIFNodes
    >>> from snnlab.network.topology import Connection
    >>> net = Network(dt=1.0)
    >>> net.add_layer(Input(n=2), name="A")
    >>> net.add_layer(LIFNodes(n=3), name="B")
    >>> net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.ones(2, 3)), "A", "B")
    >>> graph = to_nir(net)
    >>> sorted(graph.nodes), graph.edges
    (['A', 'A_to_B', 'B', 'output'], [('A', 'A_to_B'), ('A_to_B', 'B'), ('B', 'output')])
    >>> graph.nodes["A_to_B"].weight.shape   # NIR: (out, in)
    (3, 2)
    """
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a snnlab.network.Network, got {type(network).__name__}")
    if not network.layers:
        raise ValueError("network: it has no layers; expected at least one layer to export")
    dt = float(network.dt)
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    # Layers a convolution touches keep their (channels, *spatial) shape in NIR; the rest are flat.
    shaped = {n for key, conn in network.connections.items() if _conv_dims(conn) for n in key}
    for name, layer in network.layers.items():
        nodes[name] = _layer_node(name, layer, dt, shaped=name in shaped and len(layer.shape) > 1)
    read_by_others = set()
    for (src, dst), conn in network.connections.items():
        cname = f"{src}_to_{dst}"
        if cname in nodes:
            raise ValueError(f"connection {src!r}->{dst!r}: its NIR node name {cname!r} is also a layer's name")
        nodes[cname] = _connection_node(conn, (src, dst))
        conv = _conv_dims(conn)
        if not conv and dst in shaped and len(network.layers[dst].shape) > 1:
            raise ValueError(
                f"connection {src!r}->{dst!r}: a dense connection into a layer a convolution also uses; "
                "NIR has no reshape to express it"
            )
        head = src
        if not conv and src in shaped and len(network.layers[src].shape) > 1:
            head = f"{src}_flat"  # NIR's Linear reads a flat vector
            if head not in nodes:
                nodes[head] = nir.Flatten(input_type={"input": np.array(network.layers[src].shape)},
                                          start_dim=0, end_dim=-1)
                edges.append((src, head))
        edges += [(head, cname), (cname, dst)]
        if src != dst:
            read_by_others.add(src)
    sinks = [n for n, layer in network.layers.items() if n not in read_by_others and type(layer) is not Input]
    for name in sinks:
        oname = "output" if len(sinks) == 1 else f"output_{name}"
        if oname in nodes:
            raise ValueError(f"layer {name!r}: its output node name {oname!r} is taken by a layer")
        layer = network.layers[name]
        out_shape = layer.shape if name in shaped and len(layer.shape) > 1 else (layer.n,)
        nodes[oname] = nir.Output(output_type={"output": np.array(out_shape)})
        edges.append((name, oname))
    from snnlab import __version__

    meta = {f"{_PREFIX}dt": dt, f"{_PREFIX}version": __version__, "source": "snnlab"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


# ---------------------------------------------------------------- NIR -> snnlab
def _meta(node_or_graph) -> dict:
    """``snnlab_*`` metadata with bytes (as h5py reads strings) decoded."""
    out = {}
    for k, v in (getattr(node_or_graph, "metadata", None) or {}).items():
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif isinstance(v, np.ndarray) and v.dtype.kind in "SO" and v.ndim == 0:
            v = v.item().decode("utf-8") if isinstance(v.item(), bytes) else str(v.item())
        out[k] = v
    return out


def _param(value: Any, n: int, what: str) -> Union[float, torch.Tensor]:
    """A NIR parameter as snnlab takes it: a float if uniform, else a tensor ``[n]``."""
    a = np.asarray(value, dtype=np.float64)
    if a.size not in (1, n):
        raise ValueError(f"{what}: {a.size} values for {n} neurons; expected 1 or {n}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what}: non-finite values; expected finite numbers")
    flat = a.reshape(-1)
    if np.all(flat == flat[0]):
        return float(flat[0])
    return torch.from_numpy(flat.astype(np.float32))


def _positive(value: Any, what: str) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{what}: {a.tolist()[:5]}; expected positive, finite numbers")
    return a


def _decay_tc(tau: np.ndarray, dt: float, discretization: str, what: str) -> np.ndarray:
    """The snnlab time constant whose ``exp(-dt / tc)`` is the per-step decay NIR's tau means."""
    if discretization == "exact":
        return tau
    factor = 1.0 - dt / tau  # forward Euler: v <- v + dt / tau * (v_leak - v)
    if np.any(factor <= 0):
        raise ValueError(
            f"{what}: tau {tau.min():g} <= dt {dt:g}; forward Euler decays to zero or below in one step. "
            "Use discretization='exact' or a smaller dt"
        )
    return -dt / np.log(factor)


def _build_layer(name: str, node: nir.NIRNode, shape: tuple, dt: float, discretization: str):
    """``(layer, gain)``: the snnlab layer and the factor on its incoming weights (None: 1)."""
    meta = _meta(node)
    n = math.prod(shape)

    def p(value, field):
        v = _param(value, n, f"NIR node {name!r} {field}")
        return v.reshape(shape) if isinstance(v, torch.Tensor) else v

    lbound = meta.get(f"{_PREFIX}lbound")
    common = dict(
        shape=shape,
        refrac=p(meta.get(f"{_PREFIX}refrac", 0.0), "snnlab_refrac"),  # NIR has no refractory period
        lbound=None if lbound is None else p(lbound, "snnlab_lbound"),
    )
    if isinstance(node, nir.IF):
        r = np.asarray(node.r, np.float64).reshape(-1)
        layer = IFNodes(thresh=p(node.v_threshold, "v_threshold"), reset=p(node.v_reset, "v_reset"), **common)
        return layer, dt * r
    if isinstance(node, nir.LIF):
        tau = _positive(node.tau, f"NIR node {name!r} tau")
        tc = _decay_tc(tau, dt, discretization, f"NIR node {name!r}")
        layer = LIFNodes(
            thresh=p(node.v_threshold, "v_threshold"), rest=p(node.v_leak, "v_leak"),
            reset=p(node.v_reset, "v_reset"), tc_decay=p(tc, "tau"), **common,
        )
        return layer, dt * np.asarray(node.r, np.float64).reshape(-1) / tau
    if isinstance(node, nir.CubaLIF):
        tau_mem = _positive(node.tau_mem, f"NIR node {name!r} tau_mem")
        tau_syn = _positive(node.tau_syn, f"NIR node {name!r} tau_syn")
        layer = CurrentLIFNodes(
            thresh=p(node.v_threshold, "v_threshold"), rest=p(node.v_leak, "v_leak"),
            reset=p(node.v_reset, "v_reset"),
            tc_decay=p(_decay_tc(tau_mem, dt, discretization, f"NIR node {name!r}"), "tau_mem"),
            tc_i_decay=p(_decay_tc(tau_syn, dt, discretization, f"NIR node {name!r}"), "tau_syn"),
            **common,
        )
        gain_v = dt * np.asarray(node.r, np.float64).reshape(-1) / tau_mem
        gain_i = dt * np.asarray(node.w_in, np.float64).reshape(-1) / tau_syn
        return layer, gain_v * gain_i
    raise AssertionError(name)  # pragma: no cover - callers pass neuron nodes only


_NEURON_NODES = (nir.Input, nir.LIF, nir.IF, nir.CubaLIF)
_CONV_NODES = (nir.Conv1d, nir.Conv2d)
_WEIGHT_NODES = (nir.Linear, nir.Affine) + _CONV_NODES
_PASS_NODES = (nir.Flatten,)


def _shape_of(value: Any) -> Optional[tuple]:
    if value is None:
        return None
    a = np.asarray(value).reshape(-1)
    if a.size == 0 or not np.all(a > 0):
        return None
    return tuple(int(d) for d in a)


def _layer_shapes(nodes: dict, pred: dict, succ: dict) -> dict:
    """Each layer's shape: snnlab's metadata, else the parameters' shape, else
    what the convolutions or weights around it say."""
    shapes: dict[str, tuple] = {}
    for name, node in nodes.items():
        if not isinstance(node, _NEURON_NODES):
            continue
        meta = _meta(node).get(f"{_PREFIX}shape")
        if meta is not None:
            shapes[name] = _shape_of(meta)
            continue
        if isinstance(node, nir.Input):
            shapes[name] = _shape_of(node.input_type["input"])
            continue
        params = [np.asarray(getattr(node, f)) for f in ("v_threshold", "r", "tau", "tau_mem") if hasattr(node, f)]
        sized = [p for p in params if p.size > 1]
        shape = tuple(sized[0].shape) if sized else None
        for other in pred[name] + succ[name]:  # a convolution fixes (channels, *spatial)
            neighbour = nodes[other]
            if isinstance(neighbour, _CONV_NODES):
                key = ("output_type", "output") if other in pred[name] else ("input_type", "input")
                found = _shape_of(getattr(neighbour, key[0], {}).get(key[1]))
                if found is not None and (shape is None or math.prod(found) == math.prod(shape)):
                    shape = found
        if shape is None:
            for prv in pred[name]:
                if isinstance(nodes[prv], (nir.Linear, nir.Affine)):
                    shape = (int(np.asarray(nodes[prv].weight).shape[-2]),)
        if shape is None:
            raise ValueError(f"NIR node {name!r}: cannot tell how many neurons it has")
        shapes[name] = shape
    return shapes


def _pair(value: Any, nd: int, what: str) -> tuple:
    a = np.asarray(value).reshape(-1)
    if a.size == 1:
        return (int(a[0]),) * nd
    if a.size != nd:
        raise ValueError(f"{what}: {a.tolist()}; expected {nd} values")
    return tuple(int(v) for v in a)


def _conv_connection(name: str, node, source: Nodes, target: Nodes, gain: Optional[np.ndarray]):
    """A Conv1d/Conv2d node as snnlab's convolutional connection."""
    nd = 1 if isinstance(node, nir.Conv1d) else 2
    classes = _conv_classes()
    if nd not in classes:  # pragma: no cover - older snnlab
        raise ValueError(f"NIR node {name!r}: this snnlab has no convolutional connections")
    if int(np.asarray(node.groups).reshape(-1)[0]) != 1:
        raise ValueError(f"NIR node {name!r}: groups={node.groups}; snnlab's convolutions have groups=1")
    weight = np.asarray(node.weight, dtype=np.float64)
    kernel = tuple(weight.shape[2:])
    dilation = _pair(node.dilation, nd, f"NIR node {name!r} dilation")
    padding = node.padding
    if isinstance(padding, (bytes, np.bytes_)):
        padding = padding.decode()
    if isinstance(padding, np.ndarray) and padding.dtype.kind in "SU":
        padding = str(padding.reshape(-1)[0] if padding.ndim else padding.item())
        padding = padding.decode() if isinstance(padding, bytes) else padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * nd
        elif padding == "same":
            span = [d * (k - 1) for d, k in zip(dilation, kernel)]
            if any(v % 2 for v in span):
                raise ValueError(f"NIR node {name!r}: padding 'same' with an even kernel is asymmetric; "
                                 "snnlab pads both sides equally")
            padding = tuple(v // 2 for v in span)
        else:
            raise ValueError(f"NIR node {name!r}: padding {padding!r}; expected 'same', 'valid' or numbers")
    padding = _pair(padding, nd, f"NIR node {name!r} padding")
    stride = _pair(node.stride, nd, f"NIR node {name!r} stride")
    bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) if node.bias is not None else None
    if gain is not None:
        # A per-neuron gain folds into a kernel only if it is the same across each output channel.
        per_channel = np.asarray(gain, dtype=np.float64).reshape(target.shape[0], -1)
        if not np.all(per_channel == per_channel[:, :1]):
            raise ValueError(f"NIR node {name!r}: the target's input gain varies within a channel; "
                             "it cannot be folded into the kernel")
        g = per_channel[:, 0]
        weight = weight * g.reshape(-1, *([1] * (weight.ndim - 1)))
        bias = None if bias is None else bias * g
    if bias is not None and not np.any(bias):
        bias = None
    try:
        return classes[nd](
            source, target, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
            w=torch.from_numpy(weight.astype(np.float32)),
            b=None if bias is None else torch.from_numpy(bias.astype(np.float32)),
        )
    except (ValueError, TypeError) as ex:
        raise ValueError(f"NIR node {name!r}: {ex}") from ex


def from_nir(graph: nir.NIRGraph, *, dt: Optional[float] = None, discretization: str = "exact") -> Network:
    """A Network built from a NIR graph.

    Parameters
    ----------
    graph : nir.NIRGraph
        Nodes ``Input``, ``LIF``, ``IF``, ``CubaLIF``, ``Linear``, ``Affine``,
        ``Flatten`` (passed through) and ``Output`` (ignored); every weight
        node between exactly one source layer and its targets.
    dt : float, optional
        Time step, in the graph's time unit (ms for snnlab's graphs). Default:
        the ``snnlab_dt`` the graph was written with; required otherwise.
    discretization : {"exact", "euler"}
        How the leak of ``tau`` becomes a per-step decay: ``"exact"``
        ``exp(-dt / tau)`` (snnlab's own), or ``"euler"`` ``1 - dt / tau``
        (snnTorch's and Norse's forward Euler), to reproduce those tools.

    Returns
    -------
    snnlab.network.Network
        Layers named as the graph's nodes, connections ``Connection`` (or
        ``SparseConnection`` where snnlab wrote one), weights transposed to
        snnlab's ``(source.n, target.n)`` and scaled by each target's input
        gain (``dt r / tau`` for LIF, ``dt r`` for IF, ``dt r / tau_mem *
        dt w_in / tau_syn`` for CubaLIF; 1 in graphs snnlab wrote).
        A node without ``snnlab_refrac`` metadata gets no refractory period.

    Raises
    ------
    ValueError
        A node kind snnlab cannot run, a shape that does not fit, a missing dt.
    """
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph: expected a nir.NIRGraph (read files with read_nir), got {type(graph).__name__}")
    if discretization not in DISCRETIZATIONS:
        raise ValueError(f"discretization: {discretization!r}; expected one of {DISCRETIZATIONS}")
    gmeta = _meta(graph)
    if dt is None:
        if f"{_PREFIX}dt" not in gmeta:
            raise ValueError("dt: the graph does not say its time step (no snnlab_dt metadata); pass dt=, "
                             "in the graph's time unit")
        dt = float(gmeta[f"{_PREFIX}dt"])
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating)) or not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt: {dt!r}; expected a positive, finite time step")
    dt = float(dt)

    nodes = dict(graph.nodes)
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise ValueError(f"NIR node {name!r} is a nested graph; flatten it first (snnlab reads flat graphs)")
        if not isinstance(node, _NEURON_NODES + _WEIGHT_NODES + _PASS_NODES + (nir.Output,)):
            raise ValueError(
                f"NIR node {name!r} is a {type(node).__name__}; snnlab reads Input, LIF, IF, CubaLIF, "
                "Linear, Affine, Flatten and Output nodes"
            )
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in graph.edges:
        a, b = edge
        for end in (a, b):
            if end not in nodes:
                raise ValueError(f"NIR edge {a!r}->{b!r}: no node named {end!r}")
        succ[a].append(b)
        pred[b].append(a)

    def layers_after(name: str, seen=()) -> list[str]:
        """Layers reached from ``name`` through pass-through nodes."""
        out = []
        for nxt in succ[name]:
            node = nodes[nxt]
            if isinstance(node, _NEURON_NODES):
                if isinstance(node, nir.Input):
                    raise ValueError(f"NIR edge {name!r}->{nxt!r}: an Input node cannot receive input")
                out.append(nxt)
            elif isinstance(node, _PASS_NODES) and nxt not in seen:
                out += layers_after(nxt, seen + (nxt,))
            elif isinstance(node, _WEIGHT_NODES) and not isinstance(nodes[name], _NEURON_NODES + _PASS_NODES):
                raise ValueError(f"NIR edge {name!r}->{nxt!r}: two weight nodes in a row; snnlab needs a layer between")
        return out

    def layer_before(name: str, seen=()) -> str:
        found = []
        for prv in pred[name]:
            node = nodes[prv]
            if isinstance(node, _NEURON_NODES):
                found.append(prv)
            elif isinstance(node, _PASS_NODES) and prv not in seen:
                found.append(layer_before(prv, seen + (prv,)))
            else:
                raise ValueError(f"NIR edge {prv!r}->{name!r}: a weight node must be fed by a layer")
        if len(found) != 1:
            raise ValueError(f"NIR node {name!r} is fed by {len(found)} layers ({found}); expected exactly one")
        return found[0]

    shapes = _layer_shapes(nodes, pred, succ)
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}

    net = Network(dt=dt)
    gains: dict[str, Optional[np.ndarray]] = {}
    for name, node in nodes.items():  # Input nodes first, as snnlab feeds them
        if isinstance(node, nir.Input):
            net.add_layer(Input(shape=shapes[name]), name=name)
    for name, node in nodes.items():
        if isinstance(node, _NEURON_NODES) and not isinstance(node, nir.Input):
            layer, gain = _build_layer(name, node, shapes[name], dt, discretization)
            gains[name] = None if np.allclose(gain, 1.0, rtol=1e-9, atol=0.0) else np.broadcast_to(gain, (sizes[name],))
            net.add_layer(layer, name=name)

    def scaled(w: np.ndarray, target: str) -> torch.Tensor:
        gain = gains.get(target)
        w = np.asarray(w, dtype=np.float64 if gain is not None else np.float32)
        if gain is not None:
            w = w * gain  # per target neuron: the last axis
        return torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))

    added: dict[tuple, str] = {}

    def connect(src: str, dst: str, w_snn: np.ndarray, bias, sparse: bool, via: str) -> None:
        if (src, dst) in added:
            raise ValueError(f"NIR nodes {added[(src, dst)]!r} and {via!r} both connect {src!r} to {dst!r}; "
                             "snnlab holds one connection per pair of layers")
        want = (sizes[src], sizes[dst])
        if w_snn.shape != want:
            raise ValueError(f"NIR node {via!r}: weight of shape {w_snn.shape[::-1]} (out, in); expected "
                             f"{want[::-1]} from {src!r} ({want[0]} neurons) to {dst!r} ({want[1]})")
        source, target = net.layers[src], net.layers[dst]
        w = scaled(w_snn, dst)
        if sparse:
            if bias is not None:
                raise ValueError(f"NIR node {via!r}: a sparse connection has no bias")
            conn = SparseConnection(source, target, w=w)
        else:
            b = None if bias is None else scaled(np.asarray(bias).reshape(-1), dst)
            conn = Connection(source, target, w=w, b=b)
        net.add_connection(conn, source=src, target=dst)
        added[(src, dst)] = via

    for name, node in nodes.items():
        if isinstance(node, _CONV_NODES):
            src = layer_before(name)
            for dst in layers_after(name):
                if (src, dst) in added:
                    raise ValueError(f"NIR nodes {added[(src, dst)]!r} and {name!r} both connect {src!r} to {dst!r}; "
                                     "snnlab holds one connection per pair of layers")
                net.add_connection(_conv_connection(name, node, net.layers[src], net.layers[dst], gains.get(dst)),
                                   source=src, target=dst)
                added[(src, dst)] = name
        elif isinstance(node, _WEIGHT_NODES):
            weight = np.asarray(node.weight)
            if weight.ndim != 2:
                raise ValueError(f"NIR node {name!r}: weight of shape {weight.shape}; snnlab reads 2-D (out, in) weights")
            src = layer_before(name)
            bias = np.asarray(node.bias) if isinstance(node, nir.Affine) else None
            if bias is not None and not np.any(bias):
                bias = None
            sparse = _meta(node).get(f"{_PREFIX}kind") == "SparseConnection"
            for dst in layers_after(name):
                connect(src, dst, weight.T, bias, sparse, name)
        elif isinstance(node, _NEURON_NODES):
            for dst in layers_after(name):  # a layer feeding a layer directly: one-to-one
                if sizes[name] != sizes[dst]:
                    raise ValueError(f"NIR edge {name!r}->{dst!r}: {sizes[name]} neurons into {sizes[dst]}; "
                                     "a direct edge needs equal sizes")
                connect(name, dst, np.eye(sizes[name], dtype=np.float32), None, False, f"{name}->{dst}")
    return net


# ---------------------------------------------------------------- files
def write_nir(network: Network, path: PathLike) -> Path:
    """Write ``to_nir(network)`` to a NIR file (HDF5), whole or not at all.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path: {str(path)!r} is a directory; expected a file name")
    for name in list(network.layers) if isinstance(network, Network) else []:
        if "/" in name:
            raise ValueError(f"layer {name!r}: a '/' cannot be a NIR node name in HDF5; rename the layer")
    graph = to_nir(network)
    fd, tmp = mkstemp_beside(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_nir(path: PathLike, *, dt: Optional[float] = None, discretization: str = "exact") -> Network:
    """Read a NIR file (written by snnlab or another tool) into a Network.

    Parameters are as :func:`from_nir`.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: {str(path)!r} is not a file; expected a NIR (HDF5) file")
    try:
        graph = nir.read(path)
    except (OSError, KeyError, ValueError, AssertionError) as ex:
        raise ValueError(f"{str(path)!r} is not a readable NIR file: {ex}") from ex
    return from_nir(graph, dt=dt, discretization=discretization)
