"""Sweeping a lab experiment (the experiment protocol): parameters by path, the lab's own spikes."""

import numpy as np
import pytest

from snnlab.lab.controller import Controller
from snnlab.lab.experiments.builtin import BrunelExperiment
from snnlab.sweep import ExperimentTarget, Sweep, SweepSpecError, grid

SMALL_BRUNEL = BrunelExperiment(n_exc=40, epsilon=0.2)


def test_parameters_are_the_labs_paths():
    target = ExperimentTarget(SMALL_BRUNEL, time=50.0)
    names = target.parameter_names()
    assert {"g", "J", "ext.rate", "I->E.weight_scale", "E.thresh"} <= set(names)
    assert "seed" not in names  # the sweep sets it


def test_a_point_gives_the_spikes_the_lab_shows_when_it_loads_the_point():
    target = ExperimentTarget(SMALL_BRUNEL, time=60.0)
    digest = {"spikes_E": lambda rec: int(np.flatnonzero(rec.spikes("E")).sum())}
    table = Sweep(target, grid(g=[3.0, 6.0], **{"ext.rate": [150.0, 300.0]}), seed=4, metrics=digest).run(
        scheduler="inline"
    )
    assert table["error"].isna().all() and (table["rate_E"] > 0).any()
    for _, row in table.iterrows():
        exp, values = target.experiment_for({"g": row["g"], "ext.rate": row["ext.rate"]}, int(row["seed"]))
        assert values["seed"] == int(row["seed"]) % 2**31 and values["g"] == row["g"]
        ctl = Controller(exp, torch_threads=None)
        ctl.update_paths(values)  # what Lab.load_experiment(exp, values) does
        ctl.start(60.0)
        ctl.join()
        rec = ctl.recording
        assert int(np.flatnonzero(rec.spikes("E")).sum()) == row["spikes_E"]
        assert rec.spikes("E").mean() * 1000.0 / 0.5 == pytest.approx(row["rate_E"])
    # The base experiment is never changed by the sweep.
    assert SMALL_BRUNEL.values["g"] == 5.0 and SMALL_BRUNEL.seed == 0


def test_bad_experiment_sweeps_are_refused():
    with pytest.raises(ValueError, match="runs until Stop; expected time="):
        ExperimentTarget(BrunelExperiment(n_exc=40))
    target = ExperimentTarget(SMALL_BRUNEL, time=50.0)
    with pytest.raises(SweepSpecError, match="unknown sweep parameter 'gg'; expected one of n_exc, epsilon, J, g, ext.rate"):
        Sweep(target, grid(gg=[1, 2]))
    with pytest.raises(SweepSpecError, match=r"'g': 25 is outside \[0, 20\]"):
        Sweep(target, grid(g=[1, 25]))
    with pytest.raises(SweepSpecError, match="'n_exc': 40.5 is not a whole number"):
        Sweep(target, grid(n_exc=[40, 40.5]))
    with pytest.raises(SweepSpecError, match="unknown sweep parameter 'seed'"):
        Sweep(target, grid(seed=[1, 2]))
