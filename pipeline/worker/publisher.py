"""What a unit of work hands to Kafka: its tables' changelog records, outputs and ledger records.

One place decides what happens to a record Kafka will not take: a changelog record too large
stops the unit (its state could not be recovered), an output too large is dead-lettered with
the reason instead (an output must not stop the stream), a ledger record too large is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import structlog
from aiokafka.errors import MessageSizeTooLargeError

from pipeline.core.deadletter import dead_letter_record
from pipeline.worker.batch_send import BatchedChangelog
from pipeline.worker.delivery import Unit
from pipeline.worker.processor import Outputs

log = structlog.get_logger(__name__)

#: The ledger topic's one partition (see pipeline.worker.ledger_records).
LEDGER_PARTITION = 0


class Publisher:
    """Sends a unit's records: ``await publisher(unit, outputs, tables)``."""

    def __init__(
        self,
        *,
        outputs: Mapping[str, str],
        deadletter: str,
        ledger: str,
        max_request_size: int,
        clock: Callable[[], float],
    ) -> None:
        """``outputs``: the topic of each :class:`Outputs` list sent as it is (status,
        incidents, anomalies, indicators, deadletter); ledger records go to ``ledger``."""
        self._outputs = dict(outputs)
        self._deadletter = deadletter
        self._ledger = ledger
        self._max_request_size = max_request_size
        self._clock = clock

    async def __call__(
        self, unit: Unit, outputs: Outputs, tables: Sequence[BatchedChangelog]
    ) -> None:
        # Taken before the first await: the records of exactly this unit's writes.
        changelogs = [(table.changelog_topic, table.take_pending()) for table in tables]
        for changelog, records in changelogs:
            if await unit.sink.send(changelog, records):
                raise MessageSizeTooLargeError(f"a {changelog} record is too large for Kafka")
        for name, topic in self._outputs.items():
            for _key, value in await unit.sink.send(topic, getattr(outputs, name)):
                log.error("output_too_large", topic=topic, size=len(value or b""))
                note = dead_letter_record(
                    value or b"",
                    reason="output_too_large",
                    field=None,
                    detail=f"over the {self._max_request_size} bytes Kafka takes",
                    topic=topic,
                    partition=None,
                    offset=None,
                    at=self._clock(),
                )
                await unit.sink.send(self._deadletter, [(None, note)])
        ledger_records = [(b"ledger", value) for _key, value in outputs.ledger]
        if await unit.sink.send(self._ledger, ledger_records, partition=LEDGER_PARTITION):
            log.error("ledger_record_too_large", topic=self._ledger)
