"""When each partition's deferred service states are written, and which offsets its units commit.

The processor defers the states that changed without any output
(:mod:`pipeline.worker.deferred_writes`); this schedule decides the rest, per observations
partition:

- a unit commits each observations partition's offset no further than its oldest deferred
  change, and no further than the unit's own first record: its own deferrals are known only
  once it ran, and its offsets go to the transaction while it computes
  (:class:`~pipeline.worker.delivery.ExactlyOnce`);
- a unit writes the states deferred ``write_after`` seconds ago or longer;
- a unit that dead-letters a record writes every deferred state of its partition and commits
  its input to the end, so that record is never read (and dead-lettered) again;
- a partition with nothing arriving for ``quiet_after`` seconds gets a unit of its own that
  writes everything deferred and commits what was processed (:meth:`StateWrites.due`).

>>> from aiokafka.structs import TopicPartition
>>> from pipeline.worker.batch_input import InputRecord
>>> class Held:  # what the schedule uses of the live states
...     def __init__(self): self.held = {}
...     def held_back(self, partition): return self.held.get(partition)
...     def deferred_since(self, partition): return None
...     def write_deferred(self, partition, *, waited_since=None): return 0
>>> live = Held()
>>> writes = StateWrites(live, observations="obs", write_after=2.0, quiet_after=0.1)
>>> records = [InputRecord("obs", 1, 7, b""), InputRecord("cmd", 1, 3, b""),
...            InputRecord("obs", 1, 8, b"")]
>>> ends = {TopicPartition("obs", 1): 9, TopicPartition("cmd", 1): 4}
>>> writes.commit_offsets(records, ends)  # commands always to the end
{TopicPartition(topic='obs', partition=1): 7, TopicPartition(topic='cmd', partition=1): 4}
>>> live.held[1] = 5  # an older change still waits
>>> writes.commit_offsets(records, ends)[TopicPartition("obs", 1)]
5
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from aiokafka.structs import TopicPartition

from pipeline.worker.batch_input import InputRecord


class HeldStates(Protocol):
    """What the schedule uses of :class:`~pipeline.worker.live_states.LiveStates`."""

    def held_back(self, partition: int) -> int | None: ...

    def deferred_since(self, partition: int) -> float | None: ...

    def write_deferred(self, partition: int, *, waited_since: float | None = None) -> int: ...


class Consuming(Protocol):
    def consumed(self, topic: str, partition: int, offset: int) -> None: ...


class StateWrites:
    """The write-and-commit schedule of deferred states, per observations partition."""

    def __init__(
        self,
        live: HeldStates,
        *,
        observations: str,
        write_after: float,
        quiet_after: float,
    ) -> None:
        self._live = live
        self._observations = observations
        self.write_after = write_after
        self.quiet_after = quiet_after
        self._processed: dict[int, int] = {}  # partition -> next offset to process
        self._committed: dict[int, int] = {}  # partition -> offset its last unit committed

    @property
    def enabled(self) -> bool:
        """Whether states may wait at all (``write_after`` > 0)."""
        return self.write_after > 0

    def commit_offsets(
        self, records: Sequence[InputRecord], ends: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        """The offsets a unit of ``records`` (which end at ``ends``) commits, decided
        before it runs."""
        commit = dict(ends)
        if not self.enabled:
            return commit
        firsts: dict[int, int] = {}
        for record in records:
            if record.topic == self._observations:
                firsts.setdefault(record.partition, record.offset)
        for partition, first in firsts.items():
            held = self._live.held_back(partition)
            commit[TopicPartition(self._observations, partition)] = (
                first if held is None else min(held, first)
            )
        return commit

    def processed(self, ends: Mapping[TopicPartition, int]) -> None:
        """A unit processed its records up to ``ends``."""
        for tp, end in ends.items():
            if tp.topic == self._observations:
                self._processed[tp.partition] = end

    def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """A unit committed ``offsets``."""
        for tp, offset in offsets.items():
            if tp.topic == self._observations:
                self._committed[tp.partition] = offset

    def write_due(self, unit: Consuming, partition: int, *, dead_letters: bool, now: float) -> None:
        """At the end of a unit of ``partition``'s input (before its states are flushed):
        have the states deferred ``write_after`` ago written with it, or every one if it
        dead-lettered a record (and then commit the whole input it processed)."""
        if not self.enabled:
            return
        if dead_letters:
            self.write_all(unit, partition)
            return
        since = self._live.deferred_since(partition)
        if since is not None and since <= now - self.write_after:
            self._live.write_deferred(partition, waited_since=now - self.write_after)

    def write_all(self, unit: Consuming, partition: int) -> None:
        """Have every deferred state of ``partition`` written with ``unit``, which then
        commits all the partition's input processed so far."""
        self._live.write_deferred(partition)
        end = self._processed.get(partition)
        if end is not None:
            unit.consumed(self._observations, partition, end - 1)

    def due(self, partition: int, *, busy: bool, quiet_for: float, now: float) -> bool:
        """Whether the partition needs a unit of its own to write its deferred states and
        commit what it processed: nothing is running or waiting for it, and nothing arrived
        for ``quiet_after`` seconds (or its oldest deferred state waited ``write_after``)."""
        if busy or not self.pending(partition):
            return False
        since = self._live.deferred_since(partition)
        return quiet_for >= self.quiet_after or (
            since is not None and since <= now - self.write_after
        )

    def pending(self, partition: int) -> bool:
        """Whether the partition has deferred states, or processed input its units did not
        commit (:meth:`write_all` in a unit of its own settles both)."""
        if not self.enabled:
            return False
        processed = self._processed.get(partition)
        behind = processed is not None and processed > self._committed.get(partition, -1)
        return behind or self._live.deferred_since(partition) is not None

    def forget(self, partitions: Collection[int]) -> None:
        """The partitions left this worker, or will be read again from their committed
        offsets (after a rebalance)."""
        for partition in partitions:
            self._processed.pop(partition, None)
            self._committed.pop(partition, None)
