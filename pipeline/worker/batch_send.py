"""Produce a batch's records as a few Kafka record batches instead of one send each.

faust's ``Topic.send`` and table writes take every record through its producer buffer and
aiokafka's per-message path (a future, a delivery callback and a partitioner call each);
with about 1.5 records written per observation (a changelog record and the outputs) that
path was the largest share of the worker's time (docs/benchmarks.md, "Attribution").
:class:`BatchSender` groups a batch's records by partition and hands each group to the
same aiokafka producer as one record batch: one future per partition per batch. faust's
commit flushes that producer before committing offsets, so the records are durable before
the observations that caused them are committed, as before.

>>> by_partition([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")], lambda key: len(key) - 1)
{0: [(b'a', b'1'), (b'b', b'2'), (b'a', b'3')]}
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)

KeyedRecord = tuple[bytes, bytes]

#: Records at least this large go through the caller's per-message path, where a record
#: the broker refuses is dead-lettered alone instead of failing its whole batch.
LARGE_RECORD_BYTES = 256 * 1024


class BatchingProducer(Protocol):
    """What :class:`BatchSender` needs of ``aiokafka.AIOKafkaProducer``."""

    def create_batch(self) -> Any: ...

    async def partitions_for(self, topic: str) -> Any: ...

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any: ...


def by_partition(
    records: Iterable[KeyedRecord], partition_of: Callable[[bytes], int]
) -> dict[int, list[KeyedRecord]]:
    """Records grouped by the partition of their key, each group in the original order."""
    groups: dict[int, list[KeyedRecord]] = {}
    for key, value in records:
        groups.setdefault(partition_of(key), []).append((key, value))
    return groups


class BatchSender:
    """Sends keyed records to a topic, one aiokafka record batch per partition (or more
    when a group outgrows the producer's batch size)."""

    def __init__(
        self,
        producer: Callable[[], BatchingProducer],
        partition_of: Callable[[str, bytes], int],
        *,
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._producer = producer
        self._partition_of = partition_of
        # A batch the broker finally refused must stop the worker before its offsets are
        # committed (faust's own producer buffer crashes the worker the same way).
        self._on_failure = on_failure
        self.batches_sent = 0

    async def send(
        self, topic: str, records: Sequence[KeyedRecord], *, partition: int | None = None
    ) -> list[KeyedRecord]:
        """Queue ``records`` for ``topic`` (on ``partition``, or the key's partition as
        Kafka's default partitioner picks it). Returns the records left to the caller:
        those of :data:`LARGE_RECORD_BYTES` or more."""
        small = [r for r in records if len(r[1]) < LARGE_RECORD_BYTES]
        large = [r for r in records if len(r[1]) >= LARGE_RECORD_BYTES]
        if not small:
            return large
        producer = self._producer()
        if partition is None:
            await producer.partitions_for(topic)  # the partitioner needs the topic's metadata
            groups = by_partition(small, lambda key: self._partition_of(topic, key))
        else:
            groups = {partition: small}
        for number, group in groups.items():
            batch = producer.create_batch()
            for key, value in group:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full
                    await self._submit(producer, batch, topic, number)
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            await self._submit(producer, batch, topic, number)
        return large

    async def _submit(
        self, producer: BatchingProducer, batch: Any, topic: str, partition: int
    ) -> None:
        future = await producer.send_batch(batch, topic, partition=partition)
        self.batches_sent += 1
        future.add_done_callback(self._check(topic, partition))

    def _check(self, topic: str, partition: int) -> Callable[[asyncio.Future[Any]], None]:
        def check(future: asyncio.Future[Any]) -> None:
            error = None if future.cancelled() else future.exception()
            if error is not None:
                log.error("batch_send_failed", topic=topic, partition=partition, error=repr(error))
                self._on_failure(error)

        return check


class BatchedChangelog(MutableMapping[str, Any]):
    """A ``str``-keyed view of a faust table whose writes skip faust's per-record changelog
    send: the value goes into the table's store and the record waits in :meth:`take_pending`
    for one :meth:`BatchSender.send` per batch. Deletes keep faust's path (tombstones)."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._pending: dict[bytes, bytes] = {}

    @property
    def changelog_topic(self) -> str:
        name: str = self._table.changelog_topic.get_topic_name()
        return name

    def take_pending(self) -> list[KeyedRecord]:
        """The records written since the last call, the latest value per key."""
        pending = list(self._pending.items())
        self._pending.clear()
        return pending

    def send_through(self, records: Iterable[KeyedRecord]) -> None:
        """Write records (that :meth:`BatchSender.send` handed back) the faust way."""
        for key, value in records:
            self._table[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._table[key.encode()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._table.get(key.encode(), default)

    def __setitem__(self, key: str, value: Any) -> None:
        raw = key.encode()
        self._table.data[raw] = value
        self._pending[raw] = value

    def __delitem__(self, key: str) -> None:
        raw = key.encode()
        self._pending.pop(raw, None)
        del self._table[raw]

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key in self._table)

    def __len__(self) -> int:
        return len(self._table)
