"""``continuity alerts test``: a test notice through a subscriber's real channels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from pipeline.config.settings import Settings
from pipeline.notices.channels.cap.feed import FeedStore
from pipeline.notices.channels.factory import build_sender
from pipeline.notices.channels.registry import ChannelConfig
from pipeline.notices.dispatch import Attempt, Dispatcher, Lane
from pipeline.notices.policy import make_test_notice
from pipeline.notices.records import attempt_record, notice_record
from pipeline.notices.subscriptions import Subscriber
from pipeline.ops.kafka_security import aiokafka_options

FEED_DIR = "notifier-feeds"


async def send_test_notice(
    settings: Settings,
    subscriber: Subscriber,
    channels: list[ChannelConfig],
    *,
    echo: Callable[[str], None],
) -> dict[str, str]:
    """Deliver one test notice per channel; return each channel's final result."""
    from pathlib import Path

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", **aiokafka_options(settings)
    )
    await producer.start()
    outcomes: dict[str, str] = {}
    done = asyncio.Event()

    async def produce(topic: str, key: bytes, value: bytes) -> None:
        await producer.send_and_wait(topic, value, key=key)

    async def record(attempt: Attempt) -> None:
        echo(
            f"{attempt.channel} ({attempt.channel_type}) attempt {attempt.attempt}: "
            f"{attempt.result} - {attempt.detail}"
        )
        await produce(
            settings.topics.notices, attempt.subscriber_id.encode(), attempt_record(attempt)
        )
        if attempt.result in ("delivered", "dead_letter", "queue_full"):
            outcomes[attempt.channel] = attempt.result

    async def finished(_subscriber: str, _channel: str, _notice_id: str) -> None:
        if len(outcomes) >= len(channels):
            done.set()

    try:
        feeds = FeedStore(Path(settings.data_dir) / FEED_DIR)
        lanes = [
            Lane(
                subscriber.subscriber_id,
                c.type,
                c.delivery,
                build_sender(c, feeds=feeds, produce=produce),
            )
            for c in channels
        ]
        notice = make_test_notice(subscriber, time.time())
        await produce(
            settings.topics.notices,
            subscriber.subscriber_id.encode(),
            notice_record(notice, [c.delivery.name for c in channels]),
        )
        echo(f"test notice {notice.notice_id} to {subscriber.subscriber_id}")
        dispatcher = Dispatcher(lanes, record, finished)
        dispatcher.start()
        for channel in channels:
            dispatcher.submit(notice, channel.delivery.name)
        await done.wait()
        await dispatcher.stop()
    finally:
        await producer.stop()
    return outcomes
