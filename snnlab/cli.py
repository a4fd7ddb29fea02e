"""The ``snnlab`` command: run a lab config headless and write its figures and data.

Usage::

    snnlab run CONFIG.json --out DIR [-f png svg pdf nwb] [--window T0:T1] [--layers L ...]
               [--neurons LAYER=START:STOP] [--width one|two] [--style STYLE] [--no-figures] [--quiet]

``CONFIG.json`` is a config saved by the lab (its Save button, or
``LabConfig.to_json()``). The run uses the lab's own network, input stream and
chunked loop (``snnlab.lab.controller``), so it records the same spikes the lab
would. A progress bar goes to stderr; the written files are listed on stdout,
one per line. ``DIR`` receives ``raster``/``voltage``/``rate`` figures,
``recording.npz`` and ``config.json`` (see ``snnlab.export``).

Exit codes: 0 done; 1 the run failed (one line on stderr; nothing is written
if nothing was simulated); 2 bad usage or a bad config (one line on stderr
says what is wrong, and nothing is written); 130 interrupted (Ctrl-C: the run
stops at its next chunk, a few tens of ms, and what was simulated so far is
written, marked incomplete; Ctrl-C before the run started writes nothing).
No case prints a traceback (set ``SNNLAB_TRACEBACK=1`` to see one for an
unexpected error).

Ctrl-C during a run does not raise ``KeyboardInterrupt``: a SIGINT handler
asks the run to stop, and the main thread waits on an ``Event`` in short
slices. (On Python 3.11 a ``KeyboardInterrupt`` that lands in
``Thread.join(timeout)`` marks the thread as stopped while it still runs;
nothing here joins a running thread with a timeout.)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional, Sequence, TextIO

__all__ = ["main"]

#: Largest config file read, bytes: a lab config is well under 1 KiB.
MAX_CONFIG_BYTES = 1024 * 1024

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _UsageError(Exception):
    """A problem with the command line or the config: exit 2, nothing written."""


def one_line(text: str) -> str:
    """``text`` on one line (a message from deep down may hold newlines)."""
    return " ".join(str(text).split())


def usage_error(command: str, message: str, stream: Optional[TextIO] = None) -> int:
    """Write ``snnlab COMMAND: error: MESSAGE`` as one line to stderr; return exit code 2.

    The shared way for every subcommand to refuse bad usage or bad input.
    """
    stream = sys.stderr if stream is None else stream
    stream.write(f"snnlab {command}: error: {one_line(message)}\n")
    stream.flush()
    return EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and ``--help`` says the rest)."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        name = self.prog[len("snnlab"):].strip() or "snnlab"
        usage_error(name, f"{message} (see {self.prog} --help)")
        raise SystemExit(EXIT_USAGE)


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
        data = path.read_bytes()
    except OSError as ex:
        raise _UsageError(f"config file {path_text!r} cannot be read ({ex.strerror or ex})") from ex
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as ex:
        raise _UsageError(f"config file {path_text!r} is not UTF-8 text ({ex.reason} at byte {ex.start})") from ex
    try:
        return LabConfig.from_json(text)
    except (ValueError, TypeError) as ex:
        raise _UsageError(f"config file {path_text!r}: {ex}") from ex


def _check_out_dir(out: str) -> Path:
    """Check, before anything is simulated, that ``out`` is (or can become) a writable folder.

    Nothing is created here: a bad config found later must leave no trace.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise _UsageError(f"--out {out!r} exists and is not a folder")
    # The nearest part of the path that exists must be a folder we may write
    # into: "a_file/sub" or "a_file/sub/deeper" can never be created.
    existing = path if path.exists() else next((p for p in path.absolute().parents if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise _UsageError(f"--out {out!r}: {str(existing)!r} is not a folder, so {out!r} cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _UsageError(f"--out {out!r}: cannot write into {str(existing)!r} (no permission)")
    return path


def _window_option(text: str):
    from snnlab.export import parse_window

    try:
        return parse_window(text)
    except ValueError as ex:
        raise argparse.ArgumentTypeError(str(ex)) from None


def _neurons_option(text: str):
    """``LAYER=START:STOP`` -> ``(layer, range(START, STOP))``."""
    layer, sep, span = text.partition("=")
    start, colon, stop = span.partition(":")
    try:
        if not (sep and colon and layer):
            raise ValueError
        first, last = int(start), int(stop)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--neurons {text!r}; expected LAYER=START:STOP, e.g. B=0:100") from None
    if not 0 <= first < last:
        raise argparse.ArgumentTypeError(f"--neurons {text!r}; expected 0 <= START < STOP")
    return layer, range(first, last)


def _style_option(text: str) -> str:
    import matplotlib.style

    if text not in matplotlib.style.available and not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"--style {text!r} is neither a matplotlib style name nor a style file")
    return text


def _export_progress(stderr: TextIO):
    def report(done: int, total: int, name: str) -> None:
        stderr.write(f"export: {name} ({done}/{total})\n")
        stderr.flush()

    return report


def _parser() -> argparse.ArgumentParser:
    from snnlab import __version__
    from snnlab.export import EXPORT_FORMATS

    parser = _Parser(
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
        "--format", "-f", dest="formats", action="extend", nargs="+", choices=EXPORT_FORMATS, metavar="FORMAT",
        help="png, svg, pdf (figures) and nwb (data, recording.nwb): several after one -f (-f png svg) "
        "or -f repeated (default: png svg pdf)",
    )
    run.add_argument("--window", type=_window_option, metavar="T0:T1",
                     help="export only T0 <= t < T1 (ms), e.g. 1000:2000; either side may be empty")
    run.add_argument("--layers", nargs="+", metavar="LAYER", help="export only these layers (default: all)")
    run.add_argument("--neurons", action="append", type=_neurons_option, metavar="LAYER=START:STOP",
                     help="export only neurons START..STOP-1 of LAYER; repeat for several layers")
    run.add_argument("--width", choices=("one", "two"), default="two",
                     help="figure width: one or two journal columns (default: two)")
    run.add_argument("--style", type=_style_option, metavar="STYLE",
                     help="matplotlib style sheet (a name or a .mplstyle file) for the figures")
    run.add_argument("--no-figures", action="store_true", help="write only the data files (recording.npz, "
                     "config.json, and recording.nwb with -f nwb)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    # Listed for --help; `main` hands `snnlab sweep ...` to snnlab.sweep.cli before parsing.
    sub.add_parser("sweep", help="run a parameter sweep of a lab config on Dask (snnlab sweep --help)")
    return parser


def _steps_of(recording) -> int:
    """Steps a recording holds (0 for none)."""
    return 0 if recording is None else int(recording.steps)


def _steps_simulated(controller) -> int:
    """Steps the controller's run in progress has stored (0 before its first chunk)."""
    return int(getattr(controller.data, "steps_done", 0) or 0)


def run_interruptibly(controller, poll_s: float = 0.02, *, abandon_if_empty: bool = False) -> bool:
    """Run ``controller`` to its end in its worker thread; Ctrl-C stops it. Returns True if interrupted.

    In the main thread a SIGINT handler calls ``controller.stop()`` (the run
    ends at its next chunk boundary and keeps what it simulated) and no
    ``KeyboardInterrupt`` is raised; the main thread waits on an ``Event``
    set when the run reaches a final state, in slices of ``poll_s`` seconds,
    and never joins the running thread with a timeout (see the module notes).
    Elsewhere (another thread) a ``KeyboardInterrupt`` is caught instead.

    With ``abandon_if_empty``, a Ctrl-C that comes before the run stored its
    first step returns at once, leaving the worker running: the first chunk
    of a fresh process loads compiled code for up to a second and cannot be
    cut short, and there is nothing to keep. The caller must then end the
    process with ``os._exit`` (a normal exit would finalize torch under the
    running thread).
    """
    finished = threading.Event()
    interrupted = threading.Event()
    previous_on_state = controller.on_state

    def on_state(state: str, message: str) -> None:
        if previous_on_state is not None:
            previous_on_state(state, message)
        if state in ("done", "stopped", "error"):
            finished.set()

    def on_sigint(signum, frame) -> None:
        interrupted.set()
        controller.stop()

    controller.on_state = on_state
    # Not in the main thread, or SIGINT ignored by whoever started us
    # (nohup, a background job): leave the handler alone.
    in_main = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    )
    previous_handler = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        controller.start()
        while not finished.wait(poll_s):
            if not controller.running:  # ended without a final state (cannot happen; never hang)
                break
            if abandon_if_empty and interrupted.is_set() and _steps_simulated(controller) == 0:
                return True
    except KeyboardInterrupt:  # only off the main thread, where no handler is installed
        interrupted.set()
        controller.stop()
        while not finished.wait(poll_s) and controller.running:
            pass
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous_handler)
        controller.on_state = previous_on_state
    # The worker set its final state as its last act: it has ended, or is
    # about to (this join has no timeout to be interrupted in).
    controller.join()
    return interrupted.is_set()


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
    interrupted = run_interruptibly(controller, abandon_if_empty=True)
    if interrupted and controller.running and _steps_simulated(controller) == 0:
        stderr.write("snnlab run: interrupted before anything was simulated; nothing written\n")
        stderr.flush()
        stdout.flush()
        os._exit(EXIT_INTERRUPTED)  # the worker is still loading; see run_interruptibly
    recording = controller.recording
    steps = _steps_of(recording)
    if controller.state == "error":
        if steps == 0:  # a failed build: nothing to write, not even an empty recording
            stderr.write(f"snnlab run: {one_line(controller.message)}; nothing written\n")
            return EXIT_FAILED
        stderr.write(f"snnlab run: {one_line(controller.message)}\n")
    if steps == 0:
        stderr.write("snnlab run: interrupted before anything was simulated; nothing written\n")
        return EXIT_INTERRUPTED

    from snnlab.export import export_recording

    try:
        written = export_recording(
            recording, out, formats, figures=not args.no_figures, window=args.window, layers=args.layers,
            neurons=dict(args.neurons) if args.neurons else None, width=args.width, style=args.style,
            progress=None if args.quiet else _export_progress(stderr),
        )
    except KeyboardInterrupt:
        stderr.write(f"snnlab run: interrupted while writing into {str(out)!r}; some files may be missing\n")
        return EXIT_INTERRUPTED
    except ValueError as ex:  # a selection the run does not have, or something in the way: nothing written
        raise _UsageError(str(ex)) from ex
    for path in written:
        stdout.write(f"{path}\n")
    status = "done" if recording.completed else "incomplete"
    stderr.write(
        f"snnlab run: {status}, {recording.duration:g} of {config.time:g} ms simulated in "
        f"{recording.wall_time:.2f} s; {int(recording.spikes(recording.layer_names[-1]).sum())} output spikes; "
        f"{len(written)} files in {out}\n"
    )
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if controller.state != "error" else EXIT_FAILED


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``snnlab`` command; returns the exit code.

    Every failure ends in one line on stderr, never a traceback: bad usage or
    input exit 2, a failed run 1, Ctrl-C 130 (also while still importing).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sweep"]:  # its own parser and exit codes: snnlab.sweep.cli
        from snnlab.sweep.cli import main as sweep_main

        return sweep_main(argv[1:])
    command = None
    try:
        parser = _parser()
        args = parser.parse_args(argv)  # bad options: one line, SystemExit(2)
        if args.command is None:
            sys.stderr.write("snnlab: error: no command given (see snnlab --help)\n")
            return EXIT_USAGE
        command = args.command
        return _run(args, sys.stdout, sys.stderr)
    except _UsageError as ex:
        return usage_error(command, str(ex))
    except KeyboardInterrupt:  # before the run (imports, reading the config): nothing written yet
        sys.stderr.write(f"snnlab{' ' + command if command else ''}: interrupted; nothing written\n")
        return EXIT_INTERRUPTED
    except Exception as ex:  # a bug or the system (disk full): one line, never a traceback
        if os.environ.get("SNNLAB_TRACEBACK"):
            raise
        sys.stderr.write(
            f"snnlab{' ' + command if command else ''}: failed: {type(ex).__name__}: {one_line(ex)} "
            "(set SNNLAB_TRACEBACK=1 for the traceback)\n"
        )
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
