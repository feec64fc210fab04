"""Delivering parse results to Kafka (kafka-python), spooling to disk whatever Kafka refuses.

* observations → ``cw.observations`` with key = ``service_id`` (one service's evidence stays
  ordered on one partition); rejections → ``cw.deadletter`` with key = feed id;
* kafka-python 3.0 defaults do the hard part: ``acks=all``, idempotence, unbounded retries
  within ``delivery_timeout_ms``;
* a record whose delivery callback reports an error, or that cannot even be queued (broker
  down: ``max_block_ms`` elapses), goes to the :class:`~connectors.spool.Spool`; the spool is
  replayed before the next batch once Kafka answers again.

The Kafka client sits behind the small :class:`Transport` protocol so the delivery logic is
unit-tested without a broker; the lead's integration tests drive the real one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson
import structlog

from connectors.base import ParseResult
from connectors.metrics import FeedMetrics
from connectors.spool import Spool, SpoolRecord
from pipeline.ops.kafka_security import PLAINTEXT, KafkaSecurity, explain

log = structlog.get_logger(__name__)


class Delivery(Protocol):
    """The part of kafka-python's ``FutureRecordMetadata`` used here."""

    def add_callback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    def add_errback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    def get(self, timeout: float | None = None) -> Any: ...


class Transport(Protocol):
    """The part of ``kafka.KafkaProducer`` used here."""

    def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> Delivery: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


