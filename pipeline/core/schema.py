"""The canonical observation (schema version 1): one piece of availability evidence.

Every connector turns its operator's native format into :class:`Observation` and every
processor reads only this. Times are event times in UTC, held as epoch seconds (float)
inside the pipeline and written as RFC 3339 on the wire.

>>> obs = Observation(event_id="e1", operator_id="op", service_id="grid.n.f12",
...                   sector="energy", region="UA-30", kind=Kind.PROBE,
...                   observed_at=1_700_000_000.0, source="demo", status=Status.DOWN)
>>> obs.to_dict()["observed_at"]
'2023-11-14T22:13:20Z'

Reading untrusted wire data back is validation's job (pipeline.core.validation), which imports
this module and never the other way round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec
import orjson

from pipeline.core.timeutil import format_rfc3339

SCHEMA_VERSION = 1

#: Sectors known out of the box (with sector-specific indicators); a deployment config adds
#: more under ``sectors:``.
DEFAULT_SECTORS: frozenset[str] = frozenset({"energy", "health", "telecom", "transport"})

#: The one sector rule, applied by the worker's validation and the connectors' config alike:
#: any lower-case name. The config additionally requires each of its sectors be built in or
#: declared, so a config that validates only ever produces sectors the worker accepts.
SECTOR_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def sector_problem(sector: str) -> str | None:
    """Why ``sector`` cannot name a sector, or None when it can.

    >>> sector_problem("water") is None, sector_problem("Water Supply")
    (True, "'Water Supply' is not a sector name (lower-case letters, digits, '_' or '-')")
    """
    if SECTOR_NAME.match(sector):
        return None
    return f"{sector!r} is not a sector name (lower-case letters, digits, '_' or '-')"


#: The one place a service's declared reporting interval travels: ``attrs[EXPECTED_INTERVAL]``
#: (seconds). Connectors put the configured ``expected_interval_s`` there; the worker judges
#: the service's silence against it (else against ``CW_DEFAULT_INTERVAL_S``).
EXPECTED_INTERVAL = "expected_interval_s"


def declared_interval(attrs: dict[str, Any]) -> float | None:
    """The reporting interval an observation declares, if it declares a usable one.

    >>> declared_interval({"expected_interval_s": 300}), declared_interval({})
    (300.0, None)
    >>> declared_interval({"expected_interval_s": True}), declared_interval({EXPECTED_INTERVAL: -1})
    (None, None)
    """
    value = attrs.get(EXPECTED_INTERVAL)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def with_declared_interval(attrs: dict[str, Any] | None, interval_s: float) -> dict[str, Any]:
    """``attrs`` plus the declared interval (the deployment's declaration wins).

    >>> with_declared_interval({"reason": "x"}, 300.0)
    {'reason': 'x', 'expected_interval_s': 300.0}
    """
    return {**(attrs or {}), EXPECTED_INTERVAL: interval_s}


class Kind(StrEnum):
    """What sort of evidence an observation is."""

    PROBE = "probe"
    HEARTBEAT = "heartbeat"
    OUTAGE_REPORT = "outage_report"
    KPI = "kpi"
    STATUS_REPORT = "status_report"


class Status(StrEnum):
    """Service state, ordered from healthy to failed by :data:`STATUS_SEVERITY`."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"
    MAINTENANCE = "maintenance"


STATUS_SEVERITY: dict[Status, int] = {
    Status.UP: 0,
    Status.MAINTENANCE: 1,
    Status.DEGRADED: 2,
    Status.UNKNOWN: 3,
    Status.DOWN: 4,
}


@dataclass(slots=True)
class Observation:
    """One validated piece of evidence about one service at one event time.

    Never changed once built, but not ``frozen``: a frozen dataclass sets each of its 16
    fields through ``object.__setattr__``, which cost more than decoding the JSON (one is
    built per observation the worker reads; docs/benchmarks.md, round 4).
    """

    event_id: str
    operator_id: str
    service_id: str
    sector: str
    region: str
    kind: Kind
    observed_at: float
    source: str
    vantage: str | None = None
    status: Status | None = None
    metric: str | None = None
    value: float | None = None
    unit: str | None = None
    customers_served: int | None = None
    customers_affected: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The wire form (schema 1): optional fields left out when unset."""
        out: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "event_id": self.event_id,
            "operator_id": self.operator_id,
            "service_id": self.service_id,
            "sector": self.sector,
            "region": self.region,
            "kind": self.kind.value,
            "observed_at": format_rfc3339(self.observed_at),
            "source": self.source,
        }
        optional: dict[str, Any] = {
            "vantage": self.vantage,
            "status": self.status.value if self.status is not None else None,
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "customers_served": self.customers_served,
            "customers_affected": self.customers_affected,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.attrs:
            out["attrs"] = self.attrs
        return out

    def to_json(self) -> bytes:
        """Serialised wire form, as produced to the observations topic."""
        return orjson.dumps(self.to_dict())


#: The longest id or text field accepted by default (``ValidationLimits.max_id_length``).
MAX_TEXT_LENGTH = 256
#: Customers or users of one service: more than ten times the world's population is an error.
MAX_COUNT = 100_000_000_000

_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_LENGTH)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]


class WireObservation(msgspec.Struct, forbid_unknown_fields=True):
    """The wire form of schema 1 as one declaration: msgspec compiles it into the worker's
    decoder and the ingest API's OpenAPI schema (``connectors.openapi``).

    It states what a schema can (types, lengths, ranges, the sector pattern); the rules it
    cannot (printable text, time bounds, customer consistency, attrs size) are checked by
    ``pipeline.core.validation``, which also words every refusal. Unknown fields are
    forbidden here only so that anything unusual takes validation's detailed path.

    >>> msgspec.json.decode(Observation(event_id="e1", operator_id="op", service_id="s",
    ...     sector="energy", region="UA-30", kind=Kind.HEARTBEAT, observed_at=0.0,
    ...     source="demo").to_json(), type=WireObservation).kind
    <Kind.HEARTBEAT: 'heartbeat'>
    """

    schema: Literal[1]
    event_id: _Text
    operator_id: _Text
    service_id: _Text
    sector: Annotated[str, msgspec.Meta(pattern=SECTOR_NAME.pattern)]
    region: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=MAX_TEXT_LENGTH, description="ISO 3166-1/-2, e.g. UA-30"
        ),
    ]
    kind: Kind
    observed_at: Annotated[
        str,
        msgspec.Meta(
            description="RFC 3339 with an explicit UTC offset",
            extra_json_schema={"format": "date-time"},
        ),
    ]
    source: _Text
    vantage: _Text | None = None
    status: Status | None = None
    metric: _Text | None = None
    value: float | None = None
    unit: _Text | None = None
    customers_served: _Count | None = None
    customers_affected: _Count | None = None
    attrs: dict[str, Any] = {}
