"""``snnlab sweep``: a parameter sweep of a lab config from the command line.

Usage::

    snnlab sweep CONFIG.json --vary input_rate=0:200:21 --vary weight_scale=0:4:21 \\
        --seeds 3 --out DIR [--scheduler ADDRESS] [--workers N] [--seed S] [--format parquet|csv]
        [--seed-from NAMES] [--pack N] [--rerun-errors] [--quiet]

``--vary NAME=START:STOP:COUNT`` gives ``COUNT`` values from ``START`` to
``STOP`` inclusive (``numpy.linspace``); ``NAME=V1,V2,...`` lists them. The
points are the grid of every ``--vary``. ``DIR`` receives ``sweep.json``,
``parts/`` (a row per finished run, as it finishes) and ``results.parquet``
(see ``snnlab.sweep.store``); running the same command again resumes.

Exit codes: 0 every run done; 1 every run done but some failed (their rows
hold the error); 2 a bad command line or specification (one line names the
fault; nothing runs or is written); 130 interrupted by Ctrl-C (the finished
runs are kept and ``results`` rebuilt; run the command again to resume).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence, TextIO

__all__ = ["main", "SweepProgress"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Largest config file read, bytes (a lab config is well under 1 KiB).
MAX_CONFIG_BYTES = 1024 * 1024


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the usage too)
        raise _UsageError(message)


class SweepProgress:
    """A text progress bar of runs (stderr): redraws one line on a terminal, a line per 10 % in a log."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.first = None
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        if self.first is None:
            self.first = done  # resumed runs do not count in the speed
        frac = done / total if total else 1.0
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.t0
        new = done - self.first
        speed = new / elapsed if elapsed > 0 else 0.0
        eta = f"  eta {(total - done) / speed:.0f} s" if speed > 0 and done < total else ""
        line = (
            f"[{'#' * filled}{'-' * (self.width - filled)}] {done}/{total} runs "
            f"{100 * frac:5.1f}%  {elapsed:.1f} s  {speed:.1f} runs/s{eta}"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        else:
            decile = int(frac * 10)
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="snnlab sweep",
        description="Run a parameter sweep of a lab config (a grid of --vary values x --seeds) on Dask "
        "and write one row per point and seed to DIR (resumable: run the same command again).",
    )
    p.add_argument("config", metavar="CONFIG.json", help="lab config (JSON saved by the lab)")
    p.add_argument(
        "--vary", action="append", required=True, metavar="NAME=START:STOP:COUNT",
        help="a parameter and its values (COUNT values from START to STOP inclusive, or V1,V2,...); repeat",
    )
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="replicates per point (default 1)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="the sweep's seed (default 0)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="results folder (created; resumed if it holds this sweep)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786 (default: a local cluster); 'inline' runs in this process")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes of the local cluster (default: CPU count)")
    p.add_argument(
        "--seed-from", metavar="NAMES",
        help="comma-separated parameters each point's seed derives from (default: every --vary); "
        "'' gives all points of a replicate one seed (common random numbers)",
    )
    p.add_argument("--pack", type=int, default=1, metavar="N",
                   help="run up to N points that share a network and seed (differing only in input_rate) "
                   "as one batched simulation (default 1)")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="results format (default parquet)")
    p.add_argument("--rerun-errors", action="store_true", help="on resume, run the failed points again")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return p


def _read_config(text_path: str):
    from snnlab.config import LabConfig

    path = Path(text_path)
    if not path.is_file():
        raise _UsageError(f"config {text_path!r} is not a file; expected a JSON file saved by the lab")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise _UsageError(f"config {text_path!r} is over {MAX_CONFIG_BYTES} bytes; expected a lab config")
    try:
        return LabConfig.from_json(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as ex:
        raise _UsageError(f"config {text_path!r} is not UTF-8 text") from ex
    except (ValueError, TypeError, RecursionError) as ex:
        raise _UsageError(f"config {text_path!r}: {ex}") from ex


def _build(args):
    from snnlab.sweep.design import grid, parse_vary
    from snnlab.sweep.runner import Sweep

    config = _read_config(args.config)
    axes = {}
    for text in args.vary:
        name, values = parse_vary(text)
        if name in axes:
            raise _UsageError(f"--vary {name} is given twice; expected each parameter once")
        axes[name] = values
    if args.workers is not None and args.workers < 1:
        raise _UsageError(f"--workers {args.workers}; expected at least 1")
    if args.scheduler is not None and args.workers is not None and args.scheduler != "inline":
        raise _UsageError("--workers sizes the local cluster; it cannot be used with --scheduler ADDRESS")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise _UsageError(f"--out {args.out!r} exists and is not a folder")
    seed_from = None
    if args.seed_from is not None:
        seed_from = tuple(n.strip() for n in args.seed_from.split(",") if n.strip())
    return Sweep(config, grid(**axes), seeds=args.seeds, seed=args.seed, out=out, format=args.format,
                 seed_from=seed_from, pack=args.pack)


def main(argv: Optional[Sequence[str]] = None, stdout: TextIO = None, stderr: TextIO = None) -> int:
    """Entry point of ``snnlab sweep`` (``argv`` without ``snnlab sweep``); returns the exit code."""
    from snnlab.sweep.runner import SweepSpecError

    # Dask's shutdown chatter (slow worker exits, cancelled tasks on Ctrl-C) is
    # not news at a terminal; workers inherit this before they import Dask.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        sweep = _build(args)
    except (_UsageError, ValueError, TypeError) as ex:
        stderr.write(f"snnlab sweep: error: {ex}\n")
        return EXIT_USAGE
    bar = None if args.quiet else SweepProgress(stderr)
    scheduler = args.scheduler if args.scheduler not in (None, "local") else None
    t0 = time.perf_counter()
    try:
        table = sweep.run(scheduler=scheduler, workers=args.workers, progress=bar, rerun_errors=args.rerun_errors)
    except SweepSpecError as ex:
        stderr.write(f"snnlab sweep: error: {ex}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        from snnlab.sweep.store import load_results

        kept = len(load_results(args.out))
        stderr.write(
            f"\nsnnlab sweep: interrupted; {kept} of {sweep.n_runs} runs kept in {args.out} "
            "(run the same command to resume)\n"
        )
        return EXIT_INTERRUPTED
    failed = int(table["error"].notna().sum()) if "error" in table else 0
    store = sweep.store()
    stdout.write(f"{store.results_path}\n")
    stderr.write(
        f"snnlab sweep: {len(table)} runs ({len(sweep.design)} points x {sweep.seeds} seeds) in "
        f"{time.perf_counter() - t0:.1f} s; {failed} failed; results in {store.results_path}\n"
    )
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
