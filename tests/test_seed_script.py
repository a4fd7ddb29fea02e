"""The seed script (../shared/seed/running-simulations.md) runs with imports changed.

The script text below is the seed's, verbatim, except `bindsnet` -> `snnlab`
in the imports (the CI checkout may not have ../shared). It runs headless
(MPLBACKEND=Agg) in a subprocess; a short epilogue appended after it reports
what the test checks: voltages never above the -52 mV threshold, spikes in
both layers, figures created.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("matplotlib")

SEED_SCRIPT = '''
import torch
import matplotlib.pyplot as plt
from snnlab.network import Network
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection
from snnlab.network.monitors import Monitor
from snnlab.analysis.plotting import plot_spikes, plot_voltages

# Simulation time.
time = 500

# Create the network.
network = Network()

# Create and add input, output layers.
source_layer = Input(n=100)
target_layer = LIFNodes(n=1000)

network.add_layer(layer=source_layer, name="A")
network.add_layer(layer=target_layer, name="B")

# Create connection between input and output layers.
forward_connection = Connection(
    source=source_layer,
    target=target_layer,
    w=0.05 + 0.1 * torch.randn(source_layer.n, target_layer.n),  # Normal(0.05, 0.01) weights.
)
network.add_connection(connection=forward_connection, source="A", target="B")

# Create recurrent connection in output layer.
recurrent_connection = Connection(
    source=target_layer,
    target=target_layer,
    w=0.025 * (torch.eye(target_layer.n) - 1),  # Small, inhibitory "competitive" weights.
)
network.add_connection(connection=recurrent_connection, source="B", target="B")

# Create and add input and output layer monitors.
source_monitor = Monitor(
    obj=source_layer,
    state_vars=("s",),  # Record spikes and voltages.
    time=time,  # Length of simulation (if known ahead of time).
)
target_monitor = Monitor(
    obj=target_layer,
    state_vars=("s", "v"),  # Record spikes and voltages.
    time=time,  # Length of simulation (if known ahead of time).
)
network.add_monitor(monitor=source_monitor, name="A")
network.add_monitor(monitor=target_monitor, name="B")

# Create input spike data, where each spike is distributed according to Bernoulli(0.1).
input_data = torch.bernoulli(0.1 * torch.ones(time, source_layer.n)).byte()
inputs = {"A": input_data}

# Simulate network on input data.
network.run(inputs=inputs, time=time)

# Retrieve and plot simulation spike, voltage data from monitors.
spikes = {"A": source_monitor.get("s"), "B": target_monitor.get("s")}
voltages = {"B": target_monitor.get("v")}

plt.ioff()
plot_spikes(spikes)
plot_voltages(voltages, plot_type="line")
plt.show()
'''

EPILOGUE = '''
import json as _json
_s, _v = spikes["B"], voltages["B"]
print("SEED-RESULT " + _json.dumps({
    "A_shape": list(spikes["A"].shape), "B_shape": list(_s.shape), "v_shape": list(_v.shape),
    "v_max": float(_v.max()), "v_min": float(_v.min()),
    "A_spikes": int(spikes["A"].sum()), "B_spikes": int(_s.sum()),
    "B_rate_per_step": float(_s.float().mean()),
    "input_unchanged": bool(input_data.shape == (time, source_layer.n)),
    "figures": len(plt.get_fignums()),
}))
'''


def test_seed_script_runs_headless_with_snnlab(tmp_path):
    script = tmp_path / "seed.py"
    script.write_text(textwrap.dedent(SEED_SCRIPT) + EPILOGUE)
    env = dict(os.environ, MPLBACKEND="Agg", MPLCONFIGDIR=str(tmp_path / "mpl"))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("SEED-RESULT ")][-1]
    r = json.loads(line[len("SEED-RESULT "):])
    assert r["A_shape"] == [500, 1, 100]
    assert r["B_shape"] == [500, 1, 1000] and r["v_shape"] == [500, 1, 1000]
    assert r["v_max"] < -52.0  # after reset: never at or above the threshold
    assert r["v_min"] >= -100.0
    assert 0.08 < r["A_spikes"] / (500 * 100) < 0.12  # Bernoulli(0.1)
    assert r["B_spikes"] > 0
    assert r["B_rate_per_step"] < 0.2  # sparse, as the issue describes (1-2 %)
    assert r["input_unchanged"]
    assert r["figures"] >= 2
