"""Channel types known to subscriptions config: ``type:`` -> config class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.email.config import EmailConfig
from pipeline.notices.channels.kafka.config import KafkaConfig
from pipeline.notices.channels.mqtt.config import MqttConfig
from pipeline.notices.channels.webhook.config import WebhookConfig
from pipeline.notices.yamlnodes import NodeReader

ChannelConfig = WebhookConfig | EmailConfig | MqttConfig | AtomConfig | KafkaConfig
Parser = Callable[[NodeReader, yaml.Node, str, Path], ChannelConfig | None]

CHANNEL_TYPES: dict[str, Parser] = {
    "webhook": WebhookConfig.parse,
    "email": EmailConfig.parse,
    "mqtt": MqttConfig.parse,
    "atom": AtomConfig.parse,
    "kafka": KafkaConfig.parse,
}


def parse_channel(
    reader: NodeReader, node: yaml.Node, where: str, base: Path
) -> ChannelConfig | None:
    """Dispatch on ``type:``; an unknown type names the known ones."""
    if not isinstance(node, yaml.MappingNode):
        reader.error(node, where, "must be a mapping with a type")
        return None
    type_node = next(
        (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "type"), None
    )
    if type_node is None:
        reader.error(node, f"{where}.type", f"is required (one of: {', '.join(CHANNEL_TYPES)})")
        return None
    kind = reader.choice(type_node, f"{where}.type", tuple(CHANNEL_TYPES))
    if reader.value(type_node, f"{where}.type") not in CHANNEL_TYPES:
        return None
    return CHANNEL_TYPES[kind](reader, node, where, base)
