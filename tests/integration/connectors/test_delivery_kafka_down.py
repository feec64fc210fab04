"""Connectors keep polling while Kafka is down: a poll never waits for the producer."""

from __future__ import annotations

import asyncio
import time

import pytest

from connectors.base import ParseResult
from connectors.delivery import BackgroundDelivery
from tests.support.observations import make_obs

from .conftest import Unreachable

pytestmark = pytest.mark.integration


def test_submitting_never_waits_for_a_dead_broker_and_everything_is_spooled(
    unreachable: Unreachable,
) -> None:
    """Issue 17: each poll blocked 30-60 s on the producer while Kafka was down."""
    producer = unreachable.producer
    assert producer is not None
    results = [
        ParseResult(observations=[make_obs(f"svc-{i}", at=time.time(), event_id=f"e{i}")])
        for i in range(20)
    ]

    async def main() -> float:
        delivery = BackgroundDelivery(producer, queue_size=2)
        delivery.start()
        waited = 0.0
        for result in results:  # a feed polled every 50 ms
            started = time.monotonic()
            await delivery.submit(result)
            waited += time.monotonic() - started
            await asyncio.sleep(0.05)
        async with asyncio.timeout(120):
            await delivery.close()
        return waited

    waited = asyncio.run(main())
    # Inline delivery waited at least max_block_ms (1 s) per poll: 20 s or more in all.
    assert waited < 3.0, f"20 polls waited {waited:.1f} s for Kafka"
    assert producer.spool.pending() == len(results)
