"""Environments a network can act in (BindsNET's ``bindsnet.environment``).

- :class:`GymEnvironment`: any gymnasium environment (gymnasium, and
  ``ale-py`` for Atari games, are optional: ``pip install 'snnlab[gym]'``;
  imported only when an environment is made).
- :class:`~snnlab.environment.dot_simulator.DotSimulator`: moving dots on a
  grid, no dependency.
"""

from .environment import Environment, GymEnvironment

__all__ = ["Environment", "GymEnvironment"]
