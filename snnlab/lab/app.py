"""``Lab``: the widget app. Controls generated from an experiment's parameters, and
live views of any network.

``Lab()`` shows the seed's network; ``Lab(net, inputs={"X": 20.0})`` any
``snnlab.network.Network`` built in Python; ``Lab(experiment)`` any
``snnlab.lab.experiment.Experiment``. In JupyterLab or Voila the app is an
``ipywidgets.AppLayout``: the run's buttons, its message and status at the
top; the parameters on the left (one group per layer, connection and input,
each marked *live* (acts at the next chunk) or *next run*); the views in the
centre (network diagram, rasters of the chosen layers, voltages, population
rates, weights).

A refused value shows a message next to the buttons (never a traceback), its
box goes back to the last good value, and every other control keeps working.

Scripting::

    lab = Lab(net, inputs={"X": 20.0})
    lab.run(time=2000.0)           # returns at once; lab.run() runs until lab.stop()
    lab.wait(timeout=60)           # True once the run has ended
    lab.recording.spikes("L1")     # NumPy [steps, n]
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import threading
import time as _time
from pathlib import Path
from typing import Any, Mapping, Optional

import ipywidgets as widgets
import numpy as np

from snnlab.lab.controller import (
    ACTIVE_STATES, BUILDING, DONE, ERROR, IDLE, PAUSED, RUNNING, STOPPED, STOPPING, Controller,
)
from snnlab.lab.experiment import Experiment, NetworkExperiment, learning_rule
from snnlab.lab.export_panel import ExportPanel
from snnlab.lab.views import (
    LAYER_COLORS, DiagramView, RasterView, RateView, TimeAxis, VoltageView, WeightView, window_columns,
)

__all__ = ["Lab", "parse_traced", "default_export_dir"]

_STYLE = {"description_width": "150px"}
_WIDE = widgets.Layout(width="330px")

#: Shown when a seed model is chosen: what to expect from it in this network.
MODEL_HINTS = {
    "Izhikevich": "Izhikevich: its input is a current, and the seed's weights barely move it "
                  "(no spikes at weight scale 1); try weight scale 5 or more. Its recorded voltage "
                  "peaks above threshold, as the reset comes on the next step.",
    "IF": "IF: no leak, so rest and the membrane time constant are not used.",
}

#: Weight views are redrawn at most this often during a run (seconds).
WEIGHT_INTERVAL = 0.5

#: The page acknowledges every ACK_EVERY-th frame (and the last): each ack is a
#: message to the kernel, which answers with busy/idle status messages that
#: JupyterLab redraws (status bar, favicon), so one per frame costs the page.
ACK_EVERY = 4

#: Frames sent and not yet acknowledged by the page before the next is held back.
MAX_UNACKED_FRAMES = 8

#: A page that stops acknowledging still gets a frame this often (seconds).
ACK_TIMEOUT = 2.0

#: The status line (time, frames/s) is rewritten at most this often during a run
#: (seconds): each new text is a layout for the page.
STATUS_INTERVAL = 0.25


def default_export_dir() -> Path:
    """Where exports go: ``$SNNLAB_EXPORT_DIR``, else ``~/snnlab-export`` (outside the repository)."""
    return Path(os.environ.get("SNNLAB_EXPORT_DIR") or Path.home() / "snnlab-export")


def parse_traced(text: str) -> tuple:
    """Neuron indices from text such as ``"0, 5, 10-12"`` (ranges inclusive).

    Raises ``ValueError`` naming the bad part.
    """
    out: list = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                lo_i, hi_i = int(lo), int(hi)
                if hi_i < lo_i or hi_i - lo_i > 10_000:
                    raise ValueError
                out.extend(range(lo_i, hi_i + 1))
            else:
                out.append(int(part))
        except (TypeError, ValueError):
            raise ValueError(
                f"traced neurons: {part!r} is not a neuron index or range; expected e.g. '0, 5, 10-12'"
            ) from None
    return tuple(out)


def _as_experiment(experiment, inputs, time) -> Experiment:
    from snnlab.config import LabConfig
    from snnlab.network import Network

    if isinstance(experiment, Network):
        return NetworkExperiment(experiment, inputs, time=1000.0 if time == "default" else time)
    if inputs is not None:
        raise TypeError("inputs: only for a Network; an experiment streams its own inputs")
    if experiment is None or isinstance(experiment, LabConfig):
        from snnlab.lab.experiments.seed import SeedExperiment

        return SeedExperiment(experiment)
    if isinstance(experiment, Experiment):
        return experiment
    raise TypeError(f"Lab: expected a Network, an Experiment or a LabConfig, got {type(experiment).__name__}")


class Lab(widgets.AppLayout):
    """The live lab.

    Parameters
    ----------
    experiment : Network, Experiment or LabConfig, optional
        What to run (default: the seed's network).
    inputs : dict, optional
        For a Network: Input layer name -> rate (Hz), tensor ``[time, *shape]``
        or callable ``(start_step, n_steps) -> tensor``.
    frame_interval : float
        Time between two redraws during a run, seconds (1/28: frames come at chunk
        boundaries; a late one does not delay the next).
    window_ms : float, optional
        Time the views show of a long or open-ended run (default 1000 ms).
    export_dir : str, optional
        Folder of the Export button (default ``default_export_dir()``).
    record_to : str, optional
        Record every run whole to this ``.zarr`` folder, chunk by chunk.

    Attributes
    ----------
    controller : snnlab.lab.controller.Controller
    controls : dict of str to ipywidgets.Widget
        Parameter controls by path (``"L1.thresh"``, ``"X->L1.weight_scale"``, ``"n_output"``...).
    rasters : dict of str to RasterView
    voltage, rate, weights, diagram : the other views
    """

    #: Height of the app (px) without a sweep; the Sweep panel and results add theirs.
    HEIGHT = 1420
    SWEEP_PANEL_HEIGHT = 190
    SWEEP_RESULTS_HEIGHT = 600

    def __init__(self, experiment=None, inputs: Optional[Mapping[str, Any]] = None, *, time="default",
                 frame_interval: float = 1 / 28, window_ms: float = 1000.0, export_dir=None,
                 record_to=None) -> None:
        exp = _as_experiment(experiment, inputs, time)
        self._ui_lock = threading.RLock()
        self._syncing = False
        self.window_ms = float(window_ms)
        self._record_to = record_to
        self.controller = Controller(exp, on_frame=self._on_frame, on_state=self._on_state,
                                     frame_interval=frame_interval, record_to=record_to)
        self.frames = 0
        self._shown_run = None
        self._weights_drawn_at = 0.0
        self._fps_marks: list = []
        self._status_due = 0.0
        self.rasters: dict = {}
        self._build_run_controls()
        self._build_views()
        self._build_files(export_dir)
        self.controls: dict = {}
        self.controls_box = widgets.VBox(layout=widgets.Layout(width="360px"))
        sidebar = widgets.VBox([self.controls_box, self.files_box],
                               layout=widgets.Layout(width="375px", overflow="auto"))
        header = widgets.VBox([
            widgets.HBox([widgets.HTML("<h3 style='margin:4px 8px 4px 0'>snnlab lab</h3>"), self.preset]),
            widgets.HBox([self.run_button, self.pause_button, self.stop_button, self.reset_button,
                          self.sweep_button, self.duration, self.until_stop, self.progress]),
            self.message,  # right under the buttons, where the eye is
            self.status,
            widgets.HBox([self._frame_sent, self._frame_ack], layout=widgets.Layout(display="none")),
        ])
        super().__init__(header=header, left_sidebar=sidebar, center=self.views_box,
                         pane_widths=["380px", 1, 0], pane_heights=["150px", 1, 0],
                         layout=widgets.Layout(height=f"{self.HEIGHT}px"))
        self.add_class("snnlab-lab")
        self._show_experiment()

    # -- building ---------------------------------------------------------------------

    def _build_run_controls(self) -> None:
        from snnlab.lab.experiments import PRESETS

        options = list(PRESETS)
        current = self.controller.experiment.name
        if current not in options:
            options = [current] + options
        self.preset = widgets.Dropdown(options=options, value=current, description="experiment",
                                       style={"description_width": "80px"}, layout=widgets.Layout(width="330px"))
        self.preset.add_class("snnlab-preset")
        self.preset.observe(self._on_preset, names="value")
        self._user_experiment = self.controller.experiment if current not in PRESETS else None
        self.run_button = widgets.Button(description="Run", button_style="success", icon="play",
                                         tooltip="Run the network (for the duration, or until Stop)")
        self.pause_button = widgets.Button(description="Pause", icon="pause", disabled=True)
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                          tooltip="Stop the run; what was recorded stays")
        self.reset_button = widgets.Button(description="Reset", icon="undo",
                                           tooltip="Stop any run, clear the views, the recording and the links")
        self.sweep_button = widgets.Button(description="Sweep", icon="th",
                                           tooltip="Run this experiment over a grid of parameter values "
                                                   "(shows or hides the Sweep panel)")
        self.sweep_panel = None
        self.sweep_view = None
        for b, name in ((self.run_button, "run"), (self.pause_button, "pause"),
                        (self.stop_button, "stop"), (self.reset_button, "reset"), (self.sweep_button, "sweep-button")):
            b.add_class(f"snnlab-{name}")
            b.layout = widgets.Layout(width="90px", flex="0 0 auto")
        self.run_button.on_click(lambda _: self.run(time=self._button_time()))
        self.pause_button.on_click(lambda _: self.toggle_pause())
        self.stop_button.on_click(lambda _: self.stop())
        self.reset_button.on_click(lambda _: self.reset())
        self.sweep_button.on_click(lambda _: self.toggle_sweep_panel())
        t = self.controller.experiment.time
        self.duration = widgets.FloatText(value=t if t is not None else 1000.0, description="duration (ms)",
                                          style={"description_width": "90px"}, layout=widgets.Layout(width="200px"))
        self.duration.add_class("snnlab-duration")
        self.until_stop = widgets.Checkbox(value=t is None, description="until Stop", indent=False,
                                           layout=widgets.Layout(width="100px"))
        self.until_stop.add_class("snnlab-until-stop")
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="160px"))
        self.progress.add_class("snnlab-progress")
        self.status = widgets.HTML()
        self.status.add_class("snnlab-status")
        # Flow control: the page acknowledges frames (see _page_is_behind).
        self._frame_sent = widgets.IntText(value=0, layout=widgets.Layout(display="none"))
        self._frame_ack = widgets.IntText(value=0, layout=widgets.Layout(display="none"))
        self._ack_link = widgets.jslink((self._frame_sent, "value"), (self._frame_ack, "value"))
        self._frame_ack.observe(self._on_ack, names="value")
        self._frames_sent = self._frames_acked = 0
        self._ack_seen = False
        self._last_frame_sent = 0.0
        self.frames_skipped = 0
        self.message = widgets.HTML()
        self.message.add_class("snnlab-message")

    def _build_views(self) -> None:
        self.diagram = DiagramView(on_select=self._select_layer)
        self.layer_choice = widgets.SelectMultiple(options=[], description="rasters", rows=4,
                                                   style={"description_width": "70px"},
                                                   layout=widgets.Layout(width="260px"))
        self.layer_choice.add_class("snnlab-layer-choice")
        self.voltage_layer = widgets.Dropdown(options=[], description="voltages of", style={"description_width": "70px"},
                                              layout=widgets.Layout(width="260px"))
        self.traced_text = widgets.Text(value="", description="neurons", placeholder="e.g. 0, 5, 10-12",
                                        continuous_update=False, style={"description_width": "70px"},
                                        layout=widgets.Layout(width="260px"))
        self.connection_choice = widgets.Dropdown(options=[], description="weights of",
                                                  style={"description_width": "70px"},
                                                  layout=widgets.Layout(width="260px"))
        self.window_box = widgets.FloatText(value=self.window_ms, description="window (ms)",
                                            style={"description_width": "70px"}, layout=widgets.Layout(width="260px"))
        self.layer_choice.observe(lambda c: self._redraw_layout(), names="value")
        self.voltage_layer.observe(lambda c: self._on_voltage_layer(), names="value")
        self.traced_text.observe(lambda c: self._on_traced(), names="value")
        self.connection_choice.observe(lambda c: self._draw_weights(force=True), names="value")
        self.window_box.observe(lambda c: self._on_window(), names="value")
        self.time_axis = TimeAxis()  # one time scale and axis for every time plot
        self.voltage = VoltageView(time=self.time_axis)
        self.rate = RateView(time=self.time_axis)
        self.weights = WeightView()
        chooser = widgets.VBox([self.layer_choice, self.voltage_layer, self.traced_text, self.connection_choice,
                                self.window_box])
        self.rasters_box = widgets.VBox()
        top = widgets.HBox([widgets.Box([self.diagram.figure], layout=widgets.Layout(width="55%")), chooser])
        self.views_box = widgets.VBox([top, self.rasters_box, self.voltage.figure, self.rate.widget,
                                       self.weights.figure], layout=widgets.Layout(width="100%", overflow_y="auto"))
        for view in (top, self.rasters_box, self.voltage.figure, self.rate.widget, self.weights.figure):
            view.layout.flex = "0 0 auto"  # never squeezed into each other: the column scrolls instead

    def _build_files(self, export_dir) -> None:
        self.export_dir = widgets.Text(value=str(export_dir or default_export_dir()), description="folder",
                                       style={"description_width": "50px"}, layout=widgets.Layout(width="330px"))
        self.export_button = widgets.Button(description="Export", icon="download",
                                            tooltip="Write figures, recording.npz and config.json to the folder")
        self.save_button = widgets.Button(description="Save config", icon="save",
                                          tooltip="Download the settings as a JSON file")
        self.upload = widgets.FileUpload(accept=".json", multiple=False, description="Load config",
                                         tooltip="Upload a JSON file saved with Save config")
        for b in (self.export_button, self.save_button, self.upload):
            b.layout = widgets.Layout(width="110px", height="32px", flex="0 0 auto")
        self.export_button.add_class("snnlab-export")
        self.save_button.add_class("snnlab-save")
        self.upload.add_class("snnlab-load")
        self.export_button.on_click(lambda _: self.export_panel.start())  # in a thread (export_panel)
        self.save_button.on_click(lambda _: self.save_config())
        self.upload.observe(self._on_upload, names="value")
        #: Buttons of file actions; others (Export as NIR, Sweep, ...) may be added with add_file_action.
        self.file_actions = widgets.HBox([self.export_button, self.save_button, self.upload],
                                         layout=widgets.Layout(flex_flow="row wrap"))
        # Links in their own scrolling box: they never squeeze the buttons.
        self.downloads = widgets.HTML(layout=widgets.Layout(max_height="120px", overflow="auto", width="340px"))
        self.downloads.add_class("snnlab-downloads")
        # Whole runs to disk, chunk by chunk (snnlab.lab.store): one .zarr folder per run.
        self.record_dir = widgets.Text(value="", description="record to", placeholder="a folder (empty: off)",
                                       style={"description_width": "65px"}, layout=widgets.Layout(width="330px"),
                                       tooltip="Each run is written whole to FOLDER/run-N.zarr as it goes "
                                               "(snnlab.lab.store.load_run reads it, also after a crash)")
        self.record_dir.add_class("snnlab-record-dir")
        self.export_panel = ExportPanel(self)  # window, layers, formats, width; progress, Cancel, messages
        self.export_panel.add_nir_actions()  # Export NIR / Open NIR where nir is installed
        self.files_box = widgets.VBox([widgets.HTML("<b>Files</b>"), self.export_dir, self.export_panel.options,
                                       self.file_actions, self.export_panel.status, self.record_dir,
                                       self.downloads])

    def show_sweep(self, sweep, **options):
        """Show a ``snnlab.sweep.Sweep`` under the views (``snnlab.lab.sweep_view.SweepView``):
        its heatmap fills in as it runs, and clicking a point loads it into this lab and runs it.

        ``options`` go to ``SweepView`` (``x``, ``y``, ``metric``, ``run_options``...). Returns the view.
        """
        from snnlab.lab.sweep_view import SweepView

        return self.place_sweep(SweepView(sweep, lab=self, **options))

    def place_sweep(self, view):
        """Show ``view`` (a ``SweepView``) under the views, in place of an earlier one; returns it."""
        box = widgets.VBox([widgets.HTML("<b>Sweep results</b> <i>(click a cell to load that point here)</i>"),
                            view.widget])
        box.add_class("snnlab-sweep")
        box.layout.flex = "0 0 auto"
        self.views_box.children = tuple(c for c in self.views_box.children
                                        if "snnlab-sweep" not in c._dom_classes) + (box,)
        self.sweep_view = view
        self._fit_height()
        return view

    def _fit_height(self) -> None:
        """Make room for the Sweep panel and results, so the views keep their sizes."""
        children = self.views_box.children
        height = self.HEIGHT
        if self.sweep_panel is not None and self.sweep_panel.widget in children:
            height += self.SWEEP_PANEL_HEIGHT
        if any("snnlab-sweep" in c._dom_classes for c in children):
            height += self.SWEEP_RESULTS_HEIGHT
        self.layout.height = f"{height}px"

    def toggle_sweep_panel(self) -> None:
        """Show or hide the Sweep panel (the Sweep button): what to vary, then Start sweep."""
        from snnlab.lab.sweep_panel import SweepPanel

        if self.sweep_panel is None:
            self.sweep_panel = SweepPanel(self)
        panel = self.sweep_panel.widget
        shown = panel in self.views_box.children
        if shown:
            self.views_box.children = tuple(c for c in self.views_box.children if c is not panel)
        else:
            self.sweep_panel.refresh()
            children = list(self.views_box.children)
            at = next((i for i, c in enumerate(children) if "snnlab-sweep" in c._dom_classes), len(children))
            panel.layout.flex = "0 0 auto"
            self.views_box.children = tuple(children[:at] + [panel] + children[at:])
        self._fit_height()

    def add_file_action(self, button: widgets.Button) -> None:
        """Add a button to the file actions (e.g. "Export network as NIR")."""
        button.layout = widgets.Layout(width="110px", height="32px", flex="0 0 auto")
        self.file_actions.children = tuple(self.file_actions.children) + (button,)

    # -- the experiment's controls -----------------------------------------------------------

    def _show_experiment(self) -> None:
        """Build the controls and views for the current experiment."""
        ctl = self.controller
        params = ctl.parameters()
        groups: dict = {}
        for p in params.values():
            groups.setdefault(p.group, []).append(p)
        self.controls = {}
        boxes = []
        for group, plist in groups.items():
            rows = [widgets.HTML(f"<b>{html.escape(group)}</b>")]
            for p in plist:
                w = self._control(p)
                self.controls[p.path] = w
                rows.append(w)
            boxes.append(widgets.VBox(rows, layout=widgets.Layout(border_bottom="1px solid #ddd",
                                                                  padding="2px 0 6px 0")))
        legend = widgets.HTML("<small>&#9889; live: acts at the next chunk of a run &middot; "
                              "&#8635; acts at the next run</small>")
        about = []
        text = getattr(ctl.experiment, "description", "") or ""
        if text:
            paragraphs = "".join(f"<p style='margin:0 0 4px 0'>{html.escape(' '.join(par.split()))}</p>"
                                 for par in text.split("\n\n") if par.strip())
            self.about = widgets.HTML(f"<div style='font-size:12px; line-height:1.35; white-space:normal; "
                                      f"color:#333'>{paragraphs}</div>", layout=widgets.Layout(width="350px"))
            self.about.add_class("snnlab-about")
            about = [self.about]
        self.controls_box.children = about + [legend] + boxes
        net = ctl.network if ctl.network is not None else ctl.preview_network()
        if net is not None:
            self._show_network(net)
        if getattr(self, "sweep_panel", None) is not None:
            self.sweep_panel.refresh()

    def _control(self, p):
        live = "\u26a1" if p.live else "\u21bb"
        label = f"{live} {p.label}" + (f" ({p.unit})" if p.unit else "")
        tip = p.doc + ("" if p.low is None and p.high is None else f" [{p.expected()}]")
        if p.kind == "bool":
            w = widgets.Checkbox(value=bool(p.value), description=label, style=_STYLE, layout=_WIDE, indent=False)
        elif p.kind == "choice":
            w = widgets.Dropdown(options=list(p.choices), value=p.value, description=label, style=_STYLE, layout=_WIDE)
        else:
            # FloatText for ints too: typed text such as 1e12 arrives as the
            # number typed, which the check then refuses (an IntText made it 112).
            w = widgets.FloatText(value=float(p.value), description=label, style=_STYLE, layout=_WIDE)
        w.tooltip = tip
        w.add_class("snnlab-param-" + p.path.replace(".", "-").replace("->", "-to-").replace("_", "-"))
        w.observe(lambda change, path=p.path: self._on_control(path, change), names="value")
        return w

    def _on_control(self, path: str, change) -> None:
        if self._syncing:
            return
        value = change["new"]
        p = self.controller.parameters().get(path)
        if p is not None and p.kind == "int" and isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            value = int(value)
        try:
            self.controller.set(path, value)
        except (ValueError, TypeError) as ex:
            self._error(f"{ex}. The last good value stays in use.")
            self._set_control(path, change["old"])  # the box shows what runs
            return
        p = self.controller.parameters()[path]
        rebuilt = False
        if path == "neuron_model" or (not p.live and p.group == "experiment" and self._structure_changed(path)):
            rebuilt = True
            self._syncing = True
            try:
                self._show_experiment()
            finally:
                self._syncing = False
        shown = f"{p.label} = {value:g}" if isinstance(value, float) else f"{p.label} = {value}"
        if self.controller.running:
            self._info(f"{shown}: applied at the next chunk." if p.live else f"{shown}: applies at the next run.")
        else:
            hint = MODEL_HINTS.get(value) if path == "neuron_model" else None
            self._info(hint or (f"{shown}." if not rebuilt else f"{shown}: the network changes at the next run."))

    def _structure_changed(self, path: str) -> bool:
        return path in ("n_input", "n_output", "neuron_model", "dt")

    def _set_control(self, path: str, value) -> None:
        w = self.controls.get(path)
        if w is None:
            return
        self._syncing = True
        try:
            w.value = float(value) if isinstance(w, widgets.FloatText) else value
        finally:
            self._syncing = False

    # -- messages -------------------------------------------------------------------------------

    def _info(self, text: str) -> None:
        self.message.value = (f"<div style='color:#333; white-space:normal'>{html.escape(text)}</div>" if text else "")

    def _error(self, text: str) -> None:
        self.message.value = (f"<div class='snnlab-error' style='color:#b00020; white-space:normal'>"
                              f"&#9888; {html.escape(text)}</div>")

    def _show_status(self, run=None) -> None:
        state = self.controller.state
        if run is None:
            self.status.value = f"<b>{state}</b> &middot; {html.escape(self.controller.experiment.name)}"
            return
        wall = max(run.wall_time, 1e-9)
        total = "" if run.n_steps is None else f" / {run.n_steps * run.dt:g}"
        fps = self.frame_rate()
        self.status.value = (
            f"<b>{state}</b> &middot; run {self.controller.runs} &middot; t = {run.t:g}{total} ms &middot; "
            f"wall {wall:.2f} s &middot; real-time factor {run.t / 1000.0 / wall:.2f}&times; &middot; "
            f"{self.frames} frames drawn" + (f" ({fps:.1f}/s)" if fps else "")
            + (f" &middot; {self.frames_skipped} held back for the page" if self.frames_skipped else ""))

    def frame_rate(self) -> float:
        """Frames drawn per second over the last 2 seconds of the run (0 if fewer than 2)."""
        marks = self._fps_marks
        if len(marks) < 2 or marks[-1] - marks[0] <= 0:
            return 0.0
        return (len(marks) - 1) / (marks[-1] - marks[0])

    # -- views -------------------------------------------------------------------------------------

    def _show_network(self, net) -> None:
        from snnlab.lab.experiment import connection_key
        from snnlab.learning import NoOp

        names = list(net.layers)
        layers = [(n, int(net.layers[n].n), type(net.layers[n]).__name__) for n in names]
        conns = []
        for (s, t), c in net.connections.items():
            rule = learning_rule(c)
            conns.append((s, t, rule is not None and not isinstance(rule, NoOp)))
        self.diagram.set_network(layers, conns)
        self._network_layers = {n: (int(net.layers[n].n), tuple(net.layers[n].shape)) for n in names}
        traced = self.controller.experiment.traced(net)
        self._traced_layers = [n for n in names if n in traced]
        with self._hold():
            self.layer_choice.options = names
            # Two layers shown at first: the first and the last (input and output, often).
            self.layer_choice.value = tuple(dict.fromkeys([names[0], names[-1]]))
            self.voltage_layer.options = self._traced_layers
            self.voltage_layer.value = self._traced_layers[-1] if self._traced_layers else None
            keys = [connection_key(s, t) for s, t in net.connections]
            learning = [connection_key(s, t) for s, t, learn in conns if learn]
            self.connection_choice.options = keys
            self.connection_choice.value = (learning or keys or [None])[0]
            self._show_traced_text()
        self._redraw_layout()

    def _hold(self):
        lab = self

        class _Hold:
            def __enter__(self):
                lab._syncing = True

            def __exit__(self, *exc):
                lab._syncing = False

        return _Hold()

    def _show_traced_text(self) -> None:
        layer = self.voltage_layer.value
        idx = self.controller.traced_for(layer) if layer else []
        self.traced_text.value = ", ".join(str(i) for i in idx)

    def _redraw_layout(self) -> None:
        if self._syncing:
            return
        with self._ui_lock:
            shown = list(self.layer_choice.value)
            figs = []
            for i, name in enumerate(shown):
                view = self.rasters.get(name)
                if view is None:
                    color = LAYER_COLORS[list(self.layer_choice.options).index(name) % len(LAYER_COLORS)]
                    view = self.rasters[name] = RasterView(name, color, time=self.time_axis)
                    view.figure.add_class(f"snnlab-raster-{i}")
                figs.append(view.figure)
                self._reset_raster(name)
            self.rasters_box.children = figs
            self._redraw_from_buffers()

    def _select_layer(self, name: str) -> None:
        """A click in the diagram: show that layer's raster and voltages."""
        if name not in self.layer_choice.value:
            self.layer_choice.value = tuple(self.layer_choice.value) + (name,)
        if name in self.voltage_layer.options:
            self.voltage_layer.value = name
        self._info(f"Layer {name} selected.")

    def _on_voltage_layer(self) -> None:
        if self._syncing:
            return
        self._show_traced_text()
        with self._ui_lock:
            self._redraw_from_buffers()

    def _on_traced(self) -> None:
        if self._syncing:
            return
        layer = self.voltage_layer.value
        if layer is None:
            return
        try:
            idx = parse_traced(self.traced_text.value)
            self.controller.set_traced(layer, idx)
        except ValueError as ex:
            self._error(f"{ex}. The last good choice stays.")
            with self._hold():
                self._show_traced_text()
            return
        self._info(f"Voltages of {layer} neurons {', '.join(map(str, idx))}: recorded from the next run.")

    def _on_window(self) -> None:
        v = self.window_box.value
        if not (math.isfinite(v) and v > 0):
            self._error(f"window: {v!r} ms; expected a time > 0 ms. The last good value stays.")
            with self._hold():
                self.window_box.value = self.window_ms
            return
        self.window_ms = float(v)
        with self._ui_lock:
            for name in self.rasters:
                self._reset_raster(name)
            self._redraw_from_buffers()

    def _window_steps(self, run) -> int:
        if run is not None and run.n_steps is not None and run.n_steps * run.dt <= max(self.window_ms, 20_000.0):
            return run.n_steps  # the whole run fits: fixed axis, no sliding
        dt = run.dt if run is not None else 1.0
        return max(1, int(round(self.window_ms / dt)))

    def _reset_raster(self, name: str) -> None:
        run = self.controller.data
        view = self.rasters[name]
        if run is not None and name in run.buffers.shapes:
            view.reset(math.prod(run.buffers.shapes[name]), run.dt, self._window_steps(run))
        elif name in getattr(self, "_network_layers", {}):
            view.reset(self._network_layers[name][0], 1.0, self._window_steps(None))

    def _redraw_from_buffers(self) -> None:
        run = self.controller.data
        if run is not None:
            self._draw(run)

    def _time_frame(self, run, final: bool = False) -> tuple:
        """``(x0, x1, origin, label)``: the time axis (ms) and the time (ms) at its 0.

        A run that fits the window, or a window still filling, is drawn in run
        time (origin 0). A full sliding window is drawn relative to the end of
        the rasters' newest pixel column: the axis reads ``-window .. 0`` and
        stays put while the data move through it (the page then redraws the
        data, not four axes and every mark).
        """
        w = self._window_steps(run)
        dt = run.dt
        if run.n_steps is not None and w >= run.n_steps:
            return 0.0, run.n_steps * dt, 0.0, None
        col_steps, cols = window_columns(w, RasterView.MAX_COLS)
        span = cols * col_steps
        now = run.steps_done
        if now <= span:
            return 0.0, span * dt, 0.0, None
        origin = -(-now // col_steps) * col_steps * dt
        label = ("time (ms) relative to now" if self.controller.running and not final
                 else f"time (ms) relative to t = {origin:g} ms")
        return -span * dt, 0.0, origin, label

    def _draw(self, run, final: bool = False) -> None:
        buf = run.buffers
        now = buf.steps_done
        w = self._window_steps(run)
        lo = max(buf.first_kept(), now - w)
        shown = [n for n in self.layer_choice.value if n in buf.shapes]
        x0, x1, origin, label = self._time_frame(run, final)
        x_range = (x0, x1)
        self.time_axis.set(x0, x1, label)
        for name in shown:
            view = self.rasters[name]
            a = max(view.drawn_steps, lo)
            if a < now:
                view.add(buf.rows("spikes", name, a, now), a)
            view.draw(origin)
        layer = self.voltage_layer.value
        if layer in buf.voltages:
            volts = buf.rows("voltages", layer, lo, now)
            times = (max(lo, buf.first_kept()) + np.arange(volts.shape[0])) * run.dt - origin
            net_layer = run.network.layers[layer]
            thresh = getattr(net_layer, "thresh", None)
            thresh = float(thresh) if isinstance(thresh, (int, float)) else (
                float(thresh.reshape(-1)[0]) if thresh is not None and hasattr(thresh, "reshape") and thresh.numel() else None)
            self.voltage.update(layer, times, volts, buf.traced[layer].tolist(), thresh, x_range)
        elif layer is None or layer not in buf.shapes:
            self.voltage.update(layer or "-", np.zeros(0), None, [], None, x_range)
        bin_steps = max(1, w // 200)
        a = (lo // bin_steps) * bin_steps
        a = max(a, buf.first_kept())
        series = {}
        for name in shown:
            counts = buf.rows("counts", name, a, now)
            starts, rates = RateView.binned(counts, math.prod(buf.shapes[name]), run.dt, a, bin_steps)
            series[name] = (starts - origin, rates)
        colors = [LAYER_COLORS[list(self.layer_choice.options).index(n) % len(LAYER_COLORS)] for n in shown]
        self.rate.update(series, x_range, colors)
        self._draw_weights(force=final, run=run)

    def _draw_weights(self, force: bool = False, run=None) -> None:
        key = self.connection_choice.value
        net = (run.network if run is not None else None) or self.controller.network or self.controller.preview_network()
        if key is None or net is None:
            return
        src, _, dst = key.partition("->")
        conn = net.connections.get((src, dst))
        if conn is None:
            return
        now = _time.perf_counter()
        learning = getattr(conn, "update_rule", None) is not None and type(conn.update_rule).__name__ != "NoOp"
        if not force and not (learning and now - self._weights_drawn_at >= WEIGHT_INTERVAL):
            if self.weights.frames:
                return
        self._weights_drawn_at = now
        from snnlab.lab.controller import _weights

        w = _weights(conn)
        if w.dim() != 2:
            w = w.reshape(conn.source.n, conn.target.n)
        image = self.controller.experiment.image_shape(net, src)
        if image is not None and math.prod(image) != w.shape[0]:
            image = None
        with self._ui_lock:
            self.weights.update(f"Weights {key}" + (" (learning)" if learning else ""), w, image)

    # -- controller callbacks (worker thread) ------------------------------------------------------

    def _page_is_behind(self) -> bool:
        """True while the page has not yet taken in the frames sent before (flow control).

        Each frame ends by setting ``_frame_sent``; ``jslink`` copies it in the page
        to ``_frame_ack``, which the page then sends back: an ack arrives once the
        page has processed that frame's messages. Until a first ack (no page, or
        one that never answers) frames are not held back; a page that stops
        answering gets a frame every ``ACK_TIMEOUT`` s.
        """
        if not self._ack_seen:
            return False
        behind = self._frames_sent - self._frames_acked >= MAX_UNACKED_FRAMES
        return behind and _time.perf_counter() - self._last_frame_sent < ACK_TIMEOUT

    def _on_ack(self, change) -> None:
        self._ack_seen = True
        self._frames_acked = max(self._frames_acked, int(change["new"]))

    def _on_frame(self, run, final: bool) -> None:
        if not final and self._page_is_behind():
            self.frames_skipped += 1  # the page is still drawing: a frame now would queue up
            return
        with self._ui_lock:
            if self._shown_run is not run:
                self._shown_run = run
                for name in self.rasters:
                    self._reset_raster(name)
                self.weights.frames = 0
            self._draw(run, final)
            self.frames += 1
            now = _time.perf_counter()
            self._fps_marks = [t for t in self._fps_marks if now - t <= 2.0] + [now]
            if run.n_steps:
                self.progress.value = run.steps_done / run.n_steps
            if final or now >= self._status_due:  # the status line: a few times a second is enough
                self._status_due = now + STATUS_INTERVAL
                self._show_status(run)
            self._frames_sent += 1
            self._last_frame_sent = _time.perf_counter()
            if final or self._frames_sent % ACK_EVERY == 0:
                self._frame_sent.value = self._frames_sent  # last: its ack means the whole frame arrived

    def _on_state(self, state: str, message: str) -> None:
        with self._ui_lock:
            self.export_panel.refresh()  # the export window follows the recorded run
            active = state in ACTIVE_STATES
            self.run_button.disabled = active
            self.stop_button.disabled = not active or state == STOPPING
            self.pause_button.disabled = state not in (RUNNING, PAUSED)
            self.pause_button.description = "Resume" if state == PAUSED else "Pause"
            self.pause_button.icon = "play" if state == PAUSED else "pause"
            self.preset.disabled = active
            if state == BUILDING:
                self.progress.value = 0.0
                self.progress.bar_style = "info"
                self._info("building the network ...")  # no stale message from the last run
            elif state == RUNNING:
                self._info("running" + ("" if self._run_time is not None else ": until Stop"))
            elif state == DONE:
                self.progress.bar_style = "success"
            elif state in (STOPPED, ERROR):
                self.progress.bar_style = "warning" if state == STOPPED else "danger"
            if state == ERROR:
                self._error(message)
            elif state in (DONE, STOPPED, PAUSED) and message:
                rec_to = self.controller.record_to
                self._info(message + (f"; the whole run is in {rec_to}" if rec_to is not None and state != PAUSED
                                      else ""))
            if state == IDLE:
                self.progress.value = 0.0
                self.progress.bar_style = ""
            run = self.controller.data
            self._show_status(run if state != IDLE else None)

    # -- commands ------------------------------------------------------------------------------------

    _run_time = None

    def _button_time(self):
        if self.until_stop.value:
            return None
        return self.duration.value

    def run(self, time: Optional[float] = None) -> bool:
        """Start a run of ``time`` ms, or until ``stop()`` (``time=None``); returns at once.

        False if a run is already going or ``time`` is refused (the message says why).
        """
        if self.controller.running:
            self._info("A run is already going: Stop it first (one run at a time).")
            return False
        try:
            if time is not None:
                if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time) or time <= 0:
                    raise ValueError(f"duration: {time!r} ms; expected a time > 0 ms (or 'until Stop')")
                dt = self.controller.network.dt if self.controller.network is not None else None
                if dt is None:
                    net = self.controller.preview_network()
                    dt = net.dt if net is not None else 1.0
                from snnlab.lab.controller import _steps

                _steps(float(time), dt)
            folder = self.record_dir.value.strip()
            if folder:
                stamp = _time.strftime("%Y%m%d-%H%M%S")
                self.controller.record_to = Path(folder).expanduser() / f"run-{stamp}-{self.controller.runs + 1}.zarr"
            elif self._record_to is None:
                self.controller.record_to = None
            self._run_time = time
            self._fps_marks = []
            self.frames = 0
            self.frames_skipped = 0
            return self.controller.start(time)
        except ValueError as ex:
            self._error(str(ex))
            return False

    def toggle_pause(self) -> None:
        if self.controller.state == PAUSED or self.controller.paused:
            self.controller.resume()
        else:
            self.controller.pause()

    def pause(self) -> None:
        self.controller.pause()

    def resume(self) -> None:
        self.controller.resume()

    def stop(self) -> None:
        """Stop the run at the next chunk; what was recorded stays."""
        self.controller.stop()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the current run to end; True if it has."""
        return self.controller.join(timeout)

    def reset(self) -> None:
        """Stop any run; clear the views, the recording and the download links."""
        self.controller.reset()
        with self._ui_lock:
            self._shown_run = None
            for name in self.rasters:
                self._reset_raster(name)
            self.voltage.update(self.voltage_layer.value or "-", np.zeros(0), None, [], None, (0.0, 1.0))
            self.rate.update({}, (0.0, 1.0), [])
            self.time_axis.set(0.0, 1.0)
            self.downloads.value = ""
            self.progress.value = 0.0
        self._info("Reset: views and recorded data cleared.")

    @property
    def recording(self):
        """The last run's ``snnlab.recording.Recording`` (None before the first run)."""
        return self.controller.recording

    @property
    def experiment(self) -> Experiment:
        return self.controller.experiment

    def load_experiment(self, experiment, params: Optional[Mapping[str, Any]] = None) -> None:
        """Show ``experiment`` (an Experiment, Network or LabConfig) with parameter values
        ``params`` (path -> value, e.g. a sweep's point); stops any run first.

        Raises ``ValueError``/``TypeError`` for a bad value (the previous experiment stays).
        """
        exp = _as_experiment(experiment, None, "default")
        self.controller.set_experiment(exp, params)  # checked before anything changes
        with self._hold():
            if exp.name not in self.preset.options:
                self.preset.options = [exp.name] + [o for o in self.preset.options]
            self.preset.value = exp.name
            if exp.time is not None:
                self.duration.value = exp.time
            self.until_stop.value = exp.time is None
        self._show_experiment()
        self.reset()
        self._info(f"Experiment: {exp.name}.")

    def _on_preset(self, change) -> None:
        if self._syncing:
            return
        from snnlab.lab.experiments import PRESETS, preset

        name = change["new"]
        try:
            exp = preset(name) if name in PRESETS else self._user_experiment
            self.load_experiment(exp)
        except (ValueError, TypeError) as ex:
            self._error(f"{ex}")

    # -- files ----------------------------------------------------------------------------------------

    def export(self) -> list:
        """Export with the Export panel's choices and wait for it (for scripts; the button does not wait).

        Returns the files written, or [] (the message says why). See ``snnlab.lab.export_panel``.
        """
        return self.export_panel.export()

    def config_json(self) -> str:
        """The settings as JSON: a seed ``LabConfig``, or the experiment's name and parameter values."""
        exp = self.controller.experiment
        cfg = getattr(exp, "config", None)
        if cfg is not None:
            return cfg.to_json()
        values = {path: p.value for path, p in self.controller.parameters().items()}
        return json.dumps({"experiment": exp.name, "values": values}, indent=2, sort_keys=True) + "\n"

    def save_config(self) -> str:
        """Offer the settings as a browser download (works in Voila and on Binder); returns the JSON."""
        text = self.config_json()
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        self.downloads.value = (f"<a download='lab-config.json' href='data:application/json;base64,{data}' "
                                f"class='snnlab-config-link'>lab-config.json</a> (click to download)")
        self._info("Settings ready: click lab-config.json to download them.")
        return text

    def load_config_text(self, text) -> bool:
        """Apply settings saved by :meth:`save_config`; False (and a message) if refused."""
        from snnlab._json import loads_strict
        from snnlab.config import LabConfig
        from snnlab.lab.experiments import PRESETS, preset

        try:
            if isinstance(text, (bytes, bytearray, memoryview)):
                text = bytes(text).decode("utf-8")
            # Strict JSON (snnlab._json): depth-limited, repeated keys and 40-digit integers refused.
            data = loads_strict(text, what="config")
            if isinstance(data, dict) and "experiment" in data and "values" in data:
                name = data["experiment"]
                if name in PRESETS:
                    exp = preset(name)
                elif self._user_experiment is not None and name == self._user_experiment.name:
                    exp = self._user_experiment
                else:
                    raise ValueError(f"config: experiment {name!r} is not one of {', '.join(PRESETS)}")
                if not isinstance(data["values"], dict):
                    raise TypeError("config: 'values' must be an object of parameter path -> value")
                self.load_experiment(exp, data["values"])
            else:
                self.load_experiment(LabConfig.from_json(text))
        except (ValueError, TypeError, KeyError, UnicodeDecodeError, RecursionError) as ex:
            self._error(f"Could not load the config: {ex}")
            return False
        self._info("Config loaded.")
        return True

    def load_config(self, path) -> Optional[bool]:
        """Apply settings from a JSON file on the server (for scripts; the page uses Load config).

        True if loaded; None (and a message) if the file cannot be read or is refused.
        """
        p = Path(path)
        try:
            if p.stat().st_size > 1_000_000:
                raise ValueError(f"{p.stat().st_size} bytes; expected a config of at most 1 MB")
            text = p.read_bytes()
        except (OSError, ValueError) as ex:
            self._error(f"Could not load {p}: {ex}")
            return None
        return True if self.load_config_text(text) else None

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        content = item["content"] if isinstance(item, dict) else item.content
        self.load_config_text(content)
