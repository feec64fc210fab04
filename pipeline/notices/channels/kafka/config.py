"""``type: kafka``: the topic machine subscribers read notices from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.notices.channels.common import COMMON_KEYS, Delivery
from pipeline.notices.yamlnodes import NodeReader

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


@dataclass(frozen=True)
class KafkaConfig:
    """Produce each notice (keyed by subscriber id) to ``topic`` on the pipeline's cluster."""

    delivery: Delivery
    topic: str
    type: str = "kafka"

    @classmethod
    def parse(
        cls, reader: NodeReader, node: yaml.Node, where: str, base: Path
    ) -> KafkaConfig | None:
        keys = reader.mapping(node, where, COMMON_KEYS | {"topic"})
        if keys is None or not reader.require(node, keys, where, "topic"):
            return None
        topic = reader.text(keys["topic"][1], f"{where}.topic", _TOPIC, "a Kafka topic name")
        return cls(Delivery.parse(reader, keys, where, "kafka"), topic)
