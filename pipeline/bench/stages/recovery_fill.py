"""The recovery stage's bulk fill: the changelogs a worker holding N services leaves behind.

Ingesting a million first sightings through one worker takes tens of minutes (≈ 650 to 1 500
services/s), all before the part the stage measures; computing each state in process with
the worker's processor still runs at a few hundred services/s on a loaded machine. The bulk
fill runs the worker's own processor (:func:`make_processor`, :class:`LiveStates`) once per
sector and writes every service's first-sighting record from its sector's one, with the
service's id, operator, region, event id and partition put in — the record a worker flushes
for that service, of the same size — straight to the changelog topics a worker of
``app_id`` recovers from:

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

from pipeline.bench.data import SECTORS, ObservationMix, service_ref
from pipeline.bench.stages.processor import make_processor
from pipeline.config.settings import SERVICE_STATE_TABLE
from pipeline.monitoring import id_ring
from pipeline.ops.kafka_security import PLAINTEXT, KafkaSecurity
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
    security: KafkaSecurity = PLAINTEXT,
) -> dict[str, Any]:
    """Produce ``services`` first sightings' state to ``app_id``'s changelogs; returns counts,
    bytes and the seconds it took."""
    templates = _templates(mix, run=run, observed_at=observed_at)
    state_topic = f"{app_id}-{SERVICE_STATE_TABLE}-changelog"
    ledger_topic = f"{app_id}-ledger-services-changelog"
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=50,
        batch_size=512 * 1024,
        **security.kafka_python(),
    )
    state_bytes = 0
    started = time.perf_counter()
    try:
        for index in range(services):
            ref = service_ref(index, namespace=mix.namespace)
            key = ref.service_id.encode()
            partition = partition_of(key, partitions)
            value = _state_for(templates, index, run=run, namespace=mix.namespace)
            value = value.replace(b'"partition":0,', b'"partition":%d,' % partition, 1)
            state_bytes += len(key) + len(value)
            producer.send(state_topic, key=key, value=value, partition=partition)
            producer.send(ledger_topic, key=key, value=orjson.dumps(ref.to_dict()), partition=0)
            if progress is not None and (index + 1) % CHUNK == 0:
                progress(index + 1, services)
        producer.flush(timeout=600)
    finally:
        producer.close(timeout=30)
    if progress is not None:
        progress(services, services)
    return {
        "services": services,
        "seconds": time.perf_counter() - started,
        "state_record_bytes_per_service": state_bytes / max(1, services),
    }


def _templates(mix: ObservationMix, *, run: str, observed_at: float) -> list[bytes]:
    """The worker's own state records for the first services of the mix (one per sector),
    computed by its processor on partition 0."""
    processor = make_processor()
    store: dict[str, Any] = {}
    live = LiveStates(store, processor.monitoring, capacity=1)
    sightings = mix.first_sightings(0, len(SECTORS), run=run, observed_at=observed_at)
    for _key, value in sightings:
        processor.handle(value, live, topic="bench", partition=0, offset=None, out=Outputs())
    processor.flush(live)
    return [store[key.decode()] for key, _value in sightings]


def _state_for(templates: list[bytes], index: int, *, run: str, namespace: str) -> bytes:
    """Service ``index``'s first-sighting record: its sector's template with the identity
    and event id of the service put in (the same length: ids are zero-padded).

    >>> health = (b'{"state":{"service_id":"health.n.0000001","operator_id":"health-op0",'
    ...           b'"region":"UA-46","recent_event_ids":["r-s1"]}}')
    >>> _state_for([b"", health, b"", b""], 9, run="r", namespace="n").decode()
    '{"state":{"service_id":"health.n.0000009","operator_id":"health-op2","region":"UA-63","recent_event_ids":["r-s9"]}}'
    """
    template_index = index % len(SECTORS)
    template = templates[template_index]
    was, now = (service_ref(i, namespace=namespace) for i in (template_index, index))
    for old, new in (
        (f'"{was.service_id}"', f'"{now.service_id}"'),
        (f'"operator_id":"{was.operator_id}"', f'"operator_id":"{now.operator_id}"'),
        (f'"region":"{was.region}"', f'"region":"{now.region}"'),
        (f'"{run}-s{template_index}"', f'"{run}-s{index}"'),
        (_stored_ring(f"{run}-s{template_index}"), _stored_ring(f"{run}-s{index}")),
    ):
        template = template.replace(old.encode(), new.encode())
    return template


def _stored_ring(event_id: str) -> str:
    """A first sighting's ring of remembered ids as the record holds it (quoted).

    >>> _stored_ring("r-s1")
    '"recent_id_hashes":"aPGk18/YqqI="'
    """
    return f'"recent_id_hashes":"{id_ring.to_stored(id_ring.digest(event_id))}"'
