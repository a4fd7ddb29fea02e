"""The lab's Sweep view: watch a sweep's heatmap (or curve) fill in, click a cell to load that point.

``SweepView(sweep, on_select=...)`` shows

- two parameters picked: a heatmap of the chosen metric (mean over seeds) over
  the two parameters' grid values (``bqplot.GridHeatMap``), or, for a random
  or Latin-hypercube design, a scatter of the points coloured by the metric;
- one parameter picked: the metric's mean against it with error bars (the
  standard deviation over the seeds and any other varied parameter).

It fills in as rows arrive: ``start()`` runs the sweep in a thread
(``Sweep.run(on_result=...)``) and each row redraws the plot (throttled);
``stop()`` keeps what is done. Clicking a cell (or a point) calls
``on_select(experiment, values, row)`` with what ``Lab.load_experiment``
takes (``target.experiment_for``); pass ``lab=`` to load the point into that
lab and run it (``lab.load_experiment(experiment, values); lab.run(time)``).

The aggregation is ``snnlab.sweep.aggregate`` (no widgets, tested apart).
Marks are made once and updated in place.
"""

from __future__ import annotations

import threading
import time as _time
from typing import Callable, Optional

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from snnlab.sweep.aggregate import curve, heatmap, metric_columns

__all__ = ["SweepView"]

_NONE = "(none)"


