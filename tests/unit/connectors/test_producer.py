from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from connectors.base import ParseResult, Rejection
from connectors.metrics import FeedMetrics
from connectors.producer import ObservationProducer
from connectors.spool import Spool
from pipeline.core.schema import Kind, Observation, Status


class FakeDelivery:
    """Mimics kafka-python's future: callbacks fire when the broker answers."""

    def __init__(self, outcome: bool | None) -> None:
        self.outcome = outcome
        self.callbacks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.errbacks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def add_callback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.callbacks.append((f, args))

    def add_errback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.errbacks.append((f, args))

    def get(self, timeout: float | None = None) -> Any:
        if not self.outcome:
            raise TimeoutError("no ack")
        return "metadata"

    def resolve(self) -> None:
        if self.outcome is True:
            for f, args in self.callbacks:
                f("metadata", *args)
        elif self.outcome is False:
            for f, args in self.errbacks:
                f(RuntimeError("broker said no"), *args)


class FakeKafka:
    def __init__(self) -> None:
        self.mode = "ok"  # ok | fail | down | silent
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.inflight: list[FakeDelivery] = []

    def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> FakeDelivery:
        if self.mode == "down":
            raise TimeoutError("KafkaTimeoutError: metadata not available after 5000 ms")
        outcome = {"ok": True, "fail": False, "silent": None}[self.mode]
        if outcome:
            self.sent.append((topic, key, value))
        delivery = FakeDelivery(outcome)
        self.inflight.append(delivery)
        return delivery

    def flush(self, timeout: float | None = None) -> None:
        for delivery in self.inflight:
            delivery.resolve()
        self.inflight.clear()

    def close(self, timeout: float | None = None) -> None:
        pass


def _result(n: int, feed: str = "feed-a") -> ParseResult:
    observations = [
        Observation(
            event_id=f"e{i}",
            operator_id="op",
            service_id=f"svc-{i % 2}",
            sector="energy",
            region="UA",
            kind=Kind.PROBE,
            observed_at=1_700_000_000.0 + i,
            source=feed,
            status=Status.UP,
        )
        for i in range(n)
    ]
    rejections = [Rejection("malformed_json", None, "bad", feed, b"{", 1.0)]
    return ParseResult(observations=observations, rejections=rejections)


def _producer(
    tmp_path: Path, kafka: FakeKafka, **kw: Any
) -> tuple[ObservationProducer, FeedMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = FeedMetrics(registry)
    producer = ObservationProducer(
        kafka, Spool(tmp_path), metrics=metrics, flush_timeout_s=kw.get("timeout", 1.0)
    )
    return producer, metrics, registry


def test_observations_keyed_by_service_and_rejections_to_deadletter(tmp_path: Path) -> None:
    kafka = FakeKafka()
    producer, _, registry = _producer(tmp_path, kafka)
    assert producer.send_result(_result(3)) is True
    topics = [(t, k) for t, k, _ in kafka.sent]
    assert topics == [
        ("cw.observations", b"svc-0"),
        ("cw.observations", b"svc-1"),
        ("cw.observations", b"svc-0"),
        ("cw.deadletter", b"feed-a"),
    ]
    assert orjson.loads(kafka.sent[-1][2] or b"")["reason"] == "malformed_json"
    sent = registry.get_sample_value("continuity_feed_observations_sent_total", {"feed": "feed-a"})
    assert sent == 3


def test_broker_down_spools_everything_then_replays_in_order(tmp_path: Path) -> None:
    kafka = FakeKafka()
    producer, _, registry = _producer(tmp_path, kafka)
    kafka.mode = "down"
    assert producer.send_result(_result(2)) is False
    assert producer.spool.pending() == 3
    assert registry.get_sample_value("continuity_feed_spool_records") == 3
    kafka.mode = "ok"
    assert producer.send_result(_result(1, feed="feed-b")) is True
    values = [orjson.loads(v or b"") for _, _, v in kafka.sent]
    # The spooled batch goes first, then the new one.
    assert [v.get("event_id", v.get("reason")) for v in values] == [
        "e0",
        "e1",
        "malformed_json",
        "e0",
        "malformed_json",
    ]
    assert producer.spool.pending() == 0


def test_delivery_errors_and_missing_acks_are_spooled(tmp_path: Path) -> None:
    kafka = FakeKafka()
    producer, _, _ = _producer(tmp_path, kafka, timeout=0.05)
    kafka.mode = "fail"
    assert producer.send_result(_result(2)) is False
    assert producer.spool.pending() == 3
    kafka.mode = "silent"  # queued but never acknowledged within the flush timeout
    assert producer.send_records(producer.records(_result(1))) is False
    assert producer.spool.pending() == 5


def test_spool_overflow_is_counted(tmp_path: Path) -> None:
    kafka = FakeKafka()
    registry = CollectorRegistry()
    metrics = FeedMetrics(registry)
    producer = ObservationProducer(kafka, Spool(tmp_path, max_bytes=300), metrics=metrics)
    kafka.mode = "down"
    producer.send_result(_result(5))
    overflow = registry.get_sample_value("continuity_feed_spool_overflow_total")
    assert overflow is not None
    assert overflow == 6 - producer.spool.pending()
    assert overflow > 0
