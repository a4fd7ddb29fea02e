"""Run BindsNET's examples on snnlab, with only the imports renamed.

BindsNET is AGPL-licensed, so its examples are not part of this repository:
this script copies ``examples/`` from a BindsNET checkout outside the
repository (or clones one) into a temporary directory, replaces the package
name ``bindsnet`` by ``snnlab`` in import lines only, writes a small synthetic
MNIST in MNIST's own file format (IDX) where the MNIST examples look for it
(``../../data/MNIST``), and runs each example with short settings (its own
command-line options, or, for scripts without options, as they are, under a
time limit). It prints one line per example: ``ok``, ``FAIL`` with the last
error line, ``timeout`` (still running at the limit, i.e. it started fine),
or ``skip`` with the reason.

The MNIST examples import torchvision; run them with a Python that has a
torchvision matching its torch (``--python``), e.g. BindsNET's own venv
(snnlab needs only torch and numpy; this repository is put on ``PYTHONPATH``).

Usage::

    .venv/bin/python scripts/bindsnet_examples.py --bindsnet-repo /path/to/bindsnet \\
        [--python benchmarks/peers/.venvs/bindsnet/bin/python] [--timeout 300] [--only eth_mnist ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from snnlab.datasets.idx import write_idx  # noqa: E402

IMPORT = re.compile(r"^(\s*)(from|import)(\s+)bindsnet(\b)", re.MULTILINE)

MNIST_SHORT = ["--n_train", "20", "--n_test", "10", "--time", "50", "--update_interval", "10", "--n_neurons", "16"]
# Short settings, by example (options the example itself defines).
ARGS = {
    "mnist/eth_mnist.py": MNIST_SHORT,
    "mnist/supervised_mnist.py": MNIST_SHORT,
    "mnist/SOM_LM-SNNs.py": MNIST_SHORT + ["--update_inhibation_weights", "10", "--plot_interval", "10"],
    "mnist/batch_eth_mnist.py": ["--n_train", "20", "--n_test", "10", "--time", "50", "--n_neurons", "16",
                                 "--batch_size", "4", "--n_updates", "2"],
    "mnist/reservoir.py": ["--n_neurons", "50", "--n_epochs", "1", "--examples", "10", "--time", "50"],
    "mnist/MCC_reservoir.py": ["--n_neurons", "50", "--n_epochs", "1", "--examples", "10", "--time", "50"],
    "mnist/conv_mnist.py": ["--n_train", "10", "--n_test", "5", "--time", "20", "--n_filters", "4"],
    "mnist/conv1d_MNIST.py": ["--n_train", "10", "--n_test", "5", "--time", "20", "--n_filters", "4"],
    "mnist/conv3d_MNIST.py": ["--n_train", "10", "--n_test", "5", "--time", "20", "--n_filters", "4"],
    "dotTracing/dot_tracing.py": ["--steps", "5", "--trn_eps", "2", "--tst_eps", "1", "--neurons", "20",
                                  "--granularity", "20", "--mute", "True", "--write", ""],
    "benchmark/benchmark.py": ["--start", "100", "--stop", "200", "--step", "100", "--time", "100"],
    "tensorboard/tensorboard.py": ["--time", "20"],
}
SKIP = {
    "benchmark/annarchy.py": "needs ANNarchy",
    "benchmark/gpu_annarchy.py": "needs ANNarchy and a GPU",
    "benchmark/lowering_precision.py": "runs batch_eth_mnist.py (see there) and reads GPU memory",
    "benchmark/sparse_vs_dense_tensors.py": "needs a CUDA GPU (asserts one)",
    "benchmark/plot_benchmark.py": "plots the results of the benchmark scripts",
    "benchmark/benchmark.py": "compares simulators: needs Brian2, brian2genn, NEST, ANNarchy",
    "mnist/batch_eth_mnist.py": "does not compile on BindsNET's master (keyword argument device= repeated)",
}
NEEDS_ATARI = "needs gymnasium's Atari games (ale-py and ROMs)"


def rename_imports(text: str) -> str:
    text = IMPORT.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}snnlab{m.group(4)}", text)
    # `import bindsnet.datasets` is then used as `bindsnet.datasets.MNIST`: the module name changes too.
    return re.sub(r"\bbindsnet\.", "snnlab.", text)


def synthetic_mnist(root: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> None:
    """Blobs of random digits-like images in MNIST's IDX format (uncompressed, as torchvision reads)."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            r, c = 4 + 2 * (label // 5) * 5, 4 + 4 * (label % 5)  # a class-specific patch, with noise
            images[i, r : r + 8, c : c + 6] = 255
            images[i] = np.clip(images[i] + rng.integers(0, 40, (28, 28)), 0, 255)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bindsnet-repo", help="a BindsNET checkout (default: clone it)")
    p.add_argument("--python", default=sys.executable, help="interpreter to run the examples with")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per example")
    p.add_argument("--only", nargs="*", help="example names to run (e.g. eth_mnist dot_tracing)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bindsnet_examples_") as tmp:
        work = Path(tmp)
        if a.bindsnet_repo:
            source = Path(a.bindsnet_repo)
        else:
            source = work / "bindsnet"
            subprocess.run(["git", "clone", "--depth", "1", "https://github.com/BindsNET/bindsnet", str(source)], check=True)
        examples = work / "examples"
        shutil.copytree(source / "examples", examples, ignore=shutil.ignore_patterns("*.pt", "*.png"))
        for path in examples.rglob("*.py"):
            path.write_text(rename_imports(path.read_text()))
        synthetic_mnist(work / "data" / "MNIST")
        (work / "test").mkdir(exist_ok=True)  # MCC_reservoir.py looks in ../../test/../data/MNIST
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
        results = []
        for path in sorted(examples.rglob("*.py")):
            rel = str(path.relative_to(examples))
            if a.only and path.stem not in a.only:
                continue
            if rel in SKIP:
                results.append((rel, "skip", SKIP[rel]))
            elif rel.startswith("breakout/"):
                results.append((rel, "skip", NEEDS_ATARI))
            else:
                args = ARGS.get(rel, [])
                start = time.perf_counter()
                try:
                    proc = subprocess.run([a.python, path.name, *args], cwd=path.parent, env=env, capture_output=True,
                                          text=True, timeout=a.timeout)
                except subprocess.TimeoutExpired:
                    results.append((rel, "timeout", f"still running after {a.timeout:.0f} s"))
                    continue
                took = time.perf_counter() - start
                if proc.returncode == 0:
                    results.append((rel, "ok", f"{took:.0f} s"))
                else:
                    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
                    errors = [l for l in lines if re.match(r"^[\w.]*(Error|Exception)\b", l)]
                    last = errors[-1] if errors else (lines[-1] if lines else f"exit {proc.returncode}")
                    results.append((rel, "FAIL", last[:300]))
            print(f"{results[-1][1]:8s} {results[-1][0]:40s} {results[-1][2]}", flush=True)
        ok = sum(r[1] == "ok" for r in results)
        ran = sum(r[1] != "skip" for r in results)
        print(f"\n{ok} of {ran} examples run end to end on snnlab ({len(results) - ran} skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
