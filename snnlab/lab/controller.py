"""Runs an experiment's network in chunks: pause, resume, stop, reset, live parameters.

No widget imports: the app (``snnlab.lab.app``) hands in callbacks, and this
module is tested in plain pytest. ``run_config(config)`` / ``run_experiment``
are the same loop with no UI, for the CLI and the benchmarks.

Why a worker thread
-------------------
The run goes in a ``threading.Thread`` that steps ``Network.run_chunks`` and,
between chunks, applies live parameters, honours Pause/Stop and (throttled)
calls the frame callback that redraws the views. asyncio chunks on the
kernel's loop would make Stop wait for every chunk and redraw; kernel
subshells need front-ends that route comm messages to them (not Voila). The
thread leaves the kernel's main thread free, so a Stop or Pause click is
handled at once and takes effect at the next chunk boundary (chunks are
sized to ~15 ms). Widgets are updated from this thread (ipykernel >= 7.1).

Memory stays flat however long a run goes: what a run recorded lives in
ring buffers (``RunBuffers``) of a fixed number of steps, written twice so
that the last ``capacity`` steps are always one contiguous slice. The
``Recording`` is a view of those slices, so Stop copies nothing. Recording
the whole run to disk is optional (``snnlab.lab.store``).
"""

from __future__ import annotations

import atexit
import math
import threading
import weakref
import time as _time
import traceback
from typing import Callable, Dict, Optional

import numpy as np
import torch

from snnlab.lab.experiment import (
    MAX_ABS_VALUE, Experiment, NetworkExperiment, Parameter, RateSource, connection_key, learning_rule,
    make_source, network_parameters, set_learning,
)

__all__ = ["Controller", "RunBuffers", "run_config", "run_experiment", "choose_chunk_steps"]

#: States of a controller.
IDLE, BUILDING, RUNNING, PAUSED, STOPPING, DONE, STOPPED, ERROR = (
    "idle", "building", "running", "paused", "stopping", "done", "stopped", "error",
)
ACTIVE_STATES = (BUILDING, RUNNING, PAUSED, STOPPING)

#: Torch threads of the worker: one. The kernel, the comm traffic and the
#: browser share the cores, and OpenMP's spin-waiting threads collapse when
#: oversubscribed (the seed's run ran 3-8x faster with 1 on a busy 2-core
#: machine). Set per thread, so the user's own torch settings are untouched.
WORKER_TORCH_THREADS = 1

#: Memory the ring buffers of one run may take (bytes).
BUFFER_BYTES = 256 * 1024**2

#: Most neurons traced in one layer.
MAX_TRACED = 20

#: Rows a lab monitor keeps: more than the largest chunk.
_MONITOR_ROWS = 512
_MAX_CHUNK = 200


def choose_chunk_steps(n_neurons: int, n_weights: int, step_cost_s: Optional[float] = None,
                       target_s: float = 0.010, n_steps: Optional[int] = None) -> int:
    """Steps per chunk so that one chunk takes about ``target_s`` seconds.

    Stop and Pause act between chunks, so a chunk must stay short (100 ms at
    most, on a busy machine several times the target), but each chunk also
    costs ~1 ms of overhead. ``step_cost_s`` is a
    measured wall time per step; without one, a cost model fitted to the
    engine on one thread: 0.1 ms + 50 ns per neuron + 0.01 ns per weight.
    """
    if step_cost_s is None:
        step_cost_s = 1e-4 + 5e-8 * n_neurons + 1e-11 * n_weights
    steps = int(target_s / max(step_cost_s, 1e-7))
    steps = min(max(steps, 1), _MAX_CHUNK)
    return int(steps if n_steps is None else min(steps, max(n_steps, 1)))


