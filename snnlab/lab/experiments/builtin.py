"""The lab's teaching presets, each an ``Experiment``: a balanced E/I network (Brunel),
f-I curves of each neuron model, STDP on a feed-forward layer, and a Diehl & Cook
network learning scikit-learn's bundled 8x8 digits.

Each preset's settings (sizes, structure) act at the next run; the generated
controls (each layer's parameters, each connection's weight scale and learning,
each input's rate or current) act live.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from snnlab.lab.experiment import CurrentSource, Experiment, Parameter, RateSource

__all__ = ["BrunelExperiment", "FICurveExperiment", "STDPExperiment", "DiehlCookExperiment"]


class _Preset(Experiment):
    """A preset with settings: ``SETTINGS`` lists them as Parameters (defaults)."""

    SETTINGS: tuple = ()

    def __init__(self, **values) -> None:
        self.values = {p.path: p.value for p in self.SETTINGS}
        for k, v in values.items():
            self.set_setting(k, v)

    def settings(self) -> list:
        from dataclasses import replace

        return [replace(p, value=self.values[p.path]) for p in self.SETTINGS]

    def set_setting(self, path: str, value) -> None:
        spec = {p.path: p for p in self.SETTINGS}
        if path not in spec:
            raise KeyError(path)
        self.values[path] = spec[path].check(value)

    @property
    def seed(self) -> int:
        return int(self.values.get("seed", 0))

    def to_dict(self) -> dict:
        return {"experiment": self.name, "time": self.time, **self.values}

    @property
    def description(self) -> str:
        """The class's docstring as plain text (what the lab shows above the controls)."""
        import inspect

        return inspect.cleandoc(type(self).__doc__ or "").replace("``", "")


def _P(path, label, value, unit="", low=None, high=None, kind="float", **kw):
    return Parameter(path, label, value, unit, low, high, kind=kind, live=False, **kw)


# -- Brunel ------------------------------------------------------------------------------


