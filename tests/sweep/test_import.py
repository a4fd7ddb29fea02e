"""The sweep core loads no widget or plotting library, and Dask only when a sweep runs on it."""

import json
import subprocess
import sys

FORBIDDEN = ("matplotlib", "ipywidgets", "bqplot", "IPython")


def test_sweep_core_imports_no_widgets_and_no_dask_until_needed():
    code = (
        "import json, sys\n"
        "import snnlab.sweep, snnlab.sweep.cli, snnlab.sweep.aggregate\n"
        "from snnlab.config import LabConfig\n"
        "from snnlab.sweep import Sweep, grid\n"
        "Sweep(LabConfig(n_input=5, n_output=5, time=10.0), grid(input_rate=[1, 2])).run(scheduler='inline')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert "snnlab.sweep.runner" in modules and "snnlab.network.network" in modules  # it did run a sweep
    bad = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN + ("dask", "distributed"))
    assert not bad, f"the sweep core loaded {bad}"
