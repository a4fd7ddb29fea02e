"""Ctrl-C stop latency of ``snnlab run``: from SIGINT to the run's final state.

In this process's main thread, ``snnlab.cli.run_interruptibly`` runs a lab
config in the controller's worker thread, exactly as ``snnlab run`` does
(``abandon_if_empty=True``); a
timer thread sends SIGINT to the process after ``--after`` seconds (clock
read just before ``os.kill``), and the controller's ``on_state`` callback
reads the clock when the run reaches ``stopped``. The latency is the
difference; the recording's steps show the run was cut mid-way. A SIGINT
before the first step was stored ends the wait at once (0 steps kept: the
CLI then exits without waiting for the worker); its latency is taken when
``run_interruptibly`` returns.

Usage::

    python benchmarks/bench_interrupt.py [--repeats 5] [--after 0.05 1.5]

Prints one line per config: median and max latency (ms) and the steps kept.
The requirement is 100 ms; the design bounds it by one chunk (about 15 ms
of simulation, ``choose_chunk_steps``) plus handing the recording over.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import threading
import time


def measure(config, after_s: float) -> tuple[float, int]:
    from snnlab.cli import run_interruptibly
    from snnlab.lab.controller import Controller

    stamps: dict[str, float] = {}

    def on_state(state: str, message: str) -> None:
        if state in ("stopped", "done", "error") and "end" not in stamps:
            stamps["end"] = time.monotonic()
            stamps["state"] = state

    def fire() -> None:
        stamps["sigint"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)

    controller = Controller(config, on_state=on_state)
    timer = threading.Timer(after_s, fire)
    timer.start()
    interrupted = run_interruptibly(controller, abandon_if_empty=True)
    returned = time.monotonic()
    timer.cancel()  # a run that ended first must not be hit by a late SIGINT
    if interrupted and controller.running:
        # Before the first step: the CLI exits here (os._exit); we wait for
        # the worker instead, so the next run starts from a quiet process.
        controller.join()
        return returned - stamps["sigint"], 0
    if not interrupted or stamps.get("state") != "stopped":
        raise RuntimeError(
            f"the run was not interrupted mid-way ({controller.state}: {controller.message}); make it longer"
        )
    rec = controller.recording
    steps = int(getattr(rec, "steps", None) or rec.steps)
    return stamps["end"] - stamps["sigint"], steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--after", type=float, nargs="+", default=[0.05, 1.5],
        help="seconds into the run to send SIGINT (0.05: while building / in the first chunk)",
    )
    args = parser.parse_args()
    from snnlab.config import LabConfig

    configs = {
        "seed network (100 -> 1000), 150 s": LabConfig(time=150_000.0),
        "100 -> 3000, 40 s": LabConfig(n_output=3000, time=40_000.0),
    }
    for name, config in configs.items():
        for after in args.after:
            lat, steps = zip(*(measure(config, after) for _ in range(args.repeats)))
            print(
                f"{name}, SIGINT at {after:g} s: stopped after median {1e3 * statistics.median(lat):.1f} ms, "
                f"max {1e3 * max(lat):.1f} ms over {args.repeats} runs; steps kept {min(steps)}..{max(steps)} "
                f"of {config.n_steps}"
            )


if __name__ == "__main__":
    main()
