"""The history writer's ``service_status`` and ``incident`` lines, written without a ``Point``.

The writer thread (:mod:`pipeline.sinks.history`) turned every status and incident record into
an influxdb-client ``Point``, ≈ 20 µs to build and serialise (docs/benchmarks.md, "Round 6:
snapshots, KPI records, history lines"). These functions write the same text directly: byte for
byte what ``status_point(...)`` / ``incident_point(...)`` (:mod:`pipeline.sinks.influx`, kept as
the reference the tests compare with) give from ``to_line_protocol()``: tags and fields sorted
by key, tag values escaped as :mod:`pipeline.sinks.line_protocol` does, strings quoted with
``"`` and ``\\`` escaped, integers with an ``i``, booleans as ``true``/``false``, floats as
``str`` without a trailing ``.0``, non-finite floats and ``None`` left out.

>>> from pipeline.core.schema import Status
>>> from pipeline.monitoring.status import StatusChange
>>> change = StatusChange(service_id="s 1", operator_id="op", sector="energy", region="UA-30",
...                       previous=Status.UP, current=Status.DOWN, at=1.5, reason='say "no"',
...                       event_id=None, customers_served=None, customers_affected=None)
>>> tags, fields = status_line(change).split(" 1 ", 1)
>>> print(tags)
service_status,operator_id=op,region=UA-30,sector=energy,service_id=s\\
>>> print(fields)
previous="up",reason="say \\"no\\"",severity=4i,status="down" 1500000000
"""

from __future__ import annotations

from typing import Any

from pipeline.core.schema import STATUS_SEVERITY
from pipeline.incidents.model import IncidentEvent
from pipeline.monitoring.status import StatusChange
from pipeline.sinks.line_protocol import float_field, tag_text

#: What influxdb-client escapes in a string field's value.
_ESCAPE_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


def _tag(key: str, value: Any) -> str:
    """``,key=value``; nothing for ``None`` or a value that escapes to nothing."""
    if value is None:
        return ""
    return tag_text(key, value if type(value) is str else str(value))


def field_text(key: str, value: Any) -> str | None:
    """``key=value`` as influxdb-client writes a field (None: the field is left out).

    >>> field_text("a", 1), field_text("a", 1.0), field_text("a", True), field_text("a", 'x"\\\\')
    ('a=1i', 'a=1', 'a=true', 'a="x\\\\"\\\\\\\\"')
    >>> field_text("a", None), field_text("a", float("inf"))
    (None, None)
    """
    if value is None:
        return None
    if isinstance(value, float):
        written = float_field(value)
        return None if written is None else f"{key}={written}"
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    if isinstance(value, int):
        return f"{key}={value!s}i"  # str, as the client: an int subclass may format apart
    if isinstance(value, str):
        text = value if type(value) is str else str(value)
        return f'{key}="{text.translate(_ESCAPE_STRING)}"'
    raise ValueError(f'Type: "{type(value)}" of field: "{key}" is not supported.')


def _line(head: str, fields: list[tuple[str, Any]], at: float) -> str:
    """The line of ``head`` (measurement and tags) with ``fields`` (sorted by key)."""
    texts = [text for key, value in fields if (text := field_text(key, value)) is not None]
    if not texts:
        return ""  # what the client gives for a point without fields
    return f"{head} {','.join(texts)} {int(at * 1e9)}"


def status_line(change: StatusChange) -> str:
    """The line ``status_point(change)`` writes."""
    current = change.current
    previous = change.previous
    head = (
        "service_status"
        + _tag("operator_id", change.operator_id)
        + _tag("region", change.region)
        + _tag("sector", change.sector)
        + _tag("service_id", change.service_id)
    )
    fields = [
        ("customers_affected", change.customers_affected),
        ("customers_served", change.customers_served),
        ("previous", previous.value if previous else ""),
        ("reason", change.reason),
        ("severity", STATUS_SEVERITY[current]),
        ("status", current.value),
    ]
    return _line(head, fields, change.at)


def incident_line(event: IncidentEvent) -> str:
    """The line ``incident_point(event)`` writes."""
    incident = event.incident
    service = incident.service
    head = (
        "incident"
        + _tag("event", event.kind)
        + _tag("maintenance", "true" if incident.maintenance else "false")
        + _tag("operator_id", service.operator_id)
        + _tag("region", service.region)
        + _tag("sector", service.sector)
        + _tag("service_id", service.service_id)
    )
    restored = incident.restored_at
    fields = [
        ("acknowledged_at", incident.acknowledged_at),
        ("customers_affected", incident.customers_affected),
        ("detected_at", incident.detected_at),
        ("incident_id", incident.incident_id),
        ("restored_at", restored),
        ("severity", incident.severity),
        ("started_at", incident.started_at),
        ("time_to_detect_s", incident.detected_at - incident.started_at),
        ("time_to_restore_s", None if restored is None else restored - incident.detected_at),
        ("users_affected", incident.users_affected),
    ]
    return _line(head, fields, event.at)
