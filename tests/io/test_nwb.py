"""NWB: export_nwb writes a valid file; read_nwb brings the same recording back."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

from snnlab.io.nwb import export_nwb, read_nwb  # noqa: E402
from snnlab.recording import LayerRecording, Recording  # noqa: E402


def _recording(steps=400, dt=0.5, start_step=0) -> Recording:
    rng = np.random.default_rng(5)
    return Recording(
        dt=dt,
        start_step=start_step,
        layers={
            "A": LayerRecording("A", (30,), "Input", rng.random((steps, 30)) < 0.05),
            "B": LayerRecording("B", (4, 5), "LIFNodes", rng.random((steps, 20)) < 0.02,
                                (-65 + 13 * rng.random((steps, 3))).astype(np.float32), [2, 7, 19], -52.0),
        },
        completed=True,
        wall_time=0.5,
        experiment={"n_input": 30, "n_output": 20, "time": steps * dt},
        network={"dt": dt, "layers": [{"name": "A"}, {"name": "B"}], "connections": []},
        changes=[(100, "input_rate", 40.0)],
    )


def _messages(path):
    return list(nwbinspector.inspect_nwbfile(nwbfile_path=str(path)))


def test_round_trip_gives_the_same_spikes_voltages_and_metadata(tmp_path):
    rec = _recording(start_step=1234)  # a window of a longer run: times do not start at 0
    path = export_nwb(rec, tmp_path / "r.nwb")
    assert [p.name for p in tmp_path.iterdir()] == ["r.nwb"]  # no temporary file left
    back = read_nwb(path)
    assert back.layer_names == ["A", "B"] and back.dt == 0.5 and back.start_step == 1234
    for name in rec.layer_names:
        assert np.array_equal(back.spikes(name), rec.spikes(name)), name
        assert back.layers[name].shape == rec.layers[name].shape and back.layers[name].model == rec.layers[name].model
    assert np.array_equal(back.voltages("B"), rec.voltages("B"))
    assert back.traced("B").tolist() == [2, 7, 19] and back.voltages("A") is None
    assert back.layers["B"].threshold == -52.0 and back.completed and back.wall_time == 0.5
    assert back.experiment == rec.experiment and back.network == rec.network
    assert back.changes == [(100, "input_rate", 40.0)]


def test_units_table_has_a_row_per_neuron_with_layer_and_times_in_seconds(tmp_path):
    rec = _recording()
    path = export_nwb(rec, tmp_path / "r.nwb")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        units = nwb.units.to_dataframe()
        assert len(units) == 30 + 20
        assert units["layer"].tolist() == ["A"] * 30 + ["B"] * 20
        assert units["neuron"].tolist() == list(range(30)) + list(range(20))
        times_ms, neurons = rec.spike_times("B")
        want = np.sort(times_ms[neurons == 7]) / 1000.0
        assert np.allclose(units[units["layer"] == "B"]["spike_times"].iloc[7], want)
        series = nwb.acquisition["B_voltage"]
        assert series.unit == "volts" and series.conversion == pytest.approx(1e-3)
        assert series.rate == pytest.approx(2000.0)  # 1 / 0.5 ms
        assert nwb.units.resolution == pytest.approx(0.5e-3)


def test_file_passes_pynwbs_validator_and_nwbinspector(tmp_path):
    path = export_nwb(_recording(), tmp_path / "r.nwb", session_start=datetime(2026, 1, 2, tzinfo=timezone.utc),
                      experimenter="Doe, Jane")
    assert pynwb.validate(path=str(path)) == []
    messages = _messages(path)
    critical = [m for m in messages if m.importance.name == "CRITICAL"]
    assert critical == []
    # The one best-practice note left: a simulated network has no species.
    violations = [m.check_function_name for m in messages if m.importance.name == "BEST_PRACTICE_VIOLATION"]
    assert violations == ["check_subject_species_exists"]


def test_a_zero_step_recording_exports_and_reads_back(tmp_path):
    rec = _recording(steps=0)
    back = read_nwb(export_nwb(rec, tmp_path / "empty.nwb"))
    assert back.steps == 0 and back.layer_names == ["A", "B"]
    assert [m for m in _messages(tmp_path / "empty.nwb") if m.importance.name == "CRITICAL"] == []


def test_bad_paths_and_files_are_refused(tmp_path):
    rec = _recording(steps=10)
    with pytest.raises(ValueError, match=r"ending in \.nwb"):
        export_nwb(rec, tmp_path / "r.h5")
    (tmp_path / "d.nwb").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        export_nwb(rec, tmp_path / "d.nwb")
    with pytest.raises(TypeError, match="Recording"):
        export_nwb({"A": 1}, tmp_path / "x.nwb")
    with pytest.raises(ValueError, match="timezone-aware"):
        export_nwb(rec, tmp_path / "x.nwb", session_start=datetime(2026, 1, 1))
    junk = tmp_path / "junk.nwb"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not a readable NWB file"):
        read_nwb(junk)
    with pytest.raises(ValueError, match="is not a file"):
        read_nwb(tmp_path / "missing.nwb")
    # an NWB file that snnlab did not write
    other = pynwb.NWBFile(session_description="x", identifier="x", session_start_time=datetime.now(timezone.utc))
    with pynwb.NWBHDF5IO(str(tmp_path / "other.nwb"), "w") as io:
        io.write(other)
    with pytest.raises(ValueError, match="not written by snnlab"):
        read_nwb(tmp_path / "other.nwb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.nwb", "junk.nwb", "other.nwb"]
