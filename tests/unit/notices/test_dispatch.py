"""The dispatcher's bounds: a full queue is refused at once (recorded, dead-lettered), the
same notice is never queued twice, and a lane that blocks holds up no other lane."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.common import Delivery
from pipeline.notices.dispatch import Attempt, Dispatcher, Lane
from pipeline.notices.notice import Notice
from pipeline.notices.policy import make_test_notice
from pipeline.notices.subscriptions import Subscriber


class GatedSender:
    """A channel whose peer answers only when the test opens the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.sent: list[str] = []

    async def send(self, notice: Notice) -> str:
        await self.gate.wait()
        self.sent.append(notice.notice_id)
        return "ok"

    async def close(self) -> None:
        return None


def notices(subscriber: str, n: int) -> list[Notice]:
    base = make_test_notice(Subscriber(subscriber, (AtomConfig(Delivery("atom")),)), 0.0)
    return [replace(base, notice_id=f"n-{subscriber}-{i}") for i in range(n)]


def test_full_queue_is_refused_and_recorded_and_other_lanes_flow() -> None:
    async def run() -> tuple[list[Attempt], GatedSender, GatedSender, list[bool]]:
        blocked, free = GatedSender(), GatedSender()
        free.gate.set()
        attempts: list[Attempt] = []
        finished: list[str] = []

        async def record(attempt: Attempt) -> None:
            attempts.append(attempt)

        async def done(_s: str, _c: str, notice_id: str) -> None:
            finished.append(notice_id)

        dispatcher = Dispatcher(
            [
                Lane("slow", "atom", Delivery("atom", timeout_s=60), blocked),
                Lane("fast", "atom", Delivery("atom", timeout_s=60), free),
            ],
            record,
            done,
            queue_size=2,
        )
        dispatcher.start()
        accepted = []
        for notice in notices("slow", 4):
            accepted.append(dispatcher.submit(notice, "atom"))
            await asyncio.sleep(0.01)  # let the lane take the first one in flight
        assert dispatcher.submit(notices("slow", 1)[0], "atom")  # already in flight: no-op
        for notice in notices("fast", 3):
            assert dispatcher.submit(notice, "atom")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert len(free.sent) == 3  # not behind the blocked lane
        blocked.gate.set()
        await asyncio.sleep(0.1)
        await dispatcher.stop()
        return attempts, blocked, free, accepted

    attempts, blocked, _free, accepted = asyncio.run(run())
    assert accepted == [True, True, True, False]
    assert blocked.sent == ["n-slow-0", "n-slow-1", "n-slow-2"]
    refused = [(a.notice_id, a.result) for a in attempts if a.result != "delivered"]
    assert refused == [("n-slow-3", "queue_full")]
