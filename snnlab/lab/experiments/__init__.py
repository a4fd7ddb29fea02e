"""Built-in experiments (presets) of the lab, one click away.

``PRESETS`` maps a preset's name to a function returning a new ``Experiment``.
"""

from __future__ import annotations

__all__ = ["PRESETS", "preset"]


def _seed():
    from snnlab.lab.experiments.seed import SeedExperiment

    return SeedExperiment()


def _builtin(name):
    def make():
        from snnlab.lab.experiments import builtin

        return getattr(builtin, name)()

    return make


#: Preset name -> factory of a fresh experiment.
PRESETS = {
    "seed network": _seed,
    "Brunel E/I network": _builtin("BrunelExperiment"),
    "f-I curves": _builtin("FICurveExperiment"),
    "STDP feed-forward": _builtin("STDPExperiment"),
    "Diehl & Cook digits": _builtin("DiehlCookExperiment"),
}


def preset(name: str):
    """A new experiment of preset ``name`` (``PRESETS``); ``ValueError`` if unknown."""
    try:
        factory = PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"preset {name!r}; expected one of {', '.join(map(repr, PRESETS))}") from None
    return factory()
