"""Write a lab run to files: figures (PNG, SVG, PDF) and data (.npz + config JSON).

Everything here works without a browser (matplotlib's Agg canvas), so the lab's
Export button, the ``snnlab run`` command and a script all write the same files:

=================  ==========================================================
``raster.<fmt>``   spike raster of the input (A) and output (B) layers
``voltage.<fmt>``  voltage traces of the traced output neurons, threshold marked
``rate.<fmt>``     population rate of both layers, Hz, in 10 ms bins
``recording.npz``  the recorded arrays (see :func:`save_recording`)
``config.json``    the run's :class:`~snnlab.config.LabConfig`, loadable again
=================  ==========================================================

Files are written under a temporary name and renamed when complete, so a
reader never sees half a file. :func:`download_links` turns written files into
browser downloads for the lab (it imports ipywidgets only when called).

matplotlib is imported when a figure is made, not when this module is imported.
"""

from __future__ import annotations

import base64
import json
import html
import mimetypes
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence, Union

import numpy as np

from snnlab.recording import Recording

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_NAMES",
    "FIGURE_FORMATS",
    "recording_figures",
    "export_figures",
    "save_recording",
    "load_recording",
    "export_recording",
    "download_links",
]

#: The figures written for a run, in order.
FIGURE_NAMES = ("raster", "voltage", "rate")

#: File formats figures can be written in.
FIGURE_FORMATS = ("png", "svg", "pdf")

#: Bin width of the exported population-rate figure, ms.
RATE_BIN_MS = 10.0

# A browser download is carried inside the page; past this size it is better
# fetched from the files written on disk.
_MAX_DOWNLOAD_BYTES = 20 * 1024**2

PathLike = Union[str, os.PathLike]


def _check_recording(recording: Any) -> Recording:
    if not isinstance(recording, Recording):
        raise TypeError(f"recording: expected a snnlab.recording.Recording, got {type(recording).__name__}")
    return recording


def _check_formats(formats: Union[str, Sequence[str]]) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    try:
        formats = tuple(str(f).lower().lstrip(".") for f in formats)
    except TypeError as ex:
        raise TypeError(f"formats: expected a list of format names, got {formats!r}") from ex
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad or not formats:
        raise ValueError(f"formats: {list(formats)!r}; expected one or more of {', '.join(FIGURE_FORMATS)}")
    return tuple(dict.fromkeys(formats))  # drop repeats, keep order


def _out_dir(out_dir: PathLike) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir: {str(out)!r} exists and is not a folder; expected a folder to write into")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _replace_into(tmp: Path, final: Path) -> Path:
    os.replace(tmp, final)
    return final


def recording_figures(recording: Recording) -> dict[str, "Figure"]:
    """Build the export figures of a run (not saved).

    Parameters
    ----------
    recording : snnlab.recording.Recording

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        ``{"raster": ..., "voltage": ..., "rate": ...}``.
    """
    from snnlab.analysis.plotting import raster_figure, rate_figure, voltage_figure

    rec = _check_recording(recording)
    title = _title(rec)
    layers = {name: rec.spikes(name) for name in rec.layer_names}
    t = rec.times
    traced = [(name, layer) for name, layer in rec.layers.items() if layer.voltages is not None and layer.traced.size]
    figures = {"raster": raster_figure(layers, dt=rec.dt, t=t, title=title)}
    volts = np.zeros((rec.steps, 0), np.float32)
    if traced:
        volts = np.concatenate([layer.voltages for _, layer in traced], axis=1)
    labels = [f"{name}[{int(i)}]" for name, layer in traced for i in layer.traced]
    thresholds = {layer.threshold for _, layer in traced if layer.threshold is not None}
    figures["voltage"] = voltage_figure(
        volts, dt=rec.dt, t=t, neurons=range(volts.shape[1]), labels=labels,
        thresh=thresholds.pop() if len(thresholds) == 1 else None, title=title,
    )
    figures["rate"] = rate_figure(layers, dt=rec.dt, bin_ms=max(RATE_BIN_MS, rec.dt), t0=float(t[0]) if len(t) else 0.0,
                                  title=title)
    return figures


def _title(rec: Recording) -> str:
    """A figure title from what the network was: its layers and sizes."""
    parts = [f"{name} ({layer.model}, {layer.n})" for name, layer in rec.layers.items()]
    return " -> ".join(parts) if len(parts) <= 4 else f"{len(parts)} layers"


def export_figures(
    recording: Recording,
    out_dir: PathLike,
    formats: Union[str, Sequence[str]] = FIGURE_FORMATS,
) -> list[Path]:
    """Write the raster, voltage and rate figures of a run.

    Parameters
    ----------
    recording : snnlab.recording.Recording
    out_dir : str or path
        Folder to write into (created if missing).
    formats : str or sequence of str
        Any of ``"png"``, ``"svg"``, ``"pdf"``.

    Returns
    -------
    list of pathlib.Path
        The files written, ``<figure>.<format>``.
    """
    from snnlab.analysis.plotting import save_figure

    rec = _check_recording(recording)
    formats = _check_formats(formats)
    out = _out_dir(out_dir)
    written = []
    for name, fig in recording_figures(rec).items():
        for fmt in formats:
            final = out / f"{name}.{fmt}"
            tmp = out / f".{name}.{fmt}.tmp"
            save_figure(fig, tmp, format=fmt)
            written.append(_replace_into(tmp, final))
    return written


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
) -> list[Path]:
    """Write everything about a run: figures, ``recording.npz`` and ``config.json``.

    Parameters
    ----------
    recording : snnlab.recording.Recording
    out_dir : str or path
        Folder to write into (created if missing); existing files of the
        same names are replaced.
    formats : str or sequence of str
        Figure formats, any of ``"png"``, ``"svg"``, ``"pdf"``.
    figures : bool
        Write the figures too (False: data only).

    Returns
    -------
    list of pathlib.Path
        Every file written.

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
    ...     [p.name for p in export_recording(rec, d, formats=["svg"])]
    ['raster.svg', 'voltage.svg', 'rate.svg', 'recording.npz', 'config.json']
    """
    rec = _check_recording(recording)
    formats = _check_formats(formats)
    out = _out_dir(out_dir)
    written = export_figures(rec, out, formats) if figures else []
    written.append(save_recording(rec, out / "recording.npz"))
    tmp = out / ".config.json.tmp"
    tmp.write_text(json.dumps(rec.experiment, indent=2), encoding="utf-8")
    written.append(_replace_into(tmp, out / "config.json"))
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

