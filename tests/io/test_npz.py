"""recording.npz: the fast writer (zlib level 1) and files written before it."""

import sys
import zipfile
from pathlib import Path

import numpy as np

from snnlab.recording import NPZ_COMPRESSLEVEL, Recording

DATA = Path(__file__).with_name("data")
sys.path.insert(0, str(DATA))
from make_recording_v1_fixture import fixture_recording  # noqa: E402


def assert_same(a: Recording, b: Recording) -> None:
    assert (a.dt, a.start_step, a.completed, a.wall_time) == (b.dt, b.start_step, b.completed, b.wall_time)
    assert (a.experiment, a.network, [tuple(c) for c in a.changes]) == (b.experiment, b.network,
                                                                        [tuple(c) for c in b.changes])
    assert a.layer_names == b.layer_names
    for name in a.layer_names:
        x, y = a.layers[name], b.layers[name]
        assert (x.shape, x.model, x.threshold) == (y.shape, y.model, y.threshold)
        np.testing.assert_array_equal(x.spikes, y.spikes)
        np.testing.assert_array_equal(x.traced, y.traced)
        if x.voltages is None:
            assert y.voltages is None
        else:
            np.testing.assert_array_equal(x.voltages, y.voltages)
    assert list(a.weights) == list(b.weights)
    for k in a.weights:
        np.testing.assert_array_equal(a.weights[k], b.weights[k])


def test_a_file_written_by_the_first_writer_still_reads():
    """recording_v1_savez.npz was written with np.savez_compressed (level 6)."""
    old = DATA / "recording_v1_savez.npz"
    assert_same(Recording.from_npz(old), fixture_recording())


def test_the_fast_writer_round_trips_and_np_load_reads_it(tmp_path):
    rec = fixture_recording()
    path = rec.to_npz(tmp_path / "r.npz")
    assert_same(Recording.from_npz(path), rec)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    assert infos and all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos)
    with np.load(path, allow_pickle=False) as data:  # a plain .npz: no snnlab needed to read it
        np.testing.assert_array_equal(np.unpackbits(data["layer0_spikes"], axis=1, count=7).astype(bool),
                                      rec.layers["A"].spikes)
        np.testing.assert_array_equal(data["layer1_voltages"], rec.layers["B"].voltages)


def test_the_fast_writer_uses_the_fast_level(tmp_path):
    """Level 1 writes a long, dense raster into more bytes than level 6 would (so it is not 6)."""
    rng = np.random.default_rng(0)
    from snnlab.recording import LayerRecording

    spikes = rng.random((4000, 500)) < 0.05
    rec = Recording(dt=1.0, layers={"L": LayerRecording("L", (500,), "LIFNodes", spikes)})
    path = rec.to_npz(tmp_path / "r.npz")
    np.savez_compressed(tmp_path / "level6.npz", layer0_spikes=np.packbits(spikes, axis=1))
    with zipfile.ZipFile(path) as fast, zipfile.ZipFile(tmp_path / "level6.npz") as slow:
        fast_bytes = fast.getinfo("layer0_spikes.npy").compress_size
        slow_bytes = slow.getinfo("layer0_spikes.npy").compress_size
    assert NPZ_COMPRESSLEVEL == 1 and fast_bytes > slow_bytes
    np.testing.assert_array_equal(Recording.from_npz(path).spikes("L"), spikes)
