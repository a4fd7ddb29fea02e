"""The lab's Export panel: choose what to write, then write it without blocking the lab.

The panel sits in the lab's *Files* box, around the Export button:

* **window (ms)** ``from`` / ``to``: the part of the run to write. It follows
  the whole recorded run (the lab keeps the last stretch of a long run) until
  the user types a time; **whole run** goes back to that.
* **layers**: any of the recording's layers (all at first).
* **formats**: figures as ``png``, ``svg``, ``pdf``; the data as ``npz``
  (``recording.npz``) and ``nwb`` (offered only where pynwb is installed).
  ``config.json`` (what ran) is always written.
* **figure width**: one or two journal columns (:data:`snnlab.io.figures.COLUMN_WIDTHS`).
* the lab's **folder** box and **Export** button.

The export runs in a background thread (:func:`snnlab.export.export_recording`),
one at a time, on a snapshot of the recording taken when Export is clicked: a run
still going keeps running (Run, Pause and Stop still work) and what grows
after the snapshot is not in the files. A progress bar follows the files as
they are written; **Cancel** stops the export before its next file (the files
written before stay, each whole).

matplotlib's settings (``rcParams``) are global: while an export draws its
figures they hold snnlab's publication style. Other snnlab exports wait for
it (:func:`snnlab.io.figures.figure_style`), but a matplotlib figure drawn in
the notebook at that moment would get the style too (the lab's own views are
bqplot).

Where the ``nir`` package is installed, **Export NIR** and **Open NIR**
(:func:`snnlab.io.lab_nir.add_nir_actions`) join the Export button.

Messages (in the panel, under the Export button, and in the lab's message
line; never a traceback, and nothing is written):

* :data:`NOTHING_YET` -- Export before any run.
* :data:`BUSY` -- Export while an export is running.
* :data:`NO_LAYERS`, :data:`NO_FORMATS`, :data:`NO_FOLDER` -- an empty choice.
* :data:`BAD_START`, :data:`BAD_END` -- a window time that cannot be; the box
  goes back to its last good value.
* ``Export failed: window: ... is outside the recording (A to B ms)`` -- a
  window with no recorded step in it.
* ``Export failed: out_dir: ...`` -- a folder that cannot be written (a file
  in its place or above it, no permission).
* :data:`NO_NWB` -- ``nwb`` chosen but pynwb cannot be imported.
* :data:`CANCELLED` -- after Cancel.

The panel's files and messages are also its attributes (:attr:`ExportPanel.result`,
:attr:`ExportPanel.message`), and :meth:`ExportPanel.wait` waits for the thread,
so scripts and tests drive it like a user, deterministically.
"""

from __future__ import annotations

import html
import importlib.util
import math
import threading
from pathlib import Path
from typing import Optional

import ipywidgets as widgets

from snnlab import export as _export
from snnlab.lab.controller import ACTIVE_STATES

__all__ = ["ExportPanel", "FORMAT_CHOICES", "DEFAULT_FORMATS", "module_available"]

#: Formats offered, in order: figures, then data.
FORMAT_CHOICES = ("png", "svg", "pdf", "npz", "nwb")

#: Formats ticked at first (what the lab's Export wrote before the panel).
DEFAULT_FORMATS = ("png", "npz")

NOTHING_YET = "Nothing to export yet: run the network first."
BUSY = "An export is already running: wait for it to finish, or Cancel it."
NO_LAYERS = "Choose at least one layer to export."
NO_FORMATS = "Choose at least one format to export."
NO_FOLDER = "Choose a folder to export into."
BAD_START = ("window from: {value} ms; expected a time >= 0 ms before the end ({end:g} ms; to move the window "
             "later, change the end first). Kept {kept:g} ms.")
BAD_END = "window to: {value} ms; expected a time after the start ({start:g} ms). Kept {kept:g} ms."
NO_NWB = "NWB needs pynwb, which cannot be imported here ({error}); install it with pip install 'snnlab[io]'."
CANCELLED = "Export cancelled after {done} of {total} files; those are whole, in {folder}."

_WIDTHS = (("one column (3.5 in)", "one"), ("two columns (7 in)", "two"))


