"""Every notebook in notebooks/ runs top to bottom on a fresh kernel.

Each notebook has a cell tagged ``parameters``; as papermill does, a cell with
short-run values is injected right after it, so CI stays fast while the stored
notebook keeps its full-length defaults. Notebooks are stored without outputs.
"""

import json
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))

# Short-run values injected after each notebook's `parameters` cell.
SHORT_RUNS = {
    "01_running_a_simulation.ipynb": dict(time=100, n_output=200),
    "02_lab.ipynb": dict(TIME_MS=100.0, N_OUTPUT=200),
    "03_neuron_models.ipynb": dict(time=200, trace_time=100, n_currents=8),
    "04_excitation_inhibition.ipynb": dict(time=300, n_output=200),
    "05_stdp.ipynb": dict(n_chunks=5),
    "06_reward_learning.ipynb": dict(n_trials=10, trial_ms=50),
    "07_phase_diagram.ipynb": dict(N_EXC=80, TIME_MS=300.0, G_VALUES=[3.0, 6.0], DRIVE=[1.0, 3.0],
                                   SCHEDULER="inline"),
    "08_learning_digits.ipynb": dict(n_neurons=16, n_train=60, n_test=20, time_ms=100, interval=20),
    "09_sharing_a_run.ipynb": dict(time=600, n_output=200),
}

# A notebook must finish well inside this on the short values (seconds).
TIMEOUT_S = 120


def _parameters_index(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"expected exactly one cell tagged 'parameters', found {len(tagged)}"
    assert nb.cells[tagged[0]].cell_type == "code"
    return tagged[0]


def _inject(nb, values: dict) -> None:
    """Insert a cell that overrides the parameters, right after the parameters cell."""
    i = _parameters_index(nb)
    defined = nb.cells[i].source
    for name in values:
        assert f"{name} =" in defined, f"parameter {name!r} is not defined in the parameters cell"
    source = "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    cell["id"] = "injected-parameters"
    nb.cells.insert(i + 1, cell)


def test_the_series_is_complete():
    names = [p.name for p in ALL]
    for expected in SHORT_RUNS:
        assert expected in names, f"notebooks/{expected} is missing"


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has stored outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"
    _parameters_index(nb)


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    _inject(nb, SHORT_RUNS.get(path.name, {}))
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # files a notebook writes land here
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    elapsed = time.perf_counter() - start
    print(f"{path.name}: {elapsed:.1f} s with {SHORT_RUNS.get(path.name, {})}")
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors  # (time is bounded by NotebookClient's per-cell timeout, not asserted)