class SweepView:
    """A live view of a sweep's results (see the module docstring).

    Parameters
    ----------
    sweep : snnlab.sweep.Sweep
    on_select : callable(experiment, values, row), optional
        Called when a cell or point is clicked.
    lab : snnlab.lab.Lab, optional
        Load the clicked point into this lab and run it.
    x, y : str, optional
        The parameters shown first (default: the design's first two).
    metric : str, optional
        The metric shown first (default: the first ``rate_`` column).
    run_options : dict, optional
        Keywords of ``Sweep.run`` for ``start()`` (e.g. ``scheduler="inline"``,
        ``workers=2``, ``client=...``).
    redraw_interval : float
        Least seconds between two redraws while rows arrive.
    """

    def __init__(
        self,
        sweep,
        *,
        on_select: Optional[Callable] = None,
        lab=None,
        x: Optional[str] = None,
        y: Optional[str] = None,
        metric: Optional[str] = None,
        run_options: Optional[dict] = None,
        redraw_interval: float = 0.25,
    ) -> None:
        import pandas as pd

        self.sweep = sweep
        self.on_select = on_select
        self.lab = lab
        self.run_options = dict(run_options or {})
        self.redraw_interval = float(redraw_interval)
        self.names = list(sweep.design.names)
        self._rows: list = []
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._last_draw = 0.0
        self.table = pd.DataFrame()
        self.error: Optional[str] = None
        store = sweep.store()
        if store is not None:
            done = store.table()
            if not done.empty:
                self._rows = done.to_dict("records")
                self.table = done

        x = x or self.names[0]
        if y is None:
            y = self.names[1] if len(self.names) > 1 else _NONE
        for what, name in (("x", x), ("y", y)):
            if name != _NONE and name not in self.names:
                raise ValueError(f"SweepView {what}={name!r}: not a varied parameter; expected one of {self.names}")
        if x == y:
            raise ValueError(f"SweepView: x and y are both {x!r}; expected two different parameters")
        self.x_pick = widgets.Dropdown(options=self.names, value=x, description="x")
        self.y_pick = widgets.Dropdown(options=[_NONE] + self.names, value=y, description="y")
        self.metric_pick = widgets.Dropdown(options=self._metric_options(metric), description="metric")
        if metric is not None:
            self.metric_pick.value = metric
        for w in (self.x_pick, self.y_pick, self.metric_pick):
            w.layout = widgets.Layout(width="230px")
            w.observe(lambda _: self.redraw(), names="value")
        self.run_button = widgets.Button(description="Run sweep", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="200px"))
        self.status = widgets.HTML()
        self._build_figure()
        self.widget = widgets.VBox([
            widgets.HBox([self.x_pick, self.y_pick, self.metric_pick]),
            widgets.HBox([self.run_button, self.stop_button, self.progress, self.status]),
            self.figure,
        ])
        self.redraw()

    @classmethod
    def for_lab(cls, lab, design, *, time: Optional[float] = None, run_options: Optional[dict] = None,
                x=None, y=None, metric=None, **sweep_options) -> "SweepView":
        """A view of a sweep of ``lab``'s current experiment, at its current parameter values.

        Parameters
        ----------
        lab : snnlab.lab.Lab
        design : Design or dict
            What varies, by the lab's parameter paths (``"g"``, ``"ext.rate"``,
            ``"input_rate"``...); see ``lab.controller.parameters()``.
        time : float, optional
            Simulated time of each point, ms (default: the lab's duration).
        run_options : dict, optional
            Keywords of ``Sweep.run`` (``workers=2``, ``scheduler=...``).
        **sweep_options
            Keywords of ``Sweep`` (``seeds``, ``seed``, ``out``, ``metrics``...).

        Clicking a cell loads the point into ``lab`` and runs it.
        """
        from snnlab.sweep import Sweep
        from snnlab.sweep.targets import ExperimentTarget

        if time is None:
            time = None if lab.until_stop.value else float(lab.duration.value)
        current = {p.path: p.value for p in lab.controller.parameters().values()
                   if p.kind in ("float", "int") and p.path != "seed"}
        target = ExperimentTarget(lab.experiment, time=time, values=current)
        if metric is None:  # the rate of the last layer (the output, often) until the user picks
            net = lab.controller.preview_network()
            metric = f"rate_{list(net.layers)[-1]}" if net is not None and net.layers else None
        return cls(Sweep(target, design, **sweep_options), lab=lab, run_options=run_options, x=x, y=y, metric=metric)

    # -- figure -------------------------------------------------------------------

    def _build_figure(self) -> None:
        # A set range and tick format from the start: with the empty grid's NaN domain
        # the page's colour axis made the format ".undefinedg", refused the state, and
        # every cell stayed one colour.
        self.color_scale = bq.ColorScale(scheme="viridis", min=0.0, max=1.0)
        self.x_scale, self.y_scale = bq.OrdinalScale(), bq.OrdinalScale()
        self.grid = bq.GridHeatMap(
            row=np.zeros(2, np.float32), column=np.arange(2, dtype=np.float32), color=np.full((2, 2), np.nan, np.float32),
            scales={"row": self.y_scale, "column": self.x_scale, "color": self.color_scale},
            interactions={"click": "select"}, selected_style={"stroke": "red", "stroke-width": 3},
            anchor_style={"stroke": "red", "stroke-width": 3}, null_color="#eeeeee",
        )
        self.lx, self.ly = bq.LinearScale(), bq.LinearScale()
        self.scatter = bq.Scatter(
            x=np.zeros(0, np.float32), y=np.zeros(0, np.float32), color=np.zeros(0, np.float32),
            scales={"x": self.lx, "y": self.ly, "color": self.color_scale},
            interactions={"click": "select"}, selected_style={"stroke": "red", "stroke-width": 3},
            default_size=48, stroke="black",
        )
        self.mean_line = bq.Lines(x=np.zeros(0, np.float32), y=np.zeros(0, np.float32),
                                  scales={"x": self.lx, "y": self.ly}, colors=["#1f77b4"], marker="circle")
        self.error_bars = bq.Lines(x=np.zeros((1, 2), np.float32), y=np.zeros((1, 2), np.float32),
                                   scales={"x": self.lx, "y": self.ly}, colors=["#1f77b4"], opacities=[0.6])
        # Clicks come as element_click messages: in the page bqplot 0.13's GridHeatMap never
        # updates ``selected`` on a click (seen in Chromium), but it sends the cell clicked.
        self.grid.on_element_click(self._on_grid_click)
        self.scatter.on_element_click(self._on_scatter_click)
        self.axis_x = bq.Axis(scale=self.x_scale, label="x")
        self.axis_y = bq.Axis(scale=self.y_scale, side="left", label="y")
        self.axis_c = bq.ColorAxis(scale=self.color_scale, side="right", tick_format=".3g")
        self.figure = bq.Figure(marks=[self.grid], axes=[self.axis_x, self.axis_y, self.axis_c],
                                fig_margin=dict(top=20, bottom=50, left=70, right=90),
                                layout=widgets.Layout(width="640px", height="440px"))

    def _metric_options(self, wanted=None) -> list:
        names = metric_columns(self.table, self.names) if not self.table.empty else []
        if not names:
            layers = ["B"]
            names = [f"{m}_{layer}" for layer in layers for m in ("rate", "cv", "fano", "chi")]
        if wanted is not None and wanted not in names and self.table.empty:
            names = [wanted] + names  # until the first rows say which metrics there are
        rates = [n for n in names if n.startswith("rate_")]
        return sorted(names, key=lambda n: (n not in rates, names.index(n)))

    @property
    def mode(self) -> str:
        """``"heatmap"`` (two grid parameters), ``"scatter"`` (two, not a grid) or ``"curve"`` (one)."""
        if self.y_pick.value == _NONE or self.y_pick.value == self.x_pick.value:
            return "curve"
        axes = self.sweep.design.axes
        x, y = self.x_pick.value, self.y_pick.value
        # A heatmap needs a grid with at least two values on each axis.
        if x in axes and y in axes and len(axes[x]) > 1 and len(axes[y]) > 1:
            return "heatmap"
        return "scatter"

    def _values(self, name: str) -> list:
        axes = self.sweep.design.axes
        if name in axes:
            return [float(v) for v in axes[name]]
        col = self.sweep.design.names.index(name)
        return sorted(set(self.sweep.design.values[:, col].tolist()))

    def redraw(self) -> None:
        """Draw the current picks from the rows so far (in place)."""
        import pandas as pd

        with self._lock:
            rows = list(self._rows)
        self.table = pd.DataFrame(rows)
        options = self._metric_options(self.metric_pick.value)
        if list(self.metric_pick.options) != options:
            keep = self.metric_pick.value
            self.metric_pick.options = options
            self.metric_pick.value = keep if keep in options else options[0]
        x, y, metric, mode = self.x_pick.value, self.y_pick.value, self.metric_pick.value, self.mode
        done = len(rows)
        self.progress.value = done / max(1, self.sweep.n_runs)
        failed = int(self.table["error"].notna().sum()) if "error" in self.table else 0
        self.status.value = f"{done} of {self.sweep.n_runs} runs" + (f", {failed} failed" if failed else "") + (
            f" &mdash; {self.error}" if self.error else "")
        if mode == "heatmap":
            xs, ys = self._values(x), self._values(y)
            z = heatmap(self.table, x, y, metric, xs, ys) if not self.table.empty else np.full((len(ys), len(xs)), np.nan)
            # Row, column and colour change shape together: validate them together.
            with self.grid.hold_sync(), self.grid.hold_trait_notifications():
                self.grid.row = np.asarray(ys, np.float64)
                self.grid.column = np.asarray(xs, np.float64)
                self.grid.color = z.astype(np.float64)
            self._set_color_domain(z)
            self.axis_x.scale, self.axis_y.scale = self.grid.scales["column"], self.grid.scales["row"]
            self.axis_x.tick_format, self.axis_y.tick_format = ".3g", ".3g"
            marks = [self.grid]
        elif mode == "scatter":
            t = self.table
            if t.empty or metric not in t:
                px = py = c = np.zeros(0)
            else:
                g = t.groupby(["point"]).agg({x: "first", y: "first", metric: "mean"})
                px, py, c = g[x].values, g[y].values, g[metric].values
            with self.scatter.hold_sync():
                self.scatter.x, self.scatter.y = px.astype(np.float32), py.astype(np.float32)
                self.scatter.color = c.astype(np.float32)
            self._set_color_domain(c)
            self.axis_x.scale, self.axis_y.scale = self.lx, self.ly
            marks = [self.scatter]
        else:
            xs = self._values(x)
            mean, std, _ = curve(self.table, x, metric, xs) if not self.table.empty else (np.full(len(xs), np.nan),) * 2 + (None,)
            xs_a = np.asarray(xs, np.float32)
            ok = np.isfinite(mean)
            with self.mean_line.hold_sync(), self.error_bars.hold_sync(), self.scatter.hold_sync():
                self.mean_line.x, self.mean_line.y = xs_a[ok], mean[ok].astype(np.float32)
                bars_x = np.stack([xs_a[ok], xs_a[ok]], 1) if ok.any() else np.zeros((1, 2), np.float32)
                bars_y = (np.stack([mean[ok] - std[ok], mean[ok] + std[ok]], 1).astype(np.float32)
                          if ok.any() else np.zeros((1, 2), np.float32))
                self.error_bars.x, self.error_bars.y = bars_x, bars_y
                # Clickable points over the curve.
                self.scatter.x, self.scatter.y = xs_a[ok], mean[ok].astype(np.float32)
                self.scatter.color = mean[ok].astype(np.float32)
            self.axis_x.scale, self.axis_y.scale = self.lx, self.ly
            marks = [self.error_bars, self.mean_line, self.scatter]
        self.axis_x.label = x
        self.axis_y.label = metric if mode == "curve" else y
        self.axis_c.visible = mode != "curve"
        if list(self.figure.marks) != marks:
            self.figure.marks = marks
        self._last_draw = _time.perf_counter()

    def _set_color_domain(self, values) -> None:
        """The colour scale's range from the finite values: the page kept the domain of
        the first, all-empty draw (every cell black) when left to find it."""
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return
        lo, hi = float(v.min()), float(v.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        if (self.color_scale.min, self.color_scale.max) != (lo, hi):
            with self.color_scale.hold_sync():
                self.color_scale.min, self.color_scale.max = lo, hi

    # -- rows ---------------------------------------------------------------------

    def add_row(self, row: dict) -> None:
        """Take one result row (``Sweep.run``'s ``on_result``) and redraw if it is time."""
        with self._lock:
            self._rows.append(dict(row))
        if _time.perf_counter() - self._last_draw >= self.redraw_interval:
            self.redraw()

    def start(self) -> bool:
        """Run the sweep in a thread (resuming its folder); False if one is running."""
        if self._thread is not None and self._thread.is_alive():
            return False
        if self.sweep.out is None:  # in memory only: a new run starts from nothing
            with self._lock:
                self._rows = []
        self.error = None
        self.run_button.disabled, self.stop_button.disabled = True, False

        def work():
            try:
                self.sweep.run(on_result=self.add_row, **self.run_options)
            except Exception as ex:  # shown in the view, never a traceback in the page
                self.error = f"sweep failed: {type(ex).__name__}: {ex}"
            finally:
                self.run_button.disabled, self.stop_button.disabled = False, True
                self.redraw()

        self._thread = threading.Thread(target=work, name="snnlab-sweep-view", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop after the runs in flight; what is done stays."""
        self.sweep.stop()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for ``start()``'s sweep to end; True if it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- clicks ---------------------------------------------------------------------

    def _row_for(self, values: dict) -> Optional[dict]:
        """The first finished replicate-0 row (else any) at these parameter values."""
        t = self.table
        if t.empty:
            return None
        mask = np.ones(len(t), bool)
        for k, v in values.items():
            mask &= np.isclose(t[k].values.astype(float), float(v))
        hits = t[mask]
        if hits.empty:
            return None
        first = hits[hits["replicate"] == 0] if (hits["replicate"] == 0).any() else hits
        return first.iloc[0].to_dict()

    def select(self, values: dict) -> Optional[dict]:
        """Load the point at ``values`` (parameter -> value): calls ``on_select`` and the lab.

        Returns the row it loaded, or None (no finished run there yet; the
        status says so).
        """
        row = self._row_for(values)
        if row is None:
            self.status.value = "no finished run at " + ", ".join(f"{k}={v:g}" for k, v in values.items())
            return None
        params = {name: float(row[name]) for name in self.names}
        target = self.sweep.target
        if not hasattr(target, "experiment_for"):
            self.status.value = f"{type(target).__name__} cannot be loaded into the lab"
            return row
        experiment, lab_values = target.experiment_for(params, int(row["seed"]))
        if self.on_select is not None:
            self.on_select(experiment, lab_values, row)
        if self.lab is not None:
            try:
                self.lab.load_experiment(experiment, lab_values)
                self.lab.run(getattr(target, "time", None) or getattr(experiment, "time", None))
            except (ValueError, TypeError) as ex:
                self.status.value = f"cannot load this point: {ex}"
        return row

    def _on_grid_click(self, mark, event) -> None:
        data = (event or {}).get("data") or {}
        if "rowNum" not in data or "columnNum" not in data:
            return
        r, c = int(data["rowNum"]), int(data["columnNum"])
        ys, xs = self._values(self.y_pick.value), self._values(self.x_pick.value)
        if 0 <= r < len(ys) and 0 <= c < len(xs):
            self.select({self.x_pick.value: xs[c], self.y_pick.value: ys[r]})

    def _on_scatter_click(self, mark, event) -> None:
        data = (event or {}).get("data") or {}
        if "index" not in data:
            return
        i = int(data["index"])
        if not 0 <= i < len(self.scatter.x):
            return
        x = float(self.scatter.x[i])
        values = {self.x_pick.value: x}
        if self.mode == "scatter":
            values[self.y_pick.value] = float(self.scatter.y[i])
        self.select(values)

    def _ipython_display_(self):  # pragma: no cover - display in a notebook
        from IPython.display import display

        display(self.widget)
