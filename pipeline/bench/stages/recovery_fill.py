"""The recovery stage's bulk fill: the changelogs a worker holding N services leaves behind.

Ingesting a million first sightings through one worker takes tens of minutes (≈ 650 to 1 500
services/s), all before the part the stage measures. The bulk fill computes the same state
in process — the worker's own processor (:func:`make_processor`) and :class:`LiveStates`, so
each service-state record is byte for byte what a worker flushes — and produces it straight
to the changelog topics a worker of ``app_id`` recovers from:

* ``<app_id>-service-state-changelog``: key = service id, on the partition Kafka's default
  partitioner gives that key (the partition of the service's observations, which the state
  records too);
* ``<app_id>-ledger-services-changelog``: each service's reference, as the ledger agent
  writes it when it reads the worker's ``service`` ledger record (partition 0).

The topics must exist (a worker of ``app_id`` created them). Progress goes to ``progress``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from pipeline.bench.data import ObservationMix
from pipeline.bench.stages.processor import make_processor
from pipeline.config.settings import SERVICE_STATE_TABLE
from pipeline.worker.live_states import LiveStates
from pipeline.worker.processor import Outputs

#: Services computed and produced per round (bounds the fill's memory).
CHUNK = 25_000


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as the worker's producers pick it
    (the same as aiokafka's ``DefaultPartitioner``).

    >>> [partition_of(key, 6) for key in (b"a", b"svc-1", b"svc-2")]
    [4, 0, 1]
    """
    partition: int = (murmur2(key) & 0x7FFFFFFF) % partitions
    return partition


def bulk_fill(
    bootstrap: str,
    app_id: str,
    mix: ObservationMix,
    services: int,
    *,
    run: str,
    partitions: int,
    observed_at: float,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Produce ``services`` first sightings' state to ``app_id``'s changelogs; returns counts,
    bytes and the seconds it took."""
    processor = make_processor()
    state_topic = f"{app_id}-{SERVICE_STATE_TABLE}-changelog"
    ledger_topic = f"{app_id}-ledger-services-changelog"
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=50, batch_size=512 * 1024
    )
    state_bytes = 0
    started = time.perf_counter()
    try:
        for first in range(0, services, CHUNK):
            last = min(services, first + CHUNK)
            store: dict[str, Any] = {}
            live = LiveStates(store, processor.monitoring, capacity=1)
            out = Outputs()
            for key, value in mix.first_sightings(first, last, run=run, observed_at=observed_at):
                partition = partition_of(key, partitions)
                processor.handle(value, live, topic="bench", partition=partition, offset=0, out=out)
            processor.flush(live)
            for service_id, data in store.items():
                raw = service_id.encode()
                state_bytes += len(raw) + len(data)
                producer.send(
                    state_topic, key=raw, value=data, partition=partition_of(raw, partitions)
                )
            for _key, value in out.ledger:
                record = orjson.loads(value)
                if record.get("type") == "service":
                    ref = record["service"]
                    producer.send(
                        ledger_topic,
                        key=str(ref["service_id"]).encode(),
                        value=orjson.dumps(ref),
                        partition=0,
                    )
            if progress is not None:
                progress(last, services)
        producer.flush(timeout=600)
    finally:
        producer.close(timeout=30)
    return {
        "services": services,
        "seconds": time.perf_counter() - started,
        "state_record_bytes_per_service": state_bytes / max(1, services),
    }
