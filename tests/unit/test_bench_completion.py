"""How a bench stage waits for its workers: committed offsets, then counters after a stall."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from pipeline.bench.completion import Completion, WorkersStalled, wait_through
from pipeline.bench.workers import WorkerSample
from pipeline.core.progress import Progress


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ScriptedGroup:
    """Committed offsets that follow a script, one value per read, the last one repeated."""

    script: Iterator[int]
    last: int = 0

    def committed(self) -> int:
        self.last = next(self.script, self.last)
        return self.last

    def by_partition(self) -> dict[int, int]:
        return {0: self.last}


@dataclass
class ScriptedWorker:
    counts: list[float]
    samples: int = field(default=0)

    def sample(self) -> WorkerSample:
        count = self.counts[min(self.samples, len(self.counts) - 1)]
        self.samples += 1
        return WorkerSample(processed=count, rejected=0.0, tracked=0.0)


def wait(
    group: ScriptedGroup, workers: list[ScriptedWorker], clock: Clock, *, deadline: float = 1e9
) -> Completion:
    return wait_through(
        group, workers, 1_000, total=1_000, deadline=deadline, progress=Progress(io.StringIO()),
        stall_after=10.0, clock=clock, sleep=clock.sleep,
    )  # fmt: skip


def test_committed_offsets_reaching_the_target_end_the_wait_without_sampling() -> None:
    worker = ScriptedWorker([0.0])
    done = wait(ScriptedGroup(iter([0, 400, 800, 1_000])), [worker], Clock())
    assert (done.committed, done.stall, worker.samples) == (1_000, None, 0)


def test_a_commit_stall_is_recorded_and_the_counters_decide() -> None:
    workers = [ScriptedWorker([300.0, 600.0, 600.0]), ScriptedWorker([500.0])]
    done = wait(ScriptedGroup(iter([0, 500])), workers, Clock())
    assert done.stall is not None
    assert done.stall.at_committed == 500
    assert done.stalled_offsets == {0: 500}
    assert done.processed == 1_100


def test_workers_that_stop_short_after_a_stall_fail_fast() -> None:
    clock = Clock()
    with pytest.raises(WorkersStalled, match="stopped at 700/1000 processed"):
        wait(ScriptedGroup(iter([0, 500])), [ScriptedWorker([700.0])], clock)
    assert clock.now < 60


def test_the_deadline_still_bounds_a_slow_group() -> None:
    slow = ScriptedGroup(iter(range(0, 1_000, 150)))
    with pytest.raises(TimeoutError, match="passed its deadline"):
        wait(slow, [ScriptedWorker([0.0])], Clock(), deadline=2.0)
