"""The run plan: what a chunk of a run simulates, fixed before it starts.

:func:`make_plan` turns a network and the checked options of a run into an
immutable :class:`RunPlan` (tuples and frozen dataclasses): the layers in
update order with their incoming connections, the connections that learn,
the monitors, the batch size, ``dt``, the device. Back-ends read only the
plan and the public state of the objects it names. A plan is made for each
chunk, so parameters or weights changed between chunks are seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

import torch

from .monitors import Monitor, NetworkMonitor
from ..dynamics.nodes import Input, Nodes

__all__ = ["RunOptions", "LayerPlan", "Update", "RunPlan", "make_plan"]


@dataclass(frozen=True)
class RunOptions:
    """The checked options of one run (see :meth:`Network.run`)."""

    steps: int
    batch: int
    one_step: bool
    inputs: Tuple[str, ...]  # layers that get external input
    clamp: Mapping[str, tuple]  # name -> (bool mask, per_step)
    unclamp: Mapping[str, tuple]
    injects: Mapping[str, tuple]  # name -> (voltage, per_step)
    masks: Mapping[tuple, torch.Tensor]  # (source, target) -> bool mask of weights
    reward: Any = None


@dataclass(frozen=True)
class LayerPlan:
    """How one layer gets its input in a chunk."""

    name: str
    layer: Nodes
    index: int
    step_conns: tuple  # ((source name, connection), ...) propagated step by step
    block_conns: tuple  # from Input layers with fixed input: one product per block
    clamp: Optional[tuple] = None  # (mask, per_step)
    unclamp: Optional[tuple] = None
    inject: Optional[tuple] = None  # (voltage, per_step)


@dataclass(frozen=True)
class Update:
    """A connection's step after the layers: its rule (if ``learn``), then its mask."""

    key: tuple
    conn: Any
    mask: Optional[torch.Tensor]
    learn: bool


@dataclass(frozen=True)
class RunPlan:
    layers: Tuple[LayerPlan, ...]
    connections: Tuple[Tuple[tuple, Any], ...]  # every ((source, target), connection), in network order
    updates: Tuple[Update, ...]  # only connections with something to do
    monitors: Tuple[Monitor, ...]  # every Monitor (a NetworkMonitor's included), in network order
    one_step: bool
    batch: int
    dt: float
    device: torch.device
    learning: bool
    reward: Any = None
    run_steps: int = 0  # steps of the whole run (this plan is one chunk of it)

    @property
    def order(self) -> dict:
        return {lp.name: lp.index for lp in self.layers}

    @property
    def layer_names(self) -> Tuple[str, ...]:
        return tuple(lp.name for lp in self.layers)

    def name_of(self, layer) -> str:
        for lp in self.layers:
            if lp.layer is layer:
                return lp.name
        raise KeyError("layer not in the plan")

    @property
    def has_forcing(self) -> bool:
        """Whether a clamp, unclamp or injects_v acts on some layer."""
        return any(lp.clamp is not None or lp.unclamp is not None or lp.inject is not None for lp in self.layers)

    @property
    def changes_weights(self) -> bool:
        return bool(self.updates)


def leaf_monitors(monitors) -> Tuple[Monitor, ...]:
    out = []
    for monitor in monitors:
        out.extend(monitor.monitors.values() if isinstance(monitor, NetworkMonitor) else [monitor])
    return tuple(out)


def make_plan(network, options: RunOptions) -> RunPlan:
    """The plan of the next chunk of a run (reads the rules' current state)."""
    names = list(network.layers)
    incoming = {name: [] for name in names}
    for (src, tgt), conn in network.connections.items():
        incoming[tgt].append((src, conn))
    learning = network.learning
    updates = []
    for key, conn in network.connections.items():
        mask = options.masks.get(key)
        learn = learning and conn.update_rule.changes_weights()
        if mask is not None or learn:
            updates.append(Update(key=key, conn=conn, mask=mask, learn=learn))
    changing = {id(u.conn) for u in updates if u.learn}
    layers = []
    for i, name in enumerate(names):
        step_conns, block_conns = [], []
        for src, conn in incoming[name]:
            fixed_input = (
                isinstance(network.layers[src], Input)
                and src in options.inputs
                and not incoming[src]
                and src not in options.clamp
                and src not in options.unclamp
                and (src, name) not in options.masks
                and id(conn) not in changing
            )
            (block_conns if fixed_input else step_conns).append((src, conn))
        layers.append(LayerPlan(
            name=name, layer=network.layers[name], index=i, step_conns=tuple(step_conns),
            block_conns=tuple(block_conns), clamp=options.clamp.get(name), unclamp=options.unclamp.get(name),
            inject=options.injects.get(name),
        ))
    device = network.device or torch.device("cpu")
    return RunPlan(
        layers=tuple(layers),
        connections=tuple(network.connections.items()),
        updates=tuple(updates),
        monitors=leaf_monitors(network.monitors.values()),
        one_step=options.one_step,
        batch=network.batch_size,
        dt=network.dt,
        device=device,
        learning=learning,
        reward=options.reward,
        run_steps=options.steps,
    )
