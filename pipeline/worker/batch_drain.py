"""faust's consumer drain loop, with the batch topics' records handed over a fetch at a time.

See :mod:`pipeline.worker.batch_input` for why. This module is the glue into faust's
``Consumer``: it replaces ``_drain_messages`` (the fetcher's loop around ``getmany``) and
lets a rebalance's ``wait_empty`` wait for the tasks' runs in flight or queued. Records of
other topics are delivered exactly as faust delivers them (a message, a callback, a read
offset).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from faust.transport import consumer as faust_consumer

from pipeline.worker.batch_input import BatchInput, split_fetch

#: The fetcher's wait for records before looping (faust's own value).
FETCH_TIMEOUT_S = 1.0


def batch_input_of(transport: Any) -> BatchInput | None:
    """The :class:`BatchInput` installed on a transport (see :func:`install`), if any."""
    found = getattr(transport, "batch_input", None)
    return found if isinstance(found, BatchInput) else None


def install(app: Any, batch_input: BatchInput) -> None:
    """Route ``batch_input.topics`` of ``app``'s consumer to ``batch_input.handler``; call
    before the app starts (the consumer reads it on every fetch)."""
    app.transport.batch_input = batch_input


class BatchDrain(faust_consumer.Consumer):
    """A faust consumer whose drain loop hands batch topics' fetches to a handler."""

    async def wait_empty(self) -> None:
        batch_input = batch_input_of(self.transport)
        if batch_input is not None:
            await batch_input.queues.idle()
        await super().wait_empty()

    def _handled(self, tps: list[Any]) -> None:
        """Tell faust's stall watch (``verify_event_path``) the partitions moved: it reads
        the stream monitor's inbound times, which only faust's own event path sets, and
        would log a stalled stream after ``stream_processing_timeout``. Offsets committed in
        transactions count as committed (their runs commit them; the thread records only
        its own commits)."""
        now = time.monotonic()
        monitor = self.app.monitor
        if monitor is not None:
            for tp in tps:
                monitor.stream_inbound_time[tp] = now
        if getattr(self, "offsets_in_transactions", False):
            committed_at = getattr(getattr(self, "_thread", None), "tp_last_committed_at", None)
            if committed_at is not None:
                committed_at.update(dict.fromkeys(tps, now))

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - faust's loop
        batch_input = batch_input_of(self.transport)
        if batch_input is None:
            await super()._drain_messages(fetcher)
            return
        consumer_should_stop = cast(Any, self)._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(faust_consumer.CONSUMER_FETCHING)
                await self._drain_once(batch_input)
                self.diag.unset_flag(faust_consumer.CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(faust_consumer.CONSUMER_FETCHING)

    async def _drain_once(self, batch_input: BatchInput) -> None:
        queues = batch_input.queues
        await queues.room()  # (raises the error of a failed run)
        records, active = await self._wait_next_records(FETCH_TIMEOUT_S)
        generation = self.app.consumer_generation_id
        await asyncio.sleep(0)
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            # A rebalance began: what was fetched is read again from the committed offsets
            # (faust's getmany does the same), once the runs in flight have committed theirs.
            await queues.idle()
            try:
                await self.perform_seek()
            except Exception as exc:  # pragma: no cover - a race with the reassignment
                # Meanwhile the rebalance may have taken a partition away (aiokafka: "No
                # current assignment"): its new owner reads it from the committed offsets,
                # and an assignment seeks afresh. faust's getmany treats it the same way.
                self.log.warning(f"exception performing seek when flow not active {exc!r}")
            return

        def accept(tp: Any) -> bool:
            if self.app.consumer_generation_id != generation:
                return False
            return active is None or tp in active or tp in self._buffered_partitions

        read_offset = self._read_offset
        batch, rest = split_fetch(
            records,
            batch_input.topics,
            batch_input.task_of,
            accept=accept,
            read_from=read_offset.get,
        )
        if batch:
            queues.submit(batch)  # processed while the next fetch is taken
            self._handled([tp for tp, found in records.items() if found and accept(tp)])
            for tp, tp_records in records.items():
                if tp.topic in batch_input.topics and tp_records and accept(tp):
                    read_offset[tp] = tp_records[-1].offset + 1
        for tp, tp_records in rest:
            for record in tp_records:
                message = self._to_message(tp, record)
                await cast(Any, self).wait_first(self.callback(message), self.suspend_flow.wait())
                read_offset[tp] = record.offset
