"""Recordings as NWB files (Neurodata Without Borders), with pynwb.

:func:`export_nwb` writes a :class:`snnlab.recording.Recording`;
:func:`read_nwb` brings it back. Layout of the file:

=============================  ===============================================
``units``                      one row per neuron of every layer: its
                               ``spike_times`` (s), ``layer`` (the layer's
                               name) and ``neuron`` (flat index in the layer)
``acquisition/<layer>_voltage``  ``TimeSeries`` of the traced neurons'
                               membrane voltage, ``[steps, k]``, stored in mV
                               (``conversion=1e-3`` to volts), regular at
                               ``1000 / dt`` Hz; ``comments``: the traced
                               neuron indices (JSON)
``protocol``                   what ran (``Recording.experiment``), JSON
``notes``                      the network description, layers (shape, model,
                               threshold), dt, start step, live changes, JSON
=============================  ===============================================

NWB counts time in seconds; snnlab in ms. Spike times are ``step * dt /
1000`` s, and :func:`read_nwb` rounds them back to steps, so a round trip
gives the same spike arrays. A neuron that never spiked still has its row, so
the units table says how many neurons each layer had.

The file passes pynwb's validator and nwbinspector (tests/io/test_nwb.py).
"""

from __future__ import annotations

import json
import math
import os
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Union

import numpy as np
from hdmf.backends.hdf5.h5_utils import H5DataIO
from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.file import Subject
from pynwb.misc import Units

from snnlab.recording import LayerRecording, Recording
from snnlab._files import mkstemp_beside

__all__ = ["export_nwb", "read_nwb"]

PathLike = Union[str, "os.PathLike[str]"]

#: Written into ``notes`` so that :func:`read_nwb` knows the layout.
LAYOUT = "snnlab.recording/1"


def _check(recording) -> Recording:
    if not isinstance(recording, Recording):
        raise TypeError(f"recording: expected a snnlab.recording.Recording, got {type(recording).__name__}")
    return recording


def _nwbfile(rec: Recording, session_start: Optional[datetime], experimenter: Optional[list]) -> NWBFile:
    layers = ", ".join(f"{name} ({layer.model}, {layer.n} neurons)" for name, layer in rec.layers.items())
    notes = {
        "layout": LAYOUT,
        "dt_ms": rec.dt,
        "start_step": rec.start_step,
        "steps": rec.steps,
        "completed": rec.completed,
        "wall_time_s": rec.wall_time,
        "layers": [
            {"name": l.name, "shape": list(l.shape), "model": l.model, "threshold": l.threshold,
             "traced": [int(i) for i in l.traced]}
            for l in rec.layers.values()
        ],
        "network": rec.network,
        "changes": [[int(s), str(p), float(v)] for s, p, v in rec.changes],
    }
    from snnlab import __version__

    start = session_start or datetime.now(timezone.utc)
    return NWBFile(
        session_description=(
            f"snnlab simulation, {rec.duration:g} ms at dt = {rec.dt:g} ms; layers: {layers}"
        ),
        identifier=str(uuid.uuid4()),
        session_start_time=start,
        experiment_description="Simulated spiking neural network (clock-driven, snnlab).",
        protocol=json.dumps(rec.experiment),
        notes=json.dumps(notes),
        source_script=f"snnlab {__version__}",
        source_script_file_name="snnlab",
        data_collection="Simulated with snnlab; spike times are step * dt; voltages recorded after reset.",
        keywords=["simulation", "spiking neural network", "snnlab"],
        experimenter=experimenter,
        # NWB asks for a subject; a simulation has none but the network, described here. It was
        # "born" when the run started; its sex is U (unknown); it has no species (NWB wants a
        # taxonomy name, and inventing one would be false: nwbinspector notes its absence).
        subject=Subject(subject_id="snnlab-network", description=f"A simulated spiking network: {layers}.",
                        sex="U", date_of_birth=start),
    )


def _units(rec: Recording) -> Optional[Units]:
    """The units table, built column by column (a row per neuron)."""
    names, index, times, ends = [], [], [], []
    total = 0
    for name, layer in rec.layers.items():
        rows, cols = np.nonzero(layer.spikes)
        order = np.lexsort((rows, cols))  # by neuron, then time
        rows, cols = rows[order], cols[order]
        counts = np.bincount(cols, minlength=layer.n)
        t_s = (rec.start_step + rows).astype(np.float64) * rec.dt / 1000.0
        times.append(t_s)
        ends.append(total + np.cumsum(counts))
        total += int(counts.sum())
        names += [name] * layer.n
        index.append(np.arange(layer.n, dtype=np.int64))
    if not names:
        return None
    spike_times = VectorData(name="spike_times", description="Spike times (s).",
                             data=H5DataIO(np.concatenate(times), compression="gzip"))
    # add_unit row by row costs about a millisecond a row; the columns are built whole instead.
    columns = [
        spike_times,
        VectorIndex(name="spike_times_index", data=H5DataIO(np.concatenate(ends).astype(np.uint64), compression="gzip"),
                    target=spike_times),
        VectorData(name="layer", description="Name of the snnlab layer the neuron belongs to.", data=names),
        VectorData(name="neuron", description="Flat (C-order) index of the neuron in its layer.",
                   data=np.concatenate(index)),
    ]
    units = Units(
        name="units", description="Simulated neurons: one unit per neuron of every layer.",
        id=ElementIdentifiers(name="id", data=np.arange(len(names), dtype=np.int64)), columns=columns,
        resolution=rec.dt / 1000.0,  # spikes fall on the step grid: dt, in s
    )
    return units