def module_available(name: str) -> bool:
    """True if ``name`` can be imported here, checked without importing it.

    (pynwb takes seconds to import; the lab should not wait for it to start.)
    """
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class ExportPanel:
    """The Export panel of a :class:`snnlab.lab.Lab` (built by the lab itself).

    Parameters
    ----------
    lab : snnlab.lab.Lab
        Its ``export_dir`` box is the folder, its ``downloads`` box gets the
        written files as links, its ``layer_choice`` lists the layers.

    Attributes
    ----------
    options : ipywidgets.VBox
        Window, layers, formats and figure width (above the Export button).
    status : ipywidgets.VBox
        Progress bar, Cancel and the message (under it).
    start_box, end_box : ipywidgets.FloatText
        The window, ms.
    layers : ipywidgets.SelectMultiple
    formats : dict of str to ipywidgets.Checkbox
    width : ipywidgets.Dropdown
    progress : ipywidgets.FloatProgress
        Fraction of the files written.
    cancel_button : ipywidgets.Button
    message : ipywidgets.HTML
    result : list of pathlib.Path
        Files of the last export that finished ([] after a refused or failed one).
    nir_actions : tuple
        The Export NIR / Open NIR widgets, or () where ``nir`` is not installed.
    """

    def __init__(self, lab) -> None:
        self.lab = lab
        self.result: list = []
        self.nir_actions: tuple = ()
        self._thread: Optional[threading.Thread] = None
        self._start_lock = threading.Lock()
        self._cancel = threading.Event()
        self._syncing = False
        self._whole_run = True  # the window follows the recording until the user types a time
        self._good = (0.0, 1000.0)
        self._nwb_available = module_available("pynwb")

        narrow = {"description_width": "55px"}
        self.start_box = widgets.FloatText(value=0.0, description="window", style=narrow,
                                           layout=widgets.Layout(width="135px"))
        self.end_box = widgets.FloatText(value=1000.0, description="to", style={"description_width": "18px"},
                                         layout=widgets.Layout(width="95px"))
        self.whole_button = widgets.Button(description="whole run", tooltip="Export the whole recorded run",
                                           layout=widgets.Layout(width="80px"))
        self.recorded = widgets.HTML(layout=widgets.Layout(width="330px"))
        self.layers = widgets.SelectMultiple(options=[], description="layers", rows=3, style=narrow,
                                             layout=widgets.Layout(width="330px"))
        self.formats = {}
        for name in FORMAT_CHOICES:
            box = widgets.Checkbox(value=name in DEFAULT_FORMATS, description=name, indent=False,
                                   layout=widgets.Layout(width="52px"))
            box.add_class(f"snnlab-export-{name}")
            self.formats[name] = box
        if not self._nwb_available:
            self.formats["nwb"].value = False
            self.formats["nwb"].disabled = True
            self.formats["nwb"].tooltip = "needs pynwb (pip install 'snnlab[io]')"
        self.width = widgets.Dropdown(options=_WIDTHS, value="two", description="figures", style=narrow,
                                      layout=widgets.Layout(width="330px"))
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="160px"))
        self.progress_text = widgets.HTML(layout=widgets.Layout(width="90px"))
        self.cancel_button = widgets.Button(description="Cancel", icon="times", disabled=True,
                                            tooltip="Stop the export before its next file",
                                            layout=widgets.Layout(width="80px"))
        self.message = widgets.HTML(layout=widgets.Layout(width="340px"))
        for w, cls in ((self.start_box, "window-start"), (self.end_box, "window-end"),
                       (self.whole_button, "whole-run"), (self.layers, "layers"), (self.width, "width"),
                       (self.progress, "progress"), (self.cancel_button, "cancel"),
                       (self.message, "message")):
            w.add_class(f"snnlab-export-{cls}")

        lab.export_button.tooltip = ("Write the chosen part of the run, in the chosen formats, to the folder "
                                     "(in the background: the lab keeps running)")
        self.start_box.observe(self._on_window, names="value")
        self.end_box.observe(self._on_window, names="value")
        self.whole_button.on_click(lambda _: self.use_whole_run())
        self.cancel_button.on_click(lambda _: self.cancel())
        lab.layer_choice.observe(lambda _: self._sync_layers(), names="options")
        self._sync_layers()

        self.options = widgets.VBox([
            widgets.HBox([self.start_box, self.end_box, widgets.HTML("ms", layout=widgets.Layout(width="22px")),
                          self.whole_button]),
            self.recorded,
            self.layers,
            widgets.HBox([widgets.HTML("formats", layout=widgets.Layout(width="58px"))]
                         + list(self.formats.values()), layout=widgets.Layout(flex_flow="row wrap")),
            self.width,
        ])
        self.status = widgets.VBox([widgets.HBox([self.progress, self.progress_text, self.cancel_button]),
                                    self.message])
        self.refresh()

    # -- the choices -----------------------------------------------------------------------

    def _sync_layers(self) -> None:
        """Offer the lab's layers (those of the network, so of its recording); keep a choice that still fits."""
        names = tuple(self.lab.layer_choice.options)
        chosen = tuple(n for n in self.layers.value if n in names)
        self.layers.options = names
        self.layers.value = chosen or names

    def _recorded_range(self) -> Optional[tuple]:
        """(first, end) ms of what the lab holds of the last run, without copying it; None if nothing."""
        run = self.lab.controller.data
        if run is None or run.steps_done == 0:
            return None
        return run.buffers.first_kept() * run.dt, run.steps_done * run.dt

    def _set_window(self, start: float, end: float) -> None:
        self._syncing = True
        try:
            self.start_box.value, self.end_box.value = start, end
        finally:
            self._syncing = False
        self._good = (start, end)

    def refresh(self) -> None:
        """Show what is recorded; a window that follows the whole run follows it (the lab calls this
        when its run changes state)."""
        if self.lab.controller.state in ACTIVE_STATES:  # still growing: the export takes it as it is then
            self.recorded.value = ("<span style='color:#666'>a run is going: Export writes what it has "
                                   "recorded when clicked</span>")
            return
        rng = self._recorded_range()
        if rng is None:
            self.recorded.value = "<span style='color:#666'>nothing recorded yet</span>"
            return
        self.recorded.value = f"<span style='color:#666'>recorded: {rng[0]:g} to {rng[1]:g} ms</span>"
        if self._whole_run:
            self._set_window(*rng)

    def use_whole_run(self) -> None:
        """Export the whole recorded run again (the **whole run** button)."""
        self._whole_run = True
        rng = self._recorded_range()
        if rng is not None:
            self._set_window(*rng)
        self._say("")

    def _on_window(self, change) -> None:
        if self._syncing:
            return
        start, end = float(self.start_box.value), float(self.end_box.value)
        if change["owner"] is self.start_box:
            ok = math.isfinite(start) and 0.0 <= start < end
            text = BAD_START.format(value=change["new"], end=end, kept=self._good[0])
        else:
            ok = math.isfinite(end) and end > start
            text = BAD_END.format(value=change["new"], start=start, kept=self._good[1])
        if not ok:
            self._set_window(*self._good)  # the box goes back to its last good value
            self._say(text, error=True)
            return
        self._good = (start, end)
        self._whole_run = False
        self._say("")

    def _request(self) -> dict:
        """The export's options, checked; ValueError with the message to show."""
        layers = list(self.layers.value)
        if not layers:
            raise ValueError(NO_LAYERS)
        chosen = [name for name, box in self.formats.items() if box.value and not box.disabled]
        if not chosen:
            raise ValueError(NO_FORMATS)
        folder = self.lab.export_dir.value.strip()
        if not folder:
            raise ValueError(NO_FOLDER)
        written = [f for f in chosen if f in _export.EXPORT_FORMATS]  # figure formats and nwb
        return dict(
            out_dir=Path(folder).expanduser(),
            # Data only: the figure formats are not used (figures=False), as with the CLI's --no-figures.
            formats=written or list(_export.FIGURE_FORMATS),
            figures=any(f in _export.FIGURE_FORMATS for f in chosen),
            npz="npz" in chosen,
            window=None if self._whole_run else (float(self.start_box.value), float(self.end_box.value)),
            layers=None if len(layers) == len(self.layers.options) else layers,
            width=self.width.value,
        )

    # -- running an export -------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while an export is running."""
        t = self._thread
        return t is not None and t.is_alive()

    def start(self) -> bool:
        """Start an export of the current choices in a background thread (the Export button).

        Returns at once: True if it started, False if refused (the message says why).
        """
        with self._start_lock:
            if self.busy:
                self._say(BUSY, error=True)
                return False
            try:
                request = self._request()
            except ValueError as ex:
                self.result = []
                self._say(str(ex), error=True)
                return False
            # The snapshot is taken now, at the click: a Run clicked right after cannot
            # slip in, and what grows afterwards is not in the files.
            still_running = self.lab.controller.state in ACTIVE_STATES
            try:
                rec = self._snapshot()
            except Exception as ex:  # a message, never a traceback
                self.result = []
                self._say(f"Export failed: could not take the recording: {type(ex).__name__}: {ex}", error=True)
                return False
            if rec is None or rec.steps == 0:
                self.result = []
                self._say(NOTHING_YET, error=True)
                return False
            self._cancel.clear()
            self.progress.value = 0.0
            self.progress.bar_style = "info"
            self.progress_text.value = "starting"
            self.cancel_button.disabled = False
            self._thread = threading.Thread(target=self._work, args=(request, rec, still_running),
                                            name="snnlab-export", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the running export (if any) to finish; True once none is running."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        return not self.busy

    def cancel(self) -> None:
        """Stop the running export before its next file (the Cancel button)."""
        if self.busy:
            self._cancel.set()
            self.progress_text.value = "cancelling"

    def export(self, timeout: Optional[float] = None) -> list:
        """Start an export and wait for it (for scripts); the files written, or [] (the message says why)."""
        if not self.start():
            return []
        self.wait(timeout)
        return list(self.result)

    def _snapshot(self):
        """The recording as it is now: a copy while a run goes on (the controller copies under its
        lock, so every layer ends at the same step; at most the lab's ring buffers, 128 MiB); the
        ended run's own arrays otherwise (no copy: nothing writes to them any more)."""
        return self.lab.recording

    def _on_progress(self, done: int, total: int, name: str) -> None:
        self.progress.value = done / total if total else 1.0
        self.progress_text.value = f"{done}/{total} files"

    def _work(self, request: dict, rec, still_running: bool) -> None:
        self.result = []
        folder = request["out_dir"]
        try:
            self.progress_text.value = "drawing"
            paths = _export.export_recording(rec, progress=self._on_progress, cancel=self._cancel, **request)
        except _export.ExportCancelled as ex:
            self.progress.bar_style = "warning"
            if ex.written:
                self.lab.downloads.value = _export.download_links(ex.written).value
            self._say(CANCELLED.format(done=len(ex.written), total=ex.total, folder=_shown(folder)))
            return
        except ImportError as ex:  # nwb chosen, and pynwb (or one of its libraries) is missing
            nwb = "nwb" in request["formats"]
            self._fail(NO_NWB.format(error=ex) if nwb else f"Export failed: {type(ex).__name__}: {ex}")
            return
        except (OSError, ValueError, TypeError) as ex:
            self._fail(f"Export failed: {ex}")
            return
        except Exception as ex:  # an export thread ends with a message, never a traceback
            self._fail(f"Export failed: {type(ex).__name__}: {ex}")
            return
        finally:
            self.cancel_button.disabled = True
        self.result = paths
        self.progress.value = 1.0
        self.progress.bar_style = "success"
        self.lab.downloads.value = _export.download_links(paths).value
        note = ""
        if still_running:
            note = f" (a snapshot at {rec.start_step * rec.dt + rec.duration:g} ms; the run goes on)"
        elif not rec.completed:
            note = f" (the run stopped at {rec.start_step * rec.dt + rec.duration:g} ms)"
        self._say(f"Exported {len(paths)} files to {_shown(folder)}{note}")

    def _fail(self, text: str) -> None:
        self.progress.bar_style = "danger"
        self.progress_text.value = ""
        self._say(text, error=True)

    def _say(self, text: str, error: bool = False) -> None:
        """Show ``text`` in the panel and in the lab's message line."""
        with self.lab._ui_lock:
            if not text:
                self.message.value = ""
                return
            if error:
                self.message.value = (f"<div class='snnlab-error' style='color:#b00020; white-space:normal'>"
                                      f"&#9888; {html.escape(text)}</div>")
                self.lab._error(text)
            else:
                self.message.value = f"<div style='color:#333; white-space:normal'>{html.escape(text)}</div>"
                self.lab._info(text)

    # -- NIR ----------------------------------------------------------------------------------

    def add_nir_actions(self) -> tuple:
        """Add Export NIR / Open NIR next to the Export button where ``nir`` is installed."""
        if not self.nir_actions and module_available("nir"):
            from snnlab.io.lab_nir import add_nir_actions

            self.nir_actions = add_nir_actions(self.lab)
        return self.nir_actions


def _shown(folder: Path) -> str:
    try:
        return str(folder.resolve())
    except OSError:
        return str(folder)
