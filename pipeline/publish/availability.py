"""Daily availability bars (the 90-day strip of a status page), from incident spans.

A day's availability is 1 - (service-seconds down) / (service-seconds observed) over the
group's services, each observed from the first time it was seen (a day before any service
was seen has no data, rather than a flattering 100 %); outages in declared maintenance do
not count as down (they are shown apart on the report). Overlapping incidents of one
service are merged so a second detector cannot count the same minutes twice. Today is
measured up to ``now``.

>>> from pipeline.publish.records import IncidentRecord
>>> inc = IncidentRecord("a/1", "a", "op", "energy", "UA-30", 86_400.0, 86_400.0,
...                      restored_at=86_400.0 + 8_640.0)
>>> bars = daily_availability([inc], first_seen=[0.0, 0.0], days=2, now=2 * 86_400.0 - 1)
>>> [(b.day, round(b.availability, 3), b.incidents) for b in bars]
[('1970-01-01', 1.0, 0), ('1970-01-02', 0.95, 1)]
>>> daily_availability([], first_seen=[86_400.0], days=2, now=2 * 86_400.0 - 1)[0].level
'no data'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.publish.records import IncidentRecord

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class DayBar:
    day: str  # ISO date, UTC
    availability: float | None  # None: nothing observed that day
    incidents: int
    down_s: float

    @property
    def level(self) -> str:
        """A word for the bar (colour is never the only carrier of meaning)."""
        if self.availability is None:
            return "no data"
        if self.availability >= 0.999:
            return "operational"
        if self.availability >= 0.99:
            return "minor disruption"
        return "major disruption"


def daily_availability(
    incidents: Iterable[IncidentRecord], *, first_seen: Sequence[float], days: int, now: float
) -> list[DayBar]:
    """One bar per UTC day for the ``days`` days ending today, oldest first."""
    today = (now // DAY_S) * DAY_S
    first = today - (days - 1) * DAY_S
    spans: dict[str, list[tuple[float, float]]] = {}
    started: dict[int, int] = {}
    for inc in incidents:
        if inc.maintenance:
            continue
        spans.setdefault(inc.service_id, []).append((inc.started_at, inc.end_or(now)))
        day_index = int((inc.started_at - first) // DAY_S)
        if 0 <= day_index < days:
            started[day_index] = started.get(day_index, 0) + 1
    down = [0.0] * days
    for intervals in spans.values():
        for start, end in _merge(intervals):
            _spread(start, end, first, days, down)
    bars: list[DayBar] = []
    for index in range(days):
        day_start = first + index * DAY_S
        day_end = min(now, day_start + DAY_S)
        observed = sum(max(0.0, day_end - max(day_start, seen)) for seen in first_seen)
        value = None if observed <= 0 else max(0.0, 1.0 - down[index] / observed)
        label = datetime.fromtimestamp(day_start, UTC).date().isoformat()
        bars.append(DayBar(label, value, started.get(index, 0), down[index]))
    return bars


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _spread(start: float, end: float, first: float, days: int, down: list[float]) -> None:
    """Add [start, end) to the per-day down totals it overlaps."""
    for index in range(max(0, int((start - first) // DAY_S)), days):
        day_start = first + index * DAY_S
        if day_start >= end:
            break
        overlap = min(end, day_start + DAY_S) - max(start, day_start)
        if overlap > 0:
            down[index] += overlap
