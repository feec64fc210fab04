"""InfluxDB line protocol for the evidence points, written without a ``Point`` per result.

An influxdb-client ``Point`` per probe result cost ≈ 11 µs of the worker's CPU (building
it, then sorting and escaping its tags and fields in Python when it is written: see
docs/benchmarks.md, "Round 6: the processor"). :class:`EvidenceLines` writes the same line
directly: the escaped low-cardinality tags (operator, sector, region, vantage, kind) are
remembered, so one observation costs one escape (its service id) and one f-string.

The text is byte-for-byte what ``Point(...).to_line_protocol()`` gives (tests compare
them over awkward values): tags sorted by key, ``,``/``=``/space/tab/newline/carriage
return escaped, a tag whose escaped value is empty left out, a value ending in a
backslash followed by a space (the client's guard against escaping the separator),
integer fields with an ``i``, floats as ``str`` without a trailing ``.0``, non-finite
floats left out, and an empty text for a point without fields (the client's write sends
it as an empty line, which InfluxDB ignores).

>>> from pipeline.core.schema import Kind, Observation, Status
>>> obs = Observation(event_id="e", operator_id="o p", service_id="s,a", sector="energy",
...                   region="UA", kind=Kind.PROBE, observed_at=1.5, source="t",
...                   vantage="v=1", status=Status.DOWN, value=12.0)
>>> tags, fields, at = EvidenceLines().line(obs).rsplit(" ", 2)
>>> print(tags)
evidence,kind=probe,operator_id=o\\ p,region=UA,sector=energy,service_id=s\\,a,vantage=v\\=1
>>> fields, at
('severity=4i,value=12', '1500000000')
"""

from __future__ import annotations

import math
import re

from pipeline.core.schema import STATUS_SEVERITY, Observation, Status

#: What influxdb-client escapes in tag keys and values (backslashes are left as they are).
_ESCAPE_TAG = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
#: Any character the table above escapes: most values have none and are kept as they are
#: (``translate`` with a table of strings walks the text in Python's slow path, ≈ 2 µs).
_NEEDS_ESCAPE = re.compile("[,= \n\t\r]")
#: The severity field of each status (evidence without a status has none).
_SEVERITY: dict[Status | None, str] = {
    status: f"severity={severity}i" for status, severity in STATUS_SEVERITY.items()
}
#: Distinct escaped values remembered before the cache starts over (operators, regions,
#: vantages: hundreds in practice, so it never fills; the bound only caps a pathological feed).
_CACHE_LIMIT = 65_536


def escape_tag_value(value: str) -> str:
    """A tag value as influxdb-client writes it (``""``: the tag is left out).

    >>> escape_tag_value("a b,c=d"), escape_tag_value("ends\\\\"), escape_tag_value("")
    ('a\\\\ b\\\\,c\\\\=d', 'ends\\\\ ', '')
    """
    escaped = value.translate(_ESCAPE_TAG) if _NEEDS_ESCAPE.search(value) else value
    if escaped.endswith("\\"):
        escaped += " "
    return escaped


def tag_text(key: str, value: str) -> str:
    """``,key=value``, or nothing for a value that escapes to nothing.

    >>> tag_text("region", "UA 30"), tag_text("region", "")
    (',region=UA\\\\ 30', '')
    """
    escaped = escape_tag_value(value)
    return f",{key}={escaped}" if escaped else ""


def float_field(value: float) -> str | None:
    """A float field's value as influxdb-client writes it (None: left out).

    >>> float_field(3.0), float_field(0.1), float_field(1e-07), float_field(float("nan"))
    ('3', '0.1', '1e-07', None)
    """
    if not math.isfinite(value):
        return None
    text = str(value)
    return text[:-2] if text.endswith(".0") else text


class EvidenceLines:
    """The ``evidence`` line of a probe result from a named vantage (see the module)."""

    __slots__ = ("_tags",)

    def __init__(self) -> None:
        # (kind, operator, region, sector) -> their escaped tags; vantage -> its escaped tag
        self._tags: dict[object, str] = {}

    def line(self, obs: Observation) -> str | None:
        """The line, or None for evidence without a vantage (as ``evidence_point``)."""
        vantage = obs.vantage
        if vantage is None:
            return None
        tags = self._tags
        head_key = (obs.kind, obs.operator_id, obs.region, obs.sector)
        head = tags.get(head_key)
        if head is None:
            head = self._remember(
                head_key,
                "evidence"
                + tag_text("kind", obs.kind.value)
                + tag_text("operator_id", obs.operator_id)
                + tag_text("region", obs.region)
                + tag_text("sector", obs.sector),
            )
        tail = tags.get(vantage)
        if tail is None:
            tail = self._remember(vantage, tag_text("vantage", vantage))
        # fields in key order: severity, value
        fields = _SEVERITY.get(obs.status, "")
        if obs.value is not None:
            value = float_field(float(obs.value))
            if value is not None:
                fields = f"{fields},value={value}" if fields else f"value={value}"
        if not fields:
            return ""  # what the client gives for a point without fields
        service = tag_text("service_id", obs.service_id)
        return f"{head}{service}{tail} {fields} {int(obs.observed_at * 1e9)}"

    def _remember(self, key: object, text: str) -> str:
        if len(self._tags) >= _CACHE_LIMIT:
            self._tags.clear()
        self._tags[key] = text
        return text
