"""Sector indicators: telecom (FCC NORS), transport (GTFS-RT effects), health (FHIR).

Telecom: user-minutes = users affected x outage minutes; an outage is *reportable* (47 CFR
Part 4 general threshold) when it lasts at least 30 minutes AND reaches at least 900 000
user-minutes.

>>> nors_reportable(minutes=45.0, users=25_000)
True
>>> nors_reportable(minutes=29.9, users=1_000_000)
False
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pipeline.incidents.model import Incident
from pipeline.indicators.stats import merged_length

NORS_MIN_MINUTES = 30.0
NORS_MIN_USER_MINUTES = 900_000.0
TRANSPORT_EFFECTS = ("NO_SERVICE", "REDUCED_SERVICE")


def user_minutes(users: int, minutes: float) -> float:
    """Users affected x minutes."""
    return users * minutes


def nors_reportable(minutes: float, users: int) -> bool:
    """FCC NORS general outage threshold: >= 30 min and >= 900 000 user-minutes."""
    return minutes >= NORS_MIN_MINUTES and user_minutes(users, minutes) >= NORS_MIN_USER_MINUTES


@dataclass(frozen=True, slots=True)
class NorsOutage:
    """One telecom incident seen through NORS."""

    incident_id: str
    minutes: float
    users: int
    user_minutes: float
    reportable: bool


def nors_outages(incidents: Iterable[Incident], now: float) -> list[NorsOutage]:
    """NORS view of unplanned incidents (users: ``users_affected``, else customers affected,
    else customers served); open incidents are measured up to ``now``."""
    out = []
    for i in incidents:
        if i.maintenance:
            continue
        users = i.users_affected
        if users is None:
            users = i.customers_affected
        if users is None:
            users = i.service.customers_served or 0
        minutes = max(0.0, i.end_or(now) - i.started_at) / 60.0
        out.append(
            NorsOutage(
                i.incident_id,
                minutes,
                users,
                user_minutes(users, minutes),
                nors_reportable(minutes, users),
            )
        )
    return out


def transport_effect_minutes(
    incidents: Iterable[Incident], start: float, end: float
) -> dict[tuple[str, str, str], float]:
    """Minutes of ``NO_SERVICE`` / ``REDUCED_SERVICE`` per ``(agency, route, effect)`` in
    ``[start, end)``; reads ``attrs["effect"]``, ``attrs["route_id"]`` and
    ``attrs["agency_id"]`` (default: the operator). Overlaps per key are merged."""
    spans: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for i in incidents:
        effect = str(i.attrs.get("effect", "NO_SERVICE"))
        if i.maintenance or effect not in TRANSPORT_EFFECTS:
            continue
        agency = str(i.attrs.get("agency_id", i.service.operator_id))
        route = str(i.attrs.get("route_id", i.service_id))
        spans.setdefault((agency, route, effect), []).append((i.started_at, i.end_or(end)))
    return {k: merged_length(v, start, end) / 60.0 for k, v in sorted(spans.items())}


def feeds_reporting_share(last_seen: Mapping[str, float], now: float, max_age_s: float) -> float:
    """Share of feeds that reported within ``max_age_s`` before ``now`` (None-safe: 0 feeds
    gives 0.0)."""
    if not last_seen:
        return 0.0
    return sum(1 for t in last_seen.values() if now - t <= max_age_s) / len(last_seen)


@dataclass(frozen=True, slots=True)
class EndpointCheck:
    """One ``GET [base]/metadata`` of a FHIR endpoint and the Endpoint.status it reported."""

    at: float
    metadata_ok: bool
    status: str = "active"


def endpoint_availability(checks: Iterable[EndpointCheck]) -> float | None:
    """Share of checks where ``/metadata`` answered and the endpoint was ``active``."""
    cs = list(checks)
    if not cs:
        return None
    return sum(1 for c in cs if c.metadata_ok and c.status == "active") / len(cs)


def endpoint_status_share(statuses: Mapping[str, str]) -> dict[str, float]:
    """Share of endpoints per FHIR Endpoint.status (active, suspended, error, off, ...)."""
    if not statuses:
        return {}
    counts: dict[str, int] = {}
    for s in statuses.values():
        counts[s] = counts.get(s, 0) + 1
    return {k: v / len(statuses) for k, v in sorted(counts.items())}
