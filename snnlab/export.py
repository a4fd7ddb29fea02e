"""Write a run to files: figures (PNG, SVG, PDF) and data (.npz, config JSON, NWB).

Everything here works without a browser (matplotlib's Agg canvas), so the lab's
Export button, the ``snnlab run`` command and a script all write the same files:

=================  ==========================================================
``raster.<fmt>``   spikes of every layer: ticks, or a density image when
                   they would pile up (:mod:`snnlab.io.figures`)
``voltage.<fmt>``  voltages of the traced neurons, threshold marked
``rate.<fmt>``     population rate of every layer, Hz
``recording.npz``  the recorded arrays (:meth:`Recording.to_npz`)
``config.json``    what ran (``Recording.experiment``; a lab config loads again)
``recording.nwb``  with ``"nwb"`` among the formats: spike times, voltages and
                   the network description as NWB (:mod:`snnlab.io.nwb`)
=================  ==========================================================

A time window, a subset of layers and of neurons (``window=``, ``layers=``,
``neurons=``) apply to every file. ``progress(done, total, name)`` is called
after each file. ``cancel=`` (a ``threading.Event``, or anything with
``is_set()``) stops an export between two files: :class:`ExportCancelled`
is raised, and the files written before it stay whole (the lab's Export
panel runs exports in a thread and offers Cancel through it).

Files are written under a hidden temporary name (``.<name>.<random>.part``)
and renamed when complete, so a reader never sees half a file, and a killed
export leaves nothing that looks like a result; the next export into the same
folder removes such leftovers. Every target is checked before anything is
written: a folder in the way of a file is an error, and nothing is written.
:func:`download_links` turns written files into browser downloads for the lab
(it imports ipywidgets only when called).

matplotlib is imported when a figure is made, not when this module is imported.
"""

from __future__ import annotations

import base64
import html
import json
import math
import mimetypes
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from snnlab.recording import Recording

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_NAMES",
    "FIGURE_FORMATS",
    "DATA_FORMATS",
    "EXPORT_FORMATS",
    "ExportCancelled",
    "recording_figures",
    "export_figures",
    "save_recording",
    "load_recording",
    "export_recording",
    "select",
    "parse_window",
    "download_links",
]

#: The figures written for a run, in order.
FIGURE_NAMES = ("raster", "voltage", "rate")

#: File formats figures can be written in.
FIGURE_FORMATS = ("png", "svg", "pdf")

#: Data formats written besides ``recording.npz`` and ``config.json`` when asked for.
DATA_FORMATS = ("nwb",)

#: Everything ``formats=`` accepts.
EXPORT_FORMATS = FIGURE_FORMATS + DATA_FORMATS

# A browser download is carried inside the page; past this size it is better
# fetched from the files written on disk.
_MAX_DOWNLOAD_BYTES = 20 * 1024**2

PathLike = Union[str, os.PathLike]
Progress = Optional[Callable[[int, int, str], None]]


class ExportCancelled(Exception):
    """An export stopped through its ``cancel`` event, between two files.

    Attributes
    ----------
    written : list of pathlib.Path
        The files written (each whole) before it stopped.
    total : int
        How many files the export would have written.
    """

    def __init__(self, written: list, total: int) -> None:
        super().__init__(f"export cancelled after {len(written)} of {total} files")
        self.written = list(written)
        self.total = int(total)


def _check_cancel(cancel: Any) -> Any:
    if cancel is not None and not callable(getattr(cancel, "is_set", None)):
        raise TypeError(f"cancel: expected a threading.Event (anything with is_set()) or None, "
                        f"got {type(cancel).__name__}")
    return cancel


def _stop_if_cancelled(cancel: Any, written: list, total: int) -> None:
    if cancel is not None and cancel.is_set():
        raise ExportCancelled(written, total)


def _check_recording(recording: Any) -> Recording:
    if not isinstance(recording, Recording):
        raise TypeError(f"recording: expected a snnlab.recording.Recording, got {type(recording).__name__}")
    return recording


def _check_formats(formats: Union[str, Sequence[str]], allowed: Sequence[str] = EXPORT_FORMATS) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    try:
        formats = tuple(str(f).lower().lstrip(".") for f in formats)
    except TypeError as ex:
        raise TypeError(f"formats: expected a list of format names, got {formats!r}") from ex
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise ValueError(f"formats: {list(formats)!r}; expected one or more of {', '.join(allowed)}")
    return tuple(dict.fromkeys(formats))  # drop repeats, keep order


def _check_progress(progress: Any) -> Progress:
    if progress is not None and not callable(progress):
        raise TypeError(f"progress: expected a callable(done, total, name) or None, got {type(progress).__name__}")
    return progress


