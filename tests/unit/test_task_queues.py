"""TaskQueues: each task's records in order, one run at a time, merged while busy, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from pipeline.worker.task_queues import TaskQueues


class Recorder:
    """Runs that wait for a gate per task, recording what each run got."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, list[int]]] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.running: set[str] = set()
        self.overlapped = False

    def gate(self, task: str) -> asyncio.Event:
        return self.gates.setdefault(task, asyncio.Event())

    async def run(self, task: str, records: Sequence[int]) -> None:
        if task in self.running:
            self.overlapped = True
        self.running.add(task)
        try:
            await self.gate(task).wait()
            self.runs.append((task, list(records)))
        finally:
            self.running.discard(task)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_busy_task_merges_what_arrives_into_its_next_run_and_keeps_order() -> None:
    async def main() -> Recorder:
        recorder = Recorder()
        queues: TaskQueues[int] = TaskQueues(recorder.run, max_waiting=100)
        queues.submit({"a": [1, 2], "b": [10]})
        await settle()
        queues.submit({"a": [3]})
        queues.submit({"a": [4, 5], "b": [11]})
        recorder.gate("b").set()  # b is free: its next run goes while a's first still waits
        await settle()
        assert recorder.runs == [("b", [10]), ("b", [11])]
        recorder.gate("a").set()
        await asyncio.wait_for(queues.idle(), 1)
        return recorder

    recorder = asyncio.run(main())
    assert [r for r in recorder.runs if r[0] == "a"] == [("a", [1, 2]), ("a", [3, 4, 5])]
    assert not recorder.overlapped


def test_room_waits_while_too_many_records_wait() -> None:
    async def main() -> list[str]:
        recorder = Recorder()
        queues: TaskQueues[int] = TaskQueues(recorder.run, max_waiting=3)
        events: list[str] = []
        queues.submit({"a": [1]})
        await settle()  # a's run took [1] and waits at its gate
        queues.submit({"a": [2, 3, 4]})  # 3 waiting: no room

        async def consumer() -> None:
            await queues.room()
            events.append("room")

        waiter = asyncio.ensure_future(consumer())
        await settle()
        events.append("gate")
        recorder.gate("a").set()
        await asyncio.wait_for(waiter, 1)
        await asyncio.wait_for(queues.idle(), 1)
        return events

    assert asyncio.run(main()) == ["gate", "room"]


def test_a_failed_run_stops_every_later_run_and_is_raised_to_the_consumer() -> None:
    async def main() -> tuple[list[tuple[str, list[int]]], BaseException | None]:
        ran: list[tuple[str, list[int]]] = []
        release, fail = asyncio.Event(), asyncio.Event()

        async def run(task: str, records: Sequence[int]) -> None:
            if task == "bad":
                await fail.wait()
                raise RuntimeError("transaction failed")
            await release.wait()
            ran.append((task, list(records)))

        queues: TaskQueues[int] = TaskQueues(run, max_waiting=100)
        queues.submit({"good": [1], "bad": [2]})
        await settle()
        queues.submit({"good": [3]})  # waits behind good's first run
        fail.set()
        await settle()
        release.set()
        await asyncio.wait_for(queues.idle(), 1)
        caught: BaseException | None = None
        try:
            await queues.room()
        except RuntimeError as exc:
            caught = exc
        with pytest.raises(RuntimeError, match="transaction failed"):
            queues.submit({"good": [4]})
        return ran, caught

    ran, caught = asyncio.run(main())
    assert ran == [("good", [1])]  # [3] was dropped: uncommitted, read again by the next owner
    assert isinstance(caught, RuntimeError)


def test_idle_is_set_only_when_no_task_runs_or_waits() -> None:
    async def main() -> list[bool]:
        recorder = Recorder()
        queues: TaskQueues[int] = TaskQueues(recorder.run, max_waiting=100)
        seen = []
        idle = asyncio.ensure_future(queues.idle())
        await settle()
        seen.append(idle.done())  # nothing submitted yet: idle
        queues.submit({"a": [1], "b": [2]})
        later = asyncio.ensure_future(queues.idle())
        recorder.gate("a").set()
        await settle()
        seen.append(later.done())  # b still runs
        seen.append(queues.busy("b") and not queues.busy("a"))
        recorder.gate("b").set()
        await asyncio.wait_for(later, 1)
        seen.append(later.done())
        return seen

    assert asyncio.run(main()) == [True, False, True, True]


def test_a_task_keeping_up_starts_a_unit_at_most_every_pace_and_one_behind_at_once() -> None:
    async def main() -> tuple[list[tuple[list[int], float]], float]:
        runs: list[tuple[list[int], float]] = []
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def run(task: str, records: Sequence[int]) -> None:
            runs.append((list(records), loop.time() - start))

        queues: TaskQueues[int] = TaskQueues(run, max_waiting=100, pace=0.3, full=3)
        queues.submit({"a": [1]})  # the task's first unit: at once
        await settle()
        queues.submit({"a": [2]})  # within the pace: waits ...
        await asyncio.sleep(0.05)
        queues.submit({"a": [3]})  # ... and takes what arrives meanwhile
        await asyncio.wait_for(queues.idle(), 2)
        behind_from = loop.time() - start
        queues.submit({"a": [4, 5, 6]})  # a full unit waiting: behind, so at once
        await asyncio.wait_for(queues.idle(), 2)
        return runs, behind_from

    runs, behind_from = asyncio.run(main())
    assert [records for records, _ in runs] == [[1], [2, 3], [4, 5, 6]]
    assert runs[1][1] >= 0.25  # paced
    assert runs[2][1] - behind_from < 0.2  # not paced
