"""bench_lab --browser reads the frame rates the browser tests print."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_lab  # noqa: E402


def test_page_frame_rates_are_read_from_the_browser_tests_output():
    out = ("....\nbrowser (JupyterLab): seed open-ended 24.1 frames/s, Stop answered in 310 ms; "
           "10,000 neurons 22.0 frames/s, Stop in 420 ms\n.\nbrowser (Voila): seed open-ended 26.3 frames/s, "
           "Stop answered in 280 ms\n2 passed in 100.0s\n")
    assert bench_lab.page_frame_rates(out) == [
        ("JupyterLab", "seed open-ended 24.1 frames/s, Stop answered in 310 ms; 10,000 neurons 22.0 frames/s, "
                       "Stop in 420 ms"),
        ("Voila", "seed open-ended 26.3 frames/s, Stop answered in 280 ms"),
    ]
    assert bench_lab.page_frame_rates("2 passed\n") == []
