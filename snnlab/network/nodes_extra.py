"""BindsNET's other node kinds: ``AbstractInput``, ``BoostedLIFNodes``, ``CSRMNodes``.

Declared on the engine's parameter records (:mod:`snnlab.dynamics`) and
registered by name, like the models in :mod:`snnlab.network.nodes`, which
re-exports them. Units: ms, mV.
"""

from __future__ import annotations

import math
from abc import ABC

import torch

from ..dynamics import Param, merge, register
from ..dynamics.model import NodeModel
from ..dynamics.nodes import Input, Nodes

__all__ = ["AbstractInput", "BoostedLIFNodes", "CSRMNodes", "RESPONSE_KERNELS", "REFRACTORY_KERNELS"]


class AbstractInput(ABC):
    """Marks a layer as an input layer (what pipelines feed observations to).

    ``Input`` is one; a user's own input layer is ``class MyInput(Nodes, AbstractInput)``.
    """


AbstractInput.register(Input)


@register
class BoostedLIFNodes(Nodes):
    """LIF neurons measured from rest = 0 mV: a faster, simpler LIF.

    Step: ``v *= decay``; input zeroed where refractory; ``refrac_count -= dt``;
    ``v += x``; spike where ``v >= thresh``; then ``refrac_count = refrac``
    and ``v = 0``. Defaults: ``thresh`` 13 mV, ``refrac`` 5 ms, ``tc_decay`` 100 ms.
    (The same as ``LIFNodes(rest=0, reset=0, thresh=13)``.)

    Examples
    --------
    >>> layer = BoostedLIFNodes(n=1)
    >>> [bool(layer(torch.full((1, 1), 7.0))) for _ in range(3)]
    [False, True, False]
    """

    state_names = ("s", "v", "refrac_count")

    params = merge(
        Nodes.params,
        Param("thresh", 13.0, "mV", per_neuron=True, doc="spike threshold (above rest = 0)"),
        Param("refrac", 5.0, "ms", low=0.0, per_neuron=True, doc="refractory period"),
        Param("tc_decay", 100.0, "ms", low=0.0, low_open=True, per_neuron=True, doc="membrane time constant"),
    )

    # One description; every back-end's code comes from it (snnlab.dynamics.model).
    model = NodeModel(
        state=("v", "refrac_count"), init={"v": 0.0, "refrac_count": 0.0}, decays={"decay": "tc_decay"},
        step="""
            v = v * decay
            inp = where(refrac_count > 0, 0.0, inp)
            refrac_count = refrac_count - dt
            v = v + inp
            s = v >= thresh
            refrac_count = where(s, refrac, refrac_count)
            v = where(s, 0.0, v)
        """,
    )


def _alpha(t, tau):
    return t * torch.exp(-t / tau) / tau**2


def _alpha_slayer(t, tau):
    return t * torch.exp(1 - t / tau) / tau


def _laplacian(t, tau):
    return torch.exp(-torch.abs(t / tau)) / (2 * tau)


def _exponential(t, tau):
    return torch.exp(-t / tau) / tau


def _rectangular(t, tau):
    return torch.full_like(t, 1.0 / (2 * tau))


def _triangular(t, tau):
    return (1 - t / tau) / tau


#: Response kernels of :class:`CSRMNodes`: ``f(t, tau)`` for the input t ms ago.
RESPONSE_KERNELS = {
    "AlphaKernel": _alpha,
    "AlphaKernelSLAYER": _alpha_slayer,
    "LaplacianKernel": _laplacian,
    "ExponentialKernel": _exponential,
    "RectangularKernel": _rectangular,
    "TriangularKernel": _triangular,
}

#: Refractory kernels of :class:`CSRMNodes`: ``f(t, tau, reset_const)`` for a spike t ms ago.
REFRACTORY_KERNELS = {"EtaKernel": lambda t, tau, reset_const: -reset_const * torch.exp(-t / tau)}


