"""Recordings as Neo objects, so that Elephant's analyses apply directly.

:func:`to_neo` turns a :class:`snnlab.recording.Recording` into a
:class:`neo.Block` with one :class:`neo.Segment`: a :class:`neo.SpikeTrain`
per neuron (ms, annotated with its layer and index) and an
:class:`neo.AnalogSignal` of each layer's traced voltages (mV).
:func:`spike_trains` gives one layer's trains as a list, the form Elephant's
functions take::

    from elephant.statistics import isi, cv
    trains = spike_trains(recording, "B")
    cvs = [cv(isi(st)) for st in trains if len(st) > 2]

Times keep snnlab's grid: a spike at step ``i`` is at ``i * dt`` ms, and a
train spans ``[t_start, t_stop)`` = the recorded window.
"""

from __future__ import annotations

from typing import Iterable, Optional

import neo
import numpy as np
import quantities as pq

from snnlab.recording import Recording

__all__ = ["to_neo", "spike_trains"]


def _check(recording) -> Recording:
    if not isinstance(recording, Recording):
        raise TypeError(f"recording: expected a snnlab.recording.Recording, got {type(recording).__name__}")
    return recording


def _window(rec: Recording) -> tuple:
    t_start = rec.start_step * rec.dt
    return t_start * pq.ms, (t_start + rec.steps * rec.dt) * pq.ms


def spike_trains(recording: Recording, layer: str, neurons: Optional[Iterable[int]] = None) -> list:
    """One layer's spikes as a list of :class:`neo.SpikeTrain`, one per neuron (ms).

    Parameters
    ----------
    recording : snnlab.recording.Recording
    layer : str
        The layer's name.
    neurons : iterable of int, optional
        Flat indices of the neurons (default: all, in order).

    Examples
    --------
    >>> from snnlab.recording import LayerRecording, Recording
    >>> s = np.zeros((100, 2), bool); s[[10, 30, 60], 0] = True
    >>> rec = Recording(dt=0.5, layers={"B": LayerRecording("B", (2,), "LIFNodes", s)})
    >>> trains = spike_trains(rec, "B")
    >>> trains[0].magnitude.tolist(), float(trains[0].t_stop), trains[0].annotations["neuron"]
    ([5.0, 15.0, 30.0], 50.0, 0)
    """
    rec = _check(recording)
    if layer not in rec.layers:
        raise ValueError(f"layer: {layer!r}; the recording has {rec.layer_names}")
    lr = rec.layers[layer]
    idx = np.arange(lr.n) if neurons is None else np.asarray(list(neurons), dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= lr.n):
        raise ValueError(f"neurons: {idx.tolist()[:10]}; expected indices in 0..{lr.n - 1}")
    t_start, t_stop = _window(rec)
    rows, cols = np.nonzero(lr.spikes[:, idx] if neurons is not None else lr.spikes)
    order = np.argsort(cols, kind="stable")  # by neuron; rows stay in time order
    rows, cols = rows[order], cols[order]
    bounds = np.searchsorted(cols, np.arange(idx.size + 1))
    times = (rec.start_step + rows) * rec.dt
    trains = []
    for j, neuron in enumerate(idx):
        trains.append(neo.SpikeTrain(
            times[bounds[j]:bounds[j + 1]] * pq.ms, t_start=t_start, t_stop=t_stop,
            name=f"{layer}[{int(neuron)}]", layer=layer, neuron=int(neuron), model=lr.model,
        ))
    return trains


def to_neo(recording: Recording, *, layers: Optional[Iterable[str]] = None) -> "neo.Block":
    """The recording as a :class:`neo.Block` (one segment).

    Parameters
    ----------
    recording : snnlab.recording.Recording
    layers : iterable of str, optional
        Layers to include (default all).

    Returns
    -------
    neo.Block
        ``block.segments[0].spiketrains``: every neuron's train, layer by
        layer (annotations ``layer``, ``neuron``, ``model``);
        ``block.segments[0].analogsignals``: per layer with traced neurons,
        an ``AnalogSignal`` ``[steps, k]`` in mV, annotated with ``layer`` and
        ``traced`` (the neurons' indices). ``block.annotations`` hold ``dt``
        (ms) and ``experiment``.

    Examples
    --------
    >>> from snnlab.recording import LayerRecording, Recording
    >>> s = np.zeros((100, 3), bool); s[::10, 1] = True
    >>> v = np.full((100, 1), -65.0, np.float32)
    >>> rec = Recording(dt=1.0, layers={"B": LayerRecording("B", (3,), "LIFNodes", s, v, [1], -52.0)})
    >>> seg = to_neo(rec).segments[0]
    >>> len(seg.spiketrains), len(seg.spiketrains[1]), seg.analogsignals[0].units.dimensionality.string
    (3, 10, 'mV')
    """
    rec = _check(recording)
    names = rec.layer_names if layers is None else list(layers)
    unknown = [n for n in names if n not in rec.layers]
    if unknown:
        raise ValueError(f"layers: {unknown} not in the recording; it has {rec.layer_names}")
    block = neo.Block(name="snnlab recording", dt_ms=rec.dt, start_step=rec.start_step,
                      completed=rec.completed, experiment=repr(rec.experiment))
    segment = neo.Segment(name="run")
    block.segments.append(segment)
    t_start, _ = _window(rec)
    for name in names:
        segment.spiketrains.extend(spike_trains(rec, name))
        layer = rec.layers[name]
        if layer.voltages is not None and layer.traced.size and rec.steps:
            segment.analogsignals.append(neo.AnalogSignal(
                layer.voltages, units="mV", sampling_period=rec.dt * pq.ms, t_start=t_start,
                name=f"{name} voltage", layer=name, traced=[int(i) for i in layer.traced],
            ))
    return block
