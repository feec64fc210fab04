"""The one canonical JSON encoding of log records (RFC 8785, JSON Canonicalization Scheme).

Object keys sorted by their UTF-16 code units, no insignificant whitespace, strings as UTF-8
with only the escapes JSON requires, numbers as ECMAScript prints them (shortest round-trip
digits; ``1.0`` is ``1``; exponent form below 1e-6 and from 1e21). NaN and infinities are
refused, as are non-string keys.

>>> canonical_json({"b": [1.0, 0.5, "é"], "a": None, "c": True, "d": 1e-7, "e": 1e21})
b'{"a":null,"b":[1,0.5,"\\xc3\\xa9"],"c":true,"d":1e-7,"e":1e+21}'
>>> canonical_json({"x": float("nan")})
Traceback (most recent call last):
...
pipeline.transparency.canonical.CanonicalError: x: NaN and infinities have no JSON form
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson


class CanonicalError(ValueError):
    """A value that has no canonical JSON form; the message names where it is."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of ``value`` (dicts, lists, str, int, float, bool, None).

    orjson writes the bytes (sorted keys, no whitespace, the same string escapes) with every
    float pre-formatted ECMAScript's way; values orjson orders or limits differently (keys
    from U+E000 up, where UTF-16 order differs from code point order; integers beyond 64
    bits) take the plain-Python reference encoder, :func:`reference_canonical_json`.
    """
    try:
        prepared = _prepare(value)
    except (_NeedsReference, CanonicalError):
        return reference_canonical_json(value)  # also names where a bad value is
    try:
        return orjson.dumps(prepared, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return reference_canonical_json(value)


class _NeedsReference(Exception):
    """The fast path cannot promise RFC 8785 bytes for this value."""


_PLAIN = frozenset({str, int, bool, type(None)})


def _prepare(value: Any) -> Any:
    """``value`` with floats pre-formatted; exact type checks keep this hot loop cheap."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        return orjson.Fragment(format_number(value))
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) < "\ue000"):
                raise _NeedsReference
            out[key] = item if type(item) in _PLAIN else _prepare(item)
        return out
    if kind is list or kind is tuple:
        return [item if type(item) in _PLAIN else _prepare(item) for item in value]
    raise _NeedsReference


def reference_canonical_json(value: Any) -> bytes:
    """The same bytes as :func:`canonical_json`, written plainly (the executable spec)."""
    parts: list[str] = []
    _encode(value, parts, "$")
    return "".join(parts).encode("utf-8")


def _encode(value: Any, out: list[str], where: str) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(format_number(value, where))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalError(f"{_name(where)}: object key {key!r} is not a string")
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_order)):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(value[key], out, f"{where}.{key}")
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, f"{where}[{i}]")
        out.append("]")
    else:
        raise CanonicalError(f"{_name(where)}: {type(value).__name__} has no JSON form")


def _name(where: str) -> str:
    return where[2:] if where.startswith("$.") else where


def _utf16_order(key: str) -> bytes:
    return key.encode("utf-16-be")


def format_number(x: float, where: str = "$") -> str:
    """ECMAScript ``Number.prototype.toString`` of a finite float (RFC 8785 §3.2.2.3).

    >>> [format_number(v) for v in (0.0, -0.0, 1e-6, 1e-7, 123.456, 1e20, 1e21, 2.5e-300)]
    ['0', '0', '0.000001', '1e-7', '123.456', '100000000000000000000', '1e+21', '2.5e-300']
    """
    if not math.isfinite(x):
        raise CanonicalError(f"{_name(where)}: NaN and infinities have no JSON form")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest digits that round-trip; re-place the decimal point ES's way.
    mantissa, _, exp_text = repr(abs(x)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    point = len(int_part) + (int(exp_text) if exp_text else 0)  # n in ES: value = 0.d * 10^n
    point -= len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    digits = digits.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exponent = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if exponent > 0 else '-'}{abs(exponent)}"
