"""Level drop (IODA style): a signal below a fraction of its rolling median.

For signals that count something alive (reachable customers, active endpoints, vehicles
reporting). The median of the last ``window`` accepted points is the baseline; a point below
``warning x median`` is a warning (``DEGRADED``), below ``critical x median`` critical
(``DOWN``). ``confirm`` consecutive points are needed to change state (one noisy sample does
not page), and points seen while alerting are kept out of the baseline so an outage cannot
drag the median down and end itself; after ``max_frozen`` alerting points the baseline learns
again, so a lasting change in the signal becomes the new normal.

Daily seasonality (a transport fleet shrinks every evening, a grid's reachable customers do
not but a telecom's active endpoints do): the reference a point is compared with is the
*lowest* of three robust baselines, so a normal fall never looks like an outage:

* the rolling median of the window;
* the window's trend carried to now: medians of its older and newer halves give a slope,
  used only when falling (a smooth decline is predicted, an outage is a step);
* the hour-of-day profile: an exponentially weighted level per UTC hour learned from normal
  points, once that hour has been seen on an earlier day.

An outage is a fall below a fraction of all three. Memory: ``window`` + 24 floats.

>>> ld = LevelDrop("svc")
>>> [ld.observe(60.0 * i, 1000.0, f"e{i}") for i in range(12)][-1] is None
True
>>> ld.observe(720.0, 300.0, "x1") is None, ld.observe(780.0, 300.0, "x2").state.value
(True, 'down')
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

from pipeline.core.flat import flat_dict
from pipeline.core.schema import Status
from pipeline.detection.verdict import Verdict

DETECTOR = "level_drop"
#: How far past the newest normal point the falling trend is carried (seconds).
TREND_HORIZON_S = 1_800.0


@dataclass(frozen=True, slots=True)
class LevelDropParams:
    """window: points in the rolling median; min_history: points before any verdict;
    warning / critical: fractions of the median; confirm: consecutive points to change state;
    max_frozen: alerting points after which the baseline follows the signal again."""

    window: int = 48
    min_history: int = 12
    #: weight of a new normal point in its hour-of-day level (0 turns the profile off)
    hourly_rate: float = 0.2
    warning: float = 0.8
    critical: float = 0.5
    confirm: int = 2
    max_frozen: int = 1_440


class LevelDrop:
    """Level-drop state of one signal of one service."""

    def __init__(self, service_id: str, params: LevelDropParams | None = None) -> None:
        self.service_id = service_id
        self.params = params or LevelDropParams()
        self.history: deque[float] = deque(maxlen=self.params.window)
        self.history_at: deque[float] = deque(maxlen=self.params.window)
        self.state = Status.UP
        self.pending: Status = Status.UP
        self.pending_count = 0
        self.pending_since = 0.0
        self.pending_ids: list[str] = []
        self.frozen = 0
        self.last_at: float | None = None
        self.hourly: list[float | None] = [None] * 24
        self.hourly_since: list[int] = [-1] * 24  # the day each hour's level was first learned

    def reference(self, at: float | None = None) -> float:
        """The level a point at ``at`` is compared with (see the module notes)."""
        values = list(self.history)
        median = statistics.median(values)
        half = len(values) // 2
        older, newer = statistics.median(values[:half]), statistics.median(values[half:])
        times = list(self.history_at)
        if at is not None and len(times) == len(values) and times[half] > times[0]:
            # carried to now, but at most TREND_HORIZON_S past the newest normal point: an
            # outage in the fall must not extrapolate the baseline down to nothing
            t_old, t_new = statistics.median(times[:half]), statistics.median(times[half:])
            until = min(at, times[-1] + TREND_HORIZON_S)
            trend = newer + (newer - older) / max(t_new - t_old, 1e-9) * (until - t_new)
        else:
            trend = newer + (newer - older) / 2.0  # newer half's centre: a quarter window back
        ref = min(median, max(trend, 0.0))
        if at is not None:
            hour, day = _hour_day(at)
            level = self.hourly[hour]
            if level is not None and self.hourly_since[hour] < day:
                ref = min(ref, level)
        return ref

    def classify(self, value: float, at: float | None = None) -> Status:
        """State the value alone would suggest against the current baseline."""
        if len(self.history) < self.params.min_history:
            return Status.UP
        median = self.reference(at)
        if median <= 0:
            return Status.UP
        if value < self.params.critical * median:
            return Status.DOWN
        if value < self.params.warning * median:
            return Status.DEGRADED
        return Status.UP

    def observe(self, at: float, value: float, event_id: str) -> Verdict | None:
        """Add one point (in event-time order; late points are ignored)."""
        if self.last_at is not None and at <= self.last_at:
            return None
        self.last_at = at
        p = self.params
        suggested = self.classify(value, at)
        median = self.reference(at) if len(self.history) >= 2 else value
        if suggested is self.pending:
            self.pending_count += 1
            self.pending_ids = [*self.pending_ids[-7:], event_id]  # bounded evidence
        else:
            self.pending, self.pending_count = suggested, 1
            self.pending_since, self.pending_ids = at, [event_id]
        verdict = None
        if self.pending is not self.state and self.pending_count >= p.confirm:
            self.state = self.pending
            affected = max(0, round(median - value)) if self.state is not Status.UP else None
            verdict = Verdict(
                self.service_id,
                DETECTOR,
                self.state,
                at=at,
                started_at=self.pending_since,
                evidence_ids=tuple(self.pending_ids[-8:]),
                customers_affected=affected,
                detail=f"value {value:g} vs seasonal/rolling baseline {median:g}",
            )
        if suggested is Status.UP or self.frozen >= p.max_frozen:
            self.history.append(value)
            self.history_at.append(at)
            self._learn_hour(at, value)
            self.frozen = 0 if suggested is Status.UP else self.frozen
        else:
            self.frozen += 1
        return verdict

    def _learn_hour(self, at: float, value: float) -> None:
        rate = self.params.hourly_rate
        if rate <= 0:
            return
        hour, day = _hour_day(at)
        level = self.hourly[hour]
        if level is None:
            self.hourly[hour], self.hourly_since[hour] = value, day
        else:
            self.hourly[hour] = level + rate * (value - level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "service_id": self.service_id,
            "params": flat_dict(self.params),
            "history": list(self.history),
            "history_at": list(self.history_at),
            "state": self.state.value,
            "pending": self.pending.value,
            "pending_count": self.pending_count,
            "pending_since": self.pending_since,
            "pending_ids": list(self.pending_ids[-8:]),
            "frozen": self.frozen,
            "last_at": self.last_at,
            "hourly": list(self.hourly),
            "hourly_since": list(self.hourly_since),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LevelDrop:
        """Inverse of :meth:`to_dict`."""
        ld = cls(data["service_id"], LevelDropParams(**data["params"]))
        ld.history.extend(float(v) for v in data["history"])
        ld.history_at.extend(float(t) for t in data.get("history_at", ()))
        ld.state = Status(data["state"])
        ld.pending = Status(data["pending"])
        ld.pending_count = int(data["pending_count"])
        ld.pending_since = float(data["pending_since"])
        ld.pending_ids = list(data["pending_ids"])
        ld.frozen = int(data["frozen"])
        ld.last_at = data["last_at"]
        if "hourly" in data:
            ld.hourly = [None if v is None else float(v) for v in data["hourly"]]
            ld.hourly_since = [int(d) for d in data["hourly_since"]]
        return ld


def _hour_day(at: float) -> tuple[int, int]:
    """(UTC hour of day, day number) of an epoch time."""
    day, seconds = divmod(at, 86_400.0)
    return int(seconds // 3_600.0), int(day)
