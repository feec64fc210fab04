"""Kafka baselines and plumbing: the bare producer fill, the bare consume ceiling, readers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as SyncTopicPartition

from pipeline.core.progress import Progress
from pipeline.ops.kafka_security import PLAINTEXT, KafkaSecurity

log = structlog.get_logger(__name__)

R = TypeVar("R")


def produce_bare(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes, bytes]],
    *,
    progress: Progress | None = None,
    timeout: float = 600.0,
    security: KafkaSecurity = PLAINTEXT,
) -> dict[str, float]:
    """The producer baseline: a bare kafka-python send loop (defaults: acks=all, idempotent)
    over pre-serialised records, then ``flush``. Returns obs/s and timings."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, **security.kafka_python())
    try:
        # Metadata first, so the timed loop measures sending, not the first connection.
        producer.partitions_for(topic)
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        for i, (key, value) in enumerate(records):
            producer.send(topic, key=key, value=value)
            if progress is not None and i % 5000 == 0:
                progress.update(i, len(records))
                if time.monotonic() > deadline:
                    raise TimeoutError(f"fill of {topic} did not finish in {timeout:.0f} s")
        producer.flush(timeout=timeout)
        elapsed = time.perf_counter() - started
    finally:
        producer.close(timeout=30)
    if progress is not None:
        progress.update(len(records), len(records), force=True)
    return {
        "observations": float(len(records)),
        "seconds": elapsed,
        "obs_per_s": len(records) / elapsed,
        "bytes": float(sum(len(v) for _, v in records)),
    }


async def _consume_ceiling(
    bootstrap: str,
    topic: str,
    partitions: int,
    expected: int,
    limit_s: float,
    progress: Progress | None,
    security: KafkaSecurity,
) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        **security.aiokafka(),
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        assignment = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        seen = 0
        decoded_bytes = 0
        started = time.perf_counter()
        cpu_started = time.process_time()
        deadline = time.monotonic() + limit_s
        while seen < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"ceiling read {seen}/{expected} in {limit_s:.0f} s")
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for record in records:
                    value: bytes = record.value
                    orjson.loads(value)
                    decoded_bytes += len(value)
                seen += len(records)
            if progress is not None:
                progress.update(seen, expected)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await consumer.stop()
    if progress is not None:
        progress.update(seen, expected, force=True)
    return {
        "observations": float(seen),
        "seconds": elapsed,
        "obs_per_s": seen / elapsed,
        "cpu_s": cpu,
        "cpu_us_per_obs": 1e6 * cpu / max(1, seen),
        "obs_per_cpu_s": seen / cpu if cpu else 0.0,
        "bytes": float(decoded_bytes),
    }


def consume_ceiling(
    bootstrap: str,
    topic: str,
    expected: int,
    *,
    partitions: int,
    timeout: float = 600.0,
    progress: Progress | None = None,
    security: KafkaSecurity = PLAINTEXT,
) -> dict[str, float]:
    """The ceiling: a bare aiokafka ``getmany`` + ``orjson.loads`` loop over all partitions."""
    return asyncio.run(
        _consume_ceiling(bootstrap, topic, partitions, expected, timeout, progress, security)
    )


class GroupProgress:
    """How far a consumer group got, read from its committed offsets (costs the workers
    nothing, unlike scraping a /metrics page with thousands of labelled series)."""

    def __init__(
        self, bootstrap: str, group: str, topic: str, *, security: KafkaSecurity = PLAINTEXT
    ) -> None:
        self.group = group
        self.topic = topic
        #: How many polls saw the committed total move forward (≈ commits, a lower bound).
        self.advances = 0
        self._last_total = 0
        self._admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="continuity-bench", **security.kafka_python()
        )

    def committed(self) -> int:
        """Sum of the group's committed offsets on the topic (0 when none yet)."""
        total = sum(self.by_partition().values())
        if total > self._last_total:
            self.advances += 1
            self._last_total = total
        return total

    def by_partition(self) -> dict[int, int]:
        """The group's committed offset per partition of the topic (none when not yet)."""
        try:
            by_group: dict[str, dict[Any, Any]] = self._admin.list_group_offsets({self.group: None})
        except Exception as exc:  # the group may not exist yet
            log.debug("bench_offsets_unavailable", group=self.group, error=repr(exc))
            return {}
        offsets = by_group.get(self.group, {})
        return {
            tp.partition: m.offset
            for tp, m in offsets.items()
            if tp.topic == self.topic and m.offset > 0
        }

    def close(self) -> None:
        self._admin.close()


def _partitions(consumer: KafkaConsumer, topic: str) -> list[SyncTopicPartition]:
    """Every partition of ``topic`` in order (none if the topic is not known yet)."""
    return [
        SyncTopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]


#: How far back from a partition's end :func:`last_timestamp` reads.
TAIL_RECORDS = 64


def _reader(bootstrap: str, security: KafkaSecurity, **options: Any) -> KafkaConsumer:
    """A read-committed kafka-python consumer that does not check record CRCs.

    kafka-python checks them in pure Python: the status reader of the latency stage spent
    68 % of its samples there, a third of a core taken from the worker it measures on a
    2-core machine. The broker checked every batch when it was produced.
    """
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        check_crcs=False,
        **security.kafka_python(),
        **options,
    )


