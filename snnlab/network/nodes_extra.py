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
    3. ``v += sum_k refractory((k - 1) dt) * s[t - k]`` over this layer's
       spikes of the last ``ref_window_size`` ms (``k >= 1``: the last step's
       spike weighs ``refractory(0)``, the full ``-reset_const`` of the
       EtaKernel, so the kernel acts as the reset at once, as in BindsNET 0.3.4);
    4. spike where ``v >= thresh + theta``; while learning,
       ``theta += theta_plus`` per spike (summed over the batch); no reset
       (the refractory kernel does it); clip at ``lbound``.

    Kernels by name: ``responseKernel`` in :data:`RESPONSE_KERNELS`
    (default ``"ExponentialKernel"``, ``exp(-t / tau) / tau``),
    ``refractoryKernel`` in :data:`REFRACTORY_KERNELS` (``"EtaKernel"``,
    ``-reset_const * exp(-t / tau)``).

    The spikes of step 3 are the layer's own (before clamp and unclamp).
    Each window's sum is accumulated in float64 and rounded to float32 once.
    The windows (``inp_window``, ``fired_window``: ``[steps, batch, *shape]``)
    carry over between runs and are zeroed by ``reset_state_variables``. A
    window of more than :data:`MAX_WINDOW_STEPS` steps, or
    :data:`MAX_WINDOW_ELEMENTS` steps x neurons, is a ``ValueError``.

    BindsNET computes the windowed input inside its connections (so only its
    dense connections feed a CSRM layer); snnlab keeps the window of inputs
    in the layer, so any connection does.
    """

    state_names = ("s", "v")

    # One description; every back-end's code comes from it (snnlab.dynamics.model).
    # ``fired``: this step's own spikes (before clamp/unclamp) as numbers, whose
    # window the next steps' refractory term reads (so window slot 0, weighed
    # ref_kernel[0] = refractory(0), is one step back).
    model = NodeModel(
        state=("v", "fired"), init={"v": "rest", "fired": 0.0}, shared=("theta",),
        decays={"decay": "tc_decay", "theta_decay": "tc_theta_decay"},
        step="""
            v = v * decay
            if learning:
                theta = theta * theta_decay
            v = v + window(inp, res_kernel)
            v = v + window(fired, ref_kernel)
            s = v >= thresh + theta
            if learning:
                theta = theta + theta_plus * sum_batch(s)
            fired = where(s, 1.0, 0.0)
            if lbound:
                v = maximum(v, lbound)
        """,
    )

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

    def constructor_keywords(self) -> dict:
        """The kernel names (constructor keywords outside the parameter record), for saving."""
        return {"responseKernel": self.responseKernel, "refractoryKernel": self.refractoryKernel}

    def window_kernels(self, dt: float) -> dict:
        """``res_kernel[k] = response(k dt)`` (k = 0 .. ceil(res_window_size / dt) - 1,
        this step's input first) and ``ref_kernel[k] = refractory(k dt)`` for the
        spike k + 1 steps back (k = 0 .. ceil(ref_window_size / dt) - 1, the last
        step's first): BindsNET 0.3.4's kernels and window lengths."""
        n_res = _window_steps(self, "res_window_size", dt)
        n_ref = _window_steps(self, "ref_window_size", dt)
        t_res = torch.arange(n_res, dtype=torch.float32) * dt
        t_ref = torch.arange(n_ref, dtype=torch.float32) * dt
        return {"res_kernel": RESPONSE_KERNELS[self.responseKernel](t_res, self.tau),
                "ref_kernel": REFRACTORY_KERNELS[self.refractoryKernel](t_ref, self.tau, self.reset_const)}


#: the most steps a CSRM window holds, and steps x neurons (a window costs 8 bytes
#: of memory per sample and a multiply-add per step for each)
MAX_WINDOW_STEPS = 2**16
MAX_WINDOW_ELEMENTS = 2**24


def _window_steps(layer, name: str, dt: float) -> int:
    """Steps of a window of ``getattr(layer, name)`` ms at ``dt``; ValueError if too large to keep."""
    span = getattr(layer, name)
    steps = span / dt
    if not math.isfinite(steps) or steps > MAX_WINDOW_STEPS or math.ceil(steps - 1e-9) * layer.n > MAX_WINDOW_ELEMENTS:
        raise ValueError(
            f"{type(layer).__name__}: {name}={span!r} ms at dt={dt!r} ms is {steps:.6g} steps for {layer.n} neurons; "
            f"a window holds at most {MAX_WINDOW_STEPS} steps and {MAX_WINDOW_ELEMENTS} steps x neurons"
        )
    return max(int(math.ceil(steps - 1e-9)), 1)
