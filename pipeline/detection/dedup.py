"""Bounded memory of recently seen event ids, so a duplicate is processed once.

>>> seen = RecentIds(capacity=2)
>>> seen.add("a"), seen.add("a"), seen.add("b"), seen.add("c"), seen.add("a")
(True, False, True, True, True)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class RecentIds:
    """Remembers the last ``capacity`` ids (oldest forgotten first)."""

    def __init__(self, capacity: int = 4_096) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> bool:
        """True when ``event_id`` is new (and now remembered), False for a duplicate."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"capacity": self.capacity, "ids": list(self._ids)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecentIds:
        """Inverse of :meth:`to_dict`."""
        r = cls(int(data["capacity"]))
        for i in data["ids"]:
            r.add(str(i))
        return r
