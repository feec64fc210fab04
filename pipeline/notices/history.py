"""What ``cw.notices`` says happened: each notice with the outcome of each of its channels.

>>> rows = fold([
...     {"record": "notice", "notice_id": "n-1", "subscriber_id": "cert", "kind": "test",
...      "created_at": "2026-01-01T00:00:00Z", "title": "Test notice", "channels": ["hook"]},
...     {"record": "delivery", "notice_id": "n-1", "subscriber_id": "cert", "channel": "hook",
...      "attempt": 1, "result": "retry", "at": 1.0, "detail": "HTTP 500"},
...     {"record": "delivery", "notice_id": "n-1", "subscriber_id": "cert", "channel": "hook",
...      "attempt": 2, "result": "delivered", "at": 2.0, "detail": "HTTP 204"},
... ])
>>> rows[0].channels["hook"]
ChannelOutcome(result='delivered', attempts=2, at=2.0, detail='HTTP 204')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.timeutil import parse_rfc3339

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True, slots=True)
class ChannelOutcome:
    result: str  # the last attempt's result; "pending" before any attempt
    attempts: int
    at: float | None
    detail: str


@dataclass(slots=True)
class NoticeRow:
    notice_id: str
    subscriber_id: str
    kind: str
    created_at: float
    title: str
    channels: dict[str, ChannelOutcome] = field(default_factory=dict)


def fold(records: Iterable[dict[str, Any]]) -> list[NoticeRow]:
    """Notices in creation order, each with its channels' latest outcome."""
    rows: dict[str, NoticeRow] = {}
    attempts: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        kind = record.get("record")
        if kind == "notice":
            nid = str(record["notice_id"])
            rows.setdefault(
                nid,
                NoticeRow(
                    nid,
                    str(record["subscriber_id"]),
                    str(record["kind"]),
                    parse_rfc3339(str(record["created_at"])),
                    str(record.get("title", "")),
                    {c: ChannelOutcome("pending", 0, None, "") for c in record.get("channels", [])},
                ),
            )
        elif kind == "delivery":
            attempts.setdefault((str(record["notice_id"]), str(record["channel"])), []).append(
                record
            )
    for (nid, channel), tries in attempts.items():
        row = rows.get(nid)
        if row is None:
            continue  # a delivery whose notice record is outside the window read
        last = max(tries, key=lambda r: (float(r["at"]), int(r["attempt"])))
        row.channels[channel] = ChannelOutcome(
            str(last["result"]),
            max(int(r["attempt"]) for r in tries),
            float(last["at"]),
            str(last.get("detail", "")),
        )
    return sorted(rows.values(), key=lambda r: (r.created_at, r.notice_id))


def parse_since(text: str, now: float) -> float:
    """``30m``, ``2h``, ``7d`` (before ``now``) or an RFC 3339 time, as epoch seconds.

    >>> parse_since("2h", 10_000.0)
    2800.0
    """
    match = _DURATION.match(text.strip())
    if match:
        return now - float(match.group(1)) * _UNIT[match.group(2)]
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a duration like 30m, 2h, 7d or an RFC 3339 time"
        ) from None
