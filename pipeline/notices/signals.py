"""What the notice policy reacts to: one :class:`Signal` per incident transition or finding.

Records from ``cw.incidents`` and ``cw.anomalies`` are turned into signals whose ``key`` names
the (subject, transition) pair; the policy never sends the same key twice to a subscriber.

>>> from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
>>> inc = Incident("svc/60", ServiceRef("svc", "op", "energy", "UA-30"), 60.0, 62.0)
>>> s = signal_from_incident_record(IncidentEvent("detected", 62.0, inc).to_dict())
>>> (s.kind, s.key, s.regions)
('incident_opened', 'svc/60:opened:0', ('UA-30',))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.notices.subscriptions import Scope, region_within

_INCIDENT_KINDS = {
    "detected": ("incident_opened", "opened"),
    "reopened": ("incident_opened", "opened"),
    "maintenance_outage_started": ("incident_opened", "opened"),
    "updated": ("incident_updated", "updated"),
    "acknowledged": ("incident_acknowledged", "acknowledged"),
    "restored": ("incident_restored", "restored"),
    "maintenance_outage_ended": ("incident_restored", "restored"),
}
#: Kinds that open / close a subject in a subscriber's view (others need it open).
OPENING = frozenset({"incident_opened", "feed_silent"})
CLOSING = frozenset({"incident_restored"})


class SignalRejected(ValueError):
    """A record the notifier cannot read (it goes to the dead-letter topic with this reason)."""


@dataclass(frozen=True, slots=True)
class Signal:
    """One transition of one subject (incident, finding or anomaly), with where it happened."""

    key: str
    kind: str
    subject_id: str
    at: float
    severity: str
    sectors: tuple[str, ...]
    regions: tuple[str, ...]
    operators: tuple[str, ...]
    services: tuple[str, ...]
    maintenance: bool = False
    record: dict[str, Any] = field(default_factory=dict)

    def in_scope(self, scope: Scope) -> bool:
        """Any of the signal's sectors/regions/operators/services fits each scope list."""
        return (
            (not scope.sectors or any(s in scope.sectors for s in self.sectors))
            and (
                not scope.regions
                or any(region_within(r, want) for r in self.regions for want in scope.regions)
            )
            and (not scope.operators or any(o in scope.operators for o in self.operators))
            and (not scope.services or any(s in scope.services for s in self.services))
        )

    def dimension(self, name: str) -> str:
        """The value grouped by (``operator_id``, ``region``, ``sector``, ``service_id``)."""
        values = {
            "operator_id": self.operators,
            "region": self.regions,
            "sector": self.sectors,
            "service_id": self.services,
        }[name]
        return ",".join(values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "subject_id": self.subject_id,
            "at": self.at,
            "severity": self.severity,
            "sectors": list(self.sectors),
            "regions": list(self.regions),
            "operators": list(self.operators),
            "services": list(self.services),
            "maintenance": self.maintenance,
            "record": self.record,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Signal:
        return cls(
            d["key"],
            d["kind"],
            d["subject_id"],
            float(d["at"]),
            d["severity"],
            tuple(d["sectors"]),
            tuple(d["regions"]),
            tuple(d["operators"]),
            tuple(d["services"]),
            bool(d.get("maintenance", False)),
            dict(d.get("record", {})),
        )


def signal_from_incident_record(record: Any) -> Signal:
    """A ``cw.incidents`` record (``{"event", "at", "incident"}``) as a signal."""
    try:
        event = str(record["event"])
        incident = record["incident"]
        service = incident["service"]
        incident_id = str(incident["incident_id"])
        at = float(record["at"])
        kind, transition = _INCIDENT_KINDS[event]
    except (KeyError, TypeError, ValueError) as exc:
        raise SignalRejected(f"not an incident record: {exc!r}") from None
    detectors = incident.get("detectors") or []
    if kind == "incident_opened" and detectors and all(d == "silence" for d in detectors):
        kind = "feed_silent"  # the only evidence of the outage is that the feed went quiet
    cycle = int(incident.get("reopened", 0))
    key = f"{incident_id}:{transition}"
    if transition in ("opened", "restored"):
        key += f":{cycle}"
    elif transition == "updated":
        key += f":{at:.3f}"
    return Signal(
        key=key,
        kind=kind,
        subject_id=incident_id,
        at=at,
        severity=str(incident.get("severity", "down")),
        sectors=(str(service["sector"]),),
        regions=(str(service["region"]),),
        operators=(str(service["operator_id"]),),
        services=(str(service["service_id"]),),
        maintenance=bool(incident.get("maintenance", False)),
        record=dict(incident),
    )


def signal_from_anomaly_record(record: Any) -> Signal:
    """A ``cw.anomalies`` record (KPI anomaly or concurrent-disruption finding) as a signal."""
    try:
        kind = record["type"]
        if kind == "concurrent_disruption":
            finding_id = str(record["finding_id"])
            count = len(record["incident_ids"])
            return Signal(
                key=f"{finding_id}:{count}",
                kind="concurrent_disruption",
                subject_id=finding_id,
                at=float(record["start"]),
                severity="down",
                sectors=tuple(record["sectors"]),
                regions=(str(record["region"]),),
                operators=tuple(record["operators"]),
                services=(),
                record=dict(record),
            )
        if kind == "kpi_anomaly":
            service = record.get("service") or {"service_id": record["service_id"]}
            return Signal(
                key=f"kpi:{record['event_id']}:{record['metric']}",
                kind="kpi_anomaly",
                subject_id=f"{record['service_id']}/{record['metric']}",
                at=float(record["at"]),
                severity="degraded",
                sectors=_one(service.get("sector")),
                regions=_one(service.get("region")),
                operators=_one(service.get("operator_id")),
                services=(str(record["service_id"]),),
                record=dict(record),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise SignalRejected(f"not an anomaly record: {exc!r}") from None
    raise SignalRejected(f"unknown anomaly type {str(kind)[:40]!r}")


def _one(value: Any) -> tuple[str, ...]:
    return (str(value),) if value else ()