class ObservationProducer:
    """Sends results; never loses a record it was given unless the spool is full (counted)."""

    def __init__(
        self,
        transport: Transport,
        spool: Spool,
        *,
        topic: str = "cw.observations",
        deadletter_topic: str = "cw.deadletter",
        metrics: FeedMetrics | None = None,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self.transport = transport
        self.spool = spool
        self.topic = topic
        self.deadletter_topic = deadletter_topic
        self.metrics = metrics
        self.flush_timeout_s = flush_timeout_s
        self._lock = threading.Lock()
        self.acked = 0
        self.failed = 0
        self.security = PLAINTEXT
        #: The broker's last refusal of this identity (ACLs), in words; None while allowed.
        self.refused: str | None = None

    @classmethod
    def connect(
        cls,
        bootstrap_servers: str,
        *,
        topic: str,
        deadletter_topic: str,
        spool_dir: Path,
        metrics: FeedMetrics | None = None,
        spool_max_bytes: int = 256 * 1024 * 1024,
        security: KafkaSecurity = PLAINTEXT,
        **kafka_config: Any,
    ) -> ObservationProducer:
        """A producer on a real broker. ``max_block_ms`` is short so a dead broker spools fast."""
        from kafka import KafkaProducer  # imported here: nothing Kafka happens at import time

        settings: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "acks": "all",
            "max_block_ms": 5_000,
            "delivery_timeout_ms": 30_000,
            "request_timeout_ms": 10_000,
            "linger_ms": 5,
            "client_id": "continuity-connectors",
            # An explicit version skips the bootstrap probe, which blocks the constructor for
            # 30 s and raises when the broker is down; we must start anyway and spool.
            "api_version": (3, 0),
        }
        settings.update(security.kafka_python())
        settings.update(kafka_config)
        transport: Transport = KafkaProducer(**settings)
        producer = cls(
            transport,
            Spool(spool_dir, max_bytes=spool_max_bytes),
            topic=topic,
            deadletter_topic=deadletter_topic,
            metrics=metrics,
        )
        producer.security = security
        return producer

    def records(self, result: ParseResult) -> list[tuple[SpoolRecord, str]]:
        """(topic, key, value) per observation and rejection, with the feed it counts for."""
        out: list[tuple[SpoolRecord, str]] = []
        for obs in result.observations:
            out.append(((self.topic, obs.service_id, obs.to_json()), obs.source))
        for rejection in result.rejections:
            out.append(((self.deadletter_topic, rejection.source, rejection.to_json()), ""))
        return out

    def send_result(self, result: ParseResult) -> bool:
        """Replay the spool, send this result, wait for acks; True when nothing was spooled."""
        self.replay()
        return self.send_records(self.records(result))

    def send_records(
        self, records: list[tuple[SpoolRecord, str]], *, spool_failures: bool = True
    ) -> bool:
        """Send, wait up to ``flush_timeout_s`` for every ack, spool the rest.

        ``spool_failures=False`` is for push ingest: the sender keeps the data and retries.
        """
        batch = _Batch(len(records))
        for index, (record, _feed) in enumerate(records):
            if batch.broker_down:
                batch.settle(index, ok=False)
                continue
            topic, key, value = record
            try:
                delivery = self.transport.send(
                    topic, value=value, key=key.encode() if key is not None else None
                )
            except Exception:  # any refusal to queue means: spool it
                batch.broker_down = True  # do not wait max_block_ms again for every record
                batch.settle(index, ok=False)
                continue
            delivery.add_callback(lambda _meta, i=index: batch.settle(i, ok=True))
            delivery.add_errback(self._note_refusal, topic)
            delivery.add_errback(lambda _exc, i=index: batch.settle(i, ok=False))
        with contextlib.suppress(Exception):  # unacked records are spooled below
            self.transport.flush(timeout=self.flush_timeout_s)
        batch.done.wait(timeout=self.flush_timeout_s)
        outcome = batch.close()  # late callbacks after this are ignored: already spooled
        failures = [record for (record, _), ok in zip(records, outcome, strict=True) if not ok]
        for (record, feed), ok in zip(records, outcome, strict=True):
            if ok and self.metrics is not None and feed and record[0] == self.topic:
                self.metrics.observations.labels(feed).inc()
        with self._lock:
            self.acked += len(records) - len(failures)
            self.failed += len(failures)
        if failures and spool_failures:
            accepted = self.spool.append(failures)
            if self.metrics is not None:
                self.metrics.spool_overflow.inc(len(failures) - accepted)
        if self.metrics is not None:
            self.metrics.spooled.set(self.spool.pending())
        return not failures

    def _note_refusal(self, topic: str, error: BaseException) -> None:
        """Say once why the broker refuses this identity (an ACL): spooling cannot cure it."""
        if "AuthorizationFailed" not in type(error).__name__:
            return
        refused = explain(error, self.security, topic=topic)
        if refused != self.refused:
            log.error("kafka_not_authorised", topic=topic, reason=refused)
        self.refused = refused

    def replay(self) -> int:
        """Send spooled records, each waited for; stops at the first failure."""
        if self.spool.pending() == 0:
            return 0

        def send(topic: str, key: str | None, value: bytes) -> bool:
            try:
                delivery = self.transport.send(
                    topic, value=value, key=key.encode() if key is not None else None
                )
                delivery.get(timeout=self.flush_timeout_s)
            except Exception:  # still down: keep it spooled
                return False
            if self.metrics is not None and topic == self.topic:
                # Sent at last: count it for its feed (the observation's ``source``).
                with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
                    source = orjson.loads(value).get("source")
                    if isinstance(source, str) and source:
                        self.metrics.observations.labels(source).inc()
            return True

        sent = self.spool.replay(send)
        if self.metrics is not None:
            self.metrics.spooled.set(self.spool.pending())
        return sent

    def close(self) -> None:
        self.transport.close(timeout=self.flush_timeout_s)


class _Batch:
    """Per-record delivery outcome; callbacks arrive on kafka-python's I/O thread."""

    def __init__(self, size: int) -> None:
        self._outcome: list[bool | None] = [None] * size
        self._open = size
        self._closed = False
        self._lock = threading.Lock()
        self.broker_down = False
        self.done = threading.Event()
        if size == 0:
            self.done.set()

    def settle(self, index: int, *, ok: bool) -> None:
        with self._lock:
            if self._closed or self._outcome[index] is not None:
                return
            self._outcome[index] = ok
            self._open -= 1
            if self._open == 0:
                self.done.set()

    def close(self) -> list[bool]:
        """Freeze outcomes; anything still unsettled counts as failed (it will be spooled)."""
        with self._lock:
            self._closed = True
            return [bool(ok) for ok in self._outcome]
