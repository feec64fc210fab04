"""Level drop (IODA style): a signal below a fraction of its rolling median.

For signals that count something alive (reachable customers, active endpoints, vehicles
reporting). The median of the last ``window`` accepted points is the baseline; a point below
``warning x median`` is a warning (``DEGRADED``), below ``critical x median`` critical
(``DOWN``). ``confirm`` consecutive points are needed to change state (one noisy sample does
not page), and points seen while alerting are kept out of the baseline so an outage cannot
drag the median down and end itself; after ``max_frozen`` alerting points the baseline learns
again, so a lasting change in the signal becomes the new normal. Memory: ``window`` floats.

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


@dataclass(frozen=True, slots=True)
class LevelDropParams:
    """window: points in the rolling median; min_history: points before any verdict;
    warning / critical: fractions of the median; confirm: consecutive points to change state;
    max_frozen: alerting points after which the baseline follows the signal again."""

    window: int = 48
    min_history: int = 12
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
        self.state = Status.UP
        self.pending: Status = Status.UP
        self.pending_count = 0
        self.pending_since = 0.0
        self.pending_ids: list[str] = []
        self.frozen = 0
        self.last_at: float | None = None

    def classify(self, value: float) -> Status:
        """State the value alone would suggest against the current baseline."""
        if len(self.history) < self.params.min_history:
            return Status.UP
        median = statistics.median(self.history)
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
        suggested = self.classify(value)
        median = statistics.median(self.history) if self.history else value
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
                detail=f"value {value:g} vs rolling median {median:g}",
            )
        if suggested is Status.UP or self.frozen >= p.max_frozen:
            self.history.append(value)
            self.frozen = 0 if suggested is Status.UP else self.frozen
        else:
            self.frozen += 1
        return verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "service_id": self.service_id,
            "params": flat_dict(self.params),
            "history": list(self.history),
            "state": self.state.value,
            "pending": self.pending.value,
            "pending_count": self.pending_count,
            "pending_since": self.pending_since,
            "pending_ids": list(self.pending_ids[-8:]),
            "frozen": self.frozen,
            "last_at": self.last_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LevelDrop:
        """Inverse of :meth:`to_dict`."""
        ld = cls(data["service_id"], LevelDropParams(**data["params"]))
        ld.history.extend(float(v) for v in data["history"])
        ld.state = Status(data["state"])
        ld.pending = Status(data["pending"])
        ld.pending_count = int(data["pending_count"])
        ld.pending_since = float(data["pending_since"])
        ld.pending_ids = list(data["pending_ids"])
        ld.frozen = int(data["frozen"])
        ld.last_at = data["last_at"]
        return ld
