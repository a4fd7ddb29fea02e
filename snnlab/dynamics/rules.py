"""Learning rules, applied to a connection once per step after the layers.

A rule is passed to a connection as a class (``update_rule=PostPre``) and
made by it. Each rule reads this step's spikes ``s`` and traces ``x`` of the
connection's source (pre) and target (post) layers and changes the weights
through the connection's primitives, so the same rule works for dense and
sparse connections. After the rule: ``w *= 1 - weight_decay``, then ``w`` is
clamped to ``[wmin, wmax]``.

``nu = (nu_pre, nu_post)``: the rate of the change triggered by a pre-synaptic
spike and by a post-synaptic spike.
"""

from __future__ import annotations

import math

import torch

from .model import RuleModel, torch_rule_update
from .params import Param, make_init, merge
from .registry import register

__all__ = ["LearningRule", "NoOp", "PostPre", "WeightDependentPostPre", "Hebbian", "MSTDP", "MSTDPET"]


def _make_rule_init(cls) -> None:
    make_init(
        cls,
        positional=(("connection", make_init.REQUIRED),),
        positional_params=("nu",),
        extra=(("reduction", None), ("weight_decay", 0.0)),
    )


class LearningRule:
    """Base class: holds the connection and rates; applies decay and bounds.

    Parameters are declared in ``params`` (see :mod:`snnlab.dynamics`); the
    constructor ``rule(connection, nu, *, reduction, weight_decay, <params>)``
    is made from it. A connection makes its rule and passes it the rule's own
    parameters: ``Connection(a, b, update_rule=MSTDP, tc_plus=10.0)``.
    """

    needs_traces = False
    needs_reward = False

    params: tuple = (
        Param("nu", (0.0, 0.0), length=2, doc="learning rates (pre-synaptic, post-synaptic)"),
    )

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            _make_rule_init(cls)

    def _construct(self, head: dict, values: dict) -> None:
        connection = head["connection"]
        self.connection = connection
        self.source = connection.source
        self.target = connection.target
        owner = type(self).__name__
        checked = {p.name: p.check(owner, values[p.name]) for p in self.params}
        self.check_parameters(owner, checked)
        for name, value in checked.items():
            setattr(self, name, value)
        self.reduction = head["reduction"]
        self.weight_decay = head["weight_decay"]
        if self.needs_traces:
            for role, layer in (("source", self.source), ("target", self.target)):
                if not layer.traces:
                    raise ValueError(
                        f"{type(self).__name__} needs spike traces: create the {role} layer "
                        f"({type(layer).__name__}) with traces=True"
                    )
        self.compute_decays(getattr(connection, "dt", 1.0))
        self.reset_state_variables()

    def check_parameters(self, owner: str, values: dict) -> None:
        """Cross-checks between parameters (each value is already checked alone)."""

    def parameters_changed(self, names: tuple) -> None:
        self.compute_decays(self.dt)

    def compute_decays(self, dt: float) -> None:
        self.dt = float(dt)

    def reset_state_variables(self) -> None:
        """Forget any per-run state (eligibilities)."""

    def changes_weights(self) -> bool:
        """Whether an update step can change the weights (lets the network
        propagate a run's fixed input in one matrix product)."""
        return True

    #: the rule's weight updates (see snnlab.dynamics.model); None for a rule
    #: written by hand in ``_update`` (which then runs on the eager back-end only)
    model: "RuleModel | None" = None

    def update(self, reward=None) -> None:
        self._update(reward)
        self.connection.decay_and_clamp()

    @classmethod
    def described(cls) -> bool:
        """Whether the rule is its description (``model``), not written by hand in ``_update``."""
        return cls.model is not None and cls._update is LearningRule._update

    def values(self) -> dict:
        """What the rule's statements read: spikes and traces of both sides,
        ``nu_pre``/``nu_post``, the connection's bounds and the rule's parameters."""
        c = self.connection
        env = {p.name: getattr(self, p.name) for p in self.params if p.name != "nu"}
        env.update(nu_pre=self.nu[0], nu_post=self.nu[1], wmin=c.wmin, wmax=c.wmax,
                   s_pre=self.source.s, s_post=self.target.s)
        if self.source.traces:
            env["x_pre"] = self.source.x
        if self.target.traces:
            env["x_post"] = self.target.x
        return env

    def _update(self, reward) -> None:
        if self.model is None:  # pragma: no cover - a subclass without a description must write _update
            raise NotImplementedError(f"{type(self).__name__} has neither a model nor an _update")
        torch_rule_update(self, self.connection, self.model.statements(), self.values())