def last_timestamp(
    bootstrap: str, topic: str, *, timeout: float = 15.0, security: KafkaSecurity = PLAINTEXT
) -> float | None:
    """Newest record timestamp (epoch s) over all partitions of ``topic``, or None if empty.

    The worker stamps every changelog record when it applies an observation, so on the
    changelog this is the moment the last observation was processed.
    """
    consumer = _reader(bootstrap, security)
    try:
        assignment = _partitions(consumer, topic)
        if not assignment:
            return None
        consumer.assign(assignment)
        ends: dict[Any, int] = consumer.end_offsets(assignment)
        wanted = {tp for tp, end in ends.items() if end > 0}
        # A transactional topic ends with commit markers, which are no records: read the
        # tail of each partition, not only its last offset.
        for tp in wanted:
            consumer.seek(tp, max(0, ends[tp] - TAIL_RECORDS))
        newest: float | None = None
        deadline = time.monotonic() + timeout
        while wanted and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                for record in batch:
                    stamp = record.timestamp / 1000.0
                    newest = stamp if newest is None else max(newest, stamp)
            wanted = {tp for tp in wanted if consumer.position(tp) < ends[tp]}
        return newest
    finally:
        consumer.close()


def end_offsets(
    bootstrap: str, topic: str, *, security: KafkaSecurity = PLAINTEXT
) -> dict[int, int]:
    """The end offset of every partition of ``topic``."""
    consumer = _reader(bootstrap, security)
    try:
        ends = consumer.end_offsets(_partitions(consumer, topic))
        return {tp.partition: int(offset) for tp, offset in ends.items()}
    finally:
        consumer.close()


def read_topic(
    bootstrap: str, topic: str, *, timeout: float = 60.0, security: KafkaSecurity = PLAINTEXT
) -> list[bytes]:
    """Every value on ``topic`` from the beginning to the end offsets seen at the start."""
    consumer = _reader(bootstrap, security)
    try:
        assignment = _partitions(consumer, topic)
        if not assignment:
            return []
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        ends: dict[Any, int] = consumer.end_offsets(assignment)
        values: list[bytes] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(values)} records of {topic} in {timeout:.0f} s")
            for batch in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in batch)
        return values
    finally:
        consumer.close()


def delete_run(
    bootstrap: str, run: str, groups: Sequence[str], *, security: KafkaSecurity = PLAINTEXT
) -> list[str]:
    """Delete every topic whose name starts with ``run`` and the given consumer groups."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="continuity-bench", **security.kafka_python()
    )
    try:
        mine = [t for t in admin.list_topics() if t.startswith(run)]
        if mine:
            admin.delete_topics(mine, timeout_ms=30_000)
        if groups:
            try:
                admin.delete_groups(list(groups))
            except Exception as exc:  # best effort: a group may never have been created
                log.warning("bench_group_delete_failed", groups=list(groups), error=repr(exc))
        return mine
    finally:
        admin.close()


@dataclass
class StatusRecord:
    """One record of the status topic and when this process saw it (wall clock)."""

    seen_at: float
    service_id: str
    status: str
    event_id: str | None
    at: str
    reason: str

    @classmethod
    def parse(cls, seen_at: float, data: dict[str, Any]) -> StatusRecord:
        return cls(
            seen_at=seen_at,
            service_id=data["service_id"],
            status=data["status"],
            event_id=data.get("event_id"),
            at=data["at"],
            reason=data["reason"],
        )


@dataclass
class IncidentRecord:
    """One incident lifecycle event and when this process saw it (wall clock)."""

    seen_at: float
    event: str
    incident_id: str
    service_id: str
    started_at: float

    @classmethod
    def parse(cls, seen_at: float, data: dict[str, Any]) -> IncidentRecord:
        incident = data["incident"]
        return cls(
            seen_at=seen_at,
            event=data["event"],
            incident_id=incident["incident_id"],
            service_id=incident["service"]["service_id"],
            started_at=float(incident["started_at"]),
        )


@dataclass
class TopicReader(Generic[R]):
    """Reads a topic from the beginning in a thread, timestamping every record on arrival."""

    bootstrap: str
    topic: str
    parse: Callable[[float, dict[str, Any]], R]
    records: list[R] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None
    security: KafkaSecurity = PLAINTEXT

    def start(self, *, timeout: float = 30.0) -> TopicReader[R]:
        self._thread = threading.Thread(target=self._run, name="bench-topic-reader", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"reader for {self.topic} not assigned in {timeout:.0f} s")
        if self.error is not None:
            raise RuntimeError(f"reader for {self.topic} failed") from self.error
        return self

    def _run(self) -> None:
        try:
            consumer = _reader(self.bootstrap, self.security, fetch_max_wait_ms=50)
            try:
                deadline = time.monotonic() + 30
                assignment = _partitions(consumer, self.topic)
                while not assignment and time.monotonic() < deadline:
                    time.sleep(0.2)
                    assignment = _partitions(consumer, self.topic)
                consumer.assign(assignment)
                consumer.seek_to_beginning(*assignment)
                self._ready.set()
                while not self._stop.is_set():
                    for batch in consumer.poll(timeout_ms=50).values():
                        now = time.time()
                        self.records.extend(
                            self.parse(now, orjson.loads(record.value)) for record in batch
                        )
            finally:
                consumer.close()
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
