"""The app's Sweep action: choose what to vary, start a sweep, watch it fill in.

``SweepPanel(lab)`` lists the lab's numeric parameters (its live parameter
records: the experiment's settings and those generated from its network),
and for one or two of them a range (from, to, points). **Start sweep** makes
a grid (``snnlab.sweep.grid``) of the lab's current experiment at its current
values (``SweepView.for_lab``), runs it with ``snnlab.sweep`` in the
background (in this kernel, or on a local Dask cluster), and shows the
``SweepView`` under the lab's views: it fills in as points finish, and a
click on a cell loads that point into the lab and runs it.

A bad choice (an empty range, a value outside the parameter's range, the
same parameter twice) is a message in the panel; nothing starts.
"""

from __future__ import annotations

import math
from typing import Optional

import ipywidgets as widgets
import numpy as np

__all__ = ["SweepPanel", "default_range"]

_NONE = "(none)"

#: Where the sweep runs: label -> ``Sweep.run(scheduler=...)``.
WHERE = {"in this kernel": "inline", "local Dask workers": "local"}

#: Most runs one sweep started from the panel may have.
MAX_RUNS = 2000


def default_range(value: float, low: Optional[float], high: Optional[float]) -> tuple:
    """A first range around ``value``: half to one and a half times it, inside ``[low, high]``."""
    value = float(value)
    lo, hi = (0.5 * value, 1.5 * value) if value != 0 else (0.0, 1.0)
    lo, hi = min(lo, hi), max(lo, hi)
    if low is not None:
        lo = max(lo, float(low))
    if high is not None:
        hi = min(hi, float(high))
    if not hi > lo:  # a value at its bound: the whole allowed range, if finite
        lo = float(low) if low is not None else lo
        hi = float(high) if high is not None and math.isfinite(high) else lo + 1.0
    return lo, hi