class RunBuffers:
    """The last ``capacity`` steps of every layer's spikes, traced voltages and spike counts.

    Each array has ``2 * capacity`` rows (or ``capacity`` when the run is known
    to fit): row ``i`` of the run is written at ``i % capacity`` and
    ``i % capacity + capacity``, so the last ``capacity`` rows are always one
    contiguous slice, and :meth:`recording` is a view, never a copy.

    Attributes
    ----------
    steps_done : int
        Steps written (the run's steps so far).
    """

    def __init__(self, layers: Dict[str, tuple], traced: Dict[str, list], capacity: int, ring: bool) -> None:
        self.capacity = int(capacity)
        self.ring = bool(ring)
        rows = 2 * self.capacity if ring else self.capacity
        self.shapes = {name: tuple(shape) for name, shape in layers.items()}
        self.traced = {name: np.asarray(traced.get(name, []), dtype=np.int64) for name in layers}
        # Written through now: the memory is resident from the start, not as the ring fills.
        self.spikes = {name: np.full((rows, math.prod(shape)), False) for name, shape in layers.items()}
        self.voltages = {name: np.zeros((rows, len(t)), dtype=np.float32)
                         for name, t in self.traced.items() if len(t)}
        self.counts = {name: np.zeros(rows, dtype=np.int32) for name in layers}
        self.steps_done = 0

    @staticmethod
    def bytes_per_step(layers: Dict[str, tuple], traced: Dict[str, list]) -> int:
        return sum(math.prod(s) + 4 for s in layers.values()) + 4 * sum(len(t) for t in traced.values())

    def write(self, name: str, start: int, spikes: np.ndarray, voltages: Optional[np.ndarray]) -> None:
        """Rows of steps ``[start, start + len(spikes))`` of layer ``name``."""
        k = spikes.shape[0]
        if k == 0:
            return
        if k > self.capacity:  # only the last capacity rows can be kept
            spikes, start = spikes[-self.capacity:], start + k - self.capacity
            voltages = None if voltages is None else voltages[-self.capacity:]
            k = self.capacity
        pos = np.arange(start, start + k) % self.capacity
        counts = spikes.sum(axis=1, dtype=np.int32)
        targets = (pos, pos + self.capacity) if self.ring else (pos,)
        for p in targets:
            self.spikes[name][p] = spikes
            self.counts[name][p] = counts
            if voltages is not None and name in self.voltages:
                self.voltages[name][p] = voltages

    def first_kept(self) -> int:
        """First step still held."""
        return max(0, self.steps_done - self.capacity)

    def _slice(self, a: int, b: int) -> slice:
        """Positions of steps ``[a, b)`` (all held) as one slice."""
        if b - a <= 0:
            return slice(0, 0)
        p = a % self.capacity if self.ring else a
        return slice(p, p + (b - a))

    def rows(self, kind: str, name: str, a: int, b: Optional[int] = None) -> np.ndarray:
        """A view of ``kind`` ("spikes", "voltages", "counts") of layer ``name`` for steps ``[a, b)``.

        ``a`` is raised to the first step still held.
        """
        b = self.steps_done if b is None else min(b, self.steps_done)
        a = max(a, self.first_kept())
        return getattr(self, kind)[name][self._slice(a, b)]


def _layer_model(layer) -> str:
    return type(layer).__name__


class _Run:
    """What one run holds: the network, its sources, buffers and live state."""

    def __init__(self, network, sources, buffers, n_steps, traced):
        self.network = network
        self.sources = sources
        self.buffers = buffers
        self.n_steps = n_steps  # None: until Stop
        self.traced = traced
        self.wall_start = 0.0
        self.wall_time = 0.0
        self.frames = 0
        self.frame_time = 0.0
        self.chunks = 0
        self.chunk_steps = 0  # steps per chunk now
        self.changes: list = []
        self.monitor_names: Dict[str, str] = {}

    @property
    def steps_done(self) -> int:
        return self.buffers.steps_done

    @property
    def dt(self) -> float:
        return float(self.network.dt)

    @property
    def t(self) -> float:
        """Simulated time so far, ms."""
        return self.steps_done * self.dt


_LIVE_CONTROLLERS: "weakref.WeakSet" = None  # set below


def _stop_all_at_exit() -> None:
    # A run thread still inside torch when the interpreter exits aborts the
    # process ("terminate called without an active exception"): stop them first.
    for ctl in list(_LIVE_CONTROLLERS or ()):
        ctl.stop(wait=2.0)


_WARM = threading.Event()
_WARM_LOCK = threading.Lock()


def warm_up_engine(wait: bool = False) -> None:
    """Load the engine's compiled loop once per process, in the background.

    The first chunk of the first run in a process would otherwise load it
    (about 2 s on a busy machine), and Stop cannot act inside a chunk.
    """
    def work():
        with _WARM_LOCK:
            if _WARM.is_set():
                return
            try:
                from snnlab.engine.warmup import warm_up

                warm_up()
            except Exception:  # only a speed-up: the eager path is always there
                pass
            _WARM.set()

    if _WARM.is_set():
        return
    if wait:
        work()
    else:
        threading.Thread(target=work, name="snnlab-warm-up", daemon=True).start()


_LIVE_CONTROLLERS = weakref.WeakSet()
atexit.register(_stop_all_at_exit)


