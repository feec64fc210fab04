"""Declared maintenance windows per service.

>>> cal = MaintenanceCalendar([MaintenanceWindow("svc", 100.0, 200.0, "firmware")])
>>> cal.active("svc", 150.0).reason, cal.active("svc", 200.0), cal.active("other", 150.0)
('firmware', None, None)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """``[start, end)`` in epoch seconds, for one service."""

    service_id: str
    start: float
    end: float
    reason: str = ""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"maintenance window of {self.service_id} ends before it starts")

    def covers(self, at: float) -> bool:
        """True when ``at`` falls inside the window."""
        return self.start <= at < self.end

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "service_id": self.service_id,
            "start": self.start,
            "end": self.end,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MaintenanceWindow:
        """Inverse of :meth:`to_dict`."""
        return cls(d["service_id"], float(d["start"]), float(d["end"]), d.get("reason", ""))


class MaintenanceCalendar:
    """Configuration (not state): the windows declared for each service."""

    def __init__(self, windows: Iterable[MaintenanceWindow] = ()) -> None:
        self._by_service: dict[str, list[MaintenanceWindow]] = {}
        for w in windows:
            self.add(w)

    def add(self, window: MaintenanceWindow) -> None:
        """Declare one more window."""
        self._by_service.setdefault(window.service_id, []).append(window)
        self._by_service[window.service_id].sort(key=lambda w: w.start)

    def active(self, service_id: str, at: float) -> MaintenanceWindow | None:
        """The window covering ``at`` for the service, if any."""
        for w in self._by_service.get(service_id, ()):
            if w.covers(at):
                return w
        return None

    def windows(self, service_id: str | None = None) -> list[MaintenanceWindow]:
        """Windows of one service, or all of them."""
        if service_id is not None:
            return list(self._by_service.get(service_id, ()))
        return [w for ws in self._by_service.values() for w in ws]
