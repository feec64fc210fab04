"""Build the sender for a channel config (the glue passes in shared resources)."""

from __future__ import annotations

from pipeline.notices.channels.base import Sender
from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.cap.feed import FeedStore
from pipeline.notices.channels.cap.sender import AtomSender
from pipeline.notices.channels.email.config import EmailConfig
from pipeline.notices.channels.email.sender import EmailSender
from pipeline.notices.channels.kafka.config import KafkaConfig
from pipeline.notices.channels.kafka.sender import KafkaSender, Produce
from pipeline.notices.channels.mqtt.config import MqttConfig
from pipeline.notices.channels.mqtt.sender import MqttSender
from pipeline.notices.channels.registry import ChannelConfig
from pipeline.notices.channels.webhook.config import WebhookConfig
from pipeline.notices.channels.webhook.sender import WebhookSender


def build_sender(config: ChannelConfig, *, feeds: FeedStore, produce: Produce) -> Sender:
    if isinstance(config, WebhookConfig):
        return WebhookSender(config)
    if isinstance(config, EmailConfig):
        return EmailSender(config)
    if isinstance(config, MqttConfig):
        return MqttSender(config)
    if isinstance(config, AtomConfig):
        return AtomSender(config, feeds)
    if isinstance(config, KafkaConfig):
        return KafkaSender(config, produce)
    raise TypeError(f"no sender for {type(config).__name__}")
