"""The silence check's unit takes every task's lock side by side, and none if cancelled."""

from __future__ import annotations

import asyncio

from pipeline.worker.delivery import _acquire_all


def test_it_waits_for_the_busiest_lock_while_holding_the_free_ones() -> None:
    async def main() -> tuple[bool, bool, bool]:
        free, busy = asyncio.Lock(), asyncio.Lock()
        await busy.acquire()
        taking = asyncio.ensure_future(_acquire_all([free, busy]))
        await asyncio.sleep(0.01)
        waiting = not taking.done() and free.locked()
        busy.release()
        await asyncio.wait_for(taking, 1)
        return waiting, free.locked(), busy.locked()

    assert asyncio.run(main()) == (True, True, True)


def test_cancelled_it_holds_none_of_the_locks() -> None:
    async def main() -> tuple[bool, bool]:
        free, busy = asyncio.Lock(), asyncio.Lock()
        await busy.acquire()
        taking = asyncio.ensure_future(_acquire_all([free, busy]))
        await asyncio.sleep(0.01)
        taking.cancel()
        await asyncio.gather(taking, return_exceptions=True)
        busy.release()
        await asyncio.sleep(0.01)
        return free.locked(), busy.locked()

    assert asyncio.run(main()) == (False, False)