def _out_dir(out_dir: PathLike) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir: {str(out)!r} exists and is not a folder; expected a folder to write into")
    existing = out if out.exists() else next((p for p in out.absolute().parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"out_dir: {str(out)!r}: {str(existing)!r} is not a folder; expected a folder to write into")
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"out_dir: {str(out)!r}: cannot write there (no permission)")
    return out


def _check_targets(out: Path, names: Iterable[str]) -> None:
    """Refuse before writing anything if something other than a file is in the way."""
    for name in names:
        path = out / name
        if path.exists() or path.is_symlink():
            if path.is_dir() or not path.is_file():
                raise ValueError(
                    f"{str(path)!r} exists and is not a file (a folder?); move it away or export elsewhere. "
                    "Nothing was written"
                )


#: Every file an export may write: their leftover temporaries are removed.
_ALL_TARGETS = tuple(f"{n}.{f}" for n in FIGURE_NAMES for f in FIGURE_FORMATS) + (
    "recording.npz", "config.json", "recording.nwb")


def _remove_leftovers(out: Path) -> None:
    """Delete temporary files an earlier, killed export left behind (of any of its files)."""
    if not out.is_dir():
        return
    for name in _ALL_TARGETS:
        for stale in list(out.glob(f".{name}.*.part")) + [out / f".{name}.tmp"]:
            if stale.is_file() and not stale.is_symlink():
                stale.unlink(missing_ok=True)


def _atomic(final: Path, write: Callable[[Path], Any]) -> Path:
    """``write(tmp)`` into a hidden temporary file, then rename it to ``final``."""
    tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")
    try:
        write(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


# ---------------------------------------------------------------- selection
def parse_window(text: str) -> tuple[Optional[float], Optional[float]]:
    """``"T0:T1"`` (ms; either side may be empty) -> ``(t0, t1)``.

    Examples
    --------
    >>> parse_window("1000:2000"), parse_window(":500"), parse_window("250:")
    ((1000.0, 2000.0), (None, 500.0), (250.0, None))
    """
    if not isinstance(text, str) or text.count(":") != 1:
        raise ValueError(f"window: {text!r}; expected T0:T1 in ms, e.g. 1000:2000 (either side may be empty)")
    parts = []
    for part in text.split(":"):
        part = part.strip()
        if not part:
            parts.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"window: {text!r}; {part!r} is not a number of ms") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"window: {text!r}; expected times >= 0 ms")
        parts.append(value)
    t0, t1 = parts
    if t0 is not None and t1 is not None and t1 <= t0:
        raise ValueError(f"window: {text!r}; the end must come after the start")
    return t0, t1


def select(
    recording: Recording,
    *,
    window: Optional[Sequence[Optional[float]]] = None,
    layers: Optional[Iterable[str]] = None,
    neurons: Optional[Mapping[str, Any]] = None,
) -> Recording:
    """The part of a recording to export: a time window, some layers, some neurons.

    Parameters
    ----------
    recording : snnlab.recording.Recording
    window : (float or None, float or None), optional
        ``(t0, t1)`` in ms, ``t0 <= t < t1`` (None: from the start / to the end).
    layers : iterable of str, optional
        Layers to keep, in order.
    neurons : dict of str to sequence of int, optional
        Per layer, the flat indices of the neurons to keep.

    Returns
    -------
    snnlab.recording.Recording
        ``recording`` itself when nothing is selected.
    """
    rec = _check_recording(recording)
    if window is None and layers is None and neurons is None:
        return rec
    t0 = t1 = None
    if window is not None:
        if isinstance(window, str):
            window = parse_window(window)
        try:
            t0, t1 = window
        except (TypeError, ValueError) as ex:
            raise TypeError(f"window: {window!r}; expected (t0, t1) in ms") from ex
        for v in (t0, t1):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise ValueError(f"window: {window!r}; expected finite times in ms or None")
        end = (rec.start_step + rec.steps) * rec.dt
        start = rec.start_step * rec.dt
        if (t0 is not None and t0 >= end) or (t1 is not None and t1 <= start):
            raise ValueError(f"window: {window!r} ms is outside the recording ({start:g} to {end:g} ms)")
    if isinstance(layers, str):
        layers = [layers]
    if layers is not None:
        layers = list(layers)
        unknown = [n for n in layers if n not in rec.layers]
        if unknown or not layers:
            raise ValueError(f"layers: {layers}; expected some of {rec.layer_names}")
    if neurons is not None and not isinstance(neurons, Mapping):
        raise TypeError(f"neurons: expected a dict of layer -> neuron indices, got {type(neurons).__name__}")
    try:
        return rec.window(t0, t1, layers=layers, neurons=None if neurons is None else dict(neurons))
    except KeyError as ex:
        raise ValueError(f"neurons: {ex.args[0]}") from None


