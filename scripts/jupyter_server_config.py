"""Jupyter server config for `scripts/lab.sh` (and Binder): using the lab leaves `git status` clean.

JupyterLab autosaves an open notebook with its outputs and widget state. The
repository's notebooks are stored without them (tests/test_notebooks.py), so
every save of a notebook under `notebooks/` is stripped back to its stored
form first: no outputs, no execution counts, no widget state, the notebook
metadata as it is on disk. What a student types into cells is still saved.
"""

import json
import os


def strip_for_the_repository(model, path, contents_manager, **kwargs):
    """A ``pre_save_hook``: a notebook model as the repository stores it."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    nb = model["content"]
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in ("execution", "scrolled", "collapsed", "trusted"):
            meta.pop(key, None)
    on_disk = os.path.join(contents_manager.root_dir, path.lstrip("/"))
    try:
        with open(on_disk, encoding="utf-8") as f:
            nb["metadata"] = json.load(f).get("metadata", nb.get("metadata", {}))
    except (OSError, ValueError):
        nb.get("metadata", {}).pop("widgets", None)


c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file
c.FileContentsManager.pre_save_hook = strip_for_the_repository
