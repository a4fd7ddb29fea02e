"""The live widget lab: ``from snnlab.lab import Lab``.

``Lab()`` shows the seed network; ``Lab(net, inputs={"X": 20.0})`` any
``snnlab.network.Network``; ``Lab(experiment)`` any ``Experiment``
(``snnlab.lab.experiment``), e.g. a preset from ``snnlab.lab.experiments``.

Needs the ``[lab]`` extra (ipywidgets, bqplot). ``Lab`` is imported lazily,
so the controller (``snnlab.lab.controller``, no widget imports) and the
experiments can be used without them, e.g. by the CLI.
"""

__all__ = ["Lab"]


def __getattr__(name):
    if name == "Lab":
        from snnlab.lab.app import Lab

        return Lab
    raise AttributeError(f"module 'snnlab.lab' has no attribute {name!r}")