class NoOp(LearningRule):
    """No plasticity (only weight decay and bounds)."""

    def _update(self, reward):
        pass

    def changes_weights(self) -> bool:
        c = self.connection
        if c.weight_decay:
            return True
        if c.bounded:
            w = c.weights()
            return bool(((w < c.wmin) | (w > c.wmax)).any())
        return False


class PostPre(LearningRule):
    """Pair-based STDP from traces.

    ``dw = -nu[0] * outer(s_pre, x_post) + nu[1] * outer(x_pre, s_post)``,
    summed over the batch. Needs ``traces=True`` on both layers.

    Examples
    --------
    A pre-synaptic spike at t = 0 and a post-synaptic one at t = 3 potentiate
    by ``nu[1] * exp(-3 / 20)``:

    >>> from snnlab.network import Network
    >>> from snnlab.network.nodes import Input
    >>> from snnlab.network.topology import Connection
    >>> net = Network()
    >>> pre, post = Input(n=1, traces=True), Input(n=1, traces=True)
    >>> net.add_layer(pre, name="pre"); net.add_layer(post, name="post")
    >>> net.add_connection(Connection(pre, post, w=torch.zeros(1, 1), update_rule=PostPre, nu=(0.1, 0.2)),
    ...                    source="pre", target="post")
    >>> spikes = torch.zeros(4, 1)
    >>> net.run(inputs={"pre": spikes.index_fill(0, torch.tensor([0]), 1),
    ...                 "post": spikes.index_fill(0, torch.tensor([3]), 1)}, time=4)
    >>> round(net.connections[("pre", "post")].w.item(), 5)
    0.17214
    """

    needs_traces = True
    model = RuleModel(updates="""
        w = w + (-nu_pre) * outer(s_pre, x_post)
        w = w + nu_post * outer(x_pre, s_post)
    """)


class WeightDependentPostPre(LearningRule):
    """PostPre with soft bounds: depression scaled by ``w - wmin``,
    potentiation by ``wmax - w`` (both from the weights before this step).
    Needs finite ``wmin`` and ``wmax``."""

    needs_traces = True

    def _construct(self, head: dict, values: dict) -> None:
        connection = head["connection"]
        if not connection.finite_bounds():
            raise ValueError(
                "WeightDependentPostPre needs finite bounds: give the connection wmin and wmax "
                f"(got wmin={connection.wmin}, wmax={connection.wmax})"
            )
        super()._construct(head, values)

    # one update from the weights before the step (both terms read the same w)
    model = RuleModel(updates="""
        w = w + ((-nu_pre) * outer(s_pre, x_post) * (w - wmin) + nu_post * outer(x_pre, s_post) * (wmax - w))
    """)


class Hebbian(LearningRule):
    """Both pairings potentiate:
    ``dw = nu[0] * outer(s_pre, x_post) + nu[1] * outer(x_pre, s_post)``."""

    needs_traces = True
    model = RuleModel(updates="""
        w = w + nu_pre * outer(s_pre, x_post)
        w = w + nu_post * outer(x_pre, s_post)
    """)


def _reward_tensor(rule: str, reward, batch: int, like: torch.Tensor) -> torch.Tensor:
    """Reward as a tensor broadcastable over ``[B, ...]`` weight-shaped updates."""
    if reward is None:
        raise ValueError(f"{rule} needs a reward: pass reward=... to Network.run (a number or a tensor of shape [batch])")
    r = torch.as_tensor(reward, dtype=torch.float32, device=like.device)
    if r.numel() == 1:
        return r.reshape(())
    if r.numel() != batch:
        raise ValueError(f"{rule}: reward has {r.numel()} values, expected 1 or batch size {batch}")
    return r.reshape(batch, *([1] * (like.dim() - 1)))


