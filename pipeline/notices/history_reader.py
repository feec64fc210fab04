"""Read the notices topic (audit trail) from a point in time up to its current end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from pipeline.config.settings import Settings
from pipeline.ops.kafka_security import kafka_python_options


def read_notice_records(
    settings: Settings, *, since: float, progress: Callable[..., None] | None = None
) -> list[dict[str, Any]]:
    """Every record on ``cw.notices`` written at or after ``since`` (epoch seconds)."""
    topic = settings.topics.notices
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        **kafka_python_options(settings),
        isolation_level="read_committed",
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assignment:
            return []
        consumer.assign(assignment)
        ends = consumer.end_offsets(assignment)
        starts = consumer.offsets_for_times({tp: int(since * 1000) for tp in assignment})
        remaining = {}
        for tp in assignment:
            found = starts.get(tp)
            offset = found.offset if found is not None else ends[tp]
            consumer.seek(tp, offset)
            if offset < ends[tp]:
                remaining[tp] = ends[tp]
        records: list[dict[str, Any]] = []
        while remaining:
            for tp, batch in consumer.poll(timeout_ms=1000).items():
                for message in batch:
                    try:
                        records.append(orjson.loads(message.value))
                    except orjson.JSONDecodeError:
                        continue
                    if message.offset + 1 >= remaining.get(tp, 0):
                        remaining.pop(tp, None)
            if progress is not None and len(records) % 10_000 == 0 and records:
                progress(f"read {len(records)} records", err=True)
        return records
    finally:
        consumer.close()
