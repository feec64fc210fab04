"""Per-partition progress: what the worker has processed against what Kafka holds.

A worker whose agent is stuck still answers ``/metrics``; only progress tells. For every
assigned partition the worker records the next offset it processed, the committed offset and
the end offset, and when processing last advanced. A partition with unprocessed records and
no progress for ``stall_after`` seconds is *stalled*: health fails. A partition whose backlog
exceeds ``max_backlog`` is *behind*: its services are not judged silent, because their
evidence may be waiting in that backlog. So is a partition whose backlog appeared less than
``settle`` seconds ago: records produced together (a replay, a connector's burst) can be
taken in two batches, and a silence check between them would judge a service on half its
evidence; a backlog that persists (steady load) stops deferring the check after ``settle``.

>>> now = [0.0]
>>> progress = PartitionProgress(lambda: now[0], stall_after=30.0, max_backlog=100)
>>> progress.observe("obs", 0, end=10, committed=None)
>>> progress.processed("obs", 0, offset=4)
>>> now[0] = 31.0
>>> progress.stalled()
[('obs', 0, 5)]
>>> progress.processed("obs", 0, offset=9)
>>> progress.stalled(), sorted(progress.behind("obs"))
([], [])
>>> progress.observe("obs", 0, end=12, committed=None)  # two new records, just now
>>> sorted(progress.behind("obs"))
[0]
>>> now[0] = 31.0 + progress.settle
>>> sorted(progress.behind("obs"))
[]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(slots=True)
class _Partition:
    next_offset: int | None = None  # one past the last processed record
    committed: int | None = None
    end: int | None = None
    progressed_at: float = 0.0
    backlog_since: float | None = None  # when the current backlog appeared

    def backlog(self) -> int:
        return 0 if self.end is None else max(0, self.end - (self.next_offset or 0))


class PartitionProgress:
    """Progress per (topic, partition); fed by the agent and a timer, read by health."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        stall_after: float,
        max_backlog: int,
        settle: float = 2.0,
    ) -> None:
        self._clock = clock
        self.stall_after = stall_after
        self.max_backlog = max_backlog
        self.settle = settle
        self._partitions: dict[tuple[str, int], _Partition] = {}

    def _get(self, topic: str, partition: int) -> _Partition:
        key = (topic, partition)
        found = self._partitions.get(key)
        if found is None:
            found = self._partitions[key] = _Partition(progressed_at=self._clock())
        return found

    def processed(self, topic: str, partition: int, offset: int) -> None:
        state = self._get(topic, partition)
        if state.next_offset is None or offset + 1 > state.next_offset:
            state.next_offset = offset + 1
            state.progressed_at = self._clock()
        self._track_backlog(state)

    def observe(
        self, topic: str, partition: int, *, end: int | None, committed: int | None
    ) -> None:
        """The consumer's view: end offset (high watermark) and committed offset."""
        state = self._get(topic, partition)
        state.end, state.committed = end, committed
        if state.next_offset is None and committed is not None:
            state.next_offset = committed
        self._track_backlog(state)

    def _track_backlog(self, state: _Partition) -> None:
        if state.backlog() == 0:
            state.backlog_since = None
        elif state.backlog_since is None:
            state.backlog_since = self._clock()

    def keep_only(self, assigned: Iterable[tuple[str, int]]) -> None:
        """Forget partitions no longer assigned (after a rebalance)."""
        keep = set(assigned)
        for key in list(self._partitions):
            if key not in keep:
                del self._partitions[key]

    def stalled(self) -> list[tuple[str, int, int]]:
        """(topic, partition, backlog) of partitions with records and no recent progress."""
        now = self._clock()
        return [
            (topic, partition, state.backlog())
            for (topic, partition), state in sorted(self._partitions.items())
            if state.backlog() > 0 and now - state.progressed_at > self.stall_after
        ]

    def behind(self, topic: str) -> set[int]:
        """Partitions of ``topic`` too far behind to judge their services' silence."""
        stalled = {(t, p) for t, p, _ in self.stalled()}
        now = self._clock()
        return {
            partition
            for (t, partition), state in self._partitions.items()
            if t == topic
            and (
                state.backlog() > self.max_backlog
                or (t, partition) in stalled
                or (state.backlog_since is not None and now - state.backlog_since < self.settle)
            )
        }

    def items(self) -> Iterator[tuple[tuple[str, int], _Partition]]:
        return iter(sorted(self._partitions.items()))


class ProgressCollector(Collector):
    """``continuity_partition_offset{topic,partition,kind}`` and
    ``continuity_partition_stalled`` (1 when stalled) at scrape time."""

    def __init__(self, progress: PartitionProgress, registry: CollectorRegistry) -> None:
        self._progress = progress
        registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        offsets = GaugeMetricFamily(
            "continuity_partition_offset",
            "Offsets per assigned partition: processed (next to process), committed, end.",
            labels=["topic", "partition", "kind"],
        )
        stalled = GaugeMetricFamily(
            "continuity_partition_stalled",
            "1 when a partition has unprocessed records and made no progress recently.",
            labels=["topic", "partition"],
        )
        stuck = {(t, p) for t, p, _ in self._progress.stalled()}
        for (topic, partition), state in self._progress.items():
            for kind, value in (
                ("processed", state.next_offset),
                ("committed", state.committed),
                ("end", state.end),
            ):
                if value is not None:
                    offsets.add_metric([topic, str(partition), kind], float(value))
            stalled.add_metric([topic, str(partition)], 1.0 if (topic, partition) in stuck else 0.0)
        yield offsets
        yield stalled
