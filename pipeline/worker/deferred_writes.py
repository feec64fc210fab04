"""Service states changed without any output, written later, and the input offset they hold back.

Writing a service's whole state to its changelog for every observation was most of what a
unit sent to Kafka and a third of the processor's time on a live mix (docs/benchmarks.md,
"Round 8"). Most observations change nothing anyone sees (a service still up, one more event
id remembered, a baseline nudged), so their state may wait: a change that produced an output
(status change, incident event, anomaly, ledger record) is written with that output in its
unit; the others are *deferred* and written once they have waited ``after`` seconds, or
when their partition goes idle. Nothing is lost, because the offsets a unit commits never
pass the first observation of a state not written yet (:meth:`DeferredWrites.held_back`):
after a crash or a rebalance those observations are read and applied again, and those
already in a written state are recognised by the state's ``applied_through`` offset and
skipped (:mod:`pipeline.worker.processor`).

Within a partition, states are deferred in offset order, so the first one held is the
oldest:

>>> writes: DeferredWrites[str] = DeferredWrites()
>>> writes.defer("svc-a", "A", partition=0, offset=10, at=100.0)
>>> writes.defer("svc-b", "B", partition=0, offset=11, at=100.5)
>>> writes.defer("svc-a", "A'", partition=0, offset=12, at=101.0)  # still held from 10
>>> writes.held_back(0), writes.get("svc-a")
(10, "A'")
>>> writes.take_due(0, waited_since=100.2)  # waited long enough: svc-a only
[('svc-a', "A'")]
>>> writes.held_back(0), len(writes)
(11, 1)
>>> writes.remove("svc-b")  # written with an output of its own
>>> writes.held_back(0) is None, len(writes)
(True, 0)
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Generic, TypeVar

M = TypeVar("M")


class DeferredWrites(Generic[M]):
    """Per partition, the services whose latest state is not written yet, oldest first."""

    def __init__(self) -> None:
        # partition -> key -> (offset of its first unwritten observation, when deferred);
        # dicts keep insertion order, which is offset order within a partition.
        self._held: dict[int, dict[str, tuple[int, float]]] = {}
        self._latest: dict[str, tuple[int, M]] = {}  # key -> (partition, latest state)

    def __len__(self) -> int:
        return len(self._latest)

    def get(self, key: str) -> M | None:
        """The service's latest unwritten state, if it has one."""
        found = self._latest.get(key)
        return None if found is None else found[1]

    def defer(self, key: str, monitor: M, *, partition: int, offset: int, at: float) -> None:
        """``monitor`` is the service's state after the observation at ``offset`` of
        ``partition``; if an older change is still unwritten, that one's offset holds."""
        self._latest[key] = (partition, monitor)
        held = self._held.setdefault(partition, {})
        if key not in held:
            held[key] = (offset, at)

    def remove(self, key: str) -> None:
        """The service's state is written with an output (or discarded): it waits no more."""
        found = self._latest.pop(key, None)
        if found is not None:
            held = self._held.get(found[0])
            if held is not None:
                held.pop(key, None)

    def held_back(self, partition: int) -> int | None:
        """The offset of the partition's oldest observation whose effect is not written,
        or None when every one is: a unit must not commit past it."""
        first = self._first(partition)
        return None if first is None else first[0]

    def oldest(self, partition: int) -> float | None:
        """When the partition's oldest unwritten change was deferred (None: none is)."""
        first = self._first(partition)
        return None if first is None else first[1]

    def take_due(self, partition: int, *, waited_since: float | None = None) -> list[tuple[str, M]]:
        """Take the partition's states deferred at or before ``waited_since`` (all of
        them if None), oldest first, for the caller to write now."""
        held = self._held.get(partition)
        if not held:
            return []
        # Only the due ones are visited (a unit runs this while thousands may wait).
        due: list[str] = []
        for key, (_offset, at) in held.items():
            if waited_since is not None and at > waited_since:
                break
            due.append(key)
        taken: list[tuple[str, M]] = []
        for key in due:
            del held[key]
            taken.append((key, self._latest.pop(key)[1]))
        return taken

    def _first(self, partition: int) -> tuple[int, float] | None:
        """(offset, when deferred) of the partition's oldest unwritten change."""
        held = self._held.get(partition)
        return next(iter(held.values())) if held else None

    def drop(self, partitions: Collection[int]) -> list[str]:
        """Forget what waits in ``partitions`` (they went to another worker, or will be read
        again from their committed offsets): returns the keys dropped."""
        dropped: list[str] = []
        for partition in partitions:
            for key in self._held.pop(partition, {}):
                self._latest.pop(key, None)
                dropped.append(key)
        return dropped
