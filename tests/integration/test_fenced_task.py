"""A worker whose task another worker took over (its producer fenced) gives that task up and
goes on with its others, instead of stopping; the fenced unit's records are never seen by a
read-committed reader (issue 13: a joining worker was fenced on the ledger task and exited)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from pipeline.config.settings import Settings
from pipeline.worker.delivery import ExactlyOnce, TaskGivenUp
from tests.support.stack import read_to_end

pytestmark = pytest.mark.integration


def delivery(settings: Settings, failures: list[BaseException]) -> ExactlyOnce:
    def new_producer(transactional_id: str) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            transactional_id=transactional_id,
            retry_backoff_ms=5,
        )

    return ExactlyOnce(
        app_id=settings.app_id,
        new_producer=new_producer,
        partition_of=lambda topic, key: 0,
        on_failure=failures.append,
    )


async def fenced_then_other_task(settings: Settings) -> dict[str, Any]:
    failures: list[BaseException] = []
    old, new = delivery(settings, failures), delivery(settings, failures)
    topic = settings.topics.status
    await old.acquire(["process-0", "process-1"])
    outcome: dict[str, Any] = {}
    try:

        async def fenced_unit() -> None:
            async with old.unit("process-0") as unit:
                await unit.sink.send(topic, [(b"svc", b'{"from": "old"}')], partition=0)
                await new.acquire(["process-0"])  # the task moved: the old producer is fenced

        with pytest.raises(TaskGivenUp):
            await fenced_unit()
        outcome["owns_fenced"] = old.owns("process-0")
        with pytest.raises(TaskGivenUp):  # later units of it do not run here
            async with old.unit("process-0"):
                pass
        async with old.unit("process-1") as unit:  # its other tasks go on
            await unit.sink.send(topic, [(b"svc", b'{"from": "old, other task"}')], partition=1)
        async with new.unit("process-0") as unit:
            await unit.sink.send(topic, [(b"svc", b'{"from": "new"}')], partition=0)
    finally:
        await old.close()
        await new.close()
    outcome["failures"] = failures
    return outcome


def test_a_fenced_task_is_given_up_and_the_worker_goes_on(settings: Settings) -> None:
    outcome = asyncio.run(fenced_then_other_task(settings))
    assert outcome == {"owns_fenced": False, "failures": []}
    seen = sorted(record["from"] for record in read_to_end(settings, settings.topics.status))
    assert seen == ["new", "old, other task"]  # the fenced unit's record was aborted
