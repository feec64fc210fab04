"""Each task's input processed in order, one unit at a time, while the consumer fetches on.

The consumer used to wait for a whole fetch to be processed and committed before taking the
next one, so the CPU sat idle while the fetch's last transactions committed (≈ 19 % of the
wall time at bulk load, docs/benchmarks.md, "Round 5"). :class:`TaskQueues` lets the next
fetch start on the tasks that are free while others still commit:

- a task's records run in the order they were fetched, by one runner at a time, so its units
  (and their transactions) keep the order of its offsets;
- records that arrive while a task's runner is busy wait in its queue and are merged into
  its next run, so a busy worker processes larger units (fewer transactions per record);
- a task keeping up starts a unit at most every ``pace`` seconds (each unit is a transaction
  of ≈ 5 requests to Kafka, and at steady load a unit per fetch cost more CPU than the records
  in it); a task with ``full`` records waiting (behind) starts its next unit at once;
- the consumer waits (:meth:`TaskQueues.room`) while the records waiting reach ``max_waiting``,
  which bounds the memory the queues hold;
- the first error of a run is kept: no run starts after it, the records waiting are
  dropped (they were not committed, so the next owner reads them again), and the consumer
  raises it (:meth:`TaskQueues.raise_error`), as it raised the handler's error before.

>>> import asyncio
>>> order = []
>>> async def run(task, records):
...     await asyncio.sleep(0)
...     order.append((task, [r for r in records]))
>>> async def main():
...     queues = TaskQueues(run, max_waiting=100)
...     queues.submit({"a": [1, 2], "b": [3]})
...     await asyncio.sleep(0)  # the runs start: a's takes [1, 2]
...     queues.submit({"a": [4], "b": [5]})  # each waits for its task's run in flight
...     queues.submit({"a": [6]})  # merged into a's next run
...     await queues.idle()
>>> asyncio.run(main())
>>> order
[('a', [1, 2]), ('b', [3]), ('a', [4, 6]), ('b', [5])]
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Generic, TypeVar

R = TypeVar("R")

#: What runs one task's records: ``run(task, records)``.
TaskRun = Callable[[str, Sequence[R]], Awaitable[None]]


class TaskQueues(Generic[R]):
    """Per task, a queue of records and at most one runner working through it in order."""

    def __init__(
        self,
        run: TaskRun[R],
        *,
        max_waiting: int,
        pace: float = 0.0,
        full: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self._max_waiting = max(1, max_waiting)
        self._pace = pace
        self._full = max_waiting if full is None else full
        self._clock = clock
        self._started: dict[str, float] = {}  # when each task's last unit started
        self._arrived_at: dict[str, float] = {}  # when records last arrived for each task
        self._waiting: dict[str, list[R]] = {}
        self._runners: dict[str, asyncio.Future[None]] = {}
        self._error: BaseException | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._moved = asyncio.Event()  # a run started or ended
        self._arrived = asyncio.Event()  # records were submitted

    def submit(self, batch: Mapping[str, Sequence[R]]) -> None:
        """Queue each task's records after those already queued or running for it."""
        self.raise_error()
        now = self._clock()
        for task, records in batch.items():
            if not records:
                continue
            self._arrived_at[task] = now
            self._waiting.setdefault(task, []).extend(records)
            self._arrived.set()
            if task not in self._runners:
                self._idle.clear()
                self._runners[task] = asyncio.ensure_future(self._work_through(task))

    def waiting(self) -> int:
        """How many records wait for their task's runner."""
        return sum(len(records) for records in self._waiting.values())

    def busy(self, task: str) -> bool:
        """Whether ``task`` has records running or waiting."""
        return task in self._runners

    def quiet_for(self, task: str) -> float:
        """Seconds since records last arrived for ``task`` (infinite if none ever did)."""
        arrived = self._arrived_at.get(task)
        return float("inf") if arrived is None else self._clock() - arrived

    async def room(self) -> None:
        """Return once fewer than ``max_waiting`` records wait (or a run failed)."""
        while self._error is None and self.waiting() >= self._max_waiting:
            self._moved.clear()
            await self._moved.wait()
        self.raise_error()

    async def idle(self) -> None:
        """Return once no task has records running or waiting."""
        await self._idle.wait()

    def raise_error(self) -> None:
        """Raise the first error a run raised, if any."""
        if self._error is not None:
            raise self._error

    async def _keep_pace(self, task: str) -> None:
        """Wait until ``pace`` has passed since the task's last unit started, or until it is
        behind (``full`` records waiting); records arriving meanwhile join the unit."""
        started = self._started.get(task)
        if started is None or self._pace <= 0:
            return
        while self._error is None and len(self._waiting.get(task, ())) < self._full:
            delay = started + self._pace - self._clock()
            if delay <= 0:
                return
            # Woken early when more records come (they may make the task behind).
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), delay)

    async def _work_through(self, task: str) -> None:
        try:
            while self._error is None:
                if not self._waiting.get(task):
                    break
                await self._keep_pace(task)
                records = self._waiting.pop(task, None)
                if not records:  # dropped after an error
                    break
                self._started[task] = self._clock()
                self._moved.set()
                await self._run(task, records)
        except BaseException as exc:  # kept for the consumer, which raises it
            if self._error is None:
                self._error = exc
            self._waiting.clear()  # uncommitted: read again by the partitions' next owner
        finally:
            del self._runners[task]
            self._moved.set()
            if not self._runners:
                self._idle.set()
