"""Delivery: a bounded queue and one worker per (subscriber, channel), retries with backoff.

A slow or failing endpoint only fills its own queue: every other subscriber and channel
keeps its own worker, and :meth:`Dispatcher.submit` never blocks the stream (a full queue
is recorded as ``queue_full`` and the notice dead-lettered for that channel). Each attempt
is reported through ``record`` (channel, result, attempt number, time, detail), and
``finished`` is called once a notice is delivered or given up on, so the caller can clear
its outbox.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from pipeline.notices.channels.base import DeliveryError, Sender
from pipeline.notices.channels.common import Delivery
from pipeline.notices.notice import Notice

log = structlog.get_logger(__name__)

DEFAULT_QUEUE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt, as recorded to the notices topic and InfluxDB."""

    notice_id: str
    subscriber_id: str
    channel: str
    channel_type: str
    attempt: int
    result: str  # delivered | retry | failed | dead_letter | queue_full
    at: float
    duration_s: float
    detail: str
    latency_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": "delivery",
            "notice_id": self.notice_id,
            "subscriber_id": self.subscriber_id,
            "channel": self.channel,
            "channel_type": self.channel_type,
            "attempt": self.attempt,
            "result": self.result,
            "at": self.at,
            "duration_s": self.duration_s,
            "detail": self.detail,
            "latency_s": self.latency_s,
        }


@dataclass(frozen=True, slots=True)
class Lane:
    """One subscriber's channel: its sender and retry schedule."""

    subscriber_id: str
    channel_type: str
    delivery: Delivery
    sender: Sender


Record = Callable[[Attempt], Awaitable[None]]
Finished = Callable[[str, str, str], Awaitable[None]]  # subscriber, channel, notice id


class Dispatcher:
    def __init__(
        self,
        lanes: list[Lane],
        record: Record,
        finished: Finished,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        on_depth: Callable[[str, int], None] | None = None,
    ) -> None:
        self.lanes = {(lane.subscriber_id, lane.delivery.name): lane for lane in lanes}
        self.record = record
        self.finished = finished
        self.clock = clock
        self.rng = rng or random.Random()
        self.queue_size = queue_size
        self.on_depth = on_depth
        self._queues: dict[tuple[str, str], asyncio.Queue[Notice]] = {
            key: asyncio.Queue(queue_size) for key in self.lanes
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[tuple[str, str, str]] = set()

    def start(self) -> None:
        """Start one worker per lane (idempotent; :meth:`submit` starts them if needed)."""
        if self._tasks:
            return
        for key, queue in self._queues.items():
            self._tasks.append(asyncio.create_task(self._work(key, queue), name=f"notify:{key}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for lane in self.lanes.values():
            await lane.sender.close()

    def inflight(self, subscriber_id: str, channel: str, notice_id: str) -> bool:
        return (subscriber_id, channel, notice_id) in self._inflight

    def submit(self, notice: Notice, channel: str) -> bool:
        """Queue ``notice`` on its subscriber's ``channel`` without waiting; False if full."""
        key = (notice.subscriber_id, channel)
        lane = self.lanes.get(key)
        if lane is None:
            log.warning("notice_channel_unknown", subscriber=key[0], channel=channel)
            return False
        marker = (notice.subscriber_id, channel, notice.notice_id)
        if marker in self._inflight:
            return True
        self.start()  # a recovered outbox can be handed over before the app's tasks run
        queue = self._queues[key]
        try:
            queue.put_nowait(notice)
        except asyncio.QueueFull:
            asyncio.get_running_loop().create_task(self._give_up(lane, notice, 0, "queue_full"))
            return False
        self._inflight.add(marker)
        self._depth(notice.subscriber_id)
        return True

    async def _work(self, key: tuple[str, str], queue: asyncio.Queue[Notice]) -> None:
        lane = self.lanes[key]
        while True:
            notice = await queue.get()
            try:
                await self._deliver(lane, notice)
            except Exception:  # a bug here must not stop this lane for good
                log.exception("notice_delivery_crashed", subscriber=key[0], channel=key[1])
            finally:
                self._inflight.discard((key[0], key[1], notice.notice_id))
                self._depth(key[0])
                queue.task_done()

    async def _deliver(self, lane: Lane, notice: Notice) -> None:
        delivery = lane.delivery
        newest = max((item.at for item in notice.items), default=notice.created_at)
        for attempt in range(1, delivery.max_attempts + 1):
            started = self.clock()
            try:
                detail = await asyncio.wait_for(
                    lane.sender.send(notice), timeout=delivery.timeout_s + 1.0
                )
            except (DeliveryError, TimeoutError) as exc:
                detail = exc.detail if isinstance(exc, DeliveryError) else "timed out"
                retryable = not isinstance(exc, DeliveryError) or exc.retryable
                last = attempt == delivery.max_attempts or not retryable
                result = "failed" if last else "retry"
                await self._record(lane, notice, attempt, result, started, detail)
                if last:
                    await self._give_up(lane, notice, attempt, detail)
                    return
                await asyncio.sleep(delivery.delay(attempt, self.rng))
                continue
            now = self.clock()
            await self._record(
                lane, notice, attempt, "delivered", started, detail, latency=now - newest
            )
            await self.finished(notice.subscriber_id, delivery.name, notice.notice_id)
            return

    async def _give_up(self, lane: Lane, notice: Notice, attempt: int, detail: str) -> None:
        result = "queue_full" if attempt == 0 else "dead_letter"
        await self._record(lane, notice, attempt, result, self.clock(), detail)
        await self.finished(notice.subscriber_id, lane.delivery.name, notice.notice_id)

    async def _record(
        self,
        lane: Lane,
        notice: Notice,
        attempt: int,
        result: str,
        started: float,
        detail: str,
        latency: float | None = None,
    ) -> None:
        now = self.clock()
        entry = Attempt(
            notice.notice_id,
            notice.subscriber_id,
            lane.delivery.name,
            lane.channel_type,
            attempt,
            result,
            now,
            max(0.0, now - started),
            detail,
            latency,
        )
        log.info(
            "notice_delivery",
            notice_id=entry.notice_id,
            subscriber=entry.subscriber_id,
            channel=entry.channel,
            attempt=attempt,
            result=result,
            detail=detail,
        )
        try:
            await self.record(entry)
        except Exception:
            log.exception("notice_delivery_not_recorded", notice_id=notice.notice_id)

    def _depth(self, subscriber_id: str) -> None:
        if self.on_depth is not None:
            depth = sum(q.qsize() for (s, _c), q in self._queues.items() if s == subscriber_id)
            self.on_depth(subscriber_id, depth)
