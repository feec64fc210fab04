"""The CAP alerts of each subscriber, kept on disk and rendered as an Atom feed.

Each entry embeds its CAP alert (``content type="application/cap+xml"``) and links to it,
as public-warning aggregators expect. The store is an fsync'd JSON-lines file per
subscriber, so the feed survives a restart; appending a notice already in the feed is a
no-op, so a redelivery after a crash cannot duplicate an entry.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import orjson

from pipeline.core.timeutil import format_rfc3339
from pipeline.notices.channels.cap.render import CAP_MEDIA_TYPE, cap_bytes
from pipeline.notices.notice import Notice

ATOM_NS = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    notice_id: str
    created_at: float
    title: str
    cap: str


class FeedStore:
    """Newest-last CAP entries per subscriber under ``directory``."""

    def __init__(self, directory: Path, *, keep: int = 200) -> None:
        self.directory = directory
        self.keep = keep
        self._cache: dict[str, list[FeedEntry]] = {}

    def _path(self, subscriber_id: str) -> Path:
        return self.directory / f"{subscriber_id}.jsonl"

    def entries(self, subscriber_id: str) -> list[FeedEntry]:
        if subscriber_id not in self._cache:
            entries: list[FeedEntry] = []
            path = self._path(subscriber_id)
            if path.exists():
                for line in path.read_bytes().splitlines():
                    try:
                        entries.append(FeedEntry(**orjson.loads(line)))
                    except (orjson.JSONDecodeError, TypeError):
                        continue  # a torn last line after a crash
            self._cache[subscriber_id] = entries[-self.keep :]
        return self._cache[subscriber_id]

    def append(self, notice: Notice, *, sender: str, keep: int | None = None) -> bool:
        """Add ``notice``; False when it is already in the feed."""
        entries = self.entries(notice.subscriber_id)
        if any(e.notice_id == notice.notice_id for e in entries):
            return False
        entry = FeedEntry(
            notice.notice_id, notice.created_at, notice.title, cap_bytes(notice, sender).decode()
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._path(notice.subscriber_id).open("ab") as handle:
            handle.write(orjson.dumps(_dict(entry)) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        entries.append(entry)
        del entries[: -(keep or self.keep)]
        return True


def _dict(entry: FeedEntry) -> dict[str, object]:
    return {
        "notice_id": entry.notice_id,
        "created_at": entry.created_at,
        "title": entry.title,
        "cap": entry.cap,
    }


def atom_feed(subscriber_id: str, title: str, entries: list[FeedEntry], *, base_url: str) -> bytes:
    """An Atom 1.0 document, newest entry first."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            node.text = text
        return node

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", f"urn:continuity-watch:feed:{subscriber_id}")
    sub(feed, "title", title)
    updated = max((e.created_at for e in entries), default=0.0)
    sub(feed, "updated", format_rfc3339(updated))
    sub(feed, "link", rel="self", href=f"{base_url}/feeds/{subscriber_id}.atom")
    author = sub(feed, "author")
    sub(author, "name", "Continuity Watch")
    for entry in reversed(entries):
        node = sub(feed, "entry")
        sub(node, "id", f"urn:continuity-watch:notice:{entry.notice_id}")
        sub(node, "title", entry.title)
        sub(node, "updated", format_rfc3339(entry.created_at))
        sub(
            node,
            "link",
            rel="alternate",
            type=CAP_MEDIA_TYPE,
            href=f"{base_url}/alerts/{subscriber_id}/{entry.notice_id}.xml",
        )
        content = sub(node, "content", type=CAP_MEDIA_TYPE)
        content.append(ET.fromstring(entry.cap.encode()))
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