class MSTDP(LearningRule):
    """Reward-modulated STDP (Florian 2007).

    Traces ``p+`` (pre, +a_plus per spike) and ``p-`` (post, +a_minus per
    spike), time constants ``tc_plus`` and ``tc_minus`` (ms). Each step:
    ``w += nu[0] * reward * e`` with the eligibility ``e`` of the previous
    step, then ``e = outer(p+, s_post) + outer(s_pre, p-)``.
    """

    needs_reward = True

    params = merge(
        LearningRule.params,
        Param("tc_plus", 20.0, "ms", low=0.0, low_open=True, doc="time constant of the pre-synaptic trace p+"),
        Param("tc_minus", 20.0, "ms", low=0.0, low_open=True, doc="time constant of the post-synaptic trace p-"),
        Param("a_plus", 1.0, doc="increase of p+ per pre-synaptic spike"),
        Param("a_minus", -1.0, doc="increase of p- per post-synaptic spike"),
    )

    def compute_decays(self, dt):
        super().compute_decays(dt)
        self._plus_decay = math.exp(-self.dt / self.tc_plus)
        self._minus_decay = math.exp(-self.dt / self.tc_minus)

    def reset_state_variables(self):
        self.p_plus = None
        self.p_minus = None
        self.eligibility = None

    def _ensure_state(self, batch: int, device) -> None:
        if self.p_plus is None or self.p_plus.shape[0] != batch or self.p_plus.device != device:
            w = self.connection.weights()
            self.p_plus = torch.zeros(batch, self.source.n, device=device)
            self.p_minus = torch.zeros(batch, self.target.n, device=device)
            self.eligibility = torch.zeros(batch, *w.shape, device=device)

    def _traces_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.source.s.shape[0]
        pre = self.source.s.reshape(batch, -1).to(torch.float32)
        post = self.target.s.reshape(batch, -1).to(torch.float32)
        self.p_plus.mul_(self._plus_decay).add_(pre, alpha=self.a_plus)
        self.p_minus.mul_(self._minus_decay).add_(post, alpha=self.a_minus)
        return pre, post

    def _update(self, reward):
        c = self.connection
        batch = self.source.s.shape[0]
        self._ensure_state(batch, c.weights().device)
        r = _reward_tensor("MSTDP", reward, batch, self.eligibility)
        if self.nu[0]:
            c.add_to_weights(self.nu[0] * c.reduce(r * self.eligibility))
        pre, post = self._traces_step()
        self.eligibility = c.outer(self.p_plus, post) + c.outer(pre, self.p_minus)


class MSTDPET(MSTDP):
    """Reward-modulated STDP with an eligibility trace (Florian 2007).

    ``E *= exp(-dt / tc_e_trace)``; ``E += e / tc_e_trace`` (``e`` of the
    previous step); ``w += nu[0] * dt * reward * E``; then traces and ``e``
    are updated as in :class:`MSTDP`. ``tc_e_trace`` defaults to 25 ms.
    """

    params = merge(
        MSTDP.params,
        Param("tc_e_trace", 25.0, "ms", low=0.0, low_open=True, doc="time constant of the eligibility trace E"),
    )

    def compute_decays(self, dt):
        super().compute_decays(dt)
        self._e_decay = math.exp(-self.dt / self.tc_e_trace)

    def reset_state_variables(self):
        super().reset_state_variables()
        self.eligibility_trace = None

    def _ensure_state(self, batch, device):
        fresh = self.p_plus is None or self.p_plus.shape[0] != batch or self.p_plus.device != device
        super()._ensure_state(batch, device)
        if fresh or self.eligibility_trace is None:
            self.eligibility_trace = torch.zeros_like(self.eligibility)

    def _update(self, reward):
        c = self.connection
        batch = self.source.s.shape[0]
        self._ensure_state(batch, c.weights().device)
        r = _reward_tensor("MSTDPET", reward, batch, self.eligibility)
        self.eligibility_trace.mul_(self._e_decay).add_(self.eligibility / self.tc_e_trace)
        if self.nu[0]:
            c.add_to_weights(self.nu[0] * self.dt * c.reduce(r * self.eligibility_trace))
        pre, post = self._traces_step()
        self.eligibility = c.outer(self.p_plus, post) + c.outer(pre, self.p_minus)


_make_rule_init(LearningRule)
for _cls in (NoOp, PostPre, WeightDependentPostPre, Hebbian, MSTDP, MSTDPET):
    register(_cls)
