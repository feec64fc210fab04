"""A notice as an OASIS CAP 1.2 alert (category ``Infra``), valid against the official XSD.

- msgType: openings and findings are ``Alert``; updates, acknowledgements and reminders are
  ``Update`` and restorations ``Cancel``, each with ``references`` to the opening alert.
- urgency: ``Immediate`` while out, ``Past`` once restored, ``Expected`` for KPI anomalies.
- severity: ``Severe`` for down, ``Moderate`` for degraded, ``Minor`` once restored.
- certainty: ``Observed`` (the pipeline concluded from evidence), ``Likely`` for anomalies.
- area: one per region, with its ISO 3166-2 code as geocode.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from pipeline.notices.notice import Item, Notice

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MEDIA_TYPE = "application/cap+xml"

_MSG_TYPE = {
    "incident_updated": "Update",
    "incident_acknowledged": "Update",
    "reminder": "Update",
    "incident_restored": "Cancel",
}
_EVENT = {
    "concurrent_disruption": "Concurrent disruption of critical services",
    "kpi_anomaly": "Critical service performance anomaly",
    "feed_silent": "Critical service telemetry silent",
    "test": "Test notice",
}


def cap_time(epoch: float) -> str:
    """CAP's dateTime: seconds precision and an explicit offset (no ``Z``).

    >>> cap_time(0.0)
    '1970-01-01T00:00:00+00:00'
    """
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat()


def render_cap(notice: Notice, sender: str = "continuity-watch") -> ET.Element:
    """The ``<alert>`` element for ``notice``."""
    ET.register_namespace("", CAP_NS)
    alert = ET.Element(f"{{{CAP_NS}}}alert")

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        node = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        if text is not None:
            node.text = text
        return node

    references = sorted(
        {(ref.notice_id, ref.sent_at) for item in notice.items for ref in item.references}
    )
    msg_type = _MSG_TYPE.get(notice.kind, "Alert") if references else "Alert"
    sub(alert, "identifier", notice.notice_id)
    sub(alert, "sender", sender)
    sub(alert, "sent", cap_time(notice.created_at))
    sub(alert, "status", "Test" if notice.kind == "test" else "Actual")
    sub(alert, "msgType", msg_type)
    sub(alert, "scope", "Public")
    if references:
        sub(
            alert,
            "references",
            " ".join(f"{sender},{nid},{cap_time(at)}" for nid, at in references),
        )
    incidents = sorted({i.subject_id for i in notice.items if "/" in i.subject_id})
    if incidents:
        sub(alert, "incidents", " ".join(incidents))
    info = sub(alert, "info")
    sub(info, "language", "en")
    sub(info, "category", "Infra")
    sub(info, "event", _event(notice))
    urgency, severity, certainty = _assessment(notice)
    sub(info, "urgency", urgency)
    sub(info, "severity", severity)
    sub(info, "certainty", certainty)
    onset = min((_onset(i) for i in notice.items), default=notice.created_at)
    sub(info, "onset", cap_time(onset))
    sub(info, "senderName", "Continuity Watch")
    sub(info, "headline", notice.title[:160])
    sub(info, "description", notice.text())
    for name, value in (("notice_id", notice.notice_id), ("notice_kind", notice.kind)):
        parameter = sub(info, "parameter")
        sub(parameter, "valueName", name)
        sub(parameter, "value", value)
    regions = sorted({r for item in notice.items for r in item.regions})
    for region in regions or ["unknown"]:
        area = sub(info, "area")
        sub(area, "areaDesc", region)
        if region != "unknown":
            geocode = sub(area, "geocode")
            sub(geocode, "valueName", "ISO 3166-2")
            sub(geocode, "value", region)
    return alert


def cap_bytes(notice: Notice, sender: str = "continuity-watch") -> bytes:
    """The alert as a standalone UTF-8 XML document."""
    return bytes(ET.tostring(render_cap(notice, sender), encoding="utf-8", xml_declaration=True))


def _event(notice: Notice) -> str:
    if notice.kind in _EVENT:
        return _EVENT[notice.kind]
    sectors = sorted({s for item in notice.items for s in item.sectors})
    return f"{'/'.join(sectors) or 'critical'} service outage".capitalize()


def _assessment(notice: Notice) -> tuple[str, str, str]:
    if notice.kind == "test":
        return "Unknown", "Unknown", "Unknown"
    if notice.kind == "incident_restored":
        return "Past", "Minor", "Observed"
    if notice.kind == "kpi_anomaly":
        return "Expected", "Moderate", "Likely"
    return "Immediate", "Severe" if notice.severity == "down" else "Moderate", "Observed"


def _onset(item: Item) -> float:
    started = item.record.get("started_at")
    return float(started) if isinstance(started, int | float) else item.at
