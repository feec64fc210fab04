"""Publish a notice to ``<prefix>/<sector>/<region>`` for each sector/region it covers.

>>> from pipeline.notices.notice import Item, Notice
>>> item = Item("k", "incident_opened", "s/1", 0.0, "down", ("energy",), ("UA-30",),
...             ("op",), ("s",), False, {})
>>> notice_topics("continuity/notices", Notice("n-1", "c", "incident_opened", 0.0, (item,)))
['continuity/notices/energy/UA-30']
"""

from __future__ import annotations

import aiomqtt
import orjson

from pipeline.notices.channels.base import DeliveryError, resolve_secret
from pipeline.notices.channels.mqtt.config import MqttConfig
from pipeline.notices.notice import Notice


def notice_topics(prefix: str, notice: Notice) -> list[str]:
    """One topic per (sector, region) among the notice's items (``all`` when unknown)."""
    topics = {
        f"{prefix}/{sector}/{region}"
        for item in notice.items
        for sector in (item.sectors or ("all",))
        for region in (item.regions or ("all",))
    }
    return sorted(topics) or [f"{prefix}/all/all"]


class MqttSender:
    def __init__(self, config: MqttConfig) -> None:
        self.config = config

    async def send(self, notice: Notice) -> str:
        config = self.config
        password = (
            resolve_secret(config.password, "MQTT password")
            if config.password is not None
            else None
        )
        payload = orjson.dumps(notice.to_dict())
        topics = notice_topics(config.topic_prefix, notice)
        try:
            async with aiomqtt.Client(
                config.host,
                config.port,
                username=config.username,
                password=password,
                timeout=config.delivery.timeout_s,
            ) as client:
                for topic in topics:
                    await client.publish(topic, payload, qos=config.qos)
        except aiomqtt.MqttError as exc:
            raise DeliveryError(f"MQTT: {exc}"[:300]) from None
        return f"published to {', '.join(topics)}"[:300]

    async def close(self) -> None:
        return None
