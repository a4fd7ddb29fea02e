"""A strict JSON reader for files a user hands us (configs): bounded, unambiguous.

``json.loads`` alone accepts inputs that later crash or silently mislead:
nesting 2,000 levels deep raises ``RecursionError``; a key given twice keeps
its last value without a word; a 400-digit integer becomes a Python int that
overflows wherever it meets a float; ``NaN``/``Infinity`` are accepted.
:func:`loads_strict` refuses each of them with a ``ValueError`` that names
the problem, before any value reaches a constructor.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["loads_strict", "MAX_DEPTH", "MAX_INT_DIGITS"]

#: Deepest nesting of objects and arrays accepted. A config is two levels
#: deep (an object holding a list); 64 leaves room for richer files and stays
#: far below Python's recursion limit (1000), which ``json`` would hit.
MAX_DEPTH = 64

#: Most digits of a JSON integer. The largest value any snnlab setting can
#: take is float32's maximum, 3.4e38 (39 digits); longer integers can only be
#: mistakes, and Python refuses to even print ints over 4,300 digits.
MAX_INT_DIGITS = 39


def _nesting_depth(text: str, limit: int) -> int:
    """Deepest ``[``/``{`` nesting of ``text`` (strings skipped); stops past ``limit``."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_strict(text: "str | bytes", *, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text, refusing what ``json.loads`` would accept but should not.

    Parameters
    ----------
    text : str or bytes
        The JSON document (bytes must be UTF-8).
    what : str
        Name of the thing being read, for messages (``"LabConfig"``).
    max_depth : int
        Deepest nesting of objects/arrays accepted.

    Raises
    ------
    ValueError
        Not JSON; nested deeper than ``max_depth``; a key repeated in one
        object (the message names it); an integer of more than
        ``MAX_INT_DIGITS`` digits; a number that overflows float64 (``1e400``);
        ``NaN``, ``Infinity`` or ``-Infinity``.
    TypeError
        ``text`` is neither ``str`` nor ``bytes``.

    Examples
    --------
    >>> loads_strict('{"a": 1}', what="demo")
    {'a': 1}
    >>> loads_strict('{"a": 1, "a": 2}', what="demo")
    Traceback (most recent call last):
    ...
    ValueError: demo: key 'a' appears more than once in one JSON object; expected each key once
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as ex:
            raise ValueError(f"{what}: not UTF-8 text ({ex.reason} at byte {ex.start})") from ex
    if not isinstance(text, str):
        raise TypeError(f"{what}: expected JSON text (str or bytes), got {type(text).__name__}")
    depth = _nesting_depth(text, max_depth)
    if depth > max_depth:
        raise ValueError(
            f"{what}: JSON nested more than {max_depth} levels deep; expected at most {max_depth}"
        )

    def pairs(items):
        out = {}
        for key, value in items:
            if key in out:
                shown = key if len(key) <= 40 else key[:37] + "..."
                raise ValueError(
                    f"{what}: key {shown!r} appears more than once in one JSON object; expected each key once"
                )
            out[key] = value
        return out

    def integer(digits: str) -> int:
        n = len(digits.lstrip("-"))
        if n > MAX_INT_DIGITS:
            raise ValueError(
                f"{what}: an integer of {n} digits; expected at most {MAX_INT_DIGITS} digits "
                "(no setting can exceed float32's 3.4e38)"
            )
        return int(digits)

    def real(digits: str) -> float:
        value = float(digits)
        if value in (float("inf"), float("-inf")):
            shown = digits if len(digits) <= 40 else digits[:37] + "..."
            raise ValueError(f"{what}: the number {shown} is beyond float64's range; expected finite numbers")
        return value

    def constant(name: str):
        raise ValueError(f"{what}: {name} is not allowed; expected finite numbers")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_int=integer, parse_float=real, parse_constant=constant)
    except json.JSONDecodeError as ex:
        raise ValueError(f"{what}: not valid JSON ({ex})") from ex
    except RecursionError as ex:  # the depth scan makes this unreachable; kept as a guard
        raise ValueError(f"{what}: JSON nested too deeply") from ex
