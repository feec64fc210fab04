"""``type: email``: the SMTP server, its security and the recipients."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.notices.channels.common import COMMON_KEYS, Delivery
from pipeline.notices.secrets import SecretRef
from pipeline.notices.yamlnodes import NodeReader

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_SECURITY = ("none", "starttls", "tls")


@dataclass(frozen=True)
class EmailConfig:
    """Send through ``host:port``; ``security`` none / starttls / tls (implicit)."""

    delivery: Delivery
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 25
    security: str = "none"
    username: str | None = None
    password: SecretRef | None = None
    #: PEM bundle of the CA(s) that signed the server's certificate (default: the system's).
    ca_file: str | None = None
    type: str = "email"

    @classmethod
    def parse(
        cls, reader: NodeReader, node: yaml.Node, where: str, base: Path
    ) -> EmailConfig | None:
        allowed = COMMON_KEYS | {
            "host", "port", "security", "username", "password", "from", "to", "ca_file"
        }  # fmt: skip
        keys = reader.mapping(node, where, allowed)
        if keys is None or not reader.require(node, keys, where, "host", "from", "to"):
            return None
        host = reader.text(keys["host"][1], f"{where}.host")
        sender = reader.text(keys["from"][1], f"{where}.from", _ADDRESS, "an e-mail address")
        recipients = reader.texts(keys["to"][1], f"{where}.to", _ADDRESS, hint="an e-mail address")
        if not recipients and isinstance(keys["to"][1], yaml.SequenceNode):
            reader.error(keys["to"][1], f"{where}.to", "must list at least one address")
        port = reader.integer(keys["port"][1], f"{where}.port") if "port" in keys else cls.port
        security = (
            reader.choice(keys["security"][1], f"{where}.security", _SECURITY)
            if "security" in keys
            else cls.security
        )
        username = (
            reader.text(keys["username"][1], f"{where}.username") if "username" in keys else None
        )
        password = (
            SecretRef.parse(reader, keys["password"][1], f"{where}.password", base)
            if "password" in keys
            else None
        )
        if (username is None) != (password is None):
            reader.error(node, where, "username and password go together (SMTP AUTH)")
        ca_file = None
        if "ca_file" in keys:
            ca_file = reader.text(keys["ca_file"][1], f"{where}.ca_file")
            if ca_file and not Path(ca_file).is_absolute():
                ca_file = str(base / ca_file)
        delivery = Delivery.parse(reader, keys, where, "email")
        return cls(delivery, host, sender, recipients, port, security, username, password, ca_file)
