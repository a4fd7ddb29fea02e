"""The lab's Sweep view without a browser: marks filled from rows, clicks load the point."""

import math

import numpy as np
import pytest

pytest.importorskip("bqplot")

from snnlab.config import LabConfig
from snnlab.lab.sweep_view import SweepView
from snnlab.sweep import Sweep, grid, latin_hypercube
from snnlab.sweep.aggregate import curve, heatmap

from .helpers import poisson_target

SMALL = LabConfig(n_input=20, n_output=30, time=60.0, input_rate=150.0, weight_scale=3.0)


def click(mark, **data):
    """What bqplot's page sends on a click of a cell or point (an element_click message)."""
    mark._handle_custom_msg({"event": "element_click", "data": data}, [])


def test_heatmap_fills_in_as_rows_arrive_and_a_click_loads_the_point():
    sweep = Sweep(SMALL, grid(input_rate=[50.0, 150.0], weight_scale=[1.0, 2.0, 4.0]), seeds=2, seed=1)
    chosen = []
    view = SweepView(sweep, on_select=lambda exp, values, row: chosen.append((exp, values, row)),
                     run_options=dict(scheduler="inline"), redraw_interval=0.0)
    assert view.mode == "heatmap"
    assert np.isnan(view.grid.color).all()  # nothing yet
    assert view.start()
    assert view.wait(300)
    assert view.error is None
    view.metric_pick.value = "rate_B"
    table = view.table
    assert len(table) == 12
    xs, ys = [50.0, 150.0], [1.0, 2.0, 4.0]
    assert view.grid.color.shape == (3, 2)
    np.testing.assert_allclose(view.grid.color, heatmap(table, "input_rate", "weight_scale", "rate_B", xs, ys), rtol=1e-6)
    # Cell (row 2: weight_scale 4, column 1: input_rate 150): what a click in the page sends.
    click(view.grid, rowNum=2, columnNum=1)
    config, values, row = chosen[-1]
    assert values == {} and isinstance(config, LabConfig)
    assert (config.input_rate, config.weight_scale, config.seed) == (150.0, 4.0, int(row["seed"]))
    assert row["replicate"] == 0
    assert view.status.value.startswith("12 of 12 runs")


def test_one_parameter_draws_mean_and_error_bars():
    sweep = Sweep(poisson_target(), grid(rate=[10.0, 40.0, 80.0]), seeds=3)
    view = SweepView(sweep, y="(none)", metric="rate_P", redraw_interval=0.0)
    assert view.mode == "curve"
    rows = sweep.run(scheduler="inline").to_dict("records")
    for r in rows[:7]:  # two points complete, the third has one of three seeds
        view.add_row(r)
    mean, std, count = curve(view.table, "rate", "rate_P", [10.0, 40.0, 80.0])
    assert count.tolist() == [3, 3, 1]
    np.testing.assert_allclose(view.mean_line.y, mean, rtol=1e-6)
    np.testing.assert_allclose(view.error_bars.y[:, 1] - view.error_bars.y[:, 0], 2 * std, rtol=1e-5)
    assert std[2] == 0.0 and std[0] > 0
    assert view.figure.marks == [view.error_bars, view.mean_line, view.scatter]


def test_a_design_that_is_not_a_grid_is_a_scatter():
    sweep = Sweep(poisson_target(), latin_hypercube(6, seed=0, rate=(5, 100), n=(5, 50)))
    view = SweepView(sweep, metric="rate_P", redraw_interval=0.0)
    for r in sweep.run(scheduler="inline").to_dict("records"):
        view.add_row(r)
    assert view.mode == "scatter" and len(view.scatter.x) == 6
    # FunctionTargets cannot be loaded into the lab: the click says so.
    click(view.scatter, index=0)
    assert "cannot be loaded into the lab" in view.status.value


def test_a_cell_without_results_says_so_and_bad_picks_are_refused():
    sweep = Sweep(poisson_target(), grid(rate=[10.0, 20.0], n=[5.0, 6.0]))
    view = SweepView(sweep, redraw_interval=0.0)
    assert view.select({"rate": 10.0, "n": 5.0}) is None
    assert "no finished run at rate=10, n=5" in view.status.value
    with pytest.raises(ValueError, match="x='nope': not a varied parameter"):
        SweepView(sweep, x="nope")
    with pytest.raises(ValueError, match="x and y are both 'rate'"):
        SweepView(sweep, x="rate", y="rate")


def test_failed_rows_are_left_out_and_counted():
    from .helpers import failing_target

    sweep = Sweep(failing_target(), grid(rate=[5.0, 13.0]))
    view = SweepView(sweep, metric="rate_P", redraw_interval=0.0)
    for r in sweep.run(scheduler="inline").to_dict("records"):
        view.add_row(r)
    assert "2 of 2 runs, 1 failed" in view.status.value
    assert len(view.mean_line.y) == 1 and math.isfinite(view.mean_line.y[0])


def test_the_heatmap_follows_a_change_of_grid_shape():
    # 4 x 3 grid: the marks change shape from the initial placeholder (and between picks).
    sweep = Sweep(poisson_target(), grid(rate=[10.0, 20.0, 30.0, 40.0], n=[5.0, 6.0, 7.0]))
    view = SweepView(sweep, x="n", y="rate", metric="rate_P", redraw_interval=0.0)
    for r in sweep.run(scheduler="inline").to_dict("records"):
        view.add_row(r)
    assert view.grid.color.shape == (4, 3)
    view.x_pick.value, view.y_pick.value = "rate", "n"
    assert view.grid.color.shape == (3, 4)
    one = Sweep(poisson_target(), grid(rate=[10.0, 20.0], n=[5.0]))
    assert SweepView(one, metric="rate_P").mode == "scatter"  # one value on an axis: no heatmap


def test_a_sweep_of_the_labs_experiment_loads_a_clicked_point_into_the_lab():
    from snnlab.lab import Lab

    lab = Lab(SMALL)
    lab.controller.set("inhibition", 0.05)  # a value set in the lab carries into the sweep
    view = SweepView.for_lab(lab, grid(input_rate=[100.0, 250.0], weight_scale=[2.0, 5.0]), seed=3,
                             run_options=dict(scheduler="inline"))
    assert view.sweep.target.time == SMALL.time
    assert view.start() and view.wait(300) and view.error is None
    view.redraw()
    click(view.grid, rowNum=1, columnNum=0)  # weight_scale 5, input_rate 100
    assert lab.wait(60)
    cfg = lab.controller.config
    row = view.table[(view.table["input_rate"] == 100.0) & (view.table["weight_scale"] == 5.0)].iloc[0]
    assert (cfg.input_rate, cfg.weight_scale, cfg.inhibition) == (100.0, 5.0, 0.05)
    assert cfg.seed == int(row["seed"])
    # The lab's run of the point is the sweep's run of it.
    rec = lab.recording
    assert rec.spikes("B").mean() * 1000.0 / SMALL.dt == pytest.approx(row["rate_B"])
