"""A reference simulator written from ``docs/semantics.md``, in plain NumPy.

It shares no code with snnlab: it reads only plain descriptions of a network
(:class:`LayerSpec`, :class:`ConnSpec`) and NumPy arrays, and computes every
step in float32, in the order the spec prescribes. The conformance tests build
the same network through snnlab's public API and compare the two step by step.

Units: voltages in mV, times in ms.

Two models draw random numbers inside a step (``SRM0Nodes`` and
``DiehlAndCookNodes(one_spike=True)``). The reference cannot draw the same
numbers, so it is *guided*: an ``oracle`` callable hands it the engine's
choice for that step, and the reference checks that the choice was allowed
(a winner among the neurons that crossed threshold; an SRM0 spike only where
the neuron is not refractory) before following it. Everything else in those
models (voltages, resets, thetas, traces, learning) is then deterministic and
checked exactly like the other models.

Notes on the spec where it is silent:

* Izhikevich resets from the previous step's spikes ``s``, *after* clamp and
  unclamp (the spikes the layer reported), as BindsNET does.
* CSRM (BindsNET's CSRMNodes) in the order of its docstring: ``v *= decay``;
  while learning, theta decays; ``v +=`` the response window over this
  step's and past inputs; ``v +=`` the refractory window over the layer's own
  past spikes (before clamp/unclamp, the last step's first, weighing
  ``refractory(0)``); spike at
  ``thresh + theta``; while learning ``theta += theta_plus`` per spike (over
  the batch); no reset; clip at ``lbound``. Each window's sum is taken in
  float64 (exact products of float32 numbers) and rounded to float32 once.
* BoostedLIF is LIF measured from 0 mV: ``v *= decay``, no lbound, reset to 0.
* SRM0 follows the LIF order: leak, ``v += eps_0 * x`` where not refractory,
  ``refrac_count -= dt``, spike with probability ``1 - exp(-rho dt)``,
  ``rho = rho_0 exp((v - thresh) / d_thresh)``, only where
  ``refrac_count <= 0``, then reset.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Dict, List, Optional

import numpy as np

F32 = np.float32

MODELS = (
    "Input", "McCullochPitts", "IF", "LIF", "CurrentLIF", "AdaptiveLIF", "DiehlAndCook", "Izhikevich", "SRM0",
    "BoostedLIF", "CSRM",
)

# Default parameters, from the spec's table.
DEFAULTS: Dict[str, dict] = {
    "Input": {},
    "McCullochPitts": {"thresh": 1.0},
    "IF": {"thresh": -52.0, "reset": -65.0, "refrac": 5.0, "lbound": None},
    "LIF": {"thresh": -52.0, "rest": -65.0, "reset": -65.0, "refrac": 5.0, "tc_decay": 100.0, "lbound": None},
    "CurrentLIF": {"thresh": -52.0, "rest": -65.0, "reset": -65.0, "refrac": 5.0, "tc_decay": 100.0,
                   "tc_i_decay": 2.0, "lbound": None},
    "AdaptiveLIF": {"thresh": -52.0, "rest": -65.0, "reset": -65.0, "refrac": 5.0, "tc_decay": 100.0,
                    "theta_plus": 0.05, "tc_theta_decay": 1e7, "lbound": None},
    "DiehlAndCook": {"thresh": -52.0, "rest": -65.0, "reset": -65.0, "refrac": 5.0, "tc_decay": 100.0,
                     "theta_plus": 0.05, "tc_theta_decay": 1e7, "lbound": None, "one_spike": True},
    "Izhikevich": {"thresh": 45.0, "rest": -65.0, "lbound": None},
    "SRM0": {"thresh": -50.0, "rest": -70.0, "reset": -70.0, "refrac": 5.0, "tc_decay": 10.0, "lbound": None,
             "eps_0": 1.0, "rho_0": 1.0, "d_thresh": 5.0},
    "BoostedLIF": {"thresh": 13.0, "refrac": 5.0, "tc_decay": 100.0},
    "CSRM": {"thresh": -52.0, "rest": -65.0, "tau": 1.0, "res_window_size": 20.0, "ref_window_size": 10.0,
             "reset_const": 50.0, "tc_decay": 100.0, "theta_plus": 0.05, "tc_theta_decay": 1e7, "lbound": None,
             "responseKernel": "ExponentialKernel", "refractoryKernel": "EtaKernel"},
}

RULES = ("NoOp", "PostPre", "WeightDependentPostPre", "Hebbian", "MSTDP", "MSTDPET", "DiehlAndCookRule", "Rmax")


def decay(dt: float, tc) -> np.ndarray:
    """``exp(-dt / tc)`` in float32 (a per-neuron array for an array ``tc``)."""
    return np.exp(F32(-dt) / np.asarray(tc, dtype=F32)).astype(F32)


def csrm_kernels(spec: "LayerSpec", dt: float):
    """CSRM's kernels at ``dt``, from the spec: ``response(k dt)`` for the input
    k steps back (k = 0 .. ceil(res_window_size / dt) - 1) and ``refractory((k - 1) dt)``
    for the spike k steps back (k = 1 .. ceil(ref_window_size / dt): the last
    step's spike weighs refractory(0), as in BindsNET 0.3.4), in float32."""
    tau = F32(spec.p("tau"))
    n_res = max(int(math.ceil(float(spec.p("res_window_size")) / dt - 1e-9)), 1)
    n_ref = max(int(math.ceil(float(spec.p("ref_window_size")) / dt - 1e-9)), 1)
    t = np.arange(n_res, dtype=F32) * F32(dt)
    name = spec.p("responseKernel")
    if name == "ExponentialKernel":
        res = np.exp(-t / tau) / tau
    elif name == "AlphaKernel":
        res = t * np.exp(-t / tau) / F32(float(tau) ** 2)
    else:
        raise ValueError(f"the reference has no response kernel {name!r}")
    t = np.arange(n_ref, dtype=F32) * F32(dt)
    if spec.p("refractoryKernel") != "EtaKernel":
        raise ValueError(f"the reference has no refractory kernel {spec.p('refractoryKernel')!r}")
    ref = F32(-float(spec.p("reset_const"))) * np.exp(-t / tau)
    return res.astype(F32), ref.astype(F32)


@dataclasses.dataclass
class LayerSpec:
    """One layer: a model name of :data:`MODELS`, its size and parameters.

    ``params`` overrides :data:`DEFAULTS`; a value may be a number or a float
    array of shape ``[n]`` (per neuron). Izhikevich needs ``a``, ``b``, ``c``,
    ``d`` (``[n]``) and ``S`` (``[n, n]``: ``S[i, j]`` is neuron j's effect on i).
    """

    model: str
    n: int
    params: dict = dataclasses.field(default_factory=dict)
    traces: bool = False
    traces_additive: bool = False
    tc_trace: float = 20.0
    trace_scale: float = 1.0
    shape: Optional[tuple] = None  # the layer's shape in snnlab (the reference works on the flat n neurons)

    def __post_init__(self):
        if self.shape is not None and int(np.prod(self.shape)) != self.n:
            raise ValueError(f"shape {self.shape} does not hold n={self.n} neurons")
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {MODELS}")
        unknown = set(self.params) - set(DEFAULTS[self.model]) - ({"a", "b", "c", "d", "S"} if self.model == "Izhikevich" else set())
        if unknown:
            raise ValueError(f"unknown parameters for {self.model}: {sorted(unknown)}")

    def p(self, name):
        value = self.params.get(name, DEFAULTS[self.model].get(name))
        if value is None or isinstance(value, (bool, str)):
            return value
        return np.asarray(value, dtype=F32)


@dataclasses.dataclass
class ConnSpec:
    """One connection ``source -> target`` with weights ``w`` ``[n_src, n_tgt]``.

    ``kind``: ``"dense"`` or ``"sparse"`` (only the nonzero entries of the
    initial ``w`` are synapses; learning, decay and bounds touch only those).
    ``rule``: a name of :data:`RULES`; ``nu = (nu_pre, nu_post)``.
    """

    source: str
    target: str
    w: np.ndarray
    kind: str = "dense"
    b: Optional[np.ndarray] = None
    rule: str = "NoOp"
    nu: tuple = (0.0, 0.0)
    wmin: float = -math.inf
    wmax: float = math.inf
    norm: Optional[float] = None
    weight_decay: float = 0.0
    # MSTDP / MSTDPET (the spec's defaults)
    tc_plus: float = 20.0
    tc_minus: float = 20.0
    a_plus: float = 1.0
    a_minus: float = -1.0
    tc_e_trace: float = 25.0
    # DiehlAndCookRule (the learning rule; the spec's defaults)
    x_tar: float = 0.0
    mu: float = 1.0
    # Rmax (and tc_e_trace above)
    tc_c: float = 5.0

    def __post_init__(self):
        if self.kind not in ("dense", "sparse"):
            raise ValueError(f"kind must be 'dense' or 'sparse', got {self.kind!r}")
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; expected one of {RULES}")
        if self.kind == "sparse" and self.b is not None:
            raise ValueError("a sparse connection has no bias")


class _Layer:
    """State and step of one layer (batch ``B``)."""

    def __init__(self, spec: LayerSpec):
        self.spec = spec
        self.model = spec.model
        self.n = spec.n
        self.theta = np.zeros(spec.n, dtype=F32) if spec.model in ("AdaptiveLIF", "DiehlAndCook", "CSRM") else None

    def reset(self, batch: int):
        sp, n = self.spec, self.n
        self.B = batch
        self.s = np.zeros((batch, n), dtype=bool)
        if sp.traces:
            self.x = np.zeros((batch, n), dtype=F32)
        m = self.model
        if m == "McCullochPitts":
            self.v = np.zeros((batch, n), dtype=F32)
        elif m == "Izhikevich":
            self.v = np.broadcast_to(sp.p("rest"), (batch, n)).astype(F32)
            self.u = (np.asarray(sp.params["b"], dtype=F32) * self.v).astype(F32)
        elif m == "CSRM":
            self.v = np.broadcast_to(sp.p("rest"), (batch, n)).astype(F32)
            self.past_inputs = self.past_spikes = None  # [window, B, n], newest first; made at the first step
        elif m == "BoostedLIF":
            self.v = np.zeros((batch, n), dtype=F32)
            self.refrac_count = np.zeros((batch, n), dtype=F32)
        elif m != "Input":
            v0 = sp.p("reset") if m == "IF" else sp.p("rest")
            self.v = np.broadcast_to(v0, (batch, n)).astype(F32)
            self.refrac_count = np.zeros((batch, n), dtype=F32)
            if m == "SRM0":
                self.s_prob = np.zeros((batch, n), dtype=F32)
            if m == "CurrentLIF":
                self.i = np.zeros((batch, n), dtype=F32)

    def state(self) -> dict:
        out = {"s": self.s.copy()}
        for name in ("v", "x", "u", "i", "refrac_count"):
            if hasattr(self, name):
                out[name] = getattr(self, name).copy()
        if self.theta is not None:
            out["theta"] = self.theta.copy()
        return out

    def _fire(self, threshold):
        return self.v >= threshold

    def _reset_where(self, s):
        sp = self.spec
        self.refrac_count = np.where(s, sp.p("refrac"), self.refrac_count).astype(F32)
        self.v = np.where(s, sp.p("reset"), self.v).astype(F32)

    def _lbound(self):
        lb = self.spec.p("lbound")
        if lb is not None:
            self.v = np.maximum(self.v, lb).astype(F32)

    def step(self, x, dt, learning, oracle):
        """One step with input ``x`` (``[B, n]`` float32, or None): the model's own spikes."""
        sp, m = self.spec, self.model
        if x is None:
            x = np.zeros((self.B, self.n), dtype=F32)
        if m == "Input":
            return x != 0
        if m == "McCullochPitts":
            self.v = x.astype(F32).copy()
            return self.v >= sp.p("thresh")
        if m == "Izhikevich":
            return self._izhikevich(x, dt)
        if m == "CSRM":
            return self._csrm(x, dt, learning)
        if m == "BoostedLIF":
            self.v = (self.v * decay(dt, sp.p("tc_decay"))).astype(F32)
            x = np.where(self.refrac_count > 0, F32(0), x).astype(F32)
            self.refrac_count = (self.refrac_count - F32(dt)).astype(F32)
            self.v = (self.v + x).astype(F32)
            s = self.v >= sp.p("thresh")
            self.refrac_count = np.where(s, sp.p("refrac"), self.refrac_count).astype(F32)
            self.v = np.where(s, F32(0), self.v).astype(F32)
            return s
        if m == "IF":
            self.v = (self.v + np.where(self.refrac_count <= 0, x, F32(0))).astype(F32)
            self.refrac_count = (self.refrac_count - F32(dt)).astype(F32)
            s = self.v >= sp.p("thresh")
            self._reset_where(s)
            self._lbound()
            return s
        # The leaky family: decay toward rest first, in this order (spec).
        rest = sp.p("rest")
        self.v = (decay(dt, sp.p("tc_decay")) * (self.v - rest) + rest).astype(F32)
        if m == "CurrentLIF":
            self.i = (self.i * decay(dt, sp.p("tc_i_decay"))).astype(F32)
            self.refrac_count = (self.refrac_count - F32(dt)).astype(F32)
            self.i = (self.i + x).astype(F32)
            self.v = (self.v + np.where(self.refrac_count <= 0, self.i, F32(0))).astype(F32)
            s = self.v >= sp.p("thresh")
        elif m == "SRM0":
            x = np.where(self.refrac_count > 0, F32(0), x).astype(F32)
            self.v = (self.v + sp.p("eps_0") * x).astype(F32)
            self.refrac_count = (self.refrac_count - F32(dt)).astype(F32)
            rho = sp.p("rho_0") * np.exp((self.v - sp.p("thresh")) / sp.p("d_thresh"))
            p = (1.0 - np.exp(-rho * F32(dt))).astype(F32)
            self.s_prob = p  # this step's spike probability (the Rmax rule reads it)
            allowed = self.refrac_count <= 0
            s = np.asarray(oracle("srm0", p=p, allowed=allowed), dtype=bool)
            if (s & ~allowed).any():
                raise AssertionError("SRM0: a refractory neuron spiked")
        else:  # LIF, AdaptiveLIF, DiehlAndCook
            x = np.where(self.refrac_count > 0, F32(0), x).astype(F32)
            self.refrac_count = (self.refrac_count - F32(dt)).astype(F32)
            self.v = (self.v + x).astype(F32)
            threshold = sp.p("thresh")
            if self.theta is not None:
                if learning:  # theta decays before the spike check
                    self.theta = (self.theta * decay(dt, sp.p("tc_theta_decay"))).astype(F32)
                threshold = (threshold + self.theta).astype(F32)
            s = self.v >= threshold
            if m == "DiehlAndCook" and sp.p("one_spike"):
                s = self._one_spike(s, oracle)
            if self.theta is not None and learning:
                self.theta = (self.theta + sp.p("theta_plus") * s.astype(F32).sum(0)).astype(F32)
        self._reset_where(s)
        self._lbound()
        return s

    def _one_spike(self, crossed, oracle):
        """At most one spike per sample, a winner among those that crossed threshold."""
        out = np.zeros_like(crossed)
        for b in range(self.B):
            if crossed[b].any():
                k = int(oracle("winner", sample=b, candidates=np.flatnonzero(crossed[b])))
                if not crossed[b, k]:
                    raise AssertionError(f"DiehlAndCook one_spike: neuron {k} won but did not cross threshold")
                out[b, k] = True
        return out

    def _izhikevich(self, x, dt):
        sp = self.spec
        a, b, c, d = (np.asarray(sp.params[k], dtype=F32) for k in "abcd")
        S = np.asarray(sp.params["S"], dtype=F32)
        s_prev = self.s
        # Reset of the previous step's spikes, then the coupling S @ s_prev.
        self.v = np.where(s_prev, c, self.v).astype(F32)
        self.u = (self.u + d * s_prev.astype(F32)).astype(F32)
        x = (x + s_prev.astype(F32) @ S.T).astype(F32)
        half = F32(dt * 0.5)
        for _ in range(2):
            v = self.v
            self.v = (v + half * ((((F32(0.04) * v ** 2 + F32(5) * v) + F32(140)) - self.u) + x)).astype(F32)
        self.u = (self.u + (F32(dt) * a) * (b * self.v - self.u)).astype(F32)
        s = self.v >= sp.p("thresh")
        self._lbound()
        return s

    def _csrm(self, x, dt, learning):
        sp = self.spec
        res, ref = csrm_kernels(sp, dt)
        if self.past_inputs is None:
            self.past_inputs = np.zeros((len(res), self.B, self.n), dtype=F32)
            self.past_spikes = np.zeros((len(ref), self.B, self.n), dtype=F32)
        self.v = (self.v * decay(dt, sp.p("tc_decay"))).astype(F32)
        if learning:
            self.theta = (self.theta * decay(dt, sp.p("tc_theta_decay"))).astype(F32)
        self.past_inputs = np.concatenate([x[None].astype(F32), self.past_inputs[:-1]])
        window = lambda kernel, past: np.tensordot(kernel.astype(np.float64), past.astype(np.float64), 1).astype(F32)
        self.v = (self.v + window(res, self.past_inputs)).astype(F32)
        self.v = (self.v + window(ref, self.past_spikes)).astype(F32)
        s = self.v >= (sp.p("thresh") + self.theta).astype(F32)
        if learning:
            self.theta = (self.theta + sp.p("theta_plus") * s.astype(F32).sum(0)).astype(F32)
        # the layer's own spikes (not the clamped ones) enter the refractory window
        self.past_spikes = np.concatenate([s[None].astype(F32), self.past_spikes[:-1]])
        self._lbound()
        return s

    def finish(self, s, clamp, unclamp, dt):
        """Clamp/unclamp the spikes, then the traces."""
        if clamp is not None:
            s = s | clamp
        if unclamp is not None:
            s = s & ~unclamp
        self.s = s
        sp = self.spec
        if sp.traces:
            self.x = (self.x * decay(dt, sp.tc_trace)).astype(F32)
            if sp.traces_additive:
                self.x = (self.x + F32(sp.trace_scale) * s.astype(F32)).astype(F32)
            else:
                self.x = np.where(s, F32(sp.trace_scale), self.x).astype(F32)


class _Conn:
    def __init__(self, spec: ConnSpec):
        self.spec = spec
        w = np.asarray(spec.w, dtype=F32)
        self.present = (w != 0) if spec.kind == "sparse" else np.ones(w.shape, dtype=bool)
        self.w = self._bounded(w.copy())
        self.b = None if spec.b is None else np.asarray(spec.b, dtype=F32)
        self.reset()

    def reset(self):
        self.p_plus = self.p_minus = self.elig = self.elig_trace = None

    def _bounded(self, w):
        sp = self.spec
        if sp.wmin != -math.inf or sp.wmax != math.inf:
            w = np.clip(w, F32(sp.wmin), F32(sp.wmax)).astype(F32)
        return np.where(self.present, w, F32(0)).astype(F32)

    def compute(self, s):
        out = (s.astype(F32) @ self.w).astype(F32)
        return out if self.b is None else (out + self.b).astype(F32)

    def learn(self, pre, post, dt, reward):
        """The rule, then ``w *= 1 - weight_decay`` and the bounds."""
        sp = self.spec
        nu_pre, nu_post = F32(sp.nu[0]), F32(sp.nu[1])
        w = self.w
        s_pre, s_post = pre.s.astype(F32), post.s.astype(F32)
        outer_sum = lambda a, b: (a.T @ b).astype(F32)  # summed over the batch
        if sp.rule in ("PostPre", "Hebbian"):
            sign = F32(-1) if sp.rule == "PostPre" else F32(1)
            if nu_pre and pre.s.any():
                w = (w + sign * nu_pre * outer_sum(s_pre, post.x) * self.present).astype(F32)
            if nu_post and post.s.any():
                w = (w + nu_post * outer_sum(pre.x, s_post) * self.present).astype(F32)
        elif sp.rule == "WeightDependentPostPre":
            # Both terms from the weights before this step.
            dw = np.zeros_like(w)
            if nu_pre and pre.s.any():
                dw = dw - nu_pre * outer_sum(s_pre, post.x) * (w - F32(sp.wmin))
            if nu_post and post.s.any():
                dw = dw + nu_post * outer_sum(pre.x, s_post) * (F32(sp.wmax) - w)
            w = (w + dw * self.present).astype(F32)
        elif sp.rule in ("MSTDP", "MSTDPET"):
            w = self._mstdp(w, s_pre, s_post, dt, reward)
        elif sp.rule == "DiehlAndCookRule":
            # Post-synaptic spikes only; the factor from the weights before this step,
            # (wmax - w) ** mu with wmax - w clamped at 0 first when mu != 1.
            if nu_post and post.s.any():
                room = (F32(sp.wmax) - w).astype(F32)
                factor = room if sp.mu == 1.0 else (np.maximum(room, F32(0)) ** F32(sp.mu)).astype(F32)
                x_rel = (pre.x - F32(sp.x_tar)).astype(F32)
                w = (w + nu_post * outer_sum(x_rel, s_post) * factor * self.present).astype(F32)
        elif sp.rule == "Rmax":
            w = self._rmax(w, pre, post, dt, reward)
        if sp.weight_decay:
            w = (w * F32(1.0 - sp.weight_decay)).astype(F32)
        self.w = self._bounded(w)

    def _mstdp(self, w, s_pre, s_post, dt, reward):
        sp = self.spec
        B = s_pre.shape[0]
        if self.p_plus is None or self.p_plus.shape[0] != B:
            self.p_plus = np.zeros_like(s_pre)
            self.p_minus = np.zeros_like(s_post)
            self.elig = np.zeros((B, *w.shape), dtype=F32)
            self.elig_trace = np.zeros((B, *w.shape), dtype=F32)
        if reward is None:
            raise ValueError(f"{sp.rule} needs a reward")
        r = np.asarray(reward, dtype=F32)
        r = r.reshape(()) if r.size == 1 else r.reshape(B, 1, 1)
        nu = F32(sp.nu[0])
        # The weight change uses the previous step's eligibility.
        if sp.rule == "MSTDP":
            w = (w + nu * (r * self.elig).sum(0) * self.present).astype(F32)
        else:
            e_decay = F32(math.exp(-dt / sp.tc_e_trace))
            self.elig_trace = (self.elig_trace * e_decay + self.elig / F32(sp.tc_e_trace)).astype(F32)
            w = (w + nu * F32(dt) * (r * self.elig_trace).sum(0) * self.present).astype(F32)
        self.p_plus = (self.p_plus * F32(math.exp(-dt / sp.tc_plus)) + F32(sp.a_plus) * s_pre).astype(F32)
        self.p_minus = (self.p_minus * F32(math.exp(-dt / sp.tc_minus)) + F32(sp.a_minus) * s_post).astype(F32)
        self.elig = (self.p_plus[:, :, None] * s_post[:, None, :] + s_pre[:, :, None] * self.p_minus[:, None, :]).astype(F32)
        return w

    def _rmax(self, w, pre, post, dt, reward):
        """Per sample: ``E = E * (1 - dt / tc_e_trace) + outer(x_pre, s_post - q)``,
        ``q = s_prob / (1 + tc_c / dt * s_prob)`` (0 where s_prob is 0, so tc_c = inf
        gives s_post); then ``w += nu[0] * sum_b reward_b * E_b``."""
        sp = self.spec
        B = post.s.shape[0]
        if self.elig_trace is None or self.elig_trace.shape[0] != B:
            self.elig_trace = np.zeros((B, *w.shape), dtype=F32)
        if reward is None:
            raise ValueError("Rmax needs a reward")
        p = post.s_prob
        c = F32(sp.tc_c / dt)
        with np.errstate(invalid="ignore", divide="ignore"):  # inf * 0 where s_prob is 0: not taken
            q = np.where(p > 0, p / (F32(1) + c * p), F32(0)).astype(F32)
        post_term = (post.s.astype(F32) - q).astype(F32)
        keep = F32(1.0 - dt / sp.tc_e_trace)
        self.elig_trace = (self.elig_trace * keep + pre.x[:, :, None] * post_term[:, None, :]).astype(F32)
        r = np.asarray(reward, dtype=F32)
        r = r.reshape(()) if r.size == 1 else r.reshape(B, 1, 1)
        return (w + F32(sp.nu[0]) * (r * self.elig_trace).sum(0) * self.present).astype(F32)

    def normalize(self):
        if self.spec.norm is None:
            return
        col = np.abs(self.w).sum(0).astype(F32)
        col[col == 0] = 1.0
        self.w = (self.w * (F32(self.spec.norm) / col)).astype(F32)


def _per_step(value, t: int, batch: int, n: int, dtype):
    """A clamp/unclamp/injects_v value for step ``t``: ``[n]``, ``[T, n]`` or ``[T, B, n]`` -> ``[B, n]``."""
    a = np.asarray(value, dtype=dtype)
    if a.ndim <= 1:
        return np.broadcast_to(a, (batch, n))
    if a.ndim == 2:
        return np.broadcast_to(a[t], (batch, n))
    return a[t]


class ReferenceNetwork:
    """The network of the spec, simulated in NumPy.

    Parameters
    ----------
    layers : list of (name, LayerSpec)
        In the order added (the order of the updates).
    connections : list of ConnSpec
        In the order added (the order of the sums and of learning).
    dt : float
        Time step (ms).
    """

    def __init__(self, layers, connections, dt: float = 1.0):
        self.dt = float(dt)
        self.layers: Dict[str, _Layer] = {name: _Layer(spec) for name, spec in layers}
        self.conns: List[_Conn] = [_Conn(c) for c in connections]
        for c in connections:
            for end in (c.source, c.target):
                if end not in self.layers:
                    raise ValueError(f"connection end {end!r} is not a layer")
        self.batch = None
        self.learning = True

    def reset_state_variables(self):
        for layer in self.layers.values():
            layer.reset(self.batch or 1)
        for c in self.conns:
            c.reset()

    def weights(self, source: str, target: str) -> np.ndarray:
        for c in self.conns:
            if (c.spec.source, c.spec.target) == (source, target):
                return c.w.copy()
        raise KeyError((source, target))

    def _drive(self, name, ext_t):
        x = None
        for c in self.conns:
            if c.spec.target == name:
                contribution = c.compute(self.layers[c.spec.source].s)
                x = contribution if x is None else (x + contribution).astype(F32)
        if ext_t is not None:
            x = ext_t if x is None else (x + ext_t).astype(F32)
        return x

    def run(self, inputs: Dict[str, np.ndarray], steps: int, *, one_step: bool = False, clamp=None,
            unclamp=None, injects_v=None, masks=None, reward=None, oracle: Optional[Callable] = None):
        """Simulate ``steps`` steps; returns ``{layer: {var: array [steps, ...]}}``.

        ``inputs``: layer -> float array ``[T, B, n]``. ``clamp``/``unclamp``:
        layer -> bool ``[n]``, ``[T, n]`` or ``[T, B, n]``; ``injects_v``: layer
        -> float of the same shapes; ``masks``: ``(source, target)`` -> bool
        ``[n_src, n_tgt]``. ``oracle(kind, layer=, step=, **info)`` guides the
        random models (see the module docstring).
        """
        clamp, unclamp, injects_v, masks = clamp or {}, unclamp or {}, injects_v or {}, masks or {}
        batch = next(iter(inputs.values())).shape[1] if inputs else (self.batch or 1)
        if batch != self.batch:
            self.batch = batch
            self.reset_state_variables()
        records = {name: [] for name in self.layers}
        for t in range(steps):
            ext = {name: np.asarray(v[t], dtype=F32) for name, v in inputs.items()}
            if not one_step:  # every connection sees the previous step's spikes
                drives = {name: self._drive(name, ext.get(name)) for name in self.layers}
            for name, layer in self.layers.items():
                x = drives[name] if not one_step else self._drive(name, ext.get(name))
                if name in injects_v:
                    layer.v = (layer.v + _per_step(injects_v[name], t, batch, layer.n, F32)).astype(F32)
                guide = None
                if oracle is not None:
                    guide = (lambda kind, _n=name, _t=t, **info: oracle(kind, layer=_n, step=_t, **info))
                s = layer.step(x, self.dt, self.learning, guide)
                c = _per_step(clamp[name], t, batch, layer.n, bool) if name in clamp else None
                u = _per_step(unclamp[name], t, batch, layer.n, bool) if name in unclamp else None
                layer.finish(s, c, u, self.dt)
            for conn in self.conns:
                key = (conn.spec.source, conn.spec.target)
                if self.learning:
                    conn.learn(self.layers[key[0]], self.layers[key[1]], self.dt, reward)
                if key in masks:
                    conn.w = np.where(masks[key], F32(0), conn.w).astype(F32)
            for name, layer in self.layers.items():
                records[name].append(layer.state())
        for conn in self.conns:
            conn.normalize()
        out = {}
        for name, rows in records.items():
            out[name] = {var: np.stack([r[var] for r in rows]) for var in rows[0]} if rows else {}
        return out
