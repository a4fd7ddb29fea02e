"""``Lab``: the widget app. Controls and plots wired to a ``Controller``.

``from snnlab.lab import Lab; Lab()`` in JupyterLab or Voila shows an
``ipywidgets.AppLayout``: controls on the left (the network, then the live
parameters, then the run's buttons and files), the plots in the centre, the
status line and messages at the bottom.

Every change of a control builds a whole new ``LabConfig`` from all controls;
if it is bad, the message area says why (never a traceback) and the last good
config stays the one that runs. The live parameters reach a running network at
its next chunk; the others wait for the next run, and the message area says so.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Optional

import ipywidgets as widgets

from snnlab.config import LIVE_FIELDS, MODEL_DEFAULTS, MODEL_PARAMETERS, NEURON_MODELS, LabConfig
from snnlab.lab.controller import (
    ACTIVE_STATES, BUILDING, DONE, ERROR, IDLE, PAUSED, RUNNING, STOPPED, STOPPING, Controller, RunData,
)
from snnlab.lab.plots import LabPlots

__all__ = ["Lab", "parse_traced"]

_LABEL_STYLE = {"description_width": "200px"}
_WIDE = widgets.Layout(width="380px")


#: Shown when a model is chosen: what to expect from it in this network.
MODEL_HINTS = {
    "Izhikevich": "Izhikevich: its input is a current, and the seed's weights barely move it "
                  "(no spikes at weight scale 1); try weight scale 5 or more. Its recorded voltage "
                  "peaks above threshold, as the reset comes on the next step.",
    "IF": "IF: no leak, so rest and the membrane time constant are not used.",
}


def parse_traced(text: str) -> tuple[int, ...]:
    """Neuron indices from text such as ``"0, 5, 10-12"`` (ranges inclusive).

    Raises ``ValueError`` naming the bad part.
    """
    out: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, None)
                lo_i, hi_i = int(lo), int(hi)
                if hi_i < lo_i:
                    raise ValueError
                out.extend(range(lo_i, hi_i + 1))
            else:
                out.append(int(part))
        except (TypeError, ValueError):
            raise ValueError(
                f"traced neurons: {part!r} is not a neuron index or range; expected e.g. '0, 5, 10-12'"
            ) from None
    return tuple(out)


def _format_traced(traced) -> str:
    return ", ".join(str(i) for i in traced)


class Lab(widgets.AppLayout):
    """The live lab: build, run and watch a two-layer spiking network.

    Parameters
    ----------
    config : LabConfig, optional
        Initial settings (default: the seed's network, 100 -> 1000 LIF, 500 ms).
    frame_interval : float
        Least time between two redraws during a run, seconds (1/25).
    export_dir : str
        Default folder of the Export button and config file.

    Attributes
    ----------
    controller : snnlab.lab.controller.Controller
    plots : snnlab.lab.plots.LabPlots
    controls : dict of str to ipywidgets.Widget
        The config controls by ``LabConfig`` field name.
    """

    def __init__(self, config: Optional[LabConfig] = None, *, frame_interval: float = 1 / 25,
                 export_dir: str = "snnlab-export") -> None:
        config = (config or LabConfig()).validate()
        self.plots = LabPlots()
        self.controller = Controller(config, on_frame=self._on_frame, on_state=self._on_state,
                                     frame_interval=frame_interval)
        self._syncing = False
        self._ui_lock = threading.RLock()
        self._build_controls(config)
        self._build_run_controls()
        self._build_files(export_dir)

        network_box = widgets.VBox(
            [widgets.HTML("<b>Network</b> <i>(applies at the next run)</i>")]
            + [self.controls[n] for n in ("n_input", "n_output", "time", "dt", "seed", "neuron_model",
                                          "thresh", "rest", "reset", "tc_decay", "refrac")]
        )
        live_box = widgets.VBox(
            [widgets.HTML("<b>Live</b> <i>(change during a run: applies at the next chunk)</i>")]
            + [self.controls[n] for n in LIVE_FIELDS]
        )
        view_box = widgets.VBox([widgets.HTML("<b>View</b>"), self.controls["traced"]])
        sidebar = widgets.VBox(
            [network_box, live_box, view_box, self.files_box],
            layout=widgets.Layout(width="395px", overflow="auto"),
        )
        header = widgets.VBox([
            widgets.HTML("<h3 style='margin:4px 0'>snnlab: live spiking-network lab</h3>"),
            widgets.HBox([self.run_button, self.pause_button, self.stop_button, self.reset_button,
                          self.progress]),
        ])
        footer = widgets.VBox([self.status, self.message])
        center = widgets.VBox(self.plots.figures, layout=widgets.Layout(width="100%"))
        super().__init__(
            header=header, left_sidebar=sidebar, center=center, footer=footer,
            pane_widths=["400px", 1, 0], pane_heights=["80px", 1, "90px"],
            layout=widgets.Layout(height="980px"),
        )
        self.add_class("snnlab-lab")
        self.plots.reset(config)
        self._update_model_controls(config.neuron_model)
        self._show_status(None)

    # -- building -----------------------------------------------------------------

    def _build_controls(self, cfg: LabConfig) -> None:
        def num(cls, name, label, **kw):
            w = cls(value=getattr(cfg, name), description=label, style=_LABEL_STYLE, layout=_WIDE, **kw)
            return w

        c = {
            "n_input": num(widgets.BoundedIntText, "n_input", "input neurons (A)", min=0, max=10**7),
            "n_output": num(widgets.BoundedIntText, "n_output", "output neurons (B)", min=0, max=10**7),
            "time": num(widgets.FloatText, "time", "simulated time (ms)"),
            "dt": num(widgets.FloatText, "dt", "dt (ms)"),
            "seed": num(widgets.BoundedIntText, "seed", "random seed", min=0, max=2**53),
            "neuron_model": widgets.Dropdown(options=list(NEURON_MODELS), value=cfg.neuron_model,
                                             description="neuron model", style=_LABEL_STYLE, layout=_WIDE),
            "thresh": num(widgets.FloatText, "thresh", "threshold (mV)"),
            "rest": num(widgets.FloatText, "rest", "rest (mV)"),
            "reset": num(widgets.FloatText, "reset", "reset (mV)"),
            "tc_decay": num(widgets.FloatText, "tc_decay", "membrane tau (ms)"),
            "refrac": num(widgets.FloatText, "refrac", "refractory period (ms)"),
            "input_rate": widgets.FloatSlider(value=cfg.input_rate, min=0.0, max=1000.0, step=10.0,
                                              description="input rate (Hz)", style=_LABEL_STYLE,
                                              layout=_WIDE, continuous_update=False, readout_format=".0f"),
            "weight_scale": widgets.FloatSlider(value=cfg.weight_scale, min=0.0, max=10.0, step=0.1,
                                                description="weight scale (x)", style=_LABEL_STYLE,
                                                layout=_WIDE, continuous_update=False, readout_format=".1f"),
            "inhibition": widgets.FloatSlider(value=cfg.inhibition, min=0.0, max=0.5, step=0.005,
                                              description="inhibition (mV)", style=_LABEL_STYLE,
                                              layout=_WIDE, continuous_update=False, readout_format=".3f"),
            "traced": widgets.Text(value=_format_traced(cfg.traced), description="traced neurons (B)",
                                   placeholder="e.g. 0, 5, 10-12", style=_LABEL_STYLE, layout=_WIDE,
                                   continuous_update=False),
        }
        c["input_rate"].tooltip = "Each input spikes with probability rate x dt / 1000 per step"
        self.controls = c
        for name, w in c.items():
            w.add_class(f"snnlab-{name.replace('_', '-')}")
            w.observe(self._on_control, names="value")

    def _build_run_controls(self) -> None:
        self.run_button = widgets.Button(description="Run", button_style="success", icon="play",
                                         tooltip="Run the network with the current settings")
        self.pause_button = widgets.Button(description="Pause", icon="pause", disabled=True,
                                           tooltip="Pause / resume the run")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop",
                                          disabled=True, tooltip="Stop the run; what was recorded stays")
        self.reset_button = widgets.Button(description="Reset", icon="undo",
                                           tooltip="Stop any run and clear the plots and recorded data")
        for b, name in ((self.run_button, "run"), (self.pause_button, "pause"),
                        (self.stop_button, "stop"), (self.reset_button, "reset")):
            b.add_class(f"snnlab-{name}")
            b.layout = widgets.Layout(width="100px")
        self.run_button.on_click(lambda _: self.run())
        self.pause_button.on_click(lambda _: self.toggle_pause())
        self.stop_button.on_click(lambda _: self.stop())
        self.reset_button.on_click(lambda _: self.reset())
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress",
                                              layout=widgets.Layout(width="320px"))
        self.progress.add_class("snnlab-progress")
        self.status = widgets.HTML()
        self.status.add_class("snnlab-status")
        self.message = widgets.HTML()
        self.message.add_class("snnlab-message")

    def _build_files(self, export_dir: str) -> None:
        self.export_dir = widgets.Text(value=export_dir, description="folder", style={"description_width": "60px"},
                                       layout=widgets.Layout(width="330px"))
        self.export_formats = widgets.SelectMultiple(options=["png", "svg", "pdf"], value=["png", "svg"],
                                                     description="figures", rows=3,
                                                     style={"description_width": "60px"},
                                                     layout=widgets.Layout(width="200px"))
        self.export_button = widgets.Button(description="Export", icon="download",
                                            tooltip="Write figures, recording.npz and config.json to the folder")
        self.config_path = widgets.Text(value="lab-config.json", description="config",
                                        style={"description_width": "60px"}, layout=widgets.Layout(width="330px"))
        self.save_button = widgets.Button(description="Save config", icon="save")
        self.load_button = widgets.Button(description="Load config", icon="folder-open")
        for b in (self.export_button, self.save_button, self.load_button):
            b.layout = widgets.Layout(width="135px")
        self.export_button.add_class("snnlab-export")
        self.export_button.on_click(lambda _: self.export())
        self.save_button.on_click(lambda _: self.save_config())
        self.load_button.on_click(lambda _: self.load_config())
        self.downloads = widgets.HTML()
        self.files_box = widgets.VBox([
            widgets.HTML("<b>Files</b>"), self.export_dir, self.export_formats, self.export_button,
            self.config_path, widgets.HBox([self.save_button, self.load_button]), self.downloads,
        ])

    # -- config from the controls -------------------------------------------------

    def _control_values(self) -> dict:
        values = {name: w.value for name, w in self.controls.items() if name != "traced"}
        values["traced"] = parse_traced(self.controls["traced"].value)
        return values

    def _on_control(self, change) -> None:
        if self._syncing:
            return
        owner = change["owner"]
        name = next(n for n, w in self.controls.items() if w is owner)
        if name == "neuron_model":
            # A new model brings its own default parameters.
            self._set_controls(MODEL_DEFAULTS[change["new"]])
            self._update_model_controls(change["new"])
            if self.apply_controls(changed=name) is not None and change["new"] in MODEL_HINTS:
                self._info(MODEL_HINTS[change["new"]])
            return
        elif name == "n_output":
            traced = [i for i in self.controller.config.traced if i < max(change["new"], 0)]
            self._set_controls({"traced": _format_traced(traced)})
        self.apply_controls(changed=name)

    def _set_controls(self, values: dict) -> None:
        self._syncing = True
        try:
            for name, v in values.items():
                self.controls[name].value = v
        finally:
            self._syncing = False

    def _update_model_controls(self, model: str) -> None:
        used = MODEL_PARAMETERS[model]
        for name in ("thresh", "rest", "reset", "tc_decay", "refrac"):
            self.controls[name].disabled = name not in used

    def apply_controls(self, changed: Optional[str] = None) -> Optional[LabConfig]:
        """Validate every control into a new config; show the outcome. None if bad."""
        try:
            values = self._control_values()
            changes = {k: v for k, v in values.items() if getattr(self.controller.config, k) != v}
            new = self.controller.update(**changes)
        except (ValueError, TypeError) as ex:
            self._error(f"{ex}. The last good settings stay in use.")
            return None
        if "traced" in changes:
            with self._ui_lock:  # the worker may be drawing a frame
                self.plots.set_traced(new.traced)
        pending = self.controller.pending_fields()
        if self.controller.running and changed in LIVE_FIELDS:
            self._info(f"{changed} = {getattr(new, changed):g}: applied to the running network at the next chunk.")
        elif pending:
            self._info(f"{', '.join(pending)} changed: applies at the next run.")
        else:
            self._info("")
        return new

    # -- messages and status ------------------------------------------------------

    def _info(self, text: str) -> None:
        self.message.value = (f"<div style='color:#333; white-space:normal'>{html.escape(text)}</div>"
                              if text else "")

    def _error(self, text: str) -> None:
        self.message.value = (f"<div class='snnlab-error' style='color:#b00020; white-space:normal'>"
                              f"&#9888; {html.escape(text)}</div>")

    def _show_status(self, data: Optional[RunData], frames: Optional[int] = None) -> None:
        state = self.controller.state
        if data is None:
            cfg = self.controller.config
            self.status.value = (f"<b>{state}</b> &middot; t = 0 / {cfg.time:g} ms &middot; "
                                 f"{cfg.n_input} &rarr; {cfg.n_output} {cfg.neuron_model}")
            return
        wall = max(data.wall_time, 1e-9)
        sim_s = data.t / 1000.0
        n_frames = data.frames if frames is None else frames
        per_frame = f" ({1000 * data.frame_time / data.frames:.0f} ms each)" if data.frames else ""
        spikes = data.total_spikes
        self.status.value = (
            f"<b>{state}</b> &middot; run {self.controller.runs} &middot; "
            f"t = {data.t:g} / {data.config.time:g} ms &middot; "
            f"wall {wall:.2f} s &middot; real-time factor {sim_s / wall:.2f}&times; &middot; "
            f"{spikes / wall:,.0f} spikes/s (output, per wall second) &middot; "
            f"{n_frames} frames drawn{per_frame}"
        )

    # -- controller callbacks (worker thread) ---------------------------------------

    def _on_frame(self, data: RunData, final: bool) -> None:
        with self._ui_lock:
            self.plots.update(data)
            self.progress.value = data.steps_done / max(data.n_steps, 1)
            self._show_status(data, frames=data.frames + 1)  # counting this one

    def _on_state(self, state: str, message: str) -> None:
        with self._ui_lock:
            active = state in ACTIVE_STATES
            self.run_button.disabled = active
            self.stop_button.disabled = not active or state == STOPPING
            self.pause_button.disabled = state not in (RUNNING, PAUSED)
            self.pause_button.description = "Resume" if state == PAUSED else "Pause"
            self.pause_button.icon = "play" if state == PAUSED else "pause"
            if state == BUILDING:
                self.progress.value = 0.0
                self.progress.bar_style = "info"
            elif state == DONE:
                self.progress.bar_style = "success"
            elif state in (STOPPED, ERROR):
                self.progress.bar_style = "warning" if state == STOPPED else "danger"
            if state == ERROR:
                self._error(message)
            elif state in (DONE, STOPPED, PAUSED) and message:
                self._info(message)
            data = self.controller.data
            if state == IDLE:
                self.progress.value = 0.0
                self.progress.bar_style = ""
                self.plots.reset(self.controller.config)
                self._show_status(None)
            elif data is not None:
                self._show_status(data)

    # -- commands -------------------------------------------------------------------

    def run(self) -> bool:
        """Start a run (as the Run button). False if one is already going."""
        if self.controller.running:
            self._info("A run is already going: Stop it first (one run at a time).")
            return False
        self.plots.reset(self.controller.config)
        return self.controller.start()

    def toggle_pause(self) -> None:
        if self.controller.state == PAUSED or self.controller.paused:
            self.controller.resume()
        else:
            self.controller.pause()

    def stop(self) -> None:
        self.controller.stop()

    def reset(self) -> None:
        self.controller.reset()
        self._info("Reset: plots and recorded data cleared.")

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the current run to end (for scripts and tests); True if it has."""
        return self.controller.join(timeout)

    @property
    def recording(self):
        """The last run's ``snnlab.recording.Recording`` (None before the first run)."""
        return self.controller.recording

    def export(self) -> list:
        """Write the last run's figures, data and config (as the Export button)."""
        from snnlab import export

        rec = self.recording
        if rec is None or rec.steps == 0:
            self._error("Nothing to export yet: run the network first.")
            return []
        try:
            formats = list(self.export_formats.value)
            paths = export.export_recording(rec, self.export_dir.value, formats, figures=bool(formats))
        except (OSError, ValueError, TypeError) as ex:
            self._error(f"Export failed: {ex}")
            return []
        self.downloads.value = export.download_links(paths).value
        self._info(f"Exported {len(paths)} files to {Path(self.export_dir.value).resolve()}"
                   + ("" if rec.completed else f" (the run stopped at {rec.duration:g} ms)"))
        return paths

    def save_config(self) -> Optional[Path]:
        """Write the current config as JSON to the config path."""
        path = Path(self.config_path.value)
        try:
            path.write_text(self.controller.config.to_json(), encoding="utf-8")
        except OSError as ex:
            self._error(f"Could not save the config to {path}: {ex}")
            return None
        self._info(f"Config saved to {path.resolve()}")
        return path

    def load_config(self) -> Optional[LabConfig]:
        """Read a config JSON from the config path into the controls."""
        path = Path(self.config_path.value)
        try:
            cfg = LabConfig.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError) as ex:
            self._error(f"Could not load {path}: {ex}")
            return None
        values = cfg.to_dict()
        values["traced"] = _format_traced(cfg.traced)
        self._set_controls(values)
        self._update_model_controls(cfg.neuron_model)
        new = self.apply_controls()
        if new is not None:
            self._info(f"Config loaded from {path.resolve()}")
        return new
