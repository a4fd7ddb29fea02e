"""Write the snnTorch-exported NIR fixture used by tests/io/test_nir.py.

Run once, with snnTorch and nirtorch on the path (they are not snnlab
dependencies; ``pip install --target DIR snntorch==1.0.0 nirtorch==2.6
--no-deps`` next to the project's torch is enough)::

    PYTHONPATH=DIR python tests/io/data/make_snntorch_fixture.py

It builds a two-layer snnTorch network (Linear -> Leaky -> Linear -> Leaky,
reset to zero without delay, which is NIR's reset), writes it with snnTorch's
own exporter (``snntorch.export_nir.export_to_nir``) to ``snntorch_lif.nir``,
runs it in snnTorch on fixed input spikes and stores the input and both
layers' spikes in ``snntorch_lif_run.npz``.
"""

from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir

HERE = Path(__file__).parent
torch.manual_seed(7)
n_in, n_hidden, n_out, steps = 16, 24, 8, 300

net = torch.nn.Sequential(
    torch.nn.Linear(n_in, n_hidden, bias=False),
    snn.Leaky(beta=torch.full((n_hidden,), 0.9), threshold=torch.ones(n_hidden), reset_mechanism="zero", reset_delay=False, init_hidden=True),
    torch.nn.Linear(n_hidden, n_out, bias=False),
    snn.Leaky(beta=torch.full((n_out,), 0.8), threshold=torch.ones(n_out), reset_mechanism="zero", reset_delay=False, init_hidden=True),
)
with torch.no_grad():
    net[0].weight.mul_(2.0)
    net[2].weight.mul_(3.0)

graph = export_to_nir(net, torch.zeros(1, n_in), ignore_dims=[0])
nir.write(HERE / "snntorch_lif.nir", graph)

inputs = (torch.rand(steps, n_in) < 0.25).float()
hidden, out = [], []
with torch.no_grad():
    for t in range(steps):
        h = net[1](net[0](inputs[t : t + 1]))
        o = net[3](net[2](h))
        hidden.append(h[0].bool().numpy())
        out.append(o[0].bool().numpy())
np.savez_compressed(
    HERE / "snntorch_lif_run.npz",
    inputs=inputs.bool().numpy(),
    hidden=np.array(hidden),
    output=np.array(out),
    node_names=np.array(sorted(graph.nodes)),
)
print(sorted(graph.nodes), graph.edges, int(np.array(hidden).sum()), int(np.array(out).sum()))
