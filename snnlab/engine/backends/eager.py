"""The eager back-end: one step at a time with torch operations.

It runs every plan, on every device: it is the reference the other
back-ends are tested against. A step (docs/semantics.md):

1. every connection turns its source's spikes of the previous step into
   input for its target (one step later with ``one_step``: the same step
   for sources updated earlier);
2. layers update in order (external input, ``injects_v``, the model's step
   with clamp/unclamp);
3. learning rules update the weights, then ``masks`` zero weights;
4. monitors record.

Connections from Input layers whose weights cannot change get the input of a
whole block of steps from one matrix product (the Input's spikes are known
in advance).
"""

from __future__ import annotations

from typing import Dict, Optional

import torch

from ...dynamics.nodes import Input
from .base import Backend

__all__ = ["EagerBackend", "fixed_inputs", "drive", "block_product"]


def block_product(conn, spikes: torch.Tensor, threads: int = 1) -> torch.Tensor:
    """``conn.compute_many(spikes)``, with ``threads`` intra-op threads when it is large."""
    work = spikes.shape[0] * spikes.shape[1] * conn.source.n * conn.target.n
    if threads <= 1 or work < 50_000_000:
        return conn.compute_many(spikes)
    torch.set_num_threads(threads)
    try:
        return conn.compute_many(spikes)
    finally:
        torch.set_num_threads(1)


def fixed_inputs(plan, ext, start: int, b0: int, b1: int, threads: int = 1) -> Dict[str, torch.Tensor]:
    """Input from Input layers for steps [b0, b1), one product per connection."""
    order = plan.order
    out = {}
    for lp in plan.layers:
        total = None
        for src, conn in lp.block_conns:
            spikes = ext[src][b0 - start : b1 - start] != 0
            if not plan.one_step or order[src] > lp.index:
                # step t sees the source's spikes of step t - 1
                prev = conn.source.s.unsqueeze(0)
                spikes = torch.cat([prev, spikes[:-1]]) if b1 - b0 > 1 else prev
            c = block_product(conn, spikes, threads)
            total = c if total is None else total + c
        if total is not None:
            out[lp.name] = total
    return out


def drive(lp, ext_block, fixed, j: int, batch: int, propagate=None) -> Optional[torch.Tensor]:
    """Total input of one layer for one step (None when there is none).

    ``propagate(conn)`` replaces ``conn.compute(conn.source.s)`` (the GPU path's kernels).
    """
    x = None
    for _, conn in lp.step_conns:
        c = conn.compute(conn.source.s) if propagate is None else propagate(conn)
        if c is not None:
            x = c if x is None else x + c
    f = fixed.get(lp.name)
    if f is not None:
        x = f[j] if x is None else x + f[j]
    if x is not None and len(lp.layer.shape) > 1:
        x = x.view(batch, *lp.layer.shape)
    e = ext_block.get(lp.name)
    if e is not None:
        x = e[j] if x is None else x + e[j]
    return x


def external_block(plan, ext, start: int, b0: int, b1: int) -> Dict[str, torch.Tensor]:
    """External input rows of [b0, b1): float32, or an Input's spikes (bool) in one op."""
    fixed_targets = {lp.name for lp in plan.layers if lp.block_conns}
    out = {}
    for lp in plan.layers:
        v = ext.get(lp.name)
        if v is None:
            continue
        v = v[b0 - start : b1 - start]
        if isinstance(lp.layer, Input) and not lp.step_conns and lp.name not in fixed_targets:
            v = v != 0
        elif not v.is_floating_point() or v.dtype != torch.float32:
            v = v.to(torch.float32)
        out[lp.name] = v
    return out


class EagerBackend(Backend):
    name = "eager"
    block_steps = 256

    def why_not(self, plan):
        return None

    def run_block(self, network, plan, ext, start, b0, b1, threads: int = 1) -> bool:
        ext_block = external_block(plan, ext, start, b0, b1)
        fixed = fixed_inputs(plan, ext, start, b0, b1, threads)
        layers = plan.layers
        batch = plan.batch
        one_step = plan.one_step
        reward = plan.reward
        updates = plan.updates
        monitors = plan.monitors
        for t in range(b0, b1):
            j = t - b0
            if not one_step:
                drives = [drive(lp, ext_block, fixed, j, batch) for lp in layers]
            for i, lp in enumerate(layers):
                x = drives[i] if not one_step else drive(lp, ext_block, fixed, j, batch)
                layer = lp.layer
                if lp.inject is not None:
                    inj, per_step = lp.inject
                    layer.v.add_(inj[t] if per_step else inj)
                clamp = unclamp = None
                if lp.clamp is not None:
                    clamp = lp.clamp[0][t] if lp.clamp[1] else lp.clamp[0]
                if lp.unclamp is not None:
                    unclamp = lp.unclamp[0][t] if lp.unclamp[1] else lp.unclamp[0]
                layer.forward(x, clamp, unclamp)
            for u in updates:
                u.conn.update(learning=u.learn, mask=u.mask, reward=reward)
            for m in monitors:
                m.record()
        return True
