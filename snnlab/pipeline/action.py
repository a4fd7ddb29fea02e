"""Ways to turn an output layer's spikes into an action of an environment."""

from __future__ import annotations

import torch

__all__ = ["select_multinomial", "select_softmax", "select_highest", "select_first_spike", "select_random"]


def _output(pipeline, kwargs, fn: str) -> str:
    if "output" not in kwargs or kwargs["output"] is None:
        raise KeyError(f'{fn}() needs the name of the output layer: output="..."')
    output = kwargs["output"]
    if output not in pipeline.network.layers:
        raise KeyError(f"{fn}(): no layer named {output!r} in the network")
    return output


def _record(pipeline, output: str, fn: str) -> torch.Tensor:
    layer = pipeline.network.layers[output]
    n = pipeline.env.action_space.n
    if layer.n != n:
        raise ValueError(f"{fn}(): the output layer has {layer.n} neurons, the action space {n} actions")
    if not hasattr(pipeline, "spike_record"):
        raise AttributeError(f"{fn}() needs pipeline.spike_record (give the pipeline output=...)")
    return pipeline.spike_record[output]


def select_multinomial(pipeline, **kwargs) -> int:
    """An action drawn with probability proportional to the spikes of its
    population (the output layer split into ``action_space.n`` equal groups)
    this step; uniformly at random when nothing spiked."""
    output = pipeline.network.layers[_output(pipeline, kwargs, "select_multinomial")]
    n = pipeline.env.action_space.n
    if output.n % n:
        raise ValueError(f"select_multinomial(): output layer size {output.n} is not divisible by {n} actions")
    counts = output.s.reshape(-1, n, output.n // n).sum((0, 2)).float()
    if counts.sum() == 0:
        return int(torch.randint(n, (1,)).item())
    return int(torch.multinomial(counts / counts.sum(), 1).item())


def select_softmax(pipeline, **kwargs) -> int:
    """An action drawn from the softmax of the output neurons' spike counts over the last run."""
    record = _record(pipeline, _output(pipeline, kwargs, "select_softmax"), "select_softmax")
    counts = record.reshape(record.shape[0], -1).sum(0).float()
    return int(torch.multinomial(torch.softmax(counts, dim=0), 1).item())


def select_highest(pipeline, **kwargs) -> int:
    """The action whose neuron spiked most over the last run (the first on a tie; 0 when silent)."""
    record = _record(pipeline, _output(pipeline, kwargs, "select_highest"), "select_highest")
    counts = record.reshape(record.shape[0], -1).sum(0)
    return int(torch.argmax(counts).item()) if counts.sum() > 0 else 0


def select_first_spike(pipeline, **kwargs) -> int:
    """The action whose neuron spiked first in the last run (the lowest index on a tie; 0 when silent)."""
    record = _record(pipeline, _output(pipeline, kwargs, "select_first_spike"), "select_first_spike")
    spikes = record.reshape(record.shape[0], -1).nonzero()
    return int(spikes[0, 1].item()) if len(spikes) else 0


def select_random(pipeline, **kwargs) -> int:
    """A uniformly random action."""
    return int(torch.randint(pipeline.env.action_space.n, (1,)).item())
