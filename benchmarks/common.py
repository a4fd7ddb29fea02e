"""Workloads shared by every benchmark runner.

This module needs only the standard library and numpy, because it is imported
by runners in four different virtual environments (snnlab's own, BindsNET's,
Brian2's and NEST's).

Every simulator is given the *same* input spikes and the *same* weights: they
are drawn once with numpy from a fixed seed, written to ``.npy`` files in a
data folder, and loaded by each runner. The network that every runner builds
is the seed network of ``shared/seed/running-simulations.md`` and its
variants:

* an ``Input`` layer ``A`` of ``n_in`` neurons whose spikes at step ``t`` are
  ``inputs[t]``;
* a LIF layer ``B`` of ``n_out`` neurons with BindsNET's defaults
  (thresh -52 mV, rest -65 mV, reset -65 mV, refrac 5 ms, tc_decay 100 ms,
  dt 1 ms; an input is a jump of ``w`` mV);
* a forward connection ``A -> B`` with weights ``w_fwd`` (mV) and, for the
  seed shape, a recurrent connection ``B -> B`` with ``0.025 * (I - 1)`` mV;
* every connection delays by one step: a spike at step ``t`` moves the
  target's voltage at step ``t + 1``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# BindsNET LIFNodes defaults (mV, ms).
THRESH = -52.0
REST = -65.0
RESET = -65.0
REFRAC = 5.0
TC_DECAY = 100.0
DT = 1.0
REC_W = 0.025  # magnitude of the all-to-all inhibition, mV

SEED = 2026
BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = BENCH_DIR / ".data"


@dataclasses.dataclass(frozen=True)
class Workload:
    """One network and run length, the same in every simulator.

    Attributes
    ----------
    name : str
        Key used on the command line and in the results.
    n_in, n_out : int
        Sizes of the input layer ``A`` and the LIF layer ``B``.
    steps : int
        Number of 1 ms steps simulated.
    input_kind : str
        ``"bernoulli"``: every input spikes with probability 0.1 per step (the
        seed); ``"poisson"``: input ``i`` fires at a rate drawn from U(0, 60) Hz
        (BindsNET's own benchmark), as a Bernoulli process with p = rate * dt.
    weight_kind : str
        ``"normal"``: ``0.05 + 0.1 N(0, 1)`` mV (the seed); ``"uniform"``:
        U(0, 1) mV (BindsNET's default ``Connection`` weights).
    recurrent : bool
        Whether ``B -> B`` with ``0.025 (I - 1)`` mV is present.
    monitor : str
        ``"full"``: spikes of A and B and voltage of B recorded every step
        (the seed); ``"spikes"``: spikes of B only.
    """

    name: str
    n_in: int
    n_out: int
    steps: int
    input_kind: str = "bernoulli"
    weight_kind: str = "normal"
    recurrent: bool = True
    monitor: str = "full"

    @property
    def label(self) -> str:
        rec = " + rec. inhib." if self.recurrent else ""
        return f"{self.n_in} -> {self.n_out} LIF{rec}, {self.steps} steps"


def bindsnet_shape(n: int, steps: int = 1000) -> Workload:
    """BindsNET's own benchmark: ``n`` Poisson inputs (0-60 Hz) -> ``n`` LIF."""
    return Workload(f"bn{n}", n, n, steps, input_kind="poisson",
                    weight_kind="uniform", recurrent=False, monitor="spikes")


WORKLOADS: dict[str, Workload] = {
    "seed": Workload("seed", 100, 1000, 500),
    "seed_long": Workload("seed_long", 100, 1000, 5000),
    "large": Workload("large", 1000, 10000, 500),
}
SWEEP_SIZES = (250, 500, 1000, 2500, 5000, 10000)
for _n in SWEEP_SIZES:
    WORKLOADS[f"bn{_n}"] = bindsnet_shape(_n)


def get_workload(name: str, steps: int | None = None) -> Workload:
    """Look up a workload by name, optionally with another number of steps."""
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; expected one of {sorted(WORKLOADS)}")
    wl = WORKLOADS[name]
    if steps is not None:
        if steps <= 0:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        wl = dataclasses.replace(wl, steps=int(steps))
    return wl


# --------------------------------------------------------------------------
# Data: drawn once, stored as .npy, loaded by every runner.
# --------------------------------------------------------------------------

def data_paths(wl: Workload, data_dir: Path) -> dict[str, Path]:
    stem = f"{wl.name}_{wl.n_in}x{wl.n_out}_{wl.steps}_{wl.input_kind}_{wl.weight_kind}_s{SEED}"
    return {"inputs": data_dir / f"{stem}_inputs.npy", "w_fwd": data_dir / f"{stem}_wfwd.npy"}


def prepare_data(wl: Workload, data_dir: Path = DEFAULT_DATA_DIR) -> dict[str, Path]:
    """Draw the input spikes and forward weights of ``wl`` (once) and save them.

    Returns
    -------
    dict
        ``{"inputs": path to uint8 [steps, n_in], "w_fwd": path to float32 [n_in, n_out]}``.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = data_paths(wl, data_dir)
    if all(p.exists() for p in paths.values()):
        return paths
    rng = np.random.default_rng(SEED)
    if wl.input_kind == "bernoulli":
        p = np.full(wl.n_in, 0.1)
    elif wl.input_kind == "poisson":
        p = rng.uniform(0.0, 60.0, size=wl.n_in) * DT / 1000.0  # Hz -> spikes per step
    else:
        raise ValueError(f"unknown input_kind {wl.input_kind!r}")
    inputs = (rng.random((wl.steps, wl.n_in)) < p).astype(np.uint8)
    if wl.weight_kind == "normal":
        w = (0.05 + 0.1 * rng.standard_normal((wl.n_in, wl.n_out))).astype(np.float32)
    elif wl.weight_kind == "uniform":
        w = rng.random((wl.n_in, wl.n_out), dtype=np.float32)
    else:
        raise ValueError(f"unknown weight_kind {wl.weight_kind!r}")
    # Write to a temporary name first so a concurrent reader never sees half a file.
    for key, arr in (("inputs", inputs), ("w_fwd", w)):
        tmp = paths[key].with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, arr)
        os.replace(tmp, paths[key])
    return paths


def load_data(wl: Workload, data_dir: Path = DEFAULT_DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Load (and create if needed) the inputs ``uint8 [T, n_in]`` and ``w_fwd float32 [n_in, n_out]``."""
    paths = prepare_data(wl, data_dir)
    inputs = np.load(paths["inputs"])
    w = np.load(paths["w_fwd"])
    if inputs.shape != (wl.steps, wl.n_in) or w.shape != (wl.n_in, wl.n_out):
        raise ValueError(f"data in {data_dir} does not fit workload {wl}: "
                         f"inputs {inputs.shape}, w_fwd {w.shape}")
    return inputs, w


def recurrent_weights(n: int, dtype=np.float32) -> np.ndarray:
    """``0.025 * (I - 1)``: every neuron inhibits every other by 0.025 mV."""
    w = np.full((n, n), -REC_W, dtype=dtype)
    np.fill_diagonal(w, 0.0)
    return w


# --------------------------------------------------------------------------
# Measuring.
# --------------------------------------------------------------------------

def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (``ru_maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Timer:
    """``with Timer() as t: ...; t.s`` is the wall time in seconds."""

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self._t0
        return False


def summarize(simulator: str, wl: Workload, builds: list[float], runs: list[float],
              spikes_out: list[int], spikes_in: list[int], base_rss: float,
              **extra) -> dict:
    """Assemble one runner's result record (times in s, memory in MB)."""
    if len(set(spikes_out)) > 1:
        extra.setdefault("note", f"spike count varied between repeats: {spikes_out}")
    rec = {
        "simulator": simulator,
        "workload": wl.name,
        "n_in": wl.n_in,
        "n_out": wl.n_out,
        "steps": wl.steps,
        "build_s": statistics.median(builds),
        "run_s": statistics.median(runs),
        "run_s_all": runs,
        "repeats": len(runs),
        "spikes_out": int(spikes_out[-1]),
        "spikes_in": int(spikes_in[-1]),
        "base_rss_mb": round(base_rss, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "python": platform.python_version(),
    }
    rec.update(extra)
    return rec


def emit(record: dict) -> None:
    """Print the result as one JSON line, marked so a parent can find it."""
    print("RESULT " + json.dumps(record), flush=True)


def parse_results(stdout: str) -> list[dict]:
    return [json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("RESULT ")]


def common_args(parser):
    """Arguments every runner takes."""
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--steps", type=int, default=None, help="override the workload's steps")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="folder of the .npy data")
    parser.add_argument("--save-spikes", type=Path, default=None,
                        help="write B's spikes of the last repeat as uint8 [T, n_out] .npy (for checks)")
    return parser


def add_model_run_arguments(parser, models, samples: int, samples_help: str) -> None:
    """The arguments every model-network runner takes (``run_models``, ``run_structured``)."""
    parser.add_argument("--package", required=True, choices=["bindsnet", "snnlab"])
    parser.add_argument("--model", required=True, choices=models)
    parser.add_argument("--samples", type=int, default=samples, help=samples_help)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (compilation, allocator)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--save", type=Path, default=None, help="write the last repeat's rasters and weights (.npz)")


def check_model_run_arguments(parser, args) -> None:
    """Counts a runner cannot use are a usage error; sets torch's thread count."""
    if args.samples < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--samples and --repeats must be >= 1, --warmup >= 0")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def present(**values) -> dict:
    """The keyword values that are not None (optional fields of a record)."""
    return {name: value for name, value in values.items() if value is not None}


def write_results(lines: list, out: Path) -> None:
    """Print a results table and write it to ``out`` (folders made)."""
    text = "\n".join(lines)
    print("\n" + text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


def results_header(title: str, script: str, argv, threads, timing: str) -> list:
    """The first lines of a results table: what ran where, the command, how it was timed."""
    mi = machine_info()
    return [
        f"{title}  {mi['date_utc']}, {mi['cpu']}, {mi['cores']} cores, load {mi['loadavg']}, "
        f"threads {threads}, git {git_rev()}",
        f"command: {' '.join(['python', script, *argv])}",
        timing,
        "",
    ]


def machine_info() -> dict:
    """Date, CPU model, core count and memory, for the results table."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = float("nan")
    try:
        with open("/proc/meminfo") as f:
            mem_gb = int(f.readline().split()[1]) / 1024 ** 2
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gb": round(mem_gb, 1),
        "os": f"{platform.system()} {platform.release()}",
        "loadavg": [round(x, 2) for x in load],
        "python": sys.version.split()[0],
    }


def git_rev(repo: Path = BENCH_DIR.parent) -> str:
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
