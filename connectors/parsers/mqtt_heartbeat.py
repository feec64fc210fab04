"""MQTT heartbeat message → ``heartbeat`` for the topic's service.

The subscriber resolves the topic to a service and passes it as ``ctx.default_service``; the
payload may be anything.  A JSON object may carry ``observed_at`` / ``ts`` (RFC 3339 or epoch
seconds; default: arrival time), ``status`` (default *up*) and ``seq`` (kept in attrs).  Any
other payload ("1", "alive", empty) is a plain heartbeat at arrival time: a device that
speaks is alive, whatever it says.

>>> from connectors.base import FeedContext, ServiceSpec
>>> svc = ServiceSpec("op", "site.kyiv-1", "telecom", "UA-30", 30.0)
>>> ctx = FeedContext("mqtt", 1_700_000_000.0, svc)
>>> [(o.kind.value, o.status.value) for o in parse_mqtt_heartbeat(b"alive", ctx).observations]
[('heartbeat', 'up')]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from connectors.base import FeedContext, ParseResult, check_choice
from connectors.parsers._common import as_count, as_time, rejected
from pipeline.core.schema import Kind, Status

MAX_PAYLOAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class MqttHeartbeatOptions:
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    #: With an ``mqtts://`` url: trust only this CA file (PEM) instead of the system's CAs.
    ca_file: str | None = None
    mqtt_version: str = "3.1.1"  # or "5"

    def __post_init__(self) -> None:
        check_choice("mqtt_version", self.mqtt_version, ("3.1.1", "5"))


def parse_mqtt_heartbeat(
    raw: bytes, ctx: FeedContext, options: MqttHeartbeatOptions | None = None
) -> ParseResult:
    service = ctx.default_service
    if service is None:
        return rejected(ctx.reject("unknown_service", "topic", "topic maps to no service", raw))
    if len(raw) > MAX_PAYLOAD_BYTES:
        return rejected(ctx.reject("oversize", None, f"payload over {MAX_PAYLOAD_BYTES}", raw))
    data: Any = None
    if raw.lstrip()[:1] == b"{":
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return rejected(ctx.reject("malformed_json", None, str(exc), raw))
    stamp, status, attrs = ctx.now, Status.UP, {}
    if isinstance(data, dict):
        given = data.get("observed_at", data.get("ts"))
        if given is not None:
            parsed = as_time(given)
            if parsed is None:
                return rejected(ctx.reject("invalid_field", "observed_at", "unreadable time", raw))
            stamp = parsed
        if data.get("status") is not None:
            try:
                status = Status(data["status"])
            except (ValueError, TypeError):
                allowed = [s.value for s in Status]
                return rejected(
                    ctx.reject(
                        "invalid_field", "status", f"{data['status']!r} not in {allowed}", raw
                    )
                )
        seq = as_count(data.get("seq"))
        if seq is not None:
            attrs["seq"] = seq
    result = ParseResult()
    result.add(
        ctx.observe(
            service,
            kind=Kind.HEARTBEAT,
            observed_at=stamp,
            status=status,
            attrs=attrs,
            id_parts=(attrs.get("seq"),),
            original=raw,
        )
    )
    return result
