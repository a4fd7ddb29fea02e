"""Run a sweep: check the specification, run every point on Dask, store rows as they finish.

``Sweep(target, design, seeds=3, seed=0, out="DIR").run()`` runs every
(point, replicate) of ``design`` on ``target`` and returns a tidy
``pandas.DataFrame``: one row per point and replicate with the columns

``point``, ``replicate``, ``seed``
    the point's index in the design, the replicate (0 .. seeds - 1) and the
    seed it ran with (``snnlab.sweep.design.point_seed``);
one column per varied parameter;
``rate_<layer>``, ``cv_<layer>``, ``fano_<layer>``, ``chi_<layer>``
    the built-in metrics (``snnlab.sweep.metrics``), and one per user metric;
``error``
    None, or ``"ExceptionType: message"`` when the point failed (its metrics
    are then NaN and the sweep goes on);
``wall_time_s``, ``worker``
    seconds the run took (build, simulation and metrics) and where it ran.

Where it runs (``run(client=..., scheduler=..., workers=...)``):

- default: an embedded ``dask.distributed.LocalCluster`` with ``workers``
  processes of one thread each (no set-up);
- ``scheduler="tcp://host:8786"``: a running Dask scheduler (any cluster:
  dask-jobqueue, Kubernetes; see ``docs/sweeps.md``);
- ``client=``: a ``dask.distributed.Client`` of your own;
- ``scheduler="inline"``: in this process, one point after another, no Dask
  (debugging, small sweeps in a notebook).

Workers keep torch to one thread: each task sets it, and a ``LocalCluster``'s
processes start with ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from snnlab.sweep.design import Design, grid, point_seed
from snnlab.sweep.metrics import CHI_BIN_MS, FANO_WINDOW_MS, point_metrics
from snnlab.sweep.store import FORMATS, ResultStore
from snnlab.sweep.targets import as_target

__all__ = ["Sweep", "SweepSpecError", "run_point", "run_pack", "run_groups", "MAX_RUNS"]

#: Most runs (points x seeds) a sweep may have unless ``max_runs`` says otherwise:
#: the table of results is held in memory.
MAX_RUNS = 1_000_000

#: Columns every row has besides the parameters and metrics.
BASE_COLUMNS = ("point", "replicate", "seed")


class SweepSpecError(ValueError):
    """A sweep specification that cannot run (refused before anything runs)."""


@dataclass(frozen=True)
class Task:
    point: int
    replicate: int
    seed: int
    parameters: dict


def _set_torch_threads() -> None:
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def run_point(target, task: Task, *, extra_metrics=None, layers=None, fano_window_ms=FANO_WINDOW_MS, chi_bin_ms=CHI_BIN_MS) -> dict:
    """Run one (point, replicate) and return its row; a failure becomes the row's ``error``."""
    _set_torch_threads()
    row = {"point": task.point, "replicate": task.replicate, "seed": task.seed, **task.parameters}
    t0 = time.perf_counter()
    try:
        recording = target.run(task.parameters, task.seed)
        row.update(point_metrics(recording, extra_metrics, layers=layers, fano_window_ms=fano_window_ms, chi_bin_ms=chi_bin_ms))
        row["error"] = None
    except Exception as ex:  # the point's row says what went wrong; the sweep goes on
        row["error"] = "".join(traceback.format_exception_only(type(ex), ex)).strip()
    row["wall_time_s"] = time.perf_counter() - t0
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def _ignore_sigint() -> None:
    """Run on each local worker (its event loop runs in the process's main thread)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_pack(target, tasks: Sequence[Task], **kwargs) -> list:
    """Run points that share a ``pack_key`` as one batch (``target.run_batch``); their rows.

    A single task, or a batch that fails, runs point by point (so a failing
    point gets its own error and the others their results).
    """
    if len(tasks) == 1:
        return [run_point(target, tasks[0], **kwargs)]
    _set_torch_threads()
    t0 = time.perf_counter()
    try:
        recordings = target.run_batch([(t.parameters, t.seed) for t in tasks])
    except Exception:  # each point on its own says which fails and why
        return [run_point(target, t, **kwargs) for t in tasks]
    share = (time.perf_counter() - t0) / len(tasks)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    extra = kwargs.get("extra_metrics")
    rows = []
    for task, recording in zip(tasks, recordings):
        row = {"point": task.point, "replicate": task.replicate, "seed": task.seed, **task.parameters}
        t1 = time.perf_counter()
        try:
            row.update(point_metrics(recording, extra, layers=kwargs.get("layers"),
                                     fano_window_ms=kwargs.get("fano_window_ms", FANO_WINDOW_MS),
                                     chi_bin_ms=kwargs.get("chi_bin_ms", CHI_BIN_MS)))
            row["error"] = None
        except Exception as ex:
            row["error"] = "".join(traceback.format_exception_only(type(ex), ex)).strip()
        row["wall_time_s"] = share + time.perf_counter() - t1
        row["worker"] = worker
        rows.append(row)
    return rows


def run_groups(target, groups: Sequence[Sequence[Task]], **kwargs) -> list:
    """Run several packs one after another in one Dask task; all their rows.

    One task per point would cost a round trip to the scheduler per point
    (tens of ms on a busy machine, more than a small network's run); a task
    of several points pays it once.
    """
    rows = []
    for group in groups:
        rows.extend(run_pack(target, group, **kwargs))
    return rows


#: What Dask's nanny sets by default (distributed.nanny.pre-spawn-environ).
_DASK_MALLOC_TRIM = "65536"


@contextlib.contextmanager
def _default_malloc():
    """Start local workers with glibc's default malloc tuning, not Dask's.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so they
    hand memory back to the system at once. Setting it also turns off glibc's
    adaptive mmap threshold, so every large array of a run (weights, monitors)
    is a fresh mmap and its pages fault in again: the seed network's point took
    2.5x as long (0.037 s -> 0.098 s, measured in one process with and
    without the variable). A value the user set (not Dask's) is kept.
    """
    import dask

    key = "MALLOC_TRIM_THRESHOLD_"
    popped = os.environ.pop(key) if os.environ.get(key) == _DASK_MALLOC_TRIM else None
    try:
        with dask.config.set({f"distributed.nanny.pre-spawn-environ.{key}": None}):
            yield
    finally:
        if popped is not None and key not in os.environ:
            os.environ[key] = popped


def _memory_total() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


class Sweep:
    """A parameter sweep of one target (see the module docstring).

    Parameters
    ----------
    target : LabConfig or SweepTarget
        What is varied (``snnlab.sweep.targets``).
    design : Design or dict
        The points; a dict ``{name: values}`` is a grid.
    seeds : int
        Replicates per point (each with its own seed), >= 1.
    seed : int
        The sweep's seed; every point's seed derives from it and the point.
    metrics : dict of str to callable, optional
        Extra metrics, ``name -> f(recording)`` returning a number or a dict.
    layers : sequence of str, optional
        Layers the built-in metrics measure (default: all).
    out : str or Path, optional
        Results folder (``snnlab.sweep.store``); None keeps them in memory only.
    format : {"parquet", "csv"}
    max_runs : int
        Refuse designs with more runs than this.
    fano_window_ms, chi_bin_ms : float
        Window of the Fano factor and bin of chi, ms.
    seed_from : sequence of str, optional
        Parameters a point's seed derives from (default: all varied). ``()``
        gives every point of a replicate the same seed (common random
        numbers: the same network and noise, only the parameters differ).
    pack : int
        Up to this many points run as one batched simulation where the target
        allows it (``pack_key`` / ``run_batch``: for a ``LabConfig``, points
        that differ only in ``input_rate`` and share a seed, so use
        ``seed_from`` without ``input_rate``). The rows are the same as
        unpacked; whether it is faster depends on the machine
        (``benchmarks/bench_sweep.py``).

    Raises
    ------
    SweepSpecError
        (a ``ValueError``) for an unknown parameter, an empty range, a point
        the target refuses, too many runs; the message names the fault.
    """

    def __init__(
        self,
        target,
        design,
        *,
        seeds: int = 1,
        seed: int = 0,
        metrics: Optional[Mapping[str, Callable]] = None,
        layers: Optional[Sequence[str]] = None,
        out=None,
        format: str = "parquet",
        max_runs: int = MAX_RUNS,
        fano_window_ms: float = FANO_WINDOW_MS,
        chi_bin_ms: float = CHI_BIN_MS,
        seed_from: Optional[Sequence[str]] = None,
        pack: int = 1,
    ) -> None:
        try:
            self.target = as_target(target)
            if isinstance(design, Mapping):
                design = grid(**design)
            if not isinstance(design, Design):
                raise TypeError(f"sweep design: expected a Design or a dict of values, got {type(design).__name__}")
        except (TypeError, ValueError) as ex:
            raise SweepSpecError(str(ex)) from ex
        self.design = design
        known = tuple(self.target.parameter_names())
        for name in design.names:
            if name not in known:
                raise SweepSpecError(f"unknown sweep parameter {name!r}; expected one of {', '.join(known)}")
        for name, value in (("seeds", seeds), ("seed", seed), ("max_runs", max_runs)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SweepSpecError(f"sweep {name}={value!r}; expected an int")
        if seeds < 1:
            raise SweepSpecError(f"sweep seeds={seeds}; expected at least 1 replicate per point")
        if not 0 <= seed < 2**63:
            raise SweepSpecError(f"sweep seed={seed}; expected 0 <= seed < 2**63")
        if format not in FORMATS:
            raise SweepSpecError(f"sweep format={format!r}; expected one of {', '.join(FORMATS)}")
        if format == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError as ex:
                raise SweepSpecError("sweep format='parquet' needs pyarrow (pip install pyarrow); or use format='csv'") from ex
        self.seeds, self.seed, self.format = seeds, seed, format
        self.n_runs = len(design) * seeds
        if self.n_runs > max_runs:
            raise SweepSpecError(
                f"sweep has {len(design)} points x {seeds} seeds = {self.n_runs} runs; expected at most "
                f"{max_runs} (raise max_runs if the results fit in memory)"
            )
        metrics = dict(metrics or {})
        for name, fn in metrics.items():
            if not isinstance(name, str) or not name or not callable(fn):
                raise SweepSpecError(f"sweep metric {name!r}: expected a name and a callable f(recording)")
            if name in design.names or name in BASE_COLUMNS or name in ("error", "wall_time_s", "worker"):
                raise SweepSpecError(f"sweep metric {name!r} has the name of a column; choose another name")
        self.metrics = metrics
        self.layers = None if layers is None else tuple(layers)
        self.fano_window_ms, self.chi_bin_ms = float(fano_window_ms), float(chi_bin_ms)
        if not (self.fano_window_ms > 0 and self.chi_bin_ms > 0):
            raise SweepSpecError(f"sweep fano_window_ms={fano_window_ms}, chi_bin_ms={chi_bin_ms}; expected > 0 ms")
        if seed_from is None:
            seed_from = design.names
        unknown = [n for n in seed_from if n not in design.names]
        if unknown:
            raise SweepSpecError(f"sweep seed_from: {unknown} are not varied; expected a subset of {list(design.names)}")
        self.seed_from = tuple(seed_from)
        for i in range(len(design)):
            try:
                self.target.check(design.point(i))
            except (TypeError, ValueError) as ex:
                raise SweepSpecError(str(ex)) from ex
        if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
            raise SweepSpecError(f"sweep pack={pack!r}; expected an int >= 1 (points per simulation)")
        if pack > 1 and not (callable(getattr(self.target, "pack_key", None)) and callable(getattr(self.target, "run_batch", None))):
            raise SweepSpecError(
                f"sweep pack={pack}: {type(self.target).__name__} cannot run points as one batch; expected pack=1"
            )
        self.pack = pack
        self.out = out
        self._stop = threading.Event()

    # -- what runs --------------------------------------------------------------

    def tasks(self) -> list:
        """Every (point, replicate) as a ``Task``, in design order."""
        out = []
        for i in range(len(self.design)):
            params = self.design.point(i)
            seed_params = {k: params[k] for k in self.seed_from}
            for r in range(self.seeds):
                out.append(Task(i, r, point_seed(self.seed, seed_params, r), params))
        return out

    def spec(self) -> dict:
        """The JSON-able specification stored in ``sweep.json``."""
        return {
            "version": 1,
            "target": self.target.describe(),
            "design": self.design.to_dict(),
            "seeds": self.seeds,
            "seed": self.seed,
            "seed_from": list(self.seed_from),
            "metrics": sorted(self.metrics),
            "layers": None if self.layers is None else list(self.layers),
            "fano_window_ms": self.fano_window_ms,
            "chi_bin_ms": self.chi_bin_ms,
            "format": self.format,
        }

    def memory_per_run(self) -> int:
        """Largest estimated memory of one run over the design, bytes."""
        return max(int(self.target.memory_bytes(self.design.point(i))) for i in range(len(self.design)))

    def store(self) -> Optional[ResultStore]:
        if self.out is None:
            return None
        try:
            return ResultStore(self.out, self.spec(), self.format)
        except ValueError as ex:
            raise SweepSpecError(str(ex)) from ex

    def stop(self) -> None:
        """Ask a running ``run`` to stop after the results in flight (from any thread)."""
        self._stop.set()

    # -- running ------------------------------------------------------------------

    def run(
        self,
        *,
        client=None,
        scheduler: Optional[str] = None,
        workers: Optional[int] = None,
        memory_limit: Optional[int] = None,
        progress: Optional[Callable[[int, int], None]] = None,
        on_result: Optional[Callable[[dict], None]] = None,
        rerun_errors: bool = False,
        points_per_task: Optional[int] = None,
    ):
        """Run every (point, replicate) not already in ``out``; return the table.

        Parameters
        ----------
        client : dask.distributed.Client, optional
        scheduler : str, optional
            ``"tcp://..."`` (a Dask scheduler), ``"inline"`` (this process),
            or None / ``"local"`` (an embedded LocalCluster).
        workers : int, optional
            Worker processes of the embedded LocalCluster (default: CPU count,
            at most the number of runs).
        memory_limit : int, optional
            Bytes one worker may use; default the cluster's (a LocalCluster's
            share of this machine's memory). A run estimated to need more is
            refused before anything runs.
        progress : callable(done, total), optional
            Called after each finished run (``done`` counts finished rows,
            resumed ones included).
        on_result : callable(row), optional
            Called with each new row as it arrives.
        rerun_errors : bool
            On resume, run again the runs whose row has an error.
        points_per_task : int, optional
            Runs per Dask task (default: up to 16, keeping at least 4 tasks
            per worker so the load stays balanced). Rows arrive and are
            written per task; a killed sweep loses at most the tasks in flight.

        Returns
        -------
        pandas.DataFrame
            One row per finished (point, replicate), sorted.

        Raises
        ------
        SweepSpecError
            A run needs more memory than a worker has, or ``out`` holds
            another sweep (nothing has run).
        KeyboardInterrupt
            After cancelling the runs in flight; the finished rows are kept
            (and ``results`` rebuilt).
        """
        import pandas as pd

        if scheduler not in (None, "local", "inline") and not (isinstance(scheduler, str) and "://" in scheduler):
            raise SweepSpecError(
                f"sweep scheduler={scheduler!r}; expected 'tcp://HOST:PORT', 'local', 'inline' or None"
            )
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise SweepSpecError(f"sweep workers={workers!r}; expected an int >= 1")
        if client is not None and scheduler is not None:
            raise SweepSpecError("sweep: give either client= or scheduler=, not both")
        if points_per_task is not None and (isinstance(points_per_task, bool) or not isinstance(points_per_task, int)
                                            or points_per_task < 1):
            raise SweepSpecError(f"sweep points_per_task={points_per_task!r}; expected an int >= 1")
        store = self.store()
        tasks = self.tasks()
        done = set()
        if store is not None:
            done = store.done()
            if rerun_errors and done:
                table = store.table()
                if "error" in table:
                    bad = table[table["error"].notna()]
                    done -= set(zip(bad["point"].astype(int), bad["replicate"].astype(int)))
        todo = [t for t in tasks if (t.point, t.replicate) not in done]
        total = len(tasks)
        n_workers = workers or max(1, min(os.cpu_count() or 1, len(todo) or 1))
        self._stop.clear()

        own_cluster = None
        own_client = None
        table = pd.DataFrame()
        try:
            inline = scheduler == "inline"
            if not inline and client is None and todo:
                from dask.distributed import Client

                if scheduler in (None, "local"):
                    limit = memory_limit or _memory_total() // n_workers
                    self._check_memory(limit, f"each of {n_workers} local workers")
                    from dask.distributed import LocalCluster

                    with _default_malloc():
                        own_cluster = LocalCluster(
                            n_workers=n_workers, threads_per_worker=1, processes=True,
                            memory_limit=limit, dashboard_address=":0", silence_logs=logging.ERROR,
                        )
                    own_client = Client(own_cluster)
                    # A terminal's Ctrl-C goes to the whole process group: this
                    # process handles it (keeps what is done, closes the
                    # cluster); the workers ignore it rather than each dying
                    # with a traceback.
                    own_client.run(_ignore_sigint)
                else:
                    try:
                        own_client = Client(scheduler, timeout="10s")
                    except (OSError, TimeoutError) as ex:
                        raise SweepSpecError(f"sweep scheduler {scheduler!r}: cannot connect ({ex})") from ex
                client = own_client
            if client is not None and todo and own_cluster is None:
                limits = [w.get("memory_limit") or 0 for w in client.scheduler_info().get("workers", {}).values()]
                limit = memory_limit or (min(limits) if limits and min(limits) > 0 else None)
                if limit:
                    self._check_memory(limit, "a worker of the cluster")
            elif inline and todo:
                self._check_memory(memory_limit or _memory_total(), "this process")
            if store is not None:
                store.create()

            rows = []
            n_done = total - len(todo)
            if progress is not None:
                progress(n_done, total)

            def finished(row):
                nonlocal n_done
                if store is not None:
                    store.write_row(row)
                rows.append(row)
                n_done += 1
                if on_result is not None:
                    on_result(row)
                if progress is not None:
                    progress(n_done, total)

            kwargs = dict(extra_metrics=self.metrics, layers=self.layers, fano_window_ms=self.fano_window_ms, chi_bin_ms=self.chi_bin_ms)
            if inline:
                for group in self.groups(todo):
                    if self._stop.is_set():
                        break
                    for row in run_pack(self.target, group, **kwargs):
                        finished(row)
            elif todo:
                self._run_dask(client, todo, kwargs, finished, points_per_task)
        finally:
            if own_client is not None:
                own_client.close()
            if own_cluster is not None:
                own_cluster.close()
            if store is not None and store.parts.is_dir():
                table = store.consolidate()
        if store is not None:
            return table
        table = pd.DataFrame(rows)
        if not table.empty:
            table = table.sort_values(["point", "replicate"], kind="stable").reset_index(drop=True)
        return table

    def _check_memory(self, limit: int, where: str) -> None:
        need = self.memory_per_run() * self.pack
        if need > limit:
            raise SweepSpecError(
                f"sweep: one run needs about {need / 2**20:.0f} MiB but {where} has {limit / 2**20:.0f} MiB; "
                "expected runs that fit (fewer neurons or steps, fewer workers, or a larger memory_limit)"
            )

    def groups(self, tasks) -> list:
        """``tasks`` cut into the batches that run as one simulation (``pack``)."""
        if self.pack == 1:
            return [[t] for t in tasks]
        by_key: dict = {}
        for t in tasks:
            by_key.setdefault(self.target.pack_key(t.parameters, t.seed), []).append(t)
        return [ts[i:i + self.pack] for ts in by_key.values() for i in range(0, len(ts), self.pack)]

    def _run_dask(self, client, todo, kwargs, finished, points_per_task=None) -> None:
        from dask.distributed import as_completed

        token = uuid.uuid4().hex[:8]
        target = self.target
        groups = self.groups(todo)
        if points_per_task is None:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            points_per_task = max(1, min(16, len(todo) // (4 * n_workers)))
        # Consecutive packs into tasks of about points_per_task runs each.
        tasks, current, size = [], [], 0
        for group in groups:
            current.append(group)
            size += len(group)
            if size >= points_per_task:
                tasks.append(current)
                current, size = [], 0
        if current:
            tasks.append(current)
        futures = [
            client.submit(run_groups, target, task_groups, **kwargs,
                          key=f"snnlab-sweep-{token}-p{task_groups[0][0].point}-r{task_groups[0][0].replicate}",
                          pure=False)
            for task_groups in tasks
        ]
        group_of = {f.key: [t for g in tg for t in g] for f, tg in zip(futures, tasks)}
        try:
            for future in as_completed(futures):
                try:
                    rows = future.result()
                except Exception as ex:  # the worker died (memory, crash): the runs' rows say so
                    message = "".join(traceback.format_exception_only(type(ex), ex)).strip()
                    rows = [
                        {"point": t.point, "replicate": t.replicate, "seed": t.seed, **t.parameters,
                         "error": message, "wall_time_s": math.nan, "worker": None}
                        for t in group_of[future.key]
                    ]
                for row in rows:
                    finished(row)
                if self._stop.is_set():
                    break
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                client.cancel(pending)
