"""The seed's network as an experiment: ``LabConfig`` (100 Bernoulli inputs -> 1000 LIF
with uniform recurrent inhibition), with its JSON save and load.

Only this module (and ``snnlab.config``, which defines the network) knows its
layer names.
"""

from __future__ import annotations

import math
from typing import Optional

from snnlab.config import (
    LIVE_FIELDS, MODEL_PARAMETERS, NEURON_MODELS, LabConfig, _fill_inhibition, build_network, forward_weights,
)
from snnlab.lab.experiment import Experiment, Parameter

__all__ = ["SeedExperiment"]

_INPUT, _OUTPUT = "A", "B"


def _spec(cfg: LabConfig) -> list:
    p = Parameter
    big = 10**6
    return [
        p("input_rate", "input rate", cfg.input_rate, "Hz", 0.0, 1000.0 / cfg.dt, live=True,
          doc="each input spikes with probability rate x dt / 1000 per step"),
        p("weight_scale", "weight scale", cfg.weight_scale, "", 0.0, 100.0, live=True,
          doc="forward weights are scale x (0.05 + 0.1 N(0, 1))"),
        p("inhibition", "inhibition", cfg.inhibition, "mV", 0.0, 100.0, live=True,
          doc="recurrent weights are -inhibition between distinct output neurons"),
        p("n_input", "input neurons", cfg.n_input, "", 1, big, kind="int", live=False),
        p("n_output", "output neurons", cfg.n_output, "", 1, big, kind="int", live=False),
        p("neuron_model", "neuron model", cfg.neuron_model, kind="choice", choices=NEURON_MODELS, live=False),
        p("thresh", "threshold", cfg.thresh, "mV", -1000.0, 1000.0, live=False),
        p("rest", "rest", cfg.rest, "mV", -1000.0, 1000.0, live=False),
        p("reset", "reset", cfg.reset, "mV", -1000.0, 1000.0, live=False),
        p("tc_decay", "membrane tau", cfg.tc_decay, "ms", 1e-3, 1e6, live=False),
        p("refrac", "refractory period", cfg.refrac, "ms", 0.0, 1e4, live=False),
        p("dt", "dt", cfg.dt, "ms", 1e-3, 100.0, live=False),
        p("time", "simulated time", cfg.time, "ms", 1e-3, 1e9, live=False),
        p("seed", "random seed", cfg.seed, "", 0, 2**63 - 1, kind="int", live=False),
    ]


class SeedExperiment(Experiment):
    """The seed's network from a ``LabConfig`` (default: the seed's own).

    Its settings are the config's fields; ``input_rate``, ``weight_scale``
    and ``inhibition`` act live, the others at the next run.
    """

    name = "seed network"
    network_controls = False  # its settings are the LabConfig's fields

    def __init__(self, config: Optional[LabConfig] = None) -> None:
        self.config = (config or LabConfig()).validate()
        self._built: Optional[LabConfig] = None

    @property
    def time(self) -> float:
        return self.config.time

    @property
    def seed(self) -> int:
        return self.config.seed

    def build(self):
        self._built = self.config
        return build_network(self.config, monitors=False)

    def input_specs(self, network):
        return {_INPUT: self._source()}

    def _source(self):
        from snnlab.lab.experiment import RateSource

        # The stream LabConfig has always used: PCG64 from SeedSequence([seed, 1]).
        return RateSource((self.config.n_input,), self.config.input_rate, self.config.dt, self.config.seed)

    def settings(self) -> list:
        used = MODEL_PARAMETERS[self.config.neuron_model]
        return [s for s in _spec(self.config)
                if s.path not in ("thresh", "rest", "reset", "tc_decay", "refrac") or s.path in used]

    def set_setting(self, path: str, value) -> None:
        changes = {path: value}
        if path == "neuron_model" and value != self.config.neuron_model:
            from snnlab.config import MODEL_DEFAULTS

            changes.update(MODEL_DEFAULTS[value])
        if path == "n_output":
            changes["traced"] = tuple(i for i in self.config.traced if i < value)
        self.config = self.config.replace(**changes)

    def paths_of_fields(self, changes: dict) -> dict:
        return dict(changes)

    def changed_since_build(self, path: str) -> bool:
        return self._built is not None and getattr(self._built, path, None) != getattr(self.config, path, None)

    def apply_setting(self, run, path: str, value) -> bool:
        net = run.network
        if path == "input_rate":
            run.sources[_INPUT].rate = run.sources[_INPUT].check_rate(value)
        elif path == "weight_scale":
            fwd = net.connections[(_INPUT, _OUTPUT)]
            fwd.w.copy_(forward_weights(self.config.replace(weight_scale=value)).to(fwd.w.dtype))
        elif path == "inhibition":
            _fill_inhibition(net.connections[(_OUTPUT, _OUTPUT)].w, float(value))
        else:
            return False
        return True

    def traced(self, network):
        return {_OUTPUT: list(self.config.traced)}

    def to_dict(self) -> dict:
        # Exactly the LabConfig: export writes it as config.json, which the CLI reads back.
        return self.config.to_dict()
