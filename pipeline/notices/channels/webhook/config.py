"""``type: webhook``: where to POST and which key signs the body."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.notices.channels.common import COMMON_KEYS, Delivery
from pipeline.notices.secrets import SecretRef
from pipeline.notices.yamlnodes import NodeReader

_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


@dataclass(frozen=True)
class WebhookConfig:
    """POST the notice JSON to ``url`` signed with ``secret`` (see channels/webhook/sign.py)."""

    delivery: Delivery
    url: str
    secret: SecretRef
    max_redirects: int = 3
    type: str = "webhook"

    @classmethod
    def parse(
        cls, reader: NodeReader, node: yaml.Node, where: str, base: Path
    ) -> WebhookConfig | None:
        keys = reader.mapping(node, where, COMMON_KEYS | {"url", "secret", "max_redirects"})
        if keys is None or not reader.require(node, keys, where, "url", "secret"):
            return None
        url = reader.text(keys["url"][1], f"{where}.url", _URL, "an http:// or https:// URL")
        secret = SecretRef.parse(reader, keys["secret"][1], f"{where}.secret", base)
        redirects = (
            reader.integer(keys["max_redirects"][1], f"{where}.max_redirects", minimum=0)
            if "max_redirects" in keys
            else cls.max_redirects
        )
        delivery = Delivery.parse(reader, keys, where, "webhook")
        if secret is None:
            return None
        return cls(delivery, url, secret, redirects)
