"""At-least-once delivery commits a unit's offsets only after everything sent before is
acknowledged, and never moves an offset back."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiokafka.structs import TopicPartition

from pipeline.worker.batch_send import ProducerSink
from pipeline.worker.delivery import AtLeastOnce

TP0 = TopicPartition("obs", 0)
TP1 = TopicPartition("obs", 1)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[TopicPartition, int]]] = []

    async def flush(self) -> None:
        self.calls.append(("flush", {}))

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.calls.append(("commit", dict(offsets)))


def delivery(recorder: Recorder) -> AtLeastOnce:
    sink = ProducerSink(lambda: None, lambda topic, key: 0, on_failure=lambda e: None)  # type: ignore[arg-type,return-value]
    return AtLeastOnce(sink, flush=recorder.flush, commit=recorder.commit)


def test_offsets_are_committed_after_a_flush_and_only_once() -> None:
    recorder = Recorder()
    at_least_once = delivery(recorder)

    async def run() -> None:
        async with at_least_once.unit("process-0") as unit:
            unit.consumed("obs", 0, 4)
            unit.consumed("obs", 0, 9)
        async with at_least_once.unit("process-1") as unit:
            unit.consumed("obs", 1, 2)
        assert recorder.calls == []  # nothing committed until asked
        await at_least_once.commit_consumed()
        await at_least_once.commit_consumed()  # nothing new: no second commit

    asyncio.run(run())
    assert recorder.calls == [("flush", {}), ("commit", {TP0: 10, TP1: 3})]
    assert dict(at_least_once.committed) == {TP0: 10, TP1: 3}


def test_giving_partitions_up_commits_what_was_done() -> None:
    recorder = Recorder()
    at_least_once = delivery(recorder)

    async def run() -> None:
        async with at_least_once.unit("process-0") as unit:
            unit.consumed("obs", 0, 0)
        await at_least_once.release(["process-0"])

    asyncio.run(run())
    assert recorder.calls == [("flush", {}), ("commit", {TP0: 1})]
