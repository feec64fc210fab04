"""Evidence gaps: a silence that a late backlog shows was only a stalled feed.

A push feed that stalls for a few minutes and then delivers its backlog looks, while it is
stalled, exactly like a dead service: silence opens an incident. When evidence observed
*inside* that silent span and *before the incident was declared* arrives afterwards, the
service was alive then: the silence was a gap in delivery, not an outage. Such an incident
stays on record (it was published) but is annotated ``evidence_gap`` (``attrs``:
``evidence_gap: true``, ``classification: "evidence_gap"``) with an ``updated`` event, and
indicators leave it out of downtime. Only incidents asserted by silence alone qualify; one
that any other detector corroborated is an outage whatever the feed did. If silence resumes
and the incident reopens, the annotation is withdrawn.
"""

from __future__ import annotations

from pipeline.incidents.model import Incident, IncidentEvent
from pipeline.incidents.tracker import ServiceIncidents

SILENCE = "silence"
EVIDENCE_GAP = "evidence_gap"


def _candidate(incidents: ServiceIncidents) -> Incident | None:
    if incidents.open is not None:
        return incidents.open
    for inc in reversed(incidents.closed):
        if not inc.maintenance:
            return inc
    return None


def mark_evidence_gap(incidents: ServiceIncidents, observed_at: float) -> list[IncidentEvent]:
    """A sign of life observed at ``observed_at`` arrived: annotate the service's newest
    incident as an evidence gap when that evidence proves the silence was a delivery gap."""
    inc = _candidate(incidents)
    if inc is None or inc.detectors != [SILENCE] or inc.attrs.get(EVIDENCE_GAP):
        return []
    end = inc.restored_at if inc.restored_at is not None else observed_at
    if not inc.started_at <= observed_at <= end or observed_at >= inc.detected_at:
        return []
    inc.attrs[EVIDENCE_GAP] = True
    inc.attrs["classification"] = EVIDENCE_GAP
    inc.attrs["alive_at"] = observed_at
    return [IncidentEvent("updated", observed_at, inc.snapshot())]
