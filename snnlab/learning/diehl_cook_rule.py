"""Diehl & Cook's own learning rule (BindsNET 0.3.4's ``DiehlAndCook``)."""

from __future__ import annotations

import math

from . import LearningRule

__all__ = ["DiehlAndCook"]


class DiehlAndCook(LearningRule):
    """Post-synaptic-spike-only STDP of Diehl & Cook (2015), section 2.3.

    On each post-synaptic spike:
    ``dw = nu[1] * (x_pre - x_tar) * (wmax - w) ** mu``, summed over the
    batch; pre-synaptic spikes change nothing (unlike :class:`PostPre`).
    ``x_pre`` is the source's trace (the paper's trace adds 1 a spike:
    create the source with ``traces_additive=True``).

    Parameters
    ----------
    nu : float or (float, float)
        Only the second (post-synaptic) rate is used.
    x_tar : float
        Target trace: inputs whose trace is below it are depressed. Default 0.
    mu : float
        Weight dependence exponent. Default 1.

    The connection needs a finite ``wmax`` and a source with ``traces=True``.
    """

    def __init__(self, connection, nu=(0.0, 0.0), reduction=None, weight_decay: float = 0.0,
                 x_tar: float = 0.0, mu: float = 1.0) -> None:
        if not connection.source.traces:
            raise ValueError("DiehlAndCook needs a spike trace on the source: create it with traces=True")
        if not math.isfinite(connection.wmax):
            raise ValueError(f"DiehlAndCook needs a finite wmax on the connection, got wmax={connection.wmax}")
        self.x_tar = float(x_tar)
        self.mu = float(mu)
        if not self.mu > 0:
            raise ValueError(f"mu must be positive, got {mu}")
        super().__init__(connection, nu, reduction, weight_decay)

    def _update(self, reward):
        c = self.connection
        nu_post = self.nu[1]
        if not nu_post or not self.target.s.any():
            return
        factor = c.wmax - c.weights()
        if self.mu != 1.0:
            factor = factor.clamp(min=0.0) ** self.mu
        c.add_to_weights(nu_post * c.outer_sum(self.source.x - self.x_tar, self.target.s) * factor)
