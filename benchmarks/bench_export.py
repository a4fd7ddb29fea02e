"""Export benchmark: time and file size against run length, 1 s to 10 min of the seed network.

    .venv/bin/python benchmarks/bench_export.py             # 1 s, 10 s, 60 s, 5 min, 10 min (~3 min)
    .venv/bin/python benchmarks/bench_export.py --quick     # 1 s, 10 s, 60 s
    .venv/bin/python benchmarks/bench_export.py --lengths 1 60

For each length the seed network (100 Bernoulli inputs at 100 Hz -> 1000 LIF
neurons with all-to-all inhibition, dt 1 ms; ``LabConfig()``) is simulated
with the lab's network and input stream, chunk by chunk (runs past the lab's
memory limit, 2 GiB, are recorded here with 5 traced voltages only), then
exported three ways into a fresh folder:

* **default**: what the lab's Export and ``snnlab run`` write: raster,
  voltage and rate figures as PNG, SVG and PDF, ``recording.npz`` and
  ``config.json`` (``snnlab.export.export_recording``);
* **nwb**: ``recording.nwb`` alone (``snnlab.io.nwb.export_nwb``);
* **window**: the default export of a 1 s window (``window=(t0, t0 + 1000)``);
* **lab**: what the lab's Export panel writes by default: raster, voltage and
  rate as PNG, ``recording.npz`` and ``config.json`` (``formats=["png"]``);
* **npz**: ``recording.npz`` alone (``Recording.to_npz``), and, as a baseline
  in the same process, the same arrays through ``np.savez_compressed`` (zlib
  level 6, the writer before level 1).

``--before JSON`` adds a before/after table against an earlier run's JSON,
e.g. the same script run on an older checkout::

    mkdir /tmp/before-f76a9c5 && git archive f76a9c5 | tar -x -C /tmp/before-f76a9c5
    cp benchmarks/bench_export.py /tmp/before-f76a9c5/benchmarks/   # it measures the snnlab beside it
    python /tmp/before-f76a9c5/benchmarks/bench_export.py --lengths 1 60 600 --out /tmp/before-results
    python benchmarks/bench_export.py --lengths 1 60 600 --before /tmp/before-results/bench_export.json

Reported per length: export seconds, the largest figure file, all files'
bytes, and ratios: export time per simulated second, and each export's time
against the 1 s run measured in the same process (absolute times on a shared
machine are noise; the ratios and sizes are the result). Results go to
``benchmarks/results/bench_export.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from snnlab.config import BernoulliInput, LabConfig, build_network  # noqa: E402
from snnlab.recording import LayerRecording, Recording  # noqa: E402

RESULTS = HERE / "results"
LENGTHS_S = (1, 10, 60, 300, 600)
QUICK_S = (1, 10, 60)
TRACED = np.arange(5)
CHUNK_STEPS = 2000


def simulate(seconds: float) -> tuple[Recording, float]:
    """The seed network for ``seconds``, recorded layer by layer (5 traced voltages)."""
    full = LabConfig()
    small = full.replace(time=float(CHUNK_STEPS) * full.dt)  # monitors sized for one chunk
    net = build_network(small)
    inputs = BernoulliInput(small)
    steps = int(round(seconds * 1000.0 / full.dt))
    a = np.zeros((steps, full.n_input), bool)
    b = np.zeros((steps, full.n_output), bool)
    v = np.zeros((steps, TRACED.size), np.float32)
    start = time.perf_counter()
    for chunk in net.run_chunks(inputs, time=seconds * 1000.0, chunk_steps=CHUNK_STEPS):
        rows = slice(chunk.start, chunk.stop)
        a[rows] = chunk.records["A"]["s"][:, 0].numpy()
        b[rows] = chunk.records["B"]["s"][:, 0].numpy()
        v[rows] = chunk.records["B"]["v"][:, 0, TRACED].numpy()
    wall = time.perf_counter() - start
    cfg = full.to_dict()
    cfg["time"] = seconds * 1000.0  # what ran (past the lab's own limit for long runs)
    rec = Recording(dt=full.dt, completed=True, wall_time=wall, experiment=cfg, layers={
        "A": LayerRecording("A", (full.n_input,), "Input", a),
        "B": LayerRecording("B", (full.n_output,), "LIFNodes", b, v, TRACED, full.thresh),
    })
    return rec, wall


def _timed(fn) -> tuple[float, list]:
    """``(wall seconds, result)``; the CPU seconds of the last call are in ``_timed.cpu``."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    _timed.cpu = time.process_time() - cpu
    return time.perf_counter() - start, out


