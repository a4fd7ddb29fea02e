"""NIR in the lab: "Export NIR" writes the lab's network, "Open NIR" runs a NIR file.

    from snnlab.lab import Lab
    lab = Lab()          # where nir is installed, the buttons are there already
    lab

``add_nir_actions(lab)`` adds them to a lab that lacks them. Two file actions
join the lab's Export / Save / Load buttons (through ``Lab.add_file_action``):

* **Export NIR** writes the network of the last run (or the one the next run
  would use) to ``network.nir`` in the export folder and offers it as a
  download (:func:`snnlab.io.nir_graph.write_nir`).
* **Open NIR** loads an uploaded NIR file (:func:`snnlab.io.nir_graph.read_nir`)
  as the lab's experiment: its Input layers get Bernoulli inputs at
  :data:`DEFAULT_RATE_HZ`, adjustable like any other rate. A graph another tool
  wrote has no time step: it runs at :data:`DEFAULT_DT_MS` (said in the
  message). Where snnlab's semantics differ from NIR's, see ``docs/nir.md``.

Bad files give a message in the lab, never a traceback.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import ipywidgets as widgets

__all__ = ["add_nir_actions", "DEFAULT_RATE_HZ", "DEFAULT_DT_MS"]

#: Rate of the inputs of a network opened from a NIR file, Hz.
DEFAULT_RATE_HZ = 20.0

#: Time step for a NIR graph that does not carry snnlab's ``dt``, ms.
DEFAULT_DT_MS = 1.0


def _network_of(lab):
    ctl = lab.controller
    return ctl.network if ctl.network is not None else lab.experiment.build()


def export_network(lab) -> Path:
    """Write the lab's network to ``<export folder>/network.nir``; returns the path."""
    from snnlab.io.nir_graph import write_nir

    folder = lab.export_dir.value.strip()
    if not folder:  # not the current folder (often the repository) by accident
        raise ValueError("no export folder; choose a folder to export into")
    out = Path(folder).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"export folder {str(out)!r} is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return write_nir(_network_of(lab), out / "network.nir")


def open_network(lab, content: bytes, name: str = "network.nir") -> str:
    """Load NIR file bytes as the lab's experiment; returns a message for the user."""
    import nir

    from snnlab.io.nir_graph import from_nir
    from snnlab.lab.experiment import NetworkExperiment
    from snnlab.network.nodes import Input

    with tempfile.TemporaryDirectory(prefix="snnlab-nir-") as d:
        path = Path(d) / "upload.nir"
        path.write_bytes(bytes(content))
        try:
            graph = nir.read(path)
        except Exception as ex:  # h5py and nir raise many kinds for a file that is not NIR
            raise ValueError(f"{name} is not a readable NIR file ({type(ex).__name__}: {ex})") from None
    note = ""
    if "snnlab_dt" not in (graph.metadata or {}):
        net = from_nir(graph, dt=DEFAULT_DT_MS)
        note = f" It carries no time step: it runs at dt = {DEFAULT_DT_MS:g} ms in the graph's time unit."
    else:
        net = from_nir(graph)
    inputs = {n: DEFAULT_RATE_HZ for n, layer in net.layers.items() if type(layer) is Input}
    lab.load_experiment(NetworkExperiment(net, inputs, name=Path(name).stem))
    return (f"Opened {name}: {len(net.layers)} layers, {len(net.connections)} connections; inputs at "
            f"{DEFAULT_RATE_HZ:g} Hz.{note}")


def add_nir_actions(lab) -> tuple:
    """Add "Export NIR" and "Open NIR" to a Lab's file actions; returns the two widgets.

    The lab adds them itself where ``nir`` is installed (its Export panel); then
    this returns those, and adds no second pair.
    """
    from snnlab.export import download_links

    existing = getattr(getattr(lab, "export_panel", None), "nir_actions", ())
    if existing:
        return existing

    export_button = widgets.Button(description="Export NIR", icon="project-diagram",
                                   tooltip="Write the network (layers, parameters, weights) as network.nir")
    upload = widgets.FileUpload(accept=".nir,.h5,.hdf5", multiple=False, description="Open NIR",
                                tooltip="Run a network from a NIR file (snnlab's, snnTorch's, Norse's, ...)")
    export_button.add_class("snnlab-export-nir")
    upload.add_class("snnlab-open-nir")

    def say(text: str, error: bool = False) -> None:
        (lab._error if error else lab._info)(text)

    def on_export(_=None) -> None:
        try:
            path = export_network(lab)
        except (OSError, ValueError, TypeError) as ex:
            say(f"Export NIR failed: {ex}", error=True)
            return
        lab.downloads.value = download_links([path]).value
        say(f"Wrote {path.resolve()} (NIR; see docs/nir.md for what NIR cannot say).")

    def on_upload(change) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        content = item["content"] if isinstance(item, dict) else item.content
        name = item.get("name", "network.nir") if isinstance(item, dict) else getattr(item, "name", "network.nir")
        try:
            say(open_network(lab, content, name))
        except (OSError, ValueError, TypeError) as ex:
            say(f"Open NIR failed: {ex}", error=True)

    export_button.on_click(on_export)
    upload.observe(on_upload, names="value")
    lab.add_file_action(export_button)
    lab.add_file_action(upload)
    return export_button, upload
