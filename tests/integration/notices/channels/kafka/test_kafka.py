"""Kafka channel against the real local Kafka: the notice JSON keyed by notice id."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from pipeline.config.settings import Settings
from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.common import Delivery
from pipeline.notices.channels.kafka.config import KafkaConfig
from pipeline.notices.channels.kafka.sender import KafkaSender
from pipeline.notices.subscriptions import Subscriber
from tests.support.notice_samples import opened_and_restored
from tests.support.stack import read_topic

pytestmark = pytest.mark.integration

SUBSCRIBER = Subscriber("machine", (AtomConfig(Delivery("atom")),))


def test_notices_are_produced_to_the_configured_topic(settings: Settings) -> None:
    opened, restored = opened_and_restored(SUBSCRIBER)
    topic = f"{settings.topics.prefix}notices.machine"

    async def run() -> list[str]:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:

            async def produce(name: str, key: bytes, value: bytes) -> None:
                await producer.send_and_wait(name, value, key=key)

            sender = KafkaSender(KafkaConfig(Delivery("kafka"), topic), produce)
            return [await sender.send(opened), await sender.send(restored)]
        finally:
            await producer.stop()

    assert asyncio.run(run()) == [f"produced to {topic}"] * 2
    values = read_topic(settings, topic, at_least=2, timeout=30)
    assert [v["kind"] for v in values] == ["incident_opened", "incident_restored"]
    assert values[0]["notice_id"] == opened.notice_id
