"""Learning rules, applied to a connection once per step after the layers.

A rule is passed to a connection as a class (``update_rule=PostPre``) and
made by it. Each rule reads this step's spikes ``s`` and traces ``x`` of the
connection's source (pre) and target (post) layers and changes the weights
through the connection's primitives, so the same rule works for dense and
sparse connections. After the rule: ``w *= 1 - weight_decay``, then ``w`` is
clamped to ``[wmin, wmax]``.

``nu = (nu_pre, nu_post)``: the rate of the change triggered by a pre-synaptic
spike and by a post-synaptic spike.

A rule with a description (``model``, see :mod:`snnlab.dynamics.model`) may
keep its own per-neuron and per-synapse state (MSTDP's traces and
eligibility); it lives on the rule (``rule.p_plus``, ``rule.eligibility``)
as ``[batch, ...]`` tensors made at the first step of a batch size.
"""

from __future__ import annotations

import math

import torch

from .model import RuleModel, derived_values, torch_rule_update
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
        if self.model is not None:
            for name in self.model.layer_state:
                side, var = self.model.layer_variable(name)
                layer = self.source if side == "pre" else self.target
                if var not in getattr(getattr(layer, "model", None), "state", ()):
                    raise ValueError(f"{owner} reads {name!r}, the {'source' if side == 'pre' else 'target'} layer's "
                                     f"{var!r}, but {type(layer).__name__} has no such state")
        self.compute_decays(getattr(connection, "dt", 1.0))
        self.reset_state_variables()

    def check_parameters(self, owner: str, values: dict) -> None:
        """Cross-checks between parameters (each value is already checked alone)."""

    def parameters_changed(self, names: tuple) -> None:
        self.compute_decays(self.dt)

    def compute_decays(self, dt: float) -> None:
        self.dt = float(dt)
        if self.model is not None:
            # exp(-dt / tc) in double, applied in float32 (as BindsNET's rules); so are the derived scalars
            self._decays = {name: math.exp(-self.dt / getattr(self, tc)) for name, tc in self.model.decays.items()}
            if self.model.derived:
                numbers = {p.name: getattr(self, p.name) for p in self.params if p.name != "nu"}
                self._decays.update(derived_values(self.model, dict(numbers, dt=self.dt)))

    def reset_state_variables(self) -> None:
        """Forget any per-run state (eligibilities): the model's state starts again at zero."""
        if self.model is not None:
            for name in self.model.state:
                setattr(self, name, None)

    @property
    def decays(self) -> dict:
        """The decay factors of the current ``dt`` (``exp(-dt / tc)``) and the derived
        scalars, by the model's names."""
        return dict(self.__dict__.get("_decays", {}))

    def _reward(self, reward, batch: int, device) -> torch.Tensor:
        """:func:`reward_values`, kept for a number (the same every step of a run)."""
        if not isinstance(reward, (int, float)) or isinstance(reward, bool):
            return reward_values(type(self).__name__, reward, batch, device)
        key = (reward, device)
        cached = self.__dict__.get("_reward_cache")
        if cached is None or cached[0] != key:
            cached = (key, reward_values(type(self).__name__, reward, batch, device))
            self._reward_cache = cached
        return cached[1]

    def state_shapes(self, batch: int) -> dict:
        """The shape of each of the model's state tensors for ``batch`` samples."""
        where = {"pre": (batch, self.source.n), "post": (batch, self.target.n),
                 "synapse": (batch, *self.connection.weights().shape)}
        return {name: where[kind] for name, kind in self.model.state.items()}

    def ensure_state(self, batch: int, device) -> dict:
        """The model's state tensors: made (zero) where missing or of another batch
        size, moved to ``device`` (the cpu loop writes them in place; the eager step replaces them)."""
        out = {}
        for name, shape in self.state_shapes(batch).items():
            t = self.__dict__.get(name)
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
                t = torch.zeros(shape, dtype=torch.float32, device=device)
                setattr(self, name, t)
            elif t.device != torch.device(device) or not t.is_contiguous():
                t = t.to(device).contiguous()  # the network moved (or a loaded state): keep its value
                setattr(self, name, t)
            out[name] = t
        return out

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
        model = self.model
        if model is not None:
            env.update(self.__dict__.get("_decays", {}))
            if model.uses_dt:
                env["dt"] = self.dt
            for name in model.layer_state:  # the layers' state the rule reads (s_prob_post)
                side, var = model.layer_variable(name)
                env[name] = getattr(self.source if side == "pre" else self.target, var)
        return env

    def _update(self, reward) -> None:
        model = self.model
        if model is None:  # pragma: no cover - a subclass without a description must write _update
            raise NotImplementedError(f"{type(self).__name__} has neither a model nor an _update")
        values = self.values()
        if model.general:
            batch = self.source.s.shape[0]
            w = self.connection.weights()
            values.update(self.ensure_state(batch, w.device))
            if model.uses_reward:
                values["reward"] = self._reward(reward, batch, w.device)
        torch_rule_update(self, self.connection, model.statements(), values, model)


