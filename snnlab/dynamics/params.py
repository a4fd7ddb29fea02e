"""One parameter record per model: what a parameter is, once.

Every layer, connection and learning rule class declares its parameters as a
class attribute ``params`` (a tuple of :class:`Param`, inherited ones
included). The record serves:

* the constructors (:func:`make_init` writes an ``__init__`` with one
  explicit keyword per parameter, so a misspelled keyword is a TypeError);
* validation (:meth:`Param.check`), at construction and for live changes;
* persistence (which parameters to save, by name);
* the docs and the lab's generated controls (unit, range, doc, ``live``).

Values live as plain attributes of the object under the parameter's name
(``layer.thresh``), as in BindsNET. :func:`parameters_of` reads them;
:func:`set_parameters` changes several at once, checked first and applied
all together.

Units: ms, mV, Hz.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Tuple

import torch

_FLOAT32_MAX = float(torch.finfo(torch.float32).max)
_FLOAT32_TINY = float(torch.finfo(torch.float32).tiny)

__all__ = ["Param", "parameters_of", "set_parameters", "make_init", "merge", "param_table"]


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Param:
    """One parameter of a model, connection or learning rule.

    Attributes
    ----------
    name : str
        Keyword and attribute name.
    default : object
        Default value (None: "not set", e.g. no lower bound).
    unit : str
        "mV", "ms", "Hz", "1/ms" or "" (dimensionless).
    low, high : float, optional
        Valid range, closed unless ``low_open`` / ``high_open``; None = unbounded.
    kind : type
        ``float``, ``int`` or ``bool``.
    per_neuron : bool
        A tensor broadcastable to the layer's shape is allowed (float only).
    doc : str
        One line for docs and controls.
    live : bool
        True if a change between two chunks of a run takes effect at the next
        chunk; False if it needs a new object (it changes the state's layout).
    length : int, optional
        The value is a tuple of this many numbers (e.g. ``nu = (pre, post)``).
    finite : bool
        Whether infinite values are refused (bounds such as ``wmax`` allow inf).
    low_open, high_open : bool
        The range excludes ``low`` / ``high`` (``tc > 0``, ``weight_decay < 1``).
    """

    name: str
    default: Any
    unit: str = ""
    low: Optional[float] = None
    high: Optional[float] = None
    kind: type = float
    per_neuron: bool = False
    doc: str = ""
    live: bool = True
    length: Optional[int] = None
    finite: bool = True
    low_open: bool = False
    high_open: bool = False

    # ------------------------------------------------------------ checking
    def expected(self) -> str:
        """What a valid value is, in words (for error messages and docs)."""
        if self.kind is bool:
            what = "True or False"
        elif self.kind is int:
            what = "an integer"
        else:
            what = "a finite number" if self.finite else "a number (inf allowed)"
        if self.length:
            what = f"a number or a pair of numbers ({what} each)" if self.length == 2 else f"{self.length} numbers"
        rng = self.range_text()
        if rng:
            what += f" in {rng}"
        if self.unit:
            what += f" ({self.unit})"
        if self.per_neuron:
            what += ", or a tensor of such numbers broadcastable to the layer's shape"
        if self.default is None:
            what += ", or None"
        return what

    def range_text(self) -> str:
        if self.low is None and self.high is None:
            return ""
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.low is None or self.low_open else "["
        right = ")" if self.high is None or self.high_open else "]"
        return f"{left}{lo}, {hi}{right}"

    def check(self, owner: str, value: Any, shape: Optional[Sequence[int]] = None):
        """Return ``value`` checked (a number as float/int/bool, a tensor as a
        float32 copy), or raise TypeError/ValueError naming ``owner``, the
        parameter, the value and what is expected.

        ``shape``: the layer's shape, for per-neuron tensors.
        """
        if value is None:
            if self.default is None:
                return None
            raise TypeError(f"{owner}: {self.name} must be {self.expected()}, got None")
        if type(value).__module__ == "numpy" and hasattr(value, "shape") and value.shape != ():
            value = torch.from_numpy(value)  # BindsNET takes NumPy arrays wherever it takes tensors
        if self.length:
            return self._check_tuple(owner, value)
        if self.kind is bool:
            if isinstance(value, (bool, getattr(__import__("numpy"), "bool_"))):
                return bool(value)
            raise TypeError(f"{owner}: {self.name} must be True or False, got {_describe(value)}")
        if isinstance(value, torch.Tensor) and value.dim() == 0 and not self.per_neuron:
            value = value.item()
        if isinstance(value, torch.Tensor):
            return self._check_tensor(owner, value, shape)
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{owner}: {self.name} must be {self.expected()}, got {_describe(value)}")
            value = int(value)
        else:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{owner}: {self.name} must be {self.expected()}, got {_describe(value)}")
            try:
                value = float(value)
            except OverflowError as ex:  # a 400-digit int
                raise ValueError(f"{owner}: {self.name} is too large for a float; expected {self.expected()}") from ex
            if math.isnan(value) or (self.finite and math.isinf(value)):
                raise ValueError(f"{owner}: {self.name} must be {self.expected()}, got {value}")
            # The engine computes in float32: a finite value it would turn into
            # inf (or, for a positive one, into 0) cannot run.
            if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
                raise ValueError(
                    f"{owner}: {self.name}={value!r} is not representable in float32, which the engine "
                    f"computes in; expected a magnitude at most {_FLOAT32_MAX:.4g}"
                )
            if self.low == 0 and self.low_open and 0 < value < _FLOAT32_TINY:
                raise ValueError(
                    f"{owner}: {self.name}={value!r} rounds to 0 in float32, which the engine computes in; "
                    f"expected at least {_FLOAT32_TINY:.4g}"
                )
        if not self._in_range(value):
            raise ValueError(f"{owner}: {self.name} must be {self.expected()}, got {value}")
        return value

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        return True

    def _check_tensor(self, owner: str, value: torch.Tensor, shape) -> torch.Tensor:
        if not self.per_neuron or self.kind is not float:
            raise TypeError(f"{owner}: {self.name} must be {self.expected()}, got {_describe(value)}")
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{owner}: {self.name} must hold real numbers, got {_describe(value)}")
        t = value.detach().to(torch.float32).clone()
        bad = torch.isnan(t) if not self.finite else ~torch.isfinite(t)
        if bad.any():
            raise ValueError(f"{owner}: {self.name} contains NaN or inf values; expected {self.expected()}")
        if t.numel():
            lo, hi = t.min().item(), t.max().item()
            if not (self._in_range(lo) and self._in_range(hi)):
                raise ValueError(
                    f"{owner}: {self.name} has values in [{lo:g}, {hi:g}]; expected {self.expected()}"
                )
        if shape is not None:
            shape = tuple(shape)
            try:
                fits = torch.broadcast_shapes(t.shape, shape) == shape
            except RuntimeError:
                fits = False
            if not fits:
                raise ValueError(
                    f"{owner}: {self.name} has shape {tuple(t.shape)}, which does not fit the layer's shape "
                    f"{shape}; expected a number or a tensor broadcastable to {shape}"
                )
        return t

    def _check_tuple(self, owner: str, value: Any) -> tuple:
        if isinstance(value, torch.Tensor):
            value = value.tolist()
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = (value,) * self.length
        if not isinstance(value, (tuple, list)) or len(value) != self.length:
            raise TypeError(f"{owner}: {self.name} must be {self.expected()}, got {_describe(value)}")
        out = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"{owner}: {self.name} must be {self.expected()}, got {_describe(value)}")
            v = float(v)
            if math.isnan(v) or (self.finite and math.isinf(v)) or not self._in_range(v):
                raise ValueError(f"{owner}: {self.name} must be {self.expected()}, got {_describe(value)}")
            out.append(v)
        return tuple(out)


# ----------------------------------------------------------------- records
def merge(base: Iterable[Param], *new: Param) -> Tuple[Param, ...]:
    """``base`` with ``new`` appended; a new Param with an existing name
    replaces it in place (a subclass changing a default, e.g. SRM0's thresh)."""
    out = list(base)
    for p in new:
        for i, q in enumerate(out):
            if q.name == p.name:
                out[i] = p
                break
        else:
            out.append(p)
    return tuple(out)


def _record(obj_or_cls) -> Tuple[Param, ...]:
    params = getattr(obj_or_cls, "params", None)
    if not isinstance(params, tuple) or not all(isinstance(p, Param) for p in params):
        raise TypeError(f"{_owner(obj_or_cls)} has no parameter record (a class attribute params: tuple[Param, ...])")
    return params


def _owner(obj) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return cls.__name__


def parameters_of(obj) -> Dict[str, Tuple[Param, Any]]:
    """``{name: (Param, current value)}`` of a layer, connection or rule.

    Examples
    --------
    >>> from snnlab.network.nodes import LIFNodes
    >>> p, value = parameters_of(LIFNodes(n=2, thresh=-50.0))["thresh"]
    >>> p.unit, value
    ('mV', -50.0)
    """
    return {p.name: (p, getattr(obj, p.name)) for p in _record(obj)}


def set_parameters(obj, **values) -> None:
    """Change parameters of a layer, connection or rule, all at once.

    Every value is checked first (unknown names, types, ranges, per-neuron
    shapes, and the object's own cross-checks such as ``wmin <= wmax``); only
    if all pass are they applied, then derived quantities (decays) are
    recomputed. Valid between two chunks of a run: the change takes effect
    at the next chunk. Parameters with ``live=False`` change the state's
    layout and are refused here (build a new object instead).

    Examples
    --------
    >>> from snnlab.network.nodes import LIFNodes
    >>> lif = LIFNodes(n=2)
    >>> set_parameters(lif, thresh=-55.0, tc_decay=20.0)
    >>> lif.thresh, lif.tc_decay
    (-55.0, 20.0)
    """
    record = {p.name: p for p in _record(obj)}
    owner = getattr(obj, "owner_name", None) or _owner(obj)
    checked = {}
    for name, value in values.items():
        p = record.get(name)
        if p is None:
            raise TypeError(f"{owner} has no parameter {name!r}; its parameters are {', '.join(record)}")
        if not p.live:
            raise ValueError(
                f"{owner}: {name} cannot change on an existing object (it changes the layout of the state); "
                f"build a new {_owner(obj)} with {name}={_describe(value)}"
            )
        checked[name] = p.check(owner, value, getattr(obj, "shape", None) if p.per_neuron else None)
    merged = {p.name: getattr(obj, p.name) for p in record.values()}
    merged.update(checked)
    cross = getattr(obj, "check_parameters", None)
    if cross is not None:
        cross(owner, merged)
    place = getattr(obj, "_place_parameter", None)
    for name, value in checked.items():
        setattr(obj, name, place(value) if place is not None and isinstance(value, torch.Tensor) else value)
    changed = getattr(obj, "parameters_changed", None)
    if changed is not None:
        changed(tuple(checked))


def param_table(cls) -> str:
    """The record as a reStructuredText-like table (for docstrings and docs)."""
    lines = []
    for p in _record(cls):
        default = "None" if p.default is None else repr(p.default)
        lines.append(f"{p.name} : {p.kind.__name__}{' or Tensor' if p.per_neuron else ''}, default {default}"
                     f"{' (' + p.unit + ')' if p.unit else ''}{', range ' + p.range_text() if p.range_text() else ''}")
        if p.doc:
            lines.append(f"    {p.doc}")
    return "\n".join(lines)


# ------------------------------------------------------------ constructors
def make_init(
    cls,
    body: Optional[Callable] = None,
    *,
    positional: Sequence[Tuple[str, Any]] = (),
    positional_params: Sequence[str] = (),
    extra: Sequence[Tuple[str, Any]] = (),
    var_keyword: Optional[str] = None,
):
    """Write ``cls.__init__`` from its record, with one explicit keyword per parameter.

    The generated signature is
    ``__init__(self, <positional>, <positional_params>, *, <the other params>, <extra>, **<var_keyword>)``
    with the record's defaults, so Python itself rejects a misspelled
    keyword (as ``dataclasses`` does, the source is written and compiled
    once per class). The call is handed on as
    ``body(self, {positional and extra names: value}, {param name: value}[, var_keyword dict])``,
    by default to the method ``self._construct`` (so subclasses may extend it).

    Parameters
    ----------
    positional : sequence of (name, default)
        Leading arguments that are not parameters (``n``, ``shape``;
        ``source``, ``target``). Use ``make_init.REQUIRED`` for no default.
    positional_params : sequence of str
        Parameters that may also be given by position, after ``positional``
        (BindsNET's order, e.g. a connection's ``nu``).
    extra : sequence of (name, default)
        Keyword-only arguments that are not parameters (``w``, ``update_rule``).
    var_keyword : str, optional
        Name of a ``**`` argument (checked by ``body`` itself, e.g. a
        connection's learning-rule parameters).
    """
    record = _record(cls)
    names = [p.name for p in record]
    for name in positional_params:
        if name not in names:
            raise ValueError(f"{cls.__name__}: positional parameter {name!r} is not in the record")
    defaults: Dict[str, Any] = {}
    head, kw = [], []
    for name, default in positional:
        if default is make_init.REQUIRED:
            head.append(name)
        else:
            defaults[f"_d_{name}"] = default
            head.append(f"{name}=_d_{name}")
    by_name = {p.name: p for p in record}
    for name in positional_params:
        defaults[f"_d_{name}"] = by_name[name].default
        head.append(f"{name}=_d_{name}")
    for p in record:
        if p.name in positional_params:
            continue
        defaults[f"_d_{p.name}"] = p.default
        kw.append(f"{p.name}=_d_{p.name}")
    for name, default in extra:
        defaults[f"_d_{name}"] = default
        kw.append(f"{name}=_d_{name}")
    args = ["self"] + head + (["*"] + kw if kw else [])
    if var_keyword:
        args.append(f"**{var_keyword}")
    plain = [n for n, _ in positional] + [n for n, _ in extra]
    pv = ", ".join(f"{n!r}: {n}" for n in plain)
    kv = ", ".join(f"{n!r}: {n}" for n in names)
    target = "_body(self, " if body is not None else "self._construct("
    call = f"{target}{{{pv}}}, {{{kv}}}" + (f", {var_keyword})" if var_keyword else ")")
    src = f"def __init__({', '.join(args)}):\n    {call}\n"
    namespace = dict(defaults, _body=body)
    exec(compile(src, f"<snnlab.dynamics: {cls.__qualname__}.__init__>", "exec"), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = f"Build a {cls.__name__}; parameters as in the class docstring and ``{cls.__name__}.params``."
    cls.__init__ = init
    return init


make_init.REQUIRED = object()
