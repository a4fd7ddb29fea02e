"""Recording a whole run to disk, chunk by chunk, with zarr; readable after a crash at any point.

Layout of ``PATH`` (a zarr v3 group in a folder)::

    attrs: format, dt, steps_written, completed, experiment (JSON), layers [{name, shape, model}]
    <layer>/spikes     bool  [steps, n]   (one zarr chunk per ``rows_per_chunk`` steps)
    <layer>/voltages   float32 [steps, k] (traced neurons; ``attrs["traced"]``)

Why it survives a crash: zarr's local store writes every file (each data
chunk, each ``zarr.json``) to a temporary name and renames it into place, so
a file is whole or absent. Rows are written before ``steps_written`` is raised
in the group's attributes, so after a SIGKILL at any point the group says
how many steps are on disk, all of them whole; rows past it are ignored.
Arrays grow by whole blocks (rarely), not row by row.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["RunWriter", "load_run", "FORMAT"]

FORMAT = "snnlab-run-v1"


def _zarr():
    try:
        import zarr
    except ImportError as ex:  # an optional dependency of the lab
        raise ImportError("recording runs to disk needs zarr: pip install 'snnlab[lab]'") from ex
    return zarr


class RunWriter:
    """Appends a run's rows to a zarr group at ``path`` (created; must not exist or be empty).

    Parameters
    ----------
    path : str or Path
    run : the controller's run (network, buffers, traced neurons)
    experiment : dict
        JSON-able description of what runs.
    rows_per_chunk : int
        Steps per zarr chunk (and per growth block of the arrays).
    """

    def __init__(self, path, run, experiment: dict, rows_per_chunk: int = 1000) -> None:
        zarr = _zarr()
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ValueError(f"record_to: {str(path)!r} exists and is not an empty folder; expected a new path")
        self.path = path
        self.rows = int(rows_per_chunk)
        self.group = zarr.open_group(str(path), mode="w")
        self.layers = []
        meta = []
        buf = run.buffers
        for name, shape in buf.shapes.items():
            n = math.prod(shape)
            g = self.group.create_group(name)
            # Chunks hold whole rows: a chunk written once never changes
            # after its rows are complete (an append touches the last one).
            s = g.create_array("spikes", shape=(0, n), chunks=(self.rows, max(n, 1)), dtype="bool")
            v = None
            if name in buf.voltages:
                k = len(buf.traced[name])
                v = g.create_array("voltages", shape=(0, k), chunks=(self.rows, max(k, 1)), dtype="float32")
                v.attrs["traced"] = [int(i) for i in buf.traced[name]]
            self.layers.append((name, s, v))
            meta.append({"name": name, "shape": list(shape), "model": type(run.network.layers[name]).__name__})
        self.group.attrs.update({"format": FORMAT, "dt": float(run.dt), "steps_written": 0, "completed": False,
                                 "experiment": experiment, "layers": meta})
        self.capacity = 0
        self.written = 0

    def append(self, run, start: int, stop: int) -> None:
        """Write steps ``[start, stop)`` from the run's buffers, then commit ``steps_written``."""
        if start != self.written:
            raise ValueError(f"RunWriter: steps from {start}; {self.written} written so far")
        if stop > self.capacity:
            new = -(-stop // self.rows) * self.rows + self.rows
            for _, s, v in self.layers:
                s.resize((new, s.shape[1]))
                if v is not None:
                    v.resize((new, v.shape[1]))
            self.capacity = new
        buf = run.buffers
        for name, s, v in self.layers:
            s[start:stop] = buf.rows("spikes", name, start, stop)
            if v is not None:
                v[start:stop] = buf.rows("voltages", name, start, stop)
        self.written = stop
        self.group.attrs["steps_written"] = stop  # the commit: rows before it are whole

    def close(self, completed: bool) -> None:
        self.group.attrs["completed"] = bool(completed)


def load_run(path):
    """The ``snnlab.recording.Recording`` of a run recorded with ``record_to`` (also after a crash).

    Reads only the committed steps (``steps_written``).
    """
    from snnlab.recording import LayerRecording, Recording

    zarr = _zarr()
    try:
        group = zarr.open_group(str(path), mode="r")
        attrs = dict(group.attrs)
    except Exception as ex:  # zarr raises several kinds for a missing or foreign folder
        raise ValueError(f"{str(path)!r} is not a recorded run: {ex}") from ex
    if attrs.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a recorded run (format {attrs.get('format')!r}; expected {FORMAT!r})")
    steps = int(attrs["steps_written"])
    layers = {}
    for info in attrs["layers"]:
        g = group[info["name"]]
        spikes = np.asarray(g["spikes"][:steps], dtype=bool)
        volts, traced = None, np.zeros(0, np.int64)
        if "voltages" in g:
            volts = np.asarray(g["voltages"][:steps], dtype=np.float32)
            traced = np.asarray(g["voltages"].attrs["traced"], dtype=np.int64)
        layers[info["name"]] = LayerRecording(info["name"], tuple(info["shape"]), info["model"], spikes, volts, traced)
    return Recording(dt=float(attrs["dt"]), layers=layers, completed=bool(attrs["completed"]),
                     experiment=attrs.get("experiment") or {})
