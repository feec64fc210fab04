"""Produce a notice to a Kafka topic with the notifier's producer.

Keyed by subscriber id, so one subscriber's notices stay in order on one partition; the
notice id in the body is the idempotency key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson

from pipeline.notices.channels.base import DeliveryError
from pipeline.notices.channels.kafka.config import KafkaConfig
from pipeline.notices.notice import Notice

#: ``produce(topic, key, value)``: awaits the broker's acknowledgement.
Produce = Callable[[str, bytes, bytes], Awaitable[None]]


class KafkaSender:
    def __init__(self, config: KafkaConfig, produce: Produce) -> None:
        self.config = config
        self.produce = produce

    async def send(self, notice: Notice) -> str:
        try:
            await self.produce(
                self.config.topic, notice.subscriber_id.encode(), orjson.dumps(notice.to_dict())
            )
        except Exception as exc:  # the client's errors are many; all are worth a retry
            raise DeliveryError(f"Kafka: {type(exc).__name__}: {exc}"[:300]) from None
        return f"produced to {self.config.topic}"

    async def close(self) -> None:
        return None
