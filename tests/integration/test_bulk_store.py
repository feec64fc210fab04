"""The bulk-loading table store reads a real changelog topic as faust's recovery would."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from faust.types import TP
from kafka import KafkaProducer

from pipeline.config.settings import Settings
from pipeline.ops.topics import ensure_topics
from pipeline.worker.bulk_store import BulkLoadStore
from pipeline.worker.faust_app import pipeline_app
from pipeline.worker.read_committed import last_visible_ends

pytestmark = pytest.mark.integration


def _table(settings: Settings, name: str, **options: Any) -> Any:
    app = pipeline_app(settings, session_timeout=10.0)
    return app.Table(name, default=None, key_type=bytes, partitions=2, **options)


def _produce(
    settings: Settings, topic: str, records: list[tuple[int, bytes, bytes | None]]
) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    for partition, key, value in records:
        producer.send(topic, key=key, value=value, partition=partition)
    producer.flush()
    producer.close()


def test_bulk_load_applies_latest_values_and_tombstones(settings: Settings) -> None:
    table = _table(settings, "states", value_type=bytes)
    store = table.data
    assert isinstance(store, BulkLoadStore)
    topic = table.changelog_topic.get_topic_name()
    ensure_topics(settings.kafka_bootstrap, [topic], partitions=2)
    _produce(
        settings,
        topic,
        [
            (0, b"a", b"a1"),
            (0, b"b", b"b1"),
            (1, b"c", b"c1"),
            (0, b"a", b"a2"),  # a later value wins
            (0, b"b", None),  # a tombstone deletes
            (1, b"d", b"d1"),
        ],
    )
    store.data[b"stale"] = b"x"  # a leftover of an earlier ownership of partition 1
    store._key_partition[b"stale"] = 1

    async def load() -> tuple[dict[TP, int], dict[TP, int]]:
        tps = {TP(topic, 0), TP(topic, 1)}
        store._drop({0, 1})
        # One consumer, as in a rebalance: end offsets, last visible records, the read.
        consumer = store._consumer()
        ends = await store._end_offsets(consumer, tps)
        assert ends is not None
        visible = await last_visible_ends(consumer, ends)
        await store._load(consumer, ends)
        return ends, visible

    ends, visible = asyncio.run(load())
    assert ends == {TP(topic, 0): 4, TP(topic, 1): 2}
    assert visible == ends  # written without transactions: no markers after the last record
    assert dict(store.data) == {b"a": b"a2", b"c": b"c1", b"d": b"d1"}
    assert store._key_partition == {b"a": 0, b"c": 1, b"d": 1}


def test_bulk_load_keeps_values_faust_applied_meanwhile_and_decodes_json(
    settings: Settings,
) -> None:
    table = _table(settings, "refs")  # JSON values, as the ledger's tables
    store = table.data
    topic = table.changelog_topic.get_topic_name()
    ensure_topics(settings.kafka_bootstrap, [topic], partitions=2)
    _produce(
        settings,
        topic,
        [(0, b"s1", orjson.dumps({"v": 1})), (0, b"s2", orjson.dumps({"v": 1}))],
    )
    # faust's recovery wrote s2 from a record past the bulk read's end while it ran.
    store.data[b"s2"] = {"v": 2}
    store._newer.add(b"s2")

    async def load() -> None:
        consumer = store._consumer()
        ends = await store._end_offsets(consumer, {TP(topic, 0)})
        assert ends is not None
        await store._load(consumer, ends)

    asyncio.run(load())
    assert dict(store.data) == {b"s1": {"v": 1}, b"s2": {"v": 2}}
