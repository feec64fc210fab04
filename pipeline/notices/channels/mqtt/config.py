"""``type: mqtt``: the broker and the topic prefix notices are published under."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.notices.channels.common import COMMON_KEYS, Delivery
from pipeline.notices.secrets import SecretRef
from pipeline.notices.yamlnodes import NodeReader

_URL = re.compile(r"^mqtt://(?P<host>[^\s:/]+)(:(?P<port>\d{1,5}))?/?$")
_PREFIX = re.compile(r"^[^#+\s]+$")


@dataclass(frozen=True)
class MqttConfig:
    """Publish each notice (QoS ``qos``) to ``<topic_prefix>/<sector>/<region>``."""

    delivery: Delivery
    host: str
    port: int = 1883
    topic_prefix: str = "continuity/notices"
    qos: int = 1
    username: str | None = None
    password: SecretRef | None = None
    type: str = "mqtt"

    @classmethod
    def parse(
        cls, reader: NodeReader, node: yaml.Node, where: str, base: Path
    ) -> MqttConfig | None:
        allowed = COMMON_KEYS | {"url", "topic_prefix", "qos", "username", "password"}
        keys = reader.mapping(node, where, allowed)
        if keys is None or not reader.require(node, keys, where, "url"):
            return None
        url = reader.text(keys["url"][1], f"{where}.url", _URL, "mqtt://host[:port]")
        match = _URL.match(url)
        prefix = (
            reader.text(keys["topic_prefix"][1], f"{where}.topic_prefix", _PREFIX, "no # or +")
            if "topic_prefix" in keys
            else cls.topic_prefix
        ).rstrip("/")
        qos = cls.qos
        if "qos" in keys:
            qos = reader.integer(keys["qos"][1], f"{where}.qos", minimum=0)
            if qos > 2:
                reader.error(keys["qos"][1], f"{where}.qos", "must be 0, 1 or 2")
        username = (
            reader.text(keys["username"][1], f"{where}.username") if "username" in keys else None
        )
        password = (
            SecretRef.parse(reader, keys["password"][1], f"{where}.password", base)
            if "password" in keys
            else None
        )
        delivery = Delivery.parse(reader, keys, where, "mqtt")
        if match is None:
            return None
        port = int(match.group("port") or cls.port)
        return cls(delivery, match.group("host"), port, prefix, qos, username, password)
