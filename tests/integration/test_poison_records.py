"""Records that cannot be processed are dead-lettered and never stop a partition (issue 17)."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable

import orjson
import pytest
from kafka import KafkaProducer

from pipeline.config.settings import Settings
from pipeline.core.commands import sign_command
from pipeline.core.timeutil import format_rfc3339
from tests.support.observations import wire
from tests.support.stack import WorkerProcess, read_topic

pytestmark = pytest.mark.integration


def _send(settings: Settings, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", max_request_size=2_000_000
    )
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def test_poison_records_are_dead_lettered_and_later_records_still_processed(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    """One partition (all keys ``k``) so a stopped agent would block everything after it."""
    start_worker()
    at = format_rfc3339(time.time())
    huge = wire(observed_at=at, attrs={"blob": "x" * 900_000})
    assert settings.command_key
    ack = {"type": "acknowledge", "service_id": "svc-1", "by": "someone", "at": "abc"}
    bad_command = orjson.dumps(sign_command(ack, settings.command_key.encode()))
    # Anyone with Kafka access but without the key: refused, whatever it says.
    forged = orjson.dumps({**ack, "at": time.time(), "by": "the-operator"})
    topics = settings.topics
    _send(settings, topics.observations, [(b"k", None), (b"k", huge)])
    _send(settings, topics.commands, [(b"k", bad_command), (b"k", forged)])
    good = [f"{settings.app_id}.after-{i}" for i in range(3)]
    _send(
        settings,
        topics.observations,
        [(b"k", wire(service_id=s, observed_at=at, status="down")) for s in good],
    )

    status = read_topic(settings, topics.status, at_least=len(good))
    assert sorted(s["service_id"] for s in status) == good

    dead = read_topic(settings, topics.deadletter, at_least=4)
    reasons = {(r["source_topic"], r["reason"]) for r in dead}
    assert (topics.observations, "null_value") in reasons
    assert (topics.observations, "oversize") in reasons
    assert (topics.commands, "invalid_field") in reasons
    assert (topics.commands, "unsigned_command") in reasons
    big = next(r for r in dead if r["reason"] == "oversize")
    # The copy is truncated so it fits the broker; the digest identifies the original.
    assert big["original_truncated"] is True
    assert big["original_size"] == len(huge)
    assert big["original_sha256"] == hashlib.sha256(huge).hexdigest()
    assert huge.startswith(base64.b64decode(big["original_b64"]))
    command = next(r for r in dead if r["reason"] == "invalid_field")
    assert command["field"] == "at"