# ---------------------------------------------------------------- figures
def recording_figures(recording: Recording, **options: Any) -> dict[str, "Figure"]:
    """Build the export figures of a run (not saved).

    Parameters
    ----------
    recording : snnlab.recording.Recording
    **options
        ``layers``, ``raster_mode``, ``width``, ``style``, ``title``: see
        :func:`snnlab.io.figures.recording_figures`.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        ``{"raster": ..., "voltage": ..., "rate": ...}``.
    """
    from snnlab.io import figures

    return figures.recording_figures(_check_recording(recording), **options)


def _figure_files(
    rec: Recording, out: Path, formats: Sequence[str], done: list, total: int, progress: Progress,
    figure_options: Mapping[str, Any], written: list, cancel: Any = None,
) -> list[Path]:
    """Write the figures, appending each file to ``written`` as it is done; returns ``written``."""
    from snnlab.io import figures

    common = dict(figure_options)
    mode = common.pop("raster_mode", "auto")
    # One figure at a time (as figures.recording_figures draws them): Cancel and the
    # progress act between figures too, and one figure is in memory at once.
    makers = {
        "raster": lambda: figures.raster_figure(rec, mode=mode, **common),
        "voltage": lambda: figures.voltage_figure(rec, **common),
        "rate": lambda: figures.rate_figure(rec, **common),
    }
    for name in FIGURE_NAMES:
        _stop_if_cancelled(cancel, written, total)
        fig = makers[name]()
        for fmt in formats:
            _stop_if_cancelled(cancel, written, total)
            path = _atomic(out / f"{name}.{fmt}", lambda tmp, fig=fig, fmt=fmt: figures.save_figure(fig, tmp, format=fmt))
            written.append(path)
            _report(progress, done, total, path.name)
    return written


def _report(progress: Progress, done: list, total: int, name: str) -> None:
    done[0] += 1
    if progress is not None:
        progress(done[0], total, name)


def export_figures(
    recording: Recording,
    out_dir: PathLike,
    formats: Union[str, Sequence[str]] = FIGURE_FORMATS,
    *,
    progress: Progress = None,
    **figure_options: Any,
) -> list[Path]:
    """Write the raster, voltage and rate figures of a run.

    Parameters
    ----------
    recording : snnlab.recording.Recording
    out_dir : str or path
        Folder to write into (created if missing).
    formats : str or sequence of str
        Any of ``"png"``, ``"svg"``, ``"pdf"``.
    progress : callable(done, total, name), optional
        Called after each file.
    **figure_options
        ``layers``, ``raster_mode``, ``width``, ``style``, ``title``
        (:func:`snnlab.io.figures.recording_figures`).

    Returns
    -------
    list of pathlib.Path
        The files written, ``<figure>.<format>``.
    """
    rec = _check_recording(recording)
    formats = _check_formats(formats, FIGURE_FORMATS)
    progress = _check_progress(progress)
    out = _out_dir(out_dir)
    names = [f"{n}.{f}" for n in FIGURE_NAMES for f in formats]
    _check_targets(out, names)
    out.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)
    return _figure_files(rec, out, formats, [0], len(names), progress, figure_options, [])


def save_recording(recording: Recording, path: PathLike) -> Path:
    """Write a run's arrays to one compressed ``.npz`` file (``Recording.to_npz``).

    ``snnlab.recording.Recording.from_npz(path)`` reads it back; only plain
    dtypes are stored, so ``np.load(path, allow_pickle=False)`` reads it too.

    Returns
    -------
    pathlib.Path
    """
    return _check_recording(recording).to_npz(path)


def load_recording(path: PathLike) -> Recording:
    """Read a ``.npz`` written by :func:`save_recording` (never unpickles)."""
    return Recording.from_npz(path)


