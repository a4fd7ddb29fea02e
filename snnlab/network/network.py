"""The Network: layers, connections and monitors (the structure).

How a run executes lives in :mod:`snnlab.engine`: argument checks
(``engine.validate``), the immutable plan of each chunk (``engine.plan``)
and the back-ends that simulate blocks of steps (``engine.backends``: eager
torch, a compiled CPU loop, GPU kernels). The order of one step is in
docs/semantics.md and :mod:`snnlab.engine.backends.eager`.
"""

from __future__ import annotations

import os
import sys
import threading
import time as _time
import warnings
from typing import Callable, Dict, Iterator, Mapping, Optional, Union

import torch

from ..dynamics import Param, register
from ..engine import run as _engine
from ..engine.run import Chunk
from . import persistence
from ..dynamics.checks import check_device, check_positive_int, check_real, describe, steps_from_time
from ..engine.monitors import AbstractMonitor, NetworkMonitor
from ..dynamics.nodes import Nodes
from ..dynamics.topology import AbstractConnection

__all__ = ["Network", "Chunk"]


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

    #: what persistence saves of the network itself (layers and connections have their own records)
    params = (
        Param("dt", 1.0, "ms", low=0.0, low_open=True, doc="time step"),
        Param("batch_size", 1, kind=int, low=1, doc="samples simulated in parallel"),
        Param("learning", True, kind=bool, doc="learning rules and adaptive thresholds are on"),
    )

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
        self.stop_flag = threading.Event()
        #: The name of the back-end that ran the last block of the last run
        #: ("eager", "cpu", "cuda-graphs", ...; see snnlab.engine).
        self.last_backend: Optional[str] = None
        #: "auto": replay blocks of steps from CUDA graphs on a GPU where a run
        #: allows it (snnlab.engine.backends.gpu); False: never. ("emulate" runs
        #: the graph path's code without capture, on any device, for tests.)
        #: On a CPU, run blocks of steps in one compiled loop
        #: (snnlab.engine.backends.cpu; needs numba, SNNLAB_NUMBA=0 turns it off).
        self.cpu_kernels: bool = True
        #: The environment variable SNNLAB_CUDA_GRAPHS=0 turns the default off.
        self.cuda_graphs: Union[str, bool] = "auto" if os.environ.get("SNNLAB_CUDA_GRAPHS", "1") != "0" else False

    # ------------------------------------------------------------ copying
    #: per-process helpers, not part of a network's value: re-made after a copy
    _TRANSIENT = ("stop_flag",)

    def __getstate__(self):
        # copy.deepcopy and pickle: leave out the stop flag (a lock) and compiled runners.
        state = dict(self.__dict__)
        for key in self._TRANSIENT:
            state.pop(key, None)
        return state

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self.stop_flag = threading.Event()

    # ------------------------------------------------------------ structure
    @property
    def dt(self) -> float:
        """Time step (ms). Changing it takes effect from the next run on."""
        return self._dt

    @dt.setter
    def dt(self, value: float) -> None:
        self._dt = check_real("dt", value, positive=True, allow_tensor=False)

    @property
    def device(self) -> Optional[torch.device]:
        """Where the layers live (None for a network without layers)."""
        for layer in self.layers.values():
            return layer.device
        return None

    def add_layer(self, layer: Nodes, name: str) -> None:
        """Add a layer under ``name`` (layers update in the order added)."""
        self._check_new_name(name, self.layers, "layer")
        if not isinstance(layer, Nodes):
            raise TypeError(f"layer {name!r} must be a layer (an snnlab Nodes object), got {describe(layer)}")
        for other, existing in self.layers.items():
            if existing is layer:
                raise ValueError(f"this layer is already in the network as {other!r}; a layer can be added once")
        device = self.device
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
        # (names of layers and monitors: non-empty, no '.', unique)
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

    def set_batch_size(self, batch_size: int) -> None:
        """Re-make every layer's state (reset) and every monitor for a new batch size."""
        self.batch_size = check_positive_int("batch_size", batch_size)
        for layer in self.layers.values():
            layer.set_batch_size(batch_size)
        for conn in self.connections.values():
            conn.reset_state_variables()
        for monitor in self.monitors.values():
            monitor.reset_state_variables()

    def save(self, path) -> None:
        """Save structure, weights and state to ``path`` in a safe format
        (no pickled objects); read it back with :func:`snnlab.network.load`."""
        persistence.save(self, path)

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
        self.stop_flag.set()

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
        input_time_dim: int = 0,
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
            every step's learning: ``[source.n, target.n]``, or the weights' own
            shape for a connection with shared weights (convolution, local Nd).
        reward : float or Tensor, optional
            Passed to reward-modulated rules (``[B]`` for one per sample).
        progress_bar : bool
            Print progress to stderr.
        callback : callable, optional
            Called with a :class:`Chunk` every ``callback_steps`` steps (and at
            the end); :meth:`request_stop` stops the run between chunks.
        input_time_dim : int
            Accepted for BindsNET's scripts, which pass it; BindsNET 0.3.4 ignores
            it and so does snnlab (time is always the first dimension). A value
            other than 0 gives a warning saying so.
        """
        if input_time_dim != 0:
            if isinstance(input_time_dim, bool) or not isinstance(input_time_dim, int):
                raise TypeError(f"input_time_dim must be an int, got {describe(input_time_dim)}")
            warnings.warn(
                f"run(input_time_dim={input_time_dim}) is ignored, as in BindsNET 0.3.4: inputs are read "
                "as [time, batch, *shape] (time first)", UserWarning, stacklevel=2)
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
        return _engine.run_chunks(
            self, inputs, time, one_step, chunk_steps=chunk_steps, clamp=clamp, unclamp=unclamp,
            injects_v=injects_v, masks=masks, reward=reward, records=records,
        )


def _print_progress(chunk: Chunk, elapsed: float) -> None:
    frac = chunk.stop / chunk.n_steps
    bar = "#" * int(30 * frac)
    sys.stderr.write(
        f"\r[{bar:<30}] {100 * frac:5.1f}%  {chunk.t:.1f}/{chunk.n_steps * chunk.dt:.1f} ms  {elapsed:.1f} s"
    )
    sys.stderr.flush()


register(Network)

# BindsNET's path: `from bindsnet.network.network import load`.
load = persistence.load
