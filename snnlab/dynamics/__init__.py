"""Definitions of models, connections and learning rules: what each one is, once.

* :class:`Param`, :func:`parameters_of`, :func:`set_parameters`: the
  parameter record every layer, connection and rule class declares
  (``params``), which its constructor, persistence, the docs and the lab's
  controls are derived from.
* :func:`register`, :func:`registered`: the table persistence builds objects
  from; users register their own classes.

This package imports only torch, numpy and the standard library.
"""

from .params import Param, make_init, merge, param_table, parameters_of, set_parameters
from .registry import lookup, name_of, register, registered

__all__ = [
    "Param",
    "parameters_of",
    "set_parameters",
    "register",
    "registered",
    "lookup",
    "name_of",
    "make_init",
    "merge",
    "param_table",
]
