"""`import snnlab` and the simulator load no widget or plotting library.

Checked in a fresh interpreter, since this test session may already have
imported matplotlib for other tests.
"""

import json
import subprocess
import sys

FORBIDDEN = ("matplotlib", "ipywidgets", "bqplot", "IPython")


def test_core_imports_no_widget_or_plotting_library():
    code = (
        "import json, sys\n"
        "import snnlab, snnlab.network, snnlab.learning, snnlab.encoding\n"
        "import snnlab.network.nodes, snnlab.network.topology, snnlab.network.monitors\n"
        "print(json.dumps(sorted(m for m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    # make sure the check is meaningful: the core itself was imported
    assert "snnlab.network" in modules and "torch" in modules
    bad = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
    assert not bad, f"importing the core loaded {bad}"
