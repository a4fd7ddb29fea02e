"""snnlab: an interactive lab for spiking neural networks.

The core (``snnlab.network``, ``snnlab.learning``, ``snnlab.encoding``) is a
clock-driven simulator in PyTorch that speaks BindsNET's language. Importing
``snnlab`` loads torch and numpy only; plotting and widgets live in
``snnlab.analysis.plotting`` and ``snnlab.lab``.
"""

from pathlib import Path as _Path

__version__ = "0.1.0"

#: The folder above the package (BindsNET's ``ROOT_DIR``; its examples keep data under it).
ROOT_DIR = _Path(__file__).resolve().parents[1]