class NoOp(LearningRule):
    """No plasticity (only weight decay and bounds)."""

    model = RuleModel(updates="", needs_traces=False)

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


def reward_values(rule: str, reward, batch: int, device) -> torch.Tensor:
    """The reward a rule's statements read: a 0-d tensor, or ``[batch]`` (one per sample)."""
    if reward is None:
        raise ValueError(f"{rule} needs a reward: pass reward=... to Network.run (a number or a tensor of shape [batch])")
    r = torch.as_tensor(reward, dtype=torch.float32, device=device)
    if r.numel() == 1:
        return r.reshape(())
    if r.numel() != batch:
        raise ValueError(f"{rule}: reward has {r.numel()} values, expected 1 or batch size {batch}")
    return r.reshape(batch)


class MSTDP(LearningRule):
    """Reward-modulated STDP (Florian 2007).

    Traces ``p+`` (pre, +a_plus per spike) and ``p-`` (post, +a_minus per
    spike), time constants ``tc_plus`` and ``tc_minus`` (ms). Each step:
    ``w += nu[0] * reward * e`` with the eligibility ``e`` of the previous
    step (summed over the batch; ``reward`` a number or one per sample), then
    ``e = outer(p+, s_post) + outer(s_pre, p-)``.
    """

    needs_reward = True

    params = merge(
        LearningRule.params,
        Param("tc_plus", 20.0, "ms", low=0.0, low_open=True, doc="time constant of the pre-synaptic trace p+"),
        Param("tc_minus", 20.0, "ms", low=0.0, low_open=True, doc="time constant of the post-synaptic trace p-"),
        Param("a_plus", 1.0, doc="increase of p+ per pre-synaptic spike"),
        Param("a_minus", -1.0, doc="increase of p- per post-synaptic spike"),
    )

    model = RuleModel(
        state={"p_plus": "pre", "p_minus": "post", "eligibility": "synapse"},
        decays={"plus_decay": "tc_plus", "minus_decay": "tc_minus"},
        needs_traces=False,
        updates="""
            w = w + nu_pre * sum_batch(reward * eligibility)
            p_plus = p_plus * plus_decay + a_plus * s_pre
            p_minus = p_minus * minus_decay + a_minus * s_post
            eligibility = outer(p_plus, s_post) + outer(s_pre, p_minus)
        """,
    )


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

    model = RuleModel(
        state={"p_plus": "pre", "p_minus": "post", "eligibility": "synapse", "eligibility_trace": "synapse"},
        decays={"plus_decay": "tc_plus", "minus_decay": "tc_minus", "e_decay": "tc_e_trace"},
        needs_traces=False,
        updates="""
            eligibility_trace = eligibility_trace * e_decay + eligibility / tc_e_trace
            w = w + nu_pre * dt * sum_batch(reward * eligibility_trace)
            p_plus = p_plus * plus_decay + a_plus * s_pre
            p_minus = p_minus * minus_decay + a_minus * s_post
            eligibility = outer(p_plus, s_post) + outer(s_pre, p_minus)
        """,
    )


_make_rule_init(LearningRule)
for _cls in (NoOp, PostPre, WeightDependentPostPre, Hebbian, MSTDP, MSTDPET):
    register(_cls)
