"""Files that travel: NIR networks, NWB recordings, Neo spike trains, figures.

Each format lives in its own module and imports its library only when used,
so ``import snnlab.io`` costs nothing:

=======================  =====================================================
``snnlab.io.nir_graph``  :func:`to_nir` / :func:`from_nir`: networks as NIR graphs
``snnlab.io.nwb``        :func:`export_nwb` / :func:`read_nwb`: recordings as NWB
``snnlab.io.neo_io``     :func:`to_neo`: recordings as Neo spike trains (Elephant)
``snnlab.io.figures``    figures that stay readable and light at any run length
=======================  =====================================================

The libraries are in the ``io`` extra: ``pip install snnlab[io]``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["to_nir", "from_nir", "write_nir", "read_nir", "export_nwb", "read_nwb", "to_neo", "spike_trains"]

_WHERE = {
    "to_nir": "nir_graph",
    "from_nir": "nir_graph",
    "write_nir": "nir_graph",
    "read_nir": "nir_graph",
    "export_nwb": "nwb",
    "read_nwb": "nwb",
    "to_neo": "neo_io",
    "spike_trains": "neo_io",
}


def __getattr__(name: str) -> Any:
    # Lazy: the format libraries (nir/h5py, pynwb, neo) load on first use.
    if name in _WHERE:
        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
