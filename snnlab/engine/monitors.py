"""Monitors: record state variables of layers and connections, step by step.

Recording is cheap and bounded:

* each step copies the value into a small preallocated staging buffer on the
  recorded object's device; full buffers are moved to the store in one go;
* spikes (bool) are stored bit-packed (8 per byte), so a million steps of
  1000 neurons take 125 MB;
* ``time=T`` keeps a window of the last T recorded rows in a ring buffer
  allocated once (memory known in advance); ``every=k`` records every k-th
  step (decimation);
* :meth:`Monitor.get` returns a new tensor and never empties the recording.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, Optional, Sequence, Union

import numpy as np
import torch

from ..dynamics.checks import check_positive_int, describe
from ..dynamics.nodes import Nodes
from ..dynamics.topology import AbstractConnection, SparseConnection

__all__ = ["AbstractMonitor", "Monitor", "NetworkMonitor"]

STAGE_ROWS = 128  # staging rows per variable before moving to the store
BLOCK_BYTES = 4 << 20  # an unbounded recording grows by blocks of about this size
_SHIFTS = torch.tensor([7, 6, 5, 4, 3, 2, 1, 0], dtype=torch.uint8)


def _pack(bits: torch.Tensor) -> torch.Tensor:
    """bool ``[k, *shape]`` -> uint8 ``[k, ceil(N / 8)]`` (first neuron in the high bit)."""
    k = bits.shape[0]
    flat = bits.reshape(k, math.prod(bits.shape[1:]))
    if flat.device.type == "cpu":
        # NumPy's packbits (same bit order): ~100x faster than the torch ops below
        # on a CPU, where they were a tenth of a short run's time.
        return torch.from_numpy(np.packbits(flat.to(torch.bool).numpy(), axis=1))
    pad = (-flat.shape[1]) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(k, pad)], 1)
    grouped = flat.view(k, -1, 8).to(torch.uint8) << _SHIFTS.to(flat.device)
    return grouped.sum(-1, dtype=torch.uint8)


def _unpack(packed: torch.Tensor, shape: tuple) -> torch.Tensor:
    k = packed.shape[0]
    n = math.prod(shape)
    if packed.device.type == "cpu":
        bits = np.unpackbits(packed.numpy(), axis=1, count=n)
        return torch.from_numpy(bits.view(np.bool_)).reshape(k, *shape)
    bits = (packed.unsqueeze(-1) >> _SHIFTS.to(packed.device)) & 1
    return bits.view(k, -1)[:, :n].bool().reshape(k, *shape)


class Recorder:
    """Storage of one recorded variable: staging buffer + window or growing store."""

    def __init__(
        self, sample: torch.Tensor, window: Optional[int], device: torch.device, spare: Optional[tuple] = None
    ) -> None:
        # ``spare``: (staging buffer, window or None) of the recorder this one replaces
        # (a reset), reused when they fit: addresses fixed across resets, no allocation.
        stage, old = spare if spare is not None else (None, None)
        self.shape = tuple(sample.shape)
        self.dtype = sample.dtype
        self.packed = sample.dtype == torch.bool
        self.window = window
        self.device = device
        stage_rows = STAGE_ROWS if window is None else min(STAGE_ROWS, window)
        if (
            stage is not None
            and stage.shape == (stage_rows, *self.shape)
            and stage.dtype == self.dtype
            and stage.device == sample.device
        ):
            self.stage = stage  # reused: its address stays fixed across resets
        else:
            self.stage = torch.empty((stage_rows, *self.shape), dtype=self.dtype, device=sample.device)
        self.stage_n = 0
        self.total = 0  # rows recorded since reset (staged + stored)
        self.stored = 0  # rows moved to the store
        row_shape = (math.ceil(math.prod(self.shape) / 8),) if self.packed else self.shape
        row_dtype = torch.uint8 if self.packed else self.dtype
        if window is not None:
            if old is not None and old.shape == (window, *row_shape) and old.dtype == row_dtype and old.device == torch.device(device):
                self.ring = old  # rows past ``total`` are never read: no need to clear it
            else:
                self.ring = torch.zeros((window, *row_shape), dtype=row_dtype, device=device)
        else:
            # Grows by large fixed-size blocks: memory known per row, and no
            # fragmentation from many small allocations over a long run.
            row_bytes = max(1, math.prod(row_shape) * torch.empty((), dtype=row_dtype).element_size())
            self.block_rows = int(min(65536, max(64, BLOCK_BYTES // row_bytes)))
            self.blocks: list[torch.Tensor] = []
        self._row_shape, self._row_dtype = row_shape, row_dtype

    def record(self, value: torch.Tensor) -> None:
        self.stage[self.stage_n].copy_(value)
        self.stage_n += 1
        self.total += 1
        if self.stage_n == self.stage.shape[0]:
            self.flush()

    def commit_staged(self, k: int) -> None:
        """Rows ``stage[:k]`` were written directly (a back-end's block): store them."""
        self.stage_n = k
        self.total += k
        self.flush()

    def flush(self) -> None:
        k = self.stage_n
        if k == 0:
            return
        self._store(self.stage[:k])
        self.stage_n = 0

    def record_many(self, rows: torch.Tensor) -> None:
        """Append ``rows`` (``[k, *shape]``) at once (after any staged rows)."""
        self.flush()
        self.total += rows.shape[0]
        self._store(rows.to(self.dtype))

    def _store(self, rows: torch.Tensor) -> None:
        k = rows.shape[0]
        rows = _pack(rows) if self.packed else rows
        if self.window is None:
            done = 0
            while done < k:
                index, offset = divmod(self.stored, self.block_rows)
                if index == len(self.blocks):
                    self.blocks.append(torch.empty((self.block_rows, *self._row_shape), dtype=self._row_dtype, device=self.device))
                n = min(k - done, self.block_rows - offset)
                self.blocks[index][offset : offset + n] = rows[done : done + n]
                done += n
                self.stored += n
            return
        else:
            cap = self.window
            if k > cap:  # only the last `cap` rows stay in the window
                self.stored += k - cap
                rows = rows[k - cap :]
                k = cap
            start = self.stored % cap
            first = min(k, cap - start)
            self.ring[start : start + first] = rows[:first]
            if k > first:
                self.ring[: k - first] = rows[first:]
        self.stored += k

    def available(self) -> tuple[int, int]:
        """Global row range ``[lo, hi)`` still held."""
        hi = self.total
        lo = 0 if self.window is None else max(0, hi - self.window)
        return lo, hi

    def get(self, start: int = 0) -> torch.Tensor:
        """Rows with global index >= ``start`` that are still held, as a new tensor."""
        self.flush()
        lo, hi = self.available()
        start = max(start, lo)
        n = max(0, hi - start)
        if self.window is None:
            # Only the blocks that hold rows >= start (no full concatenation).
            pieces, r = [], start
            while r < hi:
                index, offset = divmod(r, self.block_rows)
                n = min(hi - r, self.block_rows - offset)
                pieces.append(self.blocks[index][offset : offset + n])
                r += n
            data = torch.cat(pieces) if len(pieces) > 1 else (pieces[0].clone() if pieces else self.ring_empty())
            return _unpack(data, self.shape) if self.packed else data
        else:
            cap = self.window
            idx = torch.arange(start, hi, device=self.ring.device) % cap
            data = self.ring.index_select(0, idx) if n else self.ring_empty()
        if self.packed:
            return _unpack(data, self.shape)
        return data.clone()

    def ring_empty(self) -> torch.Tensor:
        return torch.empty((0, *self._row_shape), dtype=self._row_dtype, device=self.device)

    def nbytes(self) -> int:
        stage = self.stage.numel() * self.stage.element_size()
        if self.window is None:
            return stage + sum(b.numel() * b.element_size() for b in self.blocks)
        return stage + self.ring.numel() * self.ring.element_size()


class AbstractMonitor:
    """What the network calls on every monitor."""

    def record(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset_state_variables(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class Monitor(AbstractMonitor):
    """Records state variables of one layer or connection.

    Parameters
    ----------
    obj : Nodes or Connection
        What to record.
    state_vars : sequence of str
        Names of the state variables, e.g. ``("s", "v")`` for a layer or
        ``("w",)`` for a connection.
    time : int, optional
        Keep only the last ``time`` recorded rows (a window); None keeps all.
    batch_size : int
        Accepted for BindsNET compatibility; the batch size comes from the network.
    device : str or torch.device, optional
        Where the recording is stored; by default where ``obj`` lives.
    every : int
        Record every ``every``-th step (decimation). Default 1.

    Notes
    -----
    The monitor records after the layers and the learning rules of a step,
    so a recorded ``v`` is after reset and a recorded ``w`` after learning.
    :meth:`get` returns ``[rows, batch, *shape]`` for layer variables (spikes
    as ``bool``), ``[rows, *shape]`` for variables without a batch dimension
    (an adaptive ``theta``, a connection's ``w``).

    Examples
    --------
    >>> import torch
    >>> from snnlab.network import Network
    >>> from snnlab.network.nodes import Input
    >>> net = Network()
    >>> net.add_layer(Input(n=3), name="A")
    >>> net.add_monitor(Monitor(net.layers["A"], ("s",), time=4), name="A")
    >>> net.run(inputs={"A": torch.eye(3).repeat(2, 1)}, time=6)
    >>> net.monitors["A"].get("s").shape  # the last 4 of 6 steps
    torch.Size([4, 1, 3])
    >>> net.monitors["A"].get("s").view(4, 3).int().tolist()
    [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    """

    def __init__(
        self,
        obj: Union[Nodes, AbstractConnection],
        state_vars: Union[str, Sequence[str]] = ("s",),
        time: Optional[int] = None,
        batch_size: int = 1,
        device: Optional[Union[str, torch.device]] = None,
        every: int = 1,
    ) -> None:
        if not isinstance(obj, (Nodes, AbstractConnection)):
            raise TypeError(f"Monitor obj must be a layer or a connection, got {describe(obj)}")
        if isinstance(state_vars, str):
            state_vars = (state_vars,)
        state_vars = tuple(state_vars)
        if not state_vars:
            raise ValueError("Monitor state_vars is empty; expected names such as ('s', 'v')")
        for var in state_vars:
            if not isinstance(var, str):
                raise TypeError(f"Monitor state_vars must be names (str), got {describe(var)}")
            if isinstance(obj, SparseConnection) and var == "w":
                raise ValueError("a SparseConnection's weights are recorded as 'values' (one per synapse), not 'w'")
            if not isinstance(getattr(obj, var, None), torch.Tensor):
                have = [n for n in _tensor_attrs(obj)]
                raise ValueError(
                    f"{type(obj).__name__} has no state variable {var!r}; it has {', '.join(map(repr, have))}"
                )
        self.obj = obj
        self.state_vars = state_vars
        self.time = None if time is None else check_positive_int("Monitor time", time)
        self.every = check_positive_int("Monitor every", every)
        self.batch_size = batch_size
        self.device = None if device is None else torch.device(device)
        self.reset_state_variables()

    # --------------------------------------------------------------- network
    def reset_state_variables(self) -> None:
        """Drop the recording."""
        old = getattr(self, "_recorders", {})
        # a reset drops the recording (an unbounded one's blocks) but keeps the buffers
        spares = {var: (rec.stage, rec.ring if rec.window is not None else None) for var, rec in old.items()}
        self._spares = spares or getattr(self, "_spares", {})
        self._recorders: Dict[str, Recorder] = {}
        self._tick = 0  # steps seen since reset

    def record(self) -> None:
        tick = self._tick
        self._tick = tick + 1
        if tick % self.every:
            return
        recs = self._recorders
        obj = self.obj
        for var in self.state_vars:
            value = getattr(obj, var)
            rec = recs.get(var)
            if rec is None or rec.shape != tuple(value.shape):
                device = self.device if self.device is not None else value.device
                rec = recs[var] = Recorder(value, self.time, device, self._spares.get(var))
            rec.record(value)

    # ------------------------------------------------- block API (back-ends)
    def recorder(self, var: str) -> "Recorder":
        """The storage of ``var`` for the current shape of the value (made if needed)."""
        value = getattr(self.obj, var)
        rec = self._recorders.get(var)
        if rec is None or rec.shape != tuple(value.shape):
            device = self.device if self.device is not None else value.device
            rec = self._recorders[var] = Recorder(value, self.time, device, self._spares.get(var))
        return rec

    def record_rows(self, var: str, rows: torch.Tensor) -> None:
        """Record a block of steps of ``var`` at once (``rows``: ``[k, *value.shape]``).

        Only for ``every == 1``; call :meth:`advance` once per block afterwards."""
        self.recorder(var).record_many(rows)

    def advance(self, steps: int) -> None:
        """Count ``steps`` steps recorded by :meth:`record_rows` or staged rows."""
        self._tick += steps

    # ---------------------------------------------------------------- access
    def get(self, var: Optional[str] = None) -> torch.Tensor:
        """The recording of ``var``: a new tensor, ``[rows, ...]``.

        With ``var=None`` returns a dict of all variables.
        """
        if var is None:
            return {v: self.get(v) for v in self.state_vars}
        if var not in self.state_vars:
            raise ValueError(f"this Monitor records {self.state_vars}, not {var!r}")
        rec = self._recorders.get(var)
        if rec is None:
            value = getattr(self.obj, var)
            return torch.empty((0, *value.shape), dtype=value.dtype, device=(self.device if self.device is not None else value.device))
        return rec.get()

    @property
    def ticks(self) -> int:
        """Steps seen since the last reset."""
        return self._tick

    @property
    def rows(self) -> int:
        """Rows recorded since the last reset (including any that left the window)."""
        return max((r.total for r in self._recorders.values()), default=0)

    def steps(self) -> torch.Tensor:
        """Step index (counted since the last reset) of each row :meth:`get` returns."""
        lo = 0 if self.time is None else max(0, self.rows - self.time)
        return torch.arange(lo, self.rows, dtype=torch.long) * self.every

    def memory_bytes(self) -> int:
        """Bytes held by the recording now."""
        return sum(r.nbytes() for r in self._recorders.values())

    def mark(self) -> int:
        """A position in the recording, for :meth:`since`."""
        return self.rows

    def since(self, mark: int):
        """``{var: rows recorded after mark}``."""
        data = {}
        for var in self.state_vars:
            rec = self._recorders.get(var)
            data[var] = rec.get(mark) if rec is not None else self.get(var)
        return data

    def steps_since(self, mark: int) -> torch.Tensor:
        """Step index of each row recorded after ``mark``."""
        lo = mark if self.time is None else max(mark, self.rows - self.time)
        return torch.arange(lo, self.rows, dtype=torch.long) * self.every

    def __repr__(self) -> str:
        return f"Monitor({type(self.obj).__name__}, state_vars={self.state_vars}, time={self.time}, every={self.every})"


def _tensor_attrs(obj) -> list[str]:
    names = list(getattr(obj, "state_names", ()))
    if isinstance(obj, Nodes) and obj.traces:
        names.append("x")
    if isinstance(obj, AbstractConnection):
        names = ["values"] if isinstance(obj, SparseConnection) else ["w"]
        if getattr(obj, "b", None) is not None:
            names.append("b")
    return names


class NetworkMonitor(AbstractMonitor):
    """Records the given state variables of every layer and connection of a network.

    Parameters
    ----------
    network : Network
    layers : sequence of str, optional
        Layer names (default: all layers now in the network).
    connections : sequence of (str, str), optional
        Connection keys (default: all).
    state_vars : sequence of str
        Variables to record wherever an object has them. Default ``("v", "s", "w")``.
    time, every, device : as :class:`Monitor`.

    :meth:`get` returns ``{name: {var: tensor}}`` (connections under their
    ``(source, target)`` key).
    """

    def __init__(
        self,
        network,
        layers: Optional[Iterable[str]] = None,
        connections: Optional[Iterable[tuple]] = None,
        state_vars: Sequence[str] = ("v", "s", "w"),
        time: Optional[int] = None,
        batch_size: int = 1,
        device: Optional[Union[str, torch.device]] = None,
        every: int = 1,
    ) -> None:
        if isinstance(state_vars, str):
            state_vars = (state_vars,)
        layers = list(network.layers) if layers is None else list(layers)
        connections = list(network.connections) if connections is None else list(connections)
        self.monitors: Dict[object, Monitor] = {}
        for name in layers:
            if name not in network.layers:
                raise ValueError(f"NetworkMonitor: no layer named {name!r} in the network")
            obj = network.layers[name]
            have = [v for v in state_vars if isinstance(getattr(obj, v, None), torch.Tensor)]
            if have:
                self.monitors[name] = Monitor(obj, have, time=time, device=device, every=every)
        for key in connections:
            key = tuple(key)
            if key not in network.connections:
                raise ValueError(f"NetworkMonitor: no connection {key!r} in the network")
            obj = network.connections[key]
            have = [v for v in state_vars if v != "w" or not isinstance(obj, SparseConnection)]
            have = [v for v in have if isinstance(getattr(obj, v, None), torch.Tensor)]
            if have:
                self.monitors[key] = Monitor(obj, have, time=time, device=device, every=every)
        self.state_vars = tuple(state_vars)
        self.time = time
        self.every = every
        self.network_objects = {k: m.obj for k, m in self.monitors.items()}

    def record(self) -> None:
        for m in self.monitors.values():
            m.record()

    def reset_state_variables(self) -> None:
        for m in self.monitors.values():
            m.reset_state_variables()

    def get(self) -> Dict[object, Dict[str, torch.Tensor]]:
        return {k: m.get() for k, m in self.monitors.items()}

    def memory_bytes(self) -> int:
        return sum(m.memory_bytes() for m in self.monitors.values())

    @property
    def rows(self) -> int:
        return max((m.rows for m in self.monitors.values()), default=0)

    @property
    def ticks(self) -> int:
        return max((m.ticks for m in self.monitors.values()), default=0)

    def mark(self):
        return {k: m.mark() for k, m in self.monitors.items()}

    def since(self, mark):
        return {k: m.since(mark[k]) for k, m in self.monitors.items()}

    def steps_since(self, mark):
        for k, m in self.monitors.items():
            return m.steps_since(mark[k])
        return torch.zeros(0, dtype=torch.long)