def _savez6(rec: Recording, path: Path) -> None:
    """The arrays of ``rec.to_npz`` through ``np.savez_compressed`` (zlib level 6): the old writer."""
    arrays = {}
    for i, layer in enumerate(rec.layers.values()):
        arrays[f"layer{i}_spikes"] = np.packbits(layer.spikes, axis=1)
        arrays[f"layer{i}_traced"] = layer.traced
        if layer.voltages is not None:
            arrays[f"layer{i}_voltages"] = layer.voltages
    np.savez_compressed(path, **arrays)


def measure(rec: Recording, folder: Path) -> dict:
    from snnlab.export import export_recording
    from snnlab.io.nwb import export_nwb

    t_default, files = _timed(lambda: export_recording(rec, folder / "default"))
    cpu_default = _timed.cpu
    t_lab, _ = _timed(lambda: export_recording(rec, folder / "lab", formats=["png"]))
    cpu_lab = _timed.cpu
    t_npz, _ = _timed(lambda: rec.to_npz(folder / "alone.npz"))
    cpu_npz = _timed.cpu
    t_npz6, _ = _timed(lambda: _savez6(rec, folder / "level6.npz"))
    cpu_npz6 = _timed.cpu
    figures = [p for p in files if p.suffix in (".png", ".svg", ".pdf")]
    t_nwb, nwb = _timed(lambda: export_nwb(rec, folder / "recording.nwb"))
    t0 = rec.duration / 2
    t_window, _ = _timed(lambda: export_recording(rec, folder / "window", window=(t0, t0 + 1000.0)))
    largest = max(figures, key=lambda p: p.stat().st_size)
    return {
        "seconds": rec.duration / 1000.0,
        "spikes": int(sum(layer.spikes.sum() for layer in rec.layers.values())),
        "export_s": round(t_default, 3),
        "export_cpu_s": round(cpu_default, 3),
        "largest_figure": largest.name,
        "largest_figure_bytes": largest.stat().st_size,
        "figure_bytes": {p.name: p.stat().st_size for p in figures},
        "npz_bytes": (folder / "default" / "recording.npz").stat().st_size,
        "lab_s": round(t_lab, 3),
        "lab_cpu_s": round(cpu_lab, 3),
        "npz_s": round(t_npz, 3),
        "npz_cpu_s": round(cpu_npz, 3),
        "npz_savez6_cpu_s": round(cpu_npz6, 3),
        "npz_savez6_s": round(t_npz6, 3),
        "npz_savez6_bytes": (folder / "level6.npz").stat().st_size,
        "all_default_bytes": sum(p.stat().st_size for p in files),
        "nwb_s": round(t_nwb, 3),
        "nwb_bytes": nwb.stat().st_size,
        "window_1s_s": round(t_window, 3),
    }


def before_command(path: Path) -> str:
    """How the earlier results were made, as its JSON says."""
    meta = json.loads(path.read_text()).get("meta", {})
    return f"`{meta.get('command', str(path)).strip()}`" + (f", {meta['code']}" if meta.get("code") else "")