def export_nwb(
    recording: Recording,
    path: PathLike,
    *,
    session_start: Optional[datetime] = None,
    experimenter: Optional[Union[str, list]] = None,
) -> Path:
    """Write a recording to an NWB file, whole or not at all.

    Parameters
    ----------
    recording : snnlab.recording.Recording
    path : str or path
        The file (``.nwb``); its folder must exist.
    session_start : datetime, optional
        The session's start (timezone-aware); default now, UTC.
    experimenter : str or list of str, optional
        Who ran it ("Last, First").

    Returns
    -------
    pathlib.Path
    """
    rec = _check(recording)
    path = Path(path)
    if path.suffix != ".nwb":
        raise ValueError(f"path: {str(path)!r}; expected a file name ending in .nwb")
    if path.is_dir():
        raise ValueError(f"path: {str(path)!r} is a directory; expected a file name")
    if session_start is not None and (not isinstance(session_start, datetime) or session_start.tzinfo is None):
        raise ValueError(f"session_start: {session_start!r}; expected a timezone-aware datetime")
    if isinstance(experimenter, str):
        experimenter = [experimenter]
    if experimenter is not None and not all(isinstance(e, str) for e in experimenter):
        raise TypeError(f"experimenter: {experimenter!r}; expected a name or a list of names")
    nwb = _nwbfile(rec, session_start, experimenter)
    units = _units(rec)
    if units is not None:
        nwb.units = units
    if rec.steps:
        for name, layer in rec.layers.items():
            if layer.voltages is None or not layer.traced.size:
                continue
            nwb.add_acquisition(TimeSeries(
                name=f"{name}_voltage",
                description=f"Membrane voltage of the traced neurons of layer {name!r}, after reset.",
                comments=json.dumps({"layer": name, "traced": [int(i) for i in layer.traced]}),
                data=H5DataIO(np.ascontiguousarray(layer.voltages, dtype=np.float32), compression="gzip"),
                unit="volts",
                conversion=1e-3,  # stored in mV
                starting_time=rec.start_step * rec.dt / 1000.0,
                rate=1000.0 / rec.dt,
            ))
    fd, tmp = mkstemp_beside(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # the temporary name does not end in .nwb; the final one does
            warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
            with NWBHDF5IO(tmp, "w") as io:
                io.write(nwb)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_nwb(path: PathLike) -> Recording:
    """Read an NWB file written by :func:`export_nwb` back into a Recording.

    Raises
    ------
    ValueError
        Not an NWB file, or not one snnlab wrote.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: {str(path)!r} is not a file; expected an NWB file")
    try:
        io = NWBHDF5IO(str(path), "r")
        nwb = io.read()
    except Exception as ex:  # h5py/hdmf raise many kinds for a file that is not NWB
        raise ValueError(f"{str(path)!r} is not a readable NWB file: {ex}") from ex
    try:
        try:
            notes = json.loads(nwb.notes or "")
        except json.JSONDecodeError:
            notes = {}
        if not isinstance(notes, dict) or notes.get("layout") != LAYOUT:
            raise ValueError(f"{str(path)!r} was not written by snnlab's export_nwb (no {LAYOUT} notes)")
        dt = float(notes["dt_ms"])
        start = int(notes["start_step"])
        steps = int(notes["steps"])
        spikes = {info["name"]: np.zeros((steps, math.prod(info["shape"])), bool) for info in notes["layers"]}
        if nwb.units is not None and len(nwb.units):
            layer_col = nwb.units["layer"].data[:]
            neuron_col = nwb.units["neuron"].data[:]
            all_times = nwb.units["spike_times"].target.data[:]
            ends = nwb.units["spike_times"].data[:]
            begin = 0
            for name, neuron, end in zip(layer_col, neuron_col, ends):
                name = name.decode() if isinstance(name, bytes) else str(name)
                t = np.asarray(all_times[begin:end], dtype=np.float64)
                begin = int(end)
                rows = np.rint(t * 1000.0 / dt).astype(np.int64) - start
                spikes[name][rows, int(neuron)] = True
        layers = {}
        for info in notes["layers"]:
            name = info["name"]
            volts = None
            series = nwb.acquisition.get(f"{name}_voltage")
            if series is not None:
                volts = np.asarray(series.data[:], dtype=np.float32)
            traced = info["traced"] if volts is not None else []
            layers[name] = LayerRecording(name, tuple(info["shape"]), info["model"], spikes[name], volts,
                                          np.asarray(traced, np.int64), info["threshold"])
        return Recording(
            dt=dt, layers=layers, start_step=start, completed=bool(notes["completed"]),
            wall_time=float(notes["wall_time_s"]), experiment=json.loads(nwb.protocol or "{}"),
            network=notes["network"], changes=[tuple(c) for c in notes["changes"]],
        )
    except (KeyError, TypeError, IndexError) as ex:
        raise ValueError(f"{str(path)!r}: snnlab layout incomplete ({ex!r})") from ex
    finally:
        io.close()
