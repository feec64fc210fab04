"""Produce a batch's records as a few Kafka record batches instead of one send each.

faust's ``Topic.send`` and table writes take every record through its producer buffer and
aiokafka's per-message path (a future, a delivery callback and a partitioner call each);
with about 1.5 records written per observation (a changelog record and the outputs) that
path was the largest share of the worker's time (docs/benchmarks.md, "Attribution").
:class:`BatchSender` groups a batch's records by partition and hands each group to an
aiokafka producer as one record batch: one future per partition per batch.
:class:`ProducerSink` sends everything a batch produces that way (the odd unkeyed or large
record one by one) on one producer: faust's own under at-least-once, whose commit flushes it
before committing offsets, or the input partition's transactional producer under
exactly-once (:mod:`pipeline.worker.delivery`). :class:`BatchedChangelog` is a table whose
changelog records wait for that sink instead of going through faust's producer buffer.

>>> by_partition([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")], lambda key: len(key) - 1)
{0: [(b'a', b'1'), (b'b', b'2'), (b'a', b'3')]}
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from typing import Any, Protocol

import structlog
from aiokafka.errors import MessageSizeTooLargeError

log = structlog.get_logger(__name__)

#: A record to produce: no key (any partition) or no value (a tombstone) allowed.
Record = tuple[bytes | None, bytes | None]
KeyedRecord = tuple[bytes, bytes | None]

#: Records at least this large go through the per-message path, where a record the broker
#: refuses is dead-lettered alone instead of failing its whole batch.
LARGE_RECORD_BYTES = 256 * 1024


class BatchingProducer(Protocol):
    """What :class:`BatchSender` and :class:`ProducerSink` need of
    ``aiokafka.AIOKafkaProducer``."""

    def create_batch(self) -> Any: ...

    async def partitions_for(self, topic: str) -> Any: ...

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any: ...

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, **options: Any
    ) -> Any: ...


def by_partition(
    records: Iterable[KeyedRecord], partition_of: Callable[[bytes], int]
) -> dict[int, list[KeyedRecord]]:
    """Records grouped by the partition of their key, each group in the original order."""
    groups: dict[int, list[KeyedRecord]] = {}
    for key, value in records:
        groups.setdefault(partition_of(key), []).append((key, value))
    return groups


def _size(record: Record) -> int:
    return len(record[1] or b"")


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
        self, topic: str, records: Sequence[Record], *, partition: int | None = None
    ) -> list[Record]:
        """Queue ``records`` for ``topic`` (on ``partition``, or the key's partition as
        Kafka's default partitioner picks it). Returns the records left to the caller:
        those of :data:`LARGE_RECORD_BYTES` or more, and those without a key when no
        ``partition`` is given."""
        small: list[KeyedRecord] = []
        left: list[Record] = []
        for record in records:
            key, value = record
            if _size(record) >= LARGE_RECORD_BYTES or (key is None and partition is None):
                left.append(record)
            else:
                small.append((key or b"", value))
        if not small:
            return left
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
        return left

    async def _submit(
        self, producer: BatchingProducer, batch: Any, topic: str, partition: int
    ) -> None:
        future = await producer.send_batch(batch, topic, partition=partition)
        self.batches_sent += 1
        future.add_done_callback(self.check(topic, partition))

    def check(self, topic: str, partition: int | None) -> Callable[[asyncio.Future[Any]], None]:
        """A delivery callback that reports a failed send to ``on_failure``."""

        def check(future: asyncio.Future[Any]) -> None:
            error = None if future.cancelled() else future.exception()
            if error is not None:
                # A warning: ``on_failure`` says what it means at its own level (a failed
                # transaction stops the worker, an error; a fenced producer is a task given
                # to another worker in a rebalance, a warning; pipeline.worker.delivery).
                log.warning(
                    "batch_send_failed", topic=topic, partition=partition, error=repr(error)
                )
                self._on_failure(error)

        return check


class ProducerSink:
    """Everything one producer sends for a batch: keyed records as record batches, the
    rest (unkeyed, large) one by one. A record Kafka refuses as too large is handed back."""

    def __init__(
        self,
        producer: Callable[[], BatchingProducer],
        partition_of: Callable[[str, bytes], int],
        *,
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._producer = producer
        self.batches = BatchSender(producer, partition_of, on_failure=on_failure)

    async def send(
        self, topic: str, records: Sequence[Record], *, partition: int | None = None
    ) -> list[Record]:
        """Queue ``records``; returns those refused with ``MessageSizeTooLargeError``."""
        refused: list[Record] = []
        for key, value in await self.batches.send(topic, records, partition=partition):
            try:
                future = await self._producer().send(
                    topic, value=value, key=key, partition=partition
                )
            except MessageSizeTooLargeError:
                refused.append((key, value))
                continue
            future.add_done_callback(self.batches.check(topic, partition))
        return refused


class BatchedChangelog(MutableMapping[str, Any]):
    """A ``str``-keyed view of a faust table whose writes skip faust's per-record changelog
    send: the value goes into the table's store and the record (``encode``-d as the table's
    serializer would; a tombstone for a delete) waits in :meth:`take_pending` for the
    batch's :class:`ProducerSink`."""

    def __init__(self, table: Any, encode: Callable[[Any], bytes] | None = None) -> None:
        self._table = table
        self._encode = encode
        self._pending: dict[bytes, bytes | None] = {}

    @property
    def changelog_topic(self) -> str:
        name: str = self._table.changelog_topic.get_topic_name()
        return name

    def take_pending(self) -> list[Record]:
        """The records written since the last call, the latest value per key."""
        pending: list[Record] = list(self._pending.items())
        self._pending.clear()
        return pending

    def __getitem__(self, key: str) -> Any:
        return self._table[key.encode()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._table.get(key.encode(), default)

    def __setitem__(self, key: str, value: Any) -> None:
        raw = key.encode()
        self._table.data[raw] = value
        self._pending[raw] = value if self._encode is None else self._encode(value)

    def __delitem__(self, key: str) -> None:
        raw = key.encode()
        del self._table.data[raw]
        self._pending[raw] = None

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key in self._table)

    def __len__(self) -> int:
        return len(self._table)
