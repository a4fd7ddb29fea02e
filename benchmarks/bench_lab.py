"""Lab benchmark: what streaming the plots costs a run, measured in a real kernel.

    .venv/bin/python benchmarks/bench_lab.py            # seed x5, seed over 5 s x5, 10,000 neurons x2 (~1 min)
    .venv/bin/python benchmarks/bench_lab.py --quick    # seed x3, 10,000 neurons x1

Starts an ipykernel (jupyter_client), displays a ``Lab`` there and, for each
case, alternates two runs of the same config in the same process:

* **lab**: the Lab's own controller with streaming on: the real frame code
  (rasters to PNG, traces, rate, status) sending its widget messages to this
  script, which reads them as a front-end would;
* **headless**: a ``Controller`` with no frame callback: the same worker
  thread, chunks and network, nothing drawn.

Wall time is the run loop's, first chunk to end (frames included; the
network's build, the same for both, left out). Reported:
medians of the wall times, their ratio (the issue's target: <= 1.5 at the
seed size), frames produced per second of run (targets: >= 20 for the seed
network, >= 10 for 10,000 neurons) and the widget traffic to the page. The
cases are the seed network (100 -> 1000 LIF, 500 ms: a run of ~50 ms, so one
frame mid-run and the last), the same over 5,000 ms (sustained frame rate),
and 100 -> 10,000 LIF over 1,000 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

KERNEL_CODE = r"""
import json, statistics, time
from IPython.display import display
from snnlab.config import LabConfig
from snnlab.lab import Lab
from snnlab.lab.controller import Controller

def _timed(ctl):
    # The run loop's own wall time: first chunk to end, frames included,
    # the network's build (the same for both) left out.
    assert ctl.start()
    ctl.join()
    assert ctl.state == "done", ctl.message
    return ctl.data.wall_time

_out = []
for _label, _cfg, _repeats in CASES:
    _lab = Lab(_cfg)
    display(_lab)
    _head, _walls, _frames, _ftime = [], [], [], []
    for _ in range(_repeats):
        _head.append(_timed(Controller(_cfg)))
        _w = _timed(_lab.controller)
        _walls.append(_w)
        _frames.append(_lab.controller.data.frames)
        _ftime.append(_lab.controller.data.frame_time)
    _out.append(dict(case=_label, headless=_head, lab=_walls, frames=_frames, frame_time=_ftime,
                     n_steps=_cfg.n_steps, spikes=int(_lab.recording.spikes("B").sum())))
print("RESULT " + json.dumps(_out))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    from jupyter_client.manager import start_new_kernel

    seed_reps, big_reps = (3, 1) if args.quick else (5, 2)
    cases = (
        f"CASES = [('seed: 100 -> 1000 LIF, 500 ms', LabConfig(), {seed_reps}),"
        f" ('seed network over 5000 ms', LabConfig(time=5000.0), {seed_reps}),"
        f" ('100 -> 10,000 LIF, 1000 ms', LabConfig(n_output=10_000, time=1000.0), {big_reps})]\n"
    )
    km, kc = start_new_kernel(kernel_name="python3", stderr=open(os.devnull, "w"))
    traffic = {"messages": 0, "bytes": 0}
    stdout = []

    def hook(msg):
        kind = msg["msg_type"]
        if kind in ("comm_msg", "comm_open"):
            traffic["messages"] += 1
            traffic["bytes"] += sum(len(b) for b in msg.get("buffers", []))
            traffic["bytes"] += len(json.dumps(msg["content"]))
        elif kind == "stream":
            stdout.append(msg["content"]["text"])
        elif kind == "error":
            stdout.append("\n".join(msg["content"]["traceback"]))

    try:
        t0 = time.perf_counter()
        reply = kc.execute_interactive("from snnlab.config import LabConfig\n" + cases + KERNEL_CODE, output_hook=hook, timeout=1800)
        total = time.perf_counter() - t0
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    text = "".join(stdout)
    if reply["content"]["status"] != "ok" or "RESULT " not in text:
        print(text, file=sys.stderr)
        return 1
    results = json.loads(text.split("RESULT ", 1)[1].splitlines()[0])

    print(f"snnlab lab benchmark, {platform.node()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"widget traffic to the front-end: {traffic['messages']} messages, "
          f"{traffic['bytes'] / 1e6:.1f} MB over {total:.0f} s\n")
    head = (f"| {'case':<32} | runs | headless (s) | lab, streaming (s) | ratio | frames | frames/s "
            f"| ms/frame |")
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in results:
        h, w = statistics.median(r["headless"]), statistics.median(r["lab"])
        frames = statistics.median(r["frames"])
        fps = statistics.median([f / x for f, x in zip(r["frames"], r["lab"])])
        ms = 1000 * sum(r["frame_time"]) / max(sum(r["frames"]), 1)
        r.update(headless_median=h, lab_median=w, ratio=w / h, frames_per_s=fps, ms_per_frame=ms)
        print(f"| {r['case']:<32} | {len(r['lab']):>4} | {h:>12.3f} | {w:>18.3f} | {w / h:>5.2f} | "
              f"{frames:>6.0f} | {fps:>8.1f} | {ms:>8.1f} |")
    print("\nTargets: ratio <= 1.5 at the seed size; >= 20 frames/s (seed), >= 10 frames/s (10,000 neurons).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(results=results, traffic=traffic), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
