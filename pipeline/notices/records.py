"""The audit trail: every notice and every delivery attempt, as Kafka records and InfluxDB
points, so a verification body can later show who was told what, when, and how.

``cw.notices`` carries ``{"record": "notice", ...notice, "channels": [...]}`` once per notice
and ``{"record": "delivery", ...}`` per attempt (see :class:`pipeline.notices.dispatch.Attempt`),
keyed by subscriber id.
"""

from __future__ import annotations

from typing import Any

import orjson
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from pipeline.notices.dispatch import Attempt
from pipeline.notices.notice import Notice


def notice_record(notice: Notice, channels: list[str]) -> bytes:
    body: dict[str, Any] = {"record": "notice", **notice.to_dict(), "channels": channels}
    return orjson.dumps(body)


def attempt_record(attempt: Attempt) -> bytes:
    return orjson.dumps(attempt.to_dict())


def notice_point(notice: Notice) -> Point:
    """One ``notice`` point per notice decided, at its creation time."""
    return (
        Point("notice")
        .tag("subscriber_id", notice.subscriber_id)
        .tag("kind", notice.kind)
        .field("notice_id", notice.notice_id)
        .field("items", len(notice.items))
        .field("keys", " ".join(item.key for item in notice.items))
        .field("title", notice.title)
        .time(int(notice.created_at * 1e9), WritePrecision.NS)
    )


def attempt_point(attempt: Attempt) -> Point:
    """One ``notice_delivery`` point per attempt."""
    point = (
        Point("notice_delivery")
        .tag("subscriber_id", attempt.subscriber_id)
        .tag("channel", attempt.channel)
        .tag("channel_type", attempt.channel_type)
        .tag("outcome", attempt.result)  # "result" is a reserved Flux column
        .field("notice_id", attempt.notice_id)
        .field("attempt", attempt.attempt)
        .field("duration_s", attempt.duration_s)
        .field("detail", attempt.detail)
        .time(int(attempt.at * 1e9), WritePrecision.NS)
    )
    if attempt.latency_s is not None:
        point = point.field("latency_s", attempt.latency_s)
    return point
