"""What the notice policy remembers per subscriber; JSON-able so the notifier can keep it in
a changelog-backed table and recover it after a restart or rebalance.

>>> s = SubscriberState()
>>> SubscriberState.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.notices.signals import Signal


@dataclass(slots=True)
class GroupState:
    """Signals waiting to go out together, and when the group last sent a notice."""

    pending: list[Signal] = field(default_factory=list)
    due: float | None = None
    last_sent: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pending": [s.to_dict() for s in self.pending],
            "due": self.due,
            "last_sent": self.last_sent,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroupState:
        return cls([Signal.from_dict(s) for s in d["pending"]], d["due"], d["last_sent"])


@dataclass(slots=True)
class OpenSubject:
    """A subject the subscriber was told is open: its opening notice and latest signal."""

    signal: Signal
    notice_id: str | None
    opened_at: float
    last_notified: float
    reminders: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal.to_dict(),
            "notice_id": self.notice_id,
            "opened_at": self.opened_at,
            "last_notified": self.last_notified,
            "reminders": self.reminders,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenSubject:
        return cls(
            Signal.from_dict(d["signal"]),
            d["notice_id"],
            float(d["opened_at"]),
            float(d["last_notified"]),
            int(d["reminders"]),
        )


@dataclass(slots=True)
class SubscriberState:
    """Dedup keys already handled, groups, open subjects and the rate-limit window."""

    sent: dict[str, float] = field(default_factory=dict)
    groups: dict[str, GroupState] = field(default_factory=dict)
    open: dict[str, OpenSubject] = field(default_factory=dict)
    window_start: float | None = None
    window_count: int = 0
    held: list[Signal] = field(default_factory=list)
    held_count: int = 0
    pruned_at: float = 0.0

    def pending_keys(self) -> set[str]:
        return {s.key for g in self.groups.values() for s in g.pending}

    def next_due(self) -> float | None:
        """Earliest time a pending group is due (None when nothing waits)."""
        dues = [g.due for g in self.groups.values() if g.pending and g.due is not None]
        return min(dues) if dues else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": dict(self.sent),
            "groups": {k: g.to_dict() for k, g in self.groups.items()},
            "open": {k: o.to_dict() for k, o in self.open.items()},
            "window_start": self.window_start,
            "window_count": self.window_count,
            "held": [s.to_dict() for s in self.held],
            "held_count": self.held_count,
            "pruned_at": self.pruned_at,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubscriberState:
        return cls(
            sent={k: float(v) for k, v in d["sent"].items()},
            groups={k: GroupState.from_dict(g) for k, g in d["groups"].items()},
            open={k: OpenSubject.from_dict(o) for k, o in d["open"].items()},
            window_start=d["window_start"],
            window_count=int(d["window_count"]),
            held=[Signal.from_dict(s) for s in d["held"]],
            held_count=int(d["held_count"]),
            pruned_at=float(d.get("pruned_at", 0.0)),
        )
