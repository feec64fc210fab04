"""Sector-neutral indicators over incidents: availability, time to detect/restore, frequency.

Conventions (DESIGN.md §4):

* **Availability** (ITU-T E.800 style) = up / (up + down) over ``[start, end)``. *Including
  maintenance*: outages inside declared maintenance count as down. *Excluding maintenance*:
  the declared maintenance windows are removed from the period (numerator and denominator),
  so only unplanned downtime outside them counts. Overlapping incidents of one service are
  merged first, so no minute is counted twice; open incidents count up to ``end``.
* **Time to detect** = ``detected_at - started_at``; **time to restore** = ``restored_at -
  detected_at`` (restored incidents only, floored at 0). Incidents are selected by detection
  (resp. restoration) time inside the window. Maintenance records are excluded.
* **Incident frequency** = unplanned incidents starting in the window per service, scaled to
  30 days.

>>> from pipeline.incidents.model import Incident, ServiceRef
>>> ref = ServiceRef("s", "op", "health", "EE-37")
>>> inc = Incident("s/0", ref, started_at=0.0, detected_at=60.0, restored_at=360.0)
>>> availability([inc], 0.0, 3600.0).including_maintenance
0.9
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.incidents.maintenance import MaintenanceWindow
from pipeline.incidents.model import Incident
from pipeline.indicators.stats import Interval, Summary, merge, merged_length, subtract, summarise

THIRTY_DAYS = 30 * 86_400.0


@dataclass(frozen=True, slots=True)
class Availability:
    """Availability of one service over a window, both ways (None: nothing to measure)."""

    including_maintenance: float | None
    excluding_maintenance: float | None
    down_s: float
    maintenance_down_s: float
    maintenance_s: float


def outage_intervals(incidents: Iterable[Incident], end: float) -> list[Interval]:
    """``[started_at, restored_at or end)`` of each incident."""
    return [(i.started_at, i.end_or(end)) for i in incidents]


def availability(
    incidents: Sequence[Incident],
    start: float,
    end: float,
    windows: Sequence[MaintenanceWindow] = (),
) -> Availability:
    """Availability of ONE service (pass only its incidents and maintenance windows)."""
    period = end - start
    if period <= 0:
        return Availability(None, None, 0.0, 0.0, 0.0)
    unplanned = outage_intervals([i for i in incidents if not i.maintenance], end)
    planned_out = outage_intervals([i for i in incidents if i.maintenance], end)
    maint = [(w.start, w.end) for w in windows]
    all_down = merged_length([*unplanned, *planned_out], start, end)
    maint_len = merged_length(maint, start, end)
    down_outside = merged_length(subtract(unplanned, maint), start, end)
    excl = None if period - maint_len <= 0 else 1.0 - down_outside / (period - maint_len)
    return Availability(
        including_maintenance=1.0 - all_down / period,
        excluding_maintenance=excl,
        down_s=merged_length(unplanned, start, end),
        maintenance_down_s=merged_length(planned_out, start, end),
        maintenance_s=maint_len,
    )


def mean_availability(per_service: Iterable[float | None]) -> float | None:
    """Group availability: mean over services (= total up time / total time, same window)."""
    vals = [v for v in per_service if v is not None]
    return sum(vals) / len(vals) if vals else None


def time_to_detect(incidents: Iterable[Incident], start: float, end: float) -> Summary:
    """TTD summary (seconds) of unplanned incidents detected in ``[start, end)``."""
    return summarise(
        [
            max(0.0, i.detected_at - i.started_at)
            for i in incidents
            if not i.maintenance and start <= i.detected_at < end
        ]
    )


def time_to_restore(incidents: Iterable[Incident], start: float, end: float) -> Summary:
    """TTR summary (seconds) of unplanned incidents restored in ``[start, end)``."""
    return summarise(
        [
            max(0.0, i.restored_at - i.detected_at)
            for i in incidents
            if not i.maintenance and i.restored_at is not None and start <= i.restored_at < end
        ]
    )


def incident_frequency(
    incidents: Iterable[Incident], services: int, start: float, end: float
) -> float | None:
    """Unplanned incidents per service per 30 days (``services``: how many in the group)."""
    if services <= 0 or end <= start:
        return None
    n = sum(1 for i in incidents if not i.maintenance and start <= i.started_at < end)
    return n / services * THIRTY_DAYS / (end - start)


def downtime_intervals(incidents: Iterable[Incident], end: float) -> list[Interval]:
    """Merged unplanned outage intervals (for charts)."""
    return merge(outage_intervals([i for i in incidents if not i.maintenance], end))
