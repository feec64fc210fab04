"""BatchSender against the real broker: every record arrives once, on its key's partition
(as Kafka's default partitioner places it), in order; oversized records are handed back."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer, TopicPartition

from pipeline.config.settings import Settings
from pipeline.worker.batch_send import LARGE_RECORD_BYTES, BatchSender, Record


def _read_all(bootstrap: str, topic: str, partitions: int) -> dict[int, list[tuple[bytes, bytes]]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        assignment = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        ends = consumer.end_offsets(assignment)
        got: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(partitions)}
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for tp, batch in consumer.poll(timeout_ms=500).items():
                got[tp.partition].extend((r.key, r.value) for r in batch)
        return got
    finally:
        consumer.close()


@pytest.mark.integration
def test_records_land_once_in_order_on_their_key_partition(settings: Settings) -> None:
    topic = settings.topics.status  # created with settings.partitions partitions
    failures: list[BaseException] = []
    # More than one producer batch per partition (a 16 KiB batch holds ~30 of these).
    records = [(f"svc-{i % 50}".encode(), f"{i:06d}".encode() * 100) for i in range(600)]
    large = (b"big", b"x" * LARGE_RECORD_BYTES)

    async def produce() -> tuple[list[Record], int, dict[bytes, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            sender = BatchSender(
                lambda: producer,
                lambda t, key: producer._partition(t, None, None, None, key, None),
                on_failure=failures.append,
            )
            left = await sender.send(topic, [*records[:300], large, *records[300:]])
            await producer.flush()
            placed = {
                key: producer._partition(topic, None, None, None, key, None)
                for key, _value in records
            }
            return left, sender.batches_sent, placed
        finally:
            await producer.stop()

    left, batches_sent, placed = asyncio.run(produce())
    assert left == [large]
    assert failures == []
    assert len(records) / 30 <= batches_sent < len(records)

    got = _read_all(settings.kafka_bootstrap, topic, settings.partitions)
    for partition, received in got.items():
        expected = [r for r in records if placed[r[0]] == partition]
        assert received == expected, f"partition {partition}"
