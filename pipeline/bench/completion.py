"""Waiting for a consumer group of bench workers to get through a topic, commit stalls included.

Progress is read from the group's committed offsets (free for the workers). faust can stop
committing a partition after a rebalance while its agent goes on processing
(faust-streaming/faust#318, #629): the offsets then never reach the end of the topic, and a
wait on them alone hangs until its deadline. So when the committed offsets stop moving for
``stall_after`` seconds, :func:`wait_through` records them and follows the workers' own
``continuity_observations_total`` counters instead, until those reach the target and stop
moving; workers that stop short of it raise :class:`WorkersStalled` at once.

Counters include observations replayed after a partition moved, so after a stall
"processed >= target" is a lower bound on completion, not proof; callers report the stall.

>>> stalled = CommitStall(at_committed=10, offsets={0: 4, 1: 6})
>>> Completion(committed=10, processed=20.0, stall=stalled).stalled_offsets
{0: 4, 1: 6}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from pipeline.bench.workers import WorkerSample
from pipeline.core.progress import Progress

log = structlog.get_logger(__name__)

#: Fewer newly committed offsets than this in ``stall_after`` seconds counts as a stall.
STALL_PROGRESS = 100


class Offsets(Protocol):
    """A consumer group's committed offsets (:class:`~pipeline.bench.kafka_io.GroupProgress`)."""

    def committed(self) -> int: ...

    def by_partition(self) -> dict[int, int]: ...


class Counted(Protocol):
    """A worker whose /metrics can be sampled (:class:`~pipeline.bench.workers.BenchWorker`)."""

    def sample(self) -> WorkerSample: ...


class WorkersStalled(TimeoutError):
    """The group stopped committing and the workers stopped processing short of the target."""


@dataclass(frozen=True)
class CommitStall:
    """Where the committed offsets stood when they stopped moving."""

    at_committed: int
    offsets: dict[int, int]


@dataclass(frozen=True)
class Completion:
    """How a wait ended: offsets committed, observations processed (sampled only after a
    stall, else 0) and the stall, if the offsets stopped moving."""

    committed: int
    processed: float
    stall: CommitStall | None

    @property
    def stalled_offsets(self) -> dict[int, int] | None:
        return self.stall.offsets if self.stall is not None else None


def wait_through(
    group: Offsets,
    workers: Sequence[Counted],
    target: int,
    *,
    total: int,
    deadline: float,
    progress: Progress,
    stall_after: float,
    poll_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Completion:
    """Block until ``target`` offsets are committed (or, after a commit stall, processed).

    Raises TimeoutError past ``deadline`` (a ``clock`` time) and :class:`WorkersStalled`
    when neither the offsets nor the workers' counters move for ``stall_after`` seconds.
    """
    committed = group.committed()
    moved_at, moved_to = clock(), committed
    while committed < target:
        _check_deadline(clock, deadline, f"committed {committed}/{target}")
        progress.update(committed, total)
        if committed - moved_to >= STALL_PROGRESS:
            moved_at, moved_to = clock(), committed
        elif clock() - moved_at > stall_after:
            stall = CommitStall(committed, group.by_partition())
            log.warning("bench_commit_stalled", committed=committed, offsets=stall.offsets)
            processed = _wait_processed(
                workers, target, stall, deadline, stall_after, poll_s, clock, sleep
            )
            return Completion(group.committed(), processed, stall)
        sleep(poll_s)
        committed = group.committed()
    progress.update(committed, total, force=True)
    return Completion(committed, 0.0, None)


def _wait_processed(
    workers: Sequence[Counted],
    target: int,
    stall: CommitStall,
    deadline: float,
    stall_after: float,
    poll_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> float:
    """Follow the workers' counters until they pass ``target`` and hold still for a poll."""
    previous = -1.0
    moved_at = clock()
    every = max(poll_s, 2.0)  # each sample renders a whole /metrics page
    while True:
        processed = sum(worker.sample().processed for worker in workers)
        if processed == previous and processed >= target:
            return processed
        if processed != previous:
            previous, moved_at = processed, clock()
        elif clock() - moved_at > stall_after:
            raise WorkersStalled(
                f"workers stopped at {processed:.0f}/{target} processed with commits stalled "
                f"at {stall.at_committed} (offsets {stall.offsets})"
            )
        _check_deadline(clock, deadline, f"processed {processed:.0f}/{target} after a stall")
        sleep(every)


def _check_deadline(clock: Callable[[], float], deadline: float, where: str) -> None:
    if clock() > deadline:
        raise TimeoutError(f"bench wait passed its deadline: {where}")
