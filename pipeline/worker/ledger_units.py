"""The ledger task's units: ledger records applied in order, and the indicator roll-up.

The ledger's one partition is one task (``ledger-0``, see pipeline.worker.delivery): its
records and its roll-ups are units of that task, each one transaction with the ledger
tables' changelog records, so they commit in the order they changed the tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import orjson
import structlog

from pipeline.metrics.units import UnitMetrics
from pipeline.worker.batch_input import InputRecord, chunks
from pipeline.worker.batch_send import BatchedChangelog
from pipeline.worker.delivery import Delivery, TaskGivenUp, Unit
from pipeline.worker.ledger_processor import LedgerProcessor
from pipeline.worker.processor import Outputs

log = structlog.get_logger(__name__)

#: The task of the ledger's one partition.
LEDGER_TASK = "ledger-0"

Publish = Callable[[Unit, Outputs, Sequence[BatchedChangelog]], Awaitable[None]]


def _extend(outputs: Outputs, more: Outputs) -> None:
    for name in outputs.__slots__:
        getattr(outputs, name).extend(getattr(more, name))


class LedgerUnits:
    """Runs the ledger task's units on ``delivery``, publishing with ``publish``."""

    def __init__(
        self,
        ledger: LedgerProcessor,
        *,
        services: BatchedChangelog,
        incidents: BatchedChangelog,
        state: BatchedChangelog,
        delivery: Delivery,
        publish: Publish,
        units: UnitMetrics,
        batch_max: int,
    ) -> None:
        self._ledger = ledger
        self._services, self._incidents, self._state = services, incidents, state
        self._tables = [services, incidents, state]
        self._delivery = delivery
        self._publish = publish
        self._units = units
        self._batch_max = batch_max

    async def keep(self, records: Sequence[InputRecord]) -> None:
        """Apply ledger records in units of at most ``batch_max``; stop when the task was
        given up (its new owner reads the rest again)."""
        for chunk in chunks(records, self._batch_max):
            try:
                await self._keep_unit(chunk)
            except TaskGivenUp:
                return

    async def _keep_unit(self, records: Sequence[InputRecord]) -> None:
        ledger = self._ledger
        async with self._delivery.unit(LEDGER_TASK) as unit:
            outputs = Outputs()
            for topic, partition, offset, value in records:
                unit.consumed(topic, partition, offset)
                try:
                    record = orjson.loads(value or b"")
                except orjson.JSONDecodeError:
                    log.warning("ledger_record_malformed", offset=offset)
                    continue
                _extend(
                    outputs, ledger.handle(record, self._services, self._incidents, self._state)
                )
            ledger.flush(self._state)
            await self._publish(unit, outputs, self._tables)
        self._units.committed("ledger", len(records))

    async def roll_up(self) -> None:
        """One roll-up of every indicator, as a unit of the ledger task (nothing if the task
        was given up meanwhile)."""
        ledger = self._ledger
        try:
            async with self._delivery.unit(LEDGER_TASK) as unit:
                # Computed in a thread from a snapshot (the ledger task's lock keeps its
                # tables still): a roll-up takes up to ≈ 0.5 s of CPU, which would hold
                # every partition's units back if it ran on the event loop.
                done = await asyncio.get_running_loop().run_in_executor(
                    None,
                    ledger.compute_rollup,
                    list(self._services.values()),
                    list(self._incidents.values()),
                )
                await self._publish(unit, ledger.apply_rollup(done, self._incidents), self._tables)
        except TaskGivenUp:  # fenced by the ledger's next owner
            return
        self._units.committed("rollup")
