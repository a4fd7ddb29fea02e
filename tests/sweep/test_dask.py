"""Sweeps on a Dask LocalCluster of 2 worker processes: the same rows as in-process, whichever worker runs a point."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from snnlab.config import LabConfig
from snnlab.sweep import Sweep, grid

distributed = pytest.importorskip("dask.distributed")

SMALL = LabConfig(n_input=30, n_output=40, time=100.0, input_rate=150.0, weight_scale=3.0)
VOLATILE = ["wall_time_s", "worker"]


def _spike_digest(rec):
    # Nested, so cloudpickle sends it by value to the workers.
    return int.from_bytes(hashlib.sha256(np.packbits(rec.spikes("B")).tobytes()).digest()[:6], "little")


def _threads_metric(rec):
    import torch

    return torch.get_num_threads()


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_two_workers_give_the_rows_of_an_inline_run(client, tmp_path):
    metrics = {"digest": lambda rec: _spike_digest(rec), "threads": lambda rec: _threads_metric(rec)}
    design = grid(input_rate=[100.0, 200.0], weight_scale=[2.0, 4.0])
    on_cluster = Sweep(SMALL, design, seeds=2, seed=5, metrics=metrics, out=tmp_path / "d").run(client=client)
    inline = Sweep(SMALL, design, seeds=2, seed=5, metrics=metrics).run(scheduler="inline")
    assert len(on_cluster) == 8 and on_cluster["error"].isna().all()
    pd.testing.assert_frame_equal(on_cluster.drop(columns=VOLATILE), inline.drop(columns=VOLATILE))
    assert (on_cluster["threads"] == 1).all()  # workers keep torch to one thread
    assert on_cluster["digest"].nunique() == 8  # every run's spikes differ
    workers = set(client.scheduler_info()["workers"])
    assert len(workers) == 2


def test_the_order_of_the_design_does_not_change_a_point(client):
    metrics = {"digest": lambda rec: _spike_digest(rec)}
    a = Sweep(SMALL, grid(input_rate=[100.0, 150.0, 200.0]), seed=9, metrics=metrics).run(client=client)
    b = Sweep(SMALL, grid(input_rate=[200.0, 150.0, 100.0]), seed=9, metrics=metrics).run(
        scheduler=client.scheduler.address
    )
    a = a.set_index("input_rate").sort_index()
    b = b.set_index("input_rate").sort_index()
    assert a["seed"].tolist() == b["seed"].tolist()
    assert a["digest"].tolist() == b["digest"].tolist()


def _default_malloc(rec):
    import os

    return float("MALLOC_TRIM_THRESHOLD_" not in os.environ)


def test_embedded_local_cluster_by_default(tmp_path):
    metrics = {"default_malloc": lambda rec: _default_malloc(rec)}
    table = Sweep(SMALL, grid(input_rate=[120.0, 180.0]), seed=1, metrics=metrics).run(workers=2)
    inline = Sweep(SMALL, grid(input_rate=[120.0, 180.0]), seed=1).run(scheduler="inline")
    pd.testing.assert_frame_equal(table.drop(columns=VOLATILE + ["default_malloc"]), inline.drop(columns=VOLATILE))
    # Its workers run with glibc's malloc defaults, not Dask's MALLOC_TRIM_THRESHOLD_ (2.5x slower runs).
    assert (table["default_malloc"] == 1.0).all()


def test_packed_sweep_on_the_cluster(client):
    design = grid(input_rate=[80.0, 160.0, 240.0], weight_scale=[2.0])
    packed = Sweep(SMALL, design, seeds=2, seed_from=(), pack=3).run(client=client)
    plain = Sweep(SMALL, design, seeds=2, seed_from=()).run(scheduler="inline")
    pd.testing.assert_frame_equal(packed.drop(columns=VOLATILE), plain.drop(columns=VOLATILE))


def test_several_points_per_task_give_the_same_rows(client, tmp_path):
    design = grid(input_rate=[60.0, 120.0, 180.0, 240.0, 300.0])
    seen = []
    chunked = Sweep(SMALL, design, seeds=2, seed=8, out=tmp_path / "c").run(
        client=client, points_per_task=3, on_result=seen.append)
    plain = Sweep(SMALL, design, seeds=2, seed=8).run(scheduler="inline")
    pd.testing.assert_frame_equal(chunked.drop(columns=VOLATILE), plain.drop(columns=VOLATILE))
    assert len(seen) == 10 and len(list((tmp_path / "c" / "parts").glob("p*"))) == 10
    from snnlab.sweep import SweepSpecError

    with pytest.raises(SweepSpecError, match="points_per_task=0"):
        Sweep(SMALL, design).run(client=client, points_per_task=0)
