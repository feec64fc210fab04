"""What goes into the log: Kafka records from the pipeline turned into keyed log records.

Three sources, each with its idempotency key (a replayed or duplicated Kafka record maps to
the same key, and the log keeps the first):

- ``incident_transition`` from the incidents topic, keyed by (incident, event, time);
- ``concurrent_disruption`` findings from the anomalies topic, keyed by finding id and content
  (a finding is re-published as its cluster grows; each version is logged once); other
  anomalies (KPI scores) are not logged;
- ``indicator`` roll-ups from the indicators topic, keyed by (name, dimension, key, window, time).

>>> rec = to_log_record("incidents", b'{"event": "detected", "at": 60.0, "incident": '
...     b'{"incident_id": "svc/60", "service": {"service_id": "svc"}}}')
>>> rec.kind, rec.key
('incident_transition', 'incident/svc/60/detected/60')
>>> to_log_record("anomalies", b'{"type": "kpi_anomaly"}') is None
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.transparency.canonical import CanonicalError, canonical_json, format_number

#: Source names (topic roles, independent of the deployment's topic prefix).
SOURCES = ("incidents", "anomalies", "indicators")
ENVELOPE_VERSION = 1


class RecordRejected(ValueError):
    """A Kafka record that cannot be logged; ``reason`` and ``field`` go to the dead letters."""

    def __init__(self, reason: str, field: str | None, detail: str) -> None:
        super().__init__(f"{reason}: {field}: {detail}" if field else f"{reason}: {detail}")
        self.reason, self.field, self.detail = reason, field, detail


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record to append: its idempotency key, kind and content (before redaction)."""

    key: str
    kind: str
    record: dict[str, Any]

    def envelope(self, public: dict[str, Any]) -> dict[str, Any]:
        """The logged object around a (redacted) record; its canonical bytes are the leaf."""
        return {"v": ENVELOPE_VERSION, "key": self.key, "kind": self.kind, "record": public}


def to_log_record(source: str, value: bytes) -> LogRecord | None:
    """The log record for one Kafka value from ``source``; None if it is not logged."""
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordRejected("malformed_json", None, str(exc)) from None
    if not isinstance(body, dict):
        raise RecordRejected("wrong_type", None, "a record must be a JSON object")
    try:
        canonical_json(body)
    except CanonicalError as exc:
        raise RecordRejected("not_canonical", None, str(exc)) from None
    if source == "incidents":
        return _incident(body)
    if source == "anomalies":
        return _finding(body) if body.get("type") == "concurrent_disruption" else None
    if source == "indicators":
        return _indicator(body)
    raise ValueError(f"unknown source {source!r}; expected one of {SOURCES}")


def _need(body: dict[str, Any], field: str, kinds: type | tuple[type, ...]) -> Any:
    value = body.get(field)
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise RecordRejected("missing_field", field, f"required, must be {_kind_name(kinds)}")
    return value


def _kind_name(kinds: type | tuple[type, ...]) -> str:
    names = [k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,))]
    return " or ".join(names)


def _time(value: int | float) -> str:
    return format_number(float(value))


def _incident(body: dict[str, Any]) -> LogRecord:
    event = _need(body, "event", str)
    at = _need(body, "at", (int, float))
    incident = _need(body, "incident", dict)
    incident_id = incident.get("incident_id")
    if not isinstance(incident_id, str) or not incident_id:
        raise RecordRejected("missing_field", "incident.incident_id", "required, a string")
    key = f"incident/{incident_id}/{event}/{_time(at)}"
    return LogRecord(key, "incident_transition", body)


def _finding(body: dict[str, Any]) -> LogRecord:
    finding_id = _need(body, "finding_id", str)
    digest = hashlib.sha256(canonical_json(body)).hexdigest()[:16]
    return LogRecord(f"finding/{finding_id}/{digest}", "concurrent_disruption", body)


def _indicator(body: dict[str, Any]) -> LogRecord:
    parts = [_need(body, name, str) for name in ("name", "dimension", "key", "window")]
    at = _need(body, "at", (int, float))
    return LogRecord(f"indicator/{'/'.join(parts)}/{_time(at)}", "indicator", body)
