"""The registry of model, connection and learning-rule classes, by name.

snnlab's own classes are registered when their modules are imported; users
register theirs with :func:`register`. Persistence saves a layer, connection
or rule under its registered name and builds it back from this table only,
so a saved file can never name arbitrary code.
"""

from __future__ import annotations

from typing import Dict, Optional

from .params import Param

__all__ = ["register", "registered", "lookup", "name_of"]

_TABLE: Dict[str, type] = {}


def register(cls: Optional[type] = None, *, name: Optional[str] = None):
    """Register a layer, connection or learning-rule class (usable as a decorator).

    The class must declare its parameters (``params: tuple[Param, ...]``).
    ``name`` defaults to the class name; registering a different class under
    a name already taken is refused (re-registering the same class is fine).

    Examples
    --------
    >>> from snnlab.network.nodes import LIFNodes
    >>> @register
    ... class MyLIF(LIFNodes):
    ...     '''LIF neurons under another name.'''
    >>> registered()["MyLIF"] is MyLIF
    True
    """
    if cls is None:
        return lambda c: register(c, name=name)
    if not isinstance(cls, type):
        raise TypeError(f"register() takes a class, got {cls!r}")
    params = getattr(cls, "params", None)
    if not isinstance(params, tuple) or not all(isinstance(p, Param) for p in params):
        raise TypeError(
            f"{cls.__name__} has no parameter record: declare params = (Param(...), ...) "
            "as a class attribute (inherited ones included)"
        )
    key = cls.__name__ if name is None else name
    if not isinstance(key, str) or not key.isidentifier():
        raise ValueError(f"register(): name must be an identifier, got {key!r}")
    old = _TABLE.get(key)
    if old is not None and old is not cls and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(
            f"register(): the name {key!r} is taken by {old.__module__}.{old.__qualname__}; "
            f"pass name=... to register {cls.__module__}.{cls.__qualname__} under another name"
        )
    _TABLE[key] = cls
    cls.registered_name = key
    return cls


def registered() -> Dict[str, type]:
    """A copy of the table: registered name -> class."""
    return dict(_TABLE)


def lookup(name: str) -> Optional[type]:
    """The class registered under ``name``, or None."""
    return _TABLE.get(name)


def name_of(obj_or_cls) -> Optional[str]:
    """The registered name of a class (or of an object's class), or None."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    key = cls.__dict__.get("registered_name")
    return key if key is not None and _TABLE.get(key) is cls else None
