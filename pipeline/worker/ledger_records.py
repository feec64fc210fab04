"""The global view behind indicators and correlation: every service and every incident.

Per-service workers only see their partitions, but indicators roll up by operator, sector and
region, and a concurrent disruption spans services on different partitions. So each worker
also sends small ledger records (a service's reference when first seen or changed, every
incident snapshot) to a one-partition ledger topic; whichever worker owns that partition keeps
the ledger, correlates and computes the indicators. Incidents are rare, so one partition is
plenty; the ledger tables have changelogs like every other table.

>>> ledger_service_record(ServiceRef("s", "op", "energy", "UA-30", 10))["type"]
'service'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.core.identity import ServiceRef
from pipeline.detection.correlation import DisruptionCorrelator, Finding, Span
from pipeline.incidents.model import Incident, IncidentEvent

#: Incident events that change what correlation sees.
CORRELATED_EVENTS = frozenset({"detected", "restored", "reopened", "updated"})


def ledger_service_record(ref: ServiceRef) -> dict[str, Any]:
    return {"type": "service", "service": ref.to_dict()}


def ledger_incident_record(event: IncidentEvent) -> dict[str, Any]:
    return {"type": "incident", "event": event.kind, "incident": event.incident.to_dict()}


def span_of(incident: Incident) -> Span:
    return Span(
        incident.incident_id,
        incident.service_id,
        incident.service.operator_id,
        incident.service.sector,
        incident.service.region,
        incident.started_at,
        incident.restored_at,
    )


def correlate(correlator: DisruptionCorrelator, event: str, incident: Incident) -> list[Finding]:
    """Feed one incident event to the correlator; maintenance records never correlate."""
    if incident.maintenance or event not in CORRELATED_EVENTS:
        return []
    return correlator.observe(span_of(incident))


def retained(incidents: Iterable[Incident], *, now: float, retention_s: float) -> list[Incident]:
    """Incidents still inside the longest indicator window (open ones always)."""
    horizon = now - retention_s
    return [i for i in incidents if i.restored_at is None or i.restored_at >= horizon]
