"""Lab benchmark: frame rate, stop latency and memory of open-ended runs, in a real kernel.

    .venv/bin/python benchmarks/bench_lab.py                 # ~2 min: frames/s, stop latency, RSS over 1 minute
    .venv/bin/python benchmarks/bench_lab.py --minutes 10    # RSS every 30 s over a 10-minute open-ended run
    .venv/bin/python benchmarks/bench_lab.py --quick         # shorter cases (smoke test)
    .venv/bin/python benchmarks/bench_lab.py --browser       # also the page's frames/s (tests/browser in Chromium)

Starts an ipykernel (jupyter_client) and displays a ``Lab`` there; the
widget messages come to this script, which reads them as a front-end would.
(What a browser then draws is measured by tests/browser.) Reported:

* **frames/s**: frames the lab produced per second of an open-ended run
  (seed network; 100 -> 10,000 LIF), and the headless controller's
  simulated steps per second in the same kernel, as the baseline: the
  ratio says what streaming costs. Targets: >= 25 frames/s (seed), >= 15
  (10,000 neurons).
* **stop latency**: from ``lab.stop()`` to the run's thread having ended,
  at several moments of an open-ended run of 10,000 neurons (the issue: 100
  ms whatever the run's length), and in the first chunk of a run.
* **page frames/s** (``--browser``): what JupyterLab and Voila draw, from the
  browser tests (real Chromium), which print them; the same targets.
* **RSS**: the kernel's resident memory every 30 s (every 5 s with
  ``--minutes`` < 2) over an open-ended run of 10,000 neurons with the
  views streaming: it must stay flat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE_LINE = re.compile(r"^browser \((?P<front>[^)]+)\): (?P<text>.*)$", re.M)


def page_frame_rates(output: str) -> list:
    """``[(front-end, what it measured)]`` from the browser tests' printed lines."""
    return [(m["front"], m["text"].strip()) for m in PAGE_LINE.finditer(output)]


def run_browser_tests() -> tuple:
    """Run tests/browser (JupyterLab and Voila in Chromium); (exit code, page lines)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, "-m", "pytest", "tests/browser", "-q", "-s", "-p", "no:cacheprovider"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    return out.returncode, page_frame_rates(out.stdout)

KERNEL_CODE = r"""
import json, time, statistics
from IPython.display import display
from snnlab.config import LabConfig
from snnlab.lab import Lab
from snnlab.lab.controller import Controller

def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

import os
def _wait_running(ctl):
    while ctl.state != "running" or ctl.data is None:
        time.sleep(0.001)

_out = {"frames": [], "stop": [], "rss": []}
for _label, _cfg in FRAME_CASES:
    # baseline: the headless controller, same worker and chunks, nothing drawn
    _h = Controller(_cfg)
    _h.start(None); _wait_running(_h); time.sleep(1.0); _s0 = _h.data.steps_done; _t0 = time.perf_counter()
    time.sleep(SECONDS); _s1 = _h.data.steps_done; _t1 = time.perf_counter(); _h.stop(wait=30)
    _lab = Lab(_cfg)
    display(_lab)
    _lab.run(None)
    _wait_running(_lab.controller)
    time.sleep(1.0)  # past the first frames
    _f0, _d0, _t0b = _lab.frames, _lab.controller.data.steps_done, time.perf_counter()
    time.sleep(SECONDS)
    _f1, _d1, _t1b = _lab.frames, _lab.controller.data.steps_done, time.perf_counter()
    _lab.stop(); _lab.wait(30)
    _r = _lab.controller.data
    _out["frames"].append(dict(case=_label, frames_per_s=(_f1 - _f0) / (_t1b - _t0b),
                               ms_per_frame=1000 * _r.frame_time / max(_r.frames, 1),
                               lab_steps_per_s=(_d1 - _d0) / (_t1b - _t0b),
                               headless_steps_per_s=(_s1 - _s0) / (_t1 - _t0)))

_big = LabConfig(n_output=10_000)
_lab = Lab(_big)
display(_lab)
# stop in the first chunk of a run (the network built, the first chunk going)
for _ in range(3):
    _lab.run(None)
    _wait_running(_lab.controller)
    _t = time.perf_counter(); _lab.stop(); _lab.wait(60)
    _out["stop"].append(dict(at_ms=None, latency_ms=1000 * (time.perf_counter() - _t)))
for _when in STOP_AT:  # a fresh open-ended run, stopped after _when seconds
    _lab.run(None)
    _wait_running(_lab.controller)
    time.sleep(_when)
    _t = time.perf_counter(); _lab.stop(); _lab.wait(60)
    _out["stop"].append(dict(at_ms=_lab.controller.data.t, latency_ms=1000 * (time.perf_counter() - _t)))

