"""The log writer: Kafka records in, log entries out, exactly once across crashes.

The writer assigns itself every partition of the incidents, anomalies and indicators topics
(no consumer group: the log is the only place offsets live), seeks each to the offset stored in
the log, and commits each batch's entries together with the offsets that follow it in one
SQLite transaction. A ``kill -9`` anywhere loses nothing (uncommitted records are read again)
and duplicates nothing (the stored offsets skip what was committed; the idempotency keys skip
records the pipeline itself published twice). Records that cannot be logged go to the
dead-letter topic with the reason (at least once: a crash can repeat a dead letter).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.core.deadletter import dead_letter_record
from pipeline.transparency.heads import TreeHead
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.metrics import LedgerMetrics
from pipeline.transparency.records import LogRecord, RecordRejected, to_log_record

log = structlog.get_logger("ledger.writer")


class Message(Protocol):
    """What the writer reads of a Kafka record (kafka-python's ConsumerRecord fits)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class Batch:
    """Records to append, dead letters to send, and the offsets that follow them."""

    records: list[LogRecord] = field(default_factory=list)
    dead_letters: list[bytes] = field(default_factory=list)
    rejected_reasons: list[str] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)


def to_batch(messages: Iterable[Message], sources: Mapping[str, str], now: float) -> Batch:
    """Turn polled messages (topic -> source role in ``sources``) into one batch (pure)."""
    batch = Batch()
    for msg in messages:
        batch.offsets[(msg.topic, msg.partition)] = msg.offset + 1
        raw = msg.value or b""
        try:
            record = to_log_record(sources[msg.topic], raw)
        except RecordRejected as exc:
            batch.rejected_reasons.append(exc.reason)
            batch.dead_letters.append(
                dead_letter_record(
                    raw,
                    reason=exc.reason,
                    field=exc.field,
                    detail=exc.detail,
                    topic=msg.topic,
                    partition=msg.partition,
                    offset=msg.offset,
                    at=now,
                )
            )
            continue
        if record is not None:
            batch.records.append(record)
    return batch


@dataclass
class HeadPolicy:
    """When to sign: after new entries once ``min_interval_s`` passed, and at least every
    ``max_age_s`` even without (a fresh timestamp shows the log is alive)."""

    min_interval_s: float = 1.0
    max_age_s: float = 60.0

    def due(self, last: TreeHead | None, size: int, now: float) -> bool:
        if last is None:
            return True
        age = now - last.timestamp_ms / 1000
        return (size != last.tree_size and age >= self.min_interval_s) or age >= self.max_age_s


class LedgerWriter:
    """Consumes the pipeline's topics into the log; glue around :func:`to_batch`."""

    def __init__(
        self,
        ledger: TransparencyLog,
        key: Ed25519PrivateKey,
        consumer: Any,
        producer: Any,
        sources: Mapping[str, str],
        deadletter_topic: str,
        metrics: LedgerMetrics,
        *,
        heads: HeadPolicy | None = None,
        clock: Callable[[], float] = time.time,
        max_records: int = 5000,
    ) -> None:
        self.ledger, self.key, self.consumer, self.producer = ledger, key, consumer, producer
        self.sources, self.deadletter_topic, self.metrics = dict(sources), deadletter_topic, metrics
        self.heads = heads or HeadPolicy()
        self.clock, self.max_records = clock, max_records
        self.last_head = ledger.store.latest_head()

    def assign(self, partitions_for: Callable[[str], Iterable[int]], topic_partition: Any) -> None:
        """Assign every partition of the source topics, each at its stored offset."""
        stored = self.ledger.store.offsets()
        assignment = [topic_partition(t, p) for t in self.sources for p in partitions_for(t)]
        self.consumer.assign(assignment)
        for tp in assignment:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)
        log.info("ledger_writer_assigned", partitions=len(assignment), size=self.ledger.size)

    def step(self, timeout_ms: int = 500) -> int:
        """Poll once, append, sign if due. Returns how many entries were appended."""
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        messages = [m for records in polled.values() for m in records]
        appended = 0
        if messages:
            batch = to_batch(messages, self.sources, self.clock())
            for raw, reason in zip(batch.dead_letters, batch.rejected_reasons, strict=True):
                self.producer.send(self.deadletter_topic, value=raw)
                self.metrics.rejected.labels(reason).inc()
            if batch.dead_letters:
                self.producer.flush(timeout=30)  # dead letters out before their offsets commit
            appended = self.ledger.append(batch.records, batch.offsets)
            self.metrics.appended.inc(appended)
        self.metrics.tree_size.set(self.ledger.size)
        self.maybe_sign()
        return appended

    def maybe_sign(self) -> TreeHead | None:
        """Sign a new head if the policy says one is due."""
        now = self.clock()
        if not self.heads.due(self.last_head, self.ledger.size, now):
            return None
        head = self.ledger.sign(self.key, int(now * 1000))
        self.last_head = head
        self.metrics.head_timestamp.set(head.timestamp_ms / 1000)
        log.info("ledger_head_signed", tree_size=head.tree_size, root=head.root.hex())
        return head

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set."""
        while not stop.is_set():
            self.step()