@register
class CSRMNodes(Nodes):
    """Cumulative spike response model (Gerstner & van Hemmen 1992).

    Refractoriness and adaptation are the summed after-potentials of all the
    spikes of the last ``ref_window_size`` ms, not only of the last spike.
    Each step, in this order:

    1. ``v *= exp(-dt / tc_decay)``; while learning, ``theta`` decays;
    2. ``v += sum_k response(k dt) * x[t - k]`` over the inputs of the last
       ``res_window_size`` ms (``x[t]`` included, at ``k = 0``);
    3. ``v += sum_k refractory(k dt) * s[t - k]`` over this layer's spikes of
       the last ``ref_window_size`` ms (``k >= 1``);
    4. spike where ``v >= thresh + theta``; while learning,
       ``theta += theta_plus`` per spike (summed over the batch); no reset
       (the refractory kernel does it); clip at ``lbound``.

    Kernels by name: ``responseKernel`` in :data:`RESPONSE_KERNELS`
    (default ``"ExponentialKernel"``, ``exp(-t / tau) / tau``),
    ``refractoryKernel`` in :data:`REFRACTORY_KERNELS` (``"EtaKernel"``,
    ``-reset_const * exp(-t / tau)``).

    BindsNET computes the windowed input inside its connections (so only its
    dense connections feed a CSRM layer); snnlab keeps the window of inputs
    in the layer, so any connection does.
    """

    state_names = ("s", "v")

    #: Its step is imperative torch code (a kernel over windows of past inputs
    #: and spikes is not an elementwise statement list): the description below
    #: makes its state only, ``forward`` is its own, and only back-ends that call
    #: ``forward`` (eager, graph emulation) run it.
    imperative = True
    model = NodeModel(state=("v",), init={"v": "rest"}, shared=("theta",),
                      decays={"decay": "tc_decay", "theta_decay": "tc_theta_decay"}, step="s = v >= thresh")

    params = merge(
        Nodes.params,
        Param("rest", -65.0, "mV", per_neuron=True, doc="initial voltage"),
        Param("thresh", -52.0, "mV", per_neuron=True, doc="spike threshold"),
        Param("tau", 1.0, "ms", low=0.0, low_open=True, doc="time constant of the kernels"),
        Param("res_window_size", 20.0, "ms", low=0.0, low_open=True, live=False, doc="span of the input window"),
        Param("ref_window_size", 10.0, "ms", low=0.0, low_open=True, live=False, doc="span of the spike window"),
        Param("reset_const", 50.0, "mV", doc="size of the refractory kernel"),
        Param("tc_decay", 100.0, "ms", low=0.0, low_open=True, per_neuron=True, doc="membrane time constant"),
        Param("theta_plus", 0.05, "mV", per_neuron=True, doc="threshold increase per spike"),
        Param("tc_theta_decay", 1e7, "ms", low=0.0, low_open=True, per_neuron=True, doc="time constant of theta's decay"),
        Param("lbound", None, "mV", doc="lower bound of v (None: unbounded)"),
    )

    #: kernel names (not numeric parameters)
    def __init__(self, n=None, shape=None, *, responseKernel: str = "ExponentialKernel",
                 refractoryKernel: str = "EtaKernel", **params) -> None:
        if responseKernel not in RESPONSE_KERNELS:
            raise ValueError(f"responseKernel must be one of {sorted(RESPONSE_KERNELS)}, got {responseKernel!r}")
        if refractoryKernel not in REFRACTORY_KERNELS:
            raise ValueError(f"refractoryKernel must be one of {sorted(REFRACTORY_KERNELS)}, got {refractoryKernel!r}")
        self.__dict__["responseKernel"] = responseKernel
        self.__dict__["refractoryKernel"] = refractoryKernel
        record = {p.name: p.default for p in self.params}
        unknown = set(params) - set(record)
        if unknown:
            raise TypeError(f"CSRMNodes() got unexpected keyword arguments {sorted(unknown)}")
        record.update(params)
        self._construct({"n": n, "shape": shape}, record)

    def compute_decays(self, dt):
        super().compute_decays(dt)
        n_res = max(int(math.ceil(self.res_window_size / self.dt - 1e-9)), 1)
        n_ref = max(int(math.ceil(self.ref_window_size / self.dt - 1e-9)), 1)
        t_res = torch.arange(n_res, dtype=torch.float32) * self.dt
        t_ref = torch.arange(1, n_ref + 1, dtype=torch.float32) * self.dt
        device = self._device()
        # kernels[k]: weight of the value k steps back (k = 0: this step's input; spikes from k = 1)
        self._res_kernel = RESPONSE_KERNELS[self.responseKernel](t_res, self.tau).to(device)
        self._ref_kernel = REFRACTORY_KERNELS[self.refractoryKernel](t_ref, self.tau, self.reset_const).to(device)
        if getattr(self, "_inputs", None) is None or self._inputs.shape[0] != n_res or self._spikes.shape[0] != n_ref:
            self._make_windows()

    def _make_windows(self) -> None:
        n_res = len(getattr(self, "_res_kernel", [0])) or 1
        n_ref = len(getattr(self, "_ref_kernel", [0])) or 1
        shape = (self.batch_size, *self.shape)
        device = self._device()
        self.__dict__["_inputs"] = torch.zeros((n_res, *shape), device=device)
        self.__dict__["_spikes"] = torch.zeros((n_ref, *shape), device=device)

    def _make_state(self):
        super()._make_state()
        self._make_windows()

    def forward(self, x, clamp=None, unclamp=None, rand=None):
        """One step (see the class docstring); clamp/unclamp and traces as every layer."""
        s = self._step(x)
        if clamp is not None:
            s.logical_or_(clamp)
        if unclamp is not None:
            s.logical_and_(~unclamp)
        if self.traces:
            self.x.mul_(self.decays["trace_decay"])
            if self.traces_additive:
                self.x.add_(self.trace_scale * s.to(torch.float32))
            else:
                self.x.copy_(torch.where(s, torch.as_tensor(self.trace_scale, dtype=torch.float32), self.x))
        return s

    def _step(self, x):
        v = self.v
        v.mul_(self.decays["decay"])
        if self.learning:
            self.theta.mul_(self.decays["theta_decay"])
        # Newest first: shift the windows by one step.
        self._inputs = torch.roll(self._inputs, 1, dims=0)
        self._inputs[0] = 0.0 if x is None else x
        k_res = self._res_kernel.to(v.device).view(-1, *([1] * v.dim()))
        k_ref = self._ref_kernel.to(v.device).view(-1, *([1] * v.dim()))
        v.add_((k_res * self._inputs).sum(0))
        v.add_((k_ref * self._spikes).sum(0))
        s = torch.ge(v, self.thresh + self.theta, out=self.s)
        if self.learning:
            self.theta.add_(self.theta_plus * s.to(torch.float32).sum(0))
        self._spikes = torch.roll(self._spikes, 1, dims=0)
        self._spikes[0] = s.to(torch.float32)
        if self.lbound is not None:
            v.clamp_(min=self.lbound)
        return s