class SweepPanel:
    """Choose one or two parameters and their ranges; start a sweep of the lab.

    Parameters
    ----------
    lab : snnlab.lab.Lab

    Attributes
    ----------
    widget : ipywidgets.VBox
    view : snnlab.lab.sweep_view.SweepView or None
        The last sweep started.
    """

    def __init__(self, lab) -> None:
        self.lab = lab
        self.view = None
        style = {"description_width": "70px"}
        self.pick = [widgets.Dropdown(description=d, style=style, layout=widgets.Layout(width="260px"))
                     for d in ("vary", "and")]
        self.low = [widgets.FloatText(description="from", style={"description_width": "35px"},
                                      layout=widgets.Layout(width="130px")) for _ in range(2)]
        self.high = [widgets.FloatText(description="to", style={"description_width": "20px"},
                                       layout=widgets.Layout(width="115px")) for _ in range(2)]
        self.points = [widgets.BoundedIntText(value=v, min=1, max=100, description="points",
                                              style={"description_width": "45px"},
                                              layout=widgets.Layout(width="110px")) for v in (5, 4)]
        for i in range(2):
            self.pick[i].observe(lambda _, i=i: self._on_pick(i), names="value")
        self.time = widgets.FloatText(description="each run (ms)", style={"description_width": "90px"},
                                      layout=widgets.Layout(width="190px"))
        self.seeds = widgets.BoundedIntText(value=1, min=1, max=100, description="seeds",
                                            style={"description_width": "45px"}, layout=widgets.Layout(width="110px"))
        self.where = widgets.Dropdown(options=list(WHERE), value="in this kernel", description="run",
                                      style={"description_width": "30px"}, layout=widgets.Layout(width="210px"))
        self.start_button = widgets.Button(description="Start sweep", button_style="success", icon="play",
                                           layout=widgets.Layout(width="130px"))
        self.start_button.add_class("snnlab-sweep-start")
        self.start_button.on_click(lambda _: self.start())
        self.message = widgets.HTML()
        self.message.add_class("snnlab-sweep-message")
        rows = [widgets.HBox([self.pick[i], self.low[i], self.high[i], self.points[i]]) for i in range(2)]
        self.widget = widgets.VBox([
            widgets.HTML("<b>Sweep</b> <i>(a grid of runs of this experiment at its current values; "
                         "click a cell of the result to load that point here)</i>"),
            *rows,
            widgets.HBox([self.time, self.seeds, self.where, self.start_button]),
            self.message,
        ], layout=widgets.Layout(border="1px solid #ddd", padding="4px", margin="6px 0"))
        self.widget.add_class("snnlab-sweep-panel")
        self.refresh()

    # -- choices ---------------------------------------------------------------------

    def parameters(self) -> dict:
        """The numeric parameters a sweep can vary: path -> ``Parameter`` (the lab's records)."""
        return {path: p for path, p in self.lab.controller.parameters().items()
                if p.kind in ("float", "int") and path != "seed"}

    def refresh(self) -> None:
        """List the current experiment's parameters (after a switch of experiment)."""
        params = self.parameters()
        names = list(params)
        first = names[0] if names else None
        for i, dd in enumerate(self.pick):
            options = names if i == 0 else [_NONE] + names
            if list(dd.options) == options:
                continue  # the same experiment's parameters: the user's choices and ranges stay
            keep = dd.value if dd.value in options else None
            dd.options = options
            dd.value = keep if keep is not None else (first if i == 0 else _NONE)
            self._on_pick(i)
        if not self.time.value or self.time.value <= 0:
            t = self.lab.duration.value
            self.time.value = float(t) if t and math.isfinite(t) and t > 0 else 1000.0

    def _on_pick(self, i: int) -> None:
        path = self.pick[i].value
        p = self.parameters().get(path)
        if p is None:
            return
        self.low[i].value, self.high[i].value = default_range(p.value, p.low, p.high)

    def design(self):
        """The grid of the choices (``snnlab.sweep.Design``); ``ValueError`` naming what is wrong."""
        from snnlab.sweep import grid

        params = self.parameters()
        axes = {}
        for i in range(2):
            path = self.pick[i].value
            if path in (None, _NONE):
                if i == 0:
                    raise ValueError("sweep: no parameter chosen; expected one of the experiment's parameters")
                continue
            if path in axes:
                raise ValueError(f"sweep: {path!r} is chosen twice; expected two different parameters")
            p = params.get(path)
            if p is None:
                raise ValueError(f"sweep: {path!r} is not a parameter of this experiment")
            lo, hi, n = float(self.low[i].value), float(self.high[i].value), int(self.points[i].value)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"sweep {path}: from {lo!r} to {hi!r}; expected finite numbers")
            if n < 1 or (n == 1 and lo != hi):
                raise ValueError(f"sweep {path}: {n} point(s) from {lo:g} to {hi:g}; expected 2 or more "
                                 "(or 1 with from = to)")
            values = np.linspace(lo, hi, n)
            if p.kind == "int":
                values = np.unique(np.round(values))
            for v in (values[0], values[-1]):
                p.check(int(v) if p.kind == "int" else float(v))  # names the parameter and its range
            axes[path] = values.tolist()
        return grid(**axes)

    # -- running ---------------------------------------------------------------------

    def start(self):
        """Start a sweep of the choices; returns its ``SweepView``, or None (the message says why)."""
        from snnlab.lab.sweep_view import SweepView

        if self.view is not None and self.view._thread is not None and self.view._thread.is_alive():
            self._error("A sweep is running: stop it first (its Stop button).")
            return None
        try:
            design = self.design()
            time = float(self.time.value)
            if not (math.isfinite(time) and time > 0):
                raise ValueError(f"sweep: each run {time!r} ms; expected a time > 0 ms")
            runs = len(design) * int(self.seeds.value)
            if runs > MAX_RUNS:
                raise ValueError(f"sweep: {runs} runs; expected at most {MAX_RUNS} from the lab "
                                 "(use snnlab.sweep in a script for more)")
            view = SweepView.for_lab(self.lab, design, time=time, seeds=int(self.seeds.value),
                                     run_options={"scheduler": WHERE[self.where.value]})
        except (ValueError, TypeError) as ex:
            self._error(str(ex))
            return None
        self.view = view
        self.lab.place_sweep(view)
        view.start()
        self.message.value = (f"<span style='color:#333'>Sweep of {len(design)} points x {self.seeds.value} "
                              f"seed(s) started ({self.where.value}).</span>")
        return view

    def _error(self, text: str) -> None:
        import html

        self.message.value = f"<span class='snnlab-error' style='color:#b00020'>&#9888; {html.escape(text)}</span>"
