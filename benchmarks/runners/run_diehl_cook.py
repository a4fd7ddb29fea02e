"""BindsNET's ``eth_mnist.py`` workflow on scikit-learn's 8x8 digits, for BindsNET *or* snnlab.

One file runs both: ``--package bindsnet`` (in BindsNET's venv) or ``--package
snnlab`` (in snnlab's venv); nothing else differs. Like ``eth_mnist.py``:
``models.DiehlAndCook2015``, ``encoding.PoissonEncoder`` on ``image * intensity``,
spike monitors on every layer and voltage monitors on ``Ae`` and ``Ai``, one
sample per ``network.run`` followed by ``reset_state_variables()``, labels
assigned every ``update_interval`` training samples with
``evaluation.assign_labels`` (running ``rates``), then a test pass with
``network.train(False)`` scored by ``all_activity`` and ``proportion_weighting``.

The digits are read with scikit-learn in both venvs: the first 80 % (1438,
scikit-learn's order) train, the rest (359) test; the training order is a
seeded permutation. Accuracy is in %; times in s (wall clock, this process), and
the CPU time of the simulating thread per sample.

Usage: ``python run_diehl_cook.py --package snnlab [--n-train 1438] [--n-neurons 100]``;
prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time as wall


def load_digits_split(train_fraction: float = 0.8):
    """(train_x, train_y, test_x, test_y): images (n, 8, 8) in [0, 1], int labels."""
    import numpy as np
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    cut = int(round(train_fraction * len(images)))
    return images[:cut], bunch.target[:cut], images[cut:], bunch.target[cut:]


def run(package: str, n_train: int, n_test: int, n_neurons: int, sim_time: int, intensity: float, exc: float,
        inh: float, theta_plus: float, norm: float, update_interval: int, seed: int, threads: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    models = importlib.import_module(f"{package}.models")
    encoding = importlib.import_module(f"{package}.encoding")
    evaluation = importlib.import_module(f"{package}.evaluation")
    monitors = importlib.import_module(f"{package}.network.monitors")

    torch.manual_seed(seed)
    train_x, train_y, test_x, test_y = load_digits_split()
    order = np.random.default_rng(seed).permutation(len(train_x))
    n_train = min(n_train, len(train_x))
    n_test = min(n_test, len(test_x))
    dt = 1.0
    steps = int(sim_time / dt)
    n_classes = 10

    network = models.DiehlAndCook2015(n_inpt=64, n_neurons=n_neurons, exc=exc, inh=inh, dt=dt, norm=norm,
                                      theta_plus=theta_plus, inpt_shape=(1, 8, 8))
    encoder = encoding.PoissonEncoder(time=sim_time, dt=dt)
    Monitor = monitors.Monitor
    spikes = {}
    for layer in network.layers:
        spikes[layer] = Monitor(network.layers[layer], state_vars=["s"], time=steps)
        network.add_monitor(spikes[layer], name=f"{layer}_spikes")
    for layer in ("Ae", "Ai"):
        network.add_monitor(Monitor(network.layers[layer], state_vars=["v"], time=steps), name=f"{layer}_voltages")

    def present(image):
        datum = torch.from_numpy(image).view(1, 8, 8) * intensity
        inputs = {"X": encoder(datum).view(steps, 1, 1, 8, 8)}
        network.run(inputs=inputs, time=sim_time)
        record = spikes["Ae"].get("s").squeeze().clone()
        network.reset_state_variables()
        return record

    # ---- training (learning on), labels assigned every update_interval samples
    spike_record = torch.zeros((update_interval, steps, n_neurons))
    assignments = -torch.ones(n_neurons, dtype=torch.long)
    proportions = torch.zeros((n_neurons, n_classes))
    rates = torch.zeros((n_neurons, n_classes))
    labels = []
    curve = []  # (samples seen, all-activity accuracy % on the interval just trained)
    network.train(True)
    t0, c0 = wall.perf_counter(), wall.thread_time()
    for step in range(n_train):
        if step % update_interval == 0 and step > 0:
            label_tensor = torch.tensor(labels)
            pred = evaluation.all_activity(spikes=spike_record, assignments=assignments, n_labels=n_classes)
            curve.append((step, 100.0 * float((pred == label_tensor).float().mean())))
            assignments, proportions, rates = evaluation.assign_labels(
                spikes=spike_record, labels=label_tensor, n_labels=n_classes, rates=rates)
            labels = []
        i = int(order[step])
        labels.append(int(train_y[i]))
        spike_record[step % update_interval] = present(train_x[i])
    # The last (possibly partial) interval contributes to the assignments too.
    k = len(labels)
    assignments, proportions, rates = evaluation.assign_labels(
        spikes=spike_record[:k], labels=torch.tensor(labels), n_labels=n_classes, rates=rates)
    train_time, train_cpu = wall.perf_counter() - t0, wall.thread_time() - c0

    # ---- test (learning off)
    network.train(False)
    test_record = torch.zeros((n_test, steps, n_neurons))
    t0, c0 = wall.perf_counter(), wall.thread_time()
    for j in range(n_test):
        test_record[j] = present(test_x[j])
    test_time, test_cpu = wall.perf_counter() - t0, wall.thread_time() - c0
    truth = torch.tensor(test_y[:n_test])
    acc_all = evaluation.all_activity(spikes=test_record, assignments=assignments, n_labels=n_classes)
    acc_prop = evaluation.proportion_weighting(spikes=test_record, assignments=assignments, proportions=proportions,
                                               n_labels=n_classes)
    return {
        "package": package,
        "version": getattr(importlib.import_module(package), "__version__", "?"),
        "torch": torch.__version__,
        "n_train": n_train,
        "n_test": n_test,
        "n_neurons": n_neurons,
        "time_ms": sim_time,
        "steps_per_sample": steps,
        "train_s": train_time,
        "test_s": test_time,
        "ms_per_train_sample": 1000.0 * train_time / max(n_train, 1),
        "ms_per_test_sample": 1000.0 * test_time / max(n_test, 1),
        # CPU time of this (the simulating) thread: on a shared machine the wall
        # time mostly measures the other jobs, this much less so.
        "cpu_ms_per_train_sample": 1000.0 * train_cpu / max(n_train, 1),
        "cpu_ms_per_test_sample": 1000.0 * test_cpu / max(n_test, 1),
        "accuracy_all": 100.0 * float((acc_all == truth).float().mean()),
        "accuracy_proportion": 100.0 * float((acc_prop == truth).float().mean()),
        "assigned_neurons": int((assignments >= 0).sum()),
        "curve": curve,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--package", choices=["bindsnet", "snnlab"], required=True)
    p.add_argument("--n-train", type=int, default=1438)
    p.add_argument("--n-test", type=int, default=359)
    p.add_argument("--n-neurons", type=int, default=100)
    p.add_argument("--time", type=int, default=250, help="ms per sample (eth_mnist: 250)")
    p.add_argument("--intensity", type=float, default=128.0, help="Hz of a white pixel (eth_mnist: 128)")
    p.add_argument("--exc", type=float, default=22.5)
    p.add_argument("--inh", type=float, default=120.0, help="eth_mnist's default")
    p.add_argument("--theta-plus", type=float, default=0.05)
    p.add_argument("--norm", type=float, default=6.4, help="78.4 * 64 / 784: MNIST's mean weight 0.1 over 64 inputs")
    p.add_argument("--update-interval", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    result = run(a.package, a.n_train, a.n_test, a.n_neurons, a.time, a.intensity, a.exc, a.inh, a.theta_plus,
                 a.norm, a.update_interval, a.seed, a.threads)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
