"""Using the lab leaves `git status` clean: a save of an executed notebook writes it back as stored."""

import copy
import io
import runpy
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]


class _Config:
    def __init__(self):
        self.FileContentsManager = type("C", (), {})()
        self.ServerApp = type("C", (), {})()


def _hook():
    cfg = _Config()
    ns = runpy.run_path(str(REPO / "scripts" / "jupyter_server_config.py"), init_globals={"get_config": lambda: cfg})
    assert cfg.FileContentsManager.pre_save_hook is ns["strip_for_the_repository"]
    return ns["strip_for_the_repository"]


def test_saving_an_executed_lab_notebook_writes_the_stored_file():
    hook = _hook()
    path = REPO / "notebooks" / "02_lab.ipynb"
    stored = path.read_text(encoding="utf-8")
    nb = nbformat.reads(stored, as_version=4)
    executed = copy.deepcopy(nb)
    for i, cell in enumerate(executed.cells):
        if cell.cell_type == "code":
            cell.execution_count = i
            cell.outputs = [nbformat.v4.new_output("stream", text="hello\n")]
            cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    executed.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    executed.metadata["language_info"] = {"name": "python", "version": "3.11.2"}
    model = {"type": "notebook", "content": executed}

    class CM:
        root_dir = str(REPO / "notebooks")

    hook(model, "/02_lab.ipynb", CM())
    out = io.StringIO()
    nbformat.write(nbformat.from_dict(model["content"]), out)  # as Jupyter's file manager writes it
    assert out.getvalue() == stored


def test_other_files_are_untouched():
    hook = _hook()
    model = {"type": "file", "content": "x = 1\n"}
    hook(model, "/a.py", None)
    assert model == {"type": "file", "content": "x = 1\n"}


def test_lab_script_opens_the_lab_notebook_not_the_launcher():
    script = (REPO / "scripts" / "lab.sh").read_text()
    assert "--ServerApp.default_url=/lab/tree/02_lab.ipynb" in script
    assert "jupyter_server_config.py" in script
