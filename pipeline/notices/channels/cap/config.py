"""``type: atom``: a CAP 1.2 Atom feed for this subscriber, served by the notifier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.notices.channels.common import COMMON_KEYS, Delivery
from pipeline.notices.yamlnodes import NodeReader


@dataclass(frozen=True)
class AtomConfig:
    """Keep the newest ``entries`` CAP alerts in the feed ``/feeds/<subscriber>.atom``."""

    delivery: Delivery
    title: str | None = None
    entries: int = 200
    sender: str = "continuity-watch"
    type: str = "atom"

    @classmethod
    def parse(
        cls, reader: NodeReader, node: yaml.Node, where: str, base: Path
    ) -> AtomConfig | None:
        keys = reader.mapping(node, where, COMMON_KEYS | {"title", "entries", "sender"})
        if keys is None:
            return None
        title = reader.text(keys["title"][1], f"{where}.title") if "title" in keys else None
        entries = (
            reader.integer(keys["entries"][1], f"{where}.entries") if "entries" in keys else 200
        )
        sender = (
            reader.text(keys["sender"][1], f"{where}.sender") if "sender" in keys else cls.sender
        )
        return cls(Delivery.parse(reader, keys, where, "atom"), title, entries, sender)