class Controller:
    """Runs one experiment at a time in a worker thread.

    Parameters
    ----------
    experiment : Experiment or LabConfig, optional
        What to run (a ``LabConfig`` is the seed experiment with that config;
        default: the seed's network).
    on_frame : callable(run, final: bool), optional
        Called from the worker thread between chunks, at most every
        ``frame_interval`` seconds and at most half the time, and once at the
        end (``final=True``). An exception in it ends the run with a message.
    on_state : callable(state: str, message: str), optional
        Called on every change of state.
    frame_interval : float
        Least time between two frames, seconds.
    chunk_steps : int, optional
        Steps per chunk; default from ``choose_chunk_steps`` and the measured cost.
    torch_threads : int, optional
        Torch threads of the worker thread; ``None`` keeps torch's default.
    window_steps : int, optional
        Steps the recording keeps (a sliding window for long runs); default:
        as many as ``BUFFER_BYTES`` allow (a bounded run that fits is kept whole).
    record_to : str or Path, optional
        A folder (``.zarr``) that receives the whole run, chunk by chunk
        (``snnlab.lab.store``).
    """

    def __init__(self, experiment=None, *, on_frame=None, on_state=None, frame_interval: float = 1 / 25,
                 chunk_steps: Optional[int] = None, torch_threads: Optional[int] = WORKER_TORCH_THREADS,
                 window_steps: Optional[int] = None, record_to=None) -> None:
        self.experiment = _as_experiment(experiment)
        self.on_frame = on_frame
        self.on_state = on_state
        self.frame_interval = float(frame_interval)
        self.chunk_steps = chunk_steps
        self.torch_threads = torch_threads
        self.window_steps = window_steps
        self.record_to = record_to
        self.state = IDLE
        self.message = ""
        self.runs = 0
        self.data: Optional[_Run] = None
        self.network = None  # the network of the last run
        self._completed = False
        self._lock = threading.RLock()
        # State changes come from the UI (Stop) and the run's thread: one at a time, so
        # on_state sees them in the order they happened.
        self._state_lock = threading.RLock()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._pending: Dict[str, object] = {}  # live values waiting for the next chunk
        self._values: Dict[str, object] = {}  # values set by the user, by path
        self._scales: "dict" = {}
        self._learning: "dict" = {}
        self._params_cache: Optional[Dict[str, Parameter]] = None
        self._preview = None
        self._store_writer = None
        self._traced: Dict[str, list] = {}  # the user's choice of traced neurons, by layer
        _LIVE_CONTROLLERS.add(self)
        warm_up_engine()

    # -- state -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a run is in progress (building, running, paused or stopping)."""
        t = self._thread
        return t is not None and t.is_alive()

    @property
    def config(self):
        """The seed experiment's ``LabConfig`` (other experiments: None)."""
        return getattr(self.experiment, "config", None)

    def _set_state(self, state: str, message: str = "") -> None:
        with self._state_lock:
            if self.state == STOPPING and state in (RUNNING, PAUSED):
                return  # Stop was pressed: the run stays "stopping" until it ends
            self.state = state
            self.message = message
            if self.on_state is not None:
                self.on_state(state, message)

    # -- parameters ----------------------------------------------------------------

    def parameters(self) -> Dict[str, Parameter]:
        """Every parameter, by path: the experiment's settings, then the network's."""
        out = {p.path: p for p in self.experiment.settings()}
        net = self.network if self.network is not None else self.preview_network()
        if net is not None and getattr(self.experiment, "network_controls", True):
            sources = self._sources_for(net) if self.data is None or self.data.network is not net else self.data.sources
            for p in network_parameters(net, sources, self._scales, self._learning):
                value = self._values.get(p.path, p.value)
                out.setdefault(p.path, _with_value(p, value))
        return out

    def preview_network(self):
        """The network the next run would use (built once, again after a change that
        acts at the next run), to list its parameters, size a sweep or draw the
        diagram before any run; None if the experiment cannot build with its
        current settings. Not the running network (that is ``data.network``)."""
        if self._params_cache is None:
            try:
                self._preview = self.experiment.build()
            except (ValueError, TypeError):
                self._preview = None
            self._params_cache = {}
        return self._preview

    def _sources_for(self, net):
        specs = self.experiment.input_specs(net)
        return {name: make_source(name, net.layers[name], spec, net.dt, self.experiment.seed)
                for name, spec in specs.items()}

    def set(self, path: str, value) -> object:
        """Check and set one parameter; returns the value as stored.

        Raises ``ValueError`` (an unknown path, naming the valid ones, or a bad
        value) or ``TypeError`` (a value of the wrong type); nothing changes,
        the last good value stays. A live value
        reaches a running network at the next chunk; the others, the next run.
        """
        return self.update_paths({path: value})[path]

    def update_paths(self, values: Dict[str, object]) -> Dict[str, object]:
        """Set several parameters at once: all checked first, then all applied."""
        with self._lock:
            params = self.parameters()
            checked = {}
            for path, value in values.items():
                if path not in params:
                    raise ValueError(_unknown_parameter(path, list(params)))
                checked[path] = params[path].check(value)
            self._check_representable(checked)
            settings = {p.path for p in self.experiment.settings()}
            for path, value in checked.items():
                if path in settings:
                    self.experiment.set_setting(path, value)
                    if not params[path].live:
                        self._params_cache = None  # the next network may differ
                else:
                    self._values[path] = value
                if self.running and params[path].live:
                    self._pending[path] = value
            return checked

    def _check_representable(self, checked: Dict[str, object]) -> None:
        """Refuse values the engine's float32 state cannot carry (issue 11)."""
        net = self.data.network if self.data is not None else self.preview_network()
        for path, value in checked.items():
            if isinstance(value, float) and abs(value) > MAX_ABS_VALUE:
                raise ValueError(f"{path}: {value:g} is beyond what the simulation can represent; "
                                 f"expected |value| <= {MAX_ABS_VALUE:g}")
            if path.endswith(".weight_scale") and net is not None:
                conn = _connection(net, path)
                if conn is not None:
                    w = _weights(conn)
                    peak = float(w.abs().max()) if w.numel() else 0.0
                    old = self._scales.get(conn, 1.0) or 1.0
                    fan_in = conn.source.n
                    if peak / old * value * fan_in > MAX_ABS_VALUE:
                        raise ValueError(
                            f"{path}: {value:g} would make inputs of up to {peak / old * value * fan_in:.3g} mV "
                            f"per step, beyond what the simulation can represent; expected a scale <= "
                            f"{MAX_ABS_VALUE / max(peak / old * fan_in, 1e-30):.3g}")

    def set_experiment(self, experiment, values: Optional[Dict[str, object]] = None) -> None:
        """Stop any run and switch to ``experiment`` with parameter ``values`` (path -> value).

        A bad value raises and the previous experiment stays.
        """
        exp = _as_experiment(experiment)
        self.stop(wait=10.0)
        saved = (self.experiment, self.network, self._values, self._preview, self._params_cache,
                 self._scales, self._learning, self._traced, self.data)
        self.experiment, self.network, self._values = exp, None, {}
        self._preview, self._params_cache, self._scales, self._learning, self._traced = None, None, {}, {}, {}
        self.data = None
        try:
            if values:
                self.update_paths(dict(values))
        except (ValueError, TypeError, KeyError):
            (self.experiment, self.network, self._values, self._preview, self._params_cache,
             self._scales, self._learning, self._traced, self.data) = saved
            raise
        self._set_state(IDLE, "")

    def traced_for(self, layer: str) -> list:
        """Neurons of ``layer`` whose voltage the next run records."""
        if layer in self._traced:
            return list(self._traced[layer])
        net = self.network if self.network is not None else self.preview_network()
        return list(self.experiment.traced(net).get(layer, [])) if net is not None else []

    def set_traced(self, layer: str, neurons) -> None:
        """Record the voltage of ``neurons`` (flat indices) of ``layer`` from the next run on."""
        net = self.network if self.network is not None else self.preview_network()
        if net is None or layer not in net.layers:
            raise ValueError(f"traced neurons: no layer {layer!r}")
        n = net.layers[layer].n
        idx = [int(i) for i in neurons]
        if len(idx) > MAX_TRACED:
            raise ValueError(f"traced neurons: {len(idx)} neurons; expected at most {MAX_TRACED}")
        if len(set(idx)) != len(idx):
            raise ValueError(f"traced neurons: {idx} has repeats; expected distinct indices")
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise ValueError(f"traced neurons: {bad[0]} is not in layer {layer!r}; expected 0..{n - 1}")
        self._traced[layer] = idx

    def update(self, **changes):
        """Change settings by name (the seed experiment's ``LabConfig`` fields, or any
        parameter path); returns the new config (seed) or the stored values."""
        with self._lock:
            mapper = getattr(self.experiment, "paths_of_fields", None)
            paths = mapper(changes) if mapper is not None else changes
            self.update_paths(paths)
            return self.config if self.config is not None else paths

    def pending_fields(self) -> list:
        """Settings changed since the run started that wait for the next run."""
        if not self.running:
            return []
        return [p.path for p in self.experiment.settings() if not p.live and
                getattr(self.experiment, "changed_since_build", lambda path: False)(p.path)]

    # -- commands --------------------------------------------------------------------

    def start(self, time: Optional[float] = "default") -> bool:
        """Start a run of ``time`` ms (None: until Stop; default: the experiment's);
        False (nothing happens) if one is going. Bad values raise ``ValueError``."""
        with self._lock:
            if self.running:
                return False
            if time == "default":
                time = self.experiment.time
            if time is not None:
                if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time) or time <= 0:
                    raise ValueError(f"time: {time!r}; expected a finite simulated time > 0 ms, or None (until Stop)")
            self._stop.clear()
            self._resume.set()
            self._pending = {}
            self.data = None  # nothing of the last run shows while this one builds
            self.runs += 1
            self._completed = False
            self._set_state(BUILDING, "")
            self._thread = threading.Thread(target=self._worker, args=(time,), name="snnlab-lab-run", daemon=True)
            self._thread.start()
            return True

    def pause(self) -> None:
        """Pause the run at the next chunk boundary."""
        if self.running and self.state in (BUILDING, RUNNING):
            self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def stop(self, wait: Optional[float] = None) -> None:
        """Stop the run at the next chunk boundary; what was recorded stays (not copied)."""
        if not self.running:
            return
        # "stopping" before the run is told to stop: the run's own end (stopped, done)
        # then always comes after it, never overwritten by it
        with self._state_lock:
            if self.state in (BUILDING, RUNNING, PAUSED):
                self._set_state(STOPPING, "")
        self._stop.set()
        net = self.data.network if self.data is not None else None
        if net is not None:
            net.request_stop()
        self._resume.set()
        if wait is not None:
            self.join(wait)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the run to end; True if it has."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    def reset(self) -> None:
        """Stop any run (waiting for it) and forget the recorded data."""
        self.stop(wait=10.0)
        with self._lock:
            self.data = None
            self._set_state(IDLE, "")

    # -- what was recorded -------------------------------------------------------------

    @property
    def recording(self):
        """The run's ``snnlab.recording.Recording``: views of the kept window (no copy)
        once the run has ended; during a run, a copy of what is recorded so far."""
        run = self.data
        if run is None:
            return None
        return self._recording_of(run, copy=self.running)

    def _recording_of(self, run: _Run, copy: bool):
        from snnlab.recording import LayerRecording, Recording, describe_network

        with self._lock:
            buf = run.buffers
            end = buf.steps_done
            a = buf.first_kept()
            layers = {}
            for name, shape in buf.shapes.items():
                spikes = buf.rows("spikes", name, a, end)
                volts = buf.rows("voltages", name, a, end) if name in buf.voltages else None
                if copy:
                    spikes = spikes.copy()
                    volts = None if volts is None else volts.copy()
                layer = run.network.layers[name]
                thresh = getattr(layer, "thresh", None)
                thresh = float(thresh) if isinstance(thresh, (int, float)) else (
                    float(thresh.reshape(-1)[0]) if isinstance(thresh, torch.Tensor) and thresh.numel() else None)
                layers[name] = LayerRecording(name, shape, _layer_model(layer), spikes, volts,
                                              buf.traced[name] if volts is not None else np.zeros(0, np.int64),
                                              thresh)
            try:
                network = describe_network(run.network)
            except Exception:  # a description is a courtesy; a recording must not fail for it
                network = {}
            return Recording(
                dt=run.dt, layers=layers, start_step=a,
                completed=self._completed and run is self.data and not self.running,
                wall_time=run.wall_time, experiment=self.experiment.to_dict(), network=network,
                changes=list(run.changes),
            )

    # -- the worker -----------------------------------------------------------------------

    def _frame(self, run: _Run, final: bool) -> None:
        t0 = _time.perf_counter()
        if self.on_frame is not None:
            self.on_frame(run, final)
        run.frames += 1
        run.frame_time += _time.perf_counter() - t0

    def _prepare(self, time: Optional[float]) -> _Run:
        from snnlab.network.monitors import Monitor

        exp = self.experiment
        net = exp.build()
        exp.check_network(net)
        if net is not self.network:
            self._scales, self._learning = {}, {}
        self.network = net
        self._params_cache = None
        # The user's monitors are set aside during the run (memory stays flat
        # however long it goes) and keep what they recorded.
        user_monitors = dict(net.monitors)
        for name in list(net.monitors):
            del net.monitors[name]
        net.reset_state_variables()
        sources = self._sources_for(net)
        for s in sources.values():
            s.restart()
        traced = dict(exp.traced(net))
        traced.update(self._traced)
        traced = {name: [i for i in idx if 0 <= i < net.layers[name].n] for name, idx in traced.items()
                  if name in net.layers and isinstance(getattr(net.layers[name], "v", None), torch.Tensor)}
        layers = {name: tuple(layer.shape) for name, layer in net.layers.items()}
        n_steps = None if time is None else _steps(time, net.dt)
        per_step = RunBuffers.bytes_per_step(layers, traced)
        cap = self.window_steps or max(1000, BUFFER_BYTES // (2 * per_step))
        ring = n_steps is None or n_steps > cap
        if not ring:
            cap = n_steps
        buffers = RunBuffers(layers, traced, cap, ring)
        run = _Run(net, sources, buffers, n_steps, traced)
        run.user_monitors = user_monitors  # our own monitors keep a window of a few chunks
        for name, layer in net.layers.items():
            vars_ = ("s", "v") if traced.get(name) else ("s",)
            mname = f"__lab__{name}"
            net.add_monitor(Monitor(layer, vars_, time=_MONITOR_ROWS), name=mname)
            run.monitor_names[name] = mname
        # Values the user set before this run (the network may be new).
        for path, value in self._values.items():
            self._apply(run, path, value, record=False)
        return run

    def _restore_monitors(self, run: _Run) -> None:
        net = run.network
        for mname in run.monitor_names.values():
            net.monitors.pop(mname, None)
        for name, m in getattr(run, "user_monitors", {}).items():
            net.monitors[name] = m

    def _apply(self, run: _Run, path: str, value, record: bool = True) -> None:
        """Put one live value into the running network."""
        net = run.network
        if not self.experiment.apply_setting(run, path, value):
            owner, _, pname = path.rpartition(".")
            if "->" in owner:
                conn = _connection(net, path)
                if conn is None:
                    return
                if pname == "weight_scale":
                    self._scale_weights(conn, float(value))
                elif pname == "learning":
                    set_learning(conn, bool(value))
                    self._learning[conn] = bool(value)
            elif owner in run.sources and pname == "rate":
                run.sources[owner].rate = run.sources[owner].check_rate(value)
            elif owner in run.sources and pname == "current":
                run.sources[owner].amplitude = float(value)
            elif owner in net.layers:
                _set_layer_parameter(net.layers[owner], pname, value, net.dt)
            else:
                return
        if record:
            run.changes.append((run.steps_done, path, value if isinstance(value, (bool, str)) else float(value)))

    def _scale_weights(self, conn, scale: float) -> None:
        old = self._scales.get(conn, 1.0)
        if scale == old:
            return
        w = _weights(conn)
        if old == 0.0:
            saved = getattr(self, "_zeroed", {}).pop(conn, None)
            if saved is not None:
                w.copy_(saved * scale)
        elif scale == 0.0:
            self._zeroed = getattr(self, "_zeroed", {})
            self._zeroed[conn] = w.clone() / old
            w.zero_()
        else:
            w.mul_(scale / old)
        self._scales[conn] = scale

    def _segments(self, run: _Run, started: Callable[[], None]):
        """Yield ``(base, chunk)``; successive ``run_chunks`` calls when the run is
        open-ended or the chunk size needs re-planning.

        The network keeps its state between calls and the input streams
        continue, so the spikes are those of one unbroken run (except that a
        connection with ``norm`` is normalised at the end of each call, so such
        networks are never re-planned; an experiment that normalises at set
        steps says so with ``Experiment.run_steps``, and calls end there).
        """
        net = run.network
        n_neurons = sum(layer.n for layer in net.layers.values())
        n_weights = sum(int(_weights(c).numel()) for c in net.connections.values())
        fixed = self.chunk_steps
        normed = any(getattr(c, "norm", None) is not None for c in net.connections.values())
        # An experiment made of short engine runs (Experiment.run_steps) is run as
        # such runs back to back, each cut into chunks; the engine's end-of-run
        # work (normalising) then falls at the same steps whatever the chunks.
        run_steps = self.experiment.run_steps(net)
        if run_steps is not None and (isinstance(run_steps, bool) or not isinstance(run_steps, int) or run_steps < 1):
            raise ValueError(f"{type(self.experiment).__name__}.run_steps: {run_steps!r}; expected a whole number "
                             "of steps >= 1, or None")
        chunk = fixed or choose_chunk_steps(n_neurons, n_weights, n_steps=run.n_steps)
        if run_steps is not None:
            chunk = min(chunk, run_steps)
        offset = 0
        cost = None
        # An open-ended run is one call as long as any session (each new call
        # checks every weight first, 0.5 s at 10,000 neurons, and Stop waits for it).
        segment_steps = run.n_steps if run.n_steps is not None else 10**9
        first = True
        while run.n_steps is None or offset < run.n_steps:
            base = offset
            steps = segment_steps if run.n_steps is None else run.n_steps - base
            if run_steps is not None:
                steps = min(steps, run_steps - base % run_steps)
            sources = run.sources

            def inputs(a, b, base=base):
                return {name: src(base + a, b - a).unsqueeze(1) for name, src in sources.items()}

            run.chunk_steps = chunk
            t_check = _time.perf_counter()
            gen = net.run_chunks(inputs if sources else None, time=steps * net.dt, chunk_steps=chunk)
            t_check = _time.perf_counter() - t_check  # the engine's checks: Stop waits for them
            if first:
                started()
                first = False
            replan = False
            warm = False
            try:
                while True:
                    t0 = _time.perf_counter()
                    try:
                        c = next(gen)
                    except StopIteration:
                        break
                    elapsed = _time.perf_counter() - t0
                    k = c.stop - c.start
                    offset = base + c.stop
                    yield base, c
                    if self._stop.is_set():
                        return
                    if not warm:  # a segment's first chunk warms up (compiled loops, caches): not a measure
                        warm = True
                        continue
                    cost = elapsed / k if cost is None else 0.5 * cost + 0.5 * elapsed / k
                    left = None if run.n_steps is None else run.n_steps - offset
                    if fixed is None and not normed and (left is None or left > 0):
                        want = choose_chunk_steps(n_neurons, n_weights, step_cost_s=cost)
                        # smaller, for a quick Stop: worth a new call's checks only if a
                        # chunk now takes longer than they do
                        shrink = want * 2 < chunk and (t_check < 0.05 or elapsed > t_check)
                        # larger, for less overhead: only if the new call's checks are quick
                        grow = (want >= 4 * chunk and t_check < 0.03
                                and (left is None or left > 8 * want))
                        if shrink or grow:
                            chunk, replan = want, True
                            break
            finally:
                gen.close()
            if not replan and run.n_steps is not None and run_steps is None:
                return

    def _store(self, run: _Run, base: int, chunk) -> None:
        buf = run.buffers
        start = base + chunk.start
        k = chunk.stop - chunk.start
        for name, mname in run.monitor_names.items():
            rec = chunk.records[mname]
            rows = chunk.record_steps[mname].numpy()
            # Only this chunk's rows (the monitor window holds several chunks).
            take = rows >= chunk.start
            s = rec["s"][take][:, 0].reshape(int(take.sum()), -1).numpy()
            v = None
            if "v" in rec:
                idx = torch.from_numpy(buf.traced[name])
                v = rec["v"][take][:, 0].reshape(int(take.sum()), -1)[:, idx].numpy()
            buf.write(name, start, s, v)
        buf.steps_done = start + k
        if self._store_writer is not None:
            self._store_writer.append(run, start, start + k)
        run.chunks += 1

    def _worker(self, time: Optional[float]) -> None:
        run = None
        segments = None
        self._store_writer = None
        try:
            if self.torch_threads is not None:
                torch.set_num_threads(self.torch_threads)  # this thread only
            run = self._prepare(time)
            with self._lock:
                self.data = run
            if self.record_to is not None:
                from snnlab.lab.store import RunWriter

                self._store_writer = RunWriter(self.record_to, run, self.experiment.to_dict())
            next_frame = 0.0

            def started():
                nonlocal next_frame
                self._set_state(RUNNING, "")
                run.wall_start = _time.perf_counter()
                next_frame = run.wall_start + self.frame_interval

            paused_s = 0.0
            while not _WARM.wait(0.01):  # the compiled loop is loading: Stop still acts
                if self._stop.is_set():
                    raise _Stopped
            if self._stop.is_set():
                raise _Stopped
            segments = self._segments(run, started)
            for base, chunk in segments:
                with self._lock:
                    self._store(run, base, chunk)
                self.experiment.after_chunk(run, base + chunk.start, base + chunk.stop)
                now = _time.perf_counter()
                run.wall_time = now - run.wall_start - paused_s
                if self._stop.is_set():
                    break
                if now >= next_frame and (run.n_steps is None or run.steps_done < run.n_steps):
                    self._frame(run, False)
                    cost = _time.perf_counter() - now
                    # Due times advance by the interval from the last due time (a frame
                    # drawn late at a chunk boundary does not push the next one back),
                    # but drawing takes at most half the time.
                    next_frame = max(next_frame + self.frame_interval, now + 2.0 * cost)
                if self._stop.is_set():
                    break
                if not self._resume.is_set():
                    t0 = _time.perf_counter()
                    self._set_state(PAUSED, f"paused at {run.t:g} ms")
                    self._resume.wait()
                    paused_s += _time.perf_counter() - t0
                    if self._stop.is_set():
                        break
                    self._set_state(RUNNING, "")
                with self._lock:
                    pending, self._pending = self._pending, {}
                for path, value in pending.items():
                    self._apply(run, path, value)
            segments.close()
            self._finish(run, paused_s)
        except _Stopped:
            if run is not None:
                self._restore_monitors(run)
            self._set_state(STOPPED, "stopped before the first step")
        except Exception as ex:  # the run ends with a message, never a dead UI
            if segments is not None:
                segments.close()
            if run is not None:
                self._restore_monitors(run)
            if self._store_writer is not None:
                self._store_writer.close(completed=False)
            detail = "".join(traceback.format_exception_only(type(ex), ex)).strip()
            if run is not None and run.steps_done:
                detail += f" (at {run.t:g} ms; the data up to then is kept)"
            self._set_state(ERROR, f"run failed: {detail}")

    def _finish(self, run: _Run, paused_s: float) -> None:
        run.wall_time = _time.perf_counter() - run.wall_start - paused_s if run.wall_start else 0.0
        self._restore_monitors(run)
        completed = run.n_steps is not None and run.steps_done == run.n_steps
        self._completed = completed
        if self._store_writer is not None:
            self._store_writer.close(completed=completed)
        self._frame(run, True)
        if completed:
            self._set_state(DONE, f"done: {run.t:g} ms in {run.wall_time:.2f} s")
        else:
            total = "" if run.n_steps is None else f" of {run.n_steps * run.dt:g}"
            self._set_state(STOPPED, f"stopped at {run.t:g}{total} ms")


class _Stopped(Exception):
    pass


def _unknown_parameter(path, names: list, most: int = 30) -> str:
    """The message for an unknown parameter path: the closest names, then the valid ones."""
    import difflib

    close = difflib.get_close_matches(str(path), names, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    shown = ", ".join(names[:most]) + (f", ... ({len(names) - most} more)" if len(names) > most else "")
    return f"no parameter {path!r}{hint}; expected one of: {shown}"


def _steps(time: float, dt: float) -> int:
    steps = time / dt
    n = int(round(steps))
    if n < 1 or abs(steps - n) > 1e-9 * max(1.0, steps):
        raise ValueError(f"time: {time:g} ms is not a whole number of steps of dt={dt:g} ms; expected a multiple of dt")
    return n


def _with_value(p: Parameter, value) -> Parameter:
    from dataclasses import replace

    return replace(p, value=value)


def _connection(net, path: str):
    owner = path.rpartition(".")[0]
    src, _, dst = owner.partition("->")
    return net.connections.get((src, dst))


def _weights(conn) -> torch.Tensor:
    from snnlab.network.topology import SparseConnection

    if isinstance(conn, SparseConnection):
        return conn.values if hasattr(conn, "values") else conn.w
    return conn.w


def _set_layer_parameter(layer, name: str, value, dt: float) -> None:
    try:
        from snnlab.dynamics import set_parameters
    except ImportError:
        set_parameters = None
    if set_parameters is not None:
        try:
            set_parameters(layer, **{name: value})
            return
        except (TypeError, AttributeError):
            pass
    setattr(layer, name, float(value))
    layer.compute_decays(dt)


def _as_experiment(experiment) -> Experiment:
    from snnlab.config import LabConfig

    if experiment is None:
        experiment = LabConfig()
    if isinstance(experiment, LabConfig):
        from snnlab.lab.experiments.seed import SeedExperiment

        return SeedExperiment(experiment)
    if isinstance(experiment, Experiment):
        return experiment
    raise TypeError(f"expected an Experiment or a LabConfig, got {type(experiment).__name__}")


def run_experiment(experiment, time: Optional[float] = "default", *, chunk_steps: Optional[int] = None):
    """Run ``experiment`` headless to the end with the lab's loop; return the Recording."""
    ctl = Controller(experiment, chunk_steps=chunk_steps, torch_threads=None, frame_interval=1e9)
    if time is None:
        raise ValueError("run_experiment: time=None runs until Stop; expected a time in ms")
    ctl.start(time)
    ctl.join()
    if ctl.state == ERROR:
        raise RuntimeError(ctl.message)
    return ctl.recording


def run_config(config, *, chunk_steps: Optional[int] = None):
    """Run a ``LabConfig`` (the seed experiment) headless; return the Recording."""
    return run_experiment(config, chunk_steps=chunk_steps)
