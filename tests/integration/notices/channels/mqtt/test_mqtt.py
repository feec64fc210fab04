"""MQTT channel against a real Mosquitto: one topic per sector/region, JSON body, QoS 1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipeline.notices.channels.base import DeliveryError
from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.common import Delivery
from pipeline.notices.channels.mqtt.config import MqttConfig
from pipeline.notices.channels.mqtt.sender import MqttSender
from pipeline.notices.subscriptions import Subscriber
from tests.support.notice_samples import opened_and_restored
from tests.support.notices import MqttCollector, mosquitto
from tests.support.stack import eventually, free_port

pytestmark = pytest.mark.integration

SUBSCRIBER = Subscriber("bus", (AtomConfig(Delivery("atom")),))


def test_notices_arrive_on_the_sector_region_topic(tmp_path: Path) -> None:
    opened, restored = opened_and_restored(SUBSCRIBER, region="UA-30")
    with mosquitto(tmp_path) as port:
        collector = MqttCollector(port, "cw/notices/#")
        try:
            sender = MqttSender(MqttConfig(Delivery("mqtt", timeout_s=5), "127.0.0.1", port,
                                           "cw/notices"))  # fmt: skip

            async def run() -> list[str]:
                return [await sender.send(opened), await sender.send(restored)]

            assert asyncio.run(run()) == ["published to cw/notices/energy/UA-30"] * 2
            eventually(lambda: len(collector.messages) >= 2, timeout=10, every=0.05)
        finally:
            collector.close()
    topics = [t for t, _body, _at in collector.messages]
    kinds = [body["kind"] for _t, body, _at in collector.messages]
    assert topics == ["cw/notices/energy/UA-30"] * 2
    assert kinds == ["incident_opened", "incident_restored"]
    assert collector.messages[0][1]["notice_id"] == opened.notice_id


def test_no_broker_is_a_retryable_failure() -> None:
    opened, _ = opened_and_restored(SUBSCRIBER)
    sender = MqttSender(MqttConfig(Delivery("mqtt", timeout_s=2), "127.0.0.1", free_port()))
    with pytest.raises(DeliveryError) as failure:
        asyncio.run(sender.send(opened))
    assert failure.value.retryable
