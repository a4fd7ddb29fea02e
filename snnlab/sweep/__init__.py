"""Parameter sweeps: designs, per-point metrics, resumable results, Dask execution.

Quick start::

    from snnlab.config import LabConfig
    from snnlab.sweep import Sweep, grid

    sweep = Sweep(LabConfig(), grid(input_rate=[50, 100, 150], weight_scale=[1, 2]), seeds=2, out="sweep_out")
    table = sweep.run(workers=2)      # a LocalCluster of 2 processes; a pandas DataFrame

See ``snnlab.sweep.runner`` for the columns and where it runs,
``snnlab.sweep.store`` for the results folder and ``docs/sweeps.md`` for
clusters. Importing this package loads no widget library and no Dask (Dask
is imported when a sweep runs on it).
"""

from snnlab.sweep.design import Design, grid, latin_hypercube, parse_vary, point_seed, random_design
from snnlab.sweep.metrics import chi_synchrony, cv_isi, fano_factor, mean_rate, point_metrics
from snnlab.sweep.runner import Sweep, SweepSpecError, run_point
from snnlab.sweep.store import load_results
from snnlab.sweep.targets import ExperimentTarget, FunctionTarget, LabConfigTarget, SweepTarget

__all__ = [
    "Design", "grid", "random_design", "latin_hypercube", "parse_vary", "point_seed",
    "mean_rate", "cv_isi", "fano_factor", "chi_synchrony", "point_metrics",
    "Sweep", "SweepSpecError", "run_point", "load_results",
    "SweepTarget", "LabConfigTarget", "ExperimentTarget", "FunctionTarget",
]
