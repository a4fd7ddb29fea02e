"""The ``snnlab`` command: run a lab config headless and write its figures and data.

Usage::

    snnlab run CONFIG.json --out DIR [--format png --format svg ...] [--no-figures] [--quiet]

``CONFIG.json`` is a config saved by the lab (its Save button, or
``LabConfig.to_json()``). The run uses the lab's own network, input stream and
chunked loop (``snnlab.lab.controller``), so it records the same spikes the lab
would. A progress bar goes to stderr; the written files are listed on stdout,
one per line. ``DIR`` receives ``raster``/``voltage``/``rate`` figures,
``recording.npz`` and ``config.json`` (see ``snnlab.export``).

Exit codes: 0 done; 1 the run failed; 2 bad usage or a bad config (the message
says what is wrong, and nothing is written); 130 interrupted (Ctrl-C: what was
simulated so far is written, marked incomplete).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence, TextIO

__all__ = ["main"]

#: Largest config file read, bytes: a lab config is well under 1 KiB.
MAX_CONFIG_BYTES = 1024 * 1024

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _UsageError(Exception):
    """A problem with the command line or the config: exit 2, nothing written."""


class ProgressBar:
    """A text progress bar on a stream (stderr).

    On a terminal it redraws one line; in a log file (not a terminal) it
    writes a line at every 10 % so the log stays short.
    """

    def __init__(self, total_steps: int, dt: float, stream: TextIO, width: int = 30) -> None:
        self.total = max(1, int(total_steps))
        self.dt = dt
        self.stream = stream
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._last_decile = -1

    def update(self, steps: int, final: bool = False) -> None:
        frac = min(1.0, steps / self.total)
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        line = (
            f"[{bar}] {100 * frac:5.1f}%  {steps * self.dt:g}/{self.total * self.dt:g} ms"
            f"  {time.perf_counter() - self.t0:.1f} s"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            decile = int(frac * 10)
            if decile == self._last_decile and not final:
                return
            self._last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()


def _read_config(path_text: str):
    """Read and validate a config file; raise ``_UsageError`` with a clear message."""
    from snnlab.config import LabConfig

    path = Path(path_text)
    if not path.exists():
        raise _UsageError(f"config file {path_text!r} does not exist")
    if not path.is_file():
        raise _UsageError(f"config {path_text!r} is not a file; expected a JSON file saved by the lab")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise _UsageError(
            f"config file {path_text!r} is {size} bytes; expected a lab config of at most "
            f"{MAX_CONFIG_BYTES} bytes"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as ex:
        raise _UsageError(f"config file {path_text!r} is not UTF-8 text ({ex.reason} at byte {ex.start})") from ex
    try:
        return LabConfig.from_json(text)
    except (ValueError, TypeError, RecursionError) as ex:
        raise _UsageError(f"config file {path_text!r}: {ex}") from ex


def _check_out_dir(out: str) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise _UsageError(f"--out {out!r} exists and is not a folder")
    parent = path if path.exists() else next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):
        raise _UsageError(f"--out {out!r}: cannot write there (no permission)")
    return path


def _parser() -> argparse.ArgumentParser:
    from snnlab import __version__
    from snnlab.export import FIGURE_FORMATS

    parser = argparse.ArgumentParser(
        prog="snnlab",
        description="snnlab: run spiking-network lab configs without a browser.",
    )
    parser.add_argument("--version", action="version", version=f"snnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run a lab config and write its figures and data",
        description="Run CONFIG (a JSON file saved by the lab) and write raster/voltage/rate "
        "figures, recording.npz and config.json into DIR.",
    )
    run.add_argument("config", metavar="CONFIG.json", help="lab config (JSON)")
    run.add_argument("--out", "-o", required=True, metavar="DIR", help="folder to write into (created if missing)")
    run.add_argument(
        "--format", "-f", dest="formats", action="append", choices=FIGURE_FORMATS,
        help="figure format; repeat for several (default: png, svg and pdf)",
    )
    run.add_argument("--no-figures", action="store_true", help="write only recording.npz and config.json")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    # Listed for --help; `main` hands `snnlab sweep ...` to snnlab.sweep.cli before parsing.
    sub.add_parser("sweep", help="run a parameter sweep of a lab config on Dask (snnlab sweep --help)")
    return parser


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from snnlab.export import FIGURE_FORMATS

    config = _read_config(args.config)
    out = _check_out_dir(args.out)
    formats = tuple(dict.fromkeys(args.formats)) if args.formats else FIGURE_FORMATS

    # The lab's own loop (a worker thread), so the spikes are the lab's.
    from snnlab.lab.controller import Controller

    bar = None if args.quiet else ProgressBar(config.n_steps, config.dt, stderr)
    controller = Controller(
        config,
        on_frame=(lambda data, final: bar.update(data.steps_done, final)) if bar else None,
        frame_interval=0.2,
    )
    interrupted = False
    controller.start()
    try:
        while not controller.join(0.1):
            pass
    except KeyboardInterrupt:
        interrupted = True
        controller.stop(wait=30.0)
    recording = controller.recording
    if controller.state == "error":
        stderr.write(f"snnlab run: {controller.message}\n")
        if recording is None:
            return EXIT_FAILED
    if recording is None:  # interrupted before the first chunk
        stderr.write("snnlab run: interrupted before anything was simulated; nothing written\n")
        return EXIT_INTERRUPTED

    from snnlab.export import export_recording

    written = export_recording(recording, out, formats, figures=not args.no_figures)
    for path in written:
        stdout.write(f"{path}\n")
    status = "done" if recording.completed else "incomplete"
    stderr.write(
        f"snnlab run: {status}, {recording.duration:g} of {config.time:g} ms simulated in "
        f"{recording.wall_time:.2f} s; {int(recording.output_spikes.sum())} output spikes; "
        f"{len(written)} files in {out}\n"
    )
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if controller.state != "error" else EXIT_FAILED


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``snnlab`` command; returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sweep"]:
        from snnlab.sweep.cli import main as sweep_main

        return sweep_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)  # exits with 2 and a usage message on bad options
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return _run(args, sys.stdout, sys.stderr)
    except _UsageError as ex:
        sys.stderr.write(f"snnlab {args.command}: error: {ex}\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