class BrunelExperiment(_Preset):
    """A sparse balanced network of excitatory (E) and inhibitory (I) LIF neurons,
    driven by Poisson inputs (Brunel 2000, scaled down).

    Each neuron gets ``epsilon * n`` inputs from each population and from the
    external one: excitatory weight ``J`` (mV), inhibitory ``-g * J``; delays
    are one step (dt = 0.5 ms). Regimes: with ``g`` below 4 excitation wins
    (synchronous regular, high rates); ``g`` around 5 with the external rate
    near 2x threshold gives the asynchronous irregular state; high ``g`` and a
    low external rate, slow oscillations. Live: the external rate (``ext.rate``)
    and, via the weight scales of ``I->E``/``I->I``, the effective ``g``.
    """

    name = "Brunel E/I network"
    time = None  # until Stop
    SETTINGS = (
        _P("n_exc", "excitatory neurons", 800, "", 4, 20_000, kind="int"),
        _P("epsilon", "connection probability", 0.1, "", 0.001, 1.0),
        _P("J", "excitatory weight J", 0.5, "mV", 0.0, 20.0),
        _P("g", "relative inhibition g", 5.0, "", 0.0, 20.0),
        _P("seed", "random seed", 0, "", 0, 2**31 - 1, kind="int"),
    )

    def build(self):
        from snnlab.network import Network
        from snnlab.network.nodes import Input, LIFNodes
        from snnlab.network.topology import Connection

        v = self.values
        n_e, n_i = v["n_exc"], max(1, v["n_exc"] // 4)
        g = torch.Generator().manual_seed(v["seed"])
        net = Network(dt=0.5)
        lif = dict(thresh=-50.0, rest=-70.0, reset=-60.0, tc_decay=20.0, refrac=2.0)
        ext = Input(n=n_e)
        e, i = LIFNodes(n=n_e, **lif), LIFNodes(n=n_i, **lif)
        for name, layer in (("ext", ext), ("E", e), ("I", i)):
            net.add_layer(layer, name=name)

        def sparse(n_pre, n_post, w):
            mask = torch.rand(n_pre, n_post, generator=g) < v["epsilon"]
            return torch.where(mask, torch.tensor(w, dtype=torch.float32), torch.tensor(0.0))

        J, gJ = v["J"], -v["g"] * v["J"]
        for (s, t, n_pre, n_post, w) in (("ext", "E", n_e, n_e, J), ("ext", "I", n_e, n_i, J),
                                         ("E", "E", n_e, n_e, J), ("E", "I", n_e, n_i, J),
                                         ("I", "E", n_i, n_e, gJ), ("I", "I", n_i, n_i, gJ)):
            net.add_connection(Connection(net.layers[s], net.layers[t], w=sparse(n_pre, n_post, w)), source=s, target=t)
        return net

    def input_specs(self, network):
        # 2x the rate that brings the mean input to threshold: theta / (J * C * tau)
        v = self.values
        c = max(1.0, v["epsilon"] * v["n_exc"])
        nu_thr = 20.0 / (v["J"] * c * 0.020) if v["J"] > 0 else 10.0
        return {"ext": float(min(2.0 * nu_thr, 1000.0 / network.dt))}


# -- f-I curves ------------------------------------------------------------------------------

_MODELS = ("LIF", "IF", "AdaptiveLIF", "Izhikevich", "CurrentLIF", "BoostedLIF")


class FICurveExperiment(_Preset):
    """A small population of one neuron model, each neuron with its own injected
    current: neuron ``i`` gets ``current * i / (n - 1)`` mV per step, so the
    raster (neuron axis = current) and the rates show the f-I curve at once.
    Live: the current (``cells.current``) and the model's parameters.
    """

    name = "f-I curves"
    time = 1000.0
    SETTINGS = (
        _P("model", "neuron model", "LIF", kind="choice", choices=_MODELS),
        _P("n", "neurons (currents)", 50, "", 1, 1000, kind="int"),
        _P("current", "largest current", 2.0, "mV/step", 0.0, 1000.0),
    )

    def build(self):
        from snnlab.network import Network
        from snnlab.network import nodes

        v = self.values
        cls = {"LIF": nodes.LIFNodes, "IF": nodes.IFNodes, "AdaptiveLIF": nodes.AdaptiveLIFNodes,
               "Izhikevich": nodes.IzhikevichNodes, "CurrentLIF": nodes.CurrentLIFNodes,
               "BoostedLIF": nodes.BoostedLIFNodes}[v["model"]]
        if cls is nodes.IzhikevichNodes:
            n = v["n"]
            layer = cls(n=n, excitatory=1.0)
            layer.a, layer.b = torch.full((n,), 0.02), torch.full((n,), 0.2)
            layer.c, layer.d = torch.full((n,), -65.0), torch.full((n,), 8.0)
            layer.S = torch.zeros(n, n)
        else:
            layer = cls(n=v["n"])
        net = Network(dt=1.0)
        net.add_layer(layer, name="cells")
        return net

    def input_specs(self, network):
        n = self.values["n"]
        profile = np.linspace(0.0, 1.0, n) if n > 1 else np.ones(1)
        return {"cells": CurrentSource((n,), self.values["current"], profile)}

    def traced(self, network):
        n = self.values["n"]
        return {"cells": sorted({0, n // 4, n // 2, (3 * n) // 4, n - 1})}


# -- STDP ------------------------------------------------------------------------------------------


class CorrelatedSource(RateSource):
    """Poisson inputs at ``rate`` Hz where the first ``n_correlated`` share spikes: each
    step a common event occurs with probability ``p``, and each correlated input
    copies it with probability ``c`` (else fires on its own), so every input fires
    at the same rate but the group fires together (Song, Miller & Abbott 2000)."""

    def __init__(self, shape, rate, dt, seed, n_correlated: int, c: float = 0.5) -> None:
        self.n_correlated = int(n_correlated)
        self.c = float(c)
        super().__init__(shape, rate, dt, seed)

    def __call__(self, start: int, n_steps: int) -> torch.Tensor:
        if start != self._next:
            raise ValueError(f"correlated input: asked for step {start}, the stream is at step {self._next}")
        n = math.prod(self.shape)
        p = self.rate * self.dt / 1000.0
        k = self.n_correlated
        # per step: one uniform per input, one for the common event, one per correlated input (copy or not)
        u = self._rng.random((n_steps, n + 1 + k))
        self._next = start + n_steps
        common = u[:, n:n + 1] < p
        own = u[:, :n] < p
        # a correlated input copies the common event with probability c, and fires on its
        # own at (1 - c) of the rate: the same rate as the others, but together
        copy = u[:, n + 1:] < self.c
        own[:, :k] = (copy & common) | (u[:, :k] < (1.0 - self.c) * p)
        return torch.from_numpy(own).reshape(n_steps, *self.shape)


class STDPExperiment(_Preset):
    """STDP on a feed-forward layer: Poisson inputs at one rate, the first half of them
    correlated (they often fire together), into LIF neurons with lateral inhibition.
    ``PostPre`` STDP (depression slightly stronger than potentiation, weights in
    [0, wmax]) strengthens the correlated group and weakens the rest: watch the
    weight view. Live: the input rate, learning on/off, every layer parameter.

    What the views show: the output voltages stay between about -75 mV and the
    threshold (-52 mV): each output spike lowers the other outputs by 2 mV
    (lateral inhibition), which then decays back to rest (-65 mV). (At 5 mV,
    bursts held them at -150 to -200 mV, far outside a neuron's range.)
    """

    #: Lateral inhibition: the voltage step (mV) each output spike gives the other outputs.
    LATERAL_INHIBITION = -2.0

    name = "STDP feed-forward"
    time = None
    SETTINGS = (
        _P("n_input", "inputs", 100, "", 2, 10_000, kind="int"),
        _P("n_output", "output neurons", 10, "", 1, 1000, kind="int"),
        _P("nu_post", "learning rate (post)", 0.05, "", 0.0, 1.0),
        _P("wmax", "largest weight", 2.0, "mV", 0.01, 100.0),
        _P("seed", "random seed", 0, "", 0, 2**31 - 1, kind="int"),
    )

    def build(self):
        from snnlab.learning import PostPre
        from snnlab.network import Network
        from snnlab.network.nodes import Input, LIFNodes
        from snnlab.network.topology import Connection

        v = self.values
        g = torch.Generator().manual_seed(v["seed"])
        net = Network(dt=1.0)
        x = Input(n=v["n_input"], traces=True)
        y = LIFNodes(n=v["n_output"], traces=True, refrac=5.0)
        net.add_layer(x, name="input")
        net.add_layer(y, name="output")
        w = v["wmax"] * 0.3 * torch.rand(v["n_input"], v["n_output"], generator=g)
        net.add_connection(Connection(x, y, w=w, update_rule=PostPre, nu=(1.05 * v["nu_post"], v["nu_post"]),
                                      wmin=0.0, wmax=v["wmax"]), source="input", target="output")
        inh = torch.full((v["n_output"], v["n_output"]), self.LATERAL_INHIBITION)
        inh.fill_diagonal_(0.0)
        net.add_connection(Connection(y, y, w=inh), source="output", target="output")
        return net

    def input_specs(self, network):
        n = self.values["n_input"]
        return {"input": CorrelatedSource((n,), 20.0, network.dt, self.seed, n_correlated=n // 2)}


# -- Diehl & Cook ----------------------------------------------------------------------------------------


def _digits():
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target


class DiehlCookExperiment(_Preset):
    """Diehl & Cook (2015), scaled to scikit-learn's 8x8 digits: Poisson inputs
    (rate ~ pixel intensity) -> excitatory adaptive neurons (STDP, weights
    normalised at the end of each digit, which is one engine run:
    ``run_steps``) <-> inhibitory neurons (one-to-one excitation,
    all-to-all inhibition back). Each digit is shown for ``show_ms`` then
    ``rest_ms`` of silence. Receptive fields form live in the weight view.
    """

    name = "Diehl & Cook digits"
    time = None
    SETTINGS = (
        _P("n_neurons", "excitatory neurons", 49, "", 1, 1000, kind="int"),
        _P("intensity", "largest input rate", 128.0, "Hz", 1.0, 1000.0),
        _P("show_ms", "digit shown for", 350.0, "ms", 10.0, 10_000.0),
        _P("rest_ms", "rest between digits", 150.0, "ms", 0.0, 10_000.0),
        _P("nu_post", "learning rate (post)", 0.02, "", 0.0, 1.0),
        _P("seed", "random seed", 0, "", 0, 2**31 - 1, kind="int"),
    )

    def __init__(self, **values) -> None:
        super().__init__(**values)
        self._images = None

    def _period(self) -> int:
        return int(round(self.values["show_ms"] + self.values["rest_ms"]))

    def build(self):
        from snnlab.learning import PostPre
        from snnlab.network import Network
        from snnlab.network.nodes import DiehlAndCookNodes, Input, LIFNodes
        from snnlab.network.topology import Connection

        v = self.values
        n = v["n_neurons"]
        g = torch.Generator().manual_seed(v["seed"])
        torch.manual_seed(v["seed"])  # DiehlAndCookNodes draws its one-spike winner from torch's generator
        net = Network(dt=1.0)
        x = Input(shape=(8, 8), traces=True, tc_trace=20.0)
        exc = DiehlAndCookNodes(n=n, traces=True, rest=-65.0, reset=-60.0, thresh=-52.0, refrac=5.0,
                                tc_decay=100.0, tc_trace=20.0, theta_plus=0.05, tc_theta_decay=1e7)
        inh = LIFNodes(n=n, rest=-60.0, reset=-45.0, thresh=-40.0, tc_decay=10.0, refrac=2.0)
        net.add_layer(x, name="X")
        net.add_layer(exc, name="Ae")
        net.add_layer(inh, name="Ai")
        # 78.4 for 784 MNIST pixels: the same total input per neuron for 64 pixels
        self._norm = 78.4 * 64 / 784 * 2.0
        net.add_connection(Connection(x, exc, w=0.3 * torch.rand(64, n, generator=g), update_rule=PostPre,
                                      nu=(1e-4, v["nu_post"]), wmin=0.0, wmax=1.0, norm=self._norm),
                           source="X", target="Ae")
        net.add_connection(Connection(exc, inh, w=22.5 * torch.eye(n)), source="Ae", target="Ai")
        w_ie = torch.full((n, n), -17.5)
        w_ie.fill_diagonal_(0.0)
        net.add_connection(Connection(inh, exc, w=w_ie), source="Ai", target="Ae")
        net.connections[("X", "Ae")].normalize()
        return net

    def input_specs(self, network):
        if self._images is None:
            self._images, _ = _digits()
        images = self._images
        show = int(round(self.values["show_ms"]))
        period = self._period()
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(images))

        def profile(start, n_steps):
            steps = start + np.arange(n_steps)
            example = order[(steps // period) % len(order)]
            on = (steps % period) < show
            return images[example].reshape(n_steps, 64) * on[:, None]

        return {"X": RateSource((8, 8), self.values["intensity"], network.dt, self.seed, profile=profile)}

    def run_steps(self, network) -> int:
        # One engine run per digit (shown, then rest), as Diehl & Cook's own
        # loop: the engine normalises the learned weights after each run's last
        # step, so at each digit's end whatever the chunks.
        return max(1, int(round(self._period() / network.dt)))

    def traced(self, network):
        return {"Ae": list(range(min(5, self.values["n_neurons"])))}

    def image_shape(self, network, layer: str):
        return (8, 8) if layer == "X" else None
