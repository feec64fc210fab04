"""What the publication side reads back from InfluxDB: service states and incidents.

Plain records, so the audience policy and the views are pure functions of them.

>>> r = IncidentRecord("s/1", "s", "op", "energy", "UA-30", 0.0, 60.0, restored_at=600.0)
>>> r.is_open, r.end_or(1e9)
(False, 600.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ServiceState:
    """A service's latest status change (the ``service_status`` measurement)."""

    service_id: str
    operator_id: str
    sector: str
    region: str
    status: str
    since: float
    reason: str = ""
    customers_served: int | None = None
    customers_affected: int | None = None
    #: The first status change on record (when the service was first seen).
    first_seen: float | None = None

    def seen_from(self) -> float:
        return self.since if self.first_seen is None else min(self.first_seen, self.since)


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """An incident as its latest lifecycle event left it (the ``incident`` measurement)."""

    incident_id: str
    service_id: str
    operator_id: str
    sector: str
    region: str
    started_at: float
    detected_at: float
    acknowledged_at: float | None = None
    restored_at: float | None = None
    severity: str = "down"
    customers_affected: int | None = None
    users_affected: int | None = None
    maintenance: bool = False
    last_event: str = "detected"

    @property
    def is_open(self) -> bool:
        """Not restored yet (as of the snapshot)."""
        return self.restored_at is None

    def end_or(self, now: float) -> float:
        """Restoration time, or ``now`` while still open."""
        return now if self.restored_at is None else self.restored_at

    @property
    def time_to_detect_s(self) -> float:
        return self.detected_at - self.started_at

    @property
    def time_to_restore_s(self) -> float | None:
        return None if self.restored_at is None else self.restored_at - self.detected_at


@dataclass(frozen=True, slots=True)
class IndicatorRecord:
    """The latest value of one indicator row (the ``indicator`` measurement)."""

    name: str
    dimension: str
    key: str
    window: str
    value: float
    at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one view is built from, read as of ``as_of`` (event time)."""

    as_of: float
    services: tuple[ServiceState, ...]
    incidents: tuple[IncidentRecord, ...]
    indicators: tuple[IndicatorRecord, ...] = field(default=())
