"""The Network: layers, connections and monitors, simulated clock-driven.

One step (default, synchronous mode), see docs/semantics.md:

1. every connection turns its source's spikes of the *previous* step into
   input for its target (so each connection adds a one-step delay);
2. layers update in the order they were added (external input, then
   ``injects_v``, then the model's step with clamp/unclamp);
3. learning rules update the weights, then ``masks`` zero weights;
4. monitors record.

Speed: a connection from an ``Input`` layer whose weights cannot change
during a run gets its input for a block of steps from one matrix product
(the Input's spikes are known in advance); other connections sum only the
weight rows of neurons that spiked. Stop and chunked runs use
:meth:`Network.run_chunks`, the hook the lab drives.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time as _time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, Mapping, Optional, Union

import numpy as np
import torch

from ._checks import all_finite, check_device, check_positive_int, check_real, describe, steps_from_time
from . import fused, graphs
from .monitors import AbstractMonitor, NetworkMonitor
from .nodes import Input, Nodes
from .topology import AbstractConnection

__all__ = ["Network", "Chunk"]

BLOCK_STEPS = 256  # steps whose fixed input is propagated in one matrix product
_OK_INPUT_DTYPES = {
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64,
}


@dataclass
class Chunk:
    """What :meth:`Network.run_chunks` yields after simulating some steps.

    Attributes
    ----------
    start, stop : int
        Steps ``[start, stop)`` of this run that were just simulated.
    n_steps : int
        Total steps of this run.
    dt : float
        Time step (ms).
    records : dict
        ``{monitor_name: {var: tensor}}``: rows the monitors recorded during
        this chunk (``NetworkMonitor``: ``{monitor_name: {obj: {var: tensor}}}``).
    record_steps : dict
        ``{monitor_name: LongTensor}``: the step (within this run) of each row.
    """

    start: int
    stop: int
    n_steps: int
    dt: float
    records: Dict[str, object] = field(default_factory=dict)
    record_steps: Dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def t(self) -> float:
        """Simulated time of this run so far (ms)."""
        return self.stop * self.dt

    @property
    def done(self) -> bool:
        return self.stop >= self.n_steps


@dataclass
class _Stepper:
    """How one layer gets its input in a run (made once per run)."""

    name: str
    layer: Nodes
    index: int
    conns: list  # connections computed step by step
    pre_conns: list  # connections from Input layers, propagated per block
    clamp: Optional[tuple] = None  # (mask, per_step)
    unclamp: Optional[tuple] = None
    inject: Optional[tuple] = None


class Network(torch.nn.Module):
    """A spiking network simulated with a fixed time step.

    Parameters
    ----------
    dt : float
        Time step (ms). Default 1.
    batch_size : int
        Number of samples simulated in parallel; changes automatically to the
        batch size (dimension 1) of the inputs given to :meth:`run`.
    learning : bool
        Whether learning rules and adaptive thresholds are on (see :meth:`train`).
    reward_fn : class or object, optional
        Something with ``compute(**run_options) -> reward``, called once per
        run to produce the reward passed to learning rules.

    Examples
    --------
    >>> import torch
    >>> from snnlab.network import Network
    >>> from snnlab.network.nodes import Input, LIFNodes
    >>> from snnlab.network.topology import Connection
    >>> net = Network()
    >>> net.add_layer(Input(n=2), name="A")
    >>> net.add_layer(LIFNodes(n=1), name="B")
    >>> net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.full((2, 1), 20.0)), source="A", target="B")
    >>> net.run(inputs={"A": torch.ones(3, 2)}, time=3)
    >>> net.layers["B"].v.item()  # spiked at step 1 (one-step delay), so reset; refractory at step 2
    -65.0
    """

    def __init__(self, dt: float = 1.0, batch_size: int = 1, learning: bool = True, reward_fn=None) -> None:
        super().__init__()
        self._dt = check_real("dt", dt, positive=True, allow_tensor=False)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.learning = bool(learning)
        self.layers: Dict[str, Nodes] = {}
        self.connections: Dict[tuple, AbstractConnection] = {}
        self.monitors: Dict[str, AbstractMonitor] = {}
        if isinstance(reward_fn, type):
            reward_fn = reward_fn()
        if reward_fn is not None and not callable(getattr(reward_fn, "compute", None)):
            raise TypeError(f"reward_fn must have a compute(**kwargs) method, got {describe(reward_fn)}")
        self.reward_fn = reward_fn
        self._stop = threading.Event()
        #: "auto": replay blocks of steps from CUDA graphs on a GPU where a run
        #: allows it (see snnlab.network.graphs); False: never. ("emulate" runs
        #: the graph path's code without capture, on any device, for tests.)
        #: On a CPU, run eligible blocks of steps in one compiled loop
        #: (snnlab.network.fused; needs numba, SNNLAB_NUMBA=0 turns it off).
        self.cpu_kernels: bool = True
        #: The environment variable SNNLAB_CUDA_GRAPHS=0 turns the default off.
        self.cuda_graphs: Union[str, bool] = "auto" if os.environ.get("SNNLAB_CUDA_GRAPHS", "1") != "0" else False

    # ------------------------------------------------------------ copying
    #: per-process helpers, not part of a network's value: re-made after a copy
    _TRANSIENT = ("_stop", "_fused", "_runner", "_user_threads")

    def __getstate__(self):
        # copy.deepcopy and pickle: leave out the stop flag (a lock) and compiled runners.
        state = dict(self.__dict__)
        for key in self._TRANSIENT:
            state.pop(key, None)
        return state

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._stop = threading.Event()

    # ------------------------------------------------------------ structure
    @property
    def dt(self) -> float:
        """Time step (ms). Changing it takes effect from the next run on."""
        return self._dt

    @dt.setter
    def dt(self, value: float) -> None:
        self._dt = check_real("dt", value, positive=True, allow_tensor=False)

    def _device(self) -> Optional[torch.device]:
        for layer in self.layers.values():
            return layer.s.device
        return None

    def add_layer(self, layer: Nodes, name: str) -> None:
        """Add a layer under ``name`` (layers update in the order added)."""
        self._check_new_name(name, self.layers, "layer")
        if not isinstance(layer, Nodes):
            raise TypeError(f"layer {name!r} must be a layer (an snnlab Nodes object), got {describe(layer)}")
        for other, existing in self.layers.items():
            if existing is layer:
                raise ValueError(f"this layer is already in the network as {other!r}; a layer can be added once")
        device = self._device()
        if device is not None and layer.s.device != device:
            raise ValueError(f"layer {name!r} is on {layer.s.device}, the network on {device}; move it with .to({str(device)!r})")
        layer.set_batch_size(self.batch_size)
        layer.compute_decays(self.dt)
        layer.train(self.learning)
        self.layers[name] = layer
        self.add_module(name, layer)

    def add_connection(self, connection: AbstractConnection, source: str, target: str) -> None:
        """Add a connection from layer ``source`` to layer ``target``."""
        if not isinstance(connection, AbstractConnection):
            raise TypeError(f"connection must be an snnlab connection (e.g. Connection), got {describe(connection)}")
        for role, name, layer in (("source", source, connection.source), ("target", target, connection.target)):
            if not isinstance(name, str):
                raise TypeError(f"{role} must be a layer name (str), got {describe(name)}")
            if name not in self.layers:
                raise ValueError(f"connection {role} {name!r} is not a layer of the network (layers: {self._names(self.layers)})")
            if self.layers[name] is not layer:
                raise ValueError(
                    f"the connection's {role} layer is not the layer named {name!r} in the network; "
                    f"add the connection under the names of the layers it connects"
                )
        key = (source, target)
        if key in self.connections:
            raise ValueError(f"a connection from {source!r} to {target!r} is already in the network")
        w = connection.weights()
        if w.device != self.layers[source].s.device:
            raise ValueError(
                f"connection {source!r}->{target!r} weights are on {w.device}, its layers on "
                f"{self.layers[source].s.device}; move it with .to(...) first"
            )
        connection.compute_decays(self.dt)
        self.connections[key] = connection
        self.add_module(f"{source}_to_{target}", connection)

    def add_monitor(self, monitor: AbstractMonitor, name: str) -> None:
        """Add a monitor under ``name``; it records after every step."""
        self._check_new_name(name, self.monitors, "monitor")
        if not isinstance(monitor, AbstractMonitor):
            raise TypeError(f"monitor {name!r} must be a Monitor or NetworkMonitor, got {describe(monitor)}")
        objs = list(monitor.network_objects.values()) if isinstance(monitor, NetworkMonitor) else [monitor.obj]
        known = list(self.layers.values()) + list(self.connections.values())
        for obj in objs:
            if not any(obj is k for k in known):
                raise ValueError(
                    f"monitor {name!r} watches a {type(obj).__name__} that is not in the network; "
                    f"add the layer or connection first"
                )
        self.monitors[name] = monitor

    def _check_new_name(self, name, table, kind: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{kind} name must be a non-empty string, got {describe(name)}")
        if "." in name:
            raise ValueError(f"{kind} name {name!r} must not contain '.'")
        if name in table:
            raise ValueError(f"a {kind} named {name!r} is already in the network")

    @staticmethod
    def _names(table) -> str:
        return ", ".join(repr(k) for k in table) or "none"

    # ---------------------------------------------------------------- state
    def reset_state_variables(self) -> None:
        """Reset every layer's state, learning-rule eligibilities and monitors."""
        for layer in self.layers.values():
            layer.reset_state_variables()
        for conn in self.connections.values():
            conn.reset_state_variables()
        for monitor in self.monitors.values():
            monitor.reset_state_variables()

    def train(self, mode: bool = True) -> "Network":
        """Switch learning on (default) or off (weights and adaptive thresholds frozen)."""
        self.learning = bool(mode)
        for layer in self.layers.values():
            layer.train(mode)
        return super().train(mode)

    def _set_batch_size(self, batch_size: int) -> None:
        self.batch_size = batch_size
        for layer in self.layers.values():
            layer.set_batch_size(batch_size)
        for conn in self.connections.values():
            conn.reset_state_variables()
        for monitor in self.monitors.values():
            monitor.reset_state_variables()

    def save(self, path) -> None:
        """Save structure, weights and state to ``path`` in a safe format
        (no pickled objects); read it back with :func:`snnlab.network.load`."""
        from .persistence import save

        save(self, path)

    def to(self, *args, **kwargs) -> "Network":
        """``nn.Module.to``, but a device this machine lacks (``"cuda"`` without
        CUDA) is a ``ValueError`` rather than torch's bare ``AssertionError``."""
        device = kwargs.get("device", args[0] if args else None)
        if isinstance(device, (str, torch.device)):
            check_device("device", device)
        return super().to(*args, **kwargs)

    def request_stop(self) -> None:
        """Ask a run in progress to stop after its current chunk (thread-safe).

        Everything recorded so far stays in the monitors.
        """
        self._stop.set()

    # ------------------------------------------------------------------ run
    def run(
        self,
        inputs: Union[Mapping[str, torch.Tensor], Callable, None] = None,
        time: float = None,
        one_step: bool = False,
        *,
        clamp: Optional[Mapping[str, torch.Tensor]] = None,
        unclamp: Optional[Mapping[str, torch.Tensor]] = None,
        injects_v: Optional[Mapping[str, torch.Tensor]] = None,
        masks: Optional[Mapping[tuple, torch.Tensor]] = None,
        reward=None,
        progress_bar: bool = False,
        callback: Optional[Callable[[Chunk], None]] = None,
        callback_steps: Optional[int] = None,
    ) -> None:
        """Simulate ``time`` ms.

        Parameters
        ----------
        inputs : dict
            Layer name -> input tensor: ``[T, B, *shape]``, ``[T, *shape]``
            (batch 1) or ``[*shape]`` (one step). ``T`` must cover the run's
            steps. An Input layer spikes where its input is nonzero; any other
            layer adds its input (mV) for that step. The tensors are not changed.
            May also be a callable ``inputs(start, stop) -> dict`` (see
            :meth:`run_chunks`).
        time : float
            Duration (ms); must be a whole number of steps of ``dt``.
        one_step : bool
            Layers take their input just before their own update, so spikes of
            layers added earlier arrive within the same step.
        clamp, unclamp : dict, optional
            Layer name -> bool mask forcing spikes on / off: ``[*shape]`` (every
            step), ``[T, *shape]`` (per step) or ``[T, B, *shape]`` (per sample).
        injects_v : dict, optional
            Layer name -> voltage (mV) added to ``v`` before the update,
            constant (``[*shape]``) or per step (``[T, ...]``).
        masks : dict, optional
            ``(source, target)`` -> bool mask of weights forced to zero after
            every step's learning.
        reward : float or Tensor, optional
            Passed to reward-modulated rules (``[B]`` for one per sample).
        progress_bar : bool
            Print progress to stderr.
        callback : callable, optional
            Called with a :class:`Chunk` every ``callback_steps`` steps (and at
            the end); :meth:`request_stop` stops the run between chunks.
        """
        steps = steps_from_time(time, self.dt) if time is not None else None
        if steps is None:
            raise TypeError("run() needs time (ms)")
        chunk = callback_steps if callback_steps is not None else (max(1, steps // 50) if progress_bar else steps)
        chunk = check_positive_int("callback_steps", chunk)
        gen = self.run_chunks(
            inputs, time, one_step, chunk_steps=chunk, clamp=clamp, unclamp=unclamp, injects_v=injects_v,
            masks=masks, reward=reward, records=callback is not None,
        )
        started = _time.perf_counter()
        for c in gen:
            if callback is not None:
                callback(c)
            if progress_bar:
                _print_progress(c, _time.perf_counter() - started)
        if progress_bar:
            sys.stderr.write("\n")

    def run_chunks(
        self,
        inputs: Union[Mapping[str, torch.Tensor], Callable, None] = None,
        time: float = None,
        one_step: bool = False,
        *,
        chunk_steps: int = 100,
        clamp=None,
        unclamp=None,
        injects_v=None,
        masks=None,
        reward=None,
        records: bool = True,
    ) -> Iterator[Chunk]:
        """Simulate ``time`` ms in chunks of ``chunk_steps`` steps.

        Returns a generator; each ``next()`` simulates one chunk and yields a
        :class:`Chunk` with the rows the monitors recorded meanwhile. Between
        chunks the caller may change weights or parameters (they take effect
        at the next chunk), or stop the run with ``break``/``close()`` (or
        :meth:`request_stop` from another thread): everything recorded so far
        is kept. Bad arguments raise here, before anything is simulated.

        ``inputs`` may be a callable ``inputs(start, stop)`` returning the
        input dict for steps ``[start, stop)`` of this run (tensors of
        ``stop - start`` steps); it is called once per chunk.

        Examples
        --------
        >>> import torch
        >>> from snnlab.network import Network
        >>> from snnlab.network.nodes import Input
        >>> from snnlab.network.monitors import Monitor
        >>> net = Network()
        >>> net.add_layer(Input(n=4), name="A")
        >>> net.add_monitor(Monitor(net.layers["A"], ("s",)), name="A")
        >>> [c.stop for c in net.run_chunks({"A": torch.ones(10, 4)}, time=10, chunk_steps=4)]
        [4, 8, 10]
        """
        steps = steps_from_time(time, self.dt)
        chunk_steps = check_positive_int("chunk_steps", chunk_steps)
        if callable(inputs) and not isinstance(inputs, Mapping):
            source = inputs
            first_inputs = self._checked_inputs(source(0, min(steps, chunk_steps)), min(steps, chunk_steps), "inputs(0, ...)")
        else:
            source = None
            first_inputs = self._checked_inputs(inputs, steps, "inputs")
        batch = self._batch_of(first_inputs)
        plan = self._plan(
            first_inputs, steps, batch, bool(one_step),
            self._checked_masks(clamp, "clamp", steps, batch),
            self._checked_masks(unclamp, "unclamp", steps, batch),
            self._checked_injects(injects_v, steps, batch),
            self._checked_weight_masks(masks),
        )
        reward = self._checked_reward(reward, batch)
        self._checked_weights()
        if self.reward_fn is not None:
            reward = self.reward_fn.compute(
                inputs=inputs, time=time, reward=reward, clamp=clamp, unclamp=unclamp, masks=masks
            )
        self._stop.clear()
        return self._chunks(plan, source, first_inputs, steps, chunk_steps, reward, records, batch)

    def _chunks(self, plan, source, first_inputs, steps, chunk_steps, reward, records, batch):
        # Nothing below runs before the first next(): all checks are done.
        if batch != self.batch_size:
            self._set_batch_size(batch)
        for layer in self.layers.values():
            layer.compute_decays(self.dt)
        for conn in self.connections.values():
            conn.compute_decays(self.dt)
        start = 0
        finished = False
        try:
            while start < steps and not self._stop.is_set():
                stop = min(steps, start + chunk_steps)
                if source is None:
                    ext = {k: v[start:stop] for k, v in first_inputs.items()}
                elif start == 0:
                    ext = first_inputs
                else:
                    ext = self._checked_inputs(source(start, stop), stop - start, f"inputs({start}, {stop})")
                    if ext and self._batch_of(ext) != batch:
                        raise ValueError(f"inputs({start}, {stop}) changed the batch size to {self._batch_of(ext)}, expected {batch}")
                if records:
                    marks = {n: m._mark() for n, m in self.monitors.items()}
                    if start == 0:
                        first_ticks = {n: m._ticks for n, m in self.monitors.items()}
                self._simulate(plan, ext, start, stop, reward)
                chunk = Chunk(start=start, stop=stop, n_steps=steps, dt=self.dt)
                if records:
                    for n, m in self.monitors.items():
                        chunk.records[n] = m._since(marks[n])
                        chunk.record_steps[n] = m._steps_since(marks[n]) - first_ticks.get(n, 0)
                start = stop
                yield chunk
            finished = True
        except GeneratorExit:
            finished = True
            raise
        finally:
            self._stop.clear()
            if finished:
                for conn in self.connections.values():
                    conn.normalize()

    # --------------------------------------------------------------- checks
    def _checked_inputs(self, inputs, steps: int, what: str) -> Dict[str, torch.Tensor]:
        """Validate and view inputs as ``[T, B, *shape]`` (no copy, never modified)."""
        if inputs is None:
            return {}
        if not isinstance(inputs, Mapping):
            raise TypeError(f"{what} must be a dict of layer name -> tensor, got {describe(inputs)}")
        out = {}
        batch = None
        device = self._device()
        for name, value in inputs.items():
            if name not in self.layers:
                raise ValueError(f"{what}: no layer named {name!r} in the network (layers: {self._names(self.layers)})")
            if isinstance(value, np.ndarray):
                value = torch.from_numpy(value)
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{what}[{name!r}] must be a tensor, got {describe(value)}")
            if value.dtype not in _OK_INPUT_DTYPES:
                raise TypeError(f"{what}[{name!r}] has dtype {value.dtype}; expected bool, integer or real floating point")
            shape = self.layers[name].shape
            n = self.layers[name].n
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
                raise ValueError(
                    f"{what}[{name!r}] has {v.shape[0]} time steps, but the run has {steps} steps"
                )
            if v.shape[1] < 1:
                raise ValueError(f"{what}[{name!r}] has batch size 0; expected at least 1")
            if batch is not None and v.shape[1] != batch[1]:
                raise ValueError(
                    f"{what}: batch sizes differ: {batch[0]!r} has {batch[1]}, {name!r} has {v.shape[1]}"
                )
            batch = (name, v.shape[1])
            if device is not None and v.device != device:
                raise ValueError(f"{what}[{name!r}] is on {v.device}, the network on {device}; move it with .to({str(device)!r})")
            if not all_finite(v[:steps]):
                raise ValueError(f"{what}[{name!r}] contains NaN or inf values; expected finite numbers")
            out[name] = v[:steps]
        return out

    def _batch_of(self, inputs: Dict[str, torch.Tensor]) -> int:
        for v in inputs.values():
            return int(v.shape[1])
        return self.batch_size

    def _per_step(self, what: str, name: str, value, steps: int, batch: int, dtype) -> tuple:
        """A layer mask/injection: returns (tensor, per_step) shaped to broadcast with [B, *shape]."""
        if name not in self.layers:
            raise ValueError(f"{what}: no layer named {name!r} in the network (layers: {self._names(self.layers)})")
        layer = self.layers[name]
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if isinstance(value, (int, float)) and what == "injects_v":
            value = torch.tensor(float(value))
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{what}[{name!r}] must be a tensor, got {describe(value)}")
        if dtype == torch.bool and value.is_floating_point():
            raise TypeError(f"{what}[{name!r}] must be a bool mask, got dtype {value.dtype}")
        shape, n, nd = layer.shape, layer.n, len(layer.shape)
        device = layer.s.device
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

    def _checked_masks(self, masks, what: str, steps: int, batch: int):
        if masks is None:
            return {}
        if not isinstance(masks, Mapping):
            raise TypeError(f"{what} must be a dict of layer name -> bool mask, got {describe(masks)}")
        return {name: self._per_step(what, name, m, steps, batch, torch.bool) for name, m in masks.items()}

    def _checked_injects(self, injects, steps: int, batch: int):
        if injects is None:
            return {}
        if not isinstance(injects, Mapping):
            raise TypeError(f"injects_v must be a dict of layer name -> voltage tensor, got {describe(injects)}")
        out = {}
        for name, value in injects.items():
            t, per_step = self._per_step("injects_v", name, value, steps, batch, torch.float32)
            if not torch.isfinite(t).all():
                raise ValueError(f"injects_v[{name!r}] contains NaN or inf values; expected finite numbers")
            if not hasattr(self.layers[name], "v"):
                raise ValueError(f"injects_v: layer {name!r} ({type(self.layers[name]).__name__}) has no voltage v")
            out[name] = (t, per_step)
        return out

    def _checked_weight_masks(self, masks):
        if masks is None:
            return {}
        if not isinstance(masks, Mapping):
            raise TypeError(f"masks must be a dict of (source, target) -> bool mask, got {describe(masks)}")
        out = {}
        for key, m in masks.items():
            key = tuple(key) if isinstance(key, (list, tuple)) else key
            if key not in self.connections:
                raise ValueError(f"masks: no connection {key!r} in the network (connections: {self._names(self.connections)})")
            conn = self.connections[key]
            if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
                raise TypeError(f"masks[{key!r}] must be a bool tensor, got {describe(m)}")
            expected = (conn.source.n, conn.target.n)
            if tuple(m.shape) != expected:
                raise ValueError(f"masks[{key!r}] has shape {tuple(m.shape)}, expected {expected}")
            out[key] = m.to(conn.weights().device)
        return out

    def _checked_reward(self, reward, batch: int):
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

    # -------------------------------------------------------------- planning
    def _checked_weights(self) -> None:
        """Weights may be set between runs (conn.w[...] = x): refuse NaN/inf before simulating."""
        for (src, tgt), conn in self.connections.items():
            w = conn.weights()
            # Only weights changed since the last check (tensor versions count in-place writes).
            stamp = (w.data_ptr(), w._version)
            if getattr(conn, "_checked_stamp", None) == stamp:
                continue
            with _one_thread():
                finite = all_finite(w)
            if not finite:
                raise ValueError(
                    f"connection {src!r}->{tgt!r} has NaN or inf weights; expected finite numbers"
                )
            conn._checked_stamp = stamp

    def _plan(self, inputs, steps, batch, one_step, clamps, unclamps, injects, masks):
        names = list(self.layers)
        incoming = {name: [] for name in names}
        for (src, tgt), conn in self.connections.items():
            incoming[tgt].append((src, conn))
        steppers = []
        for i, name in enumerate(names):
            st = _Stepper(name=name, layer=self.layers[name], index=i, conns=[], pre_conns=[])
            st.clamp = clamps.get(name)
            st.unclamp = unclamps.get(name)
            st.inject = injects.get(name)
            for src, conn in incoming[name]:
                fixed_input = (
                    isinstance(self.layers[src], Input)
                    and src in inputs
                    and not incoming[src]
                    and src not in clamps
                    and src not in unclamps
                    and (src, name) not in masks
                )
                (st.pre_conns if fixed_input else st.conns).append((src, conn))
            steppers.append(st)
        updates = [(key, conn, masks.get(key)) for key, conn in self.connections.items()]
        return {"steppers": steppers, "updates": updates, "one_step": one_step, "order": {n: i for i, n in enumerate(names)}}

    # ------------------------------------------------------------ simulating
    def _simulate(self, plan, ext, start: int, stop: int, reward) -> None:
        """Simulate steps [start, stop) of the run; ``ext`` holds rows from ``start``."""
        device = self._device()
        if device is None or device.type != "cpu" or torch.get_num_threads() == 1:
            return self._simulate_blocks(plan, ext, start, stop, reward)
        # One intra-op thread on the CPU: a step's tensors are small, and thread
        # hand-offs cost more than they save (6x slower on a busy 2-core
        # machine). Only large block products get the caller's threads back.
        self._user_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._simulate_blocks(plan, ext, start, stop, reward)
        finally:
            torch.set_num_threads(self._user_threads)
            self._user_threads = None

    def _simulate_blocks(self, plan, ext, start: int, stop: int, reward) -> None:
        learning = self.learning
        steppers = plan["steppers"]
        one_step = plan["one_step"]
        updates = [
            (conn, mask, learning and conn.update_rule.changes_weights())
            for _, conn, mask in plan["updates"]
        ]
        updates = [u for u in updates if u[1] is not None or u[2]]
        # Connections from Input layers whose weights may change this chunk go step by step.
        changing = {id(conn) for conn, _, learn in updates if learn}
        for st in steppers:
            st.step_conns = st.conns + [(s, c) for s, c in st.pre_conns if id(c) in changing]
            st.block_conns = [(s, c) for s, c in st.pre_conns if id(c) not in changing]
        monitors = list(self.monitors.values())
        batch = self.batch_size
        fixed_targets = {st.name for st in steppers if st.block_conns}
        runner = self._graph_runner(plan, updates)
        fused_runner = self._fused_runner(plan, updates) if runner is None else None
        block = graphs.BLOCK if runner is not None else BLOCK_STEPS
        for b0 in range(start, stop, block):
            b1 = min(stop, b0 + block)
            ext_block = {}
            for st in steppers:
                v = ext.get(st.name)
                if v is not None:
                    v = v[b0 - start : b1 - start]
                    if isinstance(st.layer, Input) and not st.step_conns and st.name not in fixed_targets:
                        v = v != 0  # an Input's spikes for the whole block, in one op
                    elif not v.is_floating_point() or v.dtype != torch.float32:
                        v = v.to(torch.float32)
                ext_block[st.name] = v
            if runner is not None and runner.run_block(plan, ext_block, b1 - b0):
                continue
            if fused_runner is not None:
                fused_runner.run_block(plan, ext_block, b1 - b0)
                continue
            fixed = self._fixed_inputs(plan, ext, start, b0, b1)
            self._steps(steppers, updates, monitors, ext_block, fixed, b0, b1, batch, one_step, reward)

    def _fused_runner(self, plan, updates):
        """The compiled CPU block loop for this run (snnlab.network.fused), or None."""
        device = self._device()
        if not self.cpu_kernels or device is None or device.type != "cpu":
            return None
        if not fused.eligible(self, plan, updates):
            return None
        runner = getattr(self, "_fused", None)
        if runner is None:
            runner = self._fused = fused.FusedRunner(self)
        return runner

    def _graph_runner(self, plan, updates):
        """The CUDA-graph block runner for this run, or None for the eager path."""
        mode = self.cuda_graphs
        device = self._device()
        if mode is False or device is None or (mode == "auto" and device.type != "cuda"):
            return None
        if not graphs.eligible(self, plan, updates):
            return None
        runner = getattr(self, "_runner", None)
        if runner is None:
            runner = self._runner = graphs.GraphRunner(self, capture=mode != "emulate")
        return None if runner.failed else runner

    def _steps(self, steppers, updates, monitors, ext_block, fixed, b0, b1, batch, one_step, reward) -> None:
        """The step loop over [b0, b1): see the module docstring for the order."""
        for t in range(b0, b1):
            j = t - b0
            if not one_step:
                drives = [self._drive(st, ext_block, fixed, j, batch) for st in steppers]
            for i, st in enumerate(steppers):
                x = drives[i] if not one_step else self._drive(st, ext_block, fixed, j, batch)
                layer = st.layer
                if st.inject is not None:
                    inj, per_step = st.inject
                    layer.v.add_(inj[t] if per_step else inj)
                clamp = unclamp = None
                if st.clamp is not None:
                    clamp = st.clamp[0][t] if st.clamp[1] else st.clamp[0]
                if st.unclamp is not None:
                    unclamp = st.unclamp[0][t] if st.unclamp[1] else st.unclamp[0]
                layer.forward(x, clamp, unclamp)
            for conn, mask, learn in updates:
                conn.update(learning=learn, mask=mask, reward=reward)
            for m in monitors:
                m.record()

    def _drive(self, st: _Stepper, ext_block, fixed, j: int, batch: int, propagate=None) -> Optional[torch.Tensor]:
        """Total input of one layer for one step (None when there is none).

        ``propagate(conn)`` replaces ``conn.compute(conn.source.s)`` (the graph path's kernels).
        """
        x = None
        for _, conn in st.step_conns:
            c = conn.compute(conn.source.s) if propagate is None else propagate(conn)
            if c is not None:
                x = c if x is None else x + c
        f = fixed.get(st.name)
        if f is not None:
            x = f[j] if x is None else x + f[j]
        if x is not None and len(st.layer.shape) > 1:
            x = x.view(batch, *st.layer.shape)
        e = ext_block.get(st.name)
        if e is not None:
            x = e[j] if x is None else x + e[j]
        return x

    def _block_product(self, conn, spikes: torch.Tensor) -> torch.Tensor:
        """``conn.compute_many(spikes)``, with the caller's threads when it is large."""
        threads = getattr(self, "_user_threads", None)
        work = spikes.shape[0] * spikes.shape[1] * conn.source.n * conn.target.n
        if not threads or threads == 1 or work < 50_000_000:
            return conn.compute_many(spikes)
        torch.set_num_threads(threads)
        try:
            return conn.compute_many(spikes)
        finally:
            torch.set_num_threads(1)

    def _fixed_inputs(self, plan, ext, start, b0, b1) -> Dict[str, torch.Tensor]:
        """Input from Input layers for steps [b0, b1), one product per connection."""
        one_step = plan["one_step"]
        order = plan["order"]
        out = {}
        for st in plan["steppers"]:
            total = None
            for src, conn in st.block_conns:
                spikes = ext[src][b0 - start : b1 - start] != 0
                if not one_step or order[src] > st.index:
                    # step t sees the source's spikes of step t - 1
                    prev = conn.source.s.unsqueeze(0)
                    spikes = torch.cat([prev, spikes[:-1]]) if b1 - b0 > 1 else prev
                c = self._block_product(conn, spikes)
                total = c if total is None else total + c
            if total is not None:
                out[st.name] = total
        return out


class _one_thread:
    """Run a block on one intra-op thread (see Network._simulate for why)."""

    def __enter__(self):
        self.threads = torch.get_num_threads()
        if self.threads > 1:
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        if self.threads > 1:
            torch.set_num_threads(self.threads)


def _print_progress(chunk: Chunk, elapsed: float) -> None:
    frac = chunk.stop / chunk.n_steps
    bar = "#" * int(30 * frac)
    sys.stderr.write(
        f"\r[{bar:<30}] {100 * frac:5.1f}%  {chunk.t:.1f}/{chunk.n_steps * chunk.dt:.1f} ms  {elapsed:.1f} s"
    )
    sys.stderr.flush()
