"""Running sweeps in this process: rows, seeds, failing points, bad specifications, resume."""

import math

import numpy as np
import pandas as pd
import pytest

from snnlab.config import LabConfig
from snnlab.lab.controller import run_config
from snnlab.sweep import LabConfigTarget, Sweep, SweepSpecError, grid, latin_hypercube, load_results
from snnlab.sweep.metrics import point_metrics

from .helpers import failing_target, poisson_run, poisson_target

SMALL = LabConfig(n_input=30, n_output=40, time=100.0, input_rate=150.0, weight_scale=3.0)


def test_rows_are_tidy_and_metrics_match_the_recording(tmp_path):
    sweep = Sweep(poisson_target(), grid(rate=[10, 40], n=[5, 10]), seeds=2, seed=3, out=tmp_path / "s")
    table = sweep.run(scheduler="inline")
    assert len(table) == 8
    assert table[["point", "replicate"]].values.tolist() == [[p, r] for p in range(4) for r in range(2)]
    assert table["error"].isna().all()
    for _, row in table.iterrows():
        rec = poisson_run(seed=int(row["seed"]), rate=row["rate"], n=row["n"])
        expected = point_metrics(rec)
        for k, v in expected.items():
            assert row[k] == pytest.approx(v, nan_ok=True)
    # Written as Parquet, and readable back.
    on_disk = pd.read_parquet(tmp_path / "s" / "results.parquet")
    pd.testing.assert_frame_equal(on_disk, table)
    pd.testing.assert_frame_equal(load_results(tmp_path / "s"), table)


def test_a_point_gives_the_lab_run_of_its_config():
    target = LabConfigTarget(SMALL)
    sweep = Sweep(target, grid(input_rate=[100.0, 200.0]), seeds=2, seed=11)
    spikes = {}
    table = sweep.run(scheduler="inline", on_result=None)
    for _, row in table.iterrows():
        cfg = target.config_for({"input_rate": row["input_rate"]}, int(row["seed"]))
        rec = run_config(cfg)  # the lab's own loop
        assert row["rate_B"] == pytest.approx(rec.spikes("B").mean() * 1000.0)
        mine = target.run({"input_rate": row["input_rate"]}, int(row["seed"]))
        for layer in ("A", "B"):
            np.testing.assert_array_equal(mine.spikes(layer), rec.spikes(layer))
        np.testing.assert_array_equal(mine.voltages("B"), rec.voltages("B"))
        spikes[(row["point"], row["replicate"])] = rec.spikes("B")
    # Replicates really differ (their own seeds), and the seeds are the design's.
    assert len(set(table["seed"])) == 4
    assert not np.array_equal(spikes[(0, 0)], spikes[(0, 1)])
    assert list(table["seed"]) == [t.seed for t in sweep.tasks()]


def test_a_failing_point_records_its_error_and_the_sweep_goes_on(tmp_path):
    sweep = Sweep(failing_target(), grid(rate=[5, 13, 20]), out=tmp_path / "f")
    table = sweep.run(scheduler="inline")
    assert len(table) == 3
    bad = table[table["rate"] == 13].iloc[0]
    assert bad["error"] == "ZeroDivisionError: rate 13.0 is unlucky"
    assert math.isnan(bad["rate_P"])
    assert table[table["rate"] != 13]["error"].isna().all()
    assert (table[table["rate"] != 13]["rate_P"] > 0).all()


def test_user_metric_receives_the_recording():
    seen = []

    def total(rec):
        seen.append(rec)
        return int(rec["spikes"]["P"].sum())

    table = Sweep(poisson_target(), grid(rate=[50]), metrics={"total": total}).run(scheduler="inline")
    assert table["total"].iloc[0] == seen[0]["spikes"]["P"].sum() > 0


def test_resume_skips_finished_runs_and_reruns_errors_on_request(tmp_path):
    calls = []

    def counted(*, seed, rate):
        calls.append(rate)
        if rate == 13 and len(calls) <= 6:  # fails on the first pass only
            raise RuntimeError("flaky")
        return poisson_run(seed=seed, rate=rate)

    from snnlab.sweep import FunctionTarget

    target = FunctionTarget(counted, {"rate": (0, 100)}, name="counted")
    out = tmp_path / "r"
    first = Sweep(target, grid(rate=[5, 13, 20]), seeds=2, out=out).run(scheduler="inline")
    assert len(calls) == 6 and first["error"].notna().sum() == 2
    again = Sweep(target, grid(rate=[5, 13, 20]), seeds=2, out=out).run(scheduler="inline")
    assert len(calls) == 6  # nothing ran again
    pd.testing.assert_frame_equal(again, first)
    fixed = Sweep(target, grid(rate=[5, 13, 20]), seeds=2, out=out).run(scheduler="inline", rerun_errors=True)
    assert calls[6:] == [13, 13] and fixed["error"].isna().all() and len(fixed) == 6


