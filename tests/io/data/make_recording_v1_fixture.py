"""Writes ``recording_v1_savez.npz``: a small recording saved by the first
``Recording.to_npz`` (``np.savez_compressed``, zlib level 6), kept so that
``Recording.from_npz`` is tested on files written before the fast writer.

    PYTHONPATH=. .venv/bin/python tests/io/data/make_recording_v1_fixture.py

(Run once with the commit before the fast writer, f76a9c5; the file is committed.)
"""

from pathlib import Path

import numpy as np

from snnlab.recording import LayerRecording, Recording


def fixture_recording() -> Recording:
    """The recording in the fixture (also rebuilt by the tests to compare)."""
    rng = np.random.default_rng(3)
    a = rng.random((50, 7)) < 0.2
    b = rng.random((50, 4)) < 0.1
    v = rng.normal(-60.0, 3.0, (50, 2)).astype(np.float32)
    return Recording(dt=0.5, start_step=10, completed=True, wall_time=0.25,
                     experiment={"n_input": 7}, network={"dt": 0.5}, changes=[(20, "B.thresh", -50.0)],
                     weights={"A->B": rng.random((7, 4)).astype(np.float32)},
                     layers={"A": LayerRecording("A", (7,), "Input", a),
                             "B": LayerRecording("B", (2, 2), "LIFNodes", b, v, [0, 3], -52.0)})


if __name__ == "__main__":
    fixture_recording().to_npz(Path(__file__).with_name("recording_v1_savez.npz"))
