"""Shallow dict of a flat dataclass (parameters: scalars only), without asdict's deep copies.

``dataclasses.asdict`` recurses and deep-copies every value; for the detectors' parameter
objects, serialised with every state write, that was a top cost per observation.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class P:
...     a: int = 1
...     b: float = 2.0
>>> flat_dict(P())
{'a': 1, 'b': 2.0}
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _names(cls: type[Any]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def flat_dict(obj: Any) -> dict[str, Any]:
    """``{field: value}`` for a dataclass instance whose fields are plain values."""
    cls: type[Any] = type(obj)
    return {name: getattr(obj, name) for name in _names(cls)}
