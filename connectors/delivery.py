"""Delivery off the poll path: a poll hands its result over and returns at once.

With Kafka down, each delivery waits for the producer (``max_block_ms``, flush timeouts) before
spooling; done inline, that wait stretched every poll interval of a snapshot feed by 30-60 s
and left gaps in the evidence. Here results queue for one delivery task (in order); when the
queue is full, the result goes straight to the spool, so a poll never waits for Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from connectors.base import ParseResult
from connectors.producer import ObservationProducer

log = structlog.get_logger(__name__)


class BackgroundDelivery:
    """Queue results for :meth:`ObservationProducer.send_result`, spooling on overflow."""

    def __init__(
        self,
        producer: ObservationProducer,
        *,
        queue_size: int = 64,
        on_outcome: Callable[[bool], None] | None = None,
    ) -> None:
        """``on_outcome(delivered)`` is called after each result: True when Kafka took it,
        False when it was spooled (so a caller can say once that Kafka is unreachable)."""
        self._producer = producer
        self._on_outcome = on_outcome
        self._queue: asyncio.Queue[ParseResult] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self.spooled_directly = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._deliver())

    async def submit(self, result: ParseResult) -> None:
        """Hand ``result`` over without waiting for Kafka."""
        try:
            self._queue.put_nowait(result)
        except asyncio.QueueFull:
            records = [record for record, _source in self._producer.records(result)]
            self.spooled_directly += 1
            await asyncio.to_thread(self._producer.spool.append, records)
            log.warning("delivery_backlog_spooled", records=len(records))
            self._tell(delivered=False)

    async def _deliver(self) -> None:
        while True:
            result = await self._queue.get()
            delivered = False
            try:
                delivered = await asyncio.to_thread(self._producer.send_result, result)
            except Exception:  # send_result spools failures itself; never stop delivering
                log.exception("delivery_failed")
            finally:
                self._tell(delivered=delivered)
                self._queue.task_done()

    def _tell(self, *, delivered: bool) -> None:
        if self._on_outcome is not None:
            self._on_outcome(delivered)

    async def close(self) -> None:
        """Deliver (or spool) what is queued, then stop (callers bound it with a timeout)."""
        await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
