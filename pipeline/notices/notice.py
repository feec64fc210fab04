"""A notice: what one subscriber is told at once, with an id derived from its contents.

The id is a hash of the subscriber and the (subject, transition) keys it carries, so the same
transitions always yield the same id (receivers can use it as an idempotency key):

>>> a = notice_id("cert", ["svc/60:opened:0", "svc2/61:opened:0"])
>>> a == notice_id("cert", ["svc2/61:opened:0", "svc/60:opened:0"]), a.startswith("n-")
(True, True)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.timeutil import format_rfc3339

#: Body version of the JSON documented in channels/webhook/notice.schema.json.
NOTICE_SCHEMA = "continuity-watch/notice/1"

#: Notice kinds beyond the subscribable ones: reminders, rate-limit summaries, test notices.
EXTRA_KINDS: tuple[str, ...] = ("reminder", "summary", "test")

_TITLES = {
    "incident_opened": "Outage",
    "feed_silent": "Feed silent",
    "incident_updated": "Outage update",
    "incident_acknowledged": "Outage acknowledged",
    "incident_restored": "Restored",
    "concurrent_disruption": "Concurrent disruption",
    "kpi_anomaly": "KPI anomaly",
    "reminder": "Still out",
    "summary": "Notices held back by the rate limit",
    "test": "Test notice",
}


def notice_id(subscriber_id: str, keys: list[str] | tuple[str, ...]) -> str:
    """Stable id for a notice carrying ``keys`` to ``subscriber_id``."""
    digest = hashlib.sha256("\n".join([subscriber_id, *sorted(keys)]).encode()).hexdigest()
    return f"n-{digest[:32]}"


@dataclass(frozen=True, slots=True)
class Reference:
    """An earlier notice this one follows up (CAP ``references``)."""

    notice_id: str
    sent_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"notice_id": self.notice_id, "sent_at": self.sent_at}


@dataclass(frozen=True, slots=True)
class Item:
    """One subject's transition inside a notice (a signal plus its follow-up references)."""

    key: str
    kind: str
    subject_id: str
    at: float
    severity: str
    sectors: tuple[str, ...]
    regions: tuple[str, ...]
    operators: tuple[str, ...]
    services: tuple[str, ...]
    maintenance: bool
    record: dict[str, Any]
    references: tuple[Reference, ...] = ()

    def describe(self) -> str:
        """One line for humans: what, where, since when."""
        where = ", ".join(self.services or self.operators) or self.subject_id
        region = "/".join(self.regions)
        return (
            f"{_TITLES.get(self.kind, self.kind)}: {where} ({region}) at {format_rfc3339(self.at)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "subject_id": self.subject_id,
            "at": format_rfc3339(self.at),
            "severity": self.severity,
            "sectors": list(self.sectors),
            "regions": list(self.regions),
            "operators": list(self.operators),
            "services": list(self.services),
            "maintenance": self.maintenance,
            "references": [r.to_dict() for r in self.references],
            "record": self.record,
        }


@dataclass(frozen=True, slots=True)
class Notice:
    """What one subscriber is told at ``created_at`` (one kind per notice)."""

    notice_id: str
    subscriber_id: str
    kind: str
    created_at: float
    items: tuple[Item, ...]
    group: dict[str, str] = field(default_factory=dict)
    suppressed: int = 0

    @property
    def title(self) -> str:
        head = _TITLES.get(self.kind, self.kind)
        if self.kind == "summary":
            return f"{head}: {self.suppressed}"
        if len(self.items) == 1:
            return self.items[0].describe()
        return f"{head}: {len(self.items)} services ({', '.join(self.group.values())})"

    @property
    def severity(self) -> str:
        return "down" if any(i.severity == "down" for i in self.items) else "degraded"

    def text(self) -> str:
        """Plain-text body (e-mail, logs)."""
        lines = [self.title, ""]
        lines += [f"- {item.describe()}" for item in self.items]
        if self.suppressed:
            lines.append(f"{self.suppressed} notice(s) were held back by the rate limit.")
        lines += ["", f"notice {self.notice_id} for {self.subscriber_id}"]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body every machine channel carries (see notice.schema.json)."""
        return {
            "schema": NOTICE_SCHEMA,
            "notice_id": self.notice_id,
            "subscriber_id": self.subscriber_id,
            "kind": self.kind,
            "created_at": format_rfc3339(self.created_at),
            "title": self.title,
            "severity": self.severity,
            "group": dict(self.group),
            "suppressed": self.suppressed,
            "items": [item.to_dict() for item in self.items],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Notice:
        """Inverse of :meth:`to_dict` (times come back as epoch seconds)."""
        from pipeline.core.timeutil import parse_rfc3339

        items = tuple(
            Item(
                key=i["key"],
                kind=i["kind"],
                subject_id=i["subject_id"],
                at=parse_rfc3339(i["at"]),
                severity=i["severity"],
                sectors=tuple(i["sectors"]),
                regions=tuple(i["regions"]),
                operators=tuple(i["operators"]),
                services=tuple(i["services"]),
                maintenance=bool(i["maintenance"]),
                record=dict(i["record"]),
                references=tuple(
                    Reference(r["notice_id"], float(r["sent_at"])) for r in i["references"]
                ),
            )
            for i in d["items"]
        )
        return cls(
            d["notice_id"],
            d["subscriber_id"],
            d["kind"],
            parse_rfc3339(d["created_at"]),
            items,
            dict(d.get("group", {})),
            int(d.get("suppressed", 0)),
        )
