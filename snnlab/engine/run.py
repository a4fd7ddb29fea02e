"""How a run executes: checks, chunks, plans, blocks, back-ends.

:func:`run_chunks` checks every argument (engine.validate) before anything
is simulated, then returns a generator; each ``next()`` makes the plan of a
chunk (engine.plan), splits it into blocks and hands each block to a
back-end (engine.backends), then yields a :class:`Chunk` with what the
monitors recorded.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, Mapping, Optional

import torch

from ..dynamics.checks import check_positive_int, steps_from_time
from . import validate as V
from .backends import BACKENDS, PREFERENCE
from .plan import RunOptions, make_plan

__all__ = ["Chunk", "run_chunks", "available_backends", "use_backend", "choose_backend"]

_FORCED: contextvars.ContextVar = contextvars.ContextVar("snnlab_backend", default=None)


@dataclass
class Chunk:
    """What :meth:`Network.run_chunks` yields after simulating some steps.

    Attributes
    ----------
    start, stop : int
        Steps ``[start, stop)`` of this run that were just simulated.
    n_steps : int
        Total steps of this run.
    dt : float
        Time step (ms).
    records : dict
        ``{monitor_name: {var: tensor}}``: rows the monitors recorded during
        this chunk (``NetworkMonitor``: ``{monitor_name: {obj: {var: tensor}}}``).
    record_steps : dict
        ``{monitor_name: LongTensor}``: the step (within this run) of each row.
    """

    start: int
    stop: int
    n_steps: int
    dt: float
    records: Dict[str, object] = field(default_factory=dict)
    record_steps: Dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def t(self) -> float:
        """Simulated time of this run so far (ms)."""
        return self.stop * self.dt

    @property
    def done(self) -> bool:
        return self.stop >= self.n_steps


# ------------------------------------------------------------------ back-ends
def available_backends() -> list:
    """Names of the back-ends that can run on this machine, fastest first.

    Examples
    --------
    >>> "eager" in available_backends()
    True
    """
    return [name for name in PREFERENCE if BACKENDS[name].available()]


@contextlib.contextmanager
def use_backend(name: str):
    """Run every block of the runs inside the ``with`` on back-end ``name``.

    A run whose plan the back-end cannot execute raises a ValueError saying
    why (nothing falls back silently).

    Examples
    --------
    >>> import torch
    >>> from snnlab.network import Network
    >>> from snnlab.network.nodes import Input
    >>> net = Network()
    >>> net.add_layer(Input(n=2), name="A")
    >>> with use_backend("eager"):
    ...     net.run({"A": torch.ones(3, 2)}, time=3)
    >>> net.last_backend
    'eager'
    """
    if name not in BACKENDS:
        raise ValueError(f"use_backend: unknown back-end {name!r}; expected one of {', '.join(BACKENDS)}")
    if not BACKENDS[name].available():
        raise ValueError(
            f"use_backend: back-end {name!r} cannot run on this machine "
            f"({BACKENDS[name].unavailable_reason()}); available: {', '.join(available_backends())}"
        )
    token = _FORCED.set(name)
    try:
        yield BACKENDS[name]
    finally:
        _FORCED.reset(token)


def choose_backend(network, plan):
    """The back-end for a plan: the forced one (or an error), else the first that accepts it."""
    forced = _FORCED.get()
    if forced is not None:
        backend = BACKENDS[forced]
        reason = backend.why_not(plan)
        if reason is not None:
            raise ValueError(f"back-end {forced!r} cannot run this network's run: {reason}")
        return backend, True
    for name in PREFERENCE:
        backend = BACKENDS[name]
        if backend.enabled_for(network, plan) and backend.available() and backend.supports(plan):
            return backend, False
    return BACKENDS["eager"], False


# ------------------------------------------------------------------ running
def run_chunks(
    network,
    inputs=None,
    time: float = None,
    one_step: bool = False,
    *,
    chunk_steps: int = 100,
    clamp=None,
    unclamp=None,
    injects_v=None,
    masks=None,
    reward=None,
    records: bool = True,
) -> Iterator[Chunk]:
    """See :meth:`snnlab.network.Network.run_chunks` (all checks happen here, before the first chunk)."""
    steps = steps_from_time(time, network.dt)
    chunk_steps = check_positive_int("chunk_steps", chunk_steps)
    if callable(inputs) and not isinstance(inputs, Mapping):
        source = inputs
        first = min(steps, chunk_steps)
        first_inputs = V.checked_inputs(network, source(0, first), first, "inputs(0, ...)")
    else:
        source = None
        first_inputs = V.checked_inputs(network, inputs, steps, "inputs")
    batch = V.batch_of(network, first_inputs)
    checked = dict(
        clamp=V.checked_masks(network, clamp, "clamp", steps, batch),
        unclamp=V.checked_masks(network, unclamp, "unclamp", steps, batch),
        injects=V.checked_injects(network, injects_v, steps, batch),
        masks=V.checked_weight_masks(network, masks),
    )
    reward = V.checked_reward(reward, batch)
    V.checked_weights(network)
    if network.reward_fn is not None:
        reward = network.reward_fn.compute(
            inputs=inputs, time=time, reward=reward, clamp=clamp, unclamp=unclamp, masks=masks
        )
    options = RunOptions(
        steps=steps, batch=batch, one_step=bool(one_step), inputs=tuple(first_inputs), reward=reward, **checked
    )
    if network.stop_flag.is_set():  # (clear() takes a lock: most runs need not)
        network.stop_flag.clear()
    return _chunks(network, options, source, first_inputs, chunk_steps, records)


def _chunks(network, options, source, first_inputs, chunk_steps, records):
    # Nothing below runs before the first next(): all checks are done.
    steps, batch = options.steps, options.batch
    if batch != network.batch_size:
        network.set_batch_size(batch)
    for layer in network.layers.values():
        layer.compute_decays(network.dt)
    for conn in network.connections.values():
        conn.compute_decays(network.dt)
    stop_flag = network.stop_flag
    start = 0
    finished = False
    try:
        while start < steps and not stop_flag.is_set():
            stop = min(steps, start + chunk_steps)
            if source is None:
                ext = {k: v[start:stop] for k, v in first_inputs.items()}
            elif start == 0:
                ext = first_inputs
            else:
                ext = V.checked_inputs(network, source(start, stop), stop - start, f"inputs({start}, {stop})")
                if ext and V.batch_of(network, ext) != batch:
                    raise ValueError(
                        f"inputs({start}, {stop}) changed the batch size to {V.batch_of(network, ext)}, expected {batch}"
                    )
            if records:
                marks = {n: m.mark() for n, m in network.monitors.items()}
                if start == 0:
                    first_ticks = {n: m.ticks for n, m in network.monitors.items()}
            simulate(network, make_plan(network, options), ext, start, stop)
            chunk = Chunk(start=start, stop=stop, n_steps=steps, dt=network.dt)
            if records:
                for n, m in network.monitors.items():
                    chunk.records[n] = m.since(marks[n])
                    chunk.record_steps[n] = m.steps_since(marks[n]) - first_ticks.get(n, 0)
            start = stop
            yield chunk
        finished = True
    except GeneratorExit:
        finished = True
        raise
    finally:
        if stop_flag.is_set():
            stop_flag.clear()
        if finished:
            for conn in network.connections.values():
                conn.normalize()


def simulate(network, plan, ext, start: int, stop: int) -> None:
    """Simulate steps [start, stop) of the run; ``ext`` holds rows from ``start``."""
    backend, forced = choose_backend(network, plan)
    if not backend.prepare(network, plan, ext, wait=forced):
        backend = BACKENDS["eager"]  # ready for a later chunk or run
    cpu = plan.device.type == "cpu"
    user_threads = torch.get_num_threads()
    # On a CPU, steps run on one intra-op thread (see validate.one_thread); only
    # large block products get the caller's threads back.
    with V.one_thread() if cpu else contextlib.nullcontext():
        eager = BACKENDS["eager"]
        for b0 in range(start, stop, backend.block_steps):
            b1 = min(stop, b0 + backend.block_steps)
            if backend is eager:
                eager.run_block(network, plan, ext, start, b0, b1, threads=user_threads)
                ran = eager.name
            elif backend.run_block(network, plan, ext, start, b0, b1):
                ran = backend.name
            elif forced:
                raise RuntimeError(f"back-end {backend.name!r} gave up on a block: {backend.last_failure(network)}")
            else:
                eager.run_block(network, plan, ext, start, b0, b1, threads=user_threads)
                ran = eager.name
            network.last_backend = ran
