"""Whether the workers know a service: read its record in their state changelog.

Workers keep each service's state in a faust table backed by a compacted changelog topic,
``<CW_APP_ID>-service-state-changelog``, keyed by the raw ``service_id`` and partitioned by
Kafka's default (murmur2) partitioner, like the observations. A service with no record there
has never sent evidence the workers accepted, so there is nothing to act on (for example,
no incident to acknowledge).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from pipeline.config.settings import SERVICE_STATE_TABLE, Settings
from pipeline.ops.kafka_security import kafka_python_options


class WorkerStateMissing(LookupError):
    """No changelog topic at all: no worker of this app id has ever run on this Kafka."""


def state_changelog(settings: Settings) -> str:
    """The changelog topic of the workers' per-service table (faust's naming)."""
    return f"{settings.app_id}-{SERVICE_STATE_TABLE}-changelog"


def key_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner: the partition a keyed record goes to.

    >>> key_partition(b"energy.grid-a.feeder-1", 6)
    0
    """
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def stored_service(
    settings: Settings, service_id: str, *, timeout_s: float = 30.0
) -> dict[str, Any] | None:
    """The workers' latest stored state of ``service_id``, or None if they have none.

    Reads the key's own partition first (where the workers write it) and, only when it is not
    there, the others. Raises :class:`WorkerStateMissing` when the topic does not exist.
    """
    topic = state_changelog(settings)
    key = service_id.encode()
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        client_id="continuity-cli",
        request_timeout_ms=15_000,
        **kafka_python_options(settings),
        isolation_level="read_committed",
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise WorkerStateMissing(topic)
        own = key_partition(key, len(partitions))
        order = [own, *sorted(p for p in partitions if p != own)]
        deadline = time.monotonic() + timeout_s
        for partition in order:
            found, value = _latest(consumer, TopicPartition(topic, partition), key, deadline)
            if found:
                return orjson.loads(value) if value is not None else None
        return None
    finally:
        consumer.close()


def _latest(
    consumer: KafkaConsumer, tp: TopicPartition, key: bytes, deadline: float
) -> tuple[bool, bytes | None]:
    """(seen, last value) of ``key`` in one partition, read from its start to its end."""
    consumer.assign([tp])
    end = consumer.end_offsets([tp])[tp]
    consumer.seek_to_beginning(tp)
    seen, value = False, None
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"reading {tp.topic}[{tp.partition}] took too long")
        for records in consumer.poll(timeout_ms=1000).values():
            for record in records:
                if record.key == key:
                    seen, value = True, record.value
    return seen, value


def known_service_or_error(settings: Settings, service_id: str) -> str | None:
    """None when the workers know ``service_id``; else a sentence saying why not."""
    try:
        stored = stored_service(settings, service_id)
    except WorkerStateMissing as exc:
        return (
            f"no worker state on Kafka at {settings.kafka_bootstrap} (topic {exc} does not "
            f"exist): start a worker with CW_APP_ID={settings.app_id}, or set CW_APP_ID and "
            "CW_KAFKA_BOOTSTRAP to the running workers'"
        )
    if stored is None:
        return (
            f"unknown service {service_id!r}: the workers ({settings.app_id} on "
            f"{settings.kafka_bootstrap}) have no state for it; check the id (it must be a "
            "service_id that has sent observations)"
        )
    return None
