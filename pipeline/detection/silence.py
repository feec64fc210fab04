"""Silence: no evidence for ``k x interval`` means ``unknown``, then ``down``.

Missing data is the most common sign of a real outage. The detector is driven by evidence
(:meth:`SilenceDetector.observe`) and by a clock (:meth:`SilenceDetector.check`, called with
the current event-time watermark); it never reads the wall clock itself.

>>> sd = SilenceDetector("svc", interval_s=30.0)
>>> sd.observe(0.0, "hb0") is None
True
>>> sd.check(61.0).state.value, sd.check(91.0).state.value
('unknown', 'down')
>>> sd.observe(95.0, "hb1").state.value
'up'
"""

from __future__ import annotations

from typing import Any

from pipeline.core.schema import Status
from pipeline.detection.verdict import Verdict

DETECTOR = "silence"


class SilenceDetector:
    """Silence state of one service.

    interval_s: the service's declared evidence interval.
    unknown_after / down_after: multiples of the interval without evidence before the state
        becomes unknown / down (2 and 3: one lost message is tolerated, two are suspicious).
    """

    def __init__(
        self,
        service_id: str,
        interval_s: float,
        unknown_after: float = 2.0,
        down_after: float = 3.0,
    ) -> None:
        if not 0 < unknown_after <= down_after:
            raise ValueError("need 0 < unknown_after <= down_after")
        self.service_id = service_id
        self.interval_s = interval_s
        self.unknown_after = unknown_after
        self.down_after = down_after
        self.last_seen: float | None = None
        self.last_event_id = ""
        self.state = Status.UNKNOWN

    def observe(self, at: float, event_id: str) -> Verdict | None:
        """Evidence arrived (any kind); returns ``UP`` when it ends a silence."""
        if self.last_seen is not None and at <= self.last_seen:
            return None  # late or duplicate: it cannot end a silence that came after it
        # UNKNOWN with a last_seen can only come from a silence (a new service has none)
        was_silent = self.last_seen is not None and self.state is not Status.UP
        self.last_seen, self.last_event_id = at, event_id
        self.state = Status.UP
        if was_silent:
            return Verdict(self.service_id, DETECTOR, Status.UP, at, at, (event_id,))
        return None

    def check(self, now: float) -> Verdict | None:
        """Advance the clock to ``now`` (event time); returns a verdict on a state change."""
        if self.last_seen is None:
            return None
        gap = now - self.last_seen
        if gap >= self.down_after * self.interval_s and self.state is not Status.DOWN:
            self.state = Status.DOWN
            return Verdict(
                self.service_id,
                DETECTOR,
                Status.DOWN,
                at=self.last_seen + self.down_after * self.interval_s,
                started_at=self.last_seen + self.interval_s,  # the first missed beat
                evidence_ids=(self.last_event_id,),
                detail=f"no evidence since {self.last_seen:.0f}",
            )
        if gap >= self.unknown_after * self.interval_s and self.state is Status.UP:
            self.state = Status.UNKNOWN
            return Verdict(
                self.service_id,
                DETECTOR,
                Status.UNKNOWN,
                at=self.last_seen + self.unknown_after * self.interval_s,
                started_at=self.last_seen + self.interval_s,
                evidence_ids=(self.last_event_id,),
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "service_id": self.service_id,
            "interval_s": self.interval_s,
            "unknown_after": self.unknown_after,
            "down_after": self.down_after,
            "last_seen": self.last_seen,
            "last_event_id": self.last_event_id,
            "state": self.state.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SilenceDetector:
        """Inverse of :meth:`to_dict`."""
        sd = cls(data["service_id"], data["interval_s"], data["unknown_after"], data["down_after"])
        sd.last_seen = data["last_seen"]
        sd.last_event_id = data["last_event_id"]
        sd.state = Status(data["state"])
        return sd
