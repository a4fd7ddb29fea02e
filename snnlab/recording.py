"""What a run recorded, layer by layer, as plain NumPy arrays.

The lab and the CLI produce a :class:`Recording`; export (figures, ``.npz``,
NWB, Neo), sweeps (metrics) and notebooks read it. It knows no layer's name
in advance: a recording holds whatever layers the network had, in network
order. Units: ms, mV, Hz. NumPy only: reading one needs no torch.

Examples
--------
>>> import numpy as np
>>> from snnlab.recording import LayerRecording, Recording
>>> s = np.zeros((10, 3), bool); s[[2, 5], [0, 1]] = True
>>> rec = Recording(dt=0.5, layers={"L": LayerRecording("L", (3,), "LIFNodes", s)})
>>> rec.steps, rec.duration
(10, 5.0)
>>> rec.spike_times("L")
(array([1. , 2.5]), array([0, 1]))
>>> rec.window(1.0, 3.0).steps
4
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from snnlab._files import mkstemp_beside

__all__ = ["LayerRecording", "Recording", "describe_network", "FORMAT_VERSION"]

#: Version of the ``.npz`` layout written by :meth:`Recording.to_npz`.
FORMAT_VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]

#: zlib level of :meth:`Recording.to_npz` (1: fastest; ``np.savez_compressed`` uses 6).
NPZ_COMPRESSLEVEL = 1


def _savez_fast(file, arrays: dict) -> None:
    """``np.savez_compressed(file, **arrays)`` at zlib level :data:`NPZ_COMPRESSLEVEL`.

    The same zip of ``.npy`` members that ``np.load`` reads; numpy offers no level.
    """
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=NPZ_COMPRESSLEVEL) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


@dataclass
class LayerRecording:
    """One layer's recorded rows.

    Attributes
    ----------
    name : str
        The layer's name in the network.
    shape : tuple of int
        The layer's shape; ``n = prod(shape)`` columns in ``spikes``.
    model : str
        The node class's name, e.g. ``"LIFNodes"``.
    spikes : numpy.ndarray of bool, shape (steps, n)
        Spikes per step; neurons in flat (C) order of ``shape``.
    voltages : numpy.ndarray of float32, shape (steps, k), or None
        Membrane voltage (mV, after reset) of the traced neurons.
    traced : numpy.ndarray of int64, shape (k,)
        Flat indices of the neurons in ``voltages``' columns.
    threshold : float or None
        The layer's base threshold (mV), for plots.
    """

    name: str
    shape: tuple
    model: str
    spikes: np.ndarray
    voltages: Optional[np.ndarray] = None
    traced: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    threshold: Optional[float] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"LayerRecording.name: {self.name!r}; expected a non-empty string")
        try:
            self.shape = tuple(int(d) for d in self.shape)
        except (TypeError, ValueError) as ex:
            raise TypeError(f"layer {self.name!r}: shape {self.shape!r}; expected a sequence of ints") from ex
        n = math.prod(self.shape)
        self.spikes = np.asarray(self.spikes)
        if self.spikes.dtype != bool or self.spikes.ndim != 2 or self.spikes.shape[1] != n:
            raise ValueError(
                f"layer {self.name!r}: spikes of dtype {self.spikes.dtype} and shape {self.spikes.shape}; "
                f"expected bool of shape (steps, {n})"
            )
        self.traced = np.asarray(self.traced, dtype=np.int64).reshape(-1)
        if self.traced.size and (self.traced.min() < 0 or self.traced.max() >= n):
            raise ValueError(f"layer {self.name!r}: traced {self.traced.tolist()}; expected indices in 0..{n - 1}")
        if self.voltages is not None:
            self.voltages = np.asarray(self.voltages, dtype=np.float32)
            want = (self.spikes.shape[0], self.traced.size)
            if self.voltages.shape != want:
                raise ValueError(
                    f"layer {self.name!r}: voltages of shape {self.voltages.shape}; expected {want} "
                    "(steps, traced neurons)"
                )
        elif self.traced.size:
            raise ValueError(f"layer {self.name!r}: traced neurons given without voltages")
        if self.threshold is not None:
            self.threshold = float(self.threshold)

    @property
    def n(self) -> int:
        """Number of neurons."""
        return int(self.spikes.shape[1])


@dataclass
class Recording:
    """What a run recorded: one :class:`LayerRecording` per layer, in network order.

    Row ``i`` of every layer is step ``start_step + i`` of the run, at
    ``(start_step + i) * dt`` ms.

    Attributes
    ----------
    dt : float
        Time step, ms.
    layers : dict of str to LayerRecording
    start_step : int
        Step index of row 0 (non-zero for a window of a longer run).
    completed : bool
        True if the run simulated every step it was asked for.
    wall_time : float
        Seconds the run took.
    experiment : dict
        JSON-serializable description of what ran (a config, or a preset
        with its parameter values).
    network : dict
        JSON-serializable description of the network (:func:`describe_network`).
    changes : list of (int, str, float)
        Live changes: (first step that used it, parameter path, new value).
    weights : dict of str to numpy.ndarray
        Optional weights at the end, by ``"SOURCE->TARGET"``.
    """

    dt: float
    layers: dict
    start_step: int = 0
    completed: bool = False
    wall_time: float = 0.0
    experiment: dict = field(default_factory=dict)
    network: dict = field(default_factory=dict)
    changes: list = field(default_factory=list)
    weights: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        dt = self.dt
        if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating, np.integer)) or not (
            math.isfinite(float(dt)) and float(dt) > 0
        ):
            raise ValueError(f"Recording.dt: {dt!r}; expected a finite number of ms > 0")
        self.dt = float(dt)
        if not isinstance(self.layers, dict) or not all(isinstance(v, LayerRecording) for v in self.layers.values()):
            raise TypeError("Recording.layers: expected a dict of layer name -> LayerRecording")
        for name, layer in self.layers.items():
            if name != layer.name:
                raise ValueError(f"Recording.layers: key {name!r} holds layer {layer.name!r}")
        steps = {layer.spikes.shape[0] for layer in self.layers.values()}
        if len(steps) > 1:
            raise ValueError(f"Recording.layers: layers have different step counts {sorted(steps)}")
        if isinstance(self.start_step, bool) or int(self.start_step) != self.start_step or self.start_step < 0:
            raise ValueError(f"Recording.start_step: {self.start_step!r}; expected an int >= 0")
        self.start_step = int(self.start_step)

    # ------------------------------------------------------------ structure
    @property
    def layer_names(self) -> list:
        """Layer names, in network order."""
        return list(self.layers)

    @property
    def steps(self) -> int:
        """Number of recorded rows (steps)."""
        for layer in self.layers.values():
            return int(layer.spikes.shape[0])
        return 0

    @property
    def duration(self) -> float:
        """Simulated time covered by the rows, ms."""
        return self.steps * self.dt

    @property
    def times(self) -> np.ndarray:
        """Time of each row, ms (float64, ``[steps]``)."""
        return (self.start_step + np.arange(self.steps)) * self.dt

    def _layer(self, layer: str) -> LayerRecording:
        try:
            return self.layers[layer]
        except (KeyError, TypeError):
            raise KeyError(f"no layer {layer!r} in this recording; it has {self.layer_names}") from None

    # ------------------------------------------------------------ data
    def spikes(self, layer: str) -> np.ndarray:
        """Spikes of ``layer``: bool ``[steps, n]``."""
        return self._layer(layer).spikes

    def voltages(self, layer: str) -> Optional[np.ndarray]:
        """Voltages (mV) of ``layer``'s traced neurons: float32 ``[steps, k]``, or None."""
        return self._layer(layer).voltages

    def traced(self, layer: str) -> np.ndarray:
        """Flat indices of ``layer``'s traced neurons."""
        return self._layer(layer).traced

    def spike_times(self, layer: str) -> tuple:
        """``(times_ms, neuron)`` of every spike of ``layer``, in time order."""
        rows, cols = np.nonzero(self._layer(layer).spikes)
        return (self.start_step + rows) * self.dt, cols.astype(np.int64)

    def rate(self, layer: str, bin_ms: Optional[float] = None) -> tuple:
        """Population rate of ``layer`` (Hz per neuron).

        Parameters
        ----------
        bin_ms : float, optional
            Bin width (ms), rounded to whole steps; default one step. The last
            bin may be shorter; its rate is over its own length.

        Returns
        -------
        (bin_start_ms, rate_hz) : two float64 arrays
        """
        spikes = self._layer(layer).spikes
        steps, n = spikes.shape
        b = 1 if bin_ms is None else max(1, int(round(float(bin_ms) / self.dt)))
        counts = spikes.sum(axis=1, dtype=np.int64)
        starts = np.arange(0, steps, b)
        sums = np.add.reduceat(counts, starts) if steps else np.zeros(0, np.int64)
        widths = np.minimum(starts + b, steps) - starts
        rate = sums / (max(n, 1) * widths * self.dt / 1000.0) if steps else np.zeros(0)
        return (self.start_step + starts) * self.dt, rate.astype(np.float64)

    # ------------------------------------------------------------ windows
    def window(
        self,
        t0_ms: Optional[float] = None,
        t1_ms: Optional[float] = None,
        layers: Optional[Iterable[str]] = None,
        neurons: Optional[dict] = None,
    ) -> "Recording":
        """A sub-recording: rows with ``t0_ms <= t < t1_ms``, some layers, some neurons.

        Parameters
        ----------
        t0_ms, t1_ms : float, optional
            Time window (ms) in the run's time; default the whole recording.
        layers : iterable of str, optional
            Layers to keep (default all), in the order given.
        neurons : dict of str to sequence of int, optional
            Per layer, flat indices of the neurons to keep (a kept layer
            becomes 1-D, ``shape == (len(indices),)``); traced neurons outside
            the subset are dropped.
        """
        t = self.times
        lo = 0 if t0_ms is None else int(np.searchsorted(t, float(t0_ms) - 1e-9 * self.dt, side="left"))
        hi = self.steps if t1_ms is None else int(np.searchsorted(t, float(t1_ms) - 1e-9 * self.dt, side="left"))
        if t0_ms is not None and t1_ms is not None and float(t1_ms) <= float(t0_ms):
            raise ValueError(f"window: t1_ms={t1_ms} <= t0_ms={t0_ms}; expected t0_ms < t1_ms")
        names = self.layer_names if layers is None else list(layers)
        for name in names:
            self._layer(name)
        neurons = dict(neurons or {})
        for name in neurons:
            if name not in names:
                raise KeyError(f"window: neurons given for layer {name!r}, which is not kept ({names})")
        out = {}
        for name in names:
            layer = self.layers[name]
            spikes = layer.spikes[lo:hi]
            volts = None if layer.voltages is None else layer.voltages[lo:hi]
            traced = layer.traced
            shape = layer.shape
            if name in neurons:
                keep = np.asarray(neurons[name], dtype=np.int64).reshape(-1)
                if keep.size and (keep.min() < 0 or keep.max() >= layer.n):
                    raise ValueError(f"window: neurons of {name!r} {keep.tolist()}; expected 0..{layer.n - 1}")
                spikes = spikes[:, keep]
                shape = (keep.size,)
                pos = {int(j): i for i, j in enumerate(keep)}
                cols = [c for c, j in enumerate(traced) if int(j) in pos]
                traced = np.asarray([pos[int(traced[c])] for c in cols], dtype=np.int64)
                if volts is not None:
                    volts = volts[:, cols]
            out[name] = replace(layer, shape=shape, spikes=np.ascontiguousarray(spikes),
                                voltages=None if volts is None else np.ascontiguousarray(volts), traced=traced)
        return replace(self, layers=out, start_step=self.start_step + lo,
                       completed=self.completed and lo == 0 and hi == self.steps)

    # ------------------------------------------------------------ files
    def to_npz(self, path: PathLike) -> Path:
        """Write to one compressed ``.npz`` (plain dtypes: ``allow_pickle=False`` reads it).

        Spikes are stored bit-packed (``np.packbits`` along neurons), and the
        file is deflated at zlib level 1 (:data:`NPZ_COMPRESSLEVEL`), which is
        about 4x faster than ``np.savez_compressed``'s level 6 on long runs for
        some 15% more bytes; ``np.load`` reads it like any ``.npz``.

        The file appears whole or not at all: it is written to a temporary
        file in the same folder, then renamed over ``path``.
        """
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"path: {str(path)!r}; expected a file name ending in .npz")
        if path.is_dir():
            raise ValueError(f"path: {str(path)!r} is a directory; expected a file name")
        arrays: dict = {
            "format_version": np.int64(FORMAT_VERSION),
            "dt": np.float64(self.dt),
            "start_step": np.int64(self.start_step),
            "completed": np.bool_(self.completed),
            "wall_time": np.float64(self.wall_time),
            "meta_json": np.asarray(json.dumps({
                "experiment": self.experiment,
                "network": self.network,
                "changes": [[int(s), str(p), float(v)] for s, p, v in self.changes],
                "layers": [
                    {"name": l.name, "shape": list(l.shape), "model": l.model, "threshold": l.threshold,
                     "has_voltages": l.voltages is not None}
                    for l in self.layers.values()
                ],
                "weights": list(self.weights),
            })),
        }
        for i, layer in enumerate(self.layers.values()):
            arrays[f"layer{i}_spikes"] = np.packbits(layer.spikes, axis=1)
            arrays[f"layer{i}_traced"] = layer.traced
            if layer.voltages is not None:
                arrays[f"layer{i}_voltages"] = layer.voltages
        for i, w in enumerate(self.weights.values()):
            arrays[f"weights{i}"] = np.asarray(w, dtype=np.float32)
        fd, tmp = mkstemp_beside(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                _savez_fast(f, arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def from_npz(cls, path: PathLike) -> "Recording":
        """Read a file written by :meth:`to_npz` (never unpickles)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as ex:  # truncated or not a zip
            raise ValueError(f"{str(path)!r} is not a readable .npz recording: {ex}") from ex
        try:
            version = int(arrays["format_version"])
            if version != FORMAT_VERSION:
                raise ValueError(f"format_version {version}; this snnlab reads {FORMAT_VERSION}")
            meta = json.loads(str(arrays["meta_json"]))
            layers = {}
            for i, info in enumerate(meta["layers"]):
                n = math.prod(info["shape"])
                spikes = np.unpackbits(arrays[f"layer{i}_spikes"], axis=1, count=n).astype(bool)
                layers[info["name"]] = LayerRecording(
                    info["name"], tuple(info["shape"]), info["model"], spikes,
                    arrays[f"layer{i}_voltages"] if info["has_voltages"] else None,
                    arrays[f"layer{i}_traced"], info["threshold"],
                )
            return cls(
                dt=float(arrays["dt"]), layers=layers, start_step=int(arrays["start_step"]),
                completed=bool(arrays["completed"]), wall_time=float(arrays["wall_time"]),
                experiment=meta["experiment"], network=meta["network"],
                changes=[tuple(c) for c in meta["changes"]],
                weights={k: arrays[f"weights{i}"] for i, k in enumerate(meta["weights"])},
            )
        except (KeyError, TypeError, json.JSONDecodeError) as ex:
            raise ValueError(f"{str(path)!r} is not a snnlab recording (missing or bad entry: {ex})") from ex


# -------------------------------------------------------------------- network
def _jsonable(value: Any) -> Any:
    """A parameter value as JSON: numbers as numbers, small tensors as lists."""
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return _jsonable(value.reshape(()).item())
        if value.size <= 64:
            return [_jsonable(v) for v in value.reshape(-1).tolist()]
        return {"shape": list(value.shape), "mean": float(value.mean()), "min": float(value.min()),
                "max": float(value.max())}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return _jsonable(value.item())
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return repr(value)


_LAYER_ATTRS = ("thresh", "rest", "reset", "refrac", "tc_decay", "tc_i_decay", "theta_plus",
                "tc_theta_decay", "lbound", "traces", "tc_trace", "trace_scale", "one_spike",
                "excitatory", "eps_0", "rho_0", "d_thresh")


def _parameters(obj, fallback: Sequence[str]) -> dict:
    try:  # the engine's per-model parameter record, where it has one
        from snnlab.dynamics import parameters_of  # type: ignore
    except ImportError:
        parameters_of = None
    if parameters_of is not None:
        try:
            return {name: _jsonable(value) for name, (_, value) in parameters_of(obj).items()}
        except (TypeError, ValueError):
            pass
    return {a: _jsonable(getattr(obj, a)) for a in fallback if hasattr(obj, a)}


def describe_network(network) -> dict:
    """A JSON-serializable description of a ``snnlab.network.Network``.

    Layers (name, model, shape, parameter values) and connections (source,
    target, kind, weight shape, learning rule), in network order.
    """
    layers = []
    for name, layer in network.layers.items():
        layers.append({"name": name, "model": type(layer).__name__, "shape": list(layer.shape),
                       "n": int(layer.n), "parameters": _parameters(layer, _LAYER_ATTRS)})
    connections = []
    for (src, dst), conn in network.connections.items():
        rule = getattr(conn, "update_rule", None)
        w = getattr(conn, "w", None)
        connections.append({
            "source": src, "target": dst, "kind": type(conn).__name__,
            "weight_shape": list(w.shape) if w is not None else None,
            "rule": type(rule).__name__ if rule is not None else None,
            "nu": _jsonable(getattr(conn, "nu", None)),
        })
    return {"dt": float(network.dt), "layers": layers, "connections": connections}