def export_recording(
    recording: Recording,
    out_dir: PathLike,
    formats: Union[str, Sequence[str]] = FIGURE_FORMATS,
    *,
    figures: bool = True,
    window: Optional[Sequence[Optional[float]]] = None,
    layers: Optional[Iterable[str]] = None,
    neurons: Optional[Mapping[str, Any]] = None,
    progress: Progress = None,
    raster_mode: str = "auto",
    width: Union[str, float] = "two",
    style: Any = None,
    npz: bool = True,
    cancel: Any = None,
) -> list[Path]:
    """Write everything about a run: figures, ``recording.npz``, ``config.json`` (and NWB).

    Parameters
    ----------
    recording : snnlab.recording.Recording
    out_dir : str or path
        Folder to write into (created if missing); existing files of the
        same names are replaced.
    formats : str or sequence of str
        Figure formats (``"png"``, ``"svg"``, ``"pdf"``) and data formats
        (``"nwb"``).
    figures : bool
        Write the figures (False: data only).
    window, layers, neurons
        The part of the run to export (:func:`select`): ``(t0, t1)`` in ms
        or ``"T0:T1"``; layer names; per layer, neuron indices.
    progress : callable(done, total, name), optional
        Called after each file is written.
    raster_mode, width, style
        Figure options (:func:`snnlab.io.figures.raster_figure`): ``"auto"``,
        ``"dots"`` or ``"density"``; ``"one"``/``"two"`` journal columns or
        inches; a matplotlib style sheet.
    npz : bool
        Write ``recording.npz`` (False: leave it out).
    cancel : threading.Event, optional
        Checked before each file; once set, the export stops there.

    Returns
    -------
    list of pathlib.Path
        Every file written.

    Raises
    ------
    ValueError
        A bad option, or something that is not a file in the way of one to be
        written; nothing is written then.
    ExportCancelled
        ``cancel`` was set; its ``written`` lists the files written before.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from snnlab.recording import LayerRecording, Recording
    >>> rec = Recording(dt=1.0, layers={
    ...     "A": LayerRecording("A", (4,), "Input", np.zeros((20, 4), bool)),
    ...     "B": LayerRecording("B", (3,), "LIFNodes", np.zeros((20, 3), bool),
    ...                         np.full((20, 3), -65.0, np.float32), np.arange(3), -52.0)},
    ...     experiment={"n_input": 4})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in export_recording(rec, d, formats=["svg"], window=(5, 15))]
    ['raster.svg', 'voltage.svg', 'rate.svg', 'recording.npz', 'config.json']
    """
    rec = _check_recording(recording)
    formats = _check_formats(formats)
    progress = _check_progress(progress)
    cancel = _check_cancel(cancel)
    if not isinstance(npz, bool):
        raise TypeError(f"npz: expected True or False, got {npz!r}")
    rec = select(rec, window=window, layers=layers, neurons=neurons)
    from snnlab.io.figures import RASTER_MODES, _width_inches, figure_style

    if raster_mode not in RASTER_MODES:
        raise ValueError(f"raster_mode: {raster_mode!r}; expected one of {RASTER_MODES}")
    _width_inches(width)
    if figures:
        figure_style(style)  # checks the style before anything is written
    figure_formats = [f for f in formats if f in FIGURE_FORMATS] if figures else []
    nwb = "nwb" in formats
    if nwb:
        from snnlab.io import nwb as nwb_module  # noqa: F401  (fails here, early, without pynwb)
    out = _out_dir(out_dir)
    names = [f"{n}.{f}" for n in FIGURE_NAMES for f in figure_formats]
    names += (["recording.npz"] if npz else []) + ["config.json"] + (["recording.nwb"] if nwb else [])
    _check_targets(out, names)
    out.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)

    done, total = [0], len(names)
    options = dict(raster_mode=raster_mode, width=width, style=style)
    written: list = []
    if figure_formats:
        _figure_files(rec, out, figure_formats, done, total, progress, options, written, cancel)
    if npz:
        _stop_if_cancelled(cancel, written, total)
        written.append(rec.to_npz(out / "recording.npz"))
        _report(progress, done, total, "recording.npz")
    _stop_if_cancelled(cancel, written, total)
    text = json.dumps(rec.experiment, indent=2)
    written.append(_atomic(out / "config.json", lambda tmp: tmp.write_text(text, encoding="utf-8")))
    _report(progress, done, total, "config.json")
    if nwb:
        _stop_if_cancelled(cancel, written, total)
        written.append(nwb_module.export_nwb(rec, out / "recording.nwb"))  # atomic itself
        _report(progress, done, total, "recording.nwb")
    return written


def download_links(paths: Iterable[PathLike], *, label: str = "Download:"):
    """Browser download links for written files, as an ``ipywidgets.HTML``.

    Each file is embedded in its link as a ``data:`` URI, so the download works
    in Voila and JupyterLab alike, with no file server. Files larger than
    20 MiB are listed without a link (use the file on disk).

    Parameters
    ----------
    paths : iterable of str or path
        Files to offer.
    label : str
        Text before the links.

    Returns
    -------
    ipywidgets.HTML
    """
    import ipywidgets as widgets  # the lab extra; not needed for writing files

    items = []
    for p in paths:
        p = Path(p)
        name = html.escape(p.name)
        size = p.stat().st_size
        if size > _MAX_DOWNLOAD_BYTES:
            items.append(f"<span title='too large to offer in the page'>{name} ({size / 1024**2:.0f} MiB)</span>")
            continue
        mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        items.append(
            f"<a download='{name}' href='data:{mime};base64,{data}' "
            f"class='snnlab-download' style='margin-right:0.8em'>{name}</a>"
        )
    body = " ".join(items) if items else "<i>nothing exported yet</i>"
    return widgets.HTML(value=f"<span>{html.escape(label)}</span> {body}")

