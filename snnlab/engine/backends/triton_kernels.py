"""Triton kernels for event-driven propagation on a GPU (optional).

``s @ w`` for a spike vector ``s`` only needs the rows of ``w`` whose neuron
spiked. Two kernels do that without a host sync, so they can be captured in
a CUDA graph (see :mod:`snnlab.engine.backends.gpu`):

* ``compact``: per sample, the indices of the spiking neurons, in order, and
  their count, written to device memory;
* ``gather_sum``: per sample and tile of target neurons, the sum of the
  weight rows of those indices; the loop runs to the count read on the
  device, so there is no capacity to overflow.

and one step kernel per neuron model, generated from its description
(:class:`ModelStep`).

Imported only when Triton is installed; tests on machines without a GPU run
these kernels in Triton's interpreter (``TRITON_INTERPRET=1``).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import torch
import triton
import triton.language as tl

from ...dynamics.model import SquareAsProduct

COMPACT_BLOCK = 2048  # tile sizes from a sweep on an H100 (12.3 us for 200 of 10,000 spiking, was 15.4)
ROWS_PER_ITER = 64  # spikes gathered per loop iteration (a [ROWS, COLS] tile)
COLS = 32  # target neurons per program


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


# ------------------------------------------------ model steps, generated
# One kernel per model (and flags), written from the model's description
# (snnlab.dynamics.model): the same statements as the eager torch code and
# the CPU loop, as float32 Triton code with FMA contraction off.

SPIKING_BLOCK = 1024
_KERNELS: dict = {}


class _TritonExpr(SquareAsProduct):
    def __init__(self, names):
        self.names = names

    def visit_Name(self, node):
        return ast.Name(self.names.get(node.id, node.id), ast.Load())

    def visit_Call(self, node):
        self.generic_visit(node)
        fn = {"where": "tl.where", "maximum": "tl.maximum", "exp": "tl.exp"}[node.func.id]
        node.func = ast.parse(fn, mode="eval").body
        return node


def step_supported(layer) -> bool:
    """Whether a layer's whole step (with traces) is elementwise: one kernel can run it.
    (Not a step with ``window()``s, whose ring buffers the kernel does not keep:
    the graph path runs that layer's torch step.)"""
    main, trace = layer.steps()
    if layer.model.windows:
        return False
    return all(st.kind == "sample" and st.target not in layer.model.shared for st in main + trace) and not any(
        name in layer.model.shared for st in main + trace for name in st.names
    )


def _kernel_source(layer, recorded) -> tuple:
    """(source, state names, parameter names) of the step kernel of a layer."""
    main, trace = layer.steps()
    stmts = main + trace
    state = list(layer.model.state) + (["x"] if layer.traces else []) + (["summed"] if layer.sum_input else [])
    params = sorted({n for st in stmts for n in st.names} & (set(layer.values()) - {"dt"}))
    uses_rand = any("rand" in st.names for st in stmts)
    args = [f"{v}_ptr" for v in state] + ["s_ptr", "c_ptr", "f_ptr", "e_ptr", "rand_ptr"]
    args += [f"p_{p}_ptr" for p in params] + [f"out_{v}_ptr" for v in recorded]
    args += ["dt", "total", "n", "HAS_C: tl.constexpr", "HAS_F: tl.constexpr", "HAS_E: tl.constexpr",
             "BLOCK: tl.constexpr"]
    lines = ["@triton.jit", f"def step({', '.join(args)}):",
             "    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)",
             "    ok = offs < total",
             "    k = offs % n",
             # input in the eager path's order: connections, block product, external
             "    inp = tl.zeros([BLOCK], dtype=tl.float32)",
             "    if HAS_C:",
             "        inp = tl.load(c_ptr + offs, mask=ok, other=0.0)",
             "    if HAS_F:",
             "        inp = inp + tl.load(f_ptr + offs, mask=ok, other=0.0)",
             "    if HAS_E:",
             "        inp = inp + tl.load(e_ptr + offs, mask=ok, other=0.0)",
             "    s = tl.load(s_ptr + offs, mask=ok, other=0) != 0"]
    for v in state:
        lines.append(f"    {v} = tl.load({v}_ptr + offs, mask=ok, other=0.0)")
    for p in params:
        lines.append(f"    {p} = tl.load(p_{p}_ptr + k, mask=ok, other=0.0)")
    if uses_rand:
        lines.append("    rand = tl.load(rand_ptr + offs, mask=ok, other=0.0)")
    for st in stmts:
        expr = ast.unparse(_TritonExpr({}).visit(ast.parse(ast.unparse(st.expr), mode="eval").body))
        lines.append(f"    {st.target} = {expr}")
    for v in state:
        lines.append(f"    tl.store({v}_ptr + offs, {v}, mask=ok)")
    lines.append("    tl.store(s_ptr + offs, s.to(tl.int8), mask=ok)")
    for v in recorded:
        value = "s.to(tl.int8)" if v == "s" else v
        lines.append(f"    tl.store(out_{v}_ptr + offs, {value}, mask=ok)")
    src = "import triton\nimport triton.language as tl\n\n\n" + "\n".join(lines) + "\n"
    return src, state, params, uses_rand


def _compile_kernel(src: str):
    key = hashlib.sha256(src.encode()).hexdigest()[:24]
    kernel = _KERNELS.get(key)
    if kernel is None:
        # triton.jit reads the function's source file: write it to the cache directory
        folder = Path(os.environ.get("SNNLAB_CACHE_DIR") or Path.home() / ".cache" / "snnlab") / "triton"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step_{key}.py"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(src)
            os.replace(tmp, path)
        name = f"snnlab_triton_step_{key}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        kernel = _KERNELS[key] = module.step
    return kernel


class ModelStep:
    """One step of a layer (its model's statements and traces) in one generated
    Triton kernel: input sum, update, and the monitors' rows."""

    def __init__(self, layer, recorded=("v", "s")) -> None:
        self.layer = layer
        allowed = set(layer.model.state) | {"s"} | ({"x"} if layer.traces else set())
        self.recorded = tuple(v for v in recorded if v in allowed)
        src, self.state, self.params, self.uses_rand = _kernel_source(layer, self.recorded)
        self.kernel = _compile_kernel(src)
        dev = layer.device
        n = layer.n
        values = layer.values()
        self.param_tensors = [
            torch.as_tensor(values[p], dtype=torch.float32).to(dev).expand(layer.shape).reshape(n).contiguous()
            for p in self.params
        ]
        self.total = layer.batch_size * n
        self.n = n

    def __call__(self, c, f, e, outs=None) -> None:
        layer = self.layer
        d = layer.state_tensors()
        dummy = d[self.state[0]] if self.state else layer.s  # stands in for absent pointers
        rand = torch.rand(self.total, device=layer.device) if self.uses_rand else dummy
        outs = outs or {}
        out_ptrs = [outs[v].view(torch.int8) if v == "s" else outs[v] for v in self.recorded]
        grid = (triton.cdiv(self.total, SPIKING_BLOCK),)
        self.kernel[grid](
            *[d[v] for v in self.state], d["s"].view(torch.int8),
            dummy if c is None else c, dummy if f is None else f, dummy if e is None else e, rand,
            *self.param_tensors, *out_ptrs,
            float(layer.dt), self.total, self.n,
            HAS_C=c is not None, HAS_F=f is not None, HAS_E=e is not None, BLOCK=SPIKING_BLOCK,
            enable_fp_fusion=False,
        )
