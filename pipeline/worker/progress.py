"""Per-partition progress: what the worker has processed against what Kafka holds.

A worker whose agent is stuck still answers ``/metrics``; only progress tells. For every
assigned partition the worker records the next offset it processed, the committed offset and
the end offset, and when processing last advanced. A partition with unprocessed records and
no progress for ``stall_after`` seconds is *stalled*: health fails. A partition whose backlog
exceeds ``max_backlog`` is *behind*: its services are not judged silent, because their
evidence may be waiting in that backlog.

Silence is judged as of the time up to which the input is processed
(:meth:`PartitionProgress.evidence_lag`: how long ago that was): the moment an end offset
was seen, once every record before it is processed, less ``settle`` (the end offset is the
consumer's view as of its last fetch, and records produced together can reach the broker a
little apart).
Under steady load there is always a small backlog, so "judge only when nothing is waiting"
would never judge; judging as of the wall clock would call a service silent while its
evidence waits in the backlog.

>>> now = [0.0]
>>> progress = PartitionProgress(lambda: now[0], stall_after=30.0, max_backlog=100, settle=0.5)
>>> progress.observe("obs", 0, end=10, committed=None)
>>> progress.processed("obs", 0, offset=4)
>>> now[0] = 31.0
>>> progress.stalled()
[('obs', 0, 5)]
>>> progress.processed("obs", 0, offset=9)  # everything seen at 0.0 is processed
>>> progress.stalled(), sorted(progress.behind("obs")), progress.evidence_lag("obs", [0])
([], [], 31.5)
>>> progress.observe("obs", 0, end=12, committed=None)  # two new records, seen at 31.0
>>> now[0] = 40.0
>>> progress.evidence_lag("obs", [0])  # still waiting: complete as of 0.0 only
40.5
>>> progress.processed("obs", 0, offset=11)
>>> progress.evidence_lag("obs", [0])  # complete as of 31.0
9.5
>>> progress.observe("obs", 0, end=12, committed=None)  # nothing waiting: complete now
>>> progress.evidence_lag("obs", [0])
0.5
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(slots=True)
class _Partition:
    next_offset: int | None = None  # one past the last processed record
    committed: int | None = None
    end: int | None = None
    progressed_at: float = 0.0
    #: When every record before an end offset seen then had been processed (None: not yet).
    complete_at: float | None = None
    #: End offsets seen while records were waiting, with when they were seen, oldest first.
    ends: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=MAX_ENDS))

    def backlog(self) -> int:
        return 0 if self.end is None else max(0, self.end - (self.next_offset or 0))

    def caught_up_to(self, next_offset: int) -> None:
        while self.ends and self.ends[0][0] <= next_offset:
            self.complete_at = self.ends.popleft()[1]


#: End offsets remembered per partition (one a second while the worker is behind; a worker
#: further behind than this judges silence later than it could, never earlier).
MAX_ENDS = 600


class PartitionProgress:
    """Progress per (topic, partition); fed by the agent and a timer, read by health."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        stall_after: float,
        max_backlog: int,
        settle: float = 0.5,
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
            state.caught_up_to(state.next_offset)

    def observe(
        self, topic: str, partition: int, *, end: int | None, committed: int | None
    ) -> None:
        """The consumer's view: end offset (high watermark) and committed offset."""
        state = self._get(topic, partition)
        state.end, state.committed = end, committed
        if state.next_offset is None and committed is not None:
            state.next_offset = committed
        if end is None:
            return  # not known yet: nothing can be judged complete
        now = self._clock()
        if state.backlog() == 0:
            state.ends.clear()
            state.complete_at = now
        elif not state.ends or end > state.ends[-1][0]:
            state.ends.append((end, now))

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
        return {
            partition
            for (t, partition), state in self._partitions.items()
            if t == topic and (state.backlog() > self.max_backlog or (t, partition) in stalled)
        }

    def evidence_lag(self, topic: str, partitions: Collection[int]) -> float | None:
        """How many seconds ago every record of ``partitions`` of ``topic`` was last known
        processed (``settle`` included), or None while records seen waiting in one of them
        are not yet. A partition whose end offset is not known yet counts as complete now."""
        now = self._clock()
        found = [now]
        for partition in partitions:
            state = self._partitions.get((topic, partition))
            if state is None or state.end is None:
                continue
            if state.complete_at is None:
                return None
            found.append(state.complete_at)
        return now - min(found) + self.settle

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