def _code_version() -> str:
    """The snnlab measured: its folder and, where it is a git checkout, the commit."""
    import subprocess

    import snnlab

    root = Path(snnlab.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"snnlab from {root}" + (f" at {commit}" if commit else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"lengths {QUICK_S} s")
    parser.add_argument("--lengths", type=float, nargs="+", metavar="S", help="run lengths, seconds")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--before", type=Path, metavar="JSON",
                        help="an earlier bench_export.json (e.g. of an older checkout): add a before/after table")
    args = parser.parse_args(argv)
    lengths = args.lengths or (QUICK_S if args.quick else LENGTHS_S)
    os.environ.setdefault("MPLBACKEND", "Agg")

    # Warm-up: the first export imports matplotlib and loads fonts; not part of any row.
    from snnlab.export import export_recording

    with tempfile.TemporaryDirectory(prefix="snnlab-bench-export-") as d:
        export_recording(simulate(0.1)[0], Path(d), ["png", "svg", "pdf", "nwb"])

    rows = []
    for seconds in lengths:
        rec, sim_s = simulate(seconds)
        with tempfile.TemporaryDirectory(prefix="snnlab-bench-export-") as d:
            row = measure(rec, Path(d))
        row["simulate_s"] = round(sim_s, 3)
        rows.append(row)
        print(f"{seconds:>6g} s  simulate {sim_s:6.2f} s  export {row['export_s']:6.2f} s "
              f"(CPU {row['export_cpu_s']:.2f} s)  "
              f"largest figure {row['largest_figure']} {row['largest_figure_bytes'] / 1024:7.0f} KiB  "
              f"npz {row['npz_bytes'] / 1024**2:6.1f} MiB  nwb {row['nwb_s']:6.2f} s "
              f"{row['nwb_bytes'] / 1024**2:6.1f} MiB  1 s window {row['window_1s_s']:.2f} s  "
              f"lab {row['lab_s']:.2f} s (CPU {row['lab_cpu_s']:.2f})  npz CPU {row['npz_cpu_s']:.2f} s "
              f"(savez level 6 {row['npz_savez6_cpu_s']:.2f} s)", flush=True)
        del rec
    base = rows[0]
    for row in rows:
        row["export_per_simulated_s"] = round(row["export_s"] / row["seconds"], 4)
        row["export_vs_first"] = round(row["export_s"] / base["export_s"], 2)
        row["nwb_vs_first"] = round(row["nwb_s"] / base["nwb_s"], 2)
        row["largest_figure_vs_first"] = round(row["largest_figure_bytes"] / base["largest_figure_bytes"], 2)

    meta = {
        "command": "python benchmarks/bench_export.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "network": "seed: 100 Bernoulli inputs at 100 Hz -> 1000 LIF, all-to-all inhibition, dt 1 ms",
        "default_export": "raster/voltage/rate x png/svg/pdf + recording.npz + config.json",
        "code": _code_version(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_export.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Export: time and size against run length (seed network)",
        "",
        f"`{meta['command'].strip()}` on {meta['machine']}. Default export: {meta['default_export']}.",
        f"Ratios are against the {base['seconds']:g} s run of the same process. CPU time is the export's "
        "own (the machine is shared; wall time includes waiting for a core).",
        "",
        "| run | spikes | export wall (s) | export CPU (s) | x first | per simulated s | largest figure | "
        "all default files | NWB (s) | NWB size | 1 s window (s) |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seconds']:g} s | {r['spikes']:,} | {r['export_s']:.2f} | {r['export_cpu_s']:.2f} | "
            f"{r['export_vs_first']:.1f} | "
            f"{r['export_per_simulated_s']:.3f} | {r['largest_figure']} {r['largest_figure_bytes'] / 1024:.0f} KiB | "
            f"{r['all_default_bytes'] / 1024**2:.1f} MiB | {r['nwb_s']:.2f} | {r['nwb_bytes'] / 1024**2:.1f} MiB | "
            f"{r['window_1s_s']:.2f} |"
        )
    lines += [
        "",
        "The lab's default export (PNG figures, `recording.npz`, `config.json`) and `recording.npz` alone; "
        "the npz baseline is the same arrays through `np.savez_compressed` (zlib level 6), in the same process.",
        "",
        "| run | lab export wall (s) | lab export CPU (s) | npz CPU (s) | savez level 6 CPU (s) | npz / level 6 | "
        "npz size | level 6 size |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seconds']:g} s | {r['lab_s']:.2f} | {r['lab_cpu_s']:.2f} | {r['npz_cpu_s']:.3f} | "
            f"{r['npz_savez6_cpu_s']:.3f} | {r['npz_cpu_s'] / max(r['npz_savez6_cpu_s'], 1e-9):.2f} | "
            f"{r['npz_bytes'] / 1024**2:.1f} MiB | {r['npz_savez6_bytes'] / 1024**2:.1f} MiB |"
        )
    if args.before is not None:
        before = {r["seconds"]: r for r in json.loads(args.before.read_text())["rows"]}
        lines += [
            "",
            f"Before ({before_command(args.before)}) and after (this run), back to back on this machine:",
            "",
            "| run | export CPU before (s) | after (s) | after / before | export wall before (s) | after (s) | "
            "npz before (MiB) | after (MiB) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            b = before.get(r["seconds"])
            if b is None:
                continue
            lines.append(
                f"| {r['seconds']:g} s | {b['export_cpu_s']:.2f} | {r['export_cpu_s']:.2f} | "
                f"{r['export_cpu_s'] / max(b['export_cpu_s'], 1e-9):.2f} | {b['export_s']:.2f} | "
                f"{r['export_s']:.2f} | {b['npz_bytes'] / 1024**2:.1f} | {r['npz_bytes'] / 1024**2:.1f} |"
            )
    (args.out / "bench_export.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
