"""Triton kernels for event-driven propagation on a GPU (optional).

``s @ w`` for a spike vector ``s`` only needs the rows of ``w`` whose neuron
spiked. Two kernels do that without a host sync, so they can be captured in
a CUDA graph (see :mod:`snnlab.network.graphs`):

* ``compact``: per sample, the indices of the spiking neurons, in order, and
  their count, written to device memory;
* ``gather_sum``: per sample and tile of target neurons, the sum of the
  weight rows of those indices; the loop runs to the count read on the
  device, so there is no capacity to overflow.

Imported only when Triton is installed and the network is on a GPU; tests on
machines without a GPU run these kernels in Triton's interpreter
(``TRITON_INTERPRET=1``) where Triton is installed.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

COMPACT_BLOCK = 4096
ROWS_PER_ITER = 32  # spikes gathered per loop iteration (a [ROWS, COLS] tile)
COLS = 64  # target neurons per program


@triton.jit
def _compact_kernel(s_ptr, idx_ptr, count_ptr, n, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    total = tl.sum(tl.zeros([BLOCK], dtype=tl.int32), axis=0)
    for start in range(0, n, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        inside = offs < n
        spike = tl.load(s_ptr + b * n + offs, mask=inside, other=0).to(tl.int32)
        pos = tl.cumsum(spike, axis=0) - 1 + total
        tl.store(idx_ptr + b * n + pos, offs, mask=inside & (spike > 0))
        total += tl.sum(spike, axis=0)
    tl.store(count_ptr + b, total)


@triton.jit
def _gather_sum_kernel(idx_ptr, count_ptr, w_ptr, out_ptr, n_in, n_out, ROWS: tl.constexpr, COLS_: tl.constexpr):
    b = tl.program_id(0)
    tile = tl.program_id(1)
    cols = tile * COLS_ + tl.arange(0, COLS_)
    col_ok = cols < n_out
    count = tl.load(count_ptr + b)
    acc = tl.zeros([COLS_], dtype=tl.float32)
    for k0 in range(0, count, ROWS):
        ks = k0 + tl.arange(0, ROWS)
        k_ok = ks < count
        rows = tl.load(idx_ptr + b * n_in + ks, mask=k_ok, other=0).to(tl.int64)
        w = tl.load(w_ptr + rows[:, None] * n_out + cols[None, :], mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        acc += tl.sum(w, axis=0)
    tl.store(out_ptr + b * n_out + cols, acc, mask=col_ok)


class TritonPropagator:
    """``s @ w (+ b)`` for one dense connection, from the spiking rows only."""

    def __init__(self, conn, batch: int) -> None:
        self.conn = conn
        n_in, n_out = conn.source.n, conn.target.n
        dev = conn.w.device
        self.idx = torch.zeros(batch, n_in, dtype=torch.int32, device=dev)
        self.count = torch.zeros(batch, dtype=torch.int32, device=dev)
        self.out = torch.empty(batch, n_out, dtype=torch.float32, device=dev)
        self.n_in, self.n_out, self.batch = n_in, n_out, batch

    def __call__(self, s: torch.Tensor, overflow: torch.Tensor) -> torch.Tensor:
        flat = s.reshape(self.batch, -1)
        if flat.dtype == torch.bool:
            flat = flat.view(torch.uint8)
        w = self.conn.w
        _compact_kernel[(self.batch,)](flat, self.idx, self.count, self.n_in, BLOCK=COMPACT_BLOCK)
        grid = (self.batch, triton.cdiv(self.n_out, COLS))
        _gather_sum_kernel[grid](self.idx, self.count, w, self.out, self.n_in, self.n_out, ROWS=ROWS_PER_ITER, COLS_=COLS)
        b = self.conn.b
        return self.out if b is None else self.out + b
