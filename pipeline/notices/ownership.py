"""Which subscribers a notifier may act on right now, without Kafka in sight.

A notifier owns a subscriber when it is assigned the subscriber's partition of the re-keyed
topic, but it may only read or write the subscriber's state once the table has *recovered*
that partition from the changelog. Between a new assignment and the end of recovery the
table holds nothing (or a stale copy) for it: a state written then would be an empty one
that goes to the changelog after the real one, and the next decision over it would take the
subscriber for one that was never told the opening (and drop its "restored").

The notifier reports what faust shows on each tick (:meth:`Ownership.observe`): whether the
group is settled (no rebalance in progress and the last assignment's recovery finished), the
assignment's generation and its partitions. Only settled generations make subscribers ready.

>>> own = Ownership(["a", "b"], {"a": 0, "b": 1}.__getitem__)
>>> own.observe(settled=True, generation=1, partitions={0})
>>> own.owns("a"), own.owns("b")
(True, False)
>>> own.observe(settled=False, generation=2, partitions={0, 1})
>>> own.owns("a")
False
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping


class Ownership:
    """Subscribers whose partition is assigned here and whose state has been recovered."""

    def __init__(self, subscribers: Iterable[str], partition_of: Callable[[str], int]) -> None:
        self._partition = {s: partition_of(s) for s in subscribers}
        self._generation: int | None = None
        self._ready: frozenset[int] = frozenset()
        self._fresh: set[str] = set()

    def observe(self, *, settled: bool, generation: int, partitions: Iterable[int]) -> None:
        """Record faust's view; a new settled generation makes its subscribers fresh."""
        if not settled:
            # Rebalancing: whatever is assigned may already be someone else's, and what is
            # newly assigned is not recovered yet.
            self._generation, self._ready = None, frozenset()
            self._fresh.clear()
            return
        if generation != self._generation:
            self._generation, self._ready = generation, frozenset(partitions)
            self._fresh = {s for s, p in self._partition.items() if p in self._ready}

    @property
    def settled(self) -> bool:
        """False while a rebalance or its recovery is in progress."""
        return self._generation is not None

    def owns(self, subscriber_id: str) -> bool:
        """True when this notifier may read and write ``subscriber_id``'s state now."""
        return self._generation is not None and self._partition[subscriber_id] in self._ready

    def due(self, now: float, wakeups: Mapping[str, float]) -> list[str]:
        """Owned subscribers to look at now: newly recovered ones once (their outbox may owe
        deliveries), the others when their wakeup time has come."""
        due = [
            s
            for s in self._partition
            if self.owns(s) and (s in self._fresh or wakeups.get(s, 0.0) <= now)
        ]
        self._fresh.difference_update(due)
        return due