def test_csv_results(tmp_path):
    table = Sweep(poisson_target(), grid(rate=[10, 20]), out=tmp_path / "c", format="csv").run(scheduler="inline")
    on_disk = pd.read_csv(tmp_path / "c" / "results.csv")
    assert on_disk["rate_P"].tolist() == pytest.approx(table["rate_P"].tolist())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(design=grid(input_rat=[1, 2])), "unknown sweep parameter 'input_rat'; expected one of input_rate"),
        (dict(design=grid(input_rate=[100, 5000])), "input_rate: 5000.0 Hz at dt=1.0 ms"),
        (dict(design=grid(n_output=[10, 10.5])), "'n_output': 10.5 is not a whole number"),
        (dict(design=grid(time=[100, 100.5])), "not a whole number of steps"),
        (dict(design=grid(input_rate=[1, 2]), seeds=0), "seeds=0"),
        (dict(design=grid(input_rate=np.arange(100)), seeds=3, max_runs=200), "100 points x 3 seeds = 300 runs"),
        (dict(design=grid(input_rate=[1]), metrics={"input_rate": len}), "metric 'input_rate' has the name of a column"),
        (dict(design={"input_rate": []}), "range is empty"),
        (dict(design=grid(input_rate=[1]), seed_from=["weight_scale"]), "seed_from"),
        (dict(design=grid(input_rate=[1]), format="xlsx"), "format='xlsx'"),
    ],
)
def test_bad_specifications_are_refused_before_anything_runs(tmp_path, kwargs, match):
    out = tmp_path / "never"
    with pytest.raises(SweepSpecError, match=match):
        Sweep(SMALL, out=out, **kwargs)
    assert not out.exists()


def test_a_run_too_large_for_the_memory_is_refused_before_anything_runs(tmp_path):
    out = tmp_path / "never"
    sweep = Sweep(SMALL, grid(n_output=[40, 4000]), out=out)
    with pytest.raises(SweepSpecError, match=r"one run needs about \d+ MiB but this process has 1 MiB"):
        sweep.run(scheduler="inline", memory_limit=2**20)
    assert not out.exists()


def test_another_sweep_in_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "s"
    Sweep(poisson_target(), grid(rate=[1, 2]), out=out).run(scheduler="inline")
    with pytest.raises(SweepSpecError, match="holds a different sweep \\(differs in: design\\)"):
        Sweep(poisson_target(), grid(rate=[1, 3]), out=out).run(scheduler="inline")
    with pytest.raises(SweepSpecError, match="scheduler='udp'"):
        Sweep(poisson_target(), grid(rate=[1, 2]), out=out).run(scheduler="udp")


def test_common_seeds_share_the_network_across_points():
    sweep = Sweep(SMALL, grid(input_rate=[50, 100], weight_scale=[1, 2]), seeds=2, seed_from=())
    seeds = {(t.point, t.replicate): t.seed for t in sweep.tasks()}
    assert len({seeds[(p, 0)] for p in range(4)}) == 1
    assert seeds[(0, 0)] != seeds[(0, 1)]
    sweep2 = Sweep(SMALL, grid(input_rate=[50, 100], weight_scale=[1, 2]), seeds=2, seed_from=("weight_scale",))
    s2 = {(t.point, t.replicate): t.seed for t in sweep2.tasks()}
    assert s2[(0, 0)] == s2[(2, 0)] != s2[(1, 0)]  # same weight_scale, same seed


def test_latin_hypercube_sweep_of_a_lab_config():
    table = Sweep(SMALL, latin_hypercube(3, seed=2, input_rate=(50, 200), weight_scale=(1, 4))).run(scheduler="inline")
    assert len(table) == 3 and table["error"].isna().all()
    assert (table["rate_A"] > 0).all()


def test_packed_points_give_the_rows_of_unpacked_ones():
    # Points that share weight_scale share a seed, so their input rates run as one batch.
    design = grid(input_rate=[50.0, 100.0, 150.0, 200.0], weight_scale=[1.0, 3.0])
    packed_sweep = Sweep(SMALL, design, seeds=2, seed_from=("weight_scale",), pack=3)
    groups = packed_sweep.groups(packed_sweep.tasks())
    assert sorted(len(g) for g in groups) == [1, 1, 1, 1, 3, 3, 3, 3]  # 4 rates per (scale, replicate), 3 at most per batch
    for g in groups:
        assert len({(t.parameters["weight_scale"], t.seed) for t in g}) == 1
    packed = packed_sweep.run(scheduler="inline")
    plain = Sweep(SMALL, design, seeds=2, seed_from=("weight_scale",)).run(scheduler="inline")
    pd.testing.assert_frame_equal(packed.drop(columns=["wall_time_s", "worker"]), plain.drop(columns=["wall_time_s", "worker"]))
    assert (packed["rate_B"] > 0).any()


def test_packing_is_refused_for_targets_that_cannot_batch():
    with pytest.raises(SweepSpecError, match="FunctionTarget cannot run points as one batch"):
        Sweep(poisson_target(), grid(rate=[1, 2]), pack=2)
    with pytest.raises(SweepSpecError, match="pack=0"):
        Sweep(SMALL, grid(input_rate=[1, 2]), pack=0)


def test_run_batch_gives_each_point_the_spikes_and_voltages_of_its_own_run():
    target = LabConfigTarget(SMALL)
    items = [({"input_rate": r}, 21) for r in (40.0, 120.0, 300.0)]
    for (params, seed), batched in zip(items, target.run_batch(items)):
        alone = target.run(params, seed)
        for layer in ("A", "B"):
            np.testing.assert_array_equal(batched.spikes(layer), alone.spikes(layer))
        np.testing.assert_array_equal(batched.voltages("B"), alone.voltages("B"))
        np.testing.assert_array_equal(batched.traced("B"), alone.traced("B"))
    with pytest.raises(ValueError, match="expected one pack_key"):
        target.run_batch([({"input_rate": 40.0}, 1), ({"input_rate": 40.0}, 2)])