_lab.run(None)
_wait_running(_lab.controller)
_t0 = time.perf_counter()
while True:
    _el = time.perf_counter() - _t0
    _out["rss"].append(dict(t_s=round(_el, 1), rss_mb=_rss_mb(), sim_ms=_lab.controller.data.t if _lab.controller.data else 0,
                            frames=_lab.frames))
    if _el >= MINUTES * 60:
        break
    time.sleep(min(RSS_EVERY, MINUTES * 60 - _el + 0.01))
_t = time.perf_counter(); _lab.stop(); _lab.wait(60)
_out["stop"].append(dict(at_ms=_lab.controller.data.t, latency_ms=1000 * (time.perf_counter() - _t)))
print("RESULT " + json.dumps(_out))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="length of the open-ended run for RSS (10 in the issue)")
    parser.add_argument("--quick", action="store_true", help="short cases (a smoke test)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--browser", action="store_true",
                        help="also run tests/browser and report the frames/s the page drew")
    args = parser.parse_args(argv)
    if not (args.minutes > 0):
        parser.error(f"--minutes: {args.minutes}; expected > 0")
    from jupyter_client.manager import start_new_kernel

    seconds = 2.0 if args.quick else 5.0
    rss_every = 30.0 if args.minutes >= 2 else 5.0
    stop_at = [1.0, 3.0] if args.quick else [1.0, 5.0, 15.0]
    setup = (
        f"SECONDS = {seconds}\nMINUTES = {args.minutes}\nRSS_EVERY = {rss_every}\nSTOP_AT = {stop_at}\n"
        "from snnlab.config import LabConfig\n"
        "FRAME_CASES = [('seed: 100 -> 1000 LIF', LabConfig()), ('100 -> 10,000 LIF', LabConfig(n_output=10_000))]\n"
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
        reply = kc.execute_interactive(setup + KERNEL_CODE, output_hook=hook, timeout=3600 + 60 * args.minutes)
        total = time.perf_counter() - t0
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    text = "".join(stdout)
    if reply["content"]["status"] != "ok" or "RESULT " not in text:
        print(text, file=sys.stderr)
        return 1
    res = json.loads(text.split("RESULT ", 1)[1].splitlines()[0])

    print(f"snnlab lab benchmark, {platform.node()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"widget traffic to the front-end: {traffic['messages']} messages, "
          f"{traffic['bytes'] / 1e6:.1f} MB over {total:.0f} s\n")
    print(f"| case (open-ended, {seconds:g} s)    | frames/s | ms/frame | steps/s, lab | steps/s, headless "
          "| lab / headless |")
    print("|------------------------------|----------|----------|--------------|-------------------|"
          "----------------|")
    for r in res["frames"]:
        ratio = r["lab_steps_per_s"] / max(r["headless_steps_per_s"], 1e-9)
        print(f"| {r['case']:<28} | {r['frames_per_s']:>8.1f} | {r['ms_per_frame']:>8.1f} | "
              f"{r['lab_steps_per_s']:>12.0f} | {r['headless_steps_per_s']:>17.0f} | {ratio:>14.2f} |")
    print("\nTargets: >= 25 frames/s (seed), >= 15 frames/s (10,000 neurons).\n")
    if args.browser:
        rc, lines = run_browser_tests()
        print("In the page (tests/browser, Chromium)" + ("" if rc == 0 else f": the browser tests FAILED (exit {rc})"))
        for front, text in lines:
            print(f"  {front}: {text}")
        if not lines:
            print("  no frame rates printed")
        res["page"] = [dict(front=f, text=t) for f, t in lines]
        print()
    print("Stop latency, 100 -> 10,000 LIF (stop() to the run's thread ended):")
    for s in res["stop"]:
        where = "first chunk of a run" if s["at_ms"] is None else f"at {s['at_ms']:g} ms simulated"
        print(f"  {where:<32} {s['latency_ms']:7.1f} ms")
    print(f"\nRSS of the kernel, open-ended run of 100 -> 10,000 LIF with the views streaming, {args.minutes:g} min:")
    base = res["rss"][0]["rss_mb"]
    for r in res["rss"]:
        print(f"  t = {r['t_s']:6.1f} s   sim {r['sim_ms'] / 1000:8.1f} s   RSS {r['rss_mb']:8.1f} MB"
              f"   ({r['rss_mb'] - base:+.1f} MB)   frames {r['frames']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(results=res, traffic=traffic), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
