"""The live widget lab: ``from snnlab.lab import Lab; Lab()`` in JupyterLab or Voila.

Needs the ``[lab]`` extra (ipywidgets, bqplot). ``Lab`` is imported lazily, so
``snnlab.lab.controller`` (no widget imports) can be used without them, e.g.
by the CLI: ``from snnlab.lab.controller import run_config``.
"""

__all__ = ["Lab"]


def __getattr__(name):
    if name == "Lab":
        from snnlab.lab.app import Lab

        return Lab
    raise AttributeError(f"module 'snnlab.lab' has no attribute {name!r}")
