"""NIR in the lab: Export NIR writes the lab's network; Open NIR runs a NIR file."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("nir")

from snnlab.io.lab_nir import DEFAULT_DT_MS, add_nir_actions  # noqa: E402
from snnlab.io.nir_graph import read_nir, to_nir  # noqa: E402
from snnlab.lab import Lab  # noqa: E402

DATA = Path(__file__).parent / "data"


def _upload(widget, path: Path) -> None:
    content = path.read_bytes()
    widget.value = ({"name": path.name, "type": "application/x-hdf5", "size": len(content),
                     "content": memoryview(content), "last_modified": datetime.now(timezone.utc)},)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(export_dir=str(tmp_path / "export"))
    yield lab
    lab.controller.stop()


def test_export_nir_writes_the_labs_network_and_offers_it(lab, tmp_path):
    export, _ = add_nir_actions(lab)
    assert export in lab.file_actions.children
    export.click()
    path = tmp_path / "export" / "network.nir"
    assert path.is_file()
    assert "network.nir" in lab.downloads.value and "Wrote" in lab.message.value
    back = read_nir(path)
    net = lab.experiment.build()
    assert list(back.layers) == list(net.layers)
    for key, conn in net.connections.items():
        assert torch.equal(back.connections[key].dense_weights(), conn.dense_weights())


def test_open_nir_runs_a_graph_another_tool_wrote(lab):
    _, upload = add_nir_actions(lab)
    _upload(upload, DATA / "snntorch_lif.nir")
    assert "Opened snntorch_lif.nir" in lab.message.value and f"dt = {DEFAULT_DT_MS:g} ms" in lab.message.value
    assert lab.experiment.name == "snntorch_lif"
    net = lab.experiment.build()
    assert list(net.layers) == ["input", "1", "3"]
    lab.controller.start()
    assert lab.controller.join(60)
    rec = lab.recording
    assert rec is not None and rec.layer_names == ["input", "1", "3"] and rec.steps > 0


def test_open_nir_of_a_bad_file_shows_a_message_and_keeps_the_experiment(lab, tmp_path):
    _, upload = add_nir_actions(lab)
    before = lab.experiment.name
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not a NIR file")
    _upload(upload, junk)
    assert "Open NIR failed" in lab.message.value and "snnlab-error" in lab.message.value
    assert lab.experiment.name == before


def test_round_trip_through_the_lab_buttons(lab, tmp_path):
    export, upload = add_nir_actions(lab)
    export.click()
    _upload(upload, tmp_path / "export" / "network.nir")
    assert "Opened network.nir" in lab.message.value and "no time step" not in lab.message.value
    opened = lab.experiment.build()
    assert sorted(to_nir(opened).nodes) == sorted(to_nir(read_nir(tmp_path / "export" / "network.nir")).nodes)


def test_export_nir_needs_a_folder_and_expands_home(lab, tmp_path, monkeypatch):
    export, _ = add_nir_actions(lab)
    lab.export_dir.value = "  "
    export.click()
    assert "snnlab-error" in lab.message.value and "choose a folder" in lab.message.value
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    lab.export_dir.value = "~/nir-out"
    export.click()
    assert (tmp_path / "home" / "nir-out" / "network.nir").is_file()
